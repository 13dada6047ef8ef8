"""Stream batch -> profile events on EventBridge, with partial-batch failure reporting.

Guarantees, per batch (Lambda retries a stream batch from the lowest sequence number reported):

- every change is published at least once, with the event id of its stream record;
- per user, a version is never accepted by EventBridge before the user's earlier versions:
  one PutEvents call holds at most one entry per user, and nothing after the first record
  that still fails is sent (it is all retried from that record);
- only the entries EventBridge refused are resent, with jittered backoff, for as long as the
  invocation has time: an outage delays events, it never drops them;
- an entry EventBridge refuses for good (``MalformedDetail``, ``InvalidArgument``), a record
  that cannot be decoded or is over the size limit, and a record still failing after
  ``park_after_seconds`` go to the dead-letter queue whole, once each, and the user's later
  records carry on.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.observability import logger
from shared.settings import env
from shared.streams import (
    Attempts,
    BatchOutcome,
    DeadLetterQueue,
    Deadline,
    PoisonRecord,
    StreamSettings,
    decode,
    sequence_number,
)
from stream_handlers.publish_events.events import build_entry, entry_size

FUNCTION = "publish_events"
RECOVER = (
    'once the cause is fixed, invoke the publish-events function with {"Records": [record]}: '
    "the event keeps its event_id, and consumers drop it if they have a later version"
)
MAX_ENTRIES_PER_CALL = 10  # PutEvents limit
# Entry errors EventBridge documents as not retryable that a resend of the same entry cannot
# fix. AccessDenied and NotAuthorized* are the deployment's to fix: those entries are retried.
# https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html
PERMANENT_ENTRY_ERRORS = frozenset({"MalformedDetail", "InvalidArgument"})


@dataclasses.dataclass(frozen=True, kw_only=True)
class PublishSettings(StreamSettings):
    event_bus_name: str = env("EVENT_BUS_NAME")
    event_source: str = env("EVENT_SOURCE", "profile-sync")
    include_pii: bool = env("INCLUDE_PII", False)
    # The PutEvents API reference gives 256 KB per entry and per call; the AWS Compute Blog
    # (2026-01-29, "serverless services now support payloads up to 1 MB") raised EventBridge
    # to 1 MB. A profile event is a few KB at most (the field map bounds every value), so the
    # limit every Region documents is used.
    max_entry_bytes: int = env("MAX_ENTRY_BYTES", 262_144)
    max_request_bytes: int = env("MAX_REQUEST_BYTES", 262_144)


@dataclass
class _Pending:
    index: int  # position in the batch
    seq: str
    user_id: str
    entry: dict[str, Any]
    size: int
    record: Mapping[str, Any]
    age_seconds: float
    refusal: str | None = None  # the permanent error EventBridge answered, if any


@dataclass
class PublishResult(BatchOutcome):
    """What a batch came to."""

    published: int = 0
    skipped: int = 0
    calls: list[int] = field(default_factory=list)  # entries per PutEvents call


class Publisher:
    """Publishes one batch at a time; clients, time and settings are handed in (tests pass their own)."""

    def __init__(
        self,
        config: PublishSettings,
        events_client: Any,
        dead_letter_client: Callable[[], Any],
        deadline: Deadline,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._events = events_client
        self._dead_letters = DeadLetterQueue(config, dead_letter_client, deadline, sleep, FUNCTION, RECOVER)
        self._deadline = deadline
        self._sleep = sleep
        self._wall_clock = wall_clock

    def publish(self, records: Sequence[Mapping[str, Any]]) -> PublishResult:
        """Publish a batch's changes in order; stop at the first record that still fails."""
        result = PublishResult()
        chunk: list[_Pending] = []
        users: set[str] = set()
        chunk_bytes = 0
        for index, record in enumerate(records):
            try:
                pending = self._prepare(index, record, result)
            except PoisonRecord as exc:
                # Parked only once every earlier record is published: else a retry parks it again.
                if not self._flush(chunk, result):
                    return result
                chunk, users, chunk_bytes = [], set(), 0
                if not self._park(record, str(exc), result):
                    result.failed_sequence_number = sequence_number(record)
                    return result
                continue
            if pending is None:
                continue
            full = len(chunk) == MAX_ENTRIES_PER_CALL or chunk_bytes + pending.size > self._config.max_request_bytes
            if chunk and (full or pending.user_id in users):
                if not self._flush(chunk, result):
                    return result
                chunk, users, chunk_bytes = [], set(), 0
            chunk.append(pending)
            users.add(pending.user_id)
            chunk_bytes += pending.size
        self._flush(chunk, result)
        return result

    def _prepare(self, index: int, record: Mapping[str, Any], result: PublishResult) -> _Pending | None:
        """The record's pending entry, or ``None`` when there is nothing to publish; raises ``PoisonRecord``."""
        config = self._config
        change = decode(record)
        entry = build_entry(
            change,
            source=config.event_source,
            bus_name=config.event_bus_name,
            include_pii=config.include_pii,
        )
        if entry is None:
            result.skipped += 1
            return None
        size = entry_size(entry)
        if size > config.max_entry_bytes:
            raise PoisonRecord(f"event is {size} bytes, limit {config.max_entry_bytes}")
        age = change.age_seconds(self._wall_clock())
        return _Pending(index, change.sequence_number, change.user_id, entry, size, record, age)

    def _flush(self, chunk: list[_Pending], result: PublishResult) -> bool:
        """Put a chunk, resending only entries refused for now, while the invocation has time.

        Then, in batch order, park what can never succeed (or has failed too long) and stop
        at the first entry that must be retried: it becomes the batch item failure.
        """
        pending = chunk
        refused: list[_Pending] = []
        attempts = Attempts(self._config, self._deadline, self._sleep)
        while pending and attempts.next():
            pending = self._put(pending, result)
            refused += [item for item in pending if item.refusal]
            pending = [item for item in pending if not item.refusal]
        unfinished = sorted(pending + refused, key=lambda item: item.index)
        result.published += len(chunk) - len(unfinished)
        for item in unfinished:
            reason = item.refusal
            if reason is None and item.age_seconds >= self._config.park_after_seconds:
                reason = f"still failing after {int(item.age_seconds)} s; the stream keeps records 24 h"
            if reason is None or not self._park(item.record, reason, result):
                result.failed_sequence_number = item.seq
                logger.warning(
                    "Events still refused; the batch resumes from the earliest",
                    extra={"refused": len(unfinished), "sequence_number": item.seq, "attempts": attempts.made},
                )
                return False
        return True

    def _put(self, chunk: list[_Pending], result: PublishResult) -> list[_Pending]:
        """One PutEvents call; returns the entries refused (with ``refusal`` set when for good)."""
        result.calls.append(len(chunk))
        try:
            response = self._events.put_events(Entries=[pending.entry for pending in chunk])
        except (BotoCoreError, ClientError) as exc:
            logger.warning("PutEvents failed as a whole", extra={"error": type(exc).__name__})
            return chunk
        if not response.get("FailedEntryCount"):
            return []
        refused = []
        codes = set()
        for pending, outcome in zip(chunk, response.get("Entries", []), strict=False):
            code = outcome.get("ErrorCode")
            if not code:
                continue
            codes.add(str(code))
            if code in PERMANENT_ENTRY_ERRORS:
                pending.refusal = f"EventBridge refused the event ({code})"
            refused.append(pending)
        logger.info("PutEvents refused entries", extra={"refused": len(refused), "codes": sorted(codes)})
        return refused

    def _park(self, record: Mapping[str, Any], reason: str, result: PublishResult) -> bool:
        parked = self._dead_letters.park(record, reason)
        result.poisoned += parked
        return parked
