"""Records of the profile table's stream, decoded into plain values, and what both stream handlers share.

Lambda hands a DynamoDB stream batch over in order per item; a record that can never be
processed (a *poison* record) goes to the dead-letter queue so the user's later records
are not blocked behind it.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from shared.observability import MetricUnit, logger, metrics
from shared.profile import KEY
from shared.repository import from_dynamodb

EventName = Literal["INSERT", "MODIFY", "REMOVE"]
_EVENT_NAMES = frozenset({"INSERT", "MODIFY", "REMOVE"})


@dataclasses.dataclass(frozen=True, kw_only=True)
class StreamSettings:
    """What both stream handlers need: a batch has minutes, not seconds, but calls stay bounded."""

    dead_letter_queue_url: str
    connect_timeout_seconds: float = 2.0
    read_timeout_seconds: float = 5.0
    max_attempts: int = 3  # botocore attempts per call (connection errors, 5xx)
    retry_attempts: int = 4  # our own attempts per entry or per user, on partial failure and throttling
    retry_base_seconds: float = 0.1  # jittered exponential backoff between our own attempts
    retry_max_seconds: float = 2.0
    dead_letter_max_bytes: int = 262_144  # larger poison records go to the queue as metadata only


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
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None

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
            if not isinstance(image.get("version"), int) or image["version"] < 1:
                raise PoisonRecord("image has no positive integer version")
    user_id = str((new or old or {})[KEY])
    return ProfileChange(
        sequence_number=str(seq),
        record_id=str(record_id),
        event_name=event_name,
        user_id=user_id,
        occurred_at=_occurred_at(dynamodb.get("ApproximateCreationDateTime"), new),
        old=old,
        new=new,
    )


def _image(dynamodb: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    image = dynamodb.get(name)
    if image is None:
        return None
    try:
        return from_dynamodb(image)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise PoisonRecord(f"{name} cannot be decoded ({type(exc).__name__})") from None


def _occurred_at(approximate: Any, new: Mapping[str, Any] | None) -> str:
    if isinstance(approximate, (int, float)) and not isinstance(approximate, bool):
        moment = datetime.fromtimestamp(approximate, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if new and isinstance(new.get("updated_at"), str):
        return str(new["updated_at"])
    raise PoisonRecord("record has no ApproximateCreationDateTime")


def backoff(attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Full-jitter exponential backoff: a delay in [0, min(cap, base * 2**attempt))."""
    return float(rand() * min(cap, base * 2**attempt))


def dead_letter_body(
    record: Mapping[str, Any],
    reason: str,
    function: str,
    max_bytes: int,
) -> str:
    """The dead-letter message for a poison record: its metadata, and the record itself if it fits."""
    dynamodb = record.get("dynamodb") if isinstance(record.get("dynamodb"), Mapping) else {}
    metadata = {
        "function": function,
        "reason": reason,
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


def send_to_dead_letter_queue(
    client: Any, config: StreamSettings, record: Mapping[str, Any], reason: str, function: str
) -> bool:
    """Park a record that can never succeed; ``False`` when the queue refused it too.

    The caller then reports the record as a batch item failure, so nothing is lost.
    """
    logger.error(
        "Record sent to the dead-letter queue",
        extra={"function": function, "reason": reason, "sequence_number": sequence_number(record)},
    )
    metrics.add_metric(name="PoisonRecords", unit=MetricUnit.Count, value=1)
    try:
        client.send_message(
            QueueUrl=config.dead_letter_queue_url,
            MessageBody=dead_letter_body(record, reason, function, config.dead_letter_max_bytes),
        )
    except (BotoCoreError, ClientError) as exc:
        logger.error("Dead-letter queue refused the record", extra={"error": type(exc).__name__})
        return False
    return True
