"""Records of the profile table's stream, decoded into plain values, and what both stream handlers share.

Lambda hands a DynamoDB stream batch over in order per item; a record that can never be
processed (a *poison* record) goes to the dead-letter queue so the user's later records
are not blocked behind it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws
from shared.aws import RemainingTime
from shared.observability import MetricUnit, logger, metrics
from shared.profile import KEY, iso_utc
from shared.repository import from_dynamodb_exact
from shared.settings import env

EventName = Literal["INSERT", "MODIFY", "REMOVE"]
_EVENT_NAMES = frozenset({"INSERT", "MODIFY", "REMOVE"})


@dataclasses.dataclass(frozen=True, kw_only=True)
class StreamSettings:
    """What both stream handlers need.

    A dependency outage must delay changes, never lose them: the handlers retry a failing
    call with jittered exponential backoff for as long as the invocation has time (no count
    limit), then report the batch item failure so that Lambda invokes them again from that
    record. Only a record that can never succeed, or one that has failed for
    ``park_after_seconds`` (the stream keeps records 24 h), goes to the dead-letter queue,
    whole, so it can be redriven.
    """

    dead_letter_queue_url: str = env("DEAD_LETTER_QUEUE_URL")
    connect_timeout_seconds: float = env("CONNECT_TIMEOUT_SECONDS", 2.0)
    read_timeout_seconds: float = env("READ_TIMEOUT_SECONDS", 5.0)
    retry_base_seconds: float = env("RETRY_BASE_SECONDS", 0.2)  # first backoff; doubles per attempt up to the cap
    retry_max_seconds: float = env("RETRY_MAX_SECONDS", 10.0)
    answer_margin_seconds: float = env("ANSWER_MARGIN_SECONDS", 2.0)  # kept free to answer after the last call
    park_after_seconds: float = env("PARK_AFTER_SECONDS", 82_800.0)  # 23 h; the mapping gives up at 23.5 h
    dead_letter_max_bytes: int = env("DEAD_LETTER_MAX_BYTES", 262_144)  # larger records: metadata only

    def call_seconds(self) -> float:
        """The longest one call can take: the clients make a single attempt (we retry, not botocore)."""
        return self.connect_timeout_seconds + self.read_timeout_seconds

    def client(self, service: str) -> Any:
        """A client for ``service`` with these timeouts and one attempt per call: the handlers retry."""
        return aws.client(
            service,
            connect_timeout=self.connect_timeout_seconds,
            read_timeout=self.read_timeout_seconds,
            max_attempts=1,
        )


@dataclass
class BatchOutcome:
    """What a batch came to: ``failed_sequence_number`` is the record Lambda must retry from."""

    poisoned: int = 0
    failed_sequence_number: str | None = None

    def response(self) -> dict[str, Any]:
        """The ReportBatchItemFailures response."""
        # An empty identifier (a record without a sequence number) fails the whole batch, as it must.
        failures = [] if self.failed_sequence_number is None else [{"itemIdentifier": self.failed_sequence_number}]
        return {"batchItemFailures": failures}


class PoisonRecord(ValueError):
    """A stream record that can never be processed. The message names the problem, never a value."""


@dataclass(frozen=True)
class ProfileChange:
    """One stream record: the item before and after a write (``None`` when absent)."""

    sequence_number: str
    record_id: str  # the stream record's eventID: the same on every redelivery
    event_name: EventName
    user_id: str
    occurred_at: str
    old: Mapping[str, Any] | None  # exactly decoded: numbers are Decimals (see shared.repository.plain)
    new: Mapping[str, Any] | None
    created_epoch: float | None = None  # the stream record's ApproximateCreationDateTime

    def age_seconds(self, now: float) -> float:
        """How long ago the table changed (0 when the record does not say)."""
        return max(0.0, now - self.created_epoch) if self.created_epoch is not None else 0.0

    @property
    def version(self) -> int:
        """The profile version after the change (a deletion is one past the last stored version)."""
        if self.new is not None:
            return int(self.new["version"])
        assert self.old is not None
        return int(self.old["version"]) + 1

    @property
    def username(self) -> str | None:
        """The Cognito user name the item records (``None`` if it has none)."""
        image = self.new if self.new is not None else self.old
        value = image.get("username") if image else None
        return str(value) if value else None


def sequence_number(record: Mapping[str, Any]) -> str:
    """The record's sequence number, read defensively (it names the record in a batch failure)."""
    dynamodb = record.get("dynamodb")
    return str(dynamodb.get("SequenceNumber", "")) if isinstance(dynamodb, Mapping) else ""


