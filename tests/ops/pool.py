"""The user pool and profile table under moto (local/support.py's stack), with users put straight into
moto's Cognito backend: 5,000 users take a third of a second that way, minutes through AdminCreateUser."""

from __future__ import annotations

from typing import Any

from local.support import ACCOUNT_ID, REGION, MotoStack, attributes_of
from shared.profile import Profile, profile_from_cognito


def add_users(stack: MotoStack, entries: list[dict[str, Any]]) -> None:
    """ListUsers entries (``local.support.mixed_users``) as users of the stack's pool, subs kept."""
    from moto.cognitoidp.models import CognitoIdpUser, cognitoidp_backends

    users = cognitoidp_backends[ACCOUNT_ID][REGION].user_pools[stack.user_pool_id].users
    for entry in entries:
        attributes = [item for item in entry["Attributes"] if item["Name"] != "sub"]
        user = CognitoIdpUser(stack.user_pool_id, entry["Username"], None, entry["UserStatus"], attributes)
        user.id = attributes_of(entry)["sub"]
        user.update_attributes([{"Name": "sub", "Value": user.id}])
        users[user.username] = user


def edit_profile(stack: MotoStack, entry: dict[str, Any], **edits: Any) -> Profile:
    """The profile a trigger created for ``entry``, then edited (by the user, an admin, or with a stale IdP field)."""
    attributes = attributes_of(entry)
    created, _ = profile_from_cognito(attributes["sub"], entry["Username"], attributes)
    stack.repository.create_if_absent(created)
    return stack.repository.update(created.user_id, edits, expected_version=created.version)


def with_attributes(entry: dict[str, Any], **changes: str) -> dict[str, Any]:
    attributes = {**attributes_of(entry), **changes}
    return {**entry, "Attributes": [{"Name": name, "Value": value} for name, value in attributes.items()]}
