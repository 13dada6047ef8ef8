"""DynamoDB stream event source mappings, run the way Lambda runs them.

``deliver`` is the pure part (no I/O of its own): one batch of one shard through a
function, with Lambda's semantics — partial batch failures (``batchItemFailures``)
checkpoint at the first failed record, a function error bisects the batch when
``BisectBatchOnFunctionError`` is on (bisecting does not use up retries), a batch is
retried up to ``MaximumRetryAttempts`` times and then described to the on-failure
destination, and the records of a shard stay in order. ``MappingPoller`` feeds it from the
table's stream through the dynamodbstreams API.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.events.models import EventPattern

log = logging.getLogger("local.streams")
Record = dict[str, Any]
InvokeBatch = Callable[[list[Record]], tuple[str | None, Any]]  # -> (function error or None, result)
MAX_LOCAL_RETRIES = 10  # MaximumRetryAttempts -1 (until the record expires) is bounded locally


@dataclass(frozen=True)
class MappingSpec:
    """A stream event of a function in template.yaml (``Type: DynamoDB``), resolved."""

    name: str  # "<function>.<event>"
    function: str
    batch_size: int = 100
    window_seconds: float = 0.0
    max_retries: int = -1
    max_record_age_seconds: int = -1
    bisect: bool = False
    report_item_failures: bool = False
    starting_position: str = "TRIM_HORIZON"
    on_failure: str | None = None  # destination ARN
    filters: tuple[str, ...] = ()
    esm_uuid: str = field(default_factory=lambda: str(uuid.uuid4()), compare=False)  # Lambda's id of the mapping

    @classmethod
    def from_template(cls, function: str, event_name: str, props: dict[str, Any]) -> MappingSpec:
        destination = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        filters = tuple(
            item["Pattern"] if isinstance(item["Pattern"], str) else json.dumps(item["Pattern"])
            for item in (props.get("FilterCriteria") or {}).get("Filters") or []
        )
        return cls(
            name=f"{function}.{event_name}",
            function=function,
            batch_size=int(props.get("BatchSize", 100)),
            window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            max_retries=int(props.get("MaximumRetryAttempts", -1)),
            max_record_age_seconds=int(props.get("MaximumRecordAgeInSeconds", -1)),
            bisect=bool(props.get("BisectBatchOnFunctionError", False)),
            report_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            starting_position=str(props.get("StartingPosition", "TRIM_HORIZON")),
            on_failure=destination,
            filters=filters,
        )

    @property
    def retry_limit(self) -> int:
        return MAX_LOCAL_RETRIES if self.max_retries < 0 else self.max_retries

    def matches(self, record: Record) -> bool:
        """Whether the record passes the mapping's FilterCriteria (no filters: every record)."""
        return not self.filters or any(
            EventPattern.load(pattern).matches_event(record)  # type: ignore[arg-type]
            for pattern in self.filters
        )


@dataclass
class FailedBatch:
    """Records the mapping gave up on, with the condition Lambda names."""

    records: list[Record]
    condition: str  # RetryAttemptsExhausted | RecordAgeExceeded
    invoke_count: int
    function_error: str | None


@dataclass
class Delivery:
    invocations: int = 0
    failed: list[FailedBatch] = field(default_factory=list)


def _first_failure(result: Any, batch: list[Record]) -> int | None:
    """Index of the first failed record, 0 when the response is malformed, None when all succeeded."""
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return None
    positions = {record["dynamodb"]["SequenceNumber"]: index for index, record in enumerate(batch)}
    indexes = []
    for failure in result["batchItemFailures"]:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if identifier not in positions:
            return 0  # Lambda treats an unknown or empty identifier as a failure of the whole batch
        indexes.append(positions[identifier])
    return min(indexes)


def deliver(
    records: list[Record],
    spec: MappingSpec,
    invoke: InvokeBatch,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
) -> Delivery:
    """Deliver one batch of one shard to the function, as Lambda's event source mapping does."""
    outcome = Delivery()
    if spec.max_record_age_seconds >= 0:
        oldest = now() - spec.max_record_age_seconds
        expired = [
            record for record in records if record["dynamodb"].get("ApproximateCreationDateTime", now()) < oldest
        ]
        if expired:
            outcome.failed.append(FailedBatch(expired, "RecordAgeExceeded", 0, None))
            records = [record for record in records if record not in expired]
    if records:
        _deliver(records, spec, invoke, sleep, outcome)
    return outcome


def _deliver(
    batch: list[Record],
    spec: MappingSpec,
    invoke: InvokeBatch,
    sleep: Callable[[float], None],
    outcome: Delivery,
) -> None:
    retries = 0
    while batch:
        error, result = invoke(batch)
        outcome.invocations += 1
        if error is None:
            failed_at = _first_failure(result, batch) if spec.report_item_failures else None
            if failed_at is None:
                return
            batch = batch[failed_at:]  # checkpoint: the records before the first failure are done
        elif spec.bisect and len(batch) > 1:
            half = len(batch) // 2
            _deliver(batch[:half], spec, invoke, sleep, outcome)
            _deliver(batch[half:], spec, invoke, sleep, outcome)
            return
        if retries >= spec.retry_limit:
            outcome.failed.append(FailedBatch(batch, "RetryAttemptsExhausted", retries + 1, error))
            return
        retries += 1
        sleep(min(0.25, 0.02 * 2**retries))  # Lambda's backoff, shortened: local retries stay fast


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def failure_message(failed: FailedBatch, spec: MappingSpec, function_arn: str, shard_id: str, stream_arn: str) -> str:
    """The message Lambda sends to a stream mapping's SQS or SNS on-failure destination: metadata, no records."""
    return json.dumps(failure_record(failed, function_arn, shard_id, stream_arn, time.time()))


