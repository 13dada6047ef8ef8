"""Pre-token-generation trigger under moto, and against a table that cannot answer."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shared.claims import is_forbidden
from shared.triggers import ProfileStoreUnavailable
from tests.conftest import TABLE, CallLog, handler_for, load_event, stored_item

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
def existing_profile(table: Any, lambda_context: Any) -> str:
    """A signed-up user with admin-owned fields set, as the V1 authentication event's user."""
    event = load_event("cognito/post_confirmation_email_sign_up.json")
    sign_up(event, lambda_context)
    give_admin_fields(table, sub_of(event))
    return sub_of(event)


def test_v1_event_with_profile_reads_once_and_adds_string_claims(
    existing_profile: str, aws_calls: CallLog, lambda_context: Any
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
    existing_profile: str, aws_calls: CallLog, lambda_context: Any
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


def test_missing_profile_is_created_from_the_event(table: Any, aws_calls: CallLog, lambda_context: Any) -> None:
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


def test_machine_to_machine_event_is_returned_untouched(table: Any, aws_calls: CallLog, lambda_context: Any) -> None:
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
