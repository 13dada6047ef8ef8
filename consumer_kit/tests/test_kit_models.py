"""The contract's models and schemas, and the kit standing on its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from kit_samples import created, deleted, updated
from pydantic import ValidationError

from profile_sync_consumer.contract import FIELD_NAMES
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