def failure_object(
    failed: FailedBatch, spec: MappingSpec, function_arn: str, shard_id: str, stream_arn: str
) -> tuple[str, str]:
    """The object key and body Lambda writes to a stream mapping's S3 on-failure destination: the
    same record plus ``payload``, the invocation's event with every record of the batch, under
    ``aws/lambda/<mapping UUID>/<shard id>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<random UUID>``
    (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html)."""
    now = time.time()
    record = failure_record(failed, function_arn, shard_id, stream_arn, now)
    record["payload"] = {"Records": failed.records}
    at = datetime.fromtimestamp(now, UTC)
    key = f"aws/lambda/{spec.esm_uuid}/{shard_id}/{at:%Y/%m/%d}/{at:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}"
    return key, json.dumps(record)


def failure_record(
    failed: FailedBatch, function_arn: str, shard_id: str, stream_arn: str, now: float
) -> dict[str, Any]:
    """Lambda's invocation record for a batch a stream mapping gave up on."""
    first, last = failed.records[0]["dynamodb"], failed.records[-1]["dynamodb"]
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": failed.condition,
            "approximateInvokeCount": failed.invoke_count,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": failed.function_error or "",
        },
        "version": "1.0",
        "timestamp": _iso(now),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first["SequenceNumber"],
            "endSequenceNumber": last["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso(first.get("ApproximateCreationDateTime", 0)),
            "approximateArrivalOfLastRecord": _iso(last.get("ApproximateCreationDateTime", 0)),
            "batchSize": len(failed.records),
            "streamArn": stream_arn,
        },
    }


def lambda_record(record: dict[str, Any], stream_arn: str) -> Record:
    """A GetRecords record as Lambda hands it to a function: JSON types, binary as base64."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, (bytes, bytearray)):
            return base64.b64encode(value).decode()
        if isinstance(value, dict):
            return {key: plain(inner) for key, inner in value.items()}
        if isinstance(value, (list, set, tuple)):
            return [plain(inner) for inner in value]
        return value

    converted: Record = plain(record)
    converted["eventSourceARN"] = stream_arn
    return converted


@dataclass
class _Shard:
    shard_id: str
    parent: str | None
    iterator: str | None = None
    buffer: list[Record] = field(default_factory=list)
    first_buffered: float = 0.0
    closed: bool = False


class MappingPoller(threading.Thread):
    """Polls the stream's shards for one mapping and delivers batches in order per shard."""

    def __init__(
        self,
        spec: MappingSpec,
        streams: Any,
        stream_arn: str,
        invoke: InvokeBatch,
        on_failure: Callable[[FailedBatch, str], None],
        interval: float = 0.05,
    ) -> None:
        super().__init__(name=f"esm-{spec.name}", daemon=True)
        self.spec = spec
        self.streams = streams
        self.stream_arn = stream_arn
        self.invoke = invoke
        self.on_failure = on_failure
        self.interval = interval
        self.shards: dict[str, _Shard] = {}
        self.finished: set[str] = set()
        self.stopping = threading.Event()
        self.idle = threading.Event()  # set when every shard's buffer is empty after a poll
        self._described = 0.0
        self._discover(initial=True)

    def _discover(self, initial: bool = False) -> None:
        description = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id in self.shards or shard_id in self.finished:
                continue
            position = self.spec.starting_position if initial else "TRIM_HORIZON"
            iterator = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType=position
            )["ShardIterator"]
            self.shards[shard_id] = _Shard(shard_id, shard.get("ParentShardId"), iterator)
        self._described = time.monotonic()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                busy = self._poll_once()
            except Exception:
                if self.stopping.is_set():
                    return
                log.exception("stream mapping %s: poll failed; retrying", self.spec.name)
                busy = False
            if not busy:
                self.stopping.wait(self.interval)

    def _poll_once(self) -> bool:
        if time.monotonic() - self._described > 1.0:
            self._discover()
        busy = False
        for shard in list(self.shards.values()):
            if shard.parent and shard.parent in self.shards:
                continue  # a child shard waits until its parent is drained: order per item
            if shard.iterator and not shard.closed:
                response = self.streams.get_records(ShardIterator=shard.iterator, Limit=1000)
                shard.iterator = response.get("NextShardIterator")
                shard.closed = shard.iterator is None
                fresh = [lambda_record(record, self.stream_arn) for record in response.get("Records", [])]
                if fresh and not shard.buffer:
                    shard.first_buffered = time.monotonic()
                shard.buffer.extend(fresh)
            busy |= self._flush(shard)
            if shard.closed and not shard.buffer:
                del self.shards[shard.shard_id]
                self.finished.add(shard.shard_id)
        self.idle.set() if not any(shard.buffer for shard in self.shards.values()) else self.idle.clear()
        return busy

    def _flush(self, shard: _Shard) -> bool:
        delivered = False
        while shard.buffer:
            full = len(shard.buffer) >= self.spec.batch_size
            waited = time.monotonic() - shard.first_buffered >= self.spec.window_seconds
            if not (full or waited or shard.closed):
                break
            batch, shard.buffer = shard.buffer[: self.spec.batch_size], shard.buffer[self.spec.batch_size :]
            shard.first_buffered = time.monotonic()
            batch = [record for record in batch if self.spec.matches(record)]
            if batch:
                outcome = deliver(batch, self.spec, self.invoke)
                for failed in outcome.failed:
                    with contextlib.suppress(Exception):
                        self.on_failure(failed, shard.shard_id)
                delivered = True
        return delivered
