"""The progress reporter: JSON lines off a terminal, a bar redrawn in place on one."""

import io
import json

from ops.progress import Progress, duration
from tests.streams import FakeClock


def test_json_lines_give_counts_rates_and_eta_from_the_estimate() -> None:
    # Given 1,000 expected users and a clock that moves 2 s between two reports
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(1000, stream=out, tty=False, clock=clock, interval=0)
    progress.update(0, pages=0, requests=0)
    clock.sleep(2)
    progress.update(120, pages=2, requests=2)
    # Then each report is a JSON object with the users, pages, this run's rates and the time left
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[-1] == {
        "event": "progress", "users": 120, "pages": 2, "estimated_users": 1000, "requests_per_second": 1.0,
        "users_per_second": 60.0, "eta_seconds": round(880 / 60, 1), "elapsed_seconds": 2.0,
    }  # fmt: skip


def test_rates_count_this_run_only_when_resumed_halfway() -> None:
    # Given a run that starts at 500 users already done
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(1000, stream=out, tty=False, clock=clock, interval=0)
    progress.update(500, pages=9, requests=9)
    clock.sleep(5)
    progress.update(600, pages=11, requests=11)
    # Then the rate is 100 users in 5 s, not 600
    last = json.loads(out.getvalue().splitlines()[-1])
    assert (last["users_per_second"], last["requests_per_second"], last["eta_seconds"]) == (20.0, 0.4, 20.0)


def test_reports_are_drawn_at_most_once_per_interval_and_always_when_forced() -> None:
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(None, stream=out, tty=False, clock=clock, interval=1.0)
    for done in range(10):
        progress.update(done, pages=done, requests=done)
        clock.sleep(0.3)
    progress.update(10, pages=10, requests=10, force=True)
    # at 0, 1.2, 2.4 s and the forced one
    assert [json.loads(line)["users"] for line in out.getvalue().splitlines()] == [0, 4, 8, 10]


def test_on_a_terminal_the_bar_is_redrawn_in_place_and_notes_go_above_it() -> None:
    # Given a terminal
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(100, stream=out, tty=True, clock=clock, interval=0)
    progress.update(0, pages=0, requests=0)
    clock.sleep(1)
    progress.update(50, pages=1, requests=1)
    progress.note("user_failed", sub="abc", reason="conflict")
    progress.finish()
    text = out.getvalue()
    # Then the bar shows the counts and ETA, is cleared with a carriage return before each redraw, the note
    # has a line of its own and the output ends with a newline
    assert "[############............] 50/~100 users  1 pages  1.0 req/s  50 users/s  ETA 1s" in text
    assert "\ruser_failed: sub=abc reason=conflict\n" in text
    assert text.endswith("\n")
    assert not text.startswith("{")


def test_durations_read_as_hours_minutes_seconds() -> None:
    assert [duration(s) for s in (0, 59.6, 187, 3720)] == ["0s", "1m00s", "3m07s", "1h02m"]
