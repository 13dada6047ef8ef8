"""The example consumer's copy of the profiles: one item per user in its own table.

Each item holds the consumer kit's ``ProfileCopy`` whole (values, the per-field versions that are
the tombstones, the highest version, whether it is deleted) and a ``revision`` that every write
bumps: a write is conditional on the revision it read, so two invocations applying events of
the same user at once never lose one another's change (the loser reads again and reapplies).

A deleted profile's item (the tombstone) carries ``expires_at`` (epoch seconds) for DynamoDB's time
to live: once no event older than the deletion can still arrive, it has done its work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from profile_sync_consumer.events import ProfileEvent
from profile_sync_consumer.replica import ProfileCopy, apply
from shared import aws
from shared.aws import error_code
from shared.repository import from_dynamodb, to_dynamodb
from shared.settings import env

# How long a tombstone outlives its write: the event archive's retention (30 days: an older event
# cannot be replayed), the stream's 24 hours (an event reaches the bus up to a day after its change)
# and 14 days for a message waiting in the queue or its dead-letter queue before a redrive.
# Raise it with the stack's EventArchiveRetentionDays.
TOMBSTONE_DAYS = 30 + 1 + 14


@dataclass(frozen=True)
class ConsumerSettings:
    table_name: str = env("CONSUMER_TABLE_NAME")
    connect_timeout_seconds: float = env("CONNECT_TIMEOUT_SECONDS", 1.0)
    read_timeout_seconds: float = env("READ_TIMEOUT_SECONDS", 2.0)
    max_attempts: int = env("MAX_ATTEMPTS", 3)  # botocore's, per call (throttling, 5xx)
    # Reads and writes again while other invocations keep changing the same user's item;
    # then the message fails and SQS delivers it again after the visibility timeout.
    write_attempts: int = env("WRITE_ATTEMPTS", 3)
    tombstone_days: int = env("TOMBSTONE_DAYS", TOMBSTONE_DAYS)

    def client(self) -> Any:
        return aws.client_for("dynamodb", self)


class CopyConflict(RuntimeError):
    """The user's item changed under every attempt; the message names the user (a sub), nothing else."""


class CopyTable:
    """Reads and conditional writes of the consumer's copies: one GetItem per event, one PutItem
    when the event changes the copy, none for a duplicate or an event later ones overrule."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        write_attempts: int,
        tombstone_days: int = TOMBSTONE_DAYS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.table_name = table_name
        self.write_attempts = write_attempts
        self.tombstone_seconds = tombstone_days * 86_400
        self.clock = clock

    def get(self, user_id: str) -> tuple[ProfileCopy | None, int]:
        """The user's copy and its revision (0: no item)."""
        item = self.client.get_item(
            TableName=self.table_name, Key={"user_id": {"S": user_id}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None, 0
        stored = from_dynamodb(item)
        copy = ProfileCopy(
            user_id=user_id,
            values=stored.get("profile", {}),
            field_versions=stored.get("field_versions", {}),
            version=stored["version"],
            deleted=stored["deleted"],
        )
        return copy, stored["revision"]

    def apply(self, event: ProfileEvent) -> bool:
        """Apply one event to its user's copy; whether the copy changed (and was written)."""
        for _ in range(self.write_attempts):
            copy, revision = self.get(event.user_id)
            updated = apply(copy, event)
            if updated is copy:
                return False
            item = {
                "user_id": updated.user_id,
                "revision": revision + 1,
                "version": updated.version,
                "deleted": updated.deleted,
                "profile": dict(updated.values),
                "field_versions": dict(updated.field_versions),
            }
            if updated.deleted:  # a live profile's item never expires (the put drops an old expires_at)
                item["expires_at"] = int(self.clock()) + self.tombstone_seconds
            condition: dict[str, Any] = (
                {"ConditionExpression": "attribute_not_exists(user_id)"}
                if revision == 0
                else {
                    "ConditionExpression": "revision = :read",
                    "ExpressionAttributeValues": {":read": {"N": str(revision)}},
                }
            )
            try:
                self.client.put_item(TableName=self.table_name, Item=to_dynamodb(item), **condition)
            except Exception as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                continue  # another invocation wrote this user's copy since the read: read it again
            return True
        raise CopyConflict(f"the copy of {event.user_id} changed under each of {self.write_attempts} attempts")

    def profiles(self) -> dict[str, dict[str, Any]]:
        """Every existing profile in the copy, by user (a scan: for tests and small tables)."""
        found: dict[str, dict[str, Any]] = {}
        for page in self.client.get_paginator("scan").paginate(TableName=self.table_name):
            for item in map(from_dynamodb, page["Items"]):
                if not item["deleted"]:
                    found[item["user_id"]] = item.get("profile", {})
        return found
