"""Cognito's users as ListUsers returns them, paged and paced, and the profile each maps to."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lifecycle.pacing import TokenBucket
from shared.profile import Profile, Rejected, profile_from_cognito

PAGE_SIZE = 60  # ListUsers' largest Limit; a page may hold fewer users and still not be the last


@dataclass(frozen=True)
class CognitoUser:
    """One entry of ListUsers: the user name, the attributes as a trigger sees them, the status."""

    username: str
    attributes: dict[str, str]
    status: str  # CONFIRMED, UNCONFIRMED, EXTERNAL_PROVIDER, FORCE_CHANGE_PASSWORD, RESET_REQUIRED...
    enabled: bool
    created: Any = None  # datetime
    modified: Any = None

    @property
    def sub(self) -> str:
        return self.attributes.get("sub", "")

    @classmethod
    def from_list_users(cls, entry: dict[str, Any]) -> CognitoUser:
        attributes = {item["Name"]: item.get("Value", "") for item in entry.get("Attributes", [])}
        return cls(
            username=entry["Username"],
            attributes=attributes,
            status=entry.get("UserStatus", ""),
            enabled=bool(entry.get("Enabled", True)),
            created=entry.get("UserCreateDate"),
            modified=entry.get("UserLastModifiedDate"),
        )

    def profile(self) -> tuple[Profile, list[Rejected]]:
        """The profile a trigger would create for this user, and the values it leaves out."""
        return profile_from_cognito(self.sub, self.username, self.attributes)


@dataclass(frozen=True)
class Page:
    users: list[CognitoUser]
    next_token: str | None  # None: this was the last page


def page(cognito: Any, user_pool_id: str, bucket: TokenBucket | None, token: str | None = None) -> Page:
    """One page of ListUsers from ``token`` (None: the first), one call, paced by ``bucket``
    (None: the client paces its ListUsers itself, every attempt: ``lifecycle.pacing.pace``)."""
    if bucket is not None:
        bucket.acquire()
    request: dict[str, Any] = {"UserPoolId": user_pool_id, "Limit": PAGE_SIZE}
    if token:
        request["PaginationToken"] = token
    answer = cognito.list_users(**request)
    users = [CognitoUser.from_list_users(entry) for entry in answer.get("Users", [])]
    return Page(users, answer.get("PaginationToken") or None)


def pages(cognito: Any, user_pool_id: str, bucket: TokenBucket | None, token: str | None = None) -> Iterator[Page]:
    """Every page of ListUsers from ``token`` (None: the first), one paced call per page (``bucket``: as ``page``)."""
    while True:
        found = page(cognito, user_pool_id, bucket, token)
        yield found
        if found.next_token is None:
            return
        token = found.next_token
