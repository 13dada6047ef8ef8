"""Pre-token-generation trigger: the writes a sign-in may make, under moto.

A missing profile is created; IdP-owned fields that changed in Cognito are applied with
one conditional update; a write is made only while the trigger has time for it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from local.support import TABLE, CallRecorder, LambdaContext, handler_for, load_event
from tests.conftest import stored_item
from tests.streams import FakeClock
from triggers.pre_token_generation.sign_in import PreTokenSettings, ProfileStoreUnavailable

handler = handler_for("PreTokenGenerationFunction")
sign_up = handler_for("PostConfirmationFunction")

EMAIL_USER_SIGN_IN = "cognito/pre_token_v1_authentication.json"
GOOGLE_USER_SIGN_IN = "cognito/pre_token_v1_hosted_auth.json"


def context_with_time_left(milliseconds: int) -> LambdaContext:
    """A trigger's invocation with this much time left, on a clock that stands still."""
    return LambdaContext(function_name="PreTokenGenerationFunction", timeout=milliseconds / 1000, clock=FakeClock())


def sub_of(event: dict[str, Any]) -> str:
    return str(event["request"]["userAttributes"]["sub"])


def now_in_microseconds() -> int:
    return time.time_ns() // 1000


def write_budget_ms() -> int:
    """The remaining time, in ms, below which the trigger makes no write (from its default settings)."""
    config = PreTokenSettings(profile_table_name=TABLE)
    return int((config.call_budget_seconds() + config.answer_margin_seconds) * 1000)


def before_the_trigger_calls(operation: str, action: Callable[[], None]) -> None:
    """Run ``action`` once, just before the trigger's next ``operation`` call (a concurrent writer)."""
    session = boto3.DEFAULT_SESSION  # the moto stack's: the trigger's client comes from it
    assert session is not None
    done: list[bool] = []

    def hook(**_: Any) -> None:
        if not done:
            done.append(True)
            action()

    session.events.register(f"before-call.dynamodb.{operation}", hook)


def version_of(table: Any, user_id: str) -> int:
    item = stored_item(table, user_id)
    assert item is not None
    return int(item["version"]["N"])


@pytest.fixture
def email_user(table: Any, lambda_context: Any) -> str:
    """A signed-up email user (jane.doe@example.com, verified) with a plan, as EMAIL_USER_SIGN_IN's user."""
    event = load_event("cognito/post_confirmation_email_sign_up.json")
    sign_up(event, lambda_context)
    table.update_item(
        TableName=TABLE,
        Key={"user_id": {"S": sub_of(event)}},
        UpdateExpression="SET #plan = :p, version = version + :one",
        ExpressionAttributeNames={"#plan": "plan"},
        ExpressionAttributeValues={":p": {"S": "pro"}, ":one": {"N": "1"}},
    )
    return sub_of(event)


@pytest.fixture
def google_user(table: Any, lambda_context: Any) -> str:
    """A signed-up Google user, as GOOGLE_USER_SIGN_IN's user."""
    event = load_event("cognito/post_confirmation_google_sign_up.json")
    sign_up(event, lambda_context)
    return sub_of(event)


def sign_in_with(path: str, **attributes: str) -> dict[str, Any]:
    event = load_event(path)
    event["request"]["userAttributes"].update(attributes)
    return event


# --- a missing profile -----------------------------------------------------------------


