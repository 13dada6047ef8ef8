"""Account deletion and export: the Cognito user and the profile, removed or read together.

Used by the profile API (``DELETE /me``, ``DELETE /users/{sub}``, ``GET /me/export``), by the
function that follows deletions made outside the API (``lifecycle/user_deleted``) and by
``python -m ops erase|export``. docs/lifecycle.md describes the whole design.

Order of a deletion: the Cognito user first, then the profile. Once the user is gone nothing
new can sign in or sign up as them, so no trigger starts that could re-create the profile. A
trigger (or an API read) already in flight when the user was deleted can still write the
profile back after our delete; each is bounded (a trigger by Cognito's 5 s and its function's
timeout, the API by its own), so the profile is deleted once more after ``SETTLE_SECONDS``:
through the account deletion queue, whose every message is delivered that late.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared import aws
from shared.profile import Profile, UndecodableProfile, iso_utc, utc_now
from shared.repository import ProfileRepository

# Longer than anything that can re-create a profile after the user is deleted: a Cognito
# trigger's invocation (5 s, up to 3 attempts by Cognito) and the API's 10 s timeout.
SETTLE_SECONDS = 30
LIST_USERS_PAGES = 10  # ListUsers pages followed before giving up on finding a sub
MAX_SUB_LENGTH = 128  # AdminGetUser/AdminDeleteUser take user names of 1 to 128 characters


class AccountError(Exception):
    """The request names no usable account; the message says why (never a value but the sub)."""


class LookupIncomplete(Exception):
    """ListUsers still had pages after ``LIST_USERS_PAGES``: whether the user exists is unknown; retry."""


def valid_sub(value: Any) -> str:
    """``value`` if it can be a Cognito ``sub`` (printable, 1 to 128 characters), else ``AccountError``."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_SUB_LENGTH or not value.isprintable():
        raise AccountError("not a user id (sub): 1 to 128 printable characters")
    if '"' in value or "\\" in value:
        raise AccountError("not a user id (sub): quotes and backslashes are not allowed")
    return value


@dataclass(frozen=True)
class Deletion:
    """What one deletion did: each store says whether it held the account until now."""

    sub: str
    cognito_user_deleted: bool  # False: the user was already gone
    profile_deleted: bool  # False: there was no profile
    redelete_scheduled: bool

    def summary(self) -> dict[str, Any]:
        """Counts and flags only: safe for logs and printed output."""
        return {
            "sub": self.sub,
            "cognito_user_deleted": self.cognito_user_deleted,
            "profile_deleted": self.profile_deleted,
            "redelete_scheduled": self.redelete_scheduled,
        }


