"""Post-confirmation trigger under moto, through the handler path template.yaml names."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from local.support import TABLE, CallRecorder, handler_for, load_event
from tests.conftest import stored_item

handler = handler_for("PostConfirmationFunction")


def sub_of(event: dict[str, Any]) -> str:
    return str(event["request"]["userAttributes"]["sub"])


def test_email_sign_up_creates_profile_with_one_write_and_no_read(
    table: Any, aws_calls: CallRecorder, lambda_context: Any
) -> None:
    # Given a confirmed email sign-up
    event = load_event("cognito/post_confirmation_email_sign_up.json")

    # When the trigger runs
    before = time.time_ns() // 1000
    result = handler(event, lambda_context)
    after = time.time_ns() // 1000

    # Then it returned the event, wrote once, read nothing, and the profile holds the attributes
    assert result is event
    assert aws_calls.operations == ["PutItem"]
    item = stored_item(table, sub_of(event))
    assert item is not None
    assert item["email"]["S"] == event["request"]["userAttributes"]["email"]
    assert item["email_verified"]["BOOL"] is True
    assert item["providers"]["L"] == [{"S": "Cognito"}]
    assert before <= int(item["version"]["N"]) <= after  # the creation time in microseconds


def test_google_sign_up_records_google_as_provider(table: Any, lambda_context: Any) -> None:
    # Given a Google user's first sign-in
    event = load_event("cognito/post_confirmation_google_sign_up.json")

    # When the trigger runs
    handler(event, lambda_context)

    # Then the profile names Google as the provider and keeps the mapped name
    item = stored_item(table, sub_of(event))
    assert item is not None
    assert item["providers"]["L"] == [{"S": "Google"}]
    assert item["username"]["S"].startswith("Google_")
    assert item["display_name"]["S"] == event["request"]["userAttributes"]["name"]


def test_apple_sign_up_keeps_the_name_sent_only_on_first_authorisation(table: Any, lambda_context: Any) -> None:
    # Given an Apple user's first sign-in, the only time Apple sends the name
    event = load_event("cognito/post_confirmation_apple_sign_up.json")
    attributes = event["request"]["userAttributes"]

    # When the trigger runs
    handler(event, lambda_context)

    # Then the profile keeps the given and family names and derives a display name
    item = stored_item(table, sub_of(event))
    assert item is not None
    assert item["providers"]["L"] == [{"S": "SignInWithApple"}]
    assert item["given_name"]["S"] == attributes["given_name"]
    assert item["family_name"]["S"] == attributes["family_name"]
    assert item["display_name"]["S"]


@pytest.mark.parametrize("client_id", ["CLIENT_ID_NOT_APPLICABLE", None], ids=["cognito", "cognito-local"])
def test_admin_confirm_creates_profile_whatever_the_client_id(
    table: Any, lambda_context: Any, client_id: str | None
) -> None:
    # Given an admin confirmation: Cognito sends no app client id, cognito-local sends null
    event = load_event("cognito/post_confirmation_admin_confirm.json")
    event["callerContext"]["clientId"] = client_id

    # When the trigger runs
    handler(event, lambda_context)

    # Then the profile exists
    assert stored_item(table, sub_of(event)) is not None


def test_repeated_delivery_leaves_the_first_profile_unchanged(
    table: Any, aws_calls: CallRecorder, lambda_context: Any
) -> None:
    # Given a sign-up whose profile was created, then edited
    event = load_event("cognito/post_confirmation_email_sign_up.json")
    handler(event, lambda_context)
    table.update_item(
        TableName=TABLE,
        Key={"user_id": {"S": sub_of(event)}},
        UpdateExpression="SET display_name = :n, version = version + :one",
        ExpressionAttributeValues={":n": {"S": "Edited"}, ":one": {"N": "1"}},
    )
    before = stored_item(table, sub_of(event))
    aws_calls.clear()

    # When Cognito delivers the same trigger twice more
    handler(load_event("cognito/post_confirmation_email_sign_up.json"), lambda_context)
    handler(load_event("cognito/post_confirmation_email_sign_up.json"), lambda_context)

    # Then the item is byte-for-byte what it was, after one conditional write each
    assert stored_item(table, sub_of(event)) == before
    assert aws_calls.operations == ["PutItem", "PutItem"]


def test_concurrent_deliveries_create_exactly_one_profile(table: Any, lambda_context: Any) -> None:
    # Given the same sign-up delivered by eight concurrent invocations
    results: list[Any] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            results.append(handler(load_event("cognito/post_confirmation_email_sign_up.json"), lambda_context))
        except BaseException as exc:  # collected: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(8)]

    # When they all run
    before = time.time_ns() // 1000
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    after = time.time_ns() // 1000

    # Then every invocation returned its event and one profile exists, at its first version
    assert errors == []
    assert len(results) == 8
    items = table.scan(TableName=TABLE)["Items"]
    assert len(items) == 1
    assert before <= int(items[0]["version"]["N"]) <= after


def test_forgot_password_confirmation_leaves_edited_profile_byte_for_byte_unchanged(
    table: Any, aws_calls: CallRecorder, lambda_context: Any
) -> None:
    # Given a profile the user has edited since sign-up
    handler(load_event("cognito/post_confirmation_email_sign_up.json"), lambda_context)
    forgot = load_event("cognito/post_confirmation_forgot_password.json")
    user_id = sub_of(forgot)
    table.update_item(
        TableName=TABLE,
        Key={"user_id": {"S": user_id}},
        UpdateExpression="SET display_name = :n, locale = :l",
        ExpressionAttributeValues={":n": {"S": "Edited Name"}, ":l": {"S": "fr-FR"}},
    )
    before = stored_item(table, user_id)
    aws_calls.clear()

    # When the user confirms a forgotten password
    result = handler(forgot, lambda_context)

    # Then nothing was called and the item is exactly as it was
    assert result is forgot
    assert aws_calls.operations == []
    assert stored_item(table, user_id) == before


def test_unknown_trigger_source_is_returned_unchanged(table: Any, aws_calls: CallRecorder, lambda_context: Any) -> None:
    # Given an event with a trigger source the function does not handle
    event = load_event("cognito/post_confirmation_email_sign_up.json")
    event["triggerSource"] = "PostConfirmation_SomethingNew"
    snapshot = load_event("cognito/post_confirmation_email_sign_up.json")
    snapshot["triggerSource"] = "PostConfirmation_SomethingNew"

    # When the trigger runs
    result = handler(event, lambda_context)

    # Then the event comes back as it was and nothing was written
    assert result == snapshot
    assert aws_calls.operations == []


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("name", "Mallory\x00\x1b[31m"),
        ("given_name", "x" * 10_240),
        ("locale", "en-US\n"),
        ("picture", "javascript:alert(1)"),
    ],
)
def test_hostile_attribute_is_left_out_and_the_rest_is_kept(
    table: Any, lambda_context: Any, logs: Callable[[], str], attribute: str, value: str
) -> None:
    # Given a sign-up with one hostile attribute value
    event = load_event("cognito/post_confirmation_email_sign_up.json")
    event["request"]["userAttributes"][attribute] = value

    # When the trigger runs
    handler(event, lambda_context)

    # Then the profile exists without that value, and the log names the field but not the value
    item = stored_item(table, sub_of(event))
    assert item is not None
    assert item["email"]["S"] == event["request"]["userAttributes"]["email"]
    assert all(value not in str(stored) for stored in item.values())
    logged = logs()
    assert "Attribute left out of the profile" in logged
    assert attribute.replace("name", "") in logged  # the field is named (display_name for name)
    assert value not in logged


def test_admin_owned_attribute_in_the_event_is_ignored(table: Any, lambda_context: Any) -> None:
    # Given a sign-up whose attributes claim an admin-owned plan and tenant
    event = load_event("cognito/post_confirmation_email_sign_up.json")
    event["request"]["userAttributes"].update({"custom:plan": "enterprise", "custom:tenant_id": "acme"})

    # When the trigger runs
    handler(event, lambda_context)

    # Then the profile holds neither
    item = stored_item(table, sub_of(event))
    assert item is not None
    assert "plan" not in item
    assert "tenant_id" not in item


def test_pii_never_reaches_the_logs(table: Any, lambda_context: Any, logs: Callable[[], str]) -> None:
    # Given a sign-up with an email address and a name
    event = load_event("cognito/post_confirmation_google_sign_up.json")
    attributes = event["request"]["userAttributes"]

    # When the trigger runs
    handler(event, lambda_context)

    # Then neither the email nor the name appears in what the function logged
    logged = logs()
    assert "Profile created" in logged
    assert attributes["email"] not in logged
    assert attributes["name"] not in logged


def test_a_resent_write_that_had_succeeded_counts_as_the_creation(table: Any) -> None:
    # Given a profile whose PutItem reached the table but whose answer was lost (botocore resends it)
    from shared.profile import Profile, first_version
    from shared.repository import ProfileRepository

    repository = ProfileRepository(table, TABLE)
    profile = Profile("u-1", "name-1", "2026-11-28T00:00:00.000Z", "2026-11-28T00:00:00.000Z", version=first_version())
    repository.create_if_absent(profile)

    # When the same write is made again, and when another writer's profile is met
    _, ours = repository.create_if_absent(profile)
    other = Profile("u-1", "name-1", "2026-11-28T00:00:01.000Z", "2026-11-28T00:00:01.000Z", version=first_version())
    _, theirs = repository.create_if_absent(other)

    # Then the resend counts as created (not a lost race), and the other writer's does not
    assert (ours, theirs) == (True, False)


def test_a_resent_update_that_had_succeeded_returns_the_profile_not_a_conflict(table: Any) -> None:
    # Given a conditional update that reached the table but whose answer was lost
    from shared.profile import Profile
    from shared.repository import ProfileRepository, VersionConflict

    repository = ProfileRepository(table, TABLE)
    repository.create_if_absent(Profile("u-1", "name-1", "t", "t", fields={"plan": "free"}, version=7))
    repository.update("u-1", {"plan": "pro", "locale": None}, expected_version=7)

    # When botocore resends it, and when another change meets the same condition
    resent = repository.update("u-1", {"plan": "pro", "locale": None}, expected_version=7)
    with pytest.raises(VersionConflict):
        repository.update("u-1", {"plan": "team"}, expected_version=7)

    # Then the resend is recognised as the write that succeeded; the other is a conflict
    assert (resent.version, resent.fields["plan"]) == (8, "pro")
