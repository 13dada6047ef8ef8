"""sync_cognito under moto: stream records from real writes, a user pool built from template.yaml."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from local.support import TABLE, LambdaContext, MotoStack, deliver
from shared.profile import Profile
from shared.streams import Deadline
from stream_handlers.sync_cognito.app import handler
from stream_handlers.sync_cognito.sync import CognitoSync, SyncSettings, TokenBucket
from tests.streams import FakeClock, short_invocation

NOW = "2026-11-28T00:00:00.000Z"


def given_user(stack: MotoStack, user_id: str, cognito_user: bool = True, **fields: Any) -> list[dict[str, Any]]:
    """A profile (and its Cognito user); returns the stream records of its creation."""
    if cognito_user:
        boto3.client("cognito-idp").admin_create_user(UserPoolId=stack.user_pool_id, Username=f"name-{user_id}")
    profile = Profile(user_id=user_id, username=f"name-{user_id}", created_at=NOW, updated_at=NOW, fields=fields)
    stack.repository.create_if_absent(profile)
    return stack.stream.read()


def cognito_attributes(stack: MotoStack, user_id: str) -> dict[str, str]:
    user = boto3.client("cognito-idp").admin_get_user(UserPoolId=stack.user_pool_id, Username=f"name-{user_id}")
    return {attribute["Name"]: attribute["Value"] for attribute in user["UserAttributes"]}


def invoke(stack: MotoStack) -> dict[str, Any]:
    records = stack.stream.read()
    stack.calls.clear()
    response: dict[str, Any] = handler({"Records": records}, short_invocation())
    return response


def cognito_answers(*codes: str) -> list[str]:
    """Make Cognito answer its next calls with these error codes ("" lets a call through)."""
    pending = list(codes)

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        code = pending.pop(0) if pending else ""
        if not code:
            return None
        error = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": 400}}
        return AWSResponse("https://cognito-idp.us-east-1.amazonaws.com/", 400, {}, None), error

    boto3.DEFAULT_SESSION.events.register("before-call.cognito-identity-provider", answer)
    return pending


def syncer(stack: MotoStack, clock: FakeClock, rate: float = 10.0, wall_clock: float = 0.0) -> CognitoSync:
    """The sync with the deployed settings, in a 60 s invocation whose time passes only in its sleeps."""
    config = SyncSettings(user_pool_id=stack.user_pool_id, dead_letter_queue_url=stack.dead_letter_queue_url)
    return CognitoSync(
        config,
        boto3.client("cognito-idp"),
        lambda: boto3.client("sqs"),
        TokenBucket(rate, clock=clock, sleep=clock.sleep),
        Deadline(LambdaContext(timeout=60, clock=clock), config.answer_margin_seconds),
        sleep=clock.sleep,
        wall_clock=lambda: wall_clock or time.time(),
    )


def test_a_synced_change_makes_exactly_one_update_call(stack: MotoStack) -> None:
    # Given a user whose plan (a synced field) changes
    given_user(stack, "u1", plan="free")
    stack.repository.update("u1", {"plan": "pro"}, expected_version=1)

    # When the batch is handled
    response = invoke(stack)

    # Then one AdminUpdateUserAttributes call writes that attribute alone
    calls = stack.calls.of("AdminUpdateUserAttributes")
    assert response == {"batchItemFailures": []}
    assert [call["UserAttributes"] for call in calls] == [[{"Name": "custom:plan", "Value": "pro"}]]
    assert cognito_attributes(stack, "u1")["custom:plan"] == "pro"


def test_a_non_synced_change_makes_no_cognito_call(stack: MotoStack) -> None:
    # Given a user whose roles and given name (not synced) change
    given_user(stack, "u1", roles=["reader"])
    stack.repository.update("u1", {"roles": ["admin"], "given_name": "Ada"}, expected_version=1)

    # When the batch is handled
    invoke(stack)

    # Then Cognito is not called
    assert stack.calls.made == []


def test_a_users_changes_in_a_batch_coalesce_to_one_call_with_the_latest_values(stack: MotoStack) -> None:
    # Given three updates of one user in one batch
    given_user(stack, "u1", plan="free")
    stack.repository.update("u1", {"plan": "pro"}, expected_version=1)
    stack.repository.update("u1", {"locale": "fr-FR"}, expected_version=2)
    stack.repository.update("u1", {"plan": "team"}, expected_version=3)

    # When the batch is handled
    invoke(stack)

    # Then one call carries the latest value of each changed attribute
    calls = stack.calls.of("AdminUpdateUserAttributes")
    assert len(calls) == 1
    assert sorted(calls[0]["UserAttributes"], key=lambda attribute: attribute["Name"]) == [
        {"Name": "custom:plan", "Value": "team"},
        {"Name": "locale", "Value": "fr-FR"},
    ]


def test_a_change_reverted_within_the_batch_makes_no_call(stack: MotoStack) -> None:
    # Given a plan changed and changed back in one batch
    given_user(stack, "u1", plan="free")
    stack.repository.update("u1", {"plan": "pro"}, expected_version=1)
    stack.repository.update("u1", {"plan": "free"}, expected_version=2)

    # When the batch is handled
    invoke(stack)

    # Then Cognito already holds the value: no call
    assert stack.calls.made == []


def test_email_is_never_written_to_cognito(stack: MotoStack) -> None:
    # Given a user whose email, email_verified and display name change
    given_user(stack, "u1", email="a@example.com", email_verified=True, display_name="Ada")
    stack.repository.update(
        "u1", {"email": "b@example.com", "email_verified": False, "display_name": "Ada L"}, expected_version=1
    )

    # When the batch is handled
    invoke(stack)

    # Then only the synced display name is written
    calls = stack.calls.of("AdminUpdateUserAttributes")
    assert [call["UserAttributes"] for call in calls] == [[{"Name": "name", "Value": "Ada L"}]]


def test_a_removed_synced_field_is_deleted_from_cognito(stack: MotoStack) -> None:
    # Given a user whose locale (synced) is removed from the profile
    given_user(stack, "u1", locale="en-GB")
    stack.repository.update("u1", {"locale": None}, expected_version=1)

    # When the batch is handled
    invoke(stack)

    # Then the attribute is deleted, and nothing is updated
    assert [call["UserAttributeNames"] for call in stack.calls.of("AdminDeleteUserAttributes")] == [["locale"]]
    assert stack.calls.of("AdminUpdateUserAttributes") == []


def test_a_missing_cognito_user_is_not_a_failure(stack: MotoStack) -> None:
    # Given a profile whose Cognito user no longer exists
    given_user(stack, "u1", cognito_user=False, plan="free")
    stack.repository.update("u1", {"plan": "pro"}, expected_version=1)

    # When the batch is handled
    response = invoke(stack)

    # Then the batch succeeds and nothing is parked
    assert response == {"batchItemFailures": []}
    assert stack.dead_letters() == []


def test_throttling_is_retried(stack: MotoStack) -> None:
    # Given Cognito throttling the first two calls
    given_user(stack, "u1", plan="free")
    stack.repository.update("u1", {"plan": "pro"}, expected_version=1)
    cognito_answers("TooManyRequestsException", "TooManyRequestsException")

    # When the batch is handled
    response = invoke(stack)

    # Then the third attempt writes the attribute
    assert response == {"batchItemFailures": []}
    assert len(stack.calls.of("AdminUpdateUserAttributes")) == 3
    assert cognito_attributes(stack, "u1")["custom:plan"] == "pro"


def test_persistent_throttling_is_retried_until_the_deadline_then_reports_the_users_first_record(
    stack: MotoStack,
) -> None:
    # Given two users' changes, and Cognito throttling every call after the first
    given_user(stack, "u1", plan="free")
    given_user(stack, "u2", plan="free")
    stack.repository.update("u1", {"plan": "pro"}, expected_version=1)
    stack.repository.update("u2", {"plan": "pro"}, expected_version=1)
    records = stack.stream.read()
    cognito_answers("", *["TooManyRequestsException"] * 1000)
    stack.calls.clear()
    clock = FakeClock()

    # When the batch is handled in a 60 s invocation
    result = syncer(stack, clock).sync(records)

    # Then the second user's call was retried with backoff while time allowed, and its record is reported
    config = SyncSettings(user_pool_id="p", dead_letter_queue_url="q")
    assert result.response() == {"batchItemFailures": [{"itemIdentifier": records[1]["dynamodb"]["SequenceNumber"]}]}
    assert len(stack.calls.of("AdminUpdateUserAttributes")) >= 1 + 5
    assert clock.now <= 60 - config.answer_margin_seconds - config.call_seconds()
    assert stack.dead_letters() == []


def test_the_sync_never_touches_the_profile_table(stack: MotoStack) -> None:
    # Given synced changes of several users
    for index in range(5):
        given_user(stack, f"u{index}", plan="free")
    for index in range(5):
        stack.repository.update(f"u{index}", {"plan": "pro", "locale": "de"}, expected_version=1)

    # When the batch is handled
    invoke(stack)

    # Then only Cognito was called, once per user
    assert stack.calls.services() == {"cognito-idp"}
    assert len(stack.calls.made) == 5


def test_a_value_cognito_refuses_goes_to_the_dead_letter_queue(stack: MotoStack) -> None:
    # Given Cognito refusing a user's new value for good, then a second user's change
    given_user(stack, "u1", plan="free")
    given_user(stack, "u2", plan="free")
    stack.repository.update("u1", {"plan": "pro"}, expected_version=1)
    stack.repository.update("u2", {"plan": "pro"}, expected_version=1)
    cognito_answers("InvalidParameterException")

    # When the batch is handled
    response = invoke(stack)

    # Then the refused change is parked and the other user is synced
    assert response == {"batchItemFailures": []}
    assert [letter["Keys"] for letter in stack.dead_letters()] == [{"user_id": {"S": "u1"}}]
    assert cognito_attributes(stack, "u2")["custom:plan"] == "pro"


def test_a_poison_record_goes_to_the_dead_letter_queue(stack: MotoStack) -> None:
    # Given a batch whose first record cannot be decoded, then a good change
    given_user(stack, "u1", plan="free")
    stack.repository.update("u1", {"plan": "pro"}, expected_version=1)
    stack.repository.update("u1", {"plan": "team"}, expected_version=2)
    records = stack.stream.read()
    del records[0]["dynamodb"]["NewImage"]["version"]

    # When the batch is handled
    response = handler({"Records": records}, short_invocation())

    # Then the poison record is parked and the good change synced
    assert response == {"batchItemFailures": []}
    assert [letter["SequenceNumber"] for letter in stack.dead_letters()] == [records[0]["dynamodb"]["SequenceNumber"]]
    assert cognito_attributes(stack, "u1")["custom:plan"] == "team"


def test_a_deployment_error_is_retried_with_backoff_not_parked(stack: MotoStack) -> None:
    # Given Cognito denying access (a missing permission, say) on every call
    given_user(stack, "u1", plan="free")
    stack.repository.update("u1", {"plan": "pro"}, expected_version=1)
    records = stack.stream.read()
    cognito_answers(*["AccessDeniedException"] * 1000)
    clock = FakeClock()

    # When Lambda keeps invoking the function (60 s invocations on one clock)
    invocations = deliver(
        lambda event: syncer(stack, clock).sync(event["Records"]).response(),
        records,
        "SyncCognitoFunction",
        max_invocations=3,
    )

    # Then each invocation backed off until its deadline, the record stays reported, nothing is parked
    assert invocations == 3
    assert clock.now >= 3 * 40
    assert stack.dead_letters() == []


def test_no_pii_value_reaches_the_logs(stack: MotoStack, logs: Callable[[], str]) -> None:
    # Given a synced PII field (display name) changing, and Cognito refusing it once for good
    given_user(stack, "u1", display_name="Ada Lovelace")
    given_user(stack, "u2", display_name="Grace Hopper")
    stack.repository.update("u1", {"display_name": "Countess Lovelace"}, expected_version=1)
    stack.repository.update("u2", {"display_name": "Rear Admiral Hopper"}, expected_version=1)
    cognito_answers("InvalidParameterException")

    # When the batch is handled
    invoke(stack)

    # Then the logs name attributes, never their values
    text = logs()
    assert "Cognito attributes synced" in text
    for value in ("Ada Lovelace", "Countess Lovelace", "Grace Hopper", "Rear Admiral Hopper"):
        assert value not in text


def test_calls_are_paced_by_the_rate_limit(stack: MotoStack) -> None:
    # Given 15 users' synced changes and a limit of 5 calls per second (a fifth of 25 req/s)
    for index in range(15):
        given_user(stack, f"u{index:02}", plan="free")
    for index in range(15):
        stack.repository.update(f"u{index:02}", {"plan": "pro"}, expected_version=1)
    records = stack.stream.read()
    clock = FakeClock()
    rate = 0.2 * SyncSettings(user_pool_id="p", dead_letter_queue_url="q").cognito_quota_per_second

    # When the batch is synced
    result = syncer(stack, clock, rate=rate).sync(records)

    # Then the 10 calls beyond the burst of 5 waited two seconds in all
    assert result.calls == 15
    assert abs(clock.slept - 10 / rate) < 1e-9


def test_a_batch_across_delete_and_recreate_syncs_the_latest_lifetime(stack: MotoStack) -> None:
    # Given a user's profile edited up to version 4, deleted, and created again at version 1
    # (as every profile was before versions were seeded with the time), then edited once
    given_user(stack, "u1", plan="free")
    for version, plan in enumerate(["pro", "team", "enterprise"], start=1):
        stack.repository.update("u1", {"plan": plan}, expected_version=version)
    stack.repository.delete("u1")
    given_user(stack, "u1", cognito_user=False, plan="free")
    stack.repository.update("u1", {"plan": "pro"}, expected_version=1)

    # When the batch holding both lifetimes is handled
    response = invoke(stack)

    # Then Cognito holds the re-created profile's value: the last record in stream order wins
    assert response == {"batchItemFailures": []}
    assert cognito_attributes(stack, "u1")["custom:plan"] == "pro"


def test_a_poison_record_is_parked_once_although_an_earlier_user_fails_first(stack: MotoStack) -> None:
    # Given a user whose sync Cognito throttles for the first 100 s, then a poison record of another user
    given_user(stack, "u1", plan="free")
    given_user(stack, "u2", plan="free")
    stack.repository.update("u1", {"plan": "pro"}, expected_version=1)
    stack.repository.update("u2", {"plan": "pro"}, expected_version=1)
    records = stack.stream.read()
    del records[1]["dynamodb"]["NewImage"]["version"]
    clock = FakeClock()

    def throttle_for_a_while(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if clock.now >= 100:
            return None
        error = {"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}}
        return AWSResponse("https://cognito-idp.test/", 400, {}, None), error

    boto3.DEFAULT_SESSION.events.register("before-call.cognito-identity-provider", throttle_for_a_while)

    # When Lambda delivers the batch until it succeeds (60 s invocations on one clock)
    invocations = deliver(
        lambda event: syncer(stack, clock).sync(event["Records"]).response(), records, "SyncCognitoFunction"
    )

    # Then the poison record was parked exactly once, after the earlier user was synced
    assert invocations >= 2
    assert [letter["SequenceNumber"] for letter in stack.dead_letters()] == [records[1]["dynamodb"]["SequenceNumber"]]
    assert cognito_attributes(stack, "u1")["custom:plan"] == "pro"


def test_a_change_failing_for_23_hours_is_parked_whole_and_the_stream_moves_on(stack: MotoStack) -> None:
    # Given two users' changes, Cognito unreachable for the first one, and the records nearly 23 h old
    given_user(stack, "u1", plan="free")
    given_user(stack, "u2", plan="free")
    stack.repository.update("u1", {"plan": "pro"}, expected_version=1)
    stack.repository.update("u1", {"locale": "de"}, expected_version=2)
    stack.repository.update("u2", {"plan": "pro"}, expected_version=1)
    records = stack.stream.read()
    clock = FakeClock()
    born = records[0]["dynamodb"]["ApproximateCreationDateTime"]
    config = SyncSettings(user_pool_id="p", dead_letter_queue_url="q")

    def unreachable_for_u1(params: dict[str, Any], **_: Any) -> None:
        if params.get("Username") == "name-u1":
            raise EndpointConnectionError(endpoint_url="https://cognito-idp.test")

    boto3.DEFAULT_SESSION.events.register("before-parameter-build.cognito-identity-provider", unreachable_for_u1)

    # When Lambda keeps invoking the function as time passes
    def invocation(event: dict[str, Any]) -> dict[str, Any]:
        age = config.park_after_seconds - 60 + clock.now
        return syncer(stack, clock, wall_clock=born + age).sync(event["Records"]).response()

    deliver(invocation, records, "SyncCognitoFunction", max_invocations=100)

    # Then both of u1's records are parked whole, once each, and u2 is synced
    parked = stack.dead_letters()
    assert [letter["SequenceNumber"] for letter in parked] == [r["dynamodb"]["SequenceNumber"] for r in records[:2]]
    assert all("still failing after" in letter["reason"] and letter["record"] for letter in parked)
    assert cognito_attributes(stack, "u2")["custom:plan"] == "pro"


def test_a_hanging_cognito_never_keeps_the_function_past_its_deadline(stack: MotoStack) -> None:
    # Given 20 users' changes, and Cognito answering every call only when the read timeout expires
    for index in range(20):
        given_user(stack, f"u{index:02}", plan="free")
        stack.repository.update(f"u{index:02}", {"plan": "pro"}, expected_version=1)
    records = stack.stream.read()
    clock = FakeClock()
    config = SyncSettings(user_pool_id="p", dead_letter_queue_url="q")

    def hang(**_: Any) -> None:
        clock.sleep(config.call_seconds())
        raise ReadTimeoutError(endpoint_url="https://cognito-idp.test")

    boto3.DEFAULT_SESSION.events.register("before-call.cognito-identity-provider", hang)

    # When the batch is handled in a 60 s invocation
    result = syncer(stack, clock).sync(records)

    # Then the function answered before Lambda's timeout, with the margin kept, reporting the first user
    assert clock.now <= 60 - config.answer_margin_seconds
    assert result.failed_sequence_number == records[0]["dynamodb"]["SequenceNumber"]


def test_a_value_the_map_refuses_is_parked_not_synced_and_not_a_crash(stack: MotoStack) -> None:
    # Given one user's name written as binary and another's picture as a javascript: URL,
    # both outside this code (a console edit), and a third user's valid change
    for user in ("u1", "u2", "u3"):
        given_user(stack, user, plan="free")
    dynamodb = boto3.client("dynamodb")
    for user, attribute, value in (("u1", "display_name", {"B": b"\x00"}), ("u2", "picture", {"S": "javascript:x"})):
        dynamodb.update_item(
            TableName=TABLE,
            Key={"user_id": {"S": user}},
            UpdateExpression="SET #a = :v, version = version + :one",
            ExpressionAttributeNames={"#a": attribute},
            ExpressionAttributeValues={":v": value, ":one": {"N": "1"}},
        )
    stack.repository.update("u3", {"plan": "pro"}, expected_version=1)

    # When the batch is handled
    response = invoke(stack)

    # Then the two are parked naming the field, Cognito never gets their values, and u3 is synced
    assert response == {"batchItemFailures": []}
    parked = stack.dead_letters()
    assert sorted(letter["Keys"]["user_id"]["S"] for letter in parked) == ["u1", "u2"]
    assert all("do not fit the field map" in letter["reason"] for letter in parked)
    assert [call["Username"] for call in stack.calls.of("AdminUpdateUserAttributes")] == ["name-u3"]


def test_a_refused_users_later_records_are_parked_once_when_another_user_fails_between(stack: MotoStack) -> None:
    # Given records u1, u2, u1: Cognito refuses u1's value for good and denies u2 for the first 100 s
    given_user(stack, "u1", plan="free")
    given_user(stack, "u2", plan="free")
    stack.repository.update("u1", {"plan": "pro"}, expected_version=1)
    stack.repository.update("u2", {"plan": "pro"}, expected_version=1)
    stack.repository.update("u1", {"plan": "team"}, expected_version=2)
    records = stack.stream.read()
    clock = FakeClock()

    def answer(params: dict[str, Any], **_: Any) -> None:
        if params.get("Username") == "name-u1":
            raise ClientError({"Error": {"Code": "InvalidParameterException", "Message": "x"}}, "Update")
        if params.get("Username") == "name-u2" and clock.now < 100:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "x"}}, "Update")

    boto3.DEFAULT_SESSION.events.register("before-parameter-build.cognito-identity-provider", answer)

    # When Lambda delivers the batch until it succeeds
    deliver(lambda event: syncer(stack, clock).sync(event["Records"]).response(), records, "SyncCognitoFunction")

    # Then each of u1's records was parked exactly once, and u2 was synced
    parked = [letter["SequenceNumber"] for letter in stack.dead_letters()]
    assert sorted(parked) == sorted(records[index]["dynamodb"]["SequenceNumber"] for index in (0, 2))
    assert cognito_attributes(stack, "u2")["custom:plan"] == "pro"


def test_a_users_records_are_parked_once_when_the_queue_fails_midway(stack: MotoStack) -> None:
    # Given a user's two records that Cognito refuses, and the queue failing the second send once
    given_user(stack, "u1", plan="free")
    stack.repository.update("u1", {"plan": "pro"}, expected_version=1)
    stack.repository.update("u1", {"plan": "team"}, expected_version=2)
    records = stack.stream.read()
    cognito_answers(*["InvalidParameterException"] * 10)
    sends = {"made": 0}

    def second_send_fails(**_: Any) -> None:
        sends["made"] += 1
        if sends["made"] == 2:
            raise EndpointConnectionError(endpoint_url="https://sqs.test")

    boto3.DEFAULT_SESSION.events.register("before-call.sqs.SendMessage", second_send_fails)

    # When Lambda delivers the batch until it succeeds
    deliver(lambda event: syncer(stack, FakeClock()).sync(event["Records"]).response(), records, "SyncCognitoFunction")

    # Then each record is in the queue exactly once
    parked = [letter["SequenceNumber"] for letter in stack.dead_letters()]
    assert sorted(parked) == sorted(record["dynamodb"]["SequenceNumber"] for record in records)


def test_the_rate_limiters_wait_counts_against_the_deadline(stack: MotoStack) -> None:
    # Given a rate of 0.25 calls/s (a share of 0.01), 9.5 s left, and Cognito hanging for u1
    for index in range(2):
        given_user(stack, f"u{index}", plan="free")
        stack.repository.update(f"u{index}", {"plan": "pro"}, expected_version=1)
    records = stack.stream.read()
    clock = FakeClock()
    config = SyncSettings(user_pool_id=stack.user_pool_id, dead_letter_queue_url=stack.dead_letter_queue_url)

    def hang_for_u1(params: dict[str, Any], **_: Any) -> None:
        if params.get("Username") == "name-u1":
            clock.sleep(config.call_seconds())
            raise ReadTimeoutError(endpoint_url="https://cognito-idp.test")

    boto3.DEFAULT_SESSION.events.register("before-parameter-build.cognito-identity-provider", hang_for_u1)
    context = LambdaContext(timeout=9.5, clock=clock)
    sync = CognitoSync(
        config,
        boto3.client("cognito-idp"),
        lambda: boto3.client("sqs"),
        TokenBucket(0.25, clock=clock, sleep=clock.sleep),
        Deadline(context, config.answer_margin_seconds),
        sleep=clock.sleep,
    )

    # When the batch is handled
    sync.sync(records)

    # Then the function still answers with its margin left
    assert context.get_remaining_time_in_millis() >= config.answer_margin_seconds * 1000


def test_a_parked_sync_record_says_not_to_replay_it(stack: MotoStack) -> None:
    # Given a change Cognito refuses for good
    given_user(stack, "u1", plan="free")
    stack.repository.update("u1", {"plan": "pro"}, expected_version=1)
    cognito_answers("InvalidParameterException")

    # When the batch is handled
    invoke(stack)

    # Then the dead letter tells the operator how to recover: replaying could write an older value
    (letter,) = stack.dead_letters()
    assert "do not replay" in letter["recover"]
