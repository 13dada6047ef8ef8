"""Profile -> token claims, as the field ownership map says."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Literal, NamedTuple

from shared.fields import FIELDS, FieldSpec, Owner

Token = Literal["id", "access"]

# Claims Cognito never lets a trigger add or override (Cognito rejects the whole response).
FORBIDDEN_CLAIMS = frozenset(
    {
        "acr", "amr", "at_hash", "aud", "auth_time", "azp", "client_id", "c_hash", "event_id",
        "exp", "iat", "identities", "iss", "jti", "nbf", "nonce", "origin_jti", "scope", "sub",
        "token_use", "username", "device_key", "version",
    }
)  # fmt: skip
FORBIDDEN_PREFIXES = ("cognito:",)


def is_forbidden(claim: str) -> bool:
    """True for a claim name Cognito does not let a trigger set."""
    return claim in FORBIDDEN_CLAIMS or claim.startswith(FORBIDDEN_PREFIXES)


class Claims(NamedTuple):
    claims: dict[str, Any]
    dropped: tuple[str, ...] = ()  # claim names left out to stay within the budget
    suppress: tuple[str, ...] = ()  # ID token claims Cognito states from its own attributes, to remove


def build_claims(
    fields: Mapping[str, Any],
    token: Token,
    *,
    strings_only: bool,
    budget_bytes: int,
) -> Claims:
    """The claims ``fields`` contribute to one token.

    Only fields the map declares with a claim name for ``token`` are emitted, and never a
    name Cognito forbids, whatever the profile holds. ``strings_only`` (V1 events) turns
    every value into a string. When the claims' JSON size exceeds ``budget_bytes``, claims
    are dropped from the last-declared field backwards until they fit: the map's order is
    the priority, so the rule is deterministic.

    Cognito writes the user's attributes into the ID token by itself, and a user can write
    some of them (``picture``, ``name``...) with their own access token. So in the ID token
    the claim of every attribute a non-IdP field mirrors is what the profile says: set to
    the profile's value (a string, as Cognito states attributes), or suppressed when the
    profile holds none or the budget dropped it. IdP-owned attributes (``email``) are
    Cognito's to state and left alone.
    """
    claims: dict[str, Any] = {}
    for spec in FIELDS:
        value = fields.get(spec.name)
        if value is None or value == [] or value == {}:
            continue
        for name, always_string in _claim_names(spec, token):
            claims[name] = spec.as_string(value) if strings_only or always_string else value

    dropped: list[str] = []
    while claims and _size(claims) > budget_bytes:
        name = next(reversed(claims))
        del claims[name]
        dropped.append(name)
    suppress = [attribute for attribute in mirrored_attributes() if attribute not in claims] if token == "id" else []
    return Claims(claims, tuple(dropped), tuple(suppress))


def mirrored_attributes() -> tuple[str, ...]:
    """The Cognito attributes whose ID token claims the profile states (see ``build_claims``)."""
    return tuple(attribute for spec in FIELDS if (attribute := _mirrored(spec)))


def _mirrored(spec: FieldSpec) -> str | None:
    attribute = spec.cognito_attribute
    return attribute if attribute and spec.owner is not Owner.IDP and not is_forbidden(attribute) else None


def _claim_names(spec: FieldSpec, token: Token) -> Iterator[tuple[str, bool]]:
    """The claims ``spec`` sets in ``token``, each with whether it is a string whatever the event version."""
    declared = spec.id_claim if token == "id" else spec.access_claim
    if declared and not is_forbidden(declared):
        yield declared, False
    attribute = _mirrored(spec)
    if token == "id" and attribute and attribute != declared:
        yield attribute, True


def _size(claims: Mapping[str, Any]) -> int:
    return len(json.dumps(claims, separators=(",", ":"), ensure_ascii=False, default=str).encode())
