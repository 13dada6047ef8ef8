"""The profile model: building it from Cognito attributes, storing it, changing it."""

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from shared.fields import BY_NAME, FIELDS, Owner
from shared.profile import (
    SCHEMA_VERSION,
    Profile,
    Rejected,
    UndecodableProfile,
    idp_changes,
    profile_from_cognito,
    providers_from_identities,
)

EVENTS = Path(__file__).resolve().parents[2] / "events" / "cognito"
NOW = "2026-11-28T03:00:00.000Z"
LATER = "2026-11-29T08:30:00.000Z"


def sign_up(name: str) -> tuple[str, str, dict[str, Any]]:
    """The sub, user name and attributes of a sample post-confirmation event."""
    event = json.loads((EVENTS / f"post_confirmation_{name}.json").read_text())
    attributes = event["request"]["userAttributes"]
    return attributes["sub"], event["userName"], dict(attributes)


def build(
    attributes: dict[str, Any], username: str = "d4a8f4e8-30a1-70c2-6b1e-9f2c7d3e5a10"
) -> tuple[Profile, list[Rejected]]:
    return profile_from_cognito("d4a8f4e8-30a1-70c2-6b1e-9f2c7d3e5a10", username, attributes, now=NOW)


# --- from Cognito attributes ---------------------------------------------------------


def test_email_sign_up_profile_is_keyed_by_sub_and_created_now_in_the_current_schema() -> None:
    # Given an email user's confirmed sign-up
    sub, username, attributes = sign_up("email_sign_up")

    # When the profile is built from it
    profile, rejected = profile_from_cognito(sub, username, attributes, now=NOW)

    # Then it is keyed by sub, created now, in the current schema
    assert (profile.user_id, profile.username) == (sub, username)
    assert (profile.created_at, profile.updated_at) == (NOW, NOW)
    assert profile.schema_version == SCHEMA_VERSION
    assert rejected == []


def test_new_profile_version_is_the_creation_time_in_microseconds() -> None:
    # Given an email user's confirmed sign-up
    sub, username, attributes = sign_up("email_sign_up")

    # When the profile is built from it
    before = time.time_ns() // 1000
    profile, _ = profile_from_cognito(sub, username, attributes, now=NOW)
    after = time.time_ns() // 1000

    # Then its version is the current time in microseconds (so a re-created profile starts higher)
    assert before <= profile.version <= after
    assert profile.version < 2**53  # exact in JavaScript


def test_email_sign_up_profile_mirrors_email_and_its_verification() -> None:
    # Given an email user's confirmed sign-up ("true" as Cognito sends it)
    sub, username, attributes = sign_up("email_sign_up")

    # When the profile is built from it
    profile, _ = profile_from_cognito(sub, username, attributes, now=NOW)

    # Then email is copied and email_verified is a real boolean
    assert profile.fields["email"] == attributes["email"]
    assert profile.fields["email_verified"] is True


def test_email_user_signs_in_with_the_cognito_provider() -> None:
    # Given an email user: no identities attribute, a UUID user name
    sub, username, attributes = sign_up("email_sign_up")

    # When the profile is built
    profile, _ = profile_from_cognito(sub, username, attributes, now=NOW)

    # Then the provider is Cognito itself
    assert profile.fields["providers"] == ["Cognito"]


def test_google_user_provider_comes_from_the_identities_json_string() -> None:
    # Given a Google user's first sign-in (identities is a JSON string)
    sub, username, attributes = sign_up("google_sign_up")

    # When the profile is built
    profile, rejected = profile_from_cognito(sub, username, attributes, now=NOW)

    # Then the provider is Google and nothing was rejected
    assert profile.fields["providers"] == ["Google"]
    assert rejected == []


def test_google_user_profile_takes_the_mapped_name_and_picture() -> None:
    # Given a Google user's first sign-in with name and picture from the attribute mapping
    sub, username, attributes = sign_up("google_sign_up")

    # When the profile is built
    profile, _ = profile_from_cognito(sub, username, attributes, now=NOW)

    # Then display name and picture come from the mapped attributes
    assert profile.fields["display_name"] == attributes["name"]
    assert profile.fields["picture"] == attributes["picture"]


