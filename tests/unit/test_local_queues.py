"""The local SQS event source builds Lambda's event and deletes what Lambda would (no sockets)."""

import base64
import hashlib
import threading
import time
from typing import Any

import pytest

from local.queues import QueuePoller, QueueSpec, lambda_record, to_delete
from local.support import template
from local.template import TemplateError, queue_sources

ARN = "arn:aws:sqs:us-east-1:123456789012:profile-sync-account-deletions"


def message(number: int, **extra: Any) -> dict[str, Any]:
    """A message as boto3's ReceiveMessage returns it, system attributes asked for."""
    body = f'{{"sub": "user-{number}"}}'
    return {
        "MessageId": f"m-{number}",
        "ReceiptHandle": f"handle-{number}",
        "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's checksum, not a secret
        "Body": body,
        "Attributes": {
            "SenderId": "AIDAIT2UOQQY3AUEKVGXU",
            "SentTimestamp": "1795921394589",
            "ApproximateReceiveCount": "1",
            "ApproximateFirstReceiveTimestamp": "1795921394601",
        },
        **extra,
    }


def records(count: int) -> list[dict[str, Any]]:
    return [lambda_record(message(number), ARN) for number in range(count)]


def ids(batch: list[dict[str, Any]]) -> list[str]:
    return [record["messageId"] for record in batch]


def test_a_message_becomes_the_record_lambda_sends() -> None:
    # Given a received message with a string and a binary message attribute
    received = message(
        1,
        MD5OfMessageAttributes="f3eef722b9e535eb41b93a467449512d",
        MessageAttributes={
            "trace": {"StringValue": "abc", "DataType": "String"},
            "blob": {"BinaryValue": b"\x00\x01", "DataType": "Binary"},
        },
    )
    # When it is turned into the record Lambda hands the function
    record = lambda_record(received, ARN)
    # Then it has Lambda's fields, names and values, the attributes as strings, binary in base64
    assert record == {
        "messageId": "m-1",
        "receiptHandle": "handle-1",
        "body": '{"sub": "user-1"}',
        "attributes": {
            "SenderId": "AIDAIT2UOQQY3AUEKVGXU",
            "SentTimestamp": "1795921394589",
            "ApproximateReceiveCount": "1",
            "ApproximateFirstReceiveTimestamp": "1795921394601",
        },
        "messageAttributes": {
            "trace": {"stringValue": "abc", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
            "blob": {
                "binaryValue": base64.b64encode(b"\x00\x01").decode(),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
            },
        },
        "md5OfMessageAttributes": "f3eef722b9e535eb41b93a467449512d",
        "md5OfBody": received["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": ARN,
        "awsRegion": "us-east-1",
    }


def test_a_message_without_attributes_has_an_empty_message_attributes_map() -> None:
    # When a message sent without message attributes is turned into a record
    record = lambda_record(message(2), ARN)
    # Then its messageAttributes is an empty map, and there is no checksum of them
    assert record["messageAttributes"] == {}
    assert "md5OfMessageAttributes" not in record


@pytest.mark.parametrize("result", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}])
def test_an_empty_or_null_response_deletes_the_whole_batch(result: Any) -> None:
    # Given a batch of three the function answered without naming a failure
    batch = records(3)
    # Then Lambda deletes all three, with ReportBatchItemFailures or without
    assert ids(to_delete(batch, None, result, report_item_failures=True)) == ["m-0", "m-1", "m-2"]
    assert ids(to_delete(batch, None, result, report_item_failures=False)) == ["m-0", "m-1", "m-2"]


def test_reported_item_failures_stay_in_the_queue_and_the_rest_are_deleted() -> None:
    # Given a function that reports messages 1 and 3 of 5 as failed
    result = {"batchItemFailures": [{"itemIdentifier": "m-3"}, {"itemIdentifier": "m-1"}]}
    # When Lambda decides, with ReportBatchItemFailures
    deleted = to_delete(records(5), None, result, report_item_failures=True)
    # Then every other message is deleted
    assert ids(deleted) == ["m-0", "m-2", "m-4"]


