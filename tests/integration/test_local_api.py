"""The profile API through the local stack's HTTP API, with real tokens from cognito-local."""

import base64
import json
import time
import uuid
from collections.abc import Iterator

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from local import scenario
from local.stack import Stack

pytestmark = pytest.mark.integration


def new_user(stack: Stack) -> tuple[str, str, dict[str, str]]:
    """A confirmed, signed-in user: (email, sub, tokens)."""
    email = f"api-{uuid.uuid4().hex[:10]}@example.com"
    sub = scenario.sign_up(stack, email, {"name": "Ada Lovelace"})
    return email, sub, scenario.sign_in(stack, email)


def payload(token: str) -> dict[str, object]:
    part = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def test_get_then_patch_with_if_match_changes_the_profile(stack: Stack) -> None:
    # Given a signed-in user and the ETag of their profile
    _, sub, tokens = new_user(stack)
    read = scenario.api(stack, "GET", "/me/profile", tokens["AccessToken"])
    assert read.status == 200
    assert read.body["user_id"] == sub
    # When they PATCH it with that ETag
    saved = scenario.api(
        stack, "PATCH", "/me/profile", tokens["AccessToken"], {"display_name": "Ada King"}, {"If-Match": read.etag}
    )
    # Then the new profile and a new ETag come back, and the table holds it
    assert saved.status == 200
    assert saved.body["display_name"] == "Ada King"
    assert saved.etag not in ("", read.etag)
    stored = scenario.profile(stack, sub)
    assert stored is not None
    assert stored["display_name"] == "Ada King"


def test_patch_with_a_stale_etag_is_412_with_the_current_one(stack: Stack) -> None:
    # Given a profile changed since the caller read it
    _, _, tokens = new_user(stack)
    token = tokens["AccessToken"]
    read = scenario.api(stack, "GET", "/me/profile", token)
    saved = scenario.api(stack, "PATCH", "/me/profile", token, {"display_name": "Ada King"}, {"If-Match": read.etag})
    # When a PATCH names the old ETag
    stale = scenario.api(stack, "PATCH", "/me/profile", token, {"display_name": "Ada Byron"}, {"If-Match": read.etag})
    # Then it is refused with the current ETag, and nothing changed
    assert stale.status == 412
    assert stale.etag == saved.etag
    assert scenario.api(stack, "GET", "/me/profile", token).body["display_name"] == "Ada King"


def test_admin_route_is_403_for_a_non_admin_and_200_for_a_group_member(stack: Stack) -> None:
    # Given a user, and another user in the template's admin group
    _, sub, user_tokens = new_user(stack)
    admin_email, _, _ = new_user(stack)
    scenario.add_to_group(stack, admin_email, scenario.admin_group(stack))
    admin_token = scenario.sign_in(stack, admin_email)["AccessToken"]
    path = f"/users/{sub}/profile"
    # When the user and the admin read the user's profile through the admin route
    refused = scenario.api(stack, "GET", path, user_tokens["AccessToken"])
    allowed = scenario.api(stack, "GET", path, admin_token)
    # Then the function refuses the user (its groups claim arrives as "[...]") and answers the admin
    assert refused.status == 403
    assert refused.body["error"] == "forbidden"
    assert allowed.status == 200
    assert allowed.body["user_id"] == sub


@pytest.fixture
def short_lived_access_tokens(stack: Stack) -> Iterator[None]:
    """The app client issues access tokens valid for one second, while the test runs."""
    cognito = stack.client("cognito-idp")
    cognito.update_user_pool_client(
        UserPoolId=stack.user_pool_id,
        ClientId=stack.client_id,
        AccessTokenValidity=1,
        TokenValidityUnits={"AccessToken": "seconds"},
    )
    try:
        yield
    finally:
        cognito.update_user_pool_client(
            UserPoolId=stack.user_pool_id,
            ClientId=stack.client_id,
            AccessTokenValidity=24,
            TokenValidityUnits={"AccessToken": "hours"},
        )


@pytest.mark.usefixtures("short_lived_access_tokens")
def test_an_expired_access_token_is_401(stack: Stack) -> None:
    # Given an access token cognito-local issued for one second, now past
    _, _, tokens = new_user(stack)
    time.sleep(max(0.0, float(payload(tokens["AccessToken"])["exp"]) - time.time()) + 1.1)  # type: ignore[arg-type]
    # When it is used
    answer = scenario.api(stack, "GET", "/me/profile", tokens["AccessToken"])
    # Then the authorizer answers as API Gateway does
    assert answer.status == 401
    assert answer.body == {"message": "Unauthorized"}
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]


