"""The committed JSON Schemas (events/schemas/) are what the pydantic models generate."""

from __future__ import annotations

from shared.event_models import SCHEMA_DIR, json_schemas


def test_committed_schemas_match_the_models() -> None:
    # Given the schemas the models generate now
    generated = json_schemas()

    # When the committed files are read
    committed = {path.name: path.read_text() for path in SCHEMA_DIR.glob("*.json")}

    # Then they are the same files with the same text (run `make schemas` after changing a model)
    assert committed == generated
