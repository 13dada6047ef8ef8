"""Test-only fakes for the stream handlers: a clock that moves only when slept on, an
EventBridge that refuses chosen entries, the short invocation the stream tests use, and
profiles living through random create / edit / delete / re-create cycles with the events
they publish. The stack, context, call recorder, stream reader and ``deliver`` are in
local/support.py."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from local.support import REGION, LambdaContext, MotoStack
from shared.fields import FIELDS
from shared.profile import Profile, first_version
from shared.repository import from_dynamodb

NOW = "2026-11-28T00:00:00.000Z"
NAMES = [spec.name for spec in FIELDS]


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


def random_fields(chance: random.Random) -> dict[str, Any]:
    candidates = {
        "plan": chance.choice(["free", "pro", "team"]),
        "display_name": chance.choice(["Ada", "Grace", "Alan"]),
        "locale": chance.choice(["en-GB", "fr-FR", "de"]),
        "roles": chance.sample(["reader", "editor", "admin"], k=chance.randint(1, 2)),
        "preferences": {"theme": chance.choice(["dark", "light"])},
        "email_verified": chance.choice([True, False]),
    }
    return {name: value for name, value in candidates.items() if chance.random() < 0.6}


def live_through_cycles(stack: MotoStack, chance: random.Random, users: int) -> None:
    """Random creates, edits, deletes and re-creates, interleaved across users, as the table sees them."""
    alive: dict[str, int] = {}  # user -> current version
    for _ in range(users * 10):
        user = f"u{chance.randrange(users):02}"
        if user not in alive:
            profile = Profile(user, f"name-{user}", NOW, NOW, fields=random_fields(chance), version=first_version())
            stack.repository.create_if_absent(profile)
            alive[user] = profile.version
        elif chance.random() < 0.2:
            stack.repository.delete(user)
            del alive[user]
        else:
            changes: dict[str, Any] = random_fields(chance)
            if chance.random() < 0.3:
                changes[chance.choice(["plan", "locale", "display_name"])] = None  # a removal
            alive[user] = stack.repository.update(user, changes, expected_version=alive[user]).version


def table_profiles(stack: MotoStack) -> dict[str, dict[str, Any]]:
    """The profile table's profiles, by user: the map's fields only."""
    items = stack.dynamodb.scan(TableName=stack.table_name)["Items"]
    return {
        item["user_id"]: {name: value for name, value in item.items() if name in NAMES}
        for item in map(from_dynamodb, items)
    }
