"""local/demo.py's step runner: concurrency where independent, order in the report, failures named."""

from __future__ import annotations

import threading

import pytest

from local.demo import Step, run_steps
from local.scenario import Failed


def test_independent_steps_run_at_once_and_are_reported_in_order() -> None:
    both_started = threading.Barrier(2, timeout=5)  # breaks unless the two steps overlap

    def meet(name: str) -> list[str]:
        both_started.wait()
        return [name]

    steps = [Step("first", lambda: meet("first")), Step("second", lambda: meet("second"))]
    outcomes = list(run_steps(steps))
    assert [(step.title, outcome.ok, outcome.lines) for step, outcome in outcomes] == [
        ("first", True, ["first"]),
        ("second", True, ["second"]),
    ]


def test_a_step_starts_only_after_the_steps_it_comes_after_have_passed() -> None:
    done: list[str] = []

    def slow() -> list[str]:
        threading.Event().wait(0.05)
        done.append("sign-up")
        return []

    def later() -> list[str]:
        return [f"saw {done}"]

    outcomes = dict(
        (step.title, outcome)
        for step, outcome in run_steps([Step("sign-up", slow), Step("sign-in", later, after=("sign-up",))])
    )
    assert outcomes["sign-in"].lines == ["saw ['sign-up']"]


def test_a_failed_step_fails_the_steps_after_it_without_running_them() -> None:
    ran: list[str] = []

    def fails() -> list[str]:
        raise Failed("no profile after the confirmed sign-up")

    def record() -> list[str]:
        ran.append("sign-in")
        return []

    steps = [Step("sign-up", fails), Step("sign-in", record, after=("sign-up",)), Step("other", lambda: ["ok"])]
    outcomes = {step.title: outcome for step, outcome in run_steps(steps)}
    assert outcomes["sign-up"].lines == ["FAILED: no profile after the confirmed sign-up"]
    assert not outcomes["sign-in"].ok
    assert outcomes["sign-in"].lines == ["not run: sign-up failed"]
    assert ran == []
    assert outcomes["other"].ok


def test_an_unexpected_error_is_reported_with_its_traceback() -> None:
    def broken() -> list[str]:
        raise KeyError("version")

    [(_, outcome)] = list(run_steps([Step("edit", broken)]))
    assert not outcome.ok
    assert outcome.lines[0] == "FAILED: KeyError: 'version'"
    assert any("broken" in line for line in outcome.lines[1:])


def test_a_step_may_come_after_earlier_steps_only() -> None:
    with pytest.raises(ValueError, match="'sign-in' comes after \\['sign-up'\\]"):
        list(run_steps([Step("sign-in", list, after=("sign-up",)), Step("sign-up", list)]))
