"""Account deletion and export under moto: the API routes, the user-deleted function, the race.

The account deletion queue here has no delivery delay (moto would hold messages back in real
time); the template's delay is checked against the deadlines it must outlast instead.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from api.profile.app import handler as api_handler
from lifecycle.user_deleted.app import handler as user_deleted_handler
from local.support import EVENTS, TABLE, LambdaContext, resource
from shared.accounts import SETTLE_SECONDS, Accounts, redelete_message
from shared.profile import Profile, first_version
from shared.repository import ProfileRepository
from triggers.pre_token_generation.app import handler as pre_token_handler

NOW = "2026-11-28T00:00:00.000Z"
CLOUDTRAIL = EVENTS / "cloudtrail"


@pytest.fixture
def pool(table: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A user pool holding Ada (native, with a profile), the account deletion queue, the API's settings."""
    cognito = boto3.client("cognito-idp", region_name="us-east-1")
    pool_id = cognito.create_user_pool(PoolName="users")["UserPool"]["Id"]
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="account-deletions")["QueueUrl"]
    for name, value in {"USER_POOL_ID": pool_id, "ADMIN_GROUP": "profile-admins",
                        "ACCOUNT_DELETION_QUEUE_URL": queue}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    repository = ProfileRepository(table, TABLE)
    ada = add_user(cognito, pool_id, repository, "ada", {"email": "ada@example.com", "locale": "en-GB"})
    return {"cognito": cognito, "pool": pool_id, "sqs": sqs, "queue": queue, "repository": repository, "ada": ada}


def add_user(cognito: Any, pool_id: str, repository: ProfileRepository, name: str, attributes: dict[str, str],
             profile: bool = True) -> str:  # fmt: skip
    user = cognito.admin_create_user(
        UserPoolId=pool_id, Username=name, UserAttributes=[{"Name": k, "Value": v} for k, v in attributes.items()]
    )["User"]
    sub = next(item["Value"] for item in user["Attributes"] if item["Name"] == "sub")
    if profile:
        fields = {"email": attributes["email"], "display_name": name.title()} if "email" in attributes else {}
        repository.create_if_absent(Profile(sub, name, NOW, NOW, fields=fields, version=first_version()))
    return str(sub)


def call(route: str, sub: str, username: str, groups: str | None = None, path: dict[str, str] | None = None
         ) -> dict[str, Any]:  # fmt: skip
    claims = {"sub": sub, "username": username, "scope": "aws.cognito.signin.user.admin"}
    if groups:
        claims["cognito:groups"] = groups
    event = {
        "version": "2.0",
        "routeKey": route,
        "headers": {},
        "pathParameters": path or {},
        "requestContext": {"authorizer": {"jwt": {"claims": claims}}, "http": {"method": route.split()[0]}},
        "body": None,
        "isBase64Encoded": False,
    }
    response: dict[str, Any] = api_handler(event, LambdaContext())
    response["json"] = json.loads(response["body"])
    return response


def user_exists(pool: dict[str, Any], username: str) -> bool:
    try:
        pool["cognito"].admin_get_user(UserPoolId=pool["pool"], Username=username)
    except pool["cognito"].exceptions.UserNotFoundException:
        return False
    return True


def deliver_queue(pool: dict[str, Any]) -> dict[str, Any]:
    """What Lambda's SQS poller does: the queue's messages, as one batch, to the user-deleted function."""
    messages = pool["sqs"].receive_message(QueueUrl=pool["queue"], MaxNumberOfMessages=10).get("Messages", [])
    records = [{"messageId": m["MessageId"], "body": m["Body"], "eventSource": "aws:sqs"} for m in messages]
    result: dict[str, Any] = user_deleted_handler({"Records": records}, LambdaContext.of("UserDeletedFunction"))
    return result