def test_apple_user_provider_comes_from_the_identities_json_string() -> None:
    # Given an Apple user's first authorisation
    sub, username, attributes = sign_up("apple_sign_up")

    # When the profile is built
    profile, _ = profile_from_cognito(sub, username, attributes, now=NOW)

    # Then the provider is Sign in with Apple
    assert profile.fields["providers"] == ["SignInWithApple"]


def test_apple_first_authorisation_given_and_family_name_become_the_display_name() -> None:
    # Given Apple's first authorisation: given and family name, no name attribute
    sub, username, attributes = sign_up("apple_sign_up")
    assert "name" not in attributes

    # When the profile is built
    profile, _ = profile_from_cognito(sub, username, attributes, now=NOW)

    # Then the display name is captured from them, and both parts are kept too
    assert profile.fields["display_name"] == f"{attributes['given_name']} {attributes['family_name']}"
    assert (profile.fields["given_name"], profile.fields["family_name"]) == (
        attributes["given_name"],
        attributes["family_name"],
    )


def test_apple_private_relay_email_is_kept() -> None:
    # Given an Apple user who hid their address behind the private relay
    sub, username, attributes = sign_up("apple_sign_up")

    # When the profile is built
    profile, _ = profile_from_cognito(sub, username, attributes, now=NOW)

    # Then the relay address is the profile email
    assert profile.fields["email"].endswith("@privaterelay.appleid.com")


def test_display_name_built_from_long_given_and_family_names_stays_within_its_limit() -> None:
    # Given given and family names each at their own limit
    attributes = {"given_name": "G" * 128, "family_name": "F" * 128}

    # When the profile is built
    profile, _ = build(attributes)

    # Then the derived display name still fits the display_name field
    assert 0 < len(profile.fields["display_name"]) <= BY_NAME["display_name"].max_length


@pytest.mark.parametrize(
    "identities",
    ["not json", "null", '"Google"', '[{"userId": "1098"}]', "[{}]", '[{"providerName": "Goo\\u0000gle"}]'],
    ids=["not-json", "null", "json-string", "no-provider-name", "empty-entry", "control-character"],
)
def test_unusable_identities_fall_back_to_the_user_name_prefix(identities: str) -> None:
    # Given a Google user whose identities attribute cannot be read
    sub, username, attributes = sign_up("google_sign_up")
    attributes["identities"] = identities

    # When the profile is built
    profile, _ = profile_from_cognito(sub, username, attributes, now=NOW)

    # Then the provider is taken from the "Google_" user name
    assert profile.fields["providers"] == ["Google"]


def test_unusable_identities_are_reported_without_their_value() -> None:
    # Given an Apple user whose identities attribute is malformed
    sub, username, attributes = sign_up("apple_sign_up")
    attributes["identities"] = "[{broken-Zq7Marker"

    # When the profile is built
    profile, rejected = profile_from_cognito(sub, username, attributes, now=NOW)

    # Then the provider still comes from the user name, and the problem is reported without the value
    assert profile.fields["providers"] == ["SignInWithApple"]
    assert [problem.field for problem in rejected] == ["providers"]
    assert "Zq7Marker" not in rejected[0].reason


def test_user_name_prefix_is_not_trusted_when_identities_names_the_provider() -> None:
    # Given a user whose identities say Google, whatever the user name looks like
    sub, _, attributes = sign_up("google_sign_up")

    # When the profile is built with an Apple-looking user name
    profile, _ = profile_from_cognito(sub, "SignInWithApple_000.abc.1", attributes, now=NOW)

    # Then identities win
    assert profile.fields["providers"] == ["Google"]


