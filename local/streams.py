"""DynamoDB stream event source mappings, run the way Lambda runs them.

``deliver`` is the pure part: one batch of one shard through a function, with Lambda's
semantics — partial batch failures (``batchItemFailures``) checkpoint at the first failed
record, a function error bisects the batch when ``BisectBatchOnFunctionError`` is on
(bisecting does not use up retries), a batch is retried up to ``MaximumRetryAttempts`` times
and then given to the on-failure destination, and the records of a shard stay in order.
``MappingPoller`` feeds it from the table's stream through the DynamoDB Streams API.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local.template import ACCOUNT_ID, REGION, TemplateError
from shared.aws import error_code

log = logging.getLogger("local.streams")
Record = dict[str, Any]
InvokeBatch = Callable[[list[Record]], tuple[str | None, Any]]  # -> (function error or None, result)
MAX_LOCAL_RETRIES = 10  # MaximumRetryAttempts -1 (until the record expires) is bounded locally


def _check_pattern(pattern: Any) -> Any:
    """A FilterCriteria pattern, if it uses only what ``_matches`` evaluates: nested keys and value lists."""
    for value in pattern.values():
        if isinstance(value, dict):
            _check_pattern(value)
        elif not isinstance(value, list) or any(isinstance(item, dict | list) for item in value):
            raise TemplateError(f"FilterCriteria {json.dumps(pattern)}: the local stack matches value lists only")
    return pattern


def _matches(pattern: dict[str, Any], record: Any) -> bool:
    """Lambda's event filtering for patterns of nested keys and lists of accepted values."""
    return isinstance(record, dict) and all(
        key in record and (_matches(wanted, record[key]) if isinstance(wanted, dict) else record[key] in wanted)
        for key, wanted in pattern.items()
    )


