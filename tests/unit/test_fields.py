"""The field ownership map: validation per kind, and the invariants everything else relies on."""

import re
from typing import Any

import pytest

from shared.fields import (
    BY_NAME,
    FIELDS,
    FieldError,
    Kind,
    Owner,
    app_client_write_attributes,
    custom_cognito_attributes,
    synced_fields,
    user_writable_fields,
)
from triggers.pre_token_generation.claims import is_forbidden

# Cognito's standard attributes (OIDC claims plus Cognito's own): anything else must be custom:.
STANDARD_ATTRIBUTES = frozenset(
    {
        "address", "birthdate", "email", "email_verified", "family_name", "gender", "given_name",
        "locale", "middle_name", "name", "nickname", "phone_number", "phone_number_verified",
        "picture", "preferred_username", "profile", "updated_at", "website", "zoneinfo",
    }
)  # fmt: skip
MARKER = "Zq7Marker"  # a distinctive value that must never leak into an error message


# --- strings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["Jane\x00Doe", "Jane\nDoe", "Jane\x1b[31mDoe", "Jane\u202eeoD", "Jane\ufeffDoe"],
    ids=["nul", "newline", "ansi-escape", "bidi-override", "byte-order-mark"],
)
def test_string_with_control_or_format_character_is_rejected(value: str) -> None:
    # Given a display name carrying a control or invisible format character
    spec = BY_NAME["display_name"]

    # When / Then it is rejected
    with pytest.raises(FieldError, match="control"):
        spec.validate(value)


def test_ten_kilobyte_string_is_rejected() -> None:
    # Given a 10 KB display name
    value = "a" * 10_240

    # When / Then it is rejected for its length
    with pytest.raises(FieldError, match="limit"):
        BY_NAME["display_name"].validate(value)


def test_string_exactly_at_the_limit_is_accepted() -> None:
    # Given a display name exactly as long as the field allows
    spec = BY_NAME["display_name"]
    value = "é" * spec.max_length

    # When it is validated
    result = spec.validate(value)

    # Then it is kept whole (the limit counts characters, not bytes)
    assert result == value


def test_string_one_over_the_limit_is_rejected() -> None:
    # Given a display name one character longer than the field allows
    spec = BY_NAME["display_name"]

    # When / Then it is rejected
    with pytest.raises(FieldError):
        spec.validate("a" * (spec.max_length + 1))


def test_string_is_stripped_of_surrounding_whitespace() -> None:
    # Given a name padded with spaces
    # When it is validated
    result = BY_NAME["display_name"].validate("  Jane Doe  ")

    # Then the padding is gone and the inner space kept
    assert result == "Jane Doe"


@pytest.mark.parametrize("value", [42, None, ["Jane"], b"Jane"])
def test_non_string_is_rejected_for_a_string_field(value: Any) -> None:
    # Given a value of the wrong type for a string field
    # When / Then it is rejected
    with pytest.raises(FieldError, match="string"):
        BY_NAME["display_name"].validate(value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("locale", "en_GB"),
        ("locale", "e"),
        ("locale", "en-GB; DROP TABLE"),
        ("picture", "http://example.com/a.png"),
        ("picture", "javascript:alert(1)"),
        ("picture", "https://example.com/a b.png"),
        ("plan", "Pro Plan"),
        ("tenant_id", "acme/eu"),
    ],
)
def test_value_not_fully_matching_the_field_pattern_is_rejected(field: str, value: str) -> None:
    # Given a value that does not match (all of) its field's format
    # When / Then it is rejected
    with pytest.raises(FieldError, match="format"):
        BY_NAME[field].validate(value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("locale", "en"),
        ("locale", "pt-BR"),
        ("locale", "zh-Hant-TW"),
        ("picture", "https://lh3.googleusercontent.com/a/abc=s96-c"),
        ("plan", "pro"),
        ("tenant_id", "acme:eu-1.prod"),
    ],
)
def test_value_matching_the_field_pattern_is_accepted(field: str, value: str) -> None:
    # Given a well-formed value
    # When it is validated
    result = BY_NAME[field].validate(value)

    # Then it comes back unchanged
    assert result == value


# --- booleans ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("false", False), ("True", True), ("FALSE", False), (True, True), (False, False)],
)
def test_boolean_accepts_cognitos_true_and_false_strings(value: str | bool, expected: bool) -> None:
    # Given email_verified as Cognito hands it over (a string) or as a real boolean
    # When it is validated
    result = BY_NAME["email_verified"].validate(value)

    # Then it becomes a real boolean
    assert result is expected


