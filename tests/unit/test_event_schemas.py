"""The event contract: the committed JSON Schemas (events/schemas/) are what the consumer kit's models
generate, and the kit's fields are the field ownership map's."""

from __future__ import annotations

from local.support import EVENTS
from profile_sync_consumer import contract
from profile_sync_consumer.models import json_schemas
from shared.fields import FIELDS
from stream_handlers.publish_events import events

SCHEMA_DIR = EVENTS / "schemas"


def test_committed_schemas_match_the_models() -> None:
    # Given the schemas the models generate now
    generated = json_schemas()

    # When the committed files are read
    committed = {path.name: path.read_text() for path in SCHEMA_DIR.glob("*.json")}

    # Then they are the same files with the same text (run `make schemas` after changing a model)
    assert committed == generated


def test_the_kits_fields_are_the_field_maps_in_its_order_with_its_types_and_pii() -> None:
    # Given the producer's field ownership map, When it is read as the contract states a field,
    # Then the kit declares the same fields, in the same order, with the same kind and PII flag
    assert [(spec.name, spec.kind.value, spec.pii) for spec in FIELDS] == [
        (spec.name, spec.kind.value, spec.pii) for spec in contract.FIELDS
    ]


def test_the_publisher_names_detail_types_as_the_kit_does() -> None:
    assert set(events.DETAIL_TYPES.values()) == set(contract.DETAIL_TYPES)
