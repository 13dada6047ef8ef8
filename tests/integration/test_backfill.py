"""`python -m ops backfill` on the local stack: 5,000 users read with cognito-local's ListUsers, their
profiles written to a table in DynamoDB Local.

The users (``mixed_users``: email, Google, Apple, admin-created, unconfirmed, invalid values) are written
straight into the pool file of a cognito-local of the test's own (``local.support.seeded_cognito_local``:
the stack's cognito-local 5.3.0, another process on another port). Its AdminCreateUser rewrites the whole
file for each user, which makes 5,000 a matter of minutes, and cannot make federated users. The profiles
go to a table of the test's own in the stack's DynamoDB Local (template.yaml's key schema, no stream):
5,000 writes to the stack's table would queue 5,000 events ahead of the other tests' in its stream handlers
and consumer queue.

cognito-local 5.3.0 ignores ListUsers' Limit and never returns a PaginationToken: all 5,000 users come on one
page. So the run is killed mid-page, before that page's checkpoint: no checkpoint is ever written, and the
second run starts over from the first page. What this test checks is a rerun after a kill (every user counted
once, no profile made twice, no edit overwritten) and the conditional update of IdP-owned fields on profiles
users edited, on DynamoDB Local; with one ListUsers call a run, the rate is never approached, so what is
checked of pacing is that every ListUsers request sent over HTTP took a token from the bucket first. The
resume from a checkpoint (kills between pages) and the pacing at the rate over 84 pages are tested on moto
(tests/ops/test_backfill.py).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from lifecycle.pacing import TokenBucket
from local.stack import Stack
from local.support import attributes_of, create_table_kwargs, mixed_users, seeded_cognito_local
from ops.backfill import Backfill, Interrupted
from shared.profile import Profile, profile_from_cognito
from shared.repository import ProfileRepository, from_dynamodb

pytestmark = pytest.mark.integration
USERS = 5000
RATE = 15.0
WORKERS = 4


class DiesAfter(ProfileRepository):
    """A repository whose process is killed once it has created ``writes`` profiles: no call starts after
    that; the calls already under way (other workers') finish, as requests already sent would."""

    def __init__(self, client: Any, table: str, writes: int) -> None:
        super().__init__(client, table)
        self.left = writes
        self.created: dict[str, Profile] = {}  # each profile it created, by sub
        self.lock = threading.Lock()

    def create_if_absent(self, profile: Profile) -> tuple[Profile, bool]:
        with self.lock:
            if self.left <= 0:
                raise Interrupted
        result = super().create_if_absent(profile)
        with self.lock:
            if result[1]:
                self.created[profile.user_id] = profile
                self.left -= 1
            if self.left <= 0:
                raise Interrupted
        return result


class NotedBucket(TokenBucket):
    """A token bucket that notes when it hands out each token."""

    def __init__(self, rate: float, granted: list[float]) -> None:
        super().__init__(rate)
        self.granted = granted

    def acquire(self, tokens: float = 1.0) -> None:
        super().acquire(tokens)
        self.granted.append(time.monotonic())


@pytest.fixture
def table(stack: Stack) -> Iterator[str]:
    """A profile table of the test's own in the stack's DynamoDB Local (see the module doc)."""
    dynamodb = stack.client("dynamodb")
    name = f"backfill-{uuid.uuid4().hex[:8]}"
    kwargs = {key: value for key, value in create_table_kwargs("ProfileTable", name).items() if "Stream" not in key}
    dynamodb.create_table(**kwargs)
    yield name
    dynamodb.delete_table(TableName=name)


def test_5000_mixed_users_killed_mid_page_and_rerun_each_get_one_profile_keep_edits_and_take_idp_changes(
    stack: Stack, table: str, tmp_path: Path
) -> None:
    # Given 5,000 users of every kind in cognito-local (subs, user names and statuses kept),
    # every 20th confirmed one with a profile the user and an admin edited before the backfill
    entries = mixed_users(USERS, seed=4)
    confirmed = [entry for entry in entries if entry["UserStatus"] != "UNCONFIRMED"]
    dynamodb = stack.client("dynamodb")
    repo = ProfileRepository(dynamodb, table)

    def edit(entry: dict[str, Any]) -> Profile:
        attributes = attributes_of(entry)
        created, _ = profile_from_cognito(attributes["sub"], entry["Username"], attributes)
        repo.create_if_absent(created)
        return repo.update(created.user_id, {"display_name": "Edited", "plan": "team"}, created.version)

    with ThreadPoolExecutor(WORKERS) as workers:
        edited = {profile.user_id: profile for profile in workers.map(edit, confirmed[::20])}
    fresh = len(confirmed) - len(edited)
    path = tmp_path / "backfill.json"
    granted: list[float] = []  # when the buckets handed out a token
    sent: list[float] = []  # when a ListUsers request went out
    with seeded_cognito_local(entries) as pool:
        cognito = pool.client()
        # each ListUsers request as it is sent, after the bucket's own handler (registered first) gave it a token
        cognito.meta.events.register(
            "before-send.cognito-identity-provider.ListUsers", lambda **_: sent.append(time.monotonic())
        )

        def run(repository: ProfileRepository) -> Backfill:
            bucket = NotedBucket(RATE, granted)
            return Backfill(
                cognito, repository, pool.user_pool_id, table, bucket, checkpoint_path=path, workers=WORKERS
            )

        # When the run is killed after half of the profiles it creates, before its only page's checkpoint
        # (so no checkpoint is written), every 10th edited user's email changes in Cognito, and the
        # backfill is run again with the same checkpoint file
        dying = DiesAfter(dynamodb, table, writes=fresh // 2)
        with pytest.raises(Interrupted):
            run(dying).run()
        assert not path.exists()
        changed = confirmed[::200]  # every 10th of confirmed[::20], the edited users
        for number, entry in enumerate(changed):
            cognito.admin_update_user_attributes(
                UserPoolId=pool.user_pool_id,
                Username=entry["Username"],
                UserAttributes=[{"Name": "email", "Value": f"changed{number}@example.com"}],
            )
        in_cognito = {  # the IdP-owned attributes Cognito now holds for them (email_verified follows the email)
            attributes_of(entry)["sub"]: _idp_attributes(cognito, pool.user_pool_id, entry["Username"])
            for entry in changed
        }
        tally = run(repo).run()

    # Then every user is counted once: the profiles made before the kill and the other edited ones unchanged,
    # the changed ones updated, the rest created, the unconfirmed skipped
    made = len(dying.created)
    assert fresh // 2 <= made < fresh // 2 + WORKERS
    assert (tally.users, tally.pages, tally.requests) == (USERS, 1, 1)
    assert (tally.created, tally.updated) == (fresh - made, len(changed))
    assert tally.unchanged == made + len(edited) - len(changed)
    assert tally.skipped == {"unconfirmed": USERS - len(confirmed)}
    assert tally.error_count == 0
    # and ListUsers was sent once a run, each request only after the bucket gave it a token
    assert len(sent) == len(granted) == 2
    assert all(token <= request for token, request in zip(granted, sent, strict=True))
    # and the table holds exactly the confirmed users' profiles: what the triggers' mapping gives, made once
    # (those created before the kill keep their creation time), the edited ones with their edits and version,
    # the changed ones with their edits too, their email (and email_verified) as Cognito now has them, and
    # their version one higher
    stored = _scan(dynamodb, table)
    assert set(stored) == {attributes_of(entry)["sub"] for entry in confirmed}
    for entry in confirmed:
        attributes = attributes_of(entry)
        profile = stored[attributes["sub"]]
        if profile.user_id in edited:
            before = edited[profile.user_id]
            assert (profile.fields["display_name"], profile.fields["plan"]) == ("Edited", "team")
            if profile.user_id in in_cognito:
                email, verified = in_cognito[profile.user_id]
                assert (profile.fields["email"], profile.fields["email_verified"]) == (email, verified == "true")
                assert profile.fields["email"] != before.fields["email"]
                assert profile.version == before.version + 1
            else:
                assert profile.version == before.version
            continue
        expected, _ = profile_from_cognito(attributes["sub"], entry["Username"], attributes)
        assert (profile.username, dict(profile.fields)) == (expected.username, dict(expected.fields))
        if profile.user_id in dying.created:
            assert profile == dying.created[profile.user_id]


def _idp_attributes(cognito: Any, pool_id: str, username: str) -> tuple[str, str]:
    """The email and email_verified attributes Cognito holds for a user."""
    held = attributes_of(
        {"Attributes": cognito.admin_get_user(UserPoolId=pool_id, Username=username)["UserAttributes"]}
    )
    return held["email"], held["email_verified"]


def _scan(dynamodb: Any, table: str) -> dict[str, Profile]:
    pages = dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return {
        profile.user_id: profile
        for page in pages
        for profile in (Profile.from_item(from_dynamodb(item)) for item in page["Items"])
    }
