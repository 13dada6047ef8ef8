"""A handler the integration tests run in place of a function's own (``Runtime.override``)."""

from typing import Any


def handler(event: Any, context: Any) -> None:
    print("about to fail")  # noqa: T201 - a handler's own output belongs in the function's log
    raise ValueError("boom")
