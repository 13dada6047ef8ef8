"""The example consumer (consumers/example) under moto: its queue's events -> its own copy, built from
template.yaml, equal to the profile table whatever the order and number of deliveries."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError

from consumers.example.app import handler
from consumers.example.copies import TOMBSTONE_DAYS, CopyConflict, CopyTable
from local.support import (
    EVENTS,
    LambdaContext,
    MotoStack,
    create_table_kwargs,
    handler_for,
    moto_stack,
    resource,
    template,
)
from profile_sync_consumer.events import parse_event
from stream_handlers.publish_events.app import handler as publish
from tests.streams import live_through_cycles, table_profiles

COPIES = "example-consumer-copies"
USER = "0f8fad5b-d9cb-469f-a165-70867728950e"
SECRET = "ada@example.com"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoStack]:
    """The profile table, bus and example queue, and the consumer's own table, as template.yaml declares them."""
    with moto_stack() as stack:
        stack.dynamodb.create_table(**create_table_kwargs("ExampleConsumerTable", COPIES))
        for name, value in stack.environment("PublishEventsFunction").items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("INCLUDE_PII", "true")
        monkeypatch.setenv("CONSUMER_TABLE_NAME", COPIES)
        yield stack


def message(body: Any, message_id: str) -> dict[str, Any]:
    """An SQS event record as Lambda delivers it (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html)."""
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795856400257"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:profile-sync-example-consumer",
        "awsRegion": "us-east-1",
    }


