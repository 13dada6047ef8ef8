"""The Cognito attributes a profile dictates: the synced fields, mapped one way for every caller.

The Cognito sync (stream handler) writes them when a profile changes; the reconciliation
compares them with what Cognito holds. Both ask this module, so a profile's value reaches
Cognito in one form only, and only when it fits the field map.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.fields import AUTHORISATION_ATTRIBUTES, FieldError, FieldSpec, synced_fields
from shared.repository import plain

# Never written from the profile, whatever the map says: a changed email must go through
# Cognito's own verification, and authorisation rests on the *_verified flags.
NEVER_SYNCED = frozenset({"email", "phone_number", "sub"}) | AUTHORISATION_ATTRIBUTES


def synced_attributes() -> tuple[tuple[FieldSpec, str], ...]:
    """Each synced field with the Cognito attribute it writes, in declaration order."""
    return tuple(
        (spec, spec.cognito_attribute)
        for spec in synced_fields()
        if spec.cognito_attribute and spec.cognito_attribute not in NEVER_SYNCED
    )


def cognito_value(spec: FieldSpec, value: Any) -> str:
    """The string Cognito must hold for a stored ``value`` of ``spec``.

    Raises ``FieldError`` (or ``TypeError``/``ValueError``) when the value does not fit the map:
    a value written outside this code (a binary, a ``javascript:`` picture) must not reach
    Cognito, which hands it on to every client.
    """
    return spec.as_string(spec.validate(plain(value)))


def wanted_attributes(item: Mapping[str, Any]) -> tuple[dict[str, str | None], list[str]]:
    """The synced attributes a stored profile item dictates (``None``: the attribute must be
    absent), and the fields whose values do not fit the map (left out of the first)."""
    wanted: dict[str, str | None] = {}
    invalid: list[str] = []
    for spec, attribute in synced_attributes():
        value = item.get(spec.name)
        if value is None:
            wanted[attribute] = None
            continue
        try:
            wanted[attribute] = cognito_value(spec, value)
        except (FieldError, TypeError, ValueError):
            invalid.append(spec.name)
    return wanted, invalid
