"""The profile event contract, built with plain code: what a stream record becomes on EventBridge.

The consumer kit (``consumer_kit/``, package ``profile_sync_consumer``) owns the contract: its
names here, and its pydantic models, from which the published JSON Schemas are generated and
against which tests validate every event built here. This module does not import pydantic,
because the stream handlers' cold start would pay for it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from profile_sync_consumer.contract import CONTRACT_VERSION, PROFILE_CREATED, PROFILE_DELETED, PROFILE_UPDATED, REDACTED
from shared.fields import FIELDS, pii_fields
from shared.profile import same_value
from shared.repository import plain
from shared.streams import PoisonRecord, ProfileChange

DETAIL_TYPES = {"INSERT": PROFILE_CREATED, "MODIFY": PROFILE_UPDATED, "REMOVE": PROFILE_DELETED}

# EventBridge counts an entry's Time as 14 bytes whatever its format.
_TIME_BYTES = 14


def changed_fields(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> tuple[str, ...]:
    """Names of the map's fields whose values differ between the images, in the map's order.

    Values are compared type-strictly at full precision (exactly decoded images: ``1`` is
    not ``true``, Decimals are not rounded to floats). Bookkeeping (``updated_at``,
    ``version``...) and attributes the map does not declare never count.
    """
    before = old or {}
    after = new or {}
    return tuple(spec.name for spec in FIELDS if not same_value(before.get(spec.name), after.get(spec.name)))


def build_detail(change: ProfileChange, include_pii: bool) -> dict[str, Any] | None:
    """The event ``detail`` for one change, or ``None`` when no field a consumer sees changed."""
    changed = changed_fields(change.old, change.new)
    if change.event_name == "MODIFY" and not changed:
        return None
    with_values = change.event_name != "REMOVE"
    hidden = tuple(name for name in changed if name in pii_fields()) if with_values and not include_pii else ()
    detail: dict[str, Any] = {
        "contract_version": CONTRACT_VERSION,
        "event_id": change.record_id,
        "user_id": change.user_id,
        "version": change.version,
        "occurred_at": change.occurred_at,
        "changed": list(changed),
        "redacted": list(hidden),
    }
    if with_values:
        detail["new"] = _values(change.new, changed, hidden)
    if change.event_name == "MODIFY":
        detail["old"] = _values(change.old, changed, hidden)
    return detail


def _values(image: Mapping[str, Any] | None, names: tuple[str, ...], hidden: tuple[str, ...]) -> dict[str, Any]:
    image = image or {}
    return {
        name: (REDACTED if name in hidden and image.get(name) is not None else plain(image.get(name))) for name in names
    }


def build_entry(change: ProfileChange, *, source: str, bus_name: str, include_pii: bool) -> dict[str, Any] | None:
    """The PutEvents entry for one change, or ``None`` when there is nothing to publish."""
    detail = build_detail(change, include_pii)
    if detail is None:
        return None
    try:
        text = json.dumps(detail, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        # A value JSON cannot carry (a binary attribute written outside this code).
        raise PoisonRecord(f"a value of {', '.join(detail['changed'])} cannot be published as JSON") from None
    return {
        "Source": source,
        "DetailType": DETAIL_TYPES[change.event_name],
        "Detail": text,
        "EventBusName": bus_name,
    }


def entry_size(entry: Mapping[str, Any]) -> int:
    """An entry's size as EventBridge counts it against the PutEvents limits."""
    size = _TIME_BYTES if "Time" in entry else 0
    for key in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(key, "")).encode())
    return size + sum(len(str(resource).encode()) for resource in entry.get("Resources", ()))
