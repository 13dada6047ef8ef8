"""Pre-token-generation trigger under moto, and against a table that cannot answer."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.support import TABLE, CallRecorder, handler_for, load_event
from shared import settings
from tests.conftest import stored_item
from triggers.pre_token_generation.claims import is_forbidden
from triggers.pre_token_generation.sign_in import ProfileStoreUnavailable

handler = handler_for("PreTokenGenerationFunction")
sign_up = handler_for("PostConfirmationFunction")


def sub_of(event: dict[str, Any]) -> str:
    return str(event["request"]["userAttributes"]["sub"])


def give_admin_fields(table: Any, user_id: str) -> None:
    table.update_item(
        TableName=TABLE,
        Key={"user_id": {"S": user_id}},
        UpdateExpression="SET #plan = :p, #roles = :r, locale = :l",
        ExpressionAttributeNames={"#plan": "plan", "#roles": "roles"},
        ExpressionAttributeValues={
            ":p": {"S": "pro"},
            ":r": {"L": [{"S": "admin"}, {"S": "editor"}]},
            ":l": {"S": "de-DE"},
        },
    )


@pytest.fixture
def signed_up(table: Any, lambda_context: Any) -> str:
    """A user with the profile sign-up gave them (email and locale), as the authentication events' user."""
    event = load_event("cognito/post_confirmation_email_sign_up.json")
    sign_up(event, lambda_context)
    return sub_of(event)


@pytest.fixture
def existing_profile(signed_up: str, table: Any) -> str:
    """A signed-up user with admin-owned fields set, as the authentication events' user."""
    give_admin_fields(table, signed_up)
    return signed_up


def set_fields(table: Any, user_id: str, **values: dict[str, Any]) -> None:
    """Set stored attributes (DynamoDB-typed) on a profile item, as a console edit or a script would."""
    names = {f"#a{index}": name for index, name in enumerate(values)}
    table.update_item(
        TableName=TABLE,
        Key={"user_id": {"S": user_id}},
        UpdateExpression="SET " + ", ".join(f"#a{index} = :v{index}" for index in range(len(values))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":v{index}": value for index, value in enumerate(values.values())},
    )


def test_v1_event_with_profile_reads_once_and_adds_string_claims(
    existing_profile: str, aws_calls: CallRecorder, lambda_context: Any
) -> None:
    # Given a V1 authentication event for a user with a profile
    event = load_event("cognito/pre_token_v1_authentication.json")
    assert sub_of(event) == existing_profile

    # When the trigger runs
    result = handler(event, lambda_context)

    # Then one read, no write, and the ID token gets the profile claims as strings
    assert aws_calls.counts == {"GetItem": 1}
    claims = result["response"]["claimsOverrideDetails"]["claimsToAddOrOverride"]
    assert claims["plan"] == "pro"
    assert json.loads(claims["roles"]) == ["admin", "editor"]
    assert claims["locale"] == "de-DE"
    assert all(isinstance(value, str) for value in claims.values())


def test_v2_event_adds_typed_claims_to_both_tokens(
    existing_profile: str, aws_calls: CallRecorder, lambda_context: Any
) -> None:
    # Given a V2 event for the same user
    event = load_event("cognito/pre_token_v2_authentication.json")
    assert sub_of(event) == existing_profile

    # When the trigger runs
    result = handler(event, lambda_context)

    # Then one read, and ID and access tokens get JSON-typed claims per the map
    assert aws_calls.counts == {"GetItem": 1}
    details = result["response"]["claimsAndScopeOverrideDetails"]
    id_claims = details["idTokenGeneration"]["claimsToAddOrOverride"]
    access_claims = details["accessTokenGeneration"]["claimsToAddOrOverride"]
    assert id_claims["roles"] == ["admin", "editor"]
    assert access_claims["roles"] == ["admin", "editor"]
    assert id_claims["locale"] == "de-DE"
    assert "locale" not in access_claims  # the map gives locale to the ID token only


