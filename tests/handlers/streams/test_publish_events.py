"""publish_events under moto: stream records from real writes, events through a real rule to a queue."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from local.support import SOURCE, LambdaContext, MotoStack, deliver
from profile_sync_consumer.models import DETAIL_MODELS
from shared.profile import Profile
from shared.streams import Deadline
from stream_handlers.publish_events.app import handler
from stream_handlers.publish_events.publisher import Publisher, PublishSettings
from tests.streams import FakeClock, FlakyEventBridge, short_invocation

NOW = "2026-11-28T00:00:00.000Z"


def create(stack: MotoStack, user_id: str, **fields: Any) -> None:
    profile = Profile(user_id=user_id, username=f"name-{user_id}", created_at=NOW, updated_at=NOW, fields=fields)
    stack.repository.create_if_absent(profile)


def invoke(records: list[dict[str, Any]]) -> dict[str, Any]:
    response: dict[str, Any] = handler({"Records": records}, short_invocation())
    return response


def refuse_for_good(refused: Callable[[dict[str, Any]], bool]) -> None:
    """Make EventBridge refuse the entries ``refused`` picks for good (moto answers MalformedDetail per entry)."""

    def corrupt(params: dict[str, Any], **_: Any) -> None:
        params["Entries"] = [
            {**entry, "Detail": "not json"} if refused(json.loads(entry["Detail"])) else entry
            for entry in params["Entries"]
        ]

    boto3.DEFAULT_SESSION.events.register("before-parameter-build.events.PutEvents", corrupt)


def test_each_change_becomes_one_event_of_its_type(stack: MotoStack) -> None:
    # Given a profile created, updated and deleted
    create(stack, "u1", plan="free")
    stack.repository.update("u1", {"plan": "pro"}, expected_version=1)
    stack.repository.delete("u1")

    # When the stream batch is handled
    response = invoke(stack.stream.read())

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


def test_a_bookkeeping_only_change_publishes_nothing(stack: MotoStack) -> None:
    # Given a profile whose update touched no field (only version and updated_at)
    create(stack, "u1", plan="free")
    stack.stream.read()
    stack.repository.update("u1", {}, expected_version=1)
    records = stack.stream.read()
    stack.calls.clear()

    # When the batch is handled
    response = invoke(records)

    # Then no event is put
    assert response == {"batchItemFailures": []}
    assert stack.calls.of("PutEvents") == []


def test_redelivering_a_batch_three_times_yields_the_same_event_ids(stack: MotoStack) -> None:
    # Given a batch of changes
    for index in range(5):
        create(stack, f"u{index}", plan="free")
    stack.repository.update("u0", {"plan": "pro"}, expected_version=1)
    records = stack.stream.read()

    # When Lambda delivers the same batch three times
    deliveries = []
    for _ in range(3):
        invoke(records)
        deliveries.append([event["detail"]["event_id"] for event in stack.received()])

    # Then every delivery carries the same event ids, one per change
    assert len(set(deliveries[0])) == 6
    assert deliveries[0] == deliveries[1] == deliveries[2]


@pytest.mark.parametrize("k", [0, 4, 9])
def test_a_refused_entry_is_the_only_one_resent(stack: MotoStack, k: int) -> None:
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

    FlakyEventBridge(refuse_k_once).install()
    stack.calls.clear()

    # When the batch is handled
    response = invoke(records)

    # Then the second PutEvents call resends entry k alone, and all ten events arrive
    calls = stack.calls.of("PutEvents")
    assert [len(call["Entries"]) for call in calls] == [10, 1]
    assert json.loads(calls[1]["Entries"][0]["Detail"])["event_id"] == refused_once[0]
    assert response == {"batchItemFailures": []}
    assert len(stack.received()) == 10


def publisher(stack: MotoStack, clock: FakeClock, wall_clock: float = 0.0, seconds: float = 60) -> Publisher:
    """The publisher with the deployed settings, in an invocation whose time passes only in its sleeps."""
    config = PublishSettings(
        event_bus_name=stack.bus_name, event_source=SOURCE, dead_letter_queue_url=stack.dead_letter_queue_url
    )
    deadline = Deadline(LambdaContext(timeout=seconds, clock=clock), config.answer_margin_seconds)
    return Publisher(
        config,
        boto3.client("events"),
        lambda: boto3.client("sqs"),
        deadline,
        sleep=clock.sleep,
        wall_clock=lambda: wall_clock or time.time(),
    )


@pytest.mark.parametrize("k", [0, 37, 99])
def test_a_record_still_refused_is_retried_until_the_deadline_then_reported(stack: MotoStack, k: int) -> None:
    # Given 100 changes, and EventBridge refusing record k's event with a retryable error, always
    for index in range(100):
        create(stack, f"u{index:03}")
    records = stack.stream.read()
    flaky = FlakyEventBridge(lambda detail: detail["user_id"] == f"u{k:03}").install()
    clock = FakeClock()

    # When the batch is handled in a 60 s invocation
    result = publisher(stack, clock).publish(records)

    # Then record k was retried with growing pauses for as long as the invocation had time,
    # exactly record k is reported (Lambda resumes from it), and nothing is parked
    config = PublishSettings(event_bus_name="b", dead_letter_queue_url="q")
    assert len(flaky.refused) >= 5
    assert 60 - config.answer_margin_seconds - config.call_seconds() - config.retry_max_seconds <= clock.now
    assert clock.now <= 60 - config.answer_margin_seconds - config.call_seconds()
    assert result.response() == {"batchItemFailures": [{"itemIdentifier": records[k]["dynamodb"]["SequenceNumber"]}]}
    assert stack.dead_letters() == []


def test_nothing_after_a_stuck_record_is_published(stack: MotoStack) -> None:
    # Given 30 changes, and EventBridge always refusing the 15th record's event (retryable)
    for index in range(30):
        create(stack, f"u{index:02}")
    records = stack.stream.read()
    FlakyEventBridge(lambda detail: detail["user_id"] == "u14").install()

    # When the batch is handled
    publisher(stack, FakeClock()).publish(records)

    # Then only the first chunk (records 0-9) and the refused record's chunk-mates are published
    published = sorted(event["detail"]["user_id"] for event in stack.received())
    assert published == [f"u{index:02}" for index in range(20) if index != 14]


def test_one_put_events_call_never_holds_two_versions_of_a_user(stack: MotoStack) -> None:
    # Given three consecutive changes of one user
    create(stack, "u1", plan="a")
    stack.repository.update("u1", {"plan": "b"}, expected_version=1)
    stack.repository.update("u1", {"plan": "c"}, expected_version=2)
    records = stack.stream.read()
    stack.calls.clear()

    # When the batch is handled
    invoke(records)

    # Then each version goes in its own call, in version order
    calls = stack.calls.of("PutEvents")
    assert [[json.loads(entry["Detail"])["version"] for entry in call["Entries"]] for call in calls] == [[1], [2], [3]]


def test_100_changes_of_100_users_take_10_put_events_calls(stack: MotoStack) -> None:
    # Given 100 changes of 100 users
    for index in range(100):
        create(stack, f"u{index:03}")
    records = stack.stream.read()
    stack.calls.clear()

    # When the batch is handled, in an invocation with Lambda's full minute: the count must not
    # depend on how fast a loaded machine gets 10 calls through moto within a short one
    handler({"Records": records}, LambdaContext(function_name="stream-handler-test", timeout=60))

    # Then PutEvents is called 10 times with 10 entries each, and nothing else is called
    assert [len(call["Entries"]) for call in stack.calls.of("PutEvents")] == [10] * 10
    assert len(stack.calls.made) == 10


def test_versions_never_regress_at_a_consumer_despite_failures_and_redeliveries(stack: MotoStack) -> None:
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
    FlakyEventBridge(lambda _detail: chance.random() < 0.1).install()
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
        response: dict[str, Any] = handler(event, short_invocation())
        consume()
        if chance.random() < 0.3:
            handler(event, short_invocation())  # a duplicate delivery
            consume()
        return response

    # When the stream is delivered until done
    deliver(flaky_lambda, records, "PublishEventsFunction", batch_size=chance.choice([25, 60, 100]))

    # Then the consumer saw every change once, reached the last version, and no new event went back in version
    assert regressions == 0
    assert len(seen) == 1000
    assert set(highest.values()) == {20}


def test_a_poison_record_goes_to_the_dead_letter_queue_and_the_rest_is_published(stack: MotoStack) -> None:
    # Given a batch whose second record has an undecodable image
    create(stack, "u1", plan="a")
    stack.repository.update("u1", {"plan": "b"}, expected_version=1)
    stack.repository.update("u1", {"plan": "c"}, expected_version=2)
    records = stack.stream.read()
    records[1]["dynamodb"]["NewImage"]["plan"] = {"Q": "not a DynamoDB type"}

    # When the batch is handled
    response = invoke(records)

    # Then the batch succeeds, the poison record is parked, and the user's other changes are published
    assert response == {"batchItemFailures": []}
    parked = stack.dead_letters()
    assert [letter["SequenceNumber"] for letter in parked] == [records[1]["dynamodb"]["SequenceNumber"]]
    assert "NewImage" in parked[0]["reason"]
    assert [event["detail"]["version"] for event in stack.received()] == [1, 3]


def test_an_oversized_event_goes_to_the_dead_letter_queue(stack: MotoStack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given events limited to 400 bytes and carrying PII (preferences are PII: redacted, they would be small),
    # and a change whose event is larger
    monkeypatch.setenv("MAX_ENTRY_BYTES", "400")
    monkeypatch.setenv("INCLUDE_PII", "true")
    create(stack, "u1", preferences={"theme": "x" * 500})
    create(stack, "u2", plan="free")

    # When the batch is handled
    response = invoke(stack.stream.read())

    # Then the oversized one is parked and the other published
    parked = stack.dead_letters()
    assert response == {"batchItemFailures": []}
    assert [letter["Keys"] for letter in parked] == [{"user_id": {"S": "u1"}}]
    assert parked[0]["reason"].startswith("event is ")
    assert [event["detail"]["user_id"] for event in stack.received()] == ["u2"]


def test_pii_values_are_redacted_by_default(stack: MotoStack) -> None:
    # Given a change of a PII field and of a non-PII field
    create(stack, "u1", display_name="Ada Lovelace", plan="free")
    stack.stream.read()
    stack.repository.update("u1", {"display_name": "Ada King", "plan": "pro"}, expected_version=1)

    # When the batch is handled
    invoke(stack.stream.read())

    # Then the PII values are replaced by the marker and named as redacted
    detail = stack.received()[0]["detail"]
    assert detail["new"] == {"display_name": "***", "plan": "pro"}
    assert detail["old"] == {"display_name": "***", "plan": "free"}
    assert detail["redacted"] == ["display_name"]


def test_pii_values_are_published_when_enabled(stack: MotoStack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given events configured to include PII, and a change of a PII field
    monkeypatch.setenv("INCLUDE_PII", "true")
    create(stack, "u1", display_name="Ada Lovelace")

    # When the batch is handled
    invoke(stack.stream.read())

    # Then the value is in the event
    detail = stack.received()[0]["detail"]
    assert detail["new"] == {"display_name": "Ada Lovelace"}
    assert detail["redacted"] == []


def test_a_record_without_a_sequence_number_fails_the_whole_batch(
    stack: MotoStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a record with no dynamodb section, and a dead-letter queue that cannot be reached
    create(stack, "u1")
    records = stack.stream.read()
    del records[0]["dynamodb"]
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/missing")

    # When the batch is handled
    response = invoke(records)

    # Then the failure is reported with an empty identifier: Lambda retries the whole batch
    assert response == {"batchItemFailures": [{"itemIdentifier": ""}]}


def test_no_pii_value_reaches_the_logs(stack: MotoStack, logs: Callable[[], str]) -> None:
    # Given changes of PII fields, one of them in a poison record
    create(stack, "u1", email="ada@example.com", display_name="Ada Lovelace")
    stack.repository.update("u1", {"display_name": "Countess Lovelace"}, expected_version=1)
    records = stack.stream.read()
    records[1]["dynamodb"]["OldImage"]["email"] = {"Q": "ada@example.com"}

    # When the batch is handled
    invoke(records)

    # Then the logs name records and problems, never the values
    text = logs()
    assert "Record sent to the dead-letter queue" in text
    for value in ("ada@example.com", "Ada Lovelace", "Countess Lovelace"):
        assert value not in text


def test_an_outage_of_hours_delays_every_event_and_loses_none(stack: MotoStack) -> None:
    # Given 30 changes, and EventBridge unreachable for the first three hours of delivery
    for index in range(30):
        create(stack, f"u{index:02}", plan="free")
    records = stack.stream.read()
    clock = FakeClock()
    started = time.time()
    outage_seconds = 3 * 3600

    def unreachable_for_a_while(**_: Any) -> None:
        if clock.now < outage_seconds:
            raise EndpointConnectionError(endpoint_url="https://events.test")

    boto3.DEFAULT_SESSION.events.register("before-call.events.PutEvents", unreachable_for_a_while)

    # When Lambda keeps invoking the function (each invocation a new 60 s deadline on the same clock)
    def invocation(event: dict[str, Any]) -> dict[str, Any]:
        return publisher(stack, clock, wall_clock=started + clock.now).publish(event["Records"]).response()

    invocations = deliver(invocation, records, "PublishEventsFunction", max_invocations=10_000)

    # Then every event arrives once the outage ends, and nothing is parked; each failing invocation
    # spent most of its minute backing off rather than spinning
    config = PublishSettings(event_bus_name="b", dead_letter_queue_url="q")
    busy_seconds = 60 - config.answer_margin_seconds - config.call_seconds() - config.retry_max_seconds
    assert sorted(event["detail"]["user_id"] for event in stack.received()) == [f"u{index:02}" for index in range(30)]
    assert stack.dead_letters() == []
    assert outage_seconds / 60 <= invocations <= outage_seconds / busy_seconds + 2


def test_a_record_failing_for_23_hours_is_parked_whole_once_and_the_stream_moves_on(stack: MotoStack) -> None:
    # Given two changes of different users, EventBridge refusing the first one's event for good
    # with a retryable code, and the records already 22 h 59 min old
    create(stack, "u1", plan="free")
    create(stack, "u2", plan="free")
    records = stack.stream.read()
    FlakyEventBridge(lambda detail: detail["user_id"] == "u1").install()
    clock = FakeClock()
    born = records[0]["dynamodb"]["ApproximateCreationDateTime"]
    config = PublishSettings(event_bus_name="b", dead_letter_queue_url="q")

    # When Lambda keeps invoking the function as time passes
    def invocation(event: dict[str, Any]) -> dict[str, Any]:
        age = config.park_after_seconds - 60 + clock.now
        return publisher(stack, clock, wall_clock=born + age).publish(event["Records"]).response()

    deliver(invocation, records, "PublishEventsFunction", max_invocations=100)

    # Then the record is parked once, with its whole content and the reason, and the other event is published
    parked = stack.dead_letters()
    assert [letter["SequenceNumber"] for letter in parked] == [records[0]["dynamodb"]["SequenceNumber"]]
    assert parked[0]["record"]["dynamodb"]["NewImage"]["plan"] == {"S": "free"}
    assert "still failing after" in parked[0]["reason"]
    assert {(event["detail"]["user_id"], event["detail"]["event_id"]) for event in stack.received()} == {
        ("u2", records[1]["eventID"])
    }  # published with u1 in each retried call: duplicates share the event id


@pytest.mark.parametrize("code", ["MalformedDetail", "InvalidArgument"])
def test_an_entry_refused_for_good_is_parked_at_once_with_its_reason(stack: MotoStack, code: str) -> None:
    # Given two changes, and EventBridge refusing the first one's event with a permanent code
    create(stack, "u1", plan="free")
    create(stack, "u2", plan="free")
    records = stack.stream.read()
    FlakyEventBridge(lambda detail: detail["user_id"] == "u1", code=code).install()
    stack.calls.clear()

    # When the batch is handled
    response = invoke(records)

    # Then it is not resent: one PutEvents call, the record parked naming the code, the other published
    assert response == {"batchItemFailures": []}
    assert len(stack.calls.of("PutEvents")) == 1
    parked = stack.dead_letters()
    assert [letter["SequenceNumber"] for letter in parked] == [records[0]["dynamodb"]["SequenceNumber"]]
    assert code in parked[0]["reason"]
    assert [event["detail"]["user_id"] for event in stack.received()] == ["u2"]


def test_an_entry_refused_for_want_of_permission_is_retried_not_parked(stack: MotoStack) -> None:
    # Given EventBridge refusing an entry because the role lacks a permission (the deployment's to fix)
    create(stack, "u1", plan="free")
    records = stack.stream.read()
    FlakyEventBridge(lambda _detail: True, code="AccessDeniedException").install()

    # When the batch is handled
    result = publisher(stack, FakeClock()).publish(records)

    # Then the record is reported for a retry and nothing is parked
    assert result.failed_sequence_number == records[0]["dynamodb"]["SequenceNumber"]
    assert stack.dead_letters() == []


def test_a_poison_record_is_parked_once_although_an_earlier_record_fails_first(stack: MotoStack) -> None:
    # Given a user's change that EventBridge refuses for the first 100 s, then a poison record of another user
    create(stack, "u1", plan="free")
    create(stack, "u2", plan="free")
    records = stack.stream.read()
    records[1]["dynamodb"]["NewImage"]["version"] = {"S": "not a number"}
    clock = FakeClock()
    FlakyEventBridge(lambda _detail: clock.now < 100).install()

    # When Lambda delivers the batch until it succeeds (60 s invocations on one clock)
    def invocation(event: dict[str, Any]) -> dict[str, Any]:
        return publisher(stack, clock).publish(event["Records"]).response()

    invocations = deliver(invocation, records, "PublishEventsFunction")

    # Then the poison record was parked exactly once, after the earlier record got through
    assert invocations >= 2
    assert [letter["SequenceNumber"] for letter in stack.dead_letters()] == [records[1]["dynamodb"]["SequenceNumber"]]
    assert [event["detail"]["user_id"] for event in stack.received()] == ["u1"]


def test_a_hanging_event_bus_never_keeps_the_function_past_its_deadline(stack: MotoStack) -> None:
    # Given 30 changes, and EventBridge that answers every call only when the read timeout expires
    for index in range(30):
        create(stack, f"u{index:02}")
    records = stack.stream.read()
    clock = FakeClock()
    config = PublishSettings(event_bus_name="b", dead_letter_queue_url="q")

    def hang(**_: Any) -> None:
        clock.sleep(config.call_seconds())
        raise ReadTimeoutError(endpoint_url="https://events.test")

    boto3.DEFAULT_SESSION.events.register("before-call.events.PutEvents", hang)

    # When the batch is handled in a 60 s invocation
    result = publisher(stack, clock).publish(records)

    # Then the function answered before Lambda's timeout, with the margin kept, reporting the first record
    assert clock.now <= 60 - config.answer_margin_seconds
    assert result.failed_sequence_number == records[0]["dynamodb"]["SequenceNumber"]


def test_a_dead_letter_queue_outage_backs_off_rather_than_spinning(stack: MotoStack) -> None:
    # Given a poison record, and the dead-letter queue unreachable
    create(stack, "u1", plan="free")
    create(stack, "u2", plan="free")
    records = stack.stream.read()
    records[0]["dynamodb"]["NewImage"]["version"] = {"S": "not a number"}
    clock = FakeClock()

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://sqs.test")

    boto3.DEFAULT_SESSION.events.register("before-call.sqs.SendMessage", unreachable)

    # When Lambda keeps invoking the function (60 s invocations on one clock)
    invocations = deliver(
        lambda event: publisher(stack, clock).publish(event["Records"]).response(),
        records,
        "PublishEventsFunction",
        max_invocations=5,
    )

    # Then each invocation spent its time backing off on the send, instead of returning at once
    assert invocations == 5
    assert clock.now >= 5 * 40
    assert stack.received() == []