def test_admin_owned_attributes_are_never_taken_from_cognito_attributes() -> None:
    # Given attributes carrying every admin-owned Cognito attribute (a client could have written them)
    admin = {
        spec.cognito_attribute: "enterprise" for spec in FIELDS if spec.owner is Owner.ADMIN and spec.cognito_attribute
    }
    assert "custom:plan" in admin
    _, username, attributes = sign_up("email_sign_up")

    # When the profile is built
    profile, rejected = build({**attributes, **admin}, username)

    # Then no admin-owned field is set, and nothing was even looked at
    assert {spec.name for spec in FIELDS if spec.owner is Owner.ADMIN}.isdisjoint(profile.fields)
    assert rejected == []


@pytest.mark.parametrize(
    "attribute",
    ["sub", "cognito:groups", "cognito:user_status", "custom:is_admin", "roles", "flags", "aud"],
)
def test_attributes_the_map_does_not_declare_never_become_fields(attribute: str) -> None:
    # Given an attribute outside the map (or named like an admin field)
    # When the profile is built
    profile, _ = build({"email": "jane.doe@example.com", attribute: "Zq7Marker"})

    # Then its value appears nowhere in the profile
    assert "Zq7Marker" not in json.dumps(profile.fields)


def test_hostile_values_are_left_out_and_reported_while_the_rest_are_kept() -> None:
    # Given a sign-up whose name has a NUL, locale is 10 KB and picture is a script URL
    _, username, attributes = sign_up("email_sign_up")
    attributes |= {"name": "Jane\x00Zq7Marker", "locale": "Zq7Marker" * 1_200, "picture": "javascript:Zq7Marker"}

    # When the profile is built
    profile, rejected = build(attributes, username)

    # Then the bad fields are absent and reported (without their values), the good ones kept
    assert {"locale", "picture"}.isdisjoint(profile.fields)
    assert "Zq7Marker" not in profile.fields.get("display_name", "")
    assert profile.fields["email"] == attributes["email"]
    assert profile.fields["email_verified"] is True
    assert {problem.field for problem in rejected} == {"display_name", "locale", "picture"}
    assert all("Zq7Marker" not in problem.reason for problem in rejected)


def test_empty_attribute_values_are_skipped_without_a_report() -> None:
    # Given attributes present but empty (Cognito sends "" for cleared values)
    # When the profile is built
    profile, rejected = build({"email": "jane.doe@example.com", "name": "", "locale": ""})

    # Then they are simply absent
    assert {"display_name", "locale"}.isdisjoint(profile.fields)
    assert rejected == []


# --- stored item ---------------------------------------------------------------------


def google_profile() -> Profile:
    sub, username, attributes = sign_up("google_sign_up")
    profile, _ = profile_from_cognito(sub, username, attributes, now=NOW)
    return profile


def test_item_round_trip_gives_back_the_same_profile() -> None:
    # Given a profile with admin fields and preferences set
    profile = replace(
        google_profile(),
        fields={**google_profile().fields, **{"plan": "pro", "roles": ["editor"], "preferences": {"theme": "dark"}}},
        version=google_profile().version + 1,
    )

    # When it is written as an item and read back
    restored = Profile.from_item(profile.to_item())

    # Then nothing is lost or changed
    assert restored == profile


def test_item_is_keyed_by_user_id() -> None:
    # Given a profile
    profile = google_profile()

    # When it becomes an item
    item = profile.to_item()

    # Then the table key holds the sub
    assert item["user_id"] == profile.user_id


def test_none_fields_are_not_written_to_the_item() -> None:
    # Given a profile whose fields hold a None (e.g. built by hand)
    profile = Profile("u-1", "u-1", NOW, NOW, fields={"email": "a@example.com", "locale": None})

    # When it becomes an item
    item = profile.to_item()

    # Then the None field is absent instead of stored as NULL
    assert "locale" not in item


def test_reading_an_item_ignores_attributes_the_map_does_not_declare() -> None:
    # Given a stored item with stray attributes, some named like forbidden claims
    item = google_profile().to_item() | {"sub": "x", "cognito:groups": ["admin"], "is_admin": True}

    # When it is read
    profile = Profile.from_item(item)

    # Then only declared fields are fields
    assert set(profile.fields) <= set(BY_NAME)


