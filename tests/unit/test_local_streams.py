"""The local event source mapping delivers batches the way Lambda does (no sockets)."""

from typing import Any

from botocore.exceptions import ClientError

from local.streams import MappingPoller, MappingSpec, deliver


def records(count: int) -> list[dict[str, Any]]:
    return [{"eventName": "INSERT", "dynamodb": {"SequenceNumber": f"{index:05d}"}} for index in range(count)]


def numbers(batch: list[dict[str, Any]]) -> list[int]:
    return [int(record["dynamodb"]["SequenceNumber"]) for record in batch]


class Function:
    """A fake function: fails (raises) on the poison records, or reports them as item failures."""

    def __init__(self, poison: set[int], partial: bool = False) -> None:
        self.poison = poison
        self.partial = partial
        self.calls: list[list[int]] = []

    def __call__(self, batch: list[dict[str, Any]]) -> tuple[str | None, Any]:
        self.calls.append(numbers(batch))
        bad = [record for record in batch if int(record["dynamodb"]["SequenceNumber"]) in self.poison]
        if not bad:
            return None, None
        if self.partial:
            return None, {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in bad]}
        return "Unhandled", {"errorMessage": "boom"}


def spec(**overrides: Any) -> MappingSpec:
    return MappingSpec(name="F.Stream", function="F", **{"max_retries": 2, **overrides})


def test_a_batch_without_failures_is_delivered_once() -> None:
    # Given a function that accepts everything
    function = Function(poison=set())
    # When a batch of 5 is delivered
    outcome = deliver(records(5), spec(), function, sleep=lambda _: None)
    # Then one invocation carried all five, in order, and nothing failed
    assert function.calls == [[0, 1, 2, 3, 4]]
    assert outcome.failed == []


def test_partial_failure_retries_from_the_first_failed_record() -> None:
    # Given a function that reports record 3 of 6 as failed, always
    function = Function(poison={3}, partial=True)
    # When the batch is delivered with ReportBatchItemFailures
    outcome = deliver(records(6), spec(report_item_failures=True), function, sleep=lambda _: None)
    # Then retries start at record 3 (records 0-2 are checkpointed) and, after 2 retries, 3-5 go to the destination
    assert function.calls == [[0, 1, 2, 3, 4, 5], [3, 4, 5], [3, 4, 5]]
    assert [numbers(failed.records) for failed in outcome.failed] == [[3, 4, 5]]
    assert outcome.failed[0].invoke_count == 3


def test_item_failures_are_ignored_without_report_batch_item_failures() -> None:
    # Given a function returning batchItemFailures, but a mapping without ReportBatchItemFailures
    function = Function(poison={1}, partial=True)
    # When the batch is delivered
    outcome = deliver(records(3), spec(), function, sleep=lambda _: None)
    # Then Lambda treats the response as success
    assert function.calls == [[0, 1, 2]]
    assert outcome.failed == []


def test_an_unknown_item_identifier_fails_the_whole_batch() -> None:
    # Given a function whose item failure names a record not in the batch
    calls: list[int] = []

    def function(batch: list[dict[str, Any]]) -> tuple[str | None, Any]:
        calls.append(len(batch))
        return None, {"batchItemFailures": [{"itemIdentifier": "nope"}]}

    # When the batch is delivered
    outcome = deliver(records(4), spec(report_item_failures=True), function, sleep=lambda _: None)
    # Then the whole batch is retried and finally sent to the destination
    assert calls == [4, 4, 4]
    assert [numbers(failed.records) for failed in outcome.failed] == [[0, 1, 2, 3]]


def test_bisection_isolates_the_poison_record_and_keeps_order() -> None:
    # Given a function that raises whenever record 5 of 8 is in its batch
    function = Function(poison={5})
    # When the batch is delivered with BisectBatchOnFunctionError
    outcome = deliver(records(8), spec(bisect=True), function, sleep=lambda _: None)
    # Then only record 5 ends in the destination, after its retries (bisection does not use them up)
    assert [numbers(failed.records) for failed in outcome.failed] == [[5]]
    assert function.calls.count([5]) == 3
    # And the successful invocations delivered every other record, in order
    delivered = [n for call in function.calls if 5 not in call for n in call]
    assert delivered == [0, 1, 2, 3, 4, 6, 7]


def test_without_bisection_the_whole_batch_fails_after_the_retries() -> None:
    # Given a function that raises on record 1
    function = Function(poison={1})
    # When the batch is delivered without bisection, MaximumRetryAttempts 2
    outcome = deliver(records(3), spec(), function, sleep=lambda _: None)
    # Then it was tried 3 times and the whole batch is described to the destination
    assert function.calls == [[0, 1, 2]] * 3
    assert [numbers(failed.records) for failed in outcome.failed] == [[0, 1, 2]]