def consume(*records: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = handler({"Records": list(records)}, LambdaContext.of("ExampleConsumerFunction"))
    return response


def copies(stack: MotoStack) -> CopyTable:
    return CopyTable(stack.dynamodb, COPIES, write_attempts=3)


def event(detail_type: str, version: int, **detail: Any) -> dict[str, Any]:
    body = {"contract_version": 1, "event_id": f"e{version}", "user_id": USER, "version": version}
    body |= {"occurred_at": "2026-11-28T09:00:00.257Z", "changed": [], "redacted": [], "new": {}, "old": {}}
    return {"detail-type": detail_type, "source": "profile-sync", "detail": body | detail}


CREATED = event("ProfileCreated", 10, changed=["plan", "email"], new={"plan": "free", "email": SECRET})
UPDATED = event("ProfileUpdated", 11, changed=["plan"], new={"plan": "pro"}, old={"plan": "free"})


def test_a_shuffled_duplicated_recorded_stream_ends_equal_to_the_profile_table(stack: MotoStack) -> None:
    # Given the events 8 users' create / edit / delete / re-create cycles published, recorded at the queue
    chance = random.Random(11)
    live_through_cycles(stack, chance, users=8)
    assert publish({"Records": stack.stream.read()}, LambdaContext.of("PublishEventsFunction")) == {
        "batchItemFailures": []
    }
    recorded = stack.received()
    # ...delivered shuffled, a third of them twice, in SQS batches of 10 (the mapping's BatchSize)
    delivered = recorded + chance.sample(recorded, k=len(recorded) // 3)
    chance.shuffle(delivered)
    records = [message(body, f"m{index}") for index, body in enumerate(delivered)]

    # When the consumer handles every batch
    responses = [consume(*records[start : start + 10]) for start in range(0, len(records), 10)]

    # Then no message failed and its copy holds the profile table's profiles, field for field
    assert all(response == {"batchItemFailures": []} for response in responses)
    assert len(recorded) > 40
    assert copies(stack).profiles() == table_profiles(stack)


def test_a_message_that_is_not_a_profile_event_fails_alone_and_its_values_stay_out_of_the_log(
    stack: MotoStack, logs: Callable[[], str]
) -> None:
    # Given a batch with a creation, an event with a text version (and an email in it), and an update
    broken = event("ProfileUpdated", 12, new={"email": SECRET})
    broken["detail"]["version"] = "12"

    # When the consumer handles it
    response = consume(message(CREATED, "m1"), message(broken, "m2"), message(UPDATED, "m3"))

    # Then only the broken message is reported, the others are applied, and the log names the problem only
    assert response == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert copies(stack).profiles() == {USER: {"plan": "pro", "email": SECRET}}
    assert "detail.version is not a positive integer" in logs()
    assert SECRET not in logs()


def test_a_table_it_cannot_write_fails_the_messages_and_logs_the_error_code_only(
    stack: MotoStack, monkeypatch: pytest.MonkeyPatch, logs: Callable[[], str]
) -> None:
    # Given a consumer whose table does not exist
    monkeypatch.setenv("CONSUMER_TABLE_NAME", "no-such-table")

    # When it handles a batch, Then every message fails (SQS delivers them again)
    with pytest.raises(BatchProcessingError):
        consume(message(CREATED, "m1"), message(UPDATED, "m2"))

    # And the log names each message, its user and the AWS error code, never a value
    assert logs().count('"msg": "Event not applied"') == 2
    assert "ResourceNotFoundException" in logs()
    assert SECRET not in logs()


def test_a_duplicate_costs_one_read_and_writes_nothing(stack: MotoStack) -> None:
    # Given an applied creation
    consume(message(CREATED, "m1"))
    stack.calls.clear()

    # When SQS delivers it again
    assert consume(message(CREATED, "m2")) == {"batchItemFailures": []}

    # Then the consumer read the copy once and wrote nothing
    assert stack.calls.operations == ["GetItem"]


def test_an_event_reaches_the_copy_with_one_read_and_one_conditional_write(stack: MotoStack) -> None:
    consume(message(CREATED, "m1"))
    stack.calls.clear()

    consume(message(UPDATED, "m2"))

    assert stack.calls.operations == ["GetItem", "PutItem"]
    (put,) = stack.calls.of("PutItem")
    assert put["ConditionExpression"] == "revision = :read"
    assert put["ExpressionAttributeValues"] == {":read": {"N": "1"}}


class Racing:
    """A DynamoDB client under which another invocation writes the same user's copy between the
    first read and the first write (a fake of the race two concurrent batches can run)."""

    def __init__(self, client: Any, rival: CopyTable, rival_event: Any) -> None:
        self.client, self.rival, self.rival_event = client, rival, rival_event
        self.calls: list[str] = []

    def get_item(self, **kwargs: Any) -> Any:
        self.calls.append("GetItem")
        return self.client.get_item(**kwargs)

    def put_item(self, **kwargs: Any) -> Any:
        self.calls.append("PutItem")
        if self.rival_event is not None:
            self.rival.apply(self.rival_event)
            self.rival_event = None
        return self.client.put_item(**kwargs)


def test_a_write_that_loses_a_race_reads_again_and_keeps_both_changes(stack: MotoStack) -> None:
    # Given a copy at version 10, and a rival invocation that applies the update of version 11
    # between this invocation's read and write
    copies(stack).apply(parse_event(CREATED))
    racing = Racing(stack.dynamodb, copies(stack), parse_event(UPDATED))
    rename = event("ProfileUpdated", 12, changed=["email"], new={"email": "ada.king@example.com"})

    # When this invocation applies version 12
    assert CopyTable(racing, COPIES, write_attempts=3).apply(parse_event(rename)) is True

    # Then its first write was refused, it read again, and the copy holds both changes
    assert racing.calls == ["GetItem", "PutItem", "GetItem", "PutItem"]
    assert copies(stack).profiles() == {USER: {"plan": "pro", "email": "ada.king@example.com"}}


class AlwaysConflicting:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[str] = []

    def get_item(self, **kwargs: Any) -> Any:
        self.calls.append("GetItem")
        return self.client.get_item(**kwargs)

    def put_item(self, **_: Any) -> Any:
        self.calls.append("PutItem")
        raise ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": ""}}, "PutItem")


def test_a_copy_that_keeps_changing_fails_after_the_bounded_attempts_naming_the_user_only(stack: MotoStack) -> None:
    conflicting = AlwaysConflicting(stack.dynamodb)

    with pytest.raises(CopyConflict) as failed:
        CopyTable(conflicting, COPIES, write_attempts=3).apply(parse_event(CREATED))

    assert conflicting.calls == ["GetItem", "PutItem"] * 3
    assert USER in str(failed.value)
    assert SECRET not in str(failed.value)


NOW = 1_795_856_400


def stored(stack: MotoStack) -> dict[str, Any]:
    item: dict[str, Any] = stack.dynamodb.get_item(TableName=COPIES, Key={"user_id": {"S": USER}})["Item"]
    return item


def test_a_tombstone_expires_after_the_replay_window_and_a_recreated_profile_never_does(stack: MotoStack) -> None:
    clocked = CopyTable(stack.dynamodb, COPIES, write_attempts=3, clock=lambda: NOW)
    # Given a live profile: no expiry
    clocked.apply(parse_event(CREATED))
    assert "expires_at" not in stored(stack)

    # When it is deleted, Then its tombstone expires 30 + 1 + 14 days later (archive, stream, queues)
    clocked.apply(parse_event(event("ProfileDeleted", 12, changed=["plan", "email"])))
    assert stored(stack)["expires_at"] == {"N": str(NOW + 45 * 86_400)}

    # When the user's profile is created again, Then the item loses its expiry
    clocked.apply(parse_event(event("ProfileCreated", 20, event_id="e20b", changed=["plan"], new={"plan": "free"})))
    assert "expires_at" not in stored(stack)


def test_a_tombstone_outlives_the_archive_the_stream_and_the_dead_letter_queue_defaults() -> None:
    # An event older than the deletion can arrive until the archive stops replaying it, a day of
    # stream later, after waiting in the consumer's queues at most their retention
    parameters = template()["Parameters"]
    archive_days = parameters["EventArchiveRetentionDays"]["Default"]
    queue_days = parameters["DeadLetterRetentionSeconds"]["Default"] / 86_400
    assert resource("ExampleConsumerDeadLetterQueue")["Properties"]["MessageRetentionPeriod"] == {
        "Ref": "DeadLetterRetentionSeconds"
    }
    assert archive_days + 1 + queue_days <= TOMBSTONE_DAYS


def test_the_copies_table_expires_items_on_the_attribute_the_consumer_writes() -> None:
    ttl = resource("ExampleConsumerTable")["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}


def test_the_queue_gives_the_function_six_times_its_timeout_and_reports_failures_per_message() -> None:
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-lambda-function-trigger.html
    timeout = resource("ExampleConsumerFunction")["Properties"]["Timeout"]
    assert resource("ExampleConsumerQueue")["Properties"]["VisibilityTimeout"] >= 6 * timeout
    mapping = resource("ExampleConsumerFunctionQueue")["Properties"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["ExampleConsumerQueue", "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] <= 10


def test_the_sample_batch_runs_through_the_handler_the_template_names() -> None:
    # Given events/sqs/example_consumer_batch.json: an update before its creation, and the creation redelivered
    sample = json.loads((EVENTS / "sqs" / "example_consumer_batch.json").read_text())
    sample_user = parse_event(json.loads(sample["Records"][0]["body"])).user_id
    with moto_stack(table_only=True) as stack:
        stack.dynamodb.create_table(**create_table_kwargs("ExampleConsumerTable", COPIES))
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("CONSUMER_TABLE_NAME", COPIES)

            # When the handler template.yaml names handles it
            response = handler_for("ExampleConsumerFunction")(sample, LambdaContext.of("ExampleConsumerFunction"))

            # Then nothing failed and the copy holds the update over the creation (PII as the markers it read)
            assert response == {"batchItemFailures": []}
            assert copies(stack).profiles() == {
                sample_user: {
                    "email": "***",
                    "email_verified": True,
                    "providers": ["Google"],
                    "plan": "pro",
                    "display_name": "***",
                    "locale": "en-GB",
                }
            }
