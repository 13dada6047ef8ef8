"""The profile API's rules, without I/O: who may write what, merge patches, errors, ETags.

Everything a field's treatment depends on comes from the field ownership map: a field added
to ``shared/fields.py`` is readable and, if user-owned, writable here with no other change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.fields import BY_NAME, FIELDS, FieldError, Owner
from shared.profile import Profile, same_value
from shared.repository import from_dynamodb, to_dynamodb

MAX_BODY_BYTES = 16 * 1024
PATCH_TYPES = ("application/merge-patch+json", "application/json")
_ETAG = re.compile(r'^\s*"(\d{1,20})"\s*$')  # strong only: If-Match compares strongly (RFC 9110)
_MAX_DEPTH = 32  # nesting a patch may have: DynamoDB's own limit for a document


class ApiError(Exception):
    """An answer other than success: a status, a code, a message and per-field problems.

    Messages and problems name fields, never their values.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "fields": self.fields}


@dataclass(frozen=True)
class Caller:
    """Who calls, from the JWT claims API Gateway passes (all strings)."""

    sub: str
    username: str
    groups: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Caller:
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise ApiError(401, "unauthorized", "the token names no user")
        username = claims.get("username") or claims.get("cognito:username") or sub
        return cls(sub, str(username), parse_groups(claims.get("cognito:groups")))


def parse_groups(value: Any) -> frozenset[str]:
    """``cognito:groups`` as HTTP API hands it over: a string like ``"[admins editors]"`` (or a list)."""
    if isinstance(value, list):
        return frozenset(str(item) for item in value)
    if not isinstance(value, str):
        return frozenset()
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    # HTTP API separates groups with spaces only; a group name may hold commas or quotes, so
    # nothing else splits or is stripped: "[team,profile-admins]" is one group, not an admin.
    return frozenset(text.split())


def writable_by(admin: bool) -> frozenset[str]:
    """The fields a caller may write: users their own fields, admins user- and admin-owned ones."""
    owners = {Owner.USER, Owner.ADMIN} if admin else {Owner.USER}
    return frozenset(spec.name for spec in FIELDS if spec.owner in owners)


def representation(profile: Profile) -> dict[str, Any]:
    """The profile as the API shows it: every field the profile holds, nothing of the bookkeeping."""
    return {
        "user_id": profile.user_id,
        **{spec.name: profile.fields[spec.name] for spec in FIELDS if spec.name in profile.fields},
    }


def etag(profile: Profile) -> str:
    """A strong ETag: the version, which changes with every write and never repeats for a user."""
    return f'"{profile.version}"'


def expected_version(if_match: str | None) -> int:
    """The version ``If-Match`` names: 428 when missing, 412 when it cannot be ours."""
    if if_match is None or not if_match.strip():
        raise ApiError(428, "precondition_required", "If-Match is required: send the ETag of the profile you edit")
    found = _ETAG.match(if_match)
    if not found:
        raise ApiError(412, "precondition_failed", "If-Match does not name a version of this profile")
    return int(found.group(1))


def parse_patch(body: str | None, is_base64: bool, content_type: str | None) -> dict[str, Any]:
    """The JSON merge patch in a request, or an ``ApiError`` (415, 413, 400) saying what is wrong."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in PATCH_TYPES:
        raise ApiError(415, "unsupported_media_type", f"send {' or '.join(PATCH_TYPES)}")
    try:
        raw = (body or "").encode() if not is_base64 else _base64(body or "")
    except UnicodeEncodeError:
        raise ApiError(400, "malformed_body", "the body is not UTF-8") from None
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
        patch = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_body", "the body is not UTF-8") from None
    except RecursionError:
        raise ApiError(400, "malformed_body", "the body nests too deeply") from None
    except ValueError as exc:
        raise ApiError(400, "malformed_body", f"the body is not valid JSON ({_reason(exc)})") from None
    if not isinstance(patch, dict):
        raise ApiError(400, "malformed_body", "a merge patch is a JSON object")
    if _depth(patch) > _MAX_DEPTH:
        raise ApiError(400, "malformed_body", f"the body nests deeper than {_MAX_DEPTH} levels")
    return patch


def _depth(value: Any) -> int:
    """How deep ``value`` nests, found without recursion (a hostile body must not exhaust the stack)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            pending.extend((inner, depth + 1) for inner in item.values())
        elif isinstance(item, list):
            pending.extend((inner, depth + 1) for inner in item)
    return deepest


def needs_current(patch: Mapping[str, Any]) -> bool:
    """Whether applying ``patch`` needs the stored profile: an object merged into an object field."""
    return any(isinstance(value, dict) for value in patch.values())


def apply_patch(profile: Profile | None, patch: Mapping[str, Any], writable: frozenset[str]) -> dict[str, Any]:
    """The field changes ``patch`` makes (``None`` removes), validated; nothing when it changes nothing.

    Unknown fields and wrong values are 400, fields the caller may not write 403; every
    problem is reported at once, per field, and nothing is applied unless all are fine.
    Without ``profile`` (no object to merge into) every patched field is a change: the
    conditional write then skips the fields whose values it already holds.
    """
    problems: dict[str, str] = {}
    forbidden: dict[str, str] = {}
    changes: dict[str, Any] = {}
    for name, value in patch.items():
        spec = BY_NAME.get(name)
        if spec is None:
            problems[_safe_name(name)] = "unknown field"
            continue
        if name not in writable:
            forbidden[name] = f"owned by {spec.owner.value}: not writable by this caller"
            continue
        current = profile.fields.get(name) if profile is not None else None
        merged = merge_patch(current, value)
        if merged is None:
            if current is not None or profile is None:
                changes[name] = None
            continue
        try:
            normalised = spec.validate(merged)
        except FieldError as exc:
            problems[name] = str(exc).removeprefix(f"{name}: ")
            continue
        stored = _as_stored(normalised)  # 1.0 is stored as 1: compare what the table would hold
        if profile is None or not same_value(stored, current):
            changes[name] = stored
    if problems:
        raise ApiError(400, "invalid_fields", "some fields are unknown or have invalid values", problems)
    if forbidden:
        raise ApiError(403, "forbidden_fields", "some fields are not writable by this caller", forbidden)
    return changes


def _as_stored(value: Any) -> Any:
    """``value`` as DynamoDB stores and returns it (numbers normalised)."""
    return from_dynamodb(to_dynamodb({"v": value}))["v"]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: a patch object merges into an object member by member; ``null`` removes; anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("a key appears twice")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _reason(exc: ValueError) -> str:
    # json's messages quote positions and their own words, never the body's text, except ours.
    return str(exc).split(":")[0]


def _base64(body: str) -> bytes:
    import base64
    import binascii

    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "malformed_body", "the body is not valid base64") from None


def _safe_name(name: str) -> str:
    """An unknown field's name as an error may repeat it: bounded, printable."""
    printable = "".join(ch if ch.isprintable() else "?" for ch in name)
    return printable[:64]