def test_the_mapping_reads_its_settings_from_the_template() -> None:
    # Given a stream event as template.yaml declares it
    props = {
        "BatchSize": 25,
        "MaximumBatchingWindowInSeconds": 1,
        "MaximumRetryAttempts": 3,
        "BisectBatchOnFunctionError": True,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:123456789012:dlq"}},
        "FilterCriteria": {"Filters": [{"Pattern": '{"eventName": ["MODIFY"]}'}]},
    }
    # When it is read
    mapping = MappingSpec.from_template("F", "Stream", props)
    # Then every setting is there, and the filter selects records
    assert (mapping.batch_size, mapping.window_seconds, mapping.max_retries) == (25, 1.0, 3)
    assert mapping.bisect
    assert mapping.report_item_failures
    assert mapping.on_failure == "arn:aws:sqs:us-east-1:123456789012:dlq"
    assert mapping.matches({"eventName": "MODIFY", "dynamodb": {}})
    assert not mapping.matches({"eventName": "INSERT", "dynamodb": {}})


STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/T/stream/2026-01-01T00:00:00.000"


def stream_record(number: int) -> dict[str, Any]:
    """A record as boto3's GetRecords returns it."""
    return {"eventName": "INSERT", "dynamodb": {"SequenceNumber": f"{number:05d}", "Keys": {"id": {"S": str(number)}}}}


class FakeStreams:
    """The DynamoDB Streams calls the poller makes, on one open shard held in memory. An iterator is the
    index of the next record to read; ``refuse`` makes the next GetRecords fail as DynamoDB Local's does
    when it calls an iterator trimmed."""

    def __init__(self, held: int = 0) -> None:
        self.records = [stream_record(number) for number in range(held)]
        self.refuse = False
        self.opened: list[dict[str, Any]] = []  # each GetShardIterator request, stream and shard left out

    def write(self, *numbers: int) -> None:
        self.records += [stream_record(number) for number in numbers]

    def describe_stream(self, **request: Any) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-1"}]}}

    def get_shard_iterator(self, StreamArn: str, ShardId: str, **where: Any) -> dict[str, Any]:
        self.opened.append(where)
        sequences = [record["dynamodb"]["SequenceNumber"] for record in self.records]
        kind = where["ShardIteratorType"]
        if kind == "AFTER_SEQUENCE_NUMBER":
            start = sequences.index(where["SequenceNumber"]) + 1
        else:
            start = {"TRIM_HORIZON": 0, "LATEST": len(self.records)}[kind]
        return {"ShardIterator": str(start)}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        if self.refuse:
            self.refuse = False
            error = {"Error": {"Code": "TrimmedDataAccessException", "Message": "trimmed"}}
            raise ClientError(error, "GetRecords")
        start = int(ShardIterator)
        taken = self.records[start : start + Limit]
        return {"Records": taken, "NextShardIterator": str(start + len(taken))}


def poller(streams: FakeStreams, position: str) -> tuple[MappingPoller, list[int]]:
    """A mapping poller (not started: the test polls) and the numbers of the records it delivered."""
    delivered: list[int] = []

    def function(batch: list[dict[str, Any]]) -> tuple[None, None]:
        delivered.extend(int(record["dynamodb"]["Keys"]["id"]["S"]) for record in batch)
        return None, None

    mapping = MappingSpec(name="F.Stream", function="F", starting_position=position)
    return MappingPoller(mapping, streams, None, STREAM, function), delivered


def test_an_iterator_refused_as_trimmed_after_records_were_read_reopens_after_the_last_one() -> None:
    # Given a mapping that has delivered the shard's three records
    streams = FakeStreams(held=3)
    mapping, delivered = poller(streams, "TRIM_HORIZON")
    mapping.poll()
    assert delivered == [0, 1, 2]
    # When two more are written and its iterator is refused as trimmed
    streams.write(3, 4)
    streams.refuse = True
    mapping.poll()
    mapping.poll()
    # Then its new iterator starts after the last record read, and each record was delivered once
    assert streams.opened[-1] == {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": "00002"}
    assert delivered == [0, 1, 2, 3, 4]


def test_a_latest_iterator_refused_as_trimmed_before_any_read_reopens_at_the_shards_start() -> None:
    # Given a LATEST mapping on a shard that held no record when it started
    streams = FakeStreams()
    mapping, delivered = poller(streams, "LATEST")
    mapping.poll()
    # When records are written and its iterator is refused as trimmed before it read one
    streams.write(0, 1)
    streams.refuse = True
    mapping.poll()
    mapping.poll()
    # Then its new iterator starts at the shard's start (every record in it is new), and both are delivered
    assert streams.opened[-1] == {"ShardIteratorType": "TRIM_HORIZON"}
    assert delivered == [0, 1]


def test_a_latest_iterator_refused_as_trimmed_skips_only_the_records_held_before_the_mapping_started() -> None:
    # Given a LATEST mapping on a shard already holding two records
    streams = FakeStreams(held=2)
    mapping, delivered = poller(streams, "LATEST")
    mapping.poll()
    # When two more are written and its iterator is refused as trimmed before it read one
    streams.write(2, 3)
    streams.refuse = True
    mapping.poll()
    mapping.poll()
    # Then its new iterator starts after the last record held at the start: the new ones alone are delivered
    assert streams.opened[-1] == {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": "00001"}
    assert delivered == [2, 3]


def test_a_latest_mapping_delivers_only_what_is_written_after_it_started() -> None:
    # Given a LATEST mapping on a shard already holding two records
    streams = FakeStreams(held=2)
    mapping, delivered = poller(streams, "LATEST")
    # When one more is written
    streams.write(2)
    mapping.poll()
    # Then that one alone is delivered
    assert delivered == [2]