@pytest.mark.parametrize("value", ["yes", "1", "", "truthy", 1, 0, None])
def test_boolean_rejects_anything_but_true_and_false(value: Any) -> None:
    # Given something that is neither "true" nor "false"
    # When / Then it is rejected rather than guessed
    with pytest.raises(FieldError, match="boolean"):
        BY_NAME["email_verified"].validate(value)


# --- string lists --------------------------------------------------------------------


def test_string_list_removes_duplicates_keeping_first_occurrence_order() -> None:
    # Given roles with repeats (one only after stripping)
    roles = ["editor", "viewer", "editor", " viewer ", "admin"]

    # When they are validated
    result = BY_NAME["roles"].validate(roles)

    # Then each role appears once, in the order first seen
    assert result == ["editor", "viewer", "admin"]


def test_string_list_drops_blank_items() -> None:
    # Given roles with empty and whitespace-only entries
    # When they are validated
    result = BY_NAME["roles"].validate(["", "editor", "   "])

    # Then only the real role is left
    assert result == ["editor"]


def test_string_list_over_the_item_limit_is_rejected() -> None:
    # Given one role more than the field allows
    spec = BY_NAME["roles"]
    roles = [f"role-{index}" for index in range(spec.max_items + 1)]

    # When / Then the list is rejected
    with pytest.raises(FieldError, match="items"):
        spec.validate(roles)


def test_string_list_item_over_the_length_limit_is_rejected() -> None:
    # Given a role longer than an item may be
    spec = BY_NAME["roles"]

    # When / Then the list is rejected
    with pytest.raises(FieldError, match="limit"):
        spec.validate(["editor", "r" * (spec.max_length + 1)])


def test_string_list_item_with_control_character_is_rejected() -> None:
    # Given a role carrying a control character
    # When / Then the list is rejected
    with pytest.raises(FieldError, match="control"):
        BY_NAME["roles"].validate(["editor", "ad\x00min"])


@pytest.mark.parametrize("value", ["admin", {"admin": True}, None, 7])
def test_string_list_rejects_values_that_are_not_lists(value: Any) -> None:
    # Given a bare string (iterable, but not a list of roles) or another non-list
    # When / Then it is rejected instead of being split into characters
    with pytest.raises(FieldError, match="list"):
        BY_NAME["roles"].validate(value)


def test_string_list_rejects_non_string_items() -> None:
    # Given a list holding a number
    # When / Then it is rejected
    with pytest.raises(FieldError, match="string"):
        BY_NAME["roles"].validate(["editor", 3])


# --- objects -------------------------------------------------------------------------


def test_object_within_the_size_limit_is_returned_unchanged() -> None:
    # Given small preferences
    preferences = {"theme": "dark", "fontScale": 1.25, "digest": {"weekly": True, "hour": 9}}

    # When they are validated
    result = BY_NAME["preferences"].validate(preferences)

    # Then they come back as they were
    assert result == preferences


def test_object_larger_than_the_limit_in_utf8_bytes_is_rejected() -> None:
    # Given preferences under the limit in characters but over it in UTF-8 bytes (3 bytes per "€")
    spec = BY_NAME["preferences"]
    preferences = {"note": "€" * (spec.max_length // 2)}

    # When / Then they are rejected for their JSON size
    with pytest.raises(FieldError, match="bytes"):
        spec.validate(preferences)


@pytest.mark.parametrize("value", [["dark"], "dark", None, 3])
def test_object_field_rejects_values_that_are_not_json_objects(value: Any) -> None:
    # Given a value that is not a JSON object
    # When / Then it is rejected
    with pytest.raises(FieldError, match="object"):
        BY_NAME["preferences"].validate(value)


def test_object_that_is_not_json_serialisable_is_rejected() -> None:
    # Given preferences holding a Python-only value
    # When / Then they are rejected
    with pytest.raises(FieldError, match="JSON"):
        BY_NAME["preferences"].validate({"tags": {"a", "b"}})


# --- error messages ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("display_name", f"{MARKER}\x00"),
        ("display_name", MARKER * 2_000),
        ("email", f"{MARKER}\u202e@example.com"),
        ("locale", f"{MARKER}!"),
        ("picture", f"http://{MARKER}.example.com"),
        ("plan", MARKER),
        ("email_verified", MARKER),
        ("roles", [MARKER * 10]),
        ("roles", [f"{MARKER}\x07"]),
        ("preferences", {"note": MARKER * 300}),
        ("preferences", {MARKER: {MARKER}}),
    ],
)
def test_error_message_names_the_field_but_never_contains_the_value(field: str, value: Any) -> None:
    # Given a bad value carrying a recognisable marker
    # When it is validated
    with pytest.raises(FieldError) as caught:
        BY_NAME[field].validate(value)

    # Then the message says which field, and nothing of what was sent
    message = str(caught.value)
    assert field in message
    assert MARKER not in message