def test_delete_me_deletes_the_cognito_user_then_the_profile_then_asks_for_a_second_delete(
    pool: dict[str, Any], aws_calls: Any
) -> None:
    # Given Ada, with her Cognito user and her profile
    aws_calls.clear()

    # When she deletes her account
    response = call("DELETE /me", pool["ada"], "ada")

    # Then the user is checked and goes first, then the profile, then the second delete is queued
    assert response["statusCode"] == 200
    assert response["json"] == {
        "sub": pool["ada"],
        "cognito_user_deleted": True,
        "profile_deleted": True,
        "redelete_scheduled": True,
    }
    assert aws_calls.operations == ["AdminGetUser", "AdminDeleteUser", "DeleteItem", "SendMessage"]
    assert not user_exists(pool, "ada")
    assert pool["repository"].get(pool["ada"]) is None
    assert aws_calls.of("SendMessage")[0]["MessageBody"] == redelete_message(pool["ada"])


def test_a_retry_after_the_profile_delete_failed_finishes_the_job(pool: dict[str, Any]) -> None:
    # Given a deletion that removed the Cognito user and then failed before the profile
    pool["cognito"].admin_delete_user(UserPoolId=pool["pool"], Username="ada")

    # When the user retries with the token she still holds
    response = call("DELETE /me", pool["ada"], "ada")

    # Then it succeeds: the user was already gone, the profile goes now
    assert response["statusCode"] == 200
    assert response["json"]["cognito_user_deleted"] is False
    assert response["json"]["profile_deleted"] is True
    assert pool["repository"].get(pool["ada"]) is None


def test_deleting_twice_is_a_success_that_deletes_nothing_more(pool: dict[str, Any]) -> None:
    call("DELETE /me", pool["ada"], "ada")
    again = call("DELETE /me", pool["ada"], "ada")
    assert again["statusCode"] == 200
    assert (again["json"]["cognito_user_deleted"], again["json"]["profile_deleted"]) == (False, False)


def test_admin_deletes_a_federated_user_by_the_user_name_the_profile_stores(pool: dict[str, Any]) -> None:
    # Given a Google user, whose sub is not a user name AdminDeleteUser takes
    sub = add_user(pool["cognito"], pool["pool"], pool["repository"], "Google_1234", {"email": "g@example.com"})

    # When an admin deletes the account by sub
    response = call("DELETE /users/{sub}", "admin-sub", "admin", groups="[profile-admins]", path={"sub": sub})

    # Then the Cognito user and the profile are gone
    assert response["statusCode"] == 200
    assert response["json"]["cognito_user_deleted"] is True
    assert not user_exists(pool, "Google_1234")
    assert pool["repository"].get(sub) is None


def test_admin_deletes_a_user_without_a_profile_found_by_sub(pool: dict[str, Any], aws_calls: Any) -> None:
    # Given a user who never got a profile
    sub = add_user(pool["cognito"], pool["pool"], pool["repository"], "Federated_9", {}, profile=False)
    aws_calls.clear()

    # When an admin deletes the account by sub
    response = call("DELETE /users/{sub}", "admin-sub", "admin", groups="[profile-admins]", path={"sub": sub})

    # Then ListUsers found the user name and the user is deleted
    assert response["statusCode"] == 200
    assert aws_calls.of("ListUsers")[0]["Filter"] == f'sub = "{sub}"'
    assert not user_exists(pool, "Federated_9")


def test_a_user_name_now_held_by_a_newer_user_is_not_deleted_in_the_old_ones_place(pool: dict[str, Any]) -> None:
    # Given Google_77's first account, deleted outside the API (its profile left behind), and a
    # second account the same Google user made since: same user name, another sub
    old = add_user(pool["cognito"], pool["pool"], pool["repository"], "Google_77", {"email": "g@example.com"})
    pool["cognito"].admin_delete_user(UserPoolId=pool["pool"], Username="Google_77")
    new = add_user(pool["cognito"], pool["pool"], pool["repository"], "Google_77", {"email": "g@example.com"})

    # When an admin deletes the old account by its sub
    response = call("DELETE /users/{sub}", "admin-sub", "admin", groups="[profile-admins]", path={"sub": old})

    # Then the old profile goes, and the newer user and profile stay
    assert response["statusCode"] == 200
    assert response["json"]["cognito_user_deleted"] is False
    assert pool["repository"].get(old) is None
    assert user_exists(pool, "Google_77")
    assert pool["repository"].get(new) is not None


