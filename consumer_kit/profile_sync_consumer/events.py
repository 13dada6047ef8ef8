"""Parse a profile event from its EventBridge envelope, or from the SQS message that carries it.

An EventBridge rule's SQS target sends the entire event, as JSON, as the message body unless the
target transforms its input (https://docs.amazonaws.cn/cdk/api/v2/python/aws_cdk.aws_events_targets/SqsQueue.html:
"Default: the entire EventBridge event"); Lambda passes each message's body as a string in
``Records[].body`` (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html).

Errors are ``EventError``s with a one-line message naming what is wrong, never a value (events
carry PII). Standard library only, unless ``strict=True`` validates against the pydantic models.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from profile_sync_consumer.contract import CONTRACT_VERSION, DETAIL_TYPES, PROFILE_DELETED, PROFILE_UPDATED


class EventError(ValueError):
    """Not a profile event this kit can apply; the message says why, without values."""


@dataclass(frozen=True, slots=True)
class ProfileEvent:
    """What a consumer needs of one profile event (the detail, and its type)."""

    detail_type: str  # ProfileCreated, ProfileUpdated or ProfileDeleted
    event_id: str  # the same for every copy of the event: deduplicate on it, never on the envelope's id
    user_id: str
    version: int  # the profile's version after the change: the order per user
    occurred_at: str
    changed: tuple[str, ...]
    new: Mapping[str, Any] = field(default_factory=dict)  # empty for a deletion
    old: Mapping[str, Any] = field(default_factory=dict)  # ProfileUpdated only
    redacted: tuple[str, ...] = ()

    @property
    def deletes(self) -> bool:
        return self.detail_type == PROFILE_DELETED


def parse_event(envelope: Mapping[str, Any] | str | bytes, *, strict: bool = False) -> ProfileEvent:
    """A profile event from an EventBridge envelope (a mapping, or its JSON).

    Checks what applying the event relies on. ``strict`` also validates the whole event against
    the contract's models (needs pydantic): unknown fields and wrong value types are refused,
    where the default accepts fields a newer producer may add.
    """
    body = _load(envelope, "the event") if isinstance(envelope, (str, bytes)) else envelope
    if not isinstance(body, Mapping):
        raise EventError("the event is not a JSON object")
    detail_type = body.get("detail-type")
    if detail_type not in DETAIL_TYPES:
        raise EventError("detail-type is not ProfileCreated, ProfileUpdated or ProfileDeleted")
    detail = body.get("detail")
    if not isinstance(detail, Mapping):
        raise EventError(f"{detail_type}: detail is not a JSON object")
    if strict:
        _validate(body, detail_type)
    contract = detail.get("contract_version", CONTRACT_VERSION)
    if contract != CONTRACT_VERSION:
        raise EventError(f"{detail_type}: contract_version is not {CONTRACT_VERSION}, the one this kit reads")
    version = detail.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise EventError(f"{detail_type}: detail.version is not a positive integer")
    new = detail.get("new", {} if detail_type == PROFILE_DELETED else None)
    if not isinstance(new, Mapping):
        raise EventError(f"{detail_type}: detail.new is not a JSON object")
    old = detail.get("old", {})
    if not isinstance(old, Mapping) or (detail_type == PROFILE_UPDATED and "old" not in detail):
        raise EventError(f"{detail_type}: detail.old is not a JSON object")
    return ProfileEvent(
        detail_type=detail_type,
        event_id=_text(detail, "event_id", detail_type),
        user_id=_text(detail, "user_id", detail_type),
        version=version,
        occurred_at=_text(detail, "occurred_at", detail_type),
        changed=_names(detail, "changed", detail_type, required=True),
        new=new,
        old=old,
        redacted=_names(detail, "redacted", detail_type, required=False),
    )


def parse_sqs_body(body: str | bytes, *, strict: bool = False) -> ProfileEvent:
    """A profile event from the body of the SQS message an EventBridge rule's target wrote."""
    return parse_event(_load(body, "the message body"), strict=strict)


def parse_sqs_record(record: Mapping[str, Any], *, strict: bool = False) -> ProfileEvent:
    """A profile event from one record of a Lambda SQS event (``event["Records"][i]``)."""
    body = record.get("body")
    if not isinstance(body, str):
        raise EventError("the SQS record has no body")
    return parse_sqs_body(body, strict=strict)


def _load(text: str | bytes, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        raise EventError(f"{what} is not JSON") from None


def _text(detail: Mapping[str, Any], key: str, detail_type: str) -> str:
    value = detail.get(key)
    if not isinstance(value, str) or not value:
        raise EventError(f"{detail_type}: detail.{key} is not a non-empty string")
    return value


def _names(detail: Mapping[str, Any], key: str, detail_type: str, *, required: bool) -> tuple[str, ...]:
    value = detail.get(key, None if required else [])
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise EventError(f"{detail_type}: detail.{key} is not a list of field names")
    return tuple(value)


def _validate(envelope: Mapping[str, Any], detail_type: str) -> None:
    from pydantic import ValidationError

    from profile_sync_consumer.models import EVENT_MODELS

    try:
        EVENT_MODELS[detail_type].model_validate(envelope)
    except ValidationError as exc:
        # Locations and messages only: pydantic's ``input`` would be the (PII) value.
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors(include_input=False)[:3]
        )
        raise EventError(f"{detail_type} does not follow the contract: {problems}") from None
