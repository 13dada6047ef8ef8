"""The event contract built from stream records (the samples in events/, taken from moto's stream)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from profile_sync_consumer.contract import REDACTED
from profile_sync_consumer.models import DETAIL_MODELS
from shared.streams import PoisonRecord, ProfileChange, decode
from stream_handlers.publish_events.events import build_detail, build_entry, entry_size

EVENTS = Path(__file__).resolve().parents[2] / "events" / "streams"


def sample(name: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads((EVENTS / name).read_text())["Records"]
    return records


def entry(record: dict[str, Any], include_pii: bool = False) -> dict[str, Any] | None:
    return build_entry(decode(record), source="profile-sync", bus_name="profiles", include_pii=include_pii)


def test_an_insert_becomes_profile_created_with_the_fields_it_holds() -> None:
    # Given the stream record of a new profile
    (record,) = sample("stream_insert.json")

    # When its event is built
    built = entry(record, include_pii=True)

    # Then it is a ProfileCreated carrying the profile's fields at version 1
    assert built is not None
    detail = json.loads(built["Detail"])
    assert built["DetailType"] == "ProfileCreated"
    assert detail["version"] == 1
    assert detail["new"] == {
        "email": "ada@example.com",
        "email_verified": True,
        "providers": ["Google"],
        "plan": "free",
        "display_name": "Ada Lovelace",
        "locale": "en-GB",
    }
    assert detail["changed"] == list(detail["new"])


def test_a_modify_carries_only_the_changed_fields_old_and_new() -> None:
    # Given an update of plan and display name
    (record,) = sample("stream_modify_synced.json")

    # When its event is built with PII
    detail = build_detail(decode(record), include_pii=True)

    # Then exactly those fields appear, before and after
    assert detail is not None
    assert detail["changed"] == ["plan", "display_name"]
    assert detail["old"] == {"plan": "free", "display_name": "Ada Lovelace"}
    assert detail["new"] == {"plan": "pro", "display_name": "Ada King"}


def test_a_bookkeeping_only_modify_builds_no_event() -> None:
    # Given an update that changed only version and updated_at
    (record,) = sample("stream_modify_bookkeeping.json")

    # When its event is built
    # Then there is none
    assert entry(record) is None


def test_a_remove_becomes_profile_deleted_one_version_past_the_last() -> None:
    # Given the removal of a profile stored at version 4
    (record,) = sample("stream_remove.json")

    # When its event is built
    built = entry(record)

    # Then it is a ProfileDeleted at version 5 with no values
    assert built is not None
    detail = json.loads(built["Detail"])
    assert built["DetailType"] == "ProfileDeleted"
    assert detail["version"] == 5
    assert "new" not in detail
    assert "old" not in detail


def test_the_event_id_is_the_stream_records_id() -> None:
    # Given a stream record (redelivered records keep their eventID)
    (record,) = sample("stream_modify_unsynced.json")

    # When its event is built twice
    first, second = build_detail(decode(record), False), build_detail(decode(record), False)

    # Then both carry the record's id
    assert first is not None
    assert second is not None
    assert first["event_id"] == second["event_id"] == record["eventID"]


def test_pii_values_are_redacted_unless_included() -> None:
    # Given an update of a PII field (display name) and a plain one (plan)
    (record,) = sample("stream_modify_synced.json")

    # When its event is built without PII
    detail = build_detail(decode(record), include_pii=False)

    # Then the PII values are replaced by the marker and listed
    assert detail is not None
    assert detail["new"] == {"plan": "pro", "display_name": REDACTED}
    assert detail["redacted"] == ["display_name"]


def preferences_change() -> ProfileChange:
    return ProfileChange(
        sequence_number="100",
        record_id="record-1",
        event_name="MODIFY",
        user_id="u1",
        occurred_at="2026-11-28T04:00:00Z",
        old={"user_id": "u1", "version": 1, "preferences": {"note": "call me Ada"}},
        new={"user_id": "u1", "version": 2, "preferences": {"note": "call me Lady Lovelace"}},
    )


def test_preferences_are_redacted_as_free_form_user_content() -> None:
    # Given an update of the user's preferences (free-form: they may hold anything the user typed)
    change = preferences_change()

    # When its event is built without PII
    detail = build_detail(change, include_pii=False)

    # Then neither value is in the event, and preferences are named as redacted
    assert detail is not None
    assert detail["new"] == {"preferences": REDACTED}
    assert detail["old"] == {"preferences": REDACTED}
    assert detail["redacted"] == ["preferences"]
    DETAIL_MODELS["ProfileUpdated"].model_validate(detail)


def test_preferences_are_published_when_pii_is_included() -> None:
    # Given an update of the user's preferences
    change = preferences_change()

    # When its event is built with PII
    detail = build_detail(change, include_pii=True)

    # Then both values are in the event and nothing is redacted
    assert detail is not None
    assert detail["new"] == {"preferences": {"note": "call me Lady Lovelace"}}
    assert detail["old"] == {"preferences": {"note": "call me Ada"}}
    assert detail["redacted"] == []


@pytest.mark.parametrize("include_pii", [False, True])
def test_every_event_built_from_the_samples_fits_the_contract(include_pii: bool) -> None:
    # Given a mixed batch of creations, updates and a deletion
    records = sample("stream_mixed_batch.json")

    # When their events are built
    built = [event for event in (entry(record, include_pii) for record in records) if event]

    # Then each validates against its pydantic model
    for event in built:
        DETAIL_MODELS[event["DetailType"]].model_validate_json(event["Detail"])
    assert {event["DetailType"] for event in built} == {"ProfileCreated", "ProfileUpdated", "ProfileDeleted"}


def test_an_undecodable_image_is_a_poison_record() -> None:
    # Given a record whose new image holds an unknown attribute type
    record = sample("stream_poison.json")[0]

    # When it is decoded
    # Then it is rejected, naming the image and not the value
    with pytest.raises(PoisonRecord, match="NewImage cannot be decoded"):
        decode(record)


def test_entry_size_counts_what_eventbridge_counts() -> None:
    # Given an entry
    built = {"Source": "abc", "DetailType": "ProfileCreated", "Detail": '{"é":1}', "EventBusName": "ignored"}

    # When its size is taken
    # Then it is the UTF-8 bytes of source, detail type and detail
    assert entry_size(built) == 3 + 14 + 8


def modify(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A MODIFY stream record between two DynamoDB-typed images of user u1."""
    keys = {"user_id": {"S": "u1"}}
    return {
        "eventID": "e1",
        "eventName": "MODIFY",
        "dynamodb": {
            "Keys": keys,
            "SequenceNumber": "100",
            "ApproximateCreationDateTime": 1795900000.0,
            "OldImage": {**keys, "version": {"N": "1"}, **old},
            "NewImage": {**keys, "version": {"N": "2"}, **new},
        },
    }


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"N": "1"}, {"BOOL": True}),
        ({"N": "0"}, {"BOOL": False}),
        ({"BOOL": True}, {"N": "1"}),
        ({"N": "0.1"}, {"N": "0.10000000000000000001"}),
        ({"N": "12345678901234567890123456789012345678"}, {"N": "12345678901234567890123456789012345679"}),
        ({"L": [{"N": "1"}]}, {"L": [{"BOOL": True}]}),
    ],
)
def test_a_change_of_type_or_of_a_digit_beyond_float_precision_is_published(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    # Given an update of a preference from one value to another that Python's == calls equal
    record = modify({"preferences": {"M": {"x": before}}}, {"preferences": {"M": {"x": after}}})

    # When its event is built
    detail = build_detail(decode(record), include_pii=True)

    # Then the change is published
    assert detail is not None
    assert detail["changed"] == ["preferences"]


def test_the_same_number_written_differently_is_no_change() -> None:
    # Given an update that rewrote 1.0 as 1 (DynamoDB numbers: the same value)
    record = modify({"preferences": {"M": {"x": {"N": "1.0"}}}}, {"preferences": {"M": {"x": {"N": "1"}}}})

    # When its event is built
    # Then nothing is published
    assert build_detail(decode(record), include_pii=True) is None


def test_a_binary_value_makes_the_record_poison_not_a_crash() -> None:
    # Given an update that wrote binary data into a mapped field (outside this code)
    record = modify({"display_name": {"S": "Ada"}}, {"display_name": {"B": "AAEC"}})

    # When its event is built
    # Then the record is poison, named without its value, instead of an exception that fails the batch
    with pytest.raises(PoisonRecord, match="display_name") as caught:
        entry(record, include_pii=True)
    assert "AAEC" not in str(caught.value)


def test_a_binary_attribute_the_map_does_not_declare_is_no_obstacle() -> None:
    # Given an update of the plan on an item that also holds an app's own binary attributes,
    # base64-encoded as Lambda delivers them
    extra = {"avatar_thumb": {"B": "AAEC"}, "keys": {"BS": ["AQ==", "Ag=="]}}
    record = modify({"plan": {"S": "free"}, **extra}, {"plan": {"S": "pro"}, **extra})

    # When its event is built
    detail = build_detail(decode(record), include_pii=True)

    # Then the plan change is published as usual
    assert detail is not None
    assert (detail["changed"], detail["new"]) == (["plan"], {"plan": "pro"})