class Accounts:
    """One user pool and its profile table, with the clients the caller made (timeouts and retries set)."""

    def __init__(self, cognito: Any, user_pool_id: str, repo: ProfileRepository, sqs: Any = None,
                 queue_url: str = "") -> None:  # fmt: skip
        self.cognito = cognito
        self.user_pool_id = user_pool_id
        self.repo = repo
        self.sqs = sqs
        self.queue_url = queue_url

    def find_user(self, sub: str, *names: str | None) -> dict[str, Any] | None:
        """The Cognito user whose ``sub`` this is (AdminGetUser's or ListUsers' answer), or None.

        Each of ``names`` (the token's ``username`` claim, the profile's ``username``) is tried
        with AdminGetUser and taken only if that user has this sub: a user name can be held by a
        newer user (a federated user deleted and signed in again, a name freed and taken), who
        must not be deleted in the old one's place. Then the sub itself as a user name, then
        ListUsers filtered on ``sub``, following its pages (at most ``LIST_USERS_PAGES``). A native
        user's sub also works as a user name, a federated user's does not (AdminDeleteUser's
        Username: "the sub of a local user or the username of a user from a third-party IdP",
        https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_AdminDeleteUser.html).
        """
        valid_sub(sub)
        for name in dict.fromkeys(name for name in (*names, sub) if name):
            try:
                user: dict[str, Any] = self.cognito.admin_get_user(UserPoolId=self.user_pool_id, Username=name)
            except Exception as exc:
                if aws.error_code(exc) != "UserNotFoundException":
                    raise
                continue
            if _attributes(user).get("sub") == sub:
                return user
        # ListUsers filters on sub with "=" (https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_ListUsers.html)
        # A page can be short, even empty, and still not be the last: follow PaginationToken, bounded.
        request: dict[str, Any] = {"UserPoolId": self.user_pool_id, "Filter": f'sub = "{sub}"'}
        for _ in range(LIST_USERS_PAGES):
            found = self.cognito.list_users(**request)
            for listed in found.get("Users") or []:
                if _attributes(listed).get("sub") == sub:
                    return dict(listed)
            token = found.get("PaginationToken")
            if not token:
                return None
            request["PaginationToken"] = token
        raise LookupIncomplete(f"ListUsers found no answer for {sub} within {LIST_USERS_PAGES} pages")

    def delete(self, sub: str, username: str | None = None) -> Deletion:
        """Delete the account: the Cognito user, then the profile, then schedule the second delete.

        Idempotent: a user or profile already gone is not an error, so a retry after a partial
        failure finishes the job. Any other failure raises before the next step, and the steps
        already done stay done.
        """
        valid_sub(sub)
        user = self.find_user(sub, username, None if username else self._stored_username(sub))
        user_deleted = False
        if user is not None:
            try:
                self.cognito.admin_delete_user(UserPoolId=self.user_pool_id, Username=user["Username"])
                user_deleted = True
            except Exception as exc:
                if aws.error_code(exc) != "UserNotFoundException":
                    raise
        profile_deleted = self.repo.delete(sub)
        scheduled = self.schedule_redelete(sub)
        return Deletion(sub, user_deleted, profile_deleted, scheduled)

    def _stored_username(self, sub: str) -> str | None:
        """The profile's user name, a hint only: an unreadable profile gives none, and must still be deletable."""
        try:
            profile = self.repo.get(sub)
        except UndecodableProfile:
            return None  # find_user falls back on the sub as a user name, then ListUsers
        return profile.username if profile else None

    def schedule_redelete(self, sub: str) -> bool:
        """Ask the user-deleted function to delete the profile again, ``SETTLE_SECONDS`` from now.

        The queue's own DelaySeconds holds every message back; the message carries the sub only.
        """
        if self.sqs is None or not self.queue_url:
            return False
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=redelete_message(sub))
        return True

    def export(self, sub: str, username: str | None = None) -> dict[str, Any] | None:
        """The account as one JSON-ready document, or None when neither store knows the sub.

        The profile (every field and its dates), the Cognito user's attributes, status and
        dates. Nothing secret: AdminGetUser and ListUsers return no password, token or secret.
        Raises ``UndecodableProfile`` when the stored profile cannot be read: no partial export.
        """
        valid_sub(sub)
        profile = self.repo.get(sub)
        user = self.find_user(sub, username, profile.username if profile else None)
        if profile is None and user is None:
            return None
        return export_document(sub, profile, user)


def redelete_message(sub: str) -> str:
    """The body of an account deletion queue message (the same shape the CloudTrail rule sends)."""
    return json.dumps({"sub": sub, "reason": "deleted"}, separators=(",", ":"))


def _attributes(user: Mapping[str, Any]) -> dict[str, str]:
    entries = user.get("UserAttributes") or user.get("Attributes") or []
    return {str(item["Name"]): str(item.get("Value", "")) for item in entries}


def _date(value: Any) -> str | None:
    return iso_utc(value) if isinstance(value, datetime) else (str(value) if value else None)


def export_document(sub: str, profile: Profile | None, user: Mapping[str, Any] | None) -> dict[str, Any]:
    """The export's JSON document from what each store holds (None: that store holds nothing)."""
    return {
        "user_id": sub,
        "exported_at": utc_now(),
        "profile": None
        if profile is None
        else {
            "fields": dict(profile.fields),
            "created_at": profile.created_at,
            "updated_at": profile.updated_at,
            "version": profile.version,
        },
        "cognito": None
        if user is None
        else {
            "username": user.get("Username"),
            "status": user.get("UserStatus"),
            "enabled": user.get("Enabled"),
            "created_at": _date(user.get("UserCreateDate")),
            "last_modified_at": _date(user.get("UserLastModifiedDate")),
            "attributes": _attributes(user),
        },
    }