def decode(record: Mapping[str, Any]) -> ProfileChange:
    """Decode a Lambda DynamoDB stream record, or raise ``PoisonRecord`` naming what is wrong."""
    dynamodb = record.get("dynamodb")
    if not isinstance(dynamodb, Mapping):
        raise PoisonRecord("record has no dynamodb section")
    seq = dynamodb.get("SequenceNumber")
    record_id = record.get("eventID")
    event_name = record.get("eventName")
    if not seq or not record_id or event_name not in _EVENT_NAMES:
        raise PoisonRecord("record lacks SequenceNumber, eventID or a known eventName")
    old = _image(dynamodb, "OldImage")
    new = _image(dynamodb, "NewImage")
    expected = {"INSERT": (False, True), "MODIFY": (True, True), "REMOVE": (True, False)}[event_name]
    if (old is not None, new is not None) != expected:
        raise PoisonRecord(f"{event_name} record without the images NEW_AND_OLD_IMAGES gives")
    for image in (old, new):
        if image is not None:
            if not isinstance(image.get(KEY), str) or not image[KEY]:
                raise PoisonRecord(f"image has no string {KEY}")
            version = image.get("version")
            if not isinstance(version, Decimal) or version != version.to_integral_value() or version < 1:
                raise PoisonRecord("image has no positive integer version")
    user_id = str((new or old or {})[KEY])
    approximate = dynamodb.get("ApproximateCreationDateTime")
    return ProfileChange(
        sequence_number=str(seq),
        record_id=str(record_id),
        event_name=event_name,
        user_id=user_id,
        occurred_at=_occurred_at(approximate, new),
        old=old,
        new=new,
        created_epoch=float(approximate) if isinstance(approximate, (int, float)) else None,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _image(dynamodb: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    image = dynamodb.get(name)
    if image is None:
        return None
    try:
        return from_dynamodb_exact({name: _binary_as_bytes(value) for name, value in image.items()})
    except (TypeError, ValueError, AttributeError, KeyError, ArithmeticError, binascii.Error) as exc:
        raise PoisonRecord(f"{name} cannot be decoded ({type(exc).__name__})") from None


def _binary_as_bytes(value: Any) -> Any:
    """Lambda's JSON stream images carry binary values base64-encoded; boto3 decodes bytes."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return value
    ((kind, inner),) = value.items()
    if kind == "B" and isinstance(inner, str):
        return {"B": base64.b64decode(inner, validate=True)}
    if kind == "BS" and isinstance(inner, list):
        return {"BS": [base64.b64decode(item, validate=True) if isinstance(item, str) else item for item in inner]}
    if kind == "M" and isinstance(inner, Mapping):
        return {"M": {key: _binary_as_bytes(item) for key, item in inner.items()}}
    if kind == "L" and isinstance(inner, list):
        return {"L": [_binary_as_bytes(item) for item in inner]}
    return value


def _occurred_at(approximate: Any, new: Mapping[str, Any] | None) -> str:
    if _is_number(approximate):
        return iso_utc(datetime.fromtimestamp(approximate, UTC))
    if new and isinstance(new.get("updated_at"), str):
        return str(new["updated_at"])
    raise PoisonRecord("record has no ApproximateCreationDateTime")


def backoff(attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Full-jitter exponential backoff: a delay in [0, min(cap, base * 2**attempt))."""
    return float(rand() * min(cap, base * 2 ** min(attempt, 32)))


class Deadline:
    """The invocation's time, spent so that the handler always answers before Lambda's timeout.

    A handler that is killed by the timeout reports nothing: the whole batch counts as
    failed and is retried, so every call checks here first.
    """

    def __init__(self, context: RemainingTime, margin_seconds: float) -> None:
        self._context = context
        self._margin = margin_seconds
        self.calls = 0

    def allows(self, seconds: float) -> bool:
        """Whether ``seconds`` more can be spent and still leave the margin to answer."""
        return self._context.get_remaining_time_in_millis() / 1000 - self._margin >= seconds


class Attempts:
    """Attempts at one operation, bounded by the invocation's time rather than by a count.

    ``next()`` is true while another attempt fits: it sleeps a jittered exponential backoff
    before every attempt but the first. The first call of an invocation is always allowed,
    so a batch makes progress even under a mis-set timeout.
    """

    def __init__(
        self,
        config: StreamSettings,
        deadline: Deadline,
        sleep: Callable[[float], None],
        call_seconds: float | None = None,
    ) -> None:
        self._config = config
        self._deadline = deadline
        self._sleep = sleep
        self._call_seconds = config.call_seconds() if call_seconds is None else call_seconds
        self.made = 0

    def next(self, wait_seconds: float = 0.0) -> bool:
        """Wait for and allow the next attempt, or say there is no time left for one.

        ``wait_seconds`` is time the caller will spend before the call (a rate limiter's wait).
        """
        delay = 0.0
        if self.made:
            delay = backoff(self.made - 1, self._config.retry_base_seconds, self._config.retry_max_seconds)
        if self._deadline.calls and not self._deadline.allows(delay + wait_seconds + self._call_seconds):
            return False
        if delay:
            self._sleep(delay)
        self.made += 1
        self._deadline.calls += 1
        return True


def dead_letter_body(
    record: Mapping[str, Any],
    reason: str,
    function: str,
    max_bytes: int,
    recover: str = "",
) -> str:
    """The dead-letter message for a poison record: its metadata, and the record itself if it fits."""
    dynamodb = record.get("dynamodb") if isinstance(record.get("dynamodb"), Mapping) else {}
    metadata = {
        "function": function,
        "reason": reason,
        "recover": recover,
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventSourceARN": record.get("eventSourceARN"),
        "SequenceNumber": sequence_number(record),
        "Keys": dynamodb.get("Keys") if isinstance(dynamodb, Mapping) else None,
    }
    body = json.dumps({**metadata, "record": record}, default=str)
    if len(body.encode()) <= max_bytes:
        return body
    return json.dumps({**metadata, "record": None, "record_omitted": "too large for the queue"}, default=str)


class DeadLetterQueue:
    """Where a record that must not hold up its stream goes, whole, to be redriven later.

    A send is retried with backoff while the invocation has time, like any other call: a
    queue outage delays the batch, it does not make the function spin. The caller parks a
    record only once every earlier record of the batch has succeeded, so a retried batch
    never parks it again.
    """

    def __init__(
        self,
        config: StreamSettings,
        client: Callable[[], Any],
        deadline: Deadline,
        sleep: Callable[[float], None],
        function: str,
        recover: str,
    ) -> None:
        self._config = config
        self._client = client  # created on first use: parking is rare
        self._deadline = deadline
        self._sleep = sleep
        self._function = function
        self._recover = recover  # how an operator recovers the change, written into every message

    def park(self, record: Mapping[str, Any], reason: str) -> bool:
        """Send ``record`` with its reason; ``False`` when the queue could not take it in time."""
        body = dead_letter_body(record, reason, self._function, self._config.dead_letter_max_bytes, self._recover)
        attempts = Attempts(self._config, self._deadline, self._sleep)
        while attempts.next():
            try:
                self._client().send_message(QueueUrl=self._config.dead_letter_queue_url, MessageBody=body)
            except (BotoCoreError, ClientError) as exc:
                logger.warning("Dead-letter queue did not take the record", extra={"error": type(exc).__name__})
                continue
            logger.error(
                "Record sent to the dead-letter queue",
                extra={"function": self._function, "reason": reason, "sequence_number": sequence_number(record)},
            )
            metrics.add_metric(name="PoisonRecords", unit=MetricUnit.Count, value=1)
            return True
        return False
