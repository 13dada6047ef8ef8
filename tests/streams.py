"""DynamoDB stream records as Lambda receives them, read from moto's stream after real writes.

Also a small model of the event source mapping: it hands a handler batches in stream order
and, on a reported batch item failure, retries from the reported record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from shared.repository import ProfileRepository

REGION = "us-east-1"
SOURCE = "profile-sync.test"  # the event source the handlers are configured with in tests

# botocore sends stream calls to an account-based endpoint moto does not serve.
_STREAMS_CONFIG = Config(account_id_endpoint_mode="disabled")


class StreamReader:
    """Reads a table's stream from the start; each ``read()`` returns the records not seen yet."""

    def __init__(self, stream_arn: str, region: str = "us-east-1") -> None:
        self.stream_arn = stream_arn
        self._client = boto3.client("dynamodbstreams", region_name=region, config=_STREAMS_CONFIG)
        self._seen = 0
        self._region = region

    def read(self) -> list[dict[str, Any]]:
        """The records written since the last read, in Lambda's event format."""
        records = []
        shards = self._client.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            iterator = self._client.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                response = self._client.get_records(ShardIterator=iterator, Limit=1000)
                records.extend(response["Records"])
                if not response["Records"]:
                    break
                iterator = response.get("NextShardIterator")
        fresh = records[self._seen :]
        self._seen = len(records)
        return [self._as_lambda(record) for record in fresh]

    def _as_lambda(self, record: Mapping[str, Any]) -> dict[str, Any]:
        dynamodb = dict(record["dynamodb"])
        created = dynamodb.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            dynamodb["ApproximateCreationDateTime"] = round(created.timestamp(), 3)
        return {**record, "dynamodb": dynamodb, "eventSourceARN": self.stream_arn}


def deliver(
    handler: Callable[[dict[str, Any]], Mapping[str, Any]],
    records: Sequence[Mapping[str, Any]],
    batch_size: int = 100,
    max_invocations: int = 1000,
) -> int:
    """Feed ``records`` to ``handler`` as the event source mapping does; returns the invocations made.

    A reported batch item failure makes the next batch start at the reported record (Lambda
    resumes from the lowest sequence number reported); bounded, so a stuck batch ends the run.
    """
    position, invocations = 0, 0
    while position < len(records) and invocations < max_invocations:
        batch = list(records[position : position + batch_size])
        invocations += 1
        response = handler({"Records": batch})
        failures = [item["itemIdentifier"] for item in response.get("batchItemFailures", [])]
        if not failures:
            position += len(batch)
            continue
        lowest = min(failures, key=int)
        position += next(i for i, record in enumerate(batch) if record["dynamodb"]["SequenceNumber"] == lowest)
    return invocations


@dataclass
class Calls:
    """Every AWS API call made, counted once per call (botocore's retries aside) with its parameters."""

    made: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.made.append((model.service_model.service_name, model.name, json.loads(json.dumps(params, default=str))))

    def of(self, operation: str) -> list[dict[str, Any]]:
        """The parameters of each call of ``operation`` (e.g. ``PutEvents``), in order."""
        return [params for _, name, params in self.made if name == operation]

    def services(self) -> set[str]:
        return {service for service, _, _ in self.made}

    def clear(self) -> None:
        self.made.clear()


@dataclass
class LambdaContext:
    function_name: str = "stream-handler-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:stream-handler-test"
    aws_request_id: str = "test-request"
    # The invocation's time, counted from the context's creation: one context per invocation.
    # Short, so that a dependency that never recovers ends a test's invocation in a few seconds
    # (the stack fixture shrinks the handlers' timeouts and margin to match).
    remaining_seconds: float = 5.0
    clock: Callable[[], float] = time.monotonic  # a test that controls time passes its FakeClock
    started: float | None = None

    def __post_init__(self) -> None:
        if self.started is None:
            self.started = self.clock()

    def get_remaining_time_in_millis(self) -> int:
        assert self.started is not None
        return max(0, int((self.remaining_seconds - (self.clock() - self.started)) * 1000))


@dataclass
class Stack:
    """The resources a stream handler needs, as template.yaml defines them."""

    repository: ProfileRepository
    stream: StreamReader
    bus_name: str
    consumer_queue_url: str
    dead_letter_queue_url: str
    user_pool_id: str
    calls: Calls

    def received(self, queue_url: str | None = None) -> list[dict[str, Any]]:
        """Drain a queue (the example consumer's by default); bodies in arrival order."""
        sqs = boto3.client("sqs", region_name=REGION)
        url = queue_url or self.consumer_queue_url
        bodies = []
        while True:
            response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            messages = response.get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(
                    QueueUrl=queue_url or self.consumer_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.received(self.dead_letter_queue_url)


class FakeClock:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


class FlakyEventBridge:
    """EventBridge refusing the entries ``refuse`` picks with a per-entry error code (retryable by default).

    Registered on ``before-call.events.PutEvents``, it answers in place of the service: the
    entries it accepts go to the real (moto) bus through its own client, the refused ones come
    back with ``ErrorCode`` as EventBridge reports them. moto itself only refuses for good.
    """

    def __init__(self, refuse: Callable[[dict[str, Any]], bool], code: str = "InternalFailure") -> None:
        self._refuse = refuse
        self._code = code
        self._client = boto3.session.Session(region_name=REGION).client("events")
        self.refused: list[str] = []  # event ids, one per refusal

    def install(self) -> FlakyEventBridge:
        events = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
        events.register("before-parameter-build.events.PutEvents", self._keep_entries)
        events.register("before-call.events.PutEvents", self)
        return self

    @staticmethod
    def _keep_entries(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["test_entries"] = params["Entries"]  # before-call sees the serialised request only

    def __call__(self, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        entries = context["test_entries"]
        refused = [self._refuse(json.loads(entry["Detail"])) for entry in entries]
        accepted = [entry for entry, no in zip(entries, refused, strict=True) if not no]
        outcomes = iter(self._client.put_events(Entries=accepted)["Entries"] if accepted else [])
        results = []
        for entry, no in zip(entries, refused, strict=True):
            if no:
                self.refused.append(json.loads(entry["Detail"])["event_id"])
                results.append({"ErrorCode": self._code, "ErrorMessage": "refused by the test"})
            else:
                results.append(next(outcomes))
        return AWSResponse("https://events.test", 200, {}, None), {"FailedEntryCount": sum(refused), "Entries": results}


def outage(operation: str) -> None:
    """Make every call of ``operation`` (``events.PutEvents``...) fail as when the endpoint is unreachable."""

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url=f"https://{operation}.test")

    boto3.DEFAULT_SESSION.events.register(f"before-call.{operation}", unreachable)  # type: ignore[union-attr]