def test_a_token_signed_by_a_key_outside_the_jwks_is_401(stack: Stack) -> None:
    # Given the claims of a real access token, signed by another key under cognito-local's kid
    _, _, tokens = new_user(stack)
    forger = RSAKey.generate_key(2048)
    forged = jwt.encode({"alg": "RS256", "kid": "CognitoLocal"}, payload(tokens["AccessToken"]), forger)
    # When it is used
    answer = scenario.api(stack, "GET", "/me/profile", forged)
    # Then it is refused
    assert (answer.status, answer.body) == (401, {"message": "Unauthorized"})


def test_a_tampered_token_is_401(stack: Stack) -> None:
    # Given a real access token whose payload names another user, the signature kept
    _, _, tokens = new_user(stack)
    header, _, signature = tokens["AccessToken"].split(".")
    claims = {**payload(tokens["AccessToken"]), "sub": str(uuid.uuid4())}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    # When it is used
    answer = scenario.api(stack, "GET", "/me/profile", f"{header}.{body}.{signature}")
    # Then the signature check refuses it
    assert (answer.status, answer.body) == (401, {"message": "Unauthorized"})


def test_a_token_without_the_routes_scope_is_403_insufficient_scope(stack: Stack) -> None:
    # Given a validly signed access token without the route's scope (cognito-local always grants
    # aws.cognito.signin.user.admin, so the local stack's key signs it, as a pool would with other scopes)
    _, _, tokens = new_user(stack)
    unscoped = scenario.resign(stack, {**payload(tokens["AccessToken"]), "scope": "openid email"})
    # When it is used
    answer = scenario.api(stack, "GET", "/me/profile", unscoped)
    # Then API Gateway's answer to a missing scope comes back
    assert (answer.status, answer.body) == (403, {"message": "Forbidden"})
    assert 'error="insufficient_scope"' in answer.headers["www-authenticate"]


def test_an_id_token_is_refused_by_the_scope_check(stack: Stack) -> None:
    # Given a user's ID token (its aud is the app client, but it carries no scope)
    _, _, tokens = new_user(stack)
    assert "scope" not in payload(tokens["IdToken"])
    # When it is sent instead of the access token
    answer = scenario.api(stack, "GET", "/me/profile", tokens["IdToken"])
    # Then it is refused
    assert (answer.status, answer.body) == (403, {"message": "Forbidden"})


def test_a_request_without_a_token_is_401(stack: Stack) -> None:
    # When the API is called without an Authorization header
    answer = scenario.api(stack, "GET", "/me/profile", None)
    # Then the authorizer refuses it before any function runs
    assert (answer.status, answer.body) == (401, {"message": "Unauthorized"})


def test_cors_preflight_answers_the_templates_origins(stack: Stack) -> None:
    # Given the template's CORS origin (ApiCorsOrigins' default)
    origin = "http://localhost:3000"
    # When a browser sends a preflight for a PATCH
    headers = {"Origin": origin, "Access-Control-Request-Method": "PATCH"}
    answer = scenario.api(stack, "OPTIONS", "/me/profile", None, headers=headers)
    # Then it may, with the template's headers
    assert answer.status == 204
    assert answer.headers["access-control-allow-origin"] == origin
    assert "if-match" in answer.headers["access-control-allow-headers"]


def test_delete_me_removes_the_cognito_user_and_the_profile_and_publishes_profile_deleted(stack: Stack) -> None:
    # Given a signed-in user with a profile, and the example consumer's queue
    email, sub, tokens = new_user(stack)
    inbox = scenario.Inbox(stack, scenario.consumer_queues(stack))
    assert scenario.profile(stack, sub) is not None

    # When they delete their account
    deleted = scenario.api(stack, "DELETE", "/me", tokens["AccessToken"])

    # Then both stores are empty, ProfileDeleted follows from the stream, and the second delete is queued
    assert deleted.status == 200
    assert deleted.body == {"sub": sub, "cognito_user_deleted": True, "profile_deleted": True,
                            "redelete_scheduled": True}  # fmt: skip
    assert scenario.profile(stack, sub) is None
    cognito = stack.client("cognito-idp")
    with pytest.raises(cognito.exceptions.UserNotFoundException):
        cognito.admin_get_user(UserPoolId=stack.user_pool_id, Username=email)
    inbox.wait_event("ProfileDeleted", sub)
    queued = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_urls["AccountDeletionQueue"], AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert int(queued["ApproximateNumberOfMessagesDelayed"]) >= 1
    # And the token still works for a retry, which finds nothing left to delete
    again = scenario.api(stack, "DELETE", "/me", tokens["AccessToken"])
    assert again.status == 200
    assert (again.body["cognito_user_deleted"], again.body["profile_deleted"]) == (False, False)


