"""template.yaml wires the stream handlers as the design needs: partial failures, bounded
retries, an on-failure destination, least privilege, and no way for the sync to write the table.
What the roles may do after the SAM transform: tests/handlers/test_transformed_iam.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.template import resource, resources_of_type, stream_mappings

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


@pytest.mark.parametrize("logical_id", STREAM_FUNCTIONS)
def test_stream_handler_reports_partial_failures_with_bounded_retries(logical_id: str) -> None:
    # Given a stream handler's event source mapping, When it is read,
    # Then failures are per record, bisected, bounded, and end in the dead-letter queue
    event = stream_event(logical_id)
    assert event["Stream"] == {"Fn::GetAtt": ["ProfileTable", "StreamArn"]}
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["BisectBatchOnFunctionError"] is True
    assert 0 < event["MaximumRetryAttempts"] <= 20
    assert 60 <= event["MaximumRecordAgeInSeconds"] <= 86400
    assert event["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["StreamDeadLetterQueue", "Arn"]}


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
    assert [statement["Resource"] for statement in cognito] == [{"Fn::GetAtt": ["UserPool", "Arn"]}]
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
