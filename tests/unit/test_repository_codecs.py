"""Plain values <-> DynamoDB attribute values, as the repository writes and reads them."""

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from shared.fields import BY_NAME, FieldError
from shared.profile import Profile, profile_from_cognito
from shared.repository import from_dynamodb, to_dynamodb

EVENTS = Path(__file__).resolve().parents[2] / "events" / "cognito"


def round_trip(item: dict[str, Any]) -> dict[str, Any]:
    return from_dynamodb(to_dynamodb(item))


def test_plain_values_survive_the_round_trip() -> None:
    # Given an item with strings, booleans, None, lists and nested objects
    item = {
        "user_id": "u-1",
        "email_verified": False,
        "roles": ["editor", "viewer"],
        "preferences": {"theme": "dark", "digest": {"weekly": True, "channels": ["email"]}, "note": None},
        "display_name": "",
    }

    # When it is written and read back
    # Then it is unchanged
    assert round_trip(item) == item


def test_floats_in_nested_objects_come_back_as_the_same_floats() -> None:
    # Given preferences holding non-integral floats at several depths
    item = {"preferences": {"fontScale": 1.25, "ratio": 0.1, "layout": {"split": [0.3333, -2.5e-7]}}}

    # When it is written and read back
    restored = round_trip(item)

    # Then each float is a float with the same value (0.1 stays 0.1, not 0.1000000000000000055...)
    assert restored == item
    split = restored["preferences"]["layout"]["split"]
    assert all(isinstance(value, float) for value in [*split, restored["preferences"]["ratio"]])


def test_ints_stay_ints() -> None:
    # Given integers at the top level and nested, one of them 38 digits long
    item = {"version": 7, "preferences": {"hour": 9, "counts": [0, -3], "big": 10**37}}

    # When it is written and read back
    restored = round_trip(item)

    # Then they are ints, not floats or Decimals
    assert restored == item
    assert type(restored["version"]) is int
    assert all(type(value) is int for value in restored["preferences"]["counts"])
    assert type(restored["preferences"]["big"]) is int


def test_floats_are_written_as_dynamodb_numbers_in_decimal_notation() -> None:
    # Given a float DynamoDB cannot take as a binary float
    # When it is converted
    attribute = to_dynamodb({"preferences": {"ratio": 0.1}})

    # Then it is a number attribute spelled the way it reads
    assert attribute == {"preferences": {"M": {"ratio": {"N": "0.1"}}}}


def test_booleans_are_written_as_booleans_not_numbers() -> None:
    # Given a boolean (an int subclass in Python)
    # When it is converted
    attribute = to_dynamodb({"email_verified": True})

    # Then it is a BOOL attribute
    assert attribute == {"email_verified": {"BOOL": True}}


def test_string_sets_are_read_as_sorted_lists() -> None:
    # Given a string set written by another tool (DynamoDB keeps no order in sets)
    flags = [f"flag-{index:02d}" for index in range(30)]

    # When it is read
    plain = from_dynamodb({"flags": {"SS": list(reversed(flags))}})

    # Then it is a list in a stable (sorted) order, whatever order the set iterates in
    assert plain == {"flags": flags}


def test_profile_survives_item_and_attribute_encoding() -> None:
    # Given a Google user's profile, changed once
    event = json.loads((EVENTS / "post_confirmation_google_sign_up.json").read_text())
    attributes = event["request"]["userAttributes"]
    profile, _ = profile_from_cognito(attributes["sub"], event["userName"], attributes, now="2026-11-28T03:00:00.000Z")
    profile = replace(profile, fields={**profile.fields, "preferences": {"fontScale": 1.25}})

    # When it is stored as a DynamoDB item and read back
    restored = Profile.from_item(from_dynamodb(to_dynamodb(profile.to_item())))

    # Then it is the same profile
    assert restored == profile


@pytest.mark.parametrize(
    "number", [float("nan"), float("inf"), 1e200, 1e-200, 10**40], ids=["nan", "inf", "1e200", "1e-200", "10**40"]
)
def test_preferences_accepted_by_validation_can_be_stored(number: float) -> None:
    # Given preferences holding a number (as a user could send in a JSON body)
    preferences = {"fontScale": number}

    # When they are validated
    try:
        accepted = BY_NAME["preferences"].validate(preferences)
    except FieldError:
        return  # rejected with a clear error: fine

    # Then anything accepted can be written to DynamoDB
    to_dynamodb({"preferences": accepted})


@pytest.mark.parametrize("number", [1e38, 1e125, 10**40, 12345678901234567890123456789012345678.0])
def test_a_number_the_map_accepts_is_stored_and_read_back(number: float) -> None:
    # Given preferences holding a large number the field map accepts
    preferences = BY_NAME["preferences"].validate({"x": number})
    profile = Profile("u1", "u1", "t", "t", {"preferences": preferences}, version=1)

    # When the profile is stored and read back as GetItem returns it
    restored = Profile.from_item(from_dynamodb(to_dynamodb(profile.to_item())))

    # Then it reads back (an undecodable profile would cost the user every claim at sign-in)
    assert float(restored.fields["preferences"]["x"]) == float(number)