def test_a_sign_in_in_flight_during_delete_me_leaves_no_profile_once_the_queued_second_delete_runs(
    stack: Stack,
) -> None:
    # Given a signed-in user, and the pre-token event Cognito sent for a sign-in of theirs still in flight
    email, sub, tokens = new_user(stack)
    in_flight = scenario.sign_in_event(stack, email)
    sqs, queue = stack.client("sqs"), stack.queue_urls["AccountDeletionQueue"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["DelaySeconds"])["Attributes"]
    delay = int(attributes["DelaySeconds"])

    # When they delete their account, and only then does that sign-in's pre-token trigger read the table
    asked = time.monotonic()
    deleted = scenario.api(stack, "DELETE", "/me", tokens["AccessToken"])
    error, answer = scenario.invoke(stack, scenario.trigger_function(stack, "PreTokenGeneration"), in_flight)

    # Then the trigger, finding no profile, wrote it back
    assert deleted.status == 200
    assert deleted.body["redelete_scheduled"] is True
    assert error is None, answer
    assert scenario.profile(stack, sub) is not None

    # And the second delete, held back by the queue's delay, reaches UserDeletedFunction and removes it
    def profile_gone() -> bool | None:
        return scenario.profile(stack, sub) is None or None

    def queue_empty() -> bool | None:  # nothing visible, in flight or delayed
        counts = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
        return all(value == "0" for name, value in counts.items() if name.startswith("ApproximateNumber")) or None

    # (this test's message: the session's earlier deletes' messages run UserDeletedFunction from the queue too)
    def this_message_handled() -> bool | None:  # from the queue, Records naming this sub, no error or item failure
        assert stack.runtime is not None
        for item in list(stack.runtime.history):
            if item.function != "UserDeletedFunction" or item.source != "sqs" or item.function_error is not None:
                continue
            ours = [
                record["messageId"] for record in item.event["Records"] if json.loads(record["body"]).get("sub") == sub
            ]
            failed = {failure["itemIdentifier"] for failure in (item.result() or {}).get("batchItemFailures") or []}
            if ours and not failed.intersection(ours):
                return True
        return None

    scenario.wait_for(profile_gone, f"profile {sub} deleted again", timeout=asked + delay + 15 - time.monotonic())
    assert time.monotonic() - asked >= delay
    scenario.wait_for(this_message_handled, f"UserDeletedFunction handling the message for {sub}", timeout=5)
    # And the message left the queue (the session's earlier deletes came due before this one)
    scenario.wait_for(queue_empty, "the account deletion queue empty", timeout=5)


def test_ops_erase_and_export_work_on_the_local_stack(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a user with a profile, and the ops target of the local stack
    from ops import erase
    from shared.accounts import Accounts
    from shared.repository import ProfileRepository

    email, sub, _ = new_user(stack)
    target = stack.ops_target()
    accounts = Accounts(target.client("cognito-idp"), target.user_pool_id,
                        ProfileRepository(target.client("dynamodb"), target.table_name))  # fmt: skip
    monkeypatch.setattr(erase, "sleep", lambda seconds: None)

    # When the operator exports, then erases, the account by sub alone
    document = accounts.export(sub)
    deletion, recreated = erase.erase(accounts, sub, None, 0)

    # Then the export held both stores, and the erase emptied them
    assert document is not None
    assert document["cognito"]["attributes"]["email"] == email
    assert document["profile"]["fields"]["display_name"] == "Ada Lovelace"
    assert (deletion.cognito_user_deleted, deletion.profile_deleted, recreated) == (True, True, False)
    assert accounts.export(sub) is None
