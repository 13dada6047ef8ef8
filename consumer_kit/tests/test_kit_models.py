"""The contract's models and schemas, and the kit standing on its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kit_samples import created, deleted, updated
from pydantic import ValidationError

from profile_sync_consumer.contract import FIELD_NAMES
from profile_sync_consumer.events import EventError, parse_event
from profile_sync_consumer.models import EVENT_MODELS, json_schemas, main, write_schemas

KIT = Path(__file__).resolve().parent.parent


def test_each_detail_type_validates_its_own_events() -> None:
    for event in (created(1, plan="free"), updated(2, plan="pro"), deleted(3)):
        model = EVENT_MODELS[event["detail-type"]].model_validate(event)
        assert model.model_dump()["detail"]["version"] == event["detail"]["version"]


def test_a_pii_list_may_read_the_marker_but_a_plain_list_may_not() -> None:
    # Given redacted values of a PII object field and of a non-PII list field
    # Then the PII one validates and the other is refused
    EVENT_MODELS["ProfileCreated"].model_validate(created(1, preferences="***"))
    with pytest.raises(ValidationError):
        EVENT_MODELS["ProfileCreated"].model_validate(created(1, roles="***"))


def test_written_schemas_are_the_generated_ones_and_name_every_field(tmp_path: Path) -> None:
    # When the schemas are written
    assert main([str(tmp_path)]) == 0

    # Then there is one per detail type, the text json_schemas gives, listing every field
    written = {path.name: path.read_text() for path in tmp_path.iterdir()}
    assert written == json_schemas()
    values = json.loads(written["ProfileCreated.json"])["$defs"]["ProfileValues"]["properties"]
    assert set(values) == set(FIELD_NAMES)
    assert {path.name for path in write_schemas(tmp_path / "again")} == set(written)


def test_the_kit_imports_with_nothing_but_its_own_folder_and_parsing_never_loads_pydantic() -> None:
    # Given an isolated interpreter with only the kit's folder on its path (and the site-packages)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import profile_sync_consumer.events, profile_sync_consumer.replica;"
        "assert 'pydantic' not in sys.modules, 'pydantic loaded';"
        "import profile_sync_consumer.models;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'shared', 'stream_handlers', 'local'}))"
    )
    # When the kit's modules are imported, Then parse and apply load no pydantic and nothing of the repository
    completed = subprocess.run(  # noqa: S603 (this interpreter, fixed code)
        [sys.executable, "-I", "-c", probe, str(KIT)], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


@pytest.mark.parametrize("make", [created, updated, deleted])
def test_published_schema_admits_a_new_detail_field_and_an_unknown_field_name(make: Any) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    # Given an event from a newer producer: a detail field and a changed field this contract lacks
    event = make(2) if make is deleted else make(2, plan="pro")
    event["detail"]["origin"] = "api"
    event["detail"]["changed"] = [*event["detail"]["changed"], "nickname"]
    if "new" in event["detail"]:
        event["detail"]["new"]["nickname"] = "Ada"
    schema = json.loads(json_schemas()[f"{event['detail-type']}.json"])

    # When it is validated against the published schema, Then it passes
    jsonschema.Draft202012Validator(schema).validate(event)
    # while the kit's strict check, which guards the repository's own events, still refuses it
    with pytest.raises(EventError, match="does not follow the contract"):
        parse_event(event, strict=True)
    assert parse_event(event).changed[-1] == "nickname"


def test_published_schema_still_refuses_a_retyped_field() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    # Given an event whose version is not an integer (a breaking change, not an addition)
    event = updated(2, plan="pro")
    event["detail"]["version"] = "2"

    # Then the published schema refuses it
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(json.loads(json_schemas()["ProfileUpdated.json"])).validate(event)
