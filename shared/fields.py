"""The field ownership map: the one place that knows which profile field is whose.

Everything else asks this module: what a user may write through the API, which fields
become token claims and under which names, which fields sync back to Cognito, which are
PII, and which Cognito attributes the app client may write (``template.yaml`` is checked
against it by a test).
"""

from __future__ import annotations

import json
import re
import unicodedata
from enum import StrEnum
from typing import Any, NamedTuple


class Owner(StrEnum):
    IDP = "idp"  # Cognito / the social provider owns it; the profile mirrors it
    USER = "user"  # the signed-in user edits it through the API
    ADMIN = "admin"  # server-controlled; authorisation may depend on it


class Kind(StrEnum):
    STRING = "string"
    BOOLEAN = "boolean"
    STRING_LIST = "string_list"
    OBJECT = "object"  # a JSON object, e.g. an app's own preferences


class FieldSpec(NamedTuple):
    """One profile field and everything that follows from it.

    A NamedTuple rather than a dataclass: it is built at import, on every cold start,
    where a frozen dataclass costs ten times as much.
    """

    name: str
    owner: Owner
    kind: Kind = Kind.STRING
    max_length: int = 256  # characters for strings and list items; JSON bytes for objects
    max_items: int = 20  # string lists only
    pattern: str | None = None  # full-match regular expression for strings
    cognito_attribute: str | None = None
    id_claim: str | None = None
    access_claim: str | None = None
    sync_to_cognito: bool = False
    pii: bool = False

    def validate(self, value: Any) -> Any:
        """Return ``value`` normalised for this field, or raise ``FieldError`` naming the problem."""
        return _VALIDATORS[self.kind](self, value)

    def as_string(self, value: Any) -> str:
        """The value as Cognito states it, in attributes and V1 claims: every value is a string."""
        if self.kind is Kind.BOOLEAN:
            return "true" if value else "false"
        if self.kind is Kind.STRING:
            return str(value)
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class FieldError(ValueError):
    """A value does not fit its field. The message names the field, never the value."""


# The order is the claims priority: when a token's claims exceed the size budget,
# the claims of the fields declared last are dropped first.
FIELDS: tuple[FieldSpec, ...] = (
    # idp: mirrored from Cognito and the social provider
    FieldSpec(
        "email", Owner.IDP, max_length=254, pattern=r"[^@\s]+@[^@\s]+\.[^@\s]+", cognito_attribute="email", pii=True
    ),
    FieldSpec("email_verified", Owner.IDP, Kind.BOOLEAN, cognito_attribute="email_verified"),
    FieldSpec("providers", Owner.IDP, Kind.STRING_LIST, max_length=64, max_items=10),
    # admin: server-controlled, never writable by the user or the app client
    FieldSpec(
        "tenant_id",
        Owner.ADMIN,
        max_length=64,
        pattern=r"[A-Za-z0-9_.:-]+",
        cognito_attribute="custom:tenant_id",
        id_claim="tenant_id",
        access_claim="tenant_id",
        sync_to_cognito=True,
    ),
    FieldSpec(
        "roles",
        Owner.ADMIN,
        Kind.STRING_LIST,
        max_length=64,
        max_items=20,
        id_claim="roles",
        access_claim="roles",
    ),
    FieldSpec(
        "plan",
        Owner.ADMIN,
        max_length=32,
        pattern=r"[a-z0-9_-]+",
        cognito_attribute="custom:plan",
        id_claim="plan",
        access_claim="plan",
        sync_to_cognito=True,
    ),
    FieldSpec("flags", Owner.ADMIN, Kind.STRING_LIST, max_length=64, max_items=50, access_claim="flags"),
    # user: editable by the signed-in user
    FieldSpec(
        "display_name",
        Owner.USER,
        max_length=128,
        cognito_attribute="name",
        id_claim="name",
        sync_to_cognito=True,
        pii=True,
    ),
    FieldSpec("given_name", Owner.USER, max_length=128, cognito_attribute="given_name", pii=True),
    FieldSpec("family_name", Owner.USER, max_length=128, cognito_attribute="family_name", pii=True),
    FieldSpec(
        "locale",
        Owner.USER,
        max_length=35,
        pattern=r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*",
        cognito_attribute="locale",
        id_claim="locale",
        sync_to_cognito=True,
    ),
    FieldSpec(
        "picture",
        Owner.USER,
        max_length=2048,
        pattern=r"https://\S+",
        cognito_attribute="picture",
        id_claim="picture",
        sync_to_cognito=True,
        pii=True,
    ),
    # an app's own custom field: declared here like any other
    FieldSpec("preferences", Owner.USER, Kind.OBJECT, max_length=2048, pii=True),
)

BY_NAME: dict[str, FieldSpec] = {spec.name: spec for spec in FIELDS}

# Cognito attributes whose value authorisation may rest on: never writable by the app
# client, whatever the map says about their owner.
AUTHORISATION_ATTRIBUTES = frozenset({"email_verified", "phone_number_verified"})


def fields_owned_by(*owners: Owner) -> tuple[FieldSpec, ...]:
    """The fields owned by any of ``owners``, in declaration order."""
    return tuple(spec for spec in FIELDS if spec.owner in owners)


