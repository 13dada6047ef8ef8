"""SQS event sources (a function's SAM events of ``Type: SQS``), run the way Lambda's SQS poller runs them.

``lambda_record`` turns a message from ReceiveMessage into the record Lambda hands the function
(https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html, "Example standard queue message event").
``to_delete`` is what Lambda deletes after the invocation: the whole batch when the function
succeeded; with ``ReportBatchItemFailures``, all but the messages its ``batchItemFailures`` name
(a null or empty answer, a null or empty list: all of them); nothing after a function error, when
an item failure names no message of the batch, or when the answer is not a JSON object or its
``batchItemFailures`` not a list (Lambda then fails the whole batch, as for an invalid JSON response:
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html). What is not
deleted comes back after the queue's visibility timeout, and the queue's redrive policy moves it
to the dead-letter queue after ``maxReceiveCount`` receives (moto does that on the receive after
the last one allowed). ``QueuePoller`` feeds one function from one queue through the SQS API.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.template import TemplateError

log = logging.getLogger("local.queues")
Record = dict[str, Any]
InvokeBatch = Callable[[list[Record]], tuple[str | None, Any]]  # -> (function error or None, result)
RECEIVE_MAX = 10  # messages one ReceiveMessage call returns at most


@dataclass(frozen=True)
class QueueSpec:
    """An SQS event source of template.yaml, resolved."""

    name: str  # <function>.<event>
    function: str
    queue_arn: str
    batch_size: int = 10
    report_item_failures: bool = False

    @classmethod
    def from_template(cls, function: str, event: str, props: dict[str, Any]) -> QueueSpec:
        if "FilterCriteria" in props:  # Lambda deletes the messages a filter drops: not something to skip silently
            raise TemplateError(f"{function}.{event}: the local stack does not run FilterCriteria on SQS sources")
        return cls(
            name=f"{function}.{event}",
            function=function,
            queue_arn=str(props["Queue"]),
            batch_size=int(props.get("BatchSize", 10)),
            report_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
        )


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    """A message attribute as Lambda's event spells it: camelCase names, binary values in base64."""

    def text(data: bytes) -> str:
        return base64.b64encode(data).decode()

    converted: dict[str, Any] = {}
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = text(value["BinaryValue"])
    converted["stringListValues"] = list(value.get("StringListValues") or [])
    converted["binaryListValues"] = [text(item) for item in value.get("BinaryListValues") or []]
    converted["dataType"] = value["DataType"]
    return converted


def lambda_record(message: dict[str, Any], queue_arn: str) -> Record:
    """A message as boto3's ReceiveMessage returns it (every system and message attribute asked for),
    as Lambda hands it to a function."""
    record: Record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {name: _attribute(value) for name, value in message.get("MessageAttributes", {}).items()},
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update(
        {
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": queue_arn.split(":")[3],
        }
    )
    return record


def to_delete(batch: list[Record], function_error: str | None, result: Any, report_item_failures: bool) -> list[Record]:
    """The messages of ``batch`` Lambda deletes once the function has answered (see the module's docstring)."""
    if function_error is not None:
        return []
    if not report_item_failures or result is None:
        return list(batch)  # a null (or empty) answer: a complete success
    if not isinstance(result, dict):
        return []  # an answer that is not a JSON object is an invalid response: a complete failure
    failures = result.get("batchItemFailures")
    if failures is None or failures == []:
        return list(batch)  # an empty answer, a null or empty list of failures: a complete success
    if not isinstance(failures, list):
        return []  # a batchItemFailures that is not a list is an invalid response too
    in_batch = {record["messageId"] for record in batch}
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if identifier not in in_batch:
            return []  # an empty, null or unknown itemIdentifier fails the whole batch
        failed.add(identifier)
    return [record for record in batch if record["messageId"] not in failed]


class QueuePoller(threading.Thread):
    """Receives up to BatchSize messages from one queue (short polls, every ``interval`` while it is
    empty), invokes the function with them and deletes what ``to_delete`` says."""

    def __init__(self, spec: QueueSpec, sqs: Any, queue_url: str, invoke: InvokeBatch, interval: float = 0.2) -> None:
        super().__init__(name=f"sqs-{spec.name}", daemon=True)
        self.spec, self.sqs, self.queue_url, self.invoke, self.interval = spec, sqs, queue_url, invoke, interval
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        pause = 0.0
        while not self.stopping.wait(pause):
            try:
                full = self.poll() == self.spec.batch_size
            except Exception:
                if not self.stopping.is_set():
                    log.exception("SQS event source %s: poll failed; retrying", self.spec.name)
                full = False
            pause = 0.0 if full else self.interval  # a full batch: more may be waiting

    def poll(self) -> int:
        """One batch through the function; how many messages it held."""
        batch = self._receive_batch()
        if batch:
            error, result = self.invoke(batch)
            self._delete_messages(to_delete(batch, error, result, self.spec.report_item_failures))
        return len(batch)

    def _receive_batch(self) -> list[Record]:
        batch: list[Record] = []
        while len(batch) < self.spec.batch_size:
            wanted = min(RECEIVE_MAX, self.spec.batch_size - len(batch))
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=wanted,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            batch += [lambda_record(message, self.spec.queue_arn) for message in messages]
            if len(messages) < wanted:  # no more visible messages now
                break
        return batch

    def _delete_messages(self, records: list[Record]) -> None:
        for start in range(0, len(records), RECEIVE_MAX):
            chunk = records[start : start + RECEIVE_MAX]
            entries = [{"Id": str(index), "ReceiptHandle": item["receiptHandle"]} for index, item in enumerate(chunk)]
            for failed in self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries).get("Failed", []):
                log.warning(
                    "SQS event source %s: message %s not deleted (%s); it comes back after the visibility timeout",
                    self.spec.name,
                    chunk[int(failed["Id"])]["messageId"],
                    failed.get("Code"),
                )
