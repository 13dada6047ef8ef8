"""template.yaml wires the stream handlers as the design needs: partial failures, bounded
retries, an on-failure destination, least privilege, and no way for the sync to write the table.
What the roles may do after the SAM transform: tests/handlers/test_transformed_iam.py."""

from __future__ import annotations

from typing import Any

import pytest

from local.support import resolved, resource, resources_of_type, stream_mappings, template

STREAM_FUNCTIONS = ["PublishEventsFunction", "SyncCognitoFunction"]


def stream_event(function: str) -> dict[str, Any]:
    """The function's one event source mapping on the table's stream (SAM's names: ``Stream``)."""
    (mapping,) = [mapping for mapping in stream_mappings().values() if mapping["Function"] == function]
    return mapping


def statements(logical_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in resource(logical_id)["Properties"]["Policies"]
        for statement in policy.get("Statement", [])
    ]


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


# The stream keeps records 24 h; the handlers park records older than 23 h themselves, with
# their content. Lambda retries until a record is 23.5 h old, then hands the batch to the bucket.
STREAM_RETENTION_SECONDS = 24 * 3600
HANDLERS_PARK_AFTER_SECONDS = 23 * 3600


@pytest.mark.parametrize("logical_id", STREAM_FUNCTIONS)
def test_stream_handler_retries_until_the_record_is_23_5_hours_old(logical_id: str) -> None:
    # Given a stream handler's event source mapping, When it is read,
    # Then failures are per record and bisected, retried without a count limit but bounded by
    # the record's age (after the handlers' own parking, before the stream drops the record),
    # and a batch given up on goes whole to the failed-batch bucket
    event = stream_event(logical_id)
    assert event["Stream"] == {"Fn::GetAtt": ["ProfileTable", "StreamArn"]}
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["BisectBatchOnFunctionError"] is True
    assert event["MaximumRetryAttempts"] == -1
    assert event["MaximumRecordAgeInSeconds"] == 84600
    assert HANDLERS_PARK_AFTER_SECONDS < event["MaximumRecordAgeInSeconds"] < STREAM_RETENTION_SECONDS
    assert event["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FailedBatchBucket", "Arn"]}


def test_failed_batch_bucket_is_private_encrypted_tls_only_retained_and_expiring() -> None:
    # Given the bucket Lambda writes discarded batches to (they hold profile PII),
    # When its definition and policy are read,
    # Then it blocks public access, encrypts at rest, refuses plain HTTP, outlives the stack and
    # expires objects after FailedBatchRetentionDays
    bucket = resource("FailedBatchBucket")
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["UpdateReplacePolicy"] == "Retain"
    properties = bucket["Properties"]
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (encryption,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    (rule,) = properties["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == {"Ref": "FailedBatchRetentionDays"}
    policy = resource("FailedBatchBucketPolicy")["Properties"]
    assert policy["Bucket"] == {"Ref": "FailedBatchBucket"}
    (deny,) = policy["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "s3:*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert sorted(map(str, deny["Resource"])) == sorted(
        map(str, [{"Fn::GetAtt": ["FailedBatchBucket", "Arn"]}, {"Fn::Sub": "${FailedBatchBucket.Arn}/*"}])
    )


def test_failed_batches_and_failed_deliveries_are_alarmed() -> None:
    # Given the alarms, When they are read, Then an object written to the failed-batch bucket
    # (S3 request metrics of the whole bucket) and a batch Lambda could not deliver there
    # (DestinationDeliveryFailures of each stream handler) each raise one
    bucket = resource("FailedBatchBucket")["Properties"]
    (metrics,) = bucket["MetricsConfigurations"]
    assert not {"Prefix", "TagFilters", "AccessPointArn"} & set(metrics)  # the whole bucket
    alarm = resource("FailedBatchAlarm")["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/S3", "PutRequests")
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
        "BucketName": {"Ref": "FailedBatchBucket"},
        "FilterId": metrics["Id"],
    }
    alarms = [body["Properties"] for body in resources_of_type("AWS::CloudWatch::Alarm").values()]
    for function in STREAM_FUNCTIONS:
        assert [
            a
            for a in alarms
            if a.get("MetricName") == "DestinationDeliveryFailures"
            and a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]
        ], function


def test_failed_batch_bucket_is_an_output() -> None:
    outputs = template()["Outputs"]
    assert outputs["FailedBatchBucketName"]["Value"] == {"Ref": "FailedBatchBucket"}
    assert outputs["FailedBatchBucketArn"]["Value"] == {"Fn::GetAtt": ["FailedBatchBucket", "Arn"]}


@pytest.mark.parametrize("logical_id", STREAM_FUNCTIONS)
def test_stream_mapping_is_a_resource_with_the_logical_id_sam_gave_it(logical_id: str) -> None:
    # Given a stream handler, When its mapping is looked up,
    # Then it is an AWS::Lambda::EventSourceMapping named as SAM named the former `Events` entry,
    # so an existing stack updates its mapping in place instead of adding a second reader
    assert "Events" not in resource(logical_id)["Properties"]
    mapping = resources_of_type("AWS::Lambda::EventSourceMapping")[f"{logical_id}ProfileStream"]["Properties"]
    assert mapping["FunctionName"] == {"Ref": logical_id}
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["ProfileTable", "StreamArn"]}
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"], mapping["ParallelizationFactor"]) == (
        100,
        1,
        1,
    )


def test_publisher_may_put_events_on_its_bus_only() -> None:
    # Given the publisher's policy, When its PutEvents grant is read, Then it names the bus alone
    (grant,) = [
        statement for statement in statements("PublishEventsFunction") if "events:PutEvents" in actions(statement)
    ]
    assert grant["Resource"] == {"Fn::GetAtt": ["ProfileEventBus", "Arn"]}


def test_sync_may_write_attributes_of_its_pool_and_never_the_table() -> None:
    # Given the sync's policy, When its actions are read,
    # Then Cognito writes are limited to the pool and its only DynamoDB actions read the stream
    granted = statements("SyncCognitoFunction")
    cognito = [statement for statement in granted if any(a.startswith("cognito-idp:") for a in actions(statement))]
    assert [resolved(statement["Resource"]) for statement in cognito] == [resolved({"Fn::GetAtt": ["UserPool", "Arn"]})]
    dynamodb = [statement for statement in granted if any(a.startswith("dynamodb:") for a in actions(statement))]
    assert [statement["Resource"] for statement in dynamodb] == [{"Fn::GetAtt": ["ProfileTable", "StreamArn"]}]
    assert set(actions(dynamodb[0])) == {
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    }


def test_sync_is_invoked_for_updates_only() -> None:
    # Given the sync's filter, When it is read, Then only MODIFY records reach the function
    (pattern,) = stream_event("SyncCognitoFunction")["FilterCriteria"]["Filters"]
    assert pattern["Pattern"] == '{"eventName": ["MODIFY"]}'


def test_example_consumer_queue_accepts_its_rule_only() -> None:
    # Given the consumer queue's policy, When its statement is read, Then only the rule may send
    (statement,) = resource("ExampleConsumerQueuePolicy")["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["ExampleConsumerRule", "Arn"]}
