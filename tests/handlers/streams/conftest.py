"""The stream handlers under moto: table, bus, consumer and queues built from template.yaml."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.support import LambdaContext, MotoStack, moto_stack
from tests.streams import short_invocation

STREAM_FUNCTIONS = ("PublishEventsFunction", "SyncCognitoFunction")
# Small enough that a dependency that never answers ends an invocation of a short test
# context (tests.streams.short_invocation: 5 s) after a few attempts.
QUICK_RETRIES = {
    "RETRY_BASE_SECONDS": "0.01",
    "RETRY_MAX_SECONDS": "0.05",
    "CONNECT_TIMEOUT_SECONDS": "0.1",
    "READ_TIMEOUT_SECONDS": "0.2",
    "ANSWER_MARGIN_SECONDS": "0.1",
}


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoStack]:
    """template.yaml's resources under moto, and the stream functions' variables as it gives them."""
    with moto_stack() as stack:
        for name, value in {**stack.environment(*STREAM_FUNCTIONS), **QUICK_RETRIES}.items():
            monkeypatch.setenv(name, value)
        yield stack


@pytest.fixture
def context() -> LambdaContext:
    return short_invocation()
