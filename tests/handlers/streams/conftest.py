"""The stream handlers under moto: table, bus, consumer and queues built from template.yaml."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from shared import aws, settings
from shared.repository import ProfileRepository
from tests.streams import REGION, SOURCE, Calls, LambdaContext, Stack, StreamReader
from tests.template import create_table_kwargs, resource

os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "profile-sync-tests")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "tests")


def _resolve(value: Any, refs: dict[str, str]) -> Any:
    """Resolve the few intrinsics the example consumer's rule uses."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return refs[value["Ref"]]
    if isinstance(value, dict):
        return {key: _resolve(inner, refs) for key, inner in value.items()}
    if isinstance(value, list):
        return [_resolve(inner, refs) for inner in value]
    return value


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, calls: Calls) -> Iterator[Stack]:
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        aws.reset()
        settings.load.cache_clear()
        boto3.setup_default_session(region_name=REGION)
        dynamodb = boto3.client("dynamodb")
        table = dynamodb.create_table(**create_table_kwargs("ProfileTable", "profiles"))
        stream_arn = table["TableDescription"]["LatestStreamArn"]

        events = boto3.client("events")
        sqs = boto3.client("sqs")
        bus_name = events.create_event_bus(Name="profiles")["EventBusArn"].rsplit("/", 1)[1]
        consumer_url = sqs.create_queue(QueueName="consumer")["QueueUrl"]
        consumer_arn = sqs.get_queue_attributes(QueueUrl=consumer_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        rule = resource("ExampleConsumerRule")["Properties"]
        pattern = _resolve(rule["EventPattern"], {"EventSource": SOURCE})
        events.put_rule(Name="example-consumer", EventBusName=bus_name, EventPattern=json.dumps(pattern))
        events.put_targets(
            Rule="example-consumer", EventBusName=bus_name, Targets=[{"Id": "consumer", "Arn": consumer_arn}]
        )
        dead_letter_url = sqs.create_queue(QueueName="stream-dlq")["QueueUrl"]

        cognito = boto3.client("cognito-idp")
        schema = [
            {key: value for key, value in attribute.items() if key != "Required"}
            for attribute in resource("UserPool")["Properties"]["Schema"]
            if attribute["Name"] != "email"
        ]
        pool_id = cognito.create_user_pool(PoolName="users", Schema=schema)["UserPool"]["Id"]

        monkeypatch.setenv("EVENT_BUS_NAME", bus_name)
        monkeypatch.setenv("EVENT_SOURCE", SOURCE)
        monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dead_letter_url)
        monkeypatch.setenv("USER_POOL_ID", pool_id)
        # Small enough that a dependency that never answers ends an invocation of the test
        # context (tests.streams.LambdaContext: 5 s) after a few attempts.
        monkeypatch.setenv("RETRY_BASE_SECONDS", "0.01")
        monkeypatch.setenv("RETRY_MAX_SECONDS", "0.05")
        monkeypatch.setenv("CONNECT_TIMEOUT_SECONDS", "0.1")
        monkeypatch.setenv("READ_TIMEOUT_SECONDS", "0.2")
        monkeypatch.setenv("ANSWER_MARGIN_SECONDS", "0.1")

        # Registered before the code under test creates its clients, which inherit it.
        boto3.DEFAULT_SESSION.events.register("before-parameter-build", calls.record)  # type: ignore[union-attr]
        yield Stack(
            repository=ProfileRepository(dynamodb, "profiles"),
            stream=StreamReader(stream_arn, REGION),
            bus_name=bus_name,
            consumer_queue_url=consumer_url,
            dead_letter_queue_url=dead_letter_url,
            user_pool_id=pool_id,
            calls=calls,
        )
    aws.reset()
    settings.load.cache_clear()
    boto3.DEFAULT_SESSION = None


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext()
