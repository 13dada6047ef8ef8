"""Test-only fakes for the stream handlers: a clock that moves only when slept on, an
EventBridge that refuses chosen entries, and the short invocation the stream tests use.
The stack, context, call recorder, stream reader and ``deliver`` are in local/support.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from local.support import REGION, LambdaContext


def short_invocation() -> LambdaContext:
    """A stream function's invocation of 5 s rather than template.yaml's 60 s, so that a dependency
    that never recovers ends a test in seconds (the stack fixture shrinks the handlers' timeouts
    and margin to match). One per invocation: the time left counts from its creation."""
    return LambdaContext(function_name="stream-handler-test", timeout=5)


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
        events = boto3.DEFAULT_SESSION.events
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
