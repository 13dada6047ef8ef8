"""The demo's scenario, and the runner behaving like Lambda, on the real local stack."""

import base64
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local import scenario
from local.stack import Stack
from local.streams import MappingPoller, MappingSpec
from local.support import create_table_kwargs

pytestmark = pytest.mark.integration
BROKEN = Path(__file__).resolve().parent  # broken.py: a handler that prints, then raises


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


def test_confirmed_sign_up_creates_the_profile_through_the_trigger(stack: Stack) -> None:
    # Given a user who signs up with a name and locale
    email = new_email()
    # When they confirm the code cognito-local sent
    before = time.time_ns() // 1000
    sub = scenario.sign_up(stack, email, {"name": "Ada Lovelace", "locale": "en-GB"})
    # Then the post-confirmation trigger stored their profile
    stored = scenario.profile(stack, sub)
    assert stored is not None
    assert stored["email"] == email
    assert stored["email_verified"] is True
    assert stored["display_name"] == "Ada Lovelace"
    assert stored["providers"] == ["Cognito"]
    assert before <= stored["version"] <= time.time_ns() // 1000  # versions start at the creation time (µs)


def test_sign_up_publishes_profile_created_to_the_consumer_queue(stack: Stack) -> None:
    # Given the example consumer's queue
    inbox = scenario.Inbox(stack, scenario.consumer_queues(stack))
    # When a user signs up and confirms
    sub = scenario.sign_up(stack, new_email(), {"name": "Ada Lovelace"})
    # Then the new profile's ProfileCreated event, with its version, reaches the queue
    _, event = inbox.wait_event("ProfileCreated", sub)
    stored = scenario.profile(stack, sub)
    assert stored is not None
    assert event["detail"]["version"] == stored["version"]


def test_sign_in_issues_a_verified_id_token_with_profile_claims(stack: Stack) -> None:
    # Given a confirmed user
    email = new_email()
    sub = scenario.sign_up(stack, email, {"name": "Ada Lovelace", "locale": "en-GB"})
    # When they sign in
    tokens = scenario.sign_in(stack, email)
    # Then the ID token verifies against cognito-local's JWKS and carries the profile's claims
    claims = scenario.verify_id_token(stack, tokens["IdToken"])
    assert claims["sub"] == sub
    assert (claims["name"], claims["locale"]) == ("Ada Lovelace", "en-GB")


@pytest.mark.parametrize(
    ("provider", "attributes", "display_name"),
    [
        ("Google", {"name": "Grace Hopper"}, "Grace Hopper"),
        ("SignInWithApple", {"given_name": "Katherine", "family_name": "Johnson"}, "Katherine Johnson"),
    ],
)
def test_federated_first_sign_in_creates_the_profile_and_claims(
    stack: Stack, provider: str, attributes: dict[str, str], display_name: str
) -> None:
    # Given a first sign-in through a social provider
    user = scenario.federated(provider, uuid.uuid4().hex, new_email(), attributes)
    # When Cognito's post-confirmation and pre-token events reach the functions
    claims = scenario.federated_first_sign_in(stack, user)
    # Then the profile names the provider and the token carries the name
    stored = scenario.profile(stack, user.sub)
    assert stored is not None
    assert stored["providers"] == [provider]
    assert stored["display_name"] == display_name
    assert claims["name"] == display_name


def test_forgot_password_confirmation_leaves_profile_untouched(stack: Stack) -> None:
    # Given a user whose profile was edited since sign-up
    email = new_email()
    sub = scenario.sign_up(stack, email, {"name": "Ada Lovelace"})
    scenario.edit_profile(stack, sub, {"display_name": "Ada King"})
    before = scenario.profile_item(stack, sub)
    # When they reset their password
    scenario.reset_password(stack, email)
    # Then the trigger ran and the profile is byte-for-byte the same
    assert any(item.source == "PostConfirmation_ConfirmForgotPassword" for item in stack.runtime.history)  # type: ignore[union-attr]
    assert scenario.profile_item(stack, sub) == before
    assert scenario.sign_in(stack, email, scenario.NEW_PASSWORD)["IdToken"]