def test_a_non_admin_cannot_delete_someone_else(pool: dict[str, Any]) -> None:
    response = call("DELETE /users/{sub}", "mallory-sub", "mallory", path={"sub": pool["ada"]})
    assert response["statusCode"] == 403
    assert user_exists(pool, "ada")
    assert pool["repository"].get(pool["ada"]) is not None


def test_a_sub_that_would_break_the_listusers_filter_is_400(pool: dict[str, Any]) -> None:
    response = call("DELETE /users/{sub}", "admin-sub", "admin", groups="[profile-admins]", path={"sub": 'x" or "'})
    assert response["statusCode"] == 400
    assert user_exists(pool, "ada")


def test_export_holds_the_profile_the_cognito_attributes_and_the_dates(pool: dict[str, Any]) -> None:
    # Given Ada
    # When she exports her account
    response = call("GET /me/export", pool["ada"], "ada")

    # Then one document holds her profile with its dates and her Cognito attributes, status and dates
    document = response["json"]
    assert response["statusCode"] == 200
    assert document["user_id"] == pool["ada"]
    assert document["profile"]["fields"] == {"email": "ada@example.com", "display_name": "Ada"}
    assert document["profile"]["created_at"] == NOW
    assert document["cognito"]["username"] == "ada"
    assert document["cognito"]["attributes"]["locale"] == "en-GB"
    assert document["cognito"]["attributes"]["sub"] == pool["ada"]
    assert document["cognito"]["created_at"].endswith("Z")
    assert set(document["cognito"]) == {"username", "status", "enabled", "created_at", "last_modified_at",
                                        "attributes"}  # fmt: skip


def test_export_of_a_deleted_account_is_404(pool: dict[str, Any]) -> None:
    call("DELETE /me", pool["ada"], "ada")
    assert call("GET /me/export", pool["ada"], "ada")["statusCode"] == 404