@dataclass(frozen=True)
class MappingSpec:
    """A stream event source mapping of template.yaml, resolved."""

    name: str
    function: str
    batch_size: int = 100
    window_seconds: float = 0.0
    max_retries: int = -1
    bisect: bool = False
    report_item_failures: bool = False
    starting_position: str = "TRIM_HORIZON"
    on_failure: str | None = None  # destination ARN
    filters: tuple[dict[str, Any], ...] = ()
    esm_uuid: str = field(default_factory=lambda: str(uuid.uuid4()), compare=False)  # Lambda's id of the mapping

    @classmethod
    def from_template(cls, function: str, name: str, props: dict[str, Any]) -> MappingSpec:
        destination = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        filters = tuple(
            _check_pattern(json.loads(item["Pattern"]) if isinstance(item["Pattern"], str) else item["Pattern"])
            for item in (props.get("FilterCriteria") or {}).get("Filters") or []
        )
        return cls(
            name=name,
            function=function,
            batch_size=int(props.get("BatchSize", 100)),
            window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            max_retries=int(props.get("MaximumRetryAttempts", -1)),
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
        return not self.filters or any(_matches(pattern, record) for pattern in self.filters)


@dataclass
class FailedBatch:
    """Records the mapping gave up on."""

    records: list[Record]
    invoke_count: int
    function_error: str | None


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


@dataclass
class Delivery:
    """What delivering records took: invocations, and the batches given up on."""

    invocations: int = 0
    failed: list[FailedBatch] = field(default_factory=list)


def deliver(
    batch: list[Record], spec: MappingSpec, invoke: InvokeBatch, sleep: Callable[[float], None] = time.sleep
) -> Delivery:
    """Deliver one batch of one shard to the function, as Lambda's event source mapping does."""
    outcome = Delivery()
    retries = 0
    while batch:
        error, result = invoke(batch)
        outcome.invocations += 1
        if error is None:
            failed_at = _first_failure(result, batch) if spec.report_item_failures else None
            if failed_at is None:
                break
            batch = batch[failed_at:]  # checkpoint: the records before the first failure are done
        elif spec.bisect and len(batch) > 1:
            for half in (batch[: len(batch) // 2], batch[len(batch) // 2 :]):
                inner = deliver(half, spec, invoke, sleep)
                outcome.invocations += inner.invocations
                outcome.failed += inner.failed
            break
        if retries >= spec.retry_limit:
            outcome.failed.append(FailedBatch(batch, retries + 1, error))
            break
        retries += 1
        sleep(min(0.25, 0.02 * 2**retries))  # Lambda's backoff, shortened: local retries stay fast
    return outcome


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def failure_object(
    failed: FailedBatch, spec: MappingSpec, function_arn: str, shard_id: str, stream_arn: str
) -> tuple[str, str]:
    """The object key and body Lambda writes to a stream mapping's S3 on-failure destination:
    its invocation record plus ``payload``, the event with every record of the batch, under
    ``aws/lambda/<mapping UUID>/<shard id>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<random UUID>``
    (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html)."""
    now = time.time()
    first, last = failed.records[0]["dynamodb"], failed.records[-1]["dynamodb"]
    record = {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": "RetryAttemptsExhausted",
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
        "payload": {"Records": failed.records},
    }
    at = datetime.fromtimestamp(now, UTC)
    key = f"aws/lambda/{spec.esm_uuid}/{shard_id}/{at:%Y/%m/%d}/{at:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}"
    return key, json.dumps(record)


def lambda_record(record: dict[str, Any], stream_arn: str) -> Record:
    """A record as boto3's GetRecords returns it, as Lambda hands it to a function: JSON types, binary as base64."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, bytes | bytearray):
            return base64.b64encode(value).decode()
        if isinstance(value, dict):
            return {key: plain(inner) for key, inner in value.items()}
        if isinstance(value, list | set | tuple):
            return [plain(inner) for inner in value]
        return value

    converted: Record = plain(record)
    converted["eventSourceARN"] = stream_arn
    return converted


@dataclass
class _Shard:
    shard_id: str
    parent: str | None
    iterator: str | None
    # The SequenceNumber of the last record read from it (for a LATEST mapping, at first, of the last record
    # it held when the mapping started); None: every record it holds is one the mapping has to deliver.
    last_sequence: str | None = None
    buffer: list[Record] = field(default_factory=list)
    first_buffered: float = 0.0


class MappingPoller(threading.Thread):
    """Polls the stream's shards for one mapping (every ``interval``), delivers batches in order per
    shard and writes those it gives up on to its S3 on-failure destination."""

    def __init__(
        self, spec: MappingSpec, streams: Any, s3: Any, stream_arn: str, invoke: InvokeBatch, interval: float = 0.05
    ) -> None:
        super().__init__(name=f"esm-{spec.name}", daemon=True)
        self.spec, self.streams, self.s3, self.stream_arn = spec, streams, s3, stream_arn
        self.invoke, self.interval = invoke, interval
        self.shards: dict[str, _Shard] = {}
        self.finished: set[str] = set()
        self.stopping = threading.Event()
        self._described = 0.0
        self._discover(spec.starting_position)

    def _discover(self, position: str = "TRIM_HORIZON") -> None:
        description = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id not in self.shards and shard_id not in self.finished:
                iterator, before = self._first_iterator(shard_id, position)
                self.shards[shard_id] = _Shard(shard_id, shard.get("ParentShardId"), iterator, before)
        self._described = time.monotonic()

    def _first_iterator(self, shard_id: str, position: str) -> tuple[str | None, str | None]:
        """The shard's first iterator at ``position``, and the SequenceNumber of the last record before it.

        LATEST is taken as the iterator after the last record the shard holds now, found by reading the shard
        from TRIM_HORIZON, so that the poller knows that record: an iterator refused as trimmed before a record
        was read from it is then reopened right after it (``_reopen``), not at LATEST again, which would skip
        the records written since. Records arriving while the shard is read through count as held before.
        """
        if position != "LATEST":
            answer = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType=position
            )
            return str(answer["ShardIterator"]), None
        before = None
        iterator: str | None = self._iterator_after(shard_id, None)
        while iterator:
            try:
                response = self.streams.get_records(ShardIterator=iterator, Limit=1000)
            except Exception as exc:
                if error_code(exc) != "TrimmedDataAccessException":
                    raise
                return self._iterator_after(shard_id, before), before
            records = response.get("Records", [])
            if not records:
                break
            before, iterator = records[-1]["dynamodb"]["SequenceNumber"], response.get("NextShardIterator")
        return iterator, before

    def _iterator_after(self, shard_id: str, sequence: str | None) -> str:
        """An iterator right after record ``sequence`` of the shard; at the shard's start for None."""
        if sequence is None:
            where = {"ShardIteratorType": "TRIM_HORIZON"}
        else:
            where = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": sequence}
        answer = self.streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard_id, **where)
        return str(answer["ShardIterator"])

    def stop(self) -> None:
        self.stopping.set()

    def _pause(self) -> float:
        """Seconds until the next poll: ``interval``, or less when a buffered batch's window closes sooner
        (the batch is then cut when its window ends, not up to an interval later)."""
        now = time.monotonic()
        closes = [
            shard.first_buffered + self.spec.window_seconds - now for shard in self.shards.values() if shard.buffer
        ]
        return max(0.0, min([self.interval, *closes]))

    def run(self) -> None:
        while not self.stopping.wait(self._pause()):
            try:
                self.poll()
            except Exception:
                if not self.stopping.is_set():
                    log.exception("stream mapping %s: poll failed; retrying", self.spec.name)

    def poll(self) -> None:
        """One round: new shards looked for (at most once a second), then each shard polled whose parent is drained."""
        if time.monotonic() - self._described > 1.0:
            self._discover()
        for shard in list(self.shards.values()):
            if shard.parent not in self.shards:  # a child shard waits until its parent is drained
                self._poll(shard)

    def _poll(self, shard: _Shard) -> None:
        if shard.iterator:
            try:
                response = self.streams.get_records(ShardIterator=shard.iterator, Limit=1000)
            except Exception as exc:
                if error_code(exc) != "TrimmedDataAccessException":
                    raise
                shard.iterator = self._reopen(shard)
                return
            shard.iterator = response.get("NextShardIterator")
            records = response.get("Records", [])
            if records:
                shard.last_sequence = records[-1]["dynamodb"]["SequenceNumber"]
            fresh = [lambda_record(record, self.stream_arn) for record in records]
            if fresh and not shard.buffer:
                shard.first_buffered = time.monotonic()
            shard.buffer.extend(record for record in fresh if self.spec.matches(record))
        while shard.buffer and (
            len(shard.buffer) >= self.spec.batch_size
            or time.monotonic() - shard.first_buffered >= self.spec.window_seconds
            or not shard.iterator
        ):
            batch, shard.buffer = shard.buffer[: self.spec.batch_size], shard.buffer[self.spec.batch_size :]
            for failed in deliver(batch, self.spec, self.invoke).failed:
                self._give_up(failed, shard.shard_id)
        if not shard.iterator and not shard.buffer:  # closed and drained
            del self.shards[shard.shard_id]
            self.finished.add(shard.shard_id)

    def _reopen(self, shard: _Shard) -> str:
        """A new iterator for ``shard``, right after the last record read from it (``last_sequence``); at the
        shard's start when there is none, whatever the mapping's StartingPosition: the shard then holds only
        records the mapping has to deliver (a LATEST mapping's first iterator followed every record it held).

        DynamoDB Local declares an iterator trimmed when it was taken while its shard held no record and
        another table was written before the shard's first record; retried, it would fail forever.
        """
        log.info("stream mapping %s: iterator of %s refused as trimmed; reopened", self.spec.name, shard.shard_id)
        return self._iterator_after(shard.shard_id, shard.last_sequence)

    def _give_up(self, failed: FailedBatch, shard_id: str) -> None:
        destination = self.spec.on_failure or ""
        if not destination.startswith("arn:aws:s3:::"):
            log.warning("%s: %d records dropped (no S3 on-failure destination)", self.spec.name, len(failed.records))
            return
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.spec.function}"
        key, body = failure_object(failed, self.spec, arn, shard_id, self.stream_arn)
        self.s3.put_object(Bucket=destination.removeprefix("arn:aws:s3:::"), Key=key, Body=body.encode())
