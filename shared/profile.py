"""The profile as stored: one item per user, keyed by the Cognito ``sub``."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from shared.fields import BY_NAME, FieldError, Owner, fields_owned_by

SCHEMA_VERSION = 1
KEY = "user_id"
BOOKKEEPING = frozenset({KEY, "username", "created_at", "updated_at", "version", "schema_version"})

# Social sign-in user names look like ``Google_1234``; used when ``identities`` is unusable.
_PROVIDER_PREFIXES = ("Google", "SignInWithApple", "Facebook", "LoginWithAmazon")
COGNITO_PROVIDER = "Cognito"


def first_version() -> int:
    """The version a new profile starts at: the current time in microseconds since the epoch.

    Versions never go back for a user: a profile deleted and created again starts above
    every version of its earlier lifetime, because each of those versions was written
    more than a microsecond apart (one conditional write each) and the new lifetime starts
    later. Consumers can order every event of a user by ``version`` alone. The value stays
    below 2**53, so JavaScript reads it exactly.
    """
    return time.time_ns() // 1000


class UndecodableProfile(ValueError):
    """A stored item that is not a profile this code can read. Names the attribute, never its value."""

    def __init__(self, attribute: str) -> None:
        super().__init__(f"stored profile has an unreadable {attribute}")
        self.attribute = attribute


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string with milliseconds."""
    return iso_utc(datetime.now(UTC))


def iso_utc(moment: datetime) -> str:
    """``moment`` as the project writes every time: ISO 8601, UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
        """Read a stored item (plain values); attributes the map does not declare are ignored.

        Raises ``UndecodableProfile`` naming the first attribute that does not fit: a value
        written outside this code (a console edit, a script) must not reach a token or a
        response unchecked.
        """
        fields: dict[str, Any] = {}
        for name, value in item.items():
            spec = BY_NAME.get(name)
            if spec is None or value is None:
                continue
            try:
                fields[name] = spec.validate(value)
            except FieldError:
                raise UndecodableProfile(name) from None
        return cls(
            user_id=_text(item, KEY, required=True),
            username=_text(item, "username"),
            created_at=_text(item, "created_at"),
            updated_at=_text(item, "updated_at"),
            fields=fields,
            version=_counter(item, "version", None),
            schema_version=_counter(item, "schema_version", SCHEMA_VERSION),
        )


def _text(item: Mapping[str, Any], name: str, required: bool = False) -> str:
    value = item.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise UndecodableProfile(name)
    return value


def _counter(item: Mapping[str, Any], name: str, default: int | None) -> int:
    value = item.get(name, default)
    if type(value) is not int or value < 1:
        raise UndecodableProfile(name)
    return value


class Rejected(NamedTuple):
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

    profile = Profile(
        user_id=user_id, username=username, created_at=now, updated_at=now, fields=values, version=first_version()
    )
    return profile, rejected


def idp_changes(profile: Profile, attributes: Mapping[str, Any]) -> tuple[dict[str, Any], list[Rejected]]:
    """The IdP-owned fields whose value in Cognito's ``attributes`` differs from the profile's.

    Values are mapped exactly as at creation. An attribute absent from ``attributes`` leaves
    its field alone (Cognito sends every attribute a user has; emulators omit some), and an
    invalid value is reported, never applied: not even the user name's guess at the
    provider when ``identities`` is unreadable. ``providers`` otherwise follows ``identities``.
    """
    fresh, rejected = profile_from_cognito(profile.user_id, profile.username, attributes, now=profile.updated_at)
    rejected = [problem for problem in rejected if BY_NAME[problem.field].owner is Owner.IDP]
    refused = {problem.field for problem in rejected}
    changes = {
        spec.name: fresh.fields[spec.name]
        for spec in fields_owned_by(Owner.IDP)
        if spec.name in fresh.fields
        and spec.name not in refused
        and not same_value(fresh.fields[spec.name], profile.fields.get(spec.name))
    }
    return changes, rejected


def same_value(a: Any, b: Any) -> bool:
    """Whether two values are equal and of the same type, at every depth (``1`` is not ``True``).

    Python's ``==`` holds ``1 == True`` and ``0 == False``; a diff built on it misses such
    changes. Compare exactly decoded values: DynamoDB numbers as Decimals, not floats.
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def providers_from_identities(identities: Any, username: str) -> tuple[list[str], str | None]:
    """The sign-in providers from Cognito's ``identities`` attribute (a JSON string).

    Returns the providers and, when the attribute was unusable, the problem found. Without
    ``identities`` the user is a native Cognito user, whatever the user name looks like;
    only an unreadable attribute falls back to the federated user name's prefix. A native
    user who linked a social provider (AdminLinkProviderForUser) keeps ``Cognito`` first:
    the user name of a federated user is ``<provider>_<id>``, a native user's is not.
    """
    if not identities:
        return [COGNITO_PROVIDER], None
    try:
        parsed = json.loads(identities) if isinstance(identities, str) else identities
        validated = BY_NAME["providers"].validate([str(entry["providerName"]) for entry in parsed])
    except (ValueError, TypeError, KeyError, FieldError) as exc:
        problem = f"identities attribute unusable ({type(exc).__name__}); provider taken from the user name"
        return [_provider_from_username(username)], problem
    federated = any(username.startswith(f"{provider}_") for provider in (*validated, *_PROVIDER_PREFIXES))
    return ([*validated] if federated and validated else [COGNITO_PROVIDER, *validated]), None


def _provider_from_username(username: str) -> str:
    prefix, _, rest = username.partition("_")
    return prefix if rest and prefix in _PROVIDER_PREFIXES else COGNITO_PROVIDER
