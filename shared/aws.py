"""AWS clients, created on first use with explicit timeouts and bounded retries.

botocore's defaults (60 s connect and read timeouts) are far beyond a Cognito trigger's
5-second budget, so every client here states its own.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Protocol


class RemainingTime(Protocol):
    """The part of a Lambda context that says how long the invocation may still run."""

    def get_remaining_time_in_millis(self) -> int: ...


class CallLimits(Protocol):
    """What a function's settings say of its AWS calls: timeouts and attempts (the first included)."""

    @property
    def connect_timeout_seconds(self) -> float: ...

    @property
    def read_timeout_seconds(self) -> float: ...

    @property
    def max_attempts(self) -> int: ...


def client_for(service: str, limits: CallLimits) -> Any:
    """The cached client for ``service`` with a function's settings' timeouts and attempts."""
    return client(
        service,
        connect_timeout=limits.connect_timeout_seconds,
        read_timeout=limits.read_timeout_seconds,
        max_attempts=limits.max_attempts,
    )


@cache
def client(
    service: str,
    *,
    connect_timeout: float,
    read_timeout: float,
    max_attempts: int,
) -> Any:
    """A cached boto3 client; ``max_attempts`` counts the first try (standard retry mode).

    Endpoints come from boto3's own ``AWS_ENDPOINT_URL[_<SERVICE>]`` variables (the local stack).
    """
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
    )
    return boto3.client(service, config=config)


def reset() -> None:
    """Forget cached clients (tests that switch endpoints or credentials call this)."""
    client.cache_clear()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ``ClientError`` (``ThrottlingException``...), or "" for any other error."""
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
