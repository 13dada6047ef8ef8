"""Profile -> token claims, as the field ownership map says."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

from shared.fields import FIELDS, Kind

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
    """
    claims: dict[str, Any] = {}
    for spec in FIELDS:
        name = spec.id_claim if token == "id" else spec.access_claim
        value = fields.get(spec.name)
        if not name or is_forbidden(name) or value is None or value == [] or value == {}:
            continue
        claims[name] = _as_string(value, spec.kind) if strings_only else value

    dropped: list[str] = []
    while claims and _size(claims) > budget_bytes:
        name = next(reversed(claims))
        del claims[name]
        dropped.append(name)
    return Claims(claims, tuple(dropped))


def _as_string(value: Any, kind: Kind) -> str:
    if kind is Kind.BOOLEAN:
        return "true" if value else "false"
    if kind in (Kind.STRING_LIST, Kind.OBJECT):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return str(value)


def _size(claims: Mapping[str, Any]) -> int:
    return len(json.dumps(claims, separators=(",", ":"), ensure_ascii=False, default=str).encode())