def test_profile_edit_reaches_the_consumer_queue_and_cognito(stack: Stack) -> None:
    # Given a confirmed user and the example consumer's queue
    email = new_email()
    sub = scenario.sign_up(stack, email, {"name": "Ada Lovelace"})
    inbox = scenario.Inbox(stack, scenario.consumer_queues(stack))
    # When their profile changes a synced field
    scenario.edit_profile(stack, sub, {"display_name": "Ada King"})
    # Then a ProfileUpdated event arrives and cognito-local holds the new name
    _, event = inbox.wait_event("ProfileUpdated", sub)
    assert event["detail-type"] == "ProfileUpdated"
    scenario.wait_for(
        lambda: True if scenario.cognito_attributes(stack, email).get("name") == "Ada King" else None,
        "name synced to cognito-local",
    )


def test_profile_deletion_reaches_the_consumer_queue(stack: Stack) -> None:
    # Given a confirmed user
    sub = scenario.sign_up(stack, new_email(), {"name": "Ada Lovelace"})
    inbox = scenario.Inbox(stack, scenario.consumer_queues(stack))
    # When the profile is deleted
    scenario.delete_profile(stack, sub)
    # Then ProfileDeleted arrives at the consumer queue
    _, event = inbox.wait_event("ProfileDeleted", sub)
    assert event["detail-type"] == "ProfileDeleted"


def test_stream_handler_failure_ends_in_the_on_failure_destination(stack: Stack) -> None:
    # Given a stream function that fails every batch, and its S3 on-failure destination
    assert stack.runtime is not None
    poller = next(p for p in stack.pollers if p.spec.on_failure and not p.spec.filters)
    bucket = (poller.spec.on_failure or "").removeprefix("arn:aws:s3:::")
    user_id = str(uuid.uuid4())

    def this_batch() -> tuple[str, dict[str, Any]] | None:
        return next((found for found in scenario.failed_batches(stack, bucket) if user_id in json.dumps(found)), None)

    with stack.runtime.override(poller.spec.function, "broken.handler", BROKEN):
        # When a profile is written
        stack.client("dynamodb").put_item(
            TableName=stack.table_name, Item={"user_id": {"S": user_id}, "version": {"N": "1"}}
        )
        # Then, after the retries, Lambda's record of that batch, its records included, is written to the bucket
        key, record = scenario.wait_for(this_batch, f"failed batch in {bucket}", timeout=15)
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == poller.spec.retry_limit + 1
    assert record["requestContext"]["functionArn"].endswith(f":function:{poller.spec.function}")
    assert record["responseContext"]["functionError"] == "Unhandled"
    batch = record["DDBStreamBatchInfo"]
    assert batch["streamArn"] == poller.stream_arn
    assert key.startswith(f"aws/lambda/{poller.spec.esm_uuid}/{batch['shardId']}/")
    assert [item["dynamodb"]["Keys"]["user_id"]["S"] for item in record["payload"]["Records"]] == [user_id]
    assert record["payload"]["Records"][0]["dynamodb"]["SequenceNumber"] == batch["startSequenceNumber"]


