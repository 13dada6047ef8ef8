"""A consumer's copy of profiles, kept correct under at-least-once, out-of-order delivery.

The ordering rule (profile-sync's docs/events.md, "Ordering"): per field, the event with the
highest version wins; ``ProfileUpdated`` sets the fields in ``changed`` (``null`` removes one),
``ProfileCreated`` sets every field (those not in ``new`` to absent), ``ProfileDeleted`` sets every
field to absent and is kept as a tombstone; whether the profile exists is decided by the user's
highest-version event. Duplicates (same ``event_id``) change nothing. Applied this way, any
order of any number of copies of the events ends in the same state: the source's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from profile_sync_consumer.contract import FIELD_NAMES, PROFILE_UPDATED
from profile_sync_consumer.events import ProfileEvent


@dataclass(frozen=True, slots=True)
class ProfileCopy:
    """One user's profile as a consumer keeps it, with what the ordering rule needs.

    Store all of it (``field_versions`` holds the tombstones of removed fields): a copy rebuilt
    from ``values`` alone would take an older event's value for a field a newer one removed.
    """

    user_id: str
    values: Mapping[str, Any] = field(default_factory=dict)  # the fields the profile holds
    field_versions: Mapping[str, int] = field(default_factory=dict)  # field -> version of the event that set it
    version: int = 0  # the highest version applied
    deleted: bool = False  # whether that event was a ProfileDeleted

    @property
    def exists(self) -> bool:
        """Whether the profile exists: an event was applied and the latest was not a deletion."""
        return self.version > 0 and not self.deleted


def apply(copy: ProfileCopy | None, event: ProfileEvent) -> ProfileCopy:
    """The copy after ``event``; ``copy`` itself (the same object) when the event changes nothing
    (a duplicate, or an event every field of which a later one already set): nothing to write."""
    current = copy if copy is not None else ProfileCopy(event.user_id)
    if current.user_id != event.user_id:
        raise ValueError("the event is another user's")
    touched = event.changed if event.detail_type == PROFILE_UPDATED else (*FIELD_NAMES, *event.changed)
    values = dict(current.values)
    versions = dict(current.field_versions)
    for name in dict.fromkeys(touched):
        if event.version <= versions.get(name, 0):
            continue  # a later event already set this field
        versions[name] = event.version
        value = None if event.deletes else event.new.get(name)
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value
    newest = event.version > current.version
    if not newest and versions == current.field_versions:
        return current
    return ProfileCopy(
        user_id=current.user_id,
        values=values,
        field_versions=versions,
        version=max(event.version, current.version),
        deleted=event.deletes if newest else current.deleted,
    )


class Replica:
    """Copies of many users' profiles in memory: a cache, a test's consumer, or a model of your store.

    ``seen`` remembers every applied event id, which saves the work of a duplicate; a long-lived
    consumer bounds such a set (by age, say) or relies on ``apply``, which drops duplicates anyway.
    """

    def __init__(self) -> None:
        self.copies: dict[str, ProfileCopy] = {}
        self.seen: set[str] = set()

    def apply(self, event: ProfileEvent) -> bool:
        """Apply one event; whether it changed the copy."""
        if event.event_id in self.seen:
            return False
        self.seen.add(event.event_id)
        before = self.copies.get(event.user_id)
        after = apply(before, event)
        self.copies[event.user_id] = after
        return after is not before

    def apply_all(self, events: Iterable[ProfileEvent]) -> int:
        """Apply events in the order given; how many changed the copy."""
        return sum(self.apply(event) for event in events)

    def profiles(self) -> dict[str, dict[str, Any]]:
        """The profiles that exist, by user: their fields' values."""
        return {user: dict(copy.values) for user, copy in self.copies.items() if copy.exists}
