"""template.yaml wires the stream handlers as the design needs: partial failures, bounded
retries, an on-failure destination, least privilege, and no way for the sync to write the table."""

from __future__ import annotations

from typing import Any

import pytest

from tests.template import resource

STREAM_FUNCTIONS = ["PublishEventsFunction", "SyncCognitoFunction"]


def stream_event(logical_id: str) -> dict[str, Any]:
    (event,) = resource(logical_id)["Properties"]["Events"].values()
    assert event["Type"] == "DynamoDB"
    return event["Properties"]  # type: ignore[no-any-return]


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


def test_publisher_may_put_events_on_its_bus_only() -> None:
    # Given the publisher's policy, When its PutEvents grant is read, Then it names the bus alone
    (grant,) = [
        statement for statement in statements("PublishEventsFunction") if "events:PutEvents" in actions(statement)
    ]
    assert grant["Resource"] == {"Fn::GetAtt": ["ProfileEventBus", "Arn"]}


def test_sync_may_write_attributes_of_its_pool_and_never_the_table() -> None:
    # Given the sync's policy, When its actions are read,
    # Then Cognito writes are limited to the pool and no DynamoDB action is granted
    granted = statements("SyncCognitoFunction")
    cognito = [statement for statement in granted if any(a.startswith("cognito-idp:") for a in actions(statement))]
    assert [statement["Resource"] for statement in cognito] == [{"Fn::GetAtt": ["UserPool", "Arn"]}]
    assert not [a for statement in granted for a in actions(statement) if a.startswith("dynamodb:")]


def test_sync_is_invoked_for_updates_only() -> None:
    # Given the sync's filter, When it is read, Then only MODIFY records reach the function
    (pattern,) = stream_event("SyncCognitoFunction")["FilterCriteria"]["Filters"]
    assert pattern["Pattern"] == '{"eventName": ["MODIFY"]}'


def test_example_consumer_queue_accepts_its_rule_only() -> None:
    # Given the consumer queue's policy, When its statement is read, Then only the rule may send
    (statement,) = resource("ExampleConsumerQueuePolicy")["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["ExampleConsumerRule", "Arn"]}
