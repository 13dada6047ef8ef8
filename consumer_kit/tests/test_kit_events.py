"""Parsing profile events: the EventBridge envelope, the SQS message around it, and bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kit_samples import USER, created, deleted, envelope, sqs_record, updated

from profile_sync_consumer.events import EventError, ProfileEvent, parse_event, parse_sqs_body, parse_sqs_record

SECRET = "ada@example.com"


def test_an_eventbridge_envelope_parses_into_the_detail_a_consumer_applies() -> None:
    # Given an update event as EventBridge delivers it
    event = updated(7, plan="pro", locale=None)

    # When it is parsed
    parsed = parse_event(event)

    # Then the event carries its type, ids, version and the changed fields' values
    assert parsed == ProfileEvent(
        detail_type="ProfileUpdated",
        event_id=event["detail"]["event_id"],
        user_id=USER,
        version=7,
        occurred_at="2026-11-28T09:00:00.257Z",
        changed=("plan", "locale"),
        new={"plan": "pro", "locale": None},
        old={"plan": None, "locale": None},
    )
    assert not parsed.deletes


def test_json_text_parses_as_the_mapping_does() -> None:
    event = created(1, plan="free")
    assert parse_event(json.dumps(event)) == parse_event(event)
    assert parse_event(json.dumps(event).encode()) == parse_event(event)


def test_an_sqs_record_parses_into_the_event_its_body_carries() -> None:
    # Given the SQS record of a deletion an EventBridge rule sent to a queue
    event = deleted(9, USER, "plan", "email")

    # When the record, and its body alone, are parsed
    from_record = parse_sqs_record(sqs_record(event))
    from_body = parse_sqs_body(sqs_record(event)["body"])

    # Then both give the deletion, with no values
    assert from_record == from_body == parse_event(event)
    assert from_record.deletes
    assert from_record.new == {}


def test_a_field_a_newer_producer_adds_is_accepted_unless_strict() -> None:
    # Given an update of a field this kit's contract does not know
    event = updated(3, nickname="ada")

    # When parsed leniently it is kept; when parsed strictly it is refused, naming where
    assert parse_event(event).new == {"nickname": "ada"}
    with pytest.raises(EventError, match=r"ProfileUpdated does not follow the contract: detail\.changed\.0"):
        parse_event(event, strict=True)


def test_the_documented_examples_pass_strict_validation() -> None:
    # Given events shaped as docs/events.md shows them, PII redacted
    events = [
        created(5, email="***", email_verified=True, providers=["Google"], plan="free", preferences="***"),
        updated(6, plan="pro", display_name="***"),
        deleted(7, USER, "email", "plan"),
    ]
    events[0]["detail"]["redacted"] = ["email", "preferences"]

    # When they are parsed strictly, Then they parse
    assert [parse_event(event, strict=True).version for event in events] == [5, 6, 7]


BAD: list[tuple[str, Any, str]] = [
    ("not JSON", "{" + SECRET, "the event is not JSON"),
    ("a list", [SECRET], "the event is not a JSON object"),
    ("another detail type", envelope("ProfileMerged", 1), "detail-type is not ProfileCreated"),
    ("no detail", {"detail-type": "ProfileCreated", "detail": SECRET}, "ProfileCreated: detail is not a JSON object"),
    ("a newer contract", created(1) | {"detail": {**created(1)["detail"], "contract_version": 2}}, "contract_version"),
    ("version a string", updated(1) | {"detail": {**updated(1)["detail"], "version": "2"}}, "detail.version"),
    ("version a boolean", updated(1) | {"detail": {**updated(1)["detail"], "version": True}}, "detail.version"),
    ("version zero", updated(1) | {"detail": {**updated(1)["detail"], "version": 0}}, "detail.version"),
    ("no event id", updated(1) | {"detail": {**updated(1)["detail"], "event_id": ""}}, "detail.event_id"),
    ("a number for a user", updated(1) | {"detail": {**updated(1)["detail"], "user_id": 7}}, "detail.user_id"),
    ("changed a string", updated(1) | {"detail": {**updated(1)["detail"], "changed": SECRET}}, "detail.changed"),
    ("an update without old", {**created(1), "detail-type": "ProfileUpdated"}, "detail.old"),
    ("a creation without new", {**deleted(1), "detail-type": "ProfileCreated"}, "detail.new"),
]


@pytest.mark.parametrize(("event", "message"), [(event, message) for _, event, message in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_refused_with_one_line_naming_the_problem_never_a_value(event: Any, message: str) -> None:
    with pytest.raises(EventError) as refused:
        parse_event(event)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)
    assert SECRET not in str(refused.value)


def test_strict_refusal_names_the_field_but_not_its_value() -> None:
    # Given an event whose email is not a string
    event = created(1, email=[SECRET])

    # When it is parsed strictly, Then the message names the field and keeps the value out
    with pytest.raises(EventError, match=r"detail\.new\.email") as refused:
        parse_event(event, strict=True)
    assert SECRET not in str(refused.value)


@pytest.mark.parametrize("record", [{"messageId": "m"}, {"body": None}, {"body": "not json"}])
def test_an_sqs_record_without_an_event_body_is_refused(record: dict[str, Any]) -> None:
    with pytest.raises(EventError, match=r"SQS record has no body|message body is not JSON"):
        parse_sqs_record(record)
