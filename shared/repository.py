"""The profile table: conditional writes only, so a repeated write changes nothing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from shared.profile import KEY, Profile, same_value, utc_now

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _set_order(value: Any) -> tuple[str, Any]:
    """Sort key for a DynamoDB set's members: numbers, strings or binaries, never mixed."""
    return (type(value).__name__, value if isinstance(value, (int, float, str)) else repr(value))


def _holds(profile: Profile, changes: Mapping[str, Any]) -> bool:
    """Whether ``profile`` already has every change (``None``: the field is absent)."""
    return all(
        name not in profile.fields if value is None else same_value(profile.fields.get(name), plain(value))
        for name, value in changes.items()
    )


class VersionConflict(Exception):
    """The profile changed (or vanished) since the version the caller read; ``current`` is what is stored."""

    def __init__(self, message: str, current: Profile | None = None) -> None:
        super().__init__(message)
        self.current = current


def to_dynamodb(item: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values -> DynamoDB attribute values (floats become Decimals)."""
    values = json.loads(json.dumps(item), parse_float=Decimal, parse_int=_integer)
    return {name: _serializer.serialize(value) for name, value in values.items()}


def _integer(text: str) -> int | Decimal:
    # DynamoDB keeps 38 significant digits: 10**40 is stored as 1E+40, not refused as inexact.
    return int(text) if len(text) <= 38 else Decimal(text).normalize()


def from_dynamodb(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values -> plain values (Decimals become int or float)."""
    return {name: plain(_deserializer.deserialize(value)) for name, value in item.items()}


def from_dynamodb_exact(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values -> Python values at full precision (numbers stay Decimals)."""
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def plain(value: Any) -> Any:
    """An exactly decoded value as plain JSON-ready Python (Decimals become int or float, sets sorted lists)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: plain(inner) for key, inner in value.items()}
    if isinstance(value, (list, set)):
        items = [plain(inner) for inner in value]
        return sorted(items, key=_set_order) if isinstance(value, set) else items
    return value


class ProfileRepository:
    """Reads and conditional writes of profile items, one API call each."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, user_id: str) -> Profile | None:
        """The stored profile, read strongly consistent (sign-in follows sign-up closely)."""
        response = self._client.get_item(TableName=self._table, Key={KEY: {"S": user_id}}, ConsistentRead=True)
        item = response.get("Item")
        return Profile.from_item(from_dynamodb(item)) if item else None

    def create_if_absent(self, profile: Profile) -> tuple[Profile, bool]:
        """Write ``profile`` unless one exists; returns the stored profile and whether it was new.

        One PutItem either way: on a lost race the existing item comes back with the
        condition failure, so no extra read is needed.
        """
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_dynamodb(profile.to_item()),
                ConditionExpression="attribute_not_exists(#key)",
                ExpressionAttributeNames={"#key": KEY},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            existing = exc.response.get("Item")
            if not existing:
                return profile, False
            stored = Profile.from_item(from_dynamodb(existing))
            # botocore may resend a write that succeeded but timed out: the item it then finds is ours.
            return stored, stored.version == profile.version and stored.created_at == profile.created_at
        return profile, True

    def update(
        self,
        user_id: str,
        changes: Mapping[str, Any],
        expected_version: int,
        now: str | None = None,
        only_if_changed: bool = False,
    ) -> Profile:
        """Apply ``changes`` (``None`` removes a field) if the stored version is ``expected_version``.

        With ``only_if_changed`` the write also needs one field to differ from what is stored;
        when none does, it fails like a conflict, with the stored profile at ``expected_version``.
        """
        names = {"#version": "version", "#updated_at": "updated_at"}
        values: dict[str, Any] = {
            ":expected": expected_version,
            ":one": 1,
            ":now": now or utc_now(),
        }
        sets = ["#version = #version + :one", "#updated_at = :now"]
        removes = []
        for index, (name, value) in enumerate(sorted(changes.items())):
            names[f"#f{index}"] = name
            if value is None:
                removes.append(f"#f{index}")
            else:
                values[f":v{index}"] = value
                sets.append(f"#f{index} = :v{index}")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        condition = "#version = :expected"
        if only_if_changed and changes:
            # One flat disjunction: DynamoDB refuses parentheses that change nothing.
            differs: list[str] = []
            for index, (_, value) in enumerate(sorted(changes.items())):
                if value is None:
                    differs.append(f"attribute_exists(#f{index})")
                else:
                    differs += [f"attribute_not_exists(#f{index})", f"#f{index} <> :v{index}"]
            condition += f" AND {differs[0]}" if len(differs) == 1 else " AND (" + " OR ".join(differs) + ")"
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={KEY: {"S": user_id}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_dynamodb(values),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            existing = exc.response.get("Item")
            current = Profile.from_item(from_dynamodb(existing)) if existing else None
            if current is not None and current.version == expected_version + 1 and _holds(current, changes):
                return current  # botocore resent a write that had succeeded and timed out: it is ours
            raise VersionConflict(f"profile is not at version {expected_version}", current) from None
        return Profile.from_item(from_dynamodb(response["Attributes"]))

    def delete(self, user_id: str) -> bool:
        """Delete the profile; returns whether there was one (deleting one already gone is not an error)."""
        response = self._client.delete_item(TableName=self._table, Key={KEY: {"S": user_id}}, ReturnValues="ALL_OLD")
        return bool(response.get("Attributes"))
