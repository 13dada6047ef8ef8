"""Settings per function, read from the environment and validated on first use.

Each function declares a frozen dataclass; ``load(cls)`` reads one environment variable
per field (the field name in upper case, or ``metadata={"env": ...}``), converts it to the
field's type and caches the result. A missing or malformed variable raises
``SettingsError`` naming the variable, on the first invocation rather than at import.

These are dataclasses, not pydantic models, on purpose: importing pydantic costs about
55 ms, a quarter of a trigger's whole cold start, and triggers must stay within 1.15x of a
bare boto3 process.
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing
from functools import cache
from typing import Any, Literal, get_args, get_origin


class SettingsError(RuntimeError):
    """The function's environment is missing or malforms a variable."""


@cache
def load[T](cls: type[T]) -> T:
    """The settings ``cls`` read from the environment (cached: call ``load.cache_clear()`` to reread)."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
        variable = spec.metadata.get("env", spec.name.upper())
        raw = os.environ.get(variable)
        if raw is None or raw == "":
            if spec.default is dataclasses.MISSING:
                raise SettingsError(f"{cls.__name__}: environment variable {variable} is not set")
            continue
        values[spec.name] = _convert(variable, raw, hints[spec.name])
    return cls(**values)


def _convert(variable: str, raw: str, annotation: Any) -> Any:
    if get_origin(annotation) is Literal:
        choices = get_args(annotation)
        if raw not in choices:
            raise SettingsError(f"{variable}={raw!r} is not one of {', '.join(map(str, choices))}")
        return raw
    if annotation is bool:
        if raw.lower() not in ("true", "false", "1", "0"):
            raise SettingsError(f"{variable}={raw!r} is not a boolean (true/false)")
        return raw.lower() in ("true", "1")
    if annotation in (int, float):
        try:
            value = annotation(raw)
        except ValueError:
            raise SettingsError(f"{variable}={raw!r} is not a number") from None
        if not math.isfinite(value) or value <= 0:
            raise SettingsError(f"{variable}={raw!r} must be a positive, finite number")
        return value
    return raw


@dataclasses.dataclass(frozen=True)
class TriggerSettings:
    """What both Cognito triggers need. Their AWS calls must fit well inside 5 s."""

    profile_table_name: str
    connect_timeout_seconds: float = 0.5
    read_timeout_seconds: float = 0.5
    max_attempts: int = 2


@dataclasses.dataclass(frozen=True)
class PreTokenSettings(TriggerSettings):
    # "open": issue the token without profile claims when the table is unreachable.
    on_store_error: Literal["open", "closed"] = "open"
    claims_budget_bytes: int = 2048


@dataclasses.dataclass(frozen=True, kw_only=True)
class StreamSettings:
    """What both stream handlers need: a batch has minutes, not seconds, but calls stay bounded."""

    dead_letter_queue_url: str
    connect_timeout_seconds: float = 2.0
    read_timeout_seconds: float = 5.0
    max_attempts: int = 3  # botocore attempts per call (connection errors, 5xx)
    retry_attempts: int = 4  # our own attempts per entry or per user, on partial failure and throttling
    retry_base_seconds: float = 0.1  # jittered exponential backoff between our own attempts
    retry_max_seconds: float = 2.0
    dead_letter_max_bytes: int = 262_144  # larger poison records go to the queue as metadata only


@dataclasses.dataclass(frozen=True, kw_only=True)
class PublishSettings(StreamSettings):
    event_bus_name: str
    event_source: str = "profile-sync"
    include_pii: bool = False
    max_entry_bytes: int = 1_048_576  # one PutEvents entry (256 KiB before 2026-01-29: lower it in such Regions)
    max_request_bytes: int = 1_048_576  # all entries of one PutEvents call


@dataclasses.dataclass(frozen=True, kw_only=True)
class SyncSettings(StreamSettings):
    user_pool_id: str
    # Share of the account's AdminUpdateUserAttributes quota (25 req/s, shared with the
    # users' own UpdateUserAttributes and DeleteUser) this function may use per container.
    cognito_rate_share: float = 0.4
    cognito_quota_per_second: float = 25.0