def test_missing_profile_created_on_sign_in_is_counted_as_created(
    table: Any, aws_calls: CallRecorder, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a user without a profile (admin-created: no post-confirmation)
    event = load_event(EMAIL_USER_SIGN_IN)

    # When the user signs in
    handler(event, lambda_context)

    # Then the profile was created with one write, and counted as created on sign-in
    assert aws_calls.counts == {"GetItem": 1, "PutItem": 1}
    printed = capsys.readouterr().out
    assert '"ProfileCreatedOnSignIn"' in printed
    assert '"ProfileCreateRaceLost"' not in printed


def test_profile_created_between_read_and_write_is_counted_as_a_lost_race_and_used(
    table: Any, aws_calls: CallRecorder, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a user whose profile another writer creates just after the trigger's read
    event = load_event(EMAIL_USER_SIGN_IN)
    theirs = {
        "user_id": {"S": sub_of(event)},
        "username": {"S": event["userName"]},
        "created_at": {"S": "2026-11-28T03:00:00.000Z"},
        "updated_at": {"S": "2026-11-28T03:00:00.000Z"},
        "version": {"N": str(now_in_microseconds())},
        "schema_version": {"N": "1"},
        "email": {"S": "jane.doe@example.com"},
        "plan": {"S": "team"},
    }
    before_the_trigger_calls("PutItem", lambda: table.put_item(TableName=TABLE, Item=theirs))

    # When the user signs in
    result = handler(event, lambda_context)

    # Then the other writer's profile stands and makes the claims; the race is counted, not a creation
    assert aws_calls.counts == {"GetItem": 1, "PutItem": 1}
    assert stored_item(table, sub_of(event)) == theirs
    assert result["response"]["claimsOverrideDetails"]["claimsToAddOrOverride"]["plan"] == "team"
    printed = capsys.readouterr().out
    assert '"ProfileCreateRaceLost"' in printed
    assert '"ProfileCreatedOnSignIn"' not in printed


# --- versions across lifetimes ---------------------------------------------------------


def test_profile_created_on_sign_in_starts_at_the_creation_time_in_microseconds(
    table: Any, lambda_context: Any
) -> None:
    # Given a user without a profile
    event = load_event(EMAIL_USER_SIGN_IN)

    # When the user signs in
    before = now_in_microseconds()
    handler(event, lambda_context)
    after = now_in_microseconds()

    # Then the new profile's version is the time of its creation
    assert before <= version_of(table, sub_of(event)) <= after


def test_profile_deleted_and_created_again_starts_above_every_earlier_version(table: Any, lambda_context: Any) -> None:
    # Given a profile created on sign-in and changed twice since (two sign-ins with a new email)
    user_id = sub_of(load_event(EMAIL_USER_SIGN_IN))
    handler(load_event(EMAIL_USER_SIGN_IN), lambda_context)
    handler(sign_in_with(EMAIL_USER_SIGN_IN, email="jane.1@example.com"), lambda_context)
    handler(sign_in_with(EMAIL_USER_SIGN_IN, email="jane.2@example.com"), lambda_context)
    last_version = version_of(table, user_id)

    # When the profile is deleted and the user signs in again
    table.delete_item(TableName=TABLE, Key={"user_id": {"S": user_id}})
    handler(load_event(EMAIL_USER_SIGN_IN), lambda_context)

    # Then the new lifetime's version is above every version of the earlier one
    assert version_of(table, user_id) > last_version


# --- IdP-owned fields that changed in Cognito --------------------------------------------


@pytest.mark.parametrize(
    ("attribute", "value", "stored"),
    [
        ("email", "jane.new@example.com", {"email": {"S": "jane.new@example.com"}}),
        ("email_verified", "false", {"email_verified": {"BOOL": False}}),
    ],
    ids=["email", "email_verified"],
)
def test_changed_email_attribute_is_applied_on_sign_in_with_one_read_and_one_update(
    email_user: str,
    table: Any,
    aws_calls: CallRecorder,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
    attribute: str,
    value: str,
    stored: dict[str, Any],
) -> None:
    # Given a user whose email (or its verification) changed in Cognito since the profile was written
    version = version_of(table, email_user)

    # When the user signs in
    result = handler(sign_in_with(EMAIL_USER_SIGN_IN, **{attribute: value}), lambda_context)

    # Then one read and one update; the profile holds the new value at the next version; the token is issued
    assert aws_calls.counts == {"GetItem": 1, "UpdateItem": 1}
    item = stored_item(table, email_user)
    assert item is not None
    assert {name: item[name] for name in stored} == stored
    assert int(item["version"]["N"]) == version + 1
    assert result["response"]["claimsOverrideDetails"]["claimsToAddOrOverride"]["plan"] == "pro"
    assert '"IdpFieldsRefreshed"' in capsys.readouterr().out


def test_linked_provider_is_added_to_the_providers_on_sign_in(
    google_user: str, table: Any, aws_calls: CallRecorder, lambda_context: Any
) -> None:
    # Given a Google user who has since linked Sign in with Apple
    event = load_event(GOOGLE_USER_SIGN_IN)
    identities = json.loads(event["request"]["userAttributes"]["identities"])
    identities.append({"userId": "000412.abc.1132", "providerName": "SignInWithApple", "primary": "false"})
    event["request"]["userAttributes"]["identities"] = json.dumps(identities)

    # When the user signs in
    handler(event, lambda_context)

    # Then one read and one update, and the profile lists both providers
    assert aws_calls.counts == {"GetItem": 1, "UpdateItem": 1}
    item = stored_item(table, google_user)
    assert item is not None
    assert item["providers"]["L"] == [{"S": "Google"}, {"S": "SignInWithApple"}]


def test_unchanged_federated_sign_in_makes_exactly_one_read(
    google_user: str, aws_calls: CallRecorder, lambda_context: Any
) -> None:
    # Given a Google user whose attributes (identities among them) match the profile
    # When the user signs in
    handler(load_event(GOOGLE_USER_SIGN_IN), lambda_context)

    # Then the trigger read once and wrote nothing
    assert aws_calls.counts == {"GetItem": 1}


def test_concurrent_write_between_read_and_update_wins_and_the_token_is_issued(
    email_user: str,
    table: Any,
    aws_calls: CallRecorder,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a new email in Cognito, and another writer changing the profile just after the trigger's read
    def edit_elsewhere() -> None:
        table.update_item(
            TableName=TABLE,
            Key={"user_id": {"S": email_user}},
            UpdateExpression="SET display_name = :n, version = version + :one",
            ExpressionAttributeValues={":n": {"S": "Edited Elsewhere"}, ":one": {"N": "1"}},
        )

    before_the_trigger_calls("UpdateItem", edit_elsewhere)
    event = sign_in_with(EMAIL_USER_SIGN_IN, email="jane.new@example.com")

    # When the user signs in
    result = handler(event, lambda_context)

    # Then the update was refused by its condition: the other write stands, untouched, and the token is issued
    assert aws_calls.counts == {"GetItem": 1, "UpdateItem": 1}
    item = stored_item(table, email_user)
    assert item is not None
    assert item["email"]["S"] == "jane.doe@example.com"
    assert item["display_name"]["S"] == "Edited Elsewhere"
    assert result["response"]["claimsOverrideDetails"]["claimsToAddOrOverride"]["plan"] == "pro"
    assert '"IdpRefreshConflict"' in capsys.readouterr().out


def test_invalid_email_in_cognito_is_not_applied_and_not_logged(
    email_user: str, table: Any, aws_calls: CallRecorder, lambda_context: Any, logs: Callable[[], str]
) -> None:
    # Given an email in Cognito that the field refuses (a bidi override inside it)
    invalid = "jane\u202eZq7Marker@example.com"

    # When the user signs in
    handler(sign_in_with(EMAIL_USER_SIGN_IN, email=invalid), lambda_context)

    # Then nothing is written, and the log names the field but not the value
    assert aws_calls.counts == {"GetItem": 1}
    item = stored_item(table, email_user)
    assert item is not None
    assert item["email"]["S"] == "jane.doe@example.com"
    logged = logs()
    assert "Attribute not applied to the profile" in logged
    assert '"field": "email"' in logged
    assert "Zq7Marker" not in logged


# --- time left for a write ---------------------------------------------------------------


def test_missing_profile_is_not_created_without_time_for_a_write(
    table: Any, aws_calls: CallRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a user without a profile, and less time left than one write may take
    context = context_with_time_left(write_budget_ms() - 100)

    # When the user signs in
    result = handler(load_event(EMAIL_USER_SIGN_IN), context)

    # Then only the read was made, and the token is issued without profile claims (fail-open), counted
    assert aws_calls.counts == {"GetItem": 1}
    assert not result["response"]["claimsOverrideDetails"]["claimsToAddOrOverride"]
    assert '"ProfileStoreOutOfTime"' in capsys.readouterr().out


def test_missing_profile_without_time_for_a_write_refuses_the_sign_in_when_failing_closed(
    table: Any, aws_calls: CallRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given fail-closed, a user without a profile, and less time left than one write may take
    monkeypatch.setenv("ON_STORE_ERROR", "closed")
    context = context_with_time_left(write_budget_ms() - 100)

    # When the user signs in, Then the trigger raises without having tried the write
    with pytest.raises(ProfileStoreUnavailable):
        handler(load_event(EMAIL_USER_SIGN_IN), context)
    assert aws_calls.counts == {"GetItem": 1}


def test_missing_profile_is_created_with_just_enough_time_for_a_write(table: Any, aws_calls: CallRecorder) -> None:
    # Given a user without a profile, and just more time left than one write may take
    context = context_with_time_left(write_budget_ms() + 100)

    # When the user signs in
    handler(load_event(EMAIL_USER_SIGN_IN), context)

    # Then the profile was written
    assert aws_calls.counts == {"GetItem": 1, "PutItem": 1}
    assert stored_item(table, sub_of(load_event(EMAIL_USER_SIGN_IN))) is not None


def test_changed_email_is_left_for_a_later_sign_in_without_time_for_a_write(
    email_user: str, table: Any, aws_calls: CallRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a new email in Cognito, and less time left than one write may take
    context = context_with_time_left(write_budget_ms() - 100)

    # When the user signs in
    result = handler(sign_in_with(EMAIL_USER_SIGN_IN, email="jane.new@example.com"), context)

    # Then no update is tried, and the token still carries the claims of the profile that was read
    assert aws_calls.counts == {"GetItem": 1}
    item = stored_item(table, email_user)
    assert item is not None
    assert item["email"]["S"] == "jane.doe@example.com"
    assert result["response"]["claimsOverrideDetails"]["claimsToAddOrOverride"]["plan"] == "pro"
    assert '"ProfileStoreOutOfTime"' in capsys.readouterr().out
