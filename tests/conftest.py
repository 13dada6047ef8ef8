"""Fixtures shared by the handler tests: the profile table under moto (local/support.py's stack,
built from template.yaml), a trigger's Lambda context, and the AWS calls a handler makes."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

# Lambda sets these before it imports a handler; powertools reads them at import too.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "profile-sync-test")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "test")

import pytest

from local.support import REGION, TABLE, CallRecorder, LambdaContext, MotoStack, moto_stack
from shared import aws, settings
from tests.streams import FakeClock

TRIGGERS = ("PostConfirmationFunction", "PreTokenGenerationFunction")


@pytest.fixture
def lambda_context() -> LambdaContext:
    """A trigger's invocation: template.yaml's 5 s, on a clock that stands still (the tests time nothing)."""
    return LambdaContext.of("PreTokenGenerationFunction", clock=FakeClock())


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
    """Fake credentials, the Region and the profile table's name; no endpoint or profile from the shell."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "PROFILE_TABLE_NAME": TABLE,
    }.items():
        monkeypatch.setenv(name, value)
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name == "AWS_PROFILE":
            monkeypatch.delenv(name)


@pytest.fixture
def table_stack(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoStack]:
    """The profile table alone under moto, and the triggers' variables as template.yaml gives them."""
    with moto_stack(table_only=True) as stack:
        for name, value in stack.environment(*TRIGGERS).items():
            monkeypatch.setenv(name, value)
        yield stack


@pytest.fixture
def table(table_stack: MotoStack) -> Any:
    """A DynamoDB client of the moto table (its calls are not counted)."""
    return table_stack.dynamodb


@pytest.fixture
def aws_calls(table_stack: MotoStack) -> CallRecorder:
    """Every API call the handlers make from now on (their clients are created anew, from the recorded session)."""
    aws.reset()
    table_stack.calls.clear()
    return table_stack.calls


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Callable[[], str]:
    """Everything the functions' logger logged, messages and structured extras, as one text."""
    from shared.observability import logger

    caplog.set_level("DEBUG", logger=logger.name)

    def text() -> str:
        ours = (record for record in caplog.records if record.name == logger.name)
        return "\n".join(json.dumps(vars(record), default=str) for record in ours)

    return text


def stored_item(client: Any, user_id: str) -> dict[str, Any] | None:
    """The raw stored item, DynamoDB-typed, for byte-for-byte comparisons."""
    item: dict[str, Any] | None = client.get_item(
        TableName=TABLE, Key={"user_id": {"S": user_id}}, ConsistentRead=True
    ).get("Item")
    return item