def test_item_failures_are_ignored_without_report_batch_item_failures() -> None:
    # Given a function returning batchItemFailures, but a source without ReportBatchItemFailures
    result = {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    # Then Lambda treats the response as a success and deletes the whole batch
    assert ids(to_delete(records(3), None, result, report_item_failures=False)) == ["m-0", "m-1", "m-2"]


def test_a_function_error_deletes_nothing() -> None:
    # Given a function that raised (Lambda reports Unhandled), whatever its payload
    result = {"errorMessage": "boom", "batchItemFailures": []}
    # Then no message is deleted: all come back after the visibility timeout
    assert to_delete(records(3), "Unhandled", result, report_item_failures=True) == []


UNUSABLE = [
    {"itemIdentifier": "not-in-the-batch"},
    {"itemIdentifier": ""},
    {"itemIdentifier": None},
    {"id": "m-1"},
    "m-1",
]


@pytest.mark.parametrize("failure", UNUSABLE)
def test_an_item_failure_naming_no_message_of_the_batch_fails_the_whole_batch(failure: Any) -> None:
    # Given a function whose item failures include an unknown, empty or null identifier, or a bad key
    result = {"batchItemFailures": [{"itemIdentifier": "m-0"}, failure]}
    # Then Lambda treats the batch as a complete failure: nothing is deleted
    assert to_delete(records(3), None, result, report_item_failures=True) == []


INVALID = [[], ["m-1"], "m-1", 0, True, {"batchItemFailures": {"itemIdentifier": "m-1"}}, {"batchItemFailures": "m-1"}]


@pytest.mark.parametrize("result", INVALID)
def test_an_answer_that_is_no_json_object_or_has_no_list_of_failures_fails_the_whole_batch(result: Any) -> None:
    # Given a function whose answer is not a JSON object, or whose batchItemFailures is not a list
    # Then, with ReportBatchItemFailures, Lambda treats it as an invalid response, a complete failure
    assert to_delete(records(3), None, result, report_item_failures=True) == []
    # And without, as a success: Lambda does not read the answer
    assert ids(to_delete(records(3), None, result, report_item_failures=False)) == ["m-0", "m-1", "m-2"]


class FakeQueue:
    """The SQS calls the poller makes, on messages held in memory."""

    def __init__(self, count: int) -> None:
        self.visible = [message(number) for number in range(count)]
        self.received: list[int] = []  # MaxNumberOfMessages of each ReceiveMessage
        self.deleted: list[list[str]] = []  # receipt handles of each DeleteMessageBatch

    def receive_message(self, **request: Any) -> dict[str, Any]:
        assert request["MessageSystemAttributeNames"] == ["All"]
        assert request["MessageAttributeNames"] == ["All"]
        wanted = request["MaxNumberOfMessages"]
        assert 1 <= wanted <= 10
        self.received.append(wanted)
        taken, self.visible = self.visible[:wanted], self.visible[wanted:]
        return {"Messages": taken} if taken else {}

    def delete_message_batch(self, **request: Any) -> dict[str, Any]:
        assert len(request["Entries"]) <= 10
        self.deleted.append([entry["ReceiptHandle"] for entry in request["Entries"]])
        return {"Successful": [{"Id": entry["Id"]} for entry in request["Entries"]], "Failed": []}


def test_the_poller_batches_up_to_batch_size_and_deletes_what_the_function_handled() -> None:
    # Given 14 visible messages, a source of BatchSize 12 and a function failing message 4
    queue = FakeQueue(14)
    invoked: list[list[str]] = []

    def function(batch: list[dict[str, Any]]) -> tuple[str | None, Any]:
        invoked.append(ids(batch))
        return None, {"batchItemFailures": [{"itemIdentifier": "m-4"}] if "m-4" in ids(batch) else []}

    spec = QueueSpec("F.Queue", "F", ARN, batch_size=12, report_item_failures=True)
    poller = QueuePoller(spec, queue, "http://sqs/queue", function)

    # When it polls twice
    first, second = poller.poll(), poller.poll()

    # Then the first batch took two receives (10, then 2) and one invocation of 12 records, the second the rest
    assert (first, second) == (12, 2)
    assert queue.received[:2] == [10, 2]
    assert invoked == [[f"m-{n}" for n in range(12)], ["m-12", "m-13"]]
    # And every message but the failed one was deleted, at most 10 per DeleteMessageBatch
    deleted = [handle for call in queue.deleted for handle in call]
    assert sorted(deleted) == sorted(f"handle-{n}" for n in range(14) if n != 4)


class FlakyQueue(FakeQueue):
    """A queue whose first ReceiveMessage fails, as a moto server that is not answering yet would."""

    def receive_message(self, **request: Any) -> dict[str, Any]:
        if not self.received:
            self.received.append(0)
            raise ConnectionError("not answering")
        return super().receive_message(**request)


def test_the_running_poller_keeps_polling_after_a_failed_poll_and_delivers_what_arrives_later() -> None:
    # Given a running poller whose first poll fails, on a queue that is empty at first
    queue = FlakyQueue(0)
    delivered = threading.Event()

    def function(batch: list[dict[str, Any]]) -> tuple[str | None, Any]:
        delivered.set()
        return None, None

    poller = QueuePoller(QueueSpec("F.Queue", "F", ARN), queue, "http://sqs/queue", function, interval=0.01)
    poller.start()
    try:
        # When a message arrives later
        time.sleep(0.05)
        queue.visible.append(message(7))
        # Then it is delivered and deleted
        assert delivered.wait(timeout=2)
        deadline = time.monotonic() + 2
        while not queue.deleted and time.monotonic() < deadline:
            time.sleep(0.01)
        assert queue.deleted == [["handle-7"]]
    finally:
        poller.stop()
        poller.join(timeout=1)


def test_the_poller_stops_promptly() -> None:
    # Given a poller running on an empty queue
    poller = QueuePoller(QueueSpec("F.Queue", "F", ARN), FakeQueue(0), "http://sqs/queue", lambda batch: (None, None))
    poller.start()
    # When it is stopped
    poller.stop()
    poller.join(timeout=1)
    # Then its thread has ended
    assert not poller.is_alive()


def test_the_templates_sqs_source_is_the_account_deletion_queue_with_item_failures() -> None:
    # Given the SQS event sources template.yaml declares
    (source,) = queue_sources(template())
    # When one is read as the local stack runs it (its queue ARN resolved)
    spec = QueueSpec.from_template(source.function, source.event, {**source.properties, "Queue": ARN})
    # Then UserDeletedFunction reads the account deletion queue 10 messages at a time, reporting item failures
    assert source.properties["Queue"] == {"Fn::GetAtt": ["AccountDeletionQueue", "Arn"]}
    assert (spec.name, spec.batch_size, spec.report_item_failures) == ("UserDeletedFunction.AccountDeletions", 10, True)


def test_a_filter_on_an_sqs_source_is_refused() -> None:
    # Given an SQS event with FilterCriteria (Lambda would delete the messages it drops)
    props = {"Queue": ARN, "FilterCriteria": {"Filters": [{"Pattern": '{"body": {"sub": [{"exists": true}]}}'}]}}
    # Then the local stack refuses it rather than deliver what Lambda would not
    with pytest.raises(TemplateError, match="FilterCriteria"):
        QueueSpec.from_template("F", "Queue", props)