def test_a_sign_in_in_flight_during_the_deletion_leaves_no_profile_behind(
    pool: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Ada signing in: Cognito has invoked the pre-token trigger before her user was deleted
    event = json.loads((EVENTS / "cognito" / "pre_token_v1_authentication.json").read_text())
    event["request"]["userAttributes"] = {"sub": pool["ada"], "email": "ada@example.com"}
    event["userName"] = "ada"

    # When her account is deleted, and only then does the trigger read the table (and finds no profile)
    call("DELETE /me", pool["ada"], "ada")
    pre_token_handler(event, LambdaContext.of("PreTokenGenerationFunction"))
    recreated = pool["repository"].get(pool["ada"])

    # Then the trigger did write the profile back, and the queued second delete removes it
    assert recreated is not None
    assert deliver_queue(pool) == {"batchItemFailures": []}
    assert pool["repository"].get(pool["ada"]) is None


def test_the_second_delete_comes_after_every_writer_that_started_before_the_user_was_deleted() -> None:
    # Given the queue that carries the second delete, and the functions that can create a profile
    delay = resource("AccountDeletionQueue")["Properties"]["DelaySeconds"]
    timeouts = {
        name: resource(name)["Properties"].get("Timeout", 5)
        for name in ("PreTokenGenerationFunction", "PostConfirmationFunction", "ProfileApiFunction")
    }

    # Then every message is held back SETTLE_SECONDS, longer than Cognito's three trigger
    # attempts of 5 s and than any such function's invocation
    assert delay == SETTLE_SECONDS
    assert SETTLE_SECONDS > 3 * 5
    assert all(timeout < SETTLE_SECONDS for timeout in timeouts.values()), timeouts


def test_bad_and_failing_messages_are_reported_so_sqs_delivers_them_again(pool: dict[str, Any]) -> None:
    # Given three messages: a good one, one that is not JSON and one without a sub
    records = [
        {"messageId": "good", "body": redelete_message(pool["ada"])},
        {"messageId": "garbled", "body": "{not json"},
        {"messageId": "empty", "body": "{}"},
    ]

    # When the function takes them
    result = user_deleted_handler({"Records": records}, LambdaContext.of("UserDeletedFunction"))

    # Then the good one deleted the profile and the others come back (and end in the DLQ)
    assert result == {"batchItemFailures": [{"itemIdentifier": "garbled"}, {"itemIdentifier": "empty"}]}
    assert pool["repository"].get(pool["ada"]) is None


def test_a_table_outage_fails_the_message_instead_of_dropping_it(pool: dict[str, Any], monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:  # fmt: skip
    # Given a table that refuses writes
    from botocore.exceptions import ClientError

    def refuse(self: ProfileRepository, user_id: str) -> bool:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "DeleteItem")

    monkeypatch.setattr(ProfileRepository, "delete", refuse)

    # When a deletion message arrives
    records = [{"messageId": "m1", "body": redelete_message(pool["ada"])}]
    result = user_deleted_handler({"Records": records}, LambdaContext.of("UserDeletedFunction"))

    # Then it is reported failed: SQS delivers it again
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def rule_matches(event: dict[str, Any], rule: str = "UserDeletedRule") -> bool:
    """Whether the rule's pattern matches ``event``, by moto's implementation of EventBridge matching."""
    from moto.events.models import EventPattern

    pattern = EventPattern.load(json.dumps(resource(rule)["Properties"]["EventPattern"]))
    return bool(pattern.matches_event(event))  # type: ignore[arg-type]


def rule_input(event: dict[str, Any], rule: str = "UserDeletedRule") -> str:
    """The message the rule's input transformer makes of ``event`` (string values JSON-quoted, as EventBridge does)."""
    transformer = resource(rule)["Properties"]["Targets"][0]["InputTransformer"]
    text = str(transformer["InputTemplate"])
    for name, path in transformer["InputPathsMap"].items():
        value: Any = event
        for key in path.removeprefix("$.").split("."):
            value = value[key]
        text = text.replace(f"<{name}>", json.dumps(value))
    return text


@pytest.mark.parametrize("sample", sorted(p.name for p in CLOUDTRAIL.glob("*.json")))
def test_a_cloudtrail_deletion_matches_the_rule_and_deletes_the_profile(pool: dict[str, Any], sample: str) -> None:
    # Given a CloudTrail deletion event for Ada, as EventBridge delivers it
    event = json.loads((CLOUDTRAIL / sample).read_text())
    event["detail"]["additionalEventData"]["sub"] = pool["ada"]

    # When the rule matches it and hands the transformed input to the function
    matched = rule_matches(event)
    body = rule_input(event)
    result = user_deleted_handler(
        {"Records": [{"messageId": "m1", "body": body}]}, LambdaContext.of("UserDeletedFunction")
    )

    # Then the profile is gone, and the message held the sub and the call's name only
    assert matched is True
    assert result == {"batchItemFailures": []}
    assert pool["repository"].get(pool["ada"]) is None
    assert json.loads(body) == {"sub": pool["ada"], "reason": event["detail"]["eventName"]}


@pytest.mark.parametrize(
    "change",
    [
        lambda e: e["detail"].update(errorCode="UserNotFoundException"),  # the call failed: nobody was deleted
        lambda e: e["detail"].update(eventName="AdminDisableUser"),
        lambda e: e["detail"].pop("additionalEventData"),
    ],
    ids=["failed-call", "other-call", "no-sub"],
)
def test_the_rule_ignores_failed_calls_other_calls_and_events_without_a_sub(change: Any) -> None:
    event = json.loads((CLOUDTRAIL / "admin_delete_user.json").read_text())
    change(event)
    assert rule_matches(event) is False


NO_SUB = "UserDeletedWithoutSubRule"


@pytest.mark.parametrize("sample", sorted(p.name for p in CLOUDTRAIL.glob("*.json")))
@pytest.mark.parametrize("shape", ["as sampled", "no additionalEventData", "additionalEventData without sub"])
def test_a_successful_deletion_without_a_sub_leaves_a_pii_free_note_in_the_dead_letter_queue(
    sample: str, shape: str
) -> None:
    # Given a successful CloudTrail deletion, as sampled or without the sub where the rule looks
    event = json.loads((CLOUDTRAIL / sample).read_text())
    if shape == "no additionalEventData":
        event["detail"].pop("additionalEventData")
    elif shape == "additionalEventData without sub":
        event["detail"]["additionalEventData"].pop("sub")

    # Then exactly one rule takes it: the deleting rule when it names a sub, the note otherwise
    assert (rule_matches(event), rule_matches(event, NO_SUB)) == (shape == "as sampled", shape != "as sampled")
    if shape == "as sampled":
        return
    # And the note goes straight to the dead-letter queue, whose alarm pages, naming the call only
    target = resource(NO_SUB)["Properties"]["Targets"][0]
    assert target["Arn"] == {"Fn::GetAtt": ["AccountDeletionDeadLetterQueue", "Arn"]}
    note = json.loads(rule_input(event, NO_SUB))
    assert note == {"unmatched": "a Cognito user deletion whose CloudTrail record has no additionalEventData.sub",
                    "reason": event["detail"]["eventName"]}  # fmt: skip


def test_a_failed_or_other_call_leaves_no_note() -> None:
    event = json.loads((CLOUDTRAIL / "admin_delete_user.json").read_text())
    event["detail"].pop("additionalEventData")
    assert rule_matches({**event, "detail": {**event["detail"], "errorCode": "UserNotFoundException"}}, NO_SUB) is False
    assert rule_matches({**event, "detail": {**event["detail"], "eventName": "AdminDisableUser"}}, NO_SUB) is False


def test_eventbridge_may_send_to_the_deletion_queues_for_the_two_rules_only() -> None:
    statement = resource("AccountDeletionQueuePolicy")["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == [
        {"Fn::GetAtt": ["UserDeletedRule", "Arn"]}, {"Fn::GetAtt": [NO_SUB, "Arn"]}
    ]  # fmt: skip


def test_accounts_without_a_queue_schedule_nothing(pool: dict[str, Any]) -> None:
    # Given accounts with no queue (an operator's erase waits and deletes again itself)
    accounts = Accounts(pool["cognito"], pool["pool"], pool["repository"])

    # When an account is deleted, Then no second delete is scheduled, but the account is gone
    deletion = accounts.delete(pool["ada"])
    assert deletion.redelete_scheduled is False
    assert (deletion.cognito_user_deleted, deletion.profile_deleted) == (True, True)


class PagedCognito:
    """A user pool whose ListUsers answers short and empty pages before the one holding the user."""

    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.pages = pages
        self.requests: list[dict[str, Any]] = []

    def admin_get_user(self, **request: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "UserNotFoundException"}}, "AdminGetUser")

    def list_users(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        index = int(request.get("PaginationToken", "0"))
        more = {"PaginationToken": str(index + 1)} if index + 1 < len(self.pages) else {}
        return {"Users": self.pages[index], **more}


def test_find_user_follows_listusers_pages_past_empty_ones(pool: dict[str, Any]) -> None:
    # Given ListUsers answering two empty pages before the page with the federated user
    sub = "0f8fad5b-d9cb-469f-a165-70867728950e"
    user = {"Username": "Google_1", "Attributes": [{"Name": "sub", "Value": sub}]}
    cognito = PagedCognito([[], [], [user]])

    # When the user is looked up by sub
    found = Accounts(cognito, "pool", pool["repository"]).find_user(sub)

    # Then the third page's user is found, each page asked with the previous token
    assert found == user
    assert [r.get("PaginationToken") for r in cognito.requests] == [None, "1", "2"]


def test_find_user_gives_up_after_a_bounded_number_of_pages(pool: dict[str, Any]) -> None:
    from shared.accounts import LIST_USERS_PAGES, LookupIncomplete

    # Given ListUsers that keeps answering empty pages with a next token
    cognito = PagedCognito([[] for _ in range(LIST_USERS_PAGES + 5)])

    # When the user is looked up, Then the lookup stops, unresolved, after the bound
    with pytest.raises(LookupIncomplete):
        Accounts(cognito, "pool", pool["repository"]).find_user("0f8fad5b-d9cb-469f-a165-70867728950e")
    assert len(cognito.requests) == LIST_USERS_PAGES


def test_a_native_user_is_found_by_their_sub_as_user_name(pool: dict[str, Any], aws_calls: Any) -> None:
    # Given Ada, native, looked up with no user name
    aws_calls.clear()

    # When the account is looked up by sub alone
    found = Accounts(pool["cognito"], pool["pool"], pool["repository"]).find_user(pool["ada"])

    # Then AdminGetUser with the sub answered it
    assert found is not None
    assert found["Username"] == "ada"
    assert aws_calls.of("AdminGetUser")[-1]["Username"] == pool["ada"]


def spoil_profile(pool: dict[str, Any], sub: str, username: str) -> None:
    """Overwrite the profile with an item this code cannot decode (a version that is not a counter)."""
    item = {"user_id": {"S": sub}, "username": {"S": username}, "version": {"S": "not-a-number"}}
    boto3.client("dynamodb", region_name="us-east-1").put_item(TableName=TABLE, Item=item)


def test_an_admin_deletes_an_account_whose_profile_cannot_be_decoded(pool: dict[str, Any]) -> None:
    # Given a federated user whose stored profile no longer decodes
    sub = add_user(pool["cognito"], pool["pool"], pool["repository"], "Google_77", {"email": "g@example.com"})
    spoil_profile(pool, sub, "Google_77")

    # When an admin deletes the account by sub
    response = call("DELETE /users/{sub}", "admin-sub", "admin", groups="[profile-admins]", path={"sub": sub})

    # Then both stores are emptied: the user found without the profile's help
    assert response["statusCode"] == 200
    assert response["json"]["profile_deleted"] is True
    assert not user_exists(pool, "Google_77")


def test_export_of_an_undecodable_profile_is_a_documented_500(pool: dict[str, Any]) -> None:
    # Given Ada's stored profile no longer decodes
    spoil_profile(pool, pool["ada"], "ada")

    # When she asks for her export
    response = call("GET /me/export", pool["ada"], "ada")

    # Then the answer is a 500 with the stable code docs/lifecycle.md names, and nothing partial
    assert response["statusCode"] == 500
    assert response["json"]["error"] == "profile_unreadable"


@pytest.mark.parametrize("sample", sorted(p.name for p in CLOUDTRAIL.glob("*.json")))
def test_a_redriven_dead_letter_holding_the_whole_cloudtrail_event_deletes_the_profile(
    pool: dict[str, Any], sample: str
) -> None:
    # Given a dead letter as EventBridge may park it: the original CloudTrail event, not the transformed input
    event = json.loads((CLOUDTRAIL / sample).read_text())
    event["detail"]["additionalEventData"]["sub"] = pool["ada"]

    # When it is moved back to the account deletion queue and delivered
    result = user_deleted_handler(
        {"Records": [{"messageId": "m1", "body": json.dumps(event)}]}, LambdaContext.of("UserDeletedFunction")
    )

    # Then the sub the event names has no profile left
    assert result == {"batchItemFailures": []}
    assert pool["repository"].get(pool["ada"]) is None


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(errorCode="UserNotFoundException"),
        lambda d: d.update(eventName="AdminDisableUser"),
        lambda d: d.pop("additionalEventData"),
    ],
    ids=["failed-call", "other-call", "no-sub"],
)
def test_a_redriven_cloudtrail_event_the_rule_would_not_match_is_refused(pool: dict[str, Any], change: Any) -> None:
    # Given a CloudTrail event that records no deletion of Ada
    event = json.loads((CLOUDTRAIL / "admin_delete_user.json").read_text())
    event["detail"]["additionalEventData"]["sub"] = pool["ada"]
    change(event["detail"])

    # When it is delivered, Then it fails (SQS keeps it) and Ada's profile stays
    result = user_deleted_handler(
        {"Records": [{"messageId": "m1", "body": json.dumps(event)}]}, LambdaContext.of("UserDeletedFunction")
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert pool["repository"].get(pool["ada"]) is not None
