"""The ordering rule of docs/events.md, end to end: a consumer that follows it ends equal to the table.

Profiles live through create / edit / delete / re-create cycles; their events reach the consumer
shuffled and duplicated, as EventBridge targets may receive them. The consumer is the consumer
kit's ``Replica`` (consumer_kit/): the rule's one implementation.
"""

from __future__ import annotations

import json
import random

import pytest

from local.support import LambdaContext, MotoStack
from profile_sync_consumer.events import parse_event
from profile_sync_consumer.replica import Replica
from stream_handlers.publish_events.app import handler
from tests.streams import live_through_cycles, table_profiles


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
    consumer = Replica()
    for event in delivered:
        consumer.apply(parse_event(json.dumps(event)))

    # Then its copy equals the table: the same profiles, field for field
    assert consumer.profiles() == table_profiles(stack)
