"""Fixtures shared by the handler tests: a moto account, the profile table built from
template.yaml, a Lambda context, and an exact count of the AWS calls a handler makes."""

from __future__ import annotations

import importlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Lambda sets these before it imports a handler; powertools reads them at import too.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "profile-sync-test")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "test")

import boto3
import pytest
from moto import mock_aws

from shared import aws, settings
from tests.template import ROOT, create_table_kwargs, resource

TABLE = "profiles-test"
REGION = "us-east-1"


@dataclass
class FakeLambdaContext:
    function_name: str = "test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:test-function"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "2026/11/28/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        return 5000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture(autouse=True)
def _fresh_clients_and_settings() -> Iterator[None]:
    """Clients and settings are cached per process; every test starts without them."""
    aws.reset()
    settings.load.cache_clear()
    yield
    aws.reset()
    settings.load.cache_clear()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and the variables template.yaml gives every function."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "PROFILE_TABLE_NAME": TABLE,
        "POWERTOOLS_METRICS_NAMESPACE": "profile-sync-test",
        "POWERTOOLS_SERVICE_NAME": "test",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def table(aws_env: None) -> Iterator[Any]:
    """The profile table under moto, with the key schema and stream read from template.yaml."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(**create_table_kwargs("ProfileTable", TABLE))
        yield client


@dataclass
class CallLog:
    """The AWS operations made through boto3's default session, in order."""

    operations: list[str]

    @property
    def counts(self) -> Counter[str]:
        return Counter(self.operations)

    def clear(self) -> None:
        self.operations.clear()


@pytest.fixture
def aws_calls(table: Any) -> CallLog:
    """Every API call the handlers make from now on (their clients are recreated, hooked)."""
    log = CallLog([])
    aws.reset()
    boto3.setup_default_session(region_name=REGION)
    session = boto3.DEFAULT_SESSION
    assert session is not None

    def record(model: Any, **_: Any) -> None:
        log.operations.append(model.name)

    session.events.register("before-call.*.*", record)
    return log


def handler_for(logical_id: str) -> Callable[..., Any]:
    """The handler function template.yaml names for a function, imported the way Lambda does."""
    module_path, _, attribute = resource(logical_id)["Properties"]["Handler"].rpartition(".")
    return getattr(importlib.import_module(module_path.replace("/", ".")), attribute)  # type: ignore[no-any-return]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Callable[[], str]:
    """Everything the functions' logger logged, messages and structured extras, as one text."""
    from shared.observability import logger

    caplog.set_level("DEBUG", logger=logger.name)

    def text() -> str:
        ours = (record for record in caplog.records if record.name == logger.name)
        return "\n".join(json.dumps(vars(record), default=str) for record in ours)

    return text


EVENTS = ROOT / "events"


def load_event(relative: str) -> dict[str, Any]:
    """A sample event from events/ (a fresh copy: handlers may change the response)."""
    return json.loads(Path(EVENTS, relative).read_text())  # type: ignore[no-any-return]


def stored_item(client: Any, user_id: str) -> dict[str, Any] | None:
    """The raw stored item, DynamoDB-typed, for byte-for-byte comparisons."""
    return client.get_item(TableName=TABLE, Key={"user_id": {"S": user_id}}, ConsistentRead=True).get("Item")