def user_writable_fields() -> tuple[FieldSpec, ...]:
    """The fields a user may change through the profile API."""
    return fields_owned_by(Owner.USER)


def synced_fields() -> tuple[FieldSpec, ...]:
    """The fields written back to Cognito when they change in the profile."""
    return tuple(spec for spec in FIELDS if spec.sync_to_cognito)


def pii_fields() -> frozenset[str]:
    """Names of the fields redacted in logs (and optionally in events)."""
    return frozenset(spec.name for spec in FIELDS if spec.pii)


def app_client_write_attributes() -> frozenset[str]:
    """The Cognito attributes the app client may write: sign-up and IdP mapping need them.

    Admin-owned fields and everything authorisation depends on are excluded, so a user's
    own access token can never change them through ``UpdateUserAttributes``.
    """
    return frozenset(
        spec.cognito_attribute
        for spec in FIELDS
        if spec.cognito_attribute
        and spec.owner is not Owner.ADMIN
        and spec.cognito_attribute not in AUTHORISATION_ATTRIBUTES
    )


def custom_cognito_attributes() -> frozenset[str]:
    """The ``custom:`` attributes the user pool schema must declare."""
    return frozenset(
        spec.cognito_attribute
        for spec in FIELDS
        if spec.cognito_attribute and spec.cognito_attribute.startswith("custom:")
    )


# --- validation ----------------------------------------------------------------------

_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
# Format characters ordinary text needs: ZWNJ (Persian, Hindi names) and ZWJ (emoji sequences).
# Every other format character, bidi overrides among them, stays out.
_ALLOWED_FORMAT = frozenset({"\u200c", "\u200d"})


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in _CONTROL_CATEGORIES and ch not in _ALLOWED_FORMAT for ch in text)


def _check_text(spec: FieldSpec, value: Any, what: str = "value") -> str:
    if not isinstance(value, str):
        raise FieldError(f"{spec.name}: {what} must be a string, got {type(value).__name__}")
    if len(value) > spec.max_length:
        raise FieldError(f"{spec.name}: {what} is {len(value)} characters, limit {spec.max_length}")
    if _has_control(value):
        raise FieldError(f"{spec.name}: {what} contains control or unassigned characters")
    return value


def _string(spec: FieldSpec, value: Any) -> str:
    text = _check_text(spec, value).strip()
    if spec.pattern and not re.fullmatch(spec.pattern, text):
        raise FieldError(f"{spec.name}: value does not match the expected format")
    return text


def _boolean(spec: FieldSpec, value: Any) -> bool:
    # Cognito hands every attribute over as a string: "true" / "false".
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise FieldError(f"{spec.name}: value must be a boolean")


def _string_list(spec: FieldSpec, value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)):
        raise FieldError(f"{spec.name}: value must be a list of strings")
    if len(value) > spec.max_items:
        raise FieldError(f"{spec.name}: {len(value)} items, limit {spec.max_items}")
    items = [_check_text(spec, item, "item").strip() for item in value]
    return list(dict.fromkeys(item for item in items if item))  # dedupe, keep order


# What a DynamoDB number can hold: 38 significant digits, magnitude 1E-130 to below 1E126.
_MAX_DIGITS = 38
_SMALLEST, _LARGEST = 1e-130, 9.9999999999999999999999999999999999999e125
_MAX_DEPTH = 32  # DynamoDB's nesting limit for documents


def _object(spec: FieldSpec, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldError(f"{spec.name}: value must be a JSON object")
    try:
        size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        raise FieldError(f"{spec.name}: value is not JSON-serialisable") from exc
    if size > spec.max_length:
        raise FieldError(f"{spec.name}: value is {size} bytes as JSON, limit {spec.max_length}")
    _check_storable(spec, value, depth=1)
    return value


def _check_storable(spec: FieldSpec, value: Any, depth: int) -> None:
    """Raise unless DynamoDB can store ``value``: nesting depth and number range."""
    if depth > _MAX_DEPTH:
        raise FieldError(f"{spec.name}: value nests deeper than {_MAX_DEPTH} levels")
    if isinstance(value, dict):
        for key, inner in value.items():
            if _has_control(key):
                raise FieldError(f"{spec.name}: a key contains control or unassigned characters")
            _check_storable(spec, inner, depth + 1)
    elif isinstance(value, list):
        for inner in value:
            _check_storable(spec, inner, depth + 1)
    elif isinstance(value, int) and not isinstance(value, bool):
        # Significant digits: 10**38 is one digit to DynamoDB (1E+38), and reads back as that int.
        if len(str(abs(value)).rstrip("0")) > _MAX_DIGITS:
            raise FieldError(f"{spec.name}: a number has more than {_MAX_DIGITS} significant digits")
        if abs(value) > _LARGEST:
            raise FieldError(f"{spec.name}: a number is outside the range DynamoDB stores")
    elif isinstance(value, str) and _has_control(value):
        raise FieldError(f"{spec.name}: a value contains control or unassigned characters")
    elif isinstance(value, float) and value and not _SMALLEST <= abs(value) <= _LARGEST:
        raise FieldError(f"{spec.name}: a number is outside the range DynamoDB stores")


_VALIDATORS = {
    Kind.STRING: _string,
    Kind.BOOLEAN: _boolean,
    Kind.STRING_LIST: _string_list,
    Kind.OBJECT: _object,
}
