"""The profile as stored: one item per user, keyed by the Cognito ``sub``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from shared.fields import BY_NAME, FieldError, Owner

SCHEMA_VERSION = 1
KEY = "user_id"
BOOKKEEPING = frozenset({KEY, "username", "created_at", "updated_at", "version", "schema_version"})

# Social sign-in user names look like ``Google_1234``; used when ``identities`` is unusable.
_PROVIDER_PREFIXES = ("Google", "SignInWithApple", "Facebook", "LoginWithAmazon")
COGNITO_PROVIDER = "Cognito"


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Profile:
    user_id: str
    username: str
    created_at: str
    updated_at: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    version: int = 1
    schema_version: int = SCHEMA_VERSION

    def to_item(self) -> dict[str, Any]:
        """The item as plain Python values (the repository types them for DynamoDB)."""
        return {
            **{name: value for name, value in self.fields.items() if value is not None},
            KEY: self.user_id,
            "username": self.username,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "version": self.version,
            "schema_version": self.schema_version,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Profile:
        """Read a stored item; attributes the map does not declare are ignored."""
        return cls(
            user_id=str(item[KEY]),
            username=str(item.get("username", "")),
            created_at=str(item.get("created_at", "")),
            updated_at=str(item.get("updated_at", "")),
            fields={name: value for name, value in item.items() if name in BY_NAME},
            version=int(item.get("version", 0)),
            schema_version=int(item.get("schema_version", SCHEMA_VERSION)),
        )

    def with_changes(self, changes: Mapping[str, Any], now: str) -> Profile:
        """A copy with ``changes`` applied (``None`` removes a field) and the version bumped."""
        fields = {**self.fields, **changes}
        return replace(
            self,
            fields={name: value for name, value in fields.items() if value is not None},
            updated_at=now,
            version=self.version + 1,
        )


@dataclass(frozen=True)
class Rejected:
    """A value left out of a profile, and why (the reason never contains the value)."""

    field: str
    reason: str


def profile_from_cognito(
    user_id: str,
    username: str,
    attributes: Mapping[str, Any],
    now: str | None = None,
) -> tuple[Profile, list[Rejected]]:
    """Build a new profile from a Cognito user's attributes.

    Only ``idp`` and ``user`` fields are taken: admin-owned fields never come from
    attributes a client could have written. A value that does not fit its field is left
    out and reported, so a bad attribute never blocks a sign-up.
    """
    now = now or utc_now()
    values: dict[str, Any] = {}
    rejected: list[Rejected] = []
    for spec in BY_NAME.values():
        if spec.owner is Owner.ADMIN or not spec.cognito_attribute:
            continue
        raw = attributes.get(spec.cognito_attribute)
        if raw is None or raw == "":
            continue
        try:
            values[spec.name] = spec.validate(raw)
        except FieldError as exc:
            rejected.append(Rejected(spec.name, str(exc)))

    if "display_name" not in values:
        # Apple sends the name only on the first authorisation, often as given/family only.
        parts = [values.get("given_name"), values.get("family_name")]
        joined = " ".join(part for part in parts if part)
        if joined:
            values["display_name"] = joined[: BY_NAME["display_name"].max_length].rstrip()

    providers, problem = providers_from_identities(attributes.get("identities"), username)
    if problem:
        rejected.append(Rejected("providers", problem))
    values["providers"] = providers

    profile = Profile(user_id=user_id, username=username, created_at=now, updated_at=now, fields=values)
    return profile, rejected


def providers_from_identities(identities: Any, username: str) -> tuple[list[str], str | None]:
    """The sign-in providers from Cognito's ``identities`` attribute (a JSON string).

    Returns the providers and, when the attribute was unusable, the problem found. Without
    ``identities`` the user is a native Cognito user, whatever the user name looks like;
    only an unreadable attribute falls back to the federated user name's prefix.
    """
    if not identities:
        return [COGNITO_PROVIDER], None
    try:
        parsed = json.loads(identities) if isinstance(identities, str) else identities
        validated = BY_NAME["providers"].validate([str(entry["providerName"]) for entry in parsed])
    except (ValueError, TypeError, KeyError, FieldError) as exc:
        problem = f"identities attribute unusable ({type(exc).__name__}); provider taken from the user name"
        return [_provider_from_username(username)], problem
    return (validated or [COGNITO_PROVIDER]), None


def _provider_from_username(username: str) -> str:
    prefix, _, rest = username.partition("_")
    return prefix if rest and prefix in _PROVIDER_PREFIXES else COGNITO_PROVIDER
