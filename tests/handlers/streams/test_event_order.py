"""The ordering rule of docs/events.md, end to end: a consumer that follows it ends equal to the table.

Profiles live through create / edit / delete / re-create cycles; their events reach the consumer
shuffled and duplicated, as EventBridge targets may receive them.
"""

from __future__ import annotations

import json
import random
from typing import Any

import boto3
import pytest

from local.support import TABLE, LambdaContext, MotoStack
from shared.fields import FIELDS
from shared.profile import Profile, first_version
from shared.repository import from_dynamodb
from stream_handlers.publish_events.app import handler

NOW = "2026-11-28T00:00:00.000Z"
NAMES = [spec.name for spec in FIELDS]


class DocumentedConsumer:
    """A consumer's copy of the profiles, kept by the rules in docs/events.md ("Ordering")."""

    def __init__(self) -> None:
        self.field_versions: dict[str, dict[str, int]] = {}
        self.values: dict[str, dict[str, Any]] = {}
        self.latest: dict[str, tuple[int, str]] = {}  # user -> (highest version, its detail-type)
        self.seen: set[str] = set()

    def apply(self, event: dict[str, Any]) -> None:
        detail, kind = event["detail"], event["detail-type"]
        if detail["event_id"] in self.seen:
            return  # a duplicate (the version rule below would drop it too)
        self.seen.add(detail["event_id"])
        user, version = detail["user_id"], detail["version"]
        if version > self.latest.get(user, (0, ""))[0]:
            self.latest[user] = (version, kind)
        touched = detail["changed"] if kind == "ProfileUpdated" else NAMES
        new = detail.get("new", {})
        versions = self.field_versions.setdefault(user, {})
        values = self.values.setdefault(user, {})
        for name in touched:
            if version <= versions.get(name, 0):
                continue  # a later event already set this field
            versions[name] = version
            value = new.get(name) if kind != "ProfileDeleted" else None
            if value is None:
                values.pop(name, None)
            else:
                values[name] = value

    def profiles(self) -> dict[str, dict[str, Any]]:
        """The profiles that exist, by user: those whose latest event is not a deletion."""
        return {user: self.values[user] for user, (_, kind) in self.latest.items() if kind != "ProfileDeleted"}


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
            if chance.random() < 0.3 and NAMES:
                changes[chance.choice(["plan", "locale", "display_name"])] = None  # a removal
            alive[user] = stack.repository.update(user, changes, expected_version=alive[user]).version


def table_profiles(stack: MotoStack) -> dict[str, dict[str, Any]]:
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return {
        item["user_id"]: {name: value for name, value in item.items() if name in NAMES}
        for item in map(from_dynamodb, items)
    }


@pytest.mark.parametrize("seed", range(5))
def test_a_consumer_following_the_ordering_rule_ends_equal_to_the_table(
    stack: MotoStack, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    # Given 12 users living through create / edit / delete / re-create cycles, published with values
    monkeypatch.setenv("INCLUDE_PII", "true")
    chance = random.Random(seed)
    live_through_cycles(stack, chance, users=12)
    response = handler({"Records": stack.stream.read()}, LambdaContext.of("PublishEventsFunction"))
    assert response == {"batchItemFailures": []}
    events = stack.received()
    # ...delivered in random order, a third of them twice
    delivered = events + chance.sample(events, k=len(events) // 3)
    chance.shuffle(delivered)

    # When a consumer applies them by the documented rules
    consumer = DocumentedConsumer()
    for event in delivered:
        consumer.apply(json.loads(json.dumps(event)))

    # Then its copy equals the table: the same profiles, field for field
    assert consumer.profiles() == table_profiles(stack)
