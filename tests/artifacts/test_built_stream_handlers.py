"""The built stream handlers run from their build folders, with only boto3 beside them, against
a moto server: the mixed sample batch becomes events at a consumer, and a synced change reaches Cognito."""

from __future__ import annotations

import json

from local.support import EVENTS, resource
from tests.artifacts.conftest import client, run_built

SOURCE = "profile-sync-artifact"


def test_built_publisher_delivers_the_mixed_batch_to_a_consumer(endpoint: str) -> None:
    # Given a bus with a consumer queue subscribed as the example consumer is
    events, sqs = client("events", endpoint), client("sqs", endpoint)
    events.create_event_bus(Name="artifact-profiles")
    queue = sqs.create_queue(QueueName="artifact-consumer")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="consumer", EventBusName="artifact-profiles", EventPattern=json.dumps({"source": [SOURCE]}))
    events.put_targets(Rule="consumer", EventBusName="artifact-profiles", Targets=[{"Id": "q", "Arn": arn}])
    dead_letters = sqs.create_queue(QueueName="artifact-stream-dlq")["QueueUrl"]

    # When the built publisher handles the mixed sample batch
    result = run_built(
        "PublishEventsFunction",
        EVENTS / "streams" / "stream_mixed_batch.json",
        endpoint,
        EVENT_BUS_NAME="artifact-profiles",
        EVENT_SOURCE=SOURCE,
        DEAD_LETTER_QUEUE_URL=dead_letters,
    )

    # Then every change but the bookkeeping-only one reaches the consumer
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    detail_types = [json.loads(message["Body"])["detail-type"] for message in received]
    assert result == {"batchItemFailures": []}
    assert sorted(detail_types) == ["ProfileCreated"] * 2 + ["ProfileDeleted"] + ["ProfileUpdated"] * 3


def test_built_sync_writes_the_synced_change_to_cognito(endpoint: str) -> None:
    # Given the sample user in a pool with the template's custom attributes
    cognito = client("cognito-idp", endpoint)
    schema = [
        {key: value for key, value in attribute.items() if key != "Required"}
        for attribute in resource("UserPool")["Properties"]["Schema"]
        if attribute["Name"] != "email"
    ]
    pool = cognito.create_user_pool(PoolName="artifact", Schema=schema)["UserPool"]["Id"]
    event = EVENTS / "streams" / "stream_modify_synced.json"
    username = json.loads(event.read_text())["Records"][0]["dynamodb"]["NewImage"]["username"]["S"]
    cognito.admin_create_user(UserPoolId=pool, Username=username)
    dead_letters = client("sqs", endpoint).create_queue(QueueName="artifact-sync-dlq")["QueueUrl"]

    # When the built sync handles the sample update of plan and display name
    result = run_built("SyncCognitoFunction", event, endpoint, USER_POOL_ID=pool, DEAD_LETTER_QUEUE_URL=dead_letters)

    # Then Cognito holds the new values
    attributes = {
        item["Name"]: item["Value"]
        for item in cognito.admin_get_user(UserPoolId=pool, Username=username)["UserAttributes"]
    }
    assert result == {"batchItemFailures": []}
    assert attributes["custom:plan"] == "pro"
    assert attributes["name"] == "Ada King"
