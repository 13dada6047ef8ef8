"""The ordering rule: a copy ends equal to the source whatever the order and number of deliveries."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from kit_samples import USER, created, deleted, updated

from profile_sync_consumer.events import parse_event
from profile_sync_consumer.replica import ProfileCopy, Replica, apply


def events(*envelopes: dict[str, Any]) -> list[Any]:
    return [parse_event(envelope) for envelope in envelopes]


# One user's life: created, edited (a removal among the edits), deleted, created again, edited.
LIFE = events(
    created(10, plan="free", locale="en-GB", display_name="Ada"),
    updated(11, plan="pro", locale=None),
    updated(12, display_name="Ada King", roles=["editor"]),
    deleted(13, USER, "plan", "display_name", "roles"),
    created(20, plan="team", email_verified=True),
    updated(21, preferences={"theme": "dark"}),
)


def in_order(delivered: list[Any]) -> Replica:
    replica = Replica()
    replica.apply_all(delivered)
    return replica


def test_events_in_order_give_the_profile_of_the_last_lifetime() -> None:
    replica = in_order(LIFE)
    assert replica.profiles() == {USER: {"plan": "team", "email_verified": True, "preferences": {"theme": "dark"}}}


@pytest.mark.parametrize("length", [4, 6])
def test_every_order_of_the_events_ends_in_the_same_copy(length: int) -> None:
    # Given the first `length` events of a life, and the copy they make in order
    expected = in_order(LIFE[:length]).copies

    # When they arrive in every possible order, Then every copy is that copy, tombstones included
    for order in itertools.permutations(LIFE[:length]):
        assert in_order(list(order)).copies == expected


def test_shuffled_and_duplicated_deliveries_end_in_the_same_copy() -> None:
    # Given many users' lives, delivered shuffled with a third of the events twice
    chance = random.Random(7)
    lives = [
        events(
            created(100, f"u{n}", plan="free"),
            updated(101, f"u{n}", plan="pro", locale="fr-FR"),
            updated(102, f"u{n}", locale=None),
            *([deleted(103, f"u{n}", "plan")] if n % 2 else []),
        )
        for n in range(10)
    ]
    ordered = [event for life in lives for event in life]
    delivered = ordered + chance.sample(ordered, k=len(ordered) // 3)
    chance.shuffle(delivered)

    # When a replica applies them, Then it equals the in-order replica
    assert in_order(delivered).profiles() == in_order(ordered).profiles()
    assert in_order(delivered).profiles() == {f"u{n}": {"plan": "pro"} for n in range(0, 10, 2)}


def test_a_removal_is_a_tombstone_an_older_value_does_not_cross() -> None:
    # Given a field removed at version 3
    copy = apply(None, parse_event(updated(3, locale=None)))

    # When the creation of version 1 that set it arrives late, Then it stays removed
    copy = apply(copy, parse_event(created(1, locale="en-GB", plan="free")))
    assert copy.values == {"plan": "free"}
    assert copy.field_versions["locale"] == 3


def test_a_late_update_of_a_deleted_profile_does_not_revive_it() -> None:
    # Given a deletion at version 5
    copy = apply(None, parse_event(deleted(5, USER, "plan")))

    # When the update of version 4 arrives after it
    copy = apply(copy, parse_event(updated(4, plan="pro")))

    # Then the profile does not exist and holds nothing
    assert not copy.exists
    assert copy.values == {}


def test_a_creation_clears_fields_an_earlier_lifetime_set_later_in_delivery() -> None:
    # Given the re-creation at version 20 applied first
    copy = apply(None, parse_event(created(20, plan="team")))

    # When the earlier lifetime's update (version 12) arrives, Then its field stays absent
    copy = apply(copy, parse_event(updated(12, display_name="Ada King")))
    assert copy.exists
    assert copy.values == {"plan": "team"}


def test_a_duplicate_or_stale_event_returns_the_same_copy_so_nothing_is_written() -> None:
    # Given a copy at version 11
    first, second = events(created(10, plan="free"), updated(11, plan="pro"))
    copy = apply(apply(None, first), second)

    # When the same update, or the older creation, arrive again
    # Then apply returns the very same object
    assert apply(copy, second) is copy
    assert apply(copy, first) is copy


def test_the_replica_drops_a_duplicate_by_event_id_before_applying() -> None:
    replica = Replica()
    (event,) = events(created(1, plan="free"))
    assert replica.apply(event) is True
    assert replica.apply(event) is False
    assert replica.seen == {event.event_id}


def test_apply_refuses_another_users_event() -> None:
    with pytest.raises(ValueError, match="another user's"):
        apply(ProfileCopy("someone-else"), LIFE[0])


def test_a_redacted_value_is_kept_as_the_marker_it_reads() -> None:
    # Given a creation whose PII is redacted
    copy = apply(None, parse_event(created(1, display_name="***", plan="free")))

    # Then the copy holds the marker, not a guess
    assert copy.values == {"display_name": "***", "plan": "free"}
