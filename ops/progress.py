"""Progress of a long command: a bar on a terminal, JSON lines anywhere else.

On a terminal (``stream.isatty()``) one line is redrawn in place: done and expected items,
pages, the request and item rates and the time left. Anywhere else (a log file, CI, a pipe)
each report is one JSON object per line, so a machine can follow it. Notes (a skipped user,
an error) go to the same stream: above the bar, or as JSON lines. Nothing here ever prints a
value it is not given; callers pass counts, field names and ids only.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

BAR_WIDTH = 24


def duration(seconds: float) -> str:
    """``seconds`` as ``1h02m``, ``3m07s`` or ``12s``."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """Reports ``done`` of ``total`` items (``total`` may be an estimate, or None when unknown).

    ``update`` is cheap to call often: it draws at most every ``interval`` seconds of ``clock``
    (always on ``finish``). Rates count this run only, so a resumed run's ETA is its own.
    """

    def __init__(
        self,
        total: int | None,
        *,
        unit: str = "users",
        stream: TextIO | None = None,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 0.5,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.total, self.unit, self.clock, self.interval = total, unit, clock, interval
        self.started = clock()
        self.first_done: int | None = None
        self.first_requests = 0
        self.last_drawn: float | None = None
        self.drawn_width = 0
        self.figures: dict[str, Any] = {}

    def update(self, done: int, *, pages: int, requests: int, force: bool = False) -> None:
        """The counts so far (absolute, the resumed part included)."""
        if self.first_done is None:
            self.first_done, self.first_requests = done, requests
        now = self.clock()
        elapsed = now - self.started
        own = done - self.first_done
        rate = own / elapsed if elapsed > 0 else 0.0
        left = None if self.total is None or rate <= 0 else max(0, self.total - done) / rate
        self.figures = {
            self.unit: done,
            "pages": pages,
            f"estimated_{self.unit}": self.total,
            "requests_per_second": round((requests - self.first_requests) / elapsed, 2) if elapsed > 0 else 0.0,
            f"{self.unit}_per_second": round(rate, 1),
            "eta_seconds": None if left is None else round(left, 1),
            "elapsed_seconds": round(elapsed, 1),
        }
        if not force and self.last_drawn is not None and now - self.last_drawn < self.interval:
            return
        self.last_drawn = now
        self._draw()

    def note(self, event: str, **fields: Any) -> None:
        """One event worth a line of its own (ids, counts and field names only)."""
        if self.tty:
            text = " ".join(f"{key}={value}" for key, value in fields.items())
            self._clear()
            self.stream.write(f"{event}: {text}\n")
            self._draw()
        else:
            self.stream.write(json.dumps({"event": event, **fields}, sort_keys=False) + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """Draw the final state and end the bar's line."""
        if self.figures:
            self.last_drawn = None
            self._draw()
        if self.tty and self.drawn_width:
            self.stream.write("\n")
            self.drawn_width = 0
        self.stream.flush()

    def _draw(self) -> None:
        if not self.figures:
            return
        if not self.tty:
            self.stream.write(json.dumps({"event": "progress", **self.figures}) + "\n")
            self.stream.flush()
            return
        figures = self.figures
        done, total = figures[self.unit], self.total
        if total:
            filled = min(BAR_WIDTH, int(BAR_WIDTH * done / total)) if total else 0
            bar = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done:,}/~{total:,} {self.unit}"
        else:
            bar = f"{done:,} {self.unit}"
        eta = figures["eta_seconds"]
        line = (
            f"{bar}  {figures['pages']:,} pages  {figures['requests_per_second']:.1f} req/s  "
            f"{figures[self.unit + '_per_second']:,.0f} {self.unit}/s  ETA {'?' if eta is None else duration(eta)}"
        )
        self._clear()
        self.stream.write(line)
        self.drawn_width = len(line)
        self.stream.flush()

    def _clear(self) -> None:
        if self.tty and self.drawn_width:
            self.stream.write("\r" + " " * self.drawn_width + "\r")
            self.drawn_width = 0