def test_existing_response_overrides_are_kept(existing_profile: str, lambda_context: Any) -> None:
    # Given a V2 event whose response already carries an override from another source
    event = load_event("cognito/pre_token_v2_authentication.json")
    event["response"]["claimsAndScopeOverrideDetails"] = {
        "accessTokenGeneration": {"scopesToAdd": ["profile/read"]},
        "groupOverrideDetails": {"groupsToOverride": ["g"]},
    }

    # When the trigger runs
    result = handler(event, lambda_context)

    # Then the earlier overrides survive beside the profile claims
    details = result["response"]["claimsAndScopeOverrideDetails"]
    assert details["accessTokenGeneration"]["scopesToAdd"] == ["profile/read"]
    assert details["groupOverrideDetails"] == {"groupsToOverride": ["g"]}
    assert details["accessTokenGeneration"]["claimsToAddOrOverride"]["plan"] == "pro"


def test_missing_profile_is_created_from_the_event(table: Any, aws_calls: CallRecorder, lambda_context: Any) -> None:
    # Given an admin-created user who never fired post-confirmation
    event = load_event("cognito/pre_token_v1_authentication.json")

    # When the user signs in
    result = handler(event, lambda_context)

    # Then the profile is created from the event's attributes: one read, one write
    assert aws_calls.counts == {"GetItem": 1, "PutItem": 1}
    item = stored_item(table, sub_of(event))
    assert item is not None
    assert item["email"]["S"] == event["request"]["userAttributes"]["email"]
    assert "claimsOverrideDetails" in result["response"]


def test_machine_to_machine_event_is_returned_untouched(
    table: Any, aws_calls: CallRecorder, lambda_context: Any
) -> None:
    # Given a V3 client-credentials event (no user)
    event = load_event("cognito/pre_token_v3_client_credentials.json")
    snapshot = load_event("cognito/pre_token_v3_client_credentials.json")

    # When the trigger runs
    result = handler(event, lambda_context)

    # Then nothing is read and the event is unchanged
    assert aws_calls.operations == []
    assert result == snapshot


def test_reserved_claim_names_stored_in_the_profile_never_become_claims(
    existing_profile: str, table: Any, lambda_context: Any
) -> None:
    # Given a profile item that somehow holds attributes named like reserved claims
    table.update_item(
        TableName=TABLE,
        Key={"user_id": {"S": existing_profile}},
        UpdateExpression="SET #sub = :x, #aud = :x, #grp = :x, #exp = :x",
        ExpressionAttributeNames={"#sub": "sub", "#aud": "aud", "#grp": "cognito:groups", "#exp": "exp"},
        ExpressionAttributeValues={":x": {"S": "attacker"}},
    )

    # When tokens are generated, V1 and V2
    v1 = handler(load_event("cognito/pre_token_v1_authentication.json"), lambda_context)
    v2 = handler(load_event("cognito/pre_token_v2_authentication.json"), lambda_context)

    # Then no emitted claim is one Cognito forbids, and the stored values went nowhere
    emitted = [
        v1["response"]["claimsOverrideDetails"]["claimsToAddOrOverride"],
        v2["response"]["claimsAndScopeOverrideDetails"]["idTokenGeneration"]["claimsToAddOrOverride"],
        v2["response"]["claimsAndScopeOverrideDetails"]["accessTokenGeneration"]["claimsToAddOrOverride"],
    ]
    for claims in emitted:
        assert not [name for name in claims if is_forbidden(name)]
        assert "attacker" not in json.dumps(claims)


