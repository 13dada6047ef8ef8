"""python -m ops: one subcommand's module imported, a target handed in by an in-process caller."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ops import __main__ as ops_main
from ops.target import Target


def test_only_the_chosen_subcommands_module_is_imported() -> None:
    probe = (
        "import sys; from ops.__main__ import parser, SUBCOMMANDS; parser('backfill'); "
        "print(sorted(m for m, _ in SUBCOMMANDS.values() if m in sys.modules))"
    )
    found = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert found.stdout.strip() == "['ops.backfill']"


def test_a_handed_target_is_used_instead_of_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    handed = Target("us-east-1_handed", "handed-table")
    seen: list[Target] = []

    def run(args: object) -> int:
        from ops.target import resolve

        seen.append(resolve(args))  # type: ignore[arg-type]
        return 0

    monkeypatch.setattr("ops.export.run", run)
    assert (
        ops_main.main(["export", "0b1c2d3e-0000-4000-8000-000000000000", "--output", "/dev/null"], target=handed) == 0
    )
    assert seen == [handed]


def test_without_a_target_the_options_are_required(capsys: pytest.CaptureFixture[str]) -> None:
    assert ops_main.main(["export", "0b1c2d3e-0000-4000-8000-000000000000", "--output", "/dev/null"]) == 2
    assert "say what to work on" in capsys.readouterr().err
