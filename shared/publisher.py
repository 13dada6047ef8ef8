"""Stream batch -> profile events on EventBridge, with partial-batch failure reporting.

Guarantees, per batch (Lambda retries a stream batch from the lowest sequence number reported):

- every change is published at least once, with the event id of its stream record;
- per user, a version is never accepted by EventBridge before the user's earlier versions:
  one PutEvents call holds at most one entry per user, and nothing after the first record
  that still fails is sent (it is all retried from that record);
- only the entries EventBridge refused are resent, a bounded number of times with jitter;
- a poison record goes to the dead-letter queue and the user's later records carry on.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws, settings
from shared.events import build_entry, entry_size
from shared.observability import MetricUnit, logger, metrics
from shared.streams import PoisonRecord, StreamSettings, backoff, decode, send_to_dead_letter_queue, sequence_number

FUNCTION = "publish_events"
MAX_ENTRIES_PER_CALL = 10  # PutEvents limit


@dataclasses.dataclass(frozen=True, kw_only=True)
class PublishSettings(StreamSettings):
    event_bus_name: str
    event_source: str = "profile-sync"
    include_pii: bool = False
    max_entry_bytes: int = 1_048_576  # one PutEvents entry (256 KiB before 2026-01-29: lower it in such Regions)
    max_request_bytes: int = 1_048_576  # all entries of one PutEvents call


class _Stuck(Exception):
    """A poison record could not be parked in the dead-letter queue."""


@dataclass
class _Pending:
    index: int  # position in the batch
    seq: str
    user_id: str
    entry: dict[str, Any]
    size: int


@dataclass
class PublishResult:
    """What a batch came to; ``failed_sequence_number`` is the record Lambda must retry from."""

    published: int = 0
    skipped: int = 0
    poisoned: int = 0
    failed_sequence_number: str | None = None
    calls: list[int] = field(default_factory=list)  # entries per PutEvents call

    def response(self) -> dict[str, Any]:
        """The ReportBatchItemFailures response."""
        # An empty identifier (a record without a sequence number) fails the whole batch, as it must.
        failures = [] if self.failed_sequence_number is None else [{"itemIdentifier": self.failed_sequence_number}]
        return {"batchItemFailures": failures}


class Publisher:
    """Publishes one batch at a time; clients and settings are handed in (tests pass moto's)."""

    def __init__(
        self,
        config: PublishSettings,
        events_client: Any,
        dead_letter_client: Callable[[], Any],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = config
        self._events = events_client
        self._dead_letter_client = dead_letter_client  # created on first use: poison is rare
        self._sleep = sleep

    def publish(self, records: Sequence[Mapping[str, Any]]) -> PublishResult:
        """Publish a batch's changes in order; stop at the first record that still fails."""
        result = PublishResult()
        chunk: list[_Pending] = []
        users: set[str] = set()
        chunk_bytes = 0
        for index, record in enumerate(records):
            try:
                pending = self._prepare(index, record, result)
            except _Stuck:  # a poison record the dead-letter queue refused: retried from here
                if self._flush(chunk, result):
                    result.failed_sequence_number = sequence_number(record)
                return result
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
        """The record's pending entry, or ``None`` when there is nothing to publish; raises ``_Stuck``."""
        config = self._config
        try:
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
        except PoisonRecord as exc:
            if not self._dead_letter(record, str(exc)):
                raise _Stuck from None
            result.poisoned += 1
            return None
        return _Pending(index, change.sequence_number, change.user_id, entry, size)

    def _flush(self, chunk: list[_Pending], result: PublishResult) -> bool:
        """Put a chunk, resending only refused entries; on giving up, record the earliest one."""
        remaining = chunk
        for attempt in range(self._config.retry_attempts):
            if not remaining:
                break
            if attempt:
                self._sleep(backoff(attempt - 1, self._config.retry_base_seconds, self._config.retry_max_seconds))
            remaining = self._put(remaining, result)
        result.published += len(chunk) - len(remaining)
        if not remaining:
            return True
        first = min(remaining, key=lambda pending: pending.index)
        result.failed_sequence_number = first.seq
        logger.warning(
            "Events still refused after retries; the batch resumes from the earliest",
            extra={"refused": len(remaining), "sequence_number": first.seq},
        )
        return False

    def _put(self, chunk: list[_Pending], result: PublishResult) -> list[_Pending]:
        result.calls.append(len(chunk))
        try:
            response = self._events.put_events(Entries=[pending.entry for pending in chunk])
        except (BotoCoreError, ClientError) as exc:
            logger.warning("PutEvents failed as a whole", extra={"error": type(exc).__name__})
            return chunk
        if not response.get("FailedEntryCount"):
            return []
        refused = [
            pending
            for pending, outcome in zip(chunk, response.get("Entries", []), strict=False)
            if outcome.get("ErrorCode")
        ]
        codes = sorted(
            {str(outcome.get("ErrorCode")) for outcome in response.get("Entries", []) if "ErrorCode" in outcome}
        )
        logger.info("PutEvents refused entries", extra={"refused": len(refused), "codes": codes})
        return refused

    def _dead_letter(self, record: Mapping[str, Any], reason: str) -> bool:
        return send_to_dead_letter_queue(self._dead_letter_client(), self._config, record, reason, FUNCTION)


def publish_records(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The stream handler's work: publish the batch and answer with its batch item failures."""
    config = settings.load(PublishSettings)
    timeouts = {
        "connect_timeout": config.connect_timeout_seconds,
        "read_timeout": config.read_timeout_seconds,
        "max_attempts": config.max_attempts,
    }
    publisher = Publisher(config, aws.client("events", **timeouts), partial(aws.client, "sqs", **timeouts))
    result = publisher.publish(list(records))
    metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=result.published)
    metrics.add_metric(name="ChangesSkipped", unit=MetricUnit.Count, value=result.skipped)
    if result.failed_sequence_number:
        metrics.add_metric(name="BatchItemFailures", unit=MetricUnit.Count, value=1)
    logger.info(
        "Batch published",
        extra={
            "published": result.published,
            "skipped": result.skipped,
            "poisoned": result.poisoned,
            "put_events_calls": len(result.calls),
            "failed_sequence_number": result.failed_sequence_number,
        },
    )
    return result.response()
