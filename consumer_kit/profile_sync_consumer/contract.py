"""The event contract's vocabulary: detail types, the contract version and the profile's fields.

The producer (profile-sync's ``shared/fields.py``, its field ownership map) declares more about
each field; a consumer needs its name, its JSON type and whether it is PII (redactable). A test
of the producer's repository keeps the two equal.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

PROFILE_CREATED = "ProfileCreated"
PROFILE_UPDATED = "ProfileUpdated"
PROFILE_DELETED = "ProfileDeleted"
DETAIL_TYPES = (PROFILE_CREATED, PROFILE_UPDATED, PROFILE_DELETED)
CONTRACT_VERSION = 1
REDACTED = "***"  # a PII value withheld from the event (the producer's IncludePiiInEvents is false)


class Kind(StrEnum):
    STRING = "string"
    BOOLEAN = "boolean"
    STRING_LIST = "string_list"
    OBJECT = "object"


class ContractField(NamedTuple):
    name: str
    kind: Kind = Kind.STRING
    pii: bool = False


# In the producer's declaration order: `changed` lists fields in this order.
FIELDS: tuple[ContractField, ...] = (
    ContractField("email", pii=True),
    ContractField("email_verified", Kind.BOOLEAN),
    ContractField("providers", Kind.STRING_LIST),
    ContractField("tenant_id"),
    ContractField("roles", Kind.STRING_LIST),
    ContractField("plan"),
    ContractField("flags", Kind.STRING_LIST),
    ContractField("display_name", pii=True),
    ContractField("given_name", pii=True),
    ContractField("family_name", pii=True),
    ContractField("locale"),
    ContractField("picture", pii=True),
    ContractField("preferences", Kind.OBJECT, pii=True),
)
FIELD_NAMES: tuple[str, ...] = tuple(spec.name for spec in FIELDS)