# --- map invariants ------------------------------------------------------------------


def test_field_names_are_unique() -> None:
    # Given the declared fields
    names = [spec.name for spec in FIELDS]

    # Then no name is declared twice (BY_NAME would silently keep only the last)
    assert len(names) == len(set(names))


def test_each_cognito_attribute_maps_to_one_field_at_most() -> None:
    # Given the declared Cognito attributes
    attributes = [spec.cognito_attribute for spec in FIELDS if spec.cognito_attribute]

    # Then two fields never compete for one attribute
    assert len(attributes) == len(set(attributes))


@pytest.mark.parametrize("token", ["id_claim", "access_claim"])
def test_each_claim_name_is_declared_once_per_token(token: str) -> None:
    # Given the claim names the map declares for one token
    names = [getattr(spec, token) for spec in FIELDS if getattr(spec, token)]

    # Then no two fields write the same claim
    assert len(names) == len(set(names))


def test_no_declared_claim_name_is_one_cognito_forbids() -> None:
    # Given every claim name in the map, for both tokens
    declared = {name for spec in FIELDS for name in (spec.id_claim, spec.access_claim) if name}

    # Then none of them is a claim Cognito rejects
    assert {name for name in declared if is_forbidden(name)} == set()


def test_admin_owned_attributes_are_never_writable_by_the_app_client() -> None:
    # Given the Cognito attributes of admin-owned fields
    admin_attributes = {
        spec.cognito_attribute for spec in FIELDS if spec.owner is Owner.ADMIN and spec.cognito_attribute
    }

    # When the app client's WriteAttributes are derived
    writable = app_client_write_attributes()

    # Then none of them is writable with a user's own access token
    assert admin_attributes, "the map should declare at least one admin attribute for this test to mean anything"
    assert writable.isdisjoint(admin_attributes)


@pytest.mark.parametrize("attribute", ["email_verified", "phone_number_verified"])
def test_verification_attributes_are_never_writable_by_the_app_client(attribute: str) -> None:
    # Given the app client's WriteAttributes
    writable = app_client_write_attributes()

    # Then a user can never mark their own address verified
    assert attribute not in writable


def test_email_verified_is_not_a_user_writable_profile_field() -> None:
    # Given the fields the profile API lets a user write
    writable = {spec.name for spec in user_writable_fields()}

    # Then email_verified is not among them
    assert "email_verified" not in writable


def test_every_synced_field_has_a_cognito_attribute() -> None:
    # Given the fields that sync back to Cognito
    # Then each names the attribute it syncs to
    assert [spec.name for spec in synced_fields() if not spec.cognito_attribute] == []


def test_non_standard_cognito_attributes_are_custom_attributes() -> None:
    # Given every Cognito attribute the map declares
    attributes = {spec.cognito_attribute for spec in FIELDS if spec.cognito_attribute}

    # Then each is a standard attribute or a custom: one
    assert {name for name in attributes if name not in STANDARD_ATTRIBUTES and not name.startswith("custom:")} == set()


def test_custom_attributes_fit_cognitos_schema_limits() -> None:
    # Given the custom attributes the user pool schema must declare
    customs = custom_cognito_attributes()

    # Then each has the custom: prefix, a name of 1-20 characters and values within 2,048 characters
    assert customs
    for attribute in customs:
        assert re.fullmatch(r"custom:[A-Za-z0-9_]{1,20}", attribute), attribute
    assert all(spec.max_length <= 2048 for spec in FIELDS if spec.cognito_attribute in customs)


def test_free_form_user_objects_are_pii() -> None:
    # Given the user-owned fields of free-form JSON (they may hold anything the user typed)
    free_form = [spec for spec in user_writable_fields() if spec.kind is Kind.OBJECT]

    # Then each is PII: redacted in logs and, unless PII is included, in events
    assert free_form, "the map should declare at least one free-form field for this test to mean anything"
    assert [spec.name for spec in free_form if not spec.pii] == []


# --- text other scripts need ---------------------------------------------------------


def test_display_name_with_zero_width_non_joiner_is_accepted() -> None:
    # Given a Persian name that needs ZWNJ between its letters
    name = "\u0645\u06cc\u200c\u0646\u0627"

    # When it is validated
    result = BY_NAME["display_name"].validate(name)

    # Then it is kept as written
    assert result == name
