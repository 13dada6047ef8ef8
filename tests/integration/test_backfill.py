"""`python -m ops backfill` on the local stack: cognito-local's ListUsers into DynamoDB Local's table.

200 users, not the issue's 5,000 (those run on moto, tests/ops/test_backfill.py): here the test takes
about 20 s on the loaded 2-core machine, most of it 200 AdminCreateUser calls, so 5,000 would take
minutes. The users live in a pool of their own, so the session's other tests never see the backfill's
writes. cognito-local ignores ListUsers' Limit and answers every user on one page: the kill here comes
between that page's writes and its checkpoint (the moto tests also kill between pages).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from lifecycle.pacing import TokenBucket
from local.stack import Stack
from local.support import attributes_of, mixed_users
from ops.backfill import Backfill, Interrupted
from shared.profile import Profile, profile_from_cognito
from shared.repository import ProfileRepository

pytestmark = pytest.mark.integration
USERS = 200


class DiesAfter(ProfileRepository):
    """A repository whose process is killed right after it has created ``writes`` profiles."""

    def __init__(self, client: Any, table: str, writes: int) -> None:
        super().__init__(client, table)
        self.writes = writes

    def create_if_absent(self, profile: Profile) -> tuple[Profile, bool]:
        result = super().create_if_absent(profile)
        self.writes -= result[1]
        if self.writes == 0:
            raise Interrupted
        return result


def test_200_users_killed_mid_page_and_resumed_each_get_one_profile_and_keep_edits(
    stack: Stack, tmp_path: Path
) -> None:
    # Given a pool of 200 admin-created users of every kind (sub kept), every 20th with an edited profile
    cognito = stack.client("cognito-idp")
    pool_id = cognito.create_user_pool(PoolName=f"backfill-{uuid.uuid4().hex[:8]}")["UserPool"]["Id"]
    entries = [entry for entry in mixed_users(260, seed=4) if entry["UserStatus"] != "UNCONFIRMED"][:USERS]
    for entry in entries:
        attributes = attributes_of(entry)
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=attributes["email"],
            MessageAction="SUPPRESS",
            UserAttributes=[{"Name": name, "Value": value} for name, value in attributes.items()],
        )
    table = stack.client("dynamodb")
    repo = ProfileRepository(table, stack.table_name)
    listed = {_sub(user): user for user in cognito.list_users(UserPoolId=pool_id)["Users"]}
    assert set(listed) == {attributes_of(entry)["sub"] for entry in entries}
    edited = {}
    for entry in entries[::20]:
        sub = attributes_of(entry)["sub"]
        attributes = _attributes(listed[sub])
        created, _ = profile_from_cognito(sub, listed[sub]["Username"], attributes)
        repo.create_if_absent(created)
        edited[sub] = repo.update(sub, {"display_name": "Edited", "plan": "team"}, expected_version=created.version)
    path = tmp_path / "backfill.json"

    def run(repository: ProfileRepository) -> Backfill:
        return Backfill(cognito, repository, pool_id, stack.table_name, TokenBucket(15), checkpoint_path=path)

    # When the run is killed after 100 creates, before its only page's checkpoint, then started again
    with pytest.raises(Interrupted):
        run(DiesAfter(table, stack.table_name, writes=100)).run()
    assert not path.exists()
    tally = run(repo).run()
    # Then every user is counted once: 90 created now; the 100 made before the kill and the 10 edited, unchanged
    assert (tally.users, tally.pages, tally.requests) == (USERS, 1, 1)
    assert (tally.created, tally.unchanged, tally.updated) == (USERS - len(edited) - 100, 100 + len(edited), 0)
    # and each profile is what the triggers' mapping gives, the edited ones with their edits and version
    for sub, user in listed.items():
        profile = repo.get(sub)
        assert profile is not None
        if sub in edited:
            assert profile.version == edited[sub].version
            assert (profile.fields["display_name"], profile.fields["plan"]) == ("Edited", "team")
            continue
        expected, _ = profile_from_cognito(sub, user["Username"], _attributes(user))
        assert dict(profile.fields) == dict(expected.fields)


def _attributes(user: dict[str, Any]) -> dict[str, str]:
    return {item["Name"]: item.get("Value", "") for item in user["Attributes"]}


def _sub(user: dict[str, Any]) -> str:
    return _attributes(user)["sub"]