def test_a_stream_mapping_still_delivers_when_another_table_was_written_before_its_tables_first_record(
    stack: Stack,
) -> None:
    # Given a mapping on the stream of a table that has never held a record, and a second table
    dynamodb, tag = stack.client("dynamodb"), uuid.uuid4().hex[:8]
    watched, other = f"watched-{tag}", f"other-{tag}"
    arn = dynamodb.create_table(**create_table_kwargs("ProfileTable", watched))["TableDescription"]["LatestStreamArn"]
    dynamodb.create_table(**create_table_kwargs("ProfileTable", other))
    delivered: list[dict[str, Any]] = []

    def invoke(batch: list[dict[str, Any]]) -> tuple[None, None]:
        delivered.extend(batch)
        return None, None

    poller = MappingPoller(MappingSpec("watched", "none"), stack.client("dynamodbstreams"), None, arn, invoke)
    poller.start()
    try:
        # When the second table is written first (DynamoDB Local then calls the mapping's iterator trimmed)
        dynamodb.put_item(TableName=other, Item={"user_id": {"S": "elsewhere"}})
        time.sleep(0.2)  # polls in between, as the stack's pollers would
        dynamodb.put_item(TableName=watched, Item={"user_id": {"S": "first"}})
        # Then the table's first record still reaches the function, once
        scenario.wait_for(lambda: delivered or None, "the watched table's first record")
        time.sleep(0.2)
        assert [record["dynamodb"]["Keys"]["user_id"]["S"] for record in delivered] == ["first"]
    finally:
        poller.stop()
        poller.join(timeout=2)
        for table in (watched, other):
            dynamodb.delete_table(TableName=table)


def test_invoke_api_reports_a_handler_exception_like_lambda(stack: Stack) -> None:
    # Given a function whose handler prints, then raises
    assert stack.runtime is not None
    with stack.runtime.override("PostConfirmationFunction", "broken.handler", BROKEN):
        # When it is invoked through the Invoke API, asking for the log tail, by ARN
        response = stack.client("lambda").invoke(
            FunctionName="arn:aws:lambda:us-east-1:123456789012:function:PostConfirmationFunction",
            Payload=b"{}",
            LogType="Tail",
        )
    # Then the call succeeds with X-Amz-Function-Error and Lambda's error body, and the logs
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    body = json.loads(response["Payload"].read())
    assert (body["errorType"], body["errorMessage"]) == ("ValueError", "boom")
    assert body["stackTrace"]
    logs = base64.b64decode(response["LogResult"]).decode()
    assert "about to fail" in logs
    assert "REPORT RequestId" in logs


def test_invoke_api_answers_unknown_functions_with_resource_not_found(stack: Stack) -> None:
    # When a function the template does not declare is invoked
    with pytest.raises(ClientError) as raised:
        stack.client("lambda").invoke(FunctionName="NoSuchFunction", Payload=b"{}")
    # Then the error is Lambda's
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_invoke_api_rejects_a_payload_that_is_not_json(stack: Stack) -> None:
    # When the payload is not JSON
    with pytest.raises(ClientError) as raised:
        stack.client("lambda").invoke(FunctionName="PostConfirmationFunction", Payload=b"{not json")
    # Then Lambda's 400 comes back
    assert raised.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_updating_a_user_cognito_does_not_know_answers_user_not_found(stack: Stack) -> None:
    # When an attribute of a user that is not in the pool is written (as the Cognito sync may)
    with pytest.raises(ClientError) as raised:
        stack.client("cognito-idp").admin_update_user_attributes(
            UserPoolId=stack.user_pool_id,
            Username="Google_000000000000",
            UserAttributes=[{"Name": "name", "Value": "Nobody"}],
        )
    # Then the error is Cognito's, not cognito-local's NotAuthorizedException
    assert raised.value.response["Error"]["Code"] == "UserNotFoundException"


def test_invoke_command_runs_a_sample_event_and_prints_response_and_logs() -> None:
    # Given a sample event from events/ (no stack running: the command starts its own)
    root = Path(__file__).resolve().parents[2]
    event = root / "events" / "cognito" / "post_confirmation_email_sign_up.json"
    # When `python -m local invoke` runs it
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "local", "invoke", "PostConfirmationFunction", "-e", str(event)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    # Then it prints the function's response on stdout, its logs on stderr, and exits 0
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["triggerSource"] == "PostConfirmation_ConfirmSignUp"
    assert "REPORT RequestId" in result.stderr
