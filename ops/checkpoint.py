"""A long command's progress on disk, so that it can be killed at any moment and resumed.

The file is replaced whole, never edited in place: the new state goes to a temporary file in
the same folder, is flushed to disk, and ``os.replace`` puts it where the old one was (an
atomic rename on POSIX). A kill leaves either the previous state or the new one, never half.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


class CheckpointError(Exception):
    """The checkpoint file cannot be used; the message says why (never its contents)."""


def read(path: Path) -> dict[str, Any] | None:
    """The state saved at ``path``, or None when there is no file yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror}") from None
    try:
        state = json.loads(text)
    except ValueError:
        raise CheckpointError(f"checkpoint {path} is not JSON: give another file, or delete it to start over") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} does not hold an object: give another file, or delete it")
    return state


def write(path: Path, state: dict[str, Any]) -> None:
    """Replace ``path`` with ``state`` atomically and durably (readable by the owner only)."""
    folder = path.parent if str(path.parent) else Path(".")
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(state, file, indent=1, sort_keys=True)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    # The rename itself is durable only once the folder is.
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
