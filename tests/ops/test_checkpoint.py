"""The checkpoint file: replaced whole, so a kill at any moment leaves the old state or the new."""

import os
import stat
from pathlib import Path

import pytest

from ops import checkpoint


def test_written_state_reads_back_and_only_the_owner_can_read_it(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    checkpoint.write(path, {"token": "abc", "pages": 3})
    assert checkpoint.read(path) == {"token": "abc", "pages": 3}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_no_file_is_no_state(tmp_path: Path) -> None:
    assert checkpoint.read(tmp_path / "missing.json") is None


def test_a_write_that_fails_before_the_rename_leaves_the_previous_state_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a saved state
    path = tmp_path / "progress.json"
    checkpoint.write(path, {"pages": 1})

    # When the next write dies at the rename (as a kill there would)
    def killed(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.write(path, {"pages": 2})
    # Then the file still holds the previous state, and nothing else is left in the folder
    assert checkpoint.read(path) == {"pages": 1}
    assert [entry.name for entry in tmp_path.iterdir()] == ["progress.json"]


@pytest.mark.parametrize(("text", "message"), [("{not json", "is not JSON"), ("[1, 2]", "does not hold an object")])
def test_an_unusable_file_is_refused_with_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "progress.json"
    path.write_text(text)
    with pytest.raises(checkpoint.CheckpointError, match=message) as raised:
        checkpoint.read(path)
    assert "\n" not in str(raised.value)
