"""Regenerate the sample stream events in events/ (``make events``) from moto's stream after real writes.

Each file is a Lambda DynamoDB stream event (``{"Records": [...]}``) for ``sam local invoke``
and for tests. The poison sample is a real record whose image was then corrupted.
"""

from __future__ import annotations

import json
from typing import Any

from local.support import EVENTS, moto_stack
from shared.profile import Profile

ADA = "0f8fad5b-d9cb-469f-a165-70867728950e"
GRACE = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
CREATED = "2026-11-28T09:00:00.000Z"


def _write(name: str, records: list[dict[str, Any]]) -> None:
    path = EVENTS / "streams" / name
    path.write_text(json.dumps({"Records": records}, indent=2) + "\n")
    print(path)  # noqa: T201


def main() -> None:
    with moto_stack(table_only=True, table_name="profile-sync-ProfileTable") as stack:
        stream, profiles = stack.stream, stack.repository
        fields = {
            "email": "ada@example.com",
            "email_verified": True,
            "providers": ["Google"],
            "display_name": "Ada Lovelace",
            "locale": "en-GB",
            "plan": "free",
        }
        profiles.create_if_absent(Profile(ADA, "Google_110169484474386276334", CREATED, CREATED, fields))
        insert = stream.read()
        profiles.update(ADA, {"plan": "pro", "display_name": "Ada King"}, 1, "2026-11-28T09:05:00.000Z")
        synced = stream.read()
        profiles.update(ADA, {"roles": ["editor"], "preferences": {"theme": "dark"}}, 2, "2026-11-28T09:06:00.000Z")
        unsynced = stream.read()
        profiles.update(ADA, {}, 3, "2026-11-28T09:07:00.000Z")
        bookkeeping = stream.read()
        profiles.create_if_absent(Profile(GRACE, GRACE, CREATED, CREATED, {"email": "grace@example.com"}))
        profiles.update(GRACE, {"locale": "en-US"}, 1, "2026-11-28T09:08:00.000Z")
        profiles.delete(ADA)
        later = stream.read()
        remove = later[-1:]

    _write("stream_insert.json", insert)
    _write("stream_modify_synced.json", synced)
    _write("stream_modify_unsynced.json", unsynced)
    _write("stream_modify_bookkeeping.json", bookkeeping)
    _write("stream_remove.json", remove)
    _write("stream_mixed_batch.json", insert + synced + unsynced + bookkeeping + later)
    poison = json.loads(json.dumps(synced[0]))
    poison["dynamodb"]["NewImage"]["plan"] = {"Q": "not a DynamoDB type"}
    _write("stream_poison.json", [poison, *later[:2]])


if __name__ == "__main__":
    main()
