"""publish_events under moto: stream records from real writes, events through a real rule to a queue."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from shared.event_models import DETAIL_MODELS
from shared.profile import Profile
from stream_handlers.publish_events.app import handler
from tests.streams import SOURCE, LambdaContext, Stack, deliver

NOW = "2026-11-28T00:00:00.000Z"


def create(stack: Stack, user_id: str, **fields: Any) -> None:
    profile = Profile(user_id=user_id, username=f"name-{user_id}", created_at=NOW, updated_at=NOW, fields=fields)
    stack.repository.create_if_absent(profile)


def invoke(records: list[dict[str, Any]], context: LambdaContext) -> dict[str, Any]:
    return handler({"Records": records}, context)  # type: ignore[arg-type]


def refuse_entries(refused: Callable[[dict[str, Any]], bool]) -> None:
    """Make EventBridge refuse the entries ``refused`` picks (moto answers a malformed Detail per entry)."""

    def corrupt(params: dict[str, Any], **_: Any) -> None:
        params["Entries"] = [
            {**entry, "Detail": "not json"} if refused(json.loads(entry["Detail"])) else entry
            for entry in params["Entries"]
        ]

    boto3.DEFAULT_SESSION.events.register("before-parameter-build.events.PutEvents", corrupt)  # type: ignore[union-attr]


def test_each_change_becomes_one_event_of_its_type(stack: Stack, context: LambdaContext) -> None:
    # Given a profile created, updated and deleted
    create(stack, "u1", plan="free")
    stack.repository.update("u1", {"plan": "pro"}, expected_version=1)
    stack.repository.delete("u1")

    # When the stream batch is handled
    response = invoke(stack.stream.read(), context)

    # Then the consumer receives one valid event per change, in order
    received = stack.received()
    assert response == {"batchItemFailures": []}
    assert [event["detail-type"] for event in received] == ["ProfileCreated", "ProfileUpdated", "ProfileDeleted"]
    for event in received:
        DETAIL_MODELS[event["detail-type"]].model_validate(event["detail"])
        assert event["source"] == SOURCE
    assert [event["detail"]["version"] for event in received] == [1, 2, 3]
    assert received[1]["detail"]["new"] == {"plan": "pro"}
    assert received[1]["detail"]["old"] == {"plan": "free"}


def test_a_bookkeeping_only_change_publishes_nothing(stack: Stack, context: LambdaContext) -> None:
    # Given a profile whose update touched no field (only version and updated_at)
    create(stack, "u1", plan="free")
    stack.stream.read()
    stack.repository.update("u1", {}, expected_version=1)
    records = stack.stream.read()
    stack.calls.clear()

    # When the batch is handled
    response = invoke(records, context)

    # Then no event is put
    assert response == {"batchItemFailures": []}
    assert stack.calls.of("PutEvents") == []


def test_redelivering_a_batch_three_times_yields_the_same_event_ids(stack: Stack, context: LambdaContext) -> None:
    # Given a batch of changes
    for index in range(5):
        create(stack, f"u{index}", plan="free")
    stack.repository.update("u0", {"plan": "pro"}, expected_version=1)
    records = stack.stream.read()

    # When Lambda delivers the same batch three times
    deliveries = []
    for _ in range(3):
        invoke(records, context)
        deliveries.append([event["detail"]["event_id"] for event in stack.received()])

    # Then every delivery carries the same event ids, one per change
    assert len(set(deliveries[0])) == 6
    assert deliveries[0] == deliveries[1] == deliveries[2]


@pytest.mark.parametrize("k", [0, 4, 9])
def test_a_refused_entry_is_the_only_one_resent(stack: Stack, context: LambdaContext, k: int) -> None:
    # Given ten changes of ten users, and EventBridge refusing entry k once
    for index in range(10):
        create(stack, f"u{index}")
    records = stack.stream.read()
    refused_once: list[str] = []

    def refuse_k_once(detail: dict[str, Any]) -> bool:
        if detail["user_id"] == f"u{k}" and not refused_once:
            refused_once.append(detail["event_id"])
            return True
        return False

    refuse_entries(refuse_k_once)
    stack.calls.clear()

    # When the batch is handled
    response = invoke(records, context)

    # Then the second PutEvents call resends entry k alone, and all ten events arrive
    calls = stack.calls.of("PutEvents")
    assert [len(call["Entries"]) for call in calls] == [10, 1]
    assert json.loads(calls[1]["Entries"][0]["Detail"])["event_id"] == refused_once[0]
    assert response == {"batchItemFailures": []}
    assert len(stack.received()) == 10


@pytest.mark.parametrize("k", [0, 37, 99])
def test_a_record_still_refused_is_reported_by_its_sequence_number(
    stack: Stack, context: LambdaContext, k: int
) -> None:
    # Given 100 changes, and EventBridge always refusing record k's event
    for index in range(100):
        create(stack, f"u{index:03}")
    records = stack.stream.read()
    refuse_entries(lambda detail: detail["user_id"] == f"u{k:03}")

    # When the batch is handled
    response = invoke(records, context)

    # Then exactly record k is reported, so Lambda resumes from it
    assert response == {"batchItemFailures": [{"itemIdentifier": records[k]["dynamodb"]["SequenceNumber"]}]}


def test_nothing_after_a_stuck_record_is_published(stack: Stack, context: LambdaContext) -> None:
    # Given 30 changes, and EventBridge always refusing the 15th record's event
    for index in range(30):
        create(stack, f"u{index:02}")
    records = stack.stream.read()
    refuse_entries(lambda detail: detail["user_id"] == "u14")

    # When the batch is handled
    invoke(records, context)

    # Then only the first chunk (records 0-9) and the refused record's chunk-mates are published
    published = sorted(event["detail"]["user_id"] for event in stack.received())
    assert published == [f"u{index:02}" for index in range(20) if index != 14]


def test_one_put_events_call_never_holds_two_versions_of_a_user(stack: Stack, context: LambdaContext) -> None:
    # Given three consecutive changes of one user
    create(stack, "u1", plan="a")
    stack.repository.update("u1", {"plan": "b"}, expected_version=1)
    stack.repository.update("u1", {"plan": "c"}, expected_version=2)
    records = stack.stream.read()
    stack.calls.clear()

    # When the batch is handled
    invoke(records, context)

    # Then each version goes in its own call, in version order
    calls = stack.calls.of("PutEvents")
    assert [[json.loads(entry["Detail"])["version"] for entry in call["Entries"]] for call in calls] == [[1], [2], [3]]


def test_100_changes_of_100_users_take_10_put_events_calls(stack: Stack, context: LambdaContext) -> None:
    # Given 100 changes of 100 users
    for index in range(100):
        create(stack, f"u{index:03}")
    records = stack.stream.read()
    stack.calls.clear()

    # When the batch is handled
    invoke(records, context)

    # Then PutEvents is called 10 times with 10 entries each, and nothing else is called
    assert [len(call["Entries"]) for call in stack.calls.of("PutEvents")] == [10] * 10
    assert len(stack.calls.made) == 10


def test_versions_never_regress_at_a_consumer_despite_failures_and_redeliveries(
    stack: Stack, context: LambdaContext
) -> None:
    # Given 50 users with 20 versions each, written in random order (a user's versions often adjacent)
    chance = random.Random(7)
    for index in range(50):
        create(stack, f"u{index:02}", plan="v1")
    versions = dict.fromkeys(range(50), 1)
    for index in chance.sample([index for index in range(50) for _ in range(19)], k=50 * 19):
        versions[index] += 1
        stack.repository.update(f"u{index:02}", {"plan": f"v{versions[index]}"}, expected_version=versions[index] - 1)
    records = stack.stream.read()
    # ...EventBridge refusing one entry in ten, whole batches redelivered, and a random batch size
    refuse_entries(lambda _detail: chance.random() < 0.1)
    # ...and a consumer that keeps each user's highest version, reading as events arrive
    highest: dict[str, int] = {}
    seen: set[str] = set()
    regressions = 0

    def consume() -> None:
        nonlocal regressions
        for event in stack.received():
            detail = event["detail"]
            if detail["event_id"] in seen:
                continue  # a duplicate: same event id
            seen.add(detail["event_id"])
            if detail["version"] < highest.get(detail["user_id"], 0):
                regressions += 1
            highest[detail["user_id"]] = max(detail["version"], highest.get(detail["user_id"], 0))

    def flaky_lambda(event: dict[str, Any]) -> dict[str, Any]:
        response = handler(event, context)  # type: ignore[arg-type]
        consume()
        if chance.random() < 0.3:
            handler(event, context)  # type: ignore[arg-type]  # a duplicate delivery
            consume()
        return response

    # When the stream is delivered until done
    deliver(flaky_lambda, records, batch_size=chance.choice([25, 60, 100]))

    # Then the consumer saw every change once, reached the last version, and no new event went back in version
    assert regressions == 0
    assert len(seen) == 1000
    assert set(highest.values()) == {20}


def test_a_poison_record_goes_to_the_dead_letter_queue_and_the_rest_is_published(
    stack: Stack, context: LambdaContext
) -> None:
    # Given a batch whose second record has an undecodable image
    create(stack, "u1", plan="a")
    stack.repository.update("u1", {"plan": "b"}, expected_version=1)
    stack.repository.update("u1", {"plan": "c"}, expected_version=2)
    records = stack.stream.read()
    records[1]["dynamodb"]["NewImage"]["plan"] = {"Q": "not a DynamoDB type"}

    # When the batch is handled
    response = invoke(records, context)

    # Then the batch succeeds, the poison record is parked, and the user's other changes are published
    assert response == {"batchItemFailures": []}
    parked = stack.dead_letters()
    assert [letter["SequenceNumber"] for letter in parked] == [records[1]["dynamodb"]["SequenceNumber"]]
    assert "NewImage" in parked[0]["reason"]
    assert [event["detail"]["version"] for event in stack.received()] == [1, 3]


def test_an_oversized_event_goes_to_the_dead_letter_queue(
    stack: Stack, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given events limited to 400 bytes and carrying PII (preferences are PII: redacted, they would be small),
    # and a change whose event is larger
    monkeypatch.setenv("MAX_ENTRY_BYTES", "400")
    monkeypatch.setenv("INCLUDE_PII", "true")
    create(stack, "u1", preferences={"theme": "x" * 500})
    create(stack, "u2", plan="free")

    # When the batch is handled
    response = invoke(stack.stream.read(), context)

    # Then the oversized one is parked and the other published
    parked = stack.dead_letters()
    assert response == {"batchItemFailures": []}
    assert [letter["Keys"] for letter in parked] == [{"user_id": {"S": "u1"}}]
    assert parked[0]["reason"].startswith("event is ")
    assert [event["detail"]["user_id"] for event in stack.received()] == ["u2"]


def test_pii_values_are_redacted_by_default(stack: Stack, context: LambdaContext) -> None:
    # Given a change of a PII field and of a non-PII field
    create(stack, "u1", display_name="Ada Lovelace", plan="free")
    stack.stream.read()
    stack.repository.update("u1", {"display_name": "Ada King", "plan": "pro"}, expected_version=1)

    # When the batch is handled
    invoke(stack.stream.read(), context)

    # Then the PII values are replaced by the marker and named as redacted
    detail = stack.received()[0]["detail"]
    assert detail["new"] == {"display_name": "***", "plan": "pro"}
    assert detail["old"] == {"display_name": "***", "plan": "free"}
    assert detail["redacted"] == ["display_name"]


def test_pii_values_are_published_when_enabled(
    stack: Stack, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given events configured to include PII, and a change of a PII field
    monkeypatch.setenv("INCLUDE_PII", "true")
    create(stack, "u1", display_name="Ada Lovelace")

    # When the batch is handled
    invoke(stack.stream.read(), context)

    # Then the value is in the event
    detail = stack.received()[0]["detail"]
    assert detail["new"] == {"display_name": "Ada Lovelace"}
    assert detail["redacted"] == []


def test_a_record_without_a_sequence_number_fails_the_whole_batch(
    stack: Stack, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a record with no dynamodb section, and a dead-letter queue that cannot be reached
    create(stack, "u1")
    records = stack.stream.read()
    del records[0]["dynamodb"]
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/missing")

    # When the batch is handled
    response = invoke(records, context)

    # Then the failure is reported with an empty identifier: Lambda retries the whole batch
    assert response == {"batchItemFailures": [{"itemIdentifier": ""}]}


def test_no_pii_value_reaches_the_logs(stack: Stack, context: LambdaContext, logs: Callable[[], str]) -> None:
    # Given changes of PII fields, one of them in a poison record
    create(stack, "u1", email="ada@example.com", display_name="Ada Lovelace")
    stack.repository.update("u1", {"display_name": "Countess Lovelace"}, expected_version=1)
    records = stack.stream.read()
    records[1]["dynamodb"]["OldImage"]["email"] = {"Q": "ada@example.com"}

    # When the batch is handled
    invoke(records, context)

    # Then the logs name records and problems, never the values
    text = logs()
    assert "Record sent to the dead-letter queue" in text
    for value in ("ada@example.com", "Ada Lovelace", "Countess Lovelace"):
        assert value not in text