def test_field_values_cannot_overwrite_bookkeeping_attributes() -> None:
    # Given a profile whose fields mapping (wrongly) carries bookkeeping names
    profile = Profile("u-1", "name-1", NOW, NOW, fields={"user_id": "u-2", "version": 99}, version=3)

    # When it becomes an item
    item = profile.to_item()

    # Then the key and version are the profile's own
    assert (item["user_id"], item["version"]) == ("u-1", 3)


# --- changes -------------------------------------------------------------------------


def test_native_user_with_a_federated_looking_user_name_stays_a_cognito_user() -> None:
    # Given a native user (no identities attribute) who chose a user name like a Google one
    _, _, attributes = sign_up("email_sign_up")
    attributes.pop("identities", None)

    # When the profile is built
    profile, rejected = build(attributes, username="Google_123456789")

    # Then the user name does not make them a Google user
    assert profile.fields["providers"] == ["Cognito"]
    assert rejected == []


def test_display_name_cut_to_its_limit_does_not_end_in_a_space() -> None:
    # Given given and family names whose join crosses the display name limit at a space
    limit = BY_NAME["display_name"].max_length
    attributes = {"given_name": "a" * (limit - 1), "family_name": "Family"}

    # When the profile is built
    profile, _ = build(attributes)

    # Then the derived display name is trimmed, as the validator would have left it
    assert profile.fields["display_name"] == "a" * (limit - 1)


# --- reading a stored item that is not a profile -------------------------------------


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("display_name", 4242424242),  # a number where a string belongs
        ("picture", b"Zq7Marker"),  # a Binary attribute (boto3 reads B as bytes-like)
        ("locale", "Zq7\x00Marker"),  # a string the field would never accept
        ("providers", "Zq7Marker"),  # a string where a list belongs
        ("preferences", ["Zq7Marker"]),  # a list where an object belongs
        ("version", "Zq7Marker"),  # a text version
        ("version", 1.5),
        ("version", True),
        ("version", None),  # missing
        ("schema_version", "1"),
        ("username", 4242424242),
        ("created_at", ["Zq7Marker"]),
    ],
)
def test_item_that_does_not_fit_the_map_is_refused_naming_the_attribute_not_the_value(
    attribute: str, value: Any
) -> None:
    # Given a stored item with one attribute written outside this code
    item = google_profile().to_item()
    item[attribute] = value

    # When it is read
    with pytest.raises(UndecodableProfile) as raised:
        Profile.from_item(item)

    # Then the error names the attribute and never the value
    assert raised.value.attribute == attribute
    assert "Zq7Marker" not in str(raised.value)
    assert "4242424242" not in str(raised.value)


def test_item_values_are_read_as_the_field_normalises_them() -> None:
    # Given a stored item whose name carries surrounding spaces and whose providers repeat
    item = google_profile().to_item() | {"display_name": "  Sam Rivera ", "providers": ["Google", "Google"]}

    # When it is read
    profile = Profile.from_item(item)

    # Then the values are what the field's validator makes of them
    assert profile.fields["display_name"] == "Sam Rivera"
    assert profile.fields["providers"] == ["Google"]


# --- IdP-owned fields that changed in Cognito ----------------------------------------


def email_profile() -> tuple[Profile, dict[str, Any]]:
    sub, username, attributes = sign_up("email_sign_up")
    profile, _ = profile_from_cognito(sub, username, attributes, now=NOW)
    return profile, attributes


def test_unchanged_attributes_change_nothing() -> None:
    # Given a profile and the same attributes it was built from ("true" as Cognito sends it)
    profile, attributes = email_profile()

    # When the IdP-owned changes are computed
    changes, rejected = idp_changes(profile, attributes)

    # Then there are none
    assert (changes, rejected) == ({}, [])