def test_oversized_profile_drops_claims_and_reports_a_metric(
    existing_profile: str,
    table: Any,
    lambda_context: Any,
    logs: Callable[[], str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a small claims budget and a profile with many roles
    monkeypatch.setenv("CLAIMS_BUDGET_BYTES", "120")
    settings.load.cache_clear()  # the sign-up in the fixture loaded the triggers' settings already
    table.update_item(
        TableName=TABLE,
        Key={"user_id": {"S": existing_profile}},
        UpdateExpression="SET #roles = :r",
        ExpressionAttributeNames={"#roles": "roles"},
        ExpressionAttributeValues={":r": {"L": [{"S": f"role-{n:02d}"} for n in range(20)]}},
    )

    # When the trigger runs
    result = handler(load_event("cognito/pre_token_v1_authentication.json"), lambda_context)

    # Then the claims fit the budget and the drop was logged and counted
    claims = result["response"]["claimsOverrideDetails"]["claimsToAddOrOverride"]
    assert len(json.dumps(claims, separators=(",", ":")).encode()) <= 120
    assert "Claims dropped to fit the size budget" in logs()
    assert '"ClaimsDropped"' in capsys.readouterr().out  # the EMF metric line


def test_v1_event_carrying_v2_fields_is_answered_as_v1_with_a_warning(
    existing_profile: str, lambda_context: Any, logs: Callable[[], str]
) -> None:
    # Given an event that says version 1 but carries V2's scopes (a misconfigured pool or emulator)
    event = load_event("cognito/pre_token_v1_authentication.json")
    event["request"]["scopes"] = ["aws.cognito.signin.user.admin"]

    # When the trigger runs
    result = handler(event, lambda_context)

    # Then it is answered as V1, and the mismatch is logged
    assert set(result["response"]) == {"claimsOverrideDetails"}
    assert result["response"]["claimsOverrideDetails"]["claimsToAddOrOverride"]["plan"] == "pro"
    assert "carries V2 fields but is not version 2 or 3" in logs()


# --- Cognito's own attributes in the ID token ----------------------------------------

ID_TOKEN_SECTIONS: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "v1": ("cognito/pre_token_v1_authentication.json", lambda result: result["response"]["claimsOverrideDetails"]),
    "v2": (
        "cognito/pre_token_v2_authentication.json",
        lambda result: result["response"]["claimsAndScopeOverrideDetails"]["idTokenGeneration"],
    ),
}
# Cognito attributes a user (or, for custom:plan, a misconfigured client) could have written.
WRITTEN_IN_COGNITO = [
    ("picture", "javascript:alert(1)"),
    ("given_name", "Mallory"),
    ("family_name", "Mallory"),
    ("custom:plan", "enterprise"),
]


@pytest.mark.parametrize("version", ID_TOKEN_SECTIONS)
@pytest.mark.parametrize(("attribute", "written"), WRITTEN_IN_COGNITO)
def test_attribute_written_in_cognito_is_suppressed_when_the_profile_has_none(
    signed_up: str, lambda_context: Any, version: str, attribute: str, written: str
) -> None:
    # Given a profile without the field, and a value for its attribute in Cognito
    path, id_token = ID_TOKEN_SECTIONS[version]
    event = load_event(path)
    event["request"]["userAttributes"][attribute] = written

    # When the trigger runs
    result = handler(event, lambda_context)

    # Then the ID token suppresses the attribute and never adds it
    section = id_token(result)
    assert attribute in section["claimsToSuppress"]
    assert attribute not in section["claimsToAddOrOverride"]
    assert written not in json.dumps(result["response"])


PROFILE_VALUES = {
    "picture": ("picture", "https://example.com/jane.png"),
    "given_name": ("given_name", "Jane"),
    "family_name": ("family_name", "Doe"),
    "custom:plan": ("plan", "pro"),
}


@pytest.mark.parametrize("version", ID_TOKEN_SECTIONS)
@pytest.mark.parametrize(("attribute", "written"), WRITTEN_IN_COGNITO)
def test_attribute_written_in_cognito_is_overridden_with_the_profile_value(
    signed_up: str, table: Any, lambda_context: Any, version: str, attribute: str, written: str
) -> None:
    # Given a profile holding the field, and another value for its attribute in Cognito
    field, value = PROFILE_VALUES[attribute]
    set_fields(table, signed_up, **{field: {"S": value}})
    path, id_token = ID_TOKEN_SECTIONS[version]
    event = load_event(path)
    event["request"]["userAttributes"][attribute] = written

    # When the trigger runs
    result = handler(event, lambda_context)

    # Then the ID token states the profile's value, as a string, and does not suppress it
    section = id_token(result)
    assert section["claimsToAddOrOverride"][attribute] == value
    assert attribute not in section.get("claimsToSuppress", [])


@pytest.mark.parametrize("version", ID_TOKEN_SECTIONS)
def test_no_claim_is_both_added_and_suppressed(existing_profile: str, lambda_context: Any, version: str) -> None:
    # Given a user whose Cognito attributes hold values for every field the profile lacks
    path, id_token = ID_TOKEN_SECTIONS[version]
    event = load_event(path)
    event["request"]["userAttributes"].update(dict(WRITTEN_IN_COGNITO))

    # When the trigger runs
    section = id_token(handler(event, lambda_context))

    # Then the profile's claims and the suppressed ones are apart, and both are there
    assert section["claimsToSuppress"]
    assert section["claimsToAddOrOverride"]
    assert set(section["claimsToAddOrOverride"]).isdisjoint(section["claimsToSuppress"])


def test_earlier_override_of_an_attribute_the_profile_lacks_is_suppressed_not_kept(
    signed_up: str, lambda_context: Any
) -> None:
    # Given a V1 response that already overrides picture (the profile has none)
    event = load_event("cognito/pre_token_v1_authentication.json")
    event["response"]["claimsOverrideDetails"] = {"claimsToAddOrOverride": {"picture": "javascript:alert(1)"}}

    # When the trigger runs
    details = handler(event, lambda_context)["response"]["claimsOverrideDetails"]

    # Then picture is suppressed and no longer added
    assert "picture" in details["claimsToSuppress"]
    assert "picture" not in details["claimsToAddOrOverride"]


def test_access_token_gets_no_suppressed_claims(existing_profile: str, lambda_context: Any) -> None:
    # Given a V2 event for a user whose profile lacks a picture that Cognito holds
    event = load_event("cognito/pre_token_v2_authentication.json")
    event["request"]["userAttributes"]["picture"] = "javascript:alert(1)"

    # When the trigger runs
    details = handler(event, lambda_context)["response"]["claimsAndScopeOverrideDetails"]

    # Then only the ID token suppresses: the access token carries no user attributes to suppress
    assert details["idTokenGeneration"]["claimsToSuppress"]
    assert "claimsToSuppress" not in details["accessTokenGeneration"]
    assert details["accessTokenGeneration"]["claimsToAddOrOverride"]


# --- the table cannot answer ---------------------------------------------------------


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def hanging_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield int(server.getsockname()[1])
    server.close()


@pytest.mark.parametrize("endpoint", ["closed_port", "hanging_port"])
def test_unreachable_table_issues_token_without_claims_within_3_seconds(
    aws_env: None,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    lambda_context: Any,
    logs: Callable[[], str],
    capsys: pytest.CaptureFixture[str],
    endpoint: str,
) -> None:
    # Given a table endpoint that refuses connections or never answers
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{request.getfixturevalue(endpoint)}")
    event = load_event("cognito/pre_token_v1_authentication.json")

    # When the trigger runs (fail-open is the default)
    started = time.monotonic()
    result = handler(event, lambda_context)
    elapsed = time.monotonic() - started

    # Then it returned well inside Cognito's 5 s, without claims, with a warning and a metric
    assert elapsed < 3.0
    assert not (result["response"].get("claimsOverrideDetails") or {}).get("claimsToAddOrOverride")
    assert "Profile store unavailable" in logs()
    assert '"ProfileStoreUnavailable"' in capsys.readouterr().out


def test_fail_closed_refuses_the_sign_in_when_the_table_is_unreachable(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, closed_port: int, lambda_context: Any
) -> None:
    # Given fail-closed and a table endpoint that refuses connections
    monkeypatch.setenv("ON_STORE_ERROR", "closed")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{closed_port}")

    # When the trigger runs, Then it raises so Cognito refuses the sign-in
    with pytest.raises(ProfileStoreUnavailable):
        handler(load_event("cognito/pre_token_v1_authentication.json"), lambda_context)


def test_missing_table_setting_names_the_variable(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    # Given a deployment without PROFILE_TABLE_NAME
    monkeypatch.delenv("PROFILE_TABLE_NAME")

    # When the trigger runs, Then the error names the missing variable
    with pytest.raises(RuntimeError, match="PROFILE_TABLE_NAME"):
        handler(load_event("cognito/pre_token_v1_authentication.json"), lambda_context)


def test_token_issued_without_a_profile_suppresses_the_attributes_the_profile_owns(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, closed_port: int, lambda_context: Any
) -> None:
    # Given an unreachable table (fail-open) and a picture the user wrote in Cognito
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{closed_port}")
    event = load_event("cognito/pre_token_v1_authentication.json")
    event["request"]["userAttributes"]["picture"] = "javascript:alert(1)"

    # When the trigger runs
    details = handler(event, lambda_context)["response"]["claimsOverrideDetails"]

    # Then the ID token states none of the profile's attributes: Cognito's copies are unchecked
    assert not details["claimsToAddOrOverride"]
    assert {"picture", "name", "locale", "custom:plan"} <= set(details["claimsToSuppress"])


# --- a stored item this code cannot read ---------------------------------------------

UNREADABLE = {
    "binary-picture": ("picture", {"B": b"Zq7Marker"}),
    "text-version": ("version", {"S": "Zq7Marker"}),
    "number-for-locale": ("locale", {"N": "4242424242"}),
}


@pytest.mark.parametrize(("attribute", "stored"), UNREADABLE.values(), ids=UNREADABLE)
def test_unreadable_profile_issues_the_token_without_claims_naming_the_attribute_not_the_value(
    existing_profile: str,
    table: Any,
    lambda_context: Any,
    logs: Callable[[], str],
    capsys: pytest.CaptureFixture[str],
    attribute: str,
    stored: dict[str, Any],
) -> None:
    # Given a profile item with one attribute written outside this code (fail-open is the default)
    set_fields(table, existing_profile, **{attribute: stored})
    capsys.readouterr()  # what the sign-up printed

    # When the user signs in
    result = handler(load_event("cognito/pre_token_v1_authentication.json"), lambda_context)

    # Then the token has no profile claims; the log names the attribute, never the value; a metric counts it
    assert not result["response"]["claimsOverrideDetails"]["claimsToAddOrOverride"]
    logged, printed = logs(), capsys.readouterr().out
    assert "Stored profile cannot be read" in logged
    assert f'"attribute": "{attribute}"' in logged
    for text in (logged, printed):
        assert "Zq7Marker" not in text
        assert "WnE3TWFya2Vy" not in text  # the marker in base64, as DynamoDB carries binary
        assert "4242424242" not in text
    assert '"ProfileUndecodable"' in printed


@pytest.mark.parametrize(("attribute", "stored"), UNREADABLE.values(), ids=UNREADABLE)
def test_unreadable_profile_refuses_the_sign_in_when_failing_closed(
    existing_profile: str,
    table: Any,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
    attribute: str,
    stored: dict[str, Any],
) -> None:
    # Given fail-closed and a profile item with one attribute written outside this code
    monkeypatch.setenv("ON_STORE_ERROR", "closed")
    settings.load.cache_clear()  # the sign-up in the fixture loaded the triggers' settings already
    set_fields(table, existing_profile, **{attribute: stored})

    # When the user signs in, Then the trigger raises so Cognito refuses the sign-in
    with pytest.raises(ProfileStoreUnavailable):
        handler(load_event("cognito/pre_token_v1_authentication.json"), lambda_context)
