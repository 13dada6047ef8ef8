"""Settings per function, read from the environment and validated on first use.

Each function declares a frozen dataclass in its own folder, every field naming its
environment variable with ``env("NAME", default)``, so the variable's name stands where it
is read. ``load(cls)`` reads them, converts each to its field's type and caches the result. A
missing or malformed variable raises ``SettingsError`` naming the variable, on the first
invocation rather than at import.

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


def env(variable: str, default: Any = dataclasses.MISSING) -> Any:
    """A settings field read from the environment variable ``variable`` (required without a default)."""
    return dataclasses.field(default=default, metadata={"env": variable})


@cache
def load[T](cls: type[T]) -> T:
    """The settings ``cls`` read from the environment (cached: call ``load.cache_clear()`` to reread)."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
        variable = spec.metadata.get("env")
        if not variable:
            raise SettingsError(f"{cls.__name__}.{spec.name} names no environment variable (declare it with env())")
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