def test_changed_email_and_verification_are_changes() -> None:
    # Given Cognito now holds a new, not yet verified, address
    profile, attributes = email_profile()
    attributes |= {"email": "jane.new@example.com", "email_verified": "false"}

    # When the IdP-owned changes are computed
    changes, _ = idp_changes(profile, attributes)

    # Then both are changes, email_verified as a real boolean
    assert changes == {"email": "jane.new@example.com", "email_verified": False}


def test_a_linked_provider_changes_the_providers() -> None:
    # Given a Google user who has since linked Sign in with Apple
    profile = google_profile()
    attributes = {
        "identities": json.dumps(
            [{"providerName": "Google", "userId": "1"}, {"providerName": "SignInWithApple", "userId": "2"}]
        )
    }

    # When the IdP-owned changes are computed
    changes, _ = idp_changes(profile, attributes)

    # Then providers lists both
    assert changes == {"providers": ["Google", "SignInWithApple"]}


def test_absent_attributes_leave_their_fields_alone() -> None:
    # Given attributes without email and email_verified (cognito-local omits email_verified)
    profile, attributes = email_profile()
    attributes = {key: value for key, value in attributes.items() if key not in ("email", "email_verified")}

    # When the IdP-owned changes are computed
    changes, _ = idp_changes(profile, attributes)

    # Then nothing changes
    assert changes == {}


def test_user_and_admin_owned_attributes_are_never_changes() -> None:
    # Given Cognito attributes a user (name, picture) or a client (custom:plan) could have written
    profile, attributes = email_profile()
    attributes |= {"name": "Mallory", "picture": "https://example.com/m.png", "custom:plan": "enterprise"}

    # When the IdP-owned changes are computed
    changes, _ = idp_changes(profile, attributes)

    # Then none of them is a change: the profile owns them
    assert changes == {}


def test_invalid_email_is_reported_and_not_a_change() -> None:
    # Given Cognito holds an email with a bidi override
    profile, attributes = email_profile()
    attributes["email"] = "jane\u202eZq7Marker@example.com"

    # When the IdP-owned changes are computed
    changes, rejected = idp_changes(profile, attributes)

    # Then it is not a change, and the report names the field, not the value
    assert changes == {}
    assert [problem.field for problem in rejected] == ["email"]
    assert "Zq7Marker" not in rejected[0].reason


def test_unreadable_identities_do_not_replace_the_providers() -> None:
    # Given a Google user linked with Apple, whose identities attribute is now unreadable
    profile = replace(
        google_profile(),
        fields={**google_profile().fields, **{"providers": ["Google", "SignInWithApple"]}},
        version=google_profile().version + 1,
    )
    _, _, attributes = sign_up("google_sign_up")
    attributes["identities"] = "[{broken"

    # When the IdP-owned changes are computed
    changes, rejected = idp_changes(profile, attributes)

    # Then the user name's guess ("Google") does not overwrite what the profile knows
    assert changes == {}
    assert [problem.field for problem in rejected] == ["providers"]


def test_a_native_user_who_linked_google_keeps_cognito_among_the_providers() -> None:
    # Given a native user (a sub-like user name) whose identities list a linked Google account
    identities = json.dumps([{"providerName": "Google", "providerType": "Google", "userId": "1098"}])

    # When the providers are read
    providers, problem = providers_from_identities(identities, "0f8fad5b-d9cb-469f-a165-70867728950e")

    # Then both ways to sign in are listed, Cognito first
    assert (providers, problem) == (["Cognito", "Google"], None)


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "two@@example.com", "spa ce@example.com"])
def test_an_email_not_shaped_like_an_address_is_left_out_and_named(email: str) -> None:
    # Given Cognito attributes whose email is not shaped like an address
    attributes = {"sub": "u-1", "email": email, "email_verified": "true"}

    # When the profile is built
    profile, rejected = profile_from_cognito("u-1", "u-1", attributes, now=NOW)

    # Then the email is left out, reported by field name without the value
    assert "email" not in profile.fields
    assert [problem.field for problem in rejected] == ["email"]
    assert email not in rejected[0].reason
