"""The profile event contract as pydantic models: the source of profile-sync's JSON Schemas.

``python -m profile_sync_consumer.models <directory>`` writes one schema per detail type
(profile-sync's ``make schemas`` writes them to ``events/schemas/``). Validate an event with
``EVENT_MODELS[detail_type].model_validate(envelope)``, or its detail alone with ``DETAIL_MODELS``;
``profile_sync_consumer.events.parse_event(..., strict=True)`` does it for you.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, create_model

from profile_sync_consumer.contract import (
    FIELD_NAMES,
    FIELDS,
    PROFILE_CREATED,
    PROFILE_DELETED,
    PROFILE_UPDATED,
    REDACTED,
    ContractField,
    Kind,
)


def _known_field(name: str) -> str:
    if name not in FIELD_NAMES:
        raise ValueError("not a field of the profile")
    return name


# The models check names strictly (the kit's strict=True); the published schema lists today's names
# as examples only, since a newer producer may name a field this version does not know.
FieldName = Annotated[
    str,
    AfterValidator(_known_field),
    Field(json_schema_extra={"examples": list(FIELD_NAMES)}, description="A field of the profile"),
]
UserId = Annotated[str, Field(min_length=1, max_length=128, description="The user's Cognito sub")]
EventId = Annotated[str, Field(min_length=1, max_length=128, description="Stable across redeliveries")]

_KIND_TYPES: dict[Kind, Any] = {
    Kind.STRING: str,
    Kind.BOOLEAN: bool,
    Kind.STRING_LIST: list[str],
    Kind.OBJECT: dict[str, Any],
}


def _value_type(spec: ContractField) -> Any:
    kind = _KIND_TYPES[spec.kind]
    redacted = Literal[REDACTED] if spec.pii and spec.kind is not Kind.STRING else None
    return (kind | redacted | None) if redacted is not None else (kind | None)


ProfileValues: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "ProfileValues",
    __config__=ConfigDict(extra="forbid", frozen=True),
    __doc__=f"Values of the changed fields: null means absent; PII may read {REDACTED!r} (see redacted).",
    **{spec.name: (_value_type(spec), None) for spec in FIELDS},
)


class _Detail(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    contract_version: Literal[1] = Field(1, description="Bumped on a breaking change")
    event_id: EventId
    user_id: UserId
    version: int = Field(ge=1, description="The profile version after the change: order per user")
    occurred_at: AwareDatetime
    changed: list[FieldName] = Field(description="The fields whose values changed")
    redacted: list[FieldName] = Field(description="Changed PII fields whose values are replaced by a marker")


class ProfileCreatedDetail(_Detail):
    """A profile was created; ``new`` holds the fields it was created with."""

    new: ProfileValues


class ProfileUpdatedDetail(_Detail):
    """A profile changed; ``new`` and ``old`` hold the changed fields only."""

    new: ProfileValues
    old: ProfileValues


class ProfileDeletedDetail(_Detail):
    """A profile was deleted; ``version`` is one past its last stored version."""


class _Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    version: str = "0"
    id: str = Field(description="EventBridge's own id: differs between redeliveries; use detail.event_id")
    source: str
    account: str
    time: AwareDatetime
    region: str
    resources: list[str] = []


class ProfileCreated(_Envelope):
    detail_type: Literal["ProfileCreated"] = Field(alias="detail-type")
    detail: ProfileCreatedDetail


class ProfileUpdated(_Envelope):
    detail_type: Literal["ProfileUpdated"] = Field(alias="detail-type")
    detail: ProfileUpdatedDetail


class ProfileDeleted(_Envelope):
    detail_type: Literal["ProfileDeleted"] = Field(alias="detail-type")
    detail: ProfileDeletedDetail


EVENT_MODELS: dict[str, type[_Envelope]] = {
    PROFILE_CREATED: ProfileCreated,
    PROFILE_UPDATED: ProfileUpdated,
    PROFILE_DELETED: ProfileDeleted,
}
DETAIL_MODELS: dict[str, type[_Detail]] = {
    PROFILE_CREATED: ProfileCreatedDetail,
    PROFILE_UPDATED: ProfileUpdatedDetail,
    PROFILE_DELETED: ProfileDeletedDetail,
}


def _open(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: true`` where the models say false: the models refuse
    unknown fields, the published contract admits them, because adding a field is not a breaking change."""
    if isinstance(schema, dict):
        return {
            key: True if (key, value) == ("additionalProperties", False) else _open(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_open(value) for value in schema]
    return schema


def json_schemas() -> dict[str, str]:
    """Each event's published JSON Schema, by file name (``ProfileCreated.json``...), as text:
    open to the fields and field names a newer producer may add (docs/events.md, "Changing the contract")."""
    return {
        f"{name}.json": json.dumps(_open(model.model_json_schema(by_alias=True)), indent=2, sort_keys=True) + "\n"
        for name, model in EVENT_MODELS.items()
    }


def write_schemas(directory: Path) -> list[Path]:
    """Write the schemas into ``directory``; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in json_schemas().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m profile_sync_consumer.models <directory>", file=sys.stderr)  # noqa: T201
        return 2
    for path in write_schemas(Path(argv[0])):
        print(path)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
