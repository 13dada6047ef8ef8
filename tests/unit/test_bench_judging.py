"""How `make bench` judges its noisy figures: a cold start on valgrind's instruction counts (the
Lambda context's load taken out) with the wall clock's waiting gated in the round that waited
least, and a warm p99 ratio as the median of blocks' ratios."""

from __future__ import annotations

from pathlib import Path

import pytest

import bench.__main__ as bench
from bench import latency
from bench.__main__ import Case


@pytest.fixture(autouse=True)
def fresh_misses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    missed: list[str] = []
    monkeypatch.setattr(bench, "MISSED", missed)
    return missed


def timed(label: str, cpu_ms: list[float], wait_ms: list[float], instructions: int = 0) -> Case:
    case = Case(label, "Function", "app.handler", Path("event.json"), instructions=instructions, minor_faults=100)
    case.cpu_seconds = [ms / 1000 for ms in cpu_ms]
    case.seconds = [(cpu + wait) / 1000 for cpu, wait in zip(cpu_ms, wait_ms, strict=True)]
    return case


def test_the_ratio_is_the_instruction_count_s_when_valgrind_counts(
    monkeypatch: pytest.MonkeyPatch, fresh_misses: list[str]
) -> None:
    # Given instruction counts within the limit, and CPU times a busy machine made 1.3x apart
    monkeypatch.setattr(bench, "VALGRIND", ("valgrind",))
    baseline = timed("baseline", [400, 400, 400], [1, 1, 1], instructions=1_000_000_000)
    within = timed("within", [520, 520, 520], [1, 1, 1], instructions=1_090_000_000)
    beyond = timed("beyond", [400, 400, 400], [1, 1, 1], instructions=1_110_000_000)

    # When they are judged against 1.10x
    bench.report_cold_starts(baseline, [within, beyond], limit=1.10)

    # Then only the count beyond the limit misses, named as an instruction ratio
    assert fresh_misses == ["cold start, beyond: 1.11x the baseline's instructions, target <= 1.10x"]


def test_without_valgrind_the_cpu_ratio_is_judged_and_called_noisy(
    monkeypatch: pytest.MonkeyPatch, fresh_misses: list[str]
) -> None:
    monkeypatch.setattr(bench, "VALGRIND", ())
    baseline = timed("baseline", [400, 500, 300], [1, 1, 1])
    # Each round's ratio to its own baseline round: 1.2, 1.2, 1.2 (the medians alone would say 1.2 too)
    slow = timed("slow", [480, 600, 360], [1, 1, 1])

    bench.report_cold_starts(baseline, [slow], limit=1.10)

    assert len(fresh_misses) == 1
    assert "1.20x the baseline's CPU time (valgrind not installed: noisy)" in fresh_misses[0]


def test_a_wait_in_every_round_misses_but_one_descheduled_round_does_not(
    monkeypatch: pytest.MonkeyPatch, fresh_misses: list[str]
) -> None:
    monkeypatch.setattr(bench, "VALGRIND", ("valgrind",))
    baseline = timed("baseline", [400, 400, 400], [2, 3, 2], instructions=1_000_000_000)
    # A handler that sleeps 30 ms waits in every round; a busy machine delays some (here most) rounds
    sleeps = timed("sleeps", [400, 400, 400], [33, 35, 32], instructions=1_000_000_000)
    unlucky = timed("unlucky", [400, 400, 400], [3, 400, 250], instructions=1_000_000_000)

    bench.report_cold_starts(baseline, [sleeps, unlucky], limit=1.10)

    assert len(fresh_misses) == 1
    assert fresh_misses[0].startswith("cold start, sleeps: waits 30 ms longer than the baseline")


def test_the_context_s_load_is_taken_out_and_a_baseline_that_counts_differently_twice_misses(
    monkeypatch: pytest.MonkeyPatch, fresh_misses: list[str]
) -> None:
    # Given valgrind counts: the context's load costs 20 M in the case's process
    counts = {
        ("baseline", 1): [1_000_000_000, 1_000_400_000],
        ("case", 1): [1_100_000_000],
        ("case", 2): [1_120_000_000],
    }

    def counted(case: Case, scratch: str, context_loads: int = 1) -> int:
        return counts[(case.label, context_loads)].pop(0)

    monkeypatch.setattr(bench, "instructions", counted)
    baseline, case = Case("baseline", "", "-", None), Case("case", "Function", "app.handler", None)

    bench.count_instructions(baseline, [case], scratch="-")

    # Then the case counts 1,080 M (its own 1,100 M less the load's 20 M), the baseline its lower count,
    # and two baseline counts 0.04 % apart are repeatable
    assert (case.instructions, baseline.instructions) == (1_080_000_000, 1_000_000_000)
    assert fresh_misses == []

    counts.update({("baseline", 1): [1_000_000_000, 1_010_000_000], ("case", 1): [1], ("case", 2): [1]})
    bench.count_instructions(baseline, [case], scratch="-")
    assert fresh_misses == ["instruction counts: the baseline counted 1000000000 then 1010000000, not repeatable"]


def test_one_stalled_block_does_not_move_the_p99_ratio() -> None:
    # Given five blocks of 100 calls where the handler takes 1.1x the bare call, and in one block a
    # stall made the handler's five slowest calls 50x slower
    bare = [[1.0 + index / 1000 for index in range(100)] for _ in range(5)]
    handler = [[1.1 * sample for sample in block] for block in bare]
    handler[2] = sorted(handler[2])[:95] + [55.0] * 5
    timings = {"handler": handler, "bare": bare}

    # Then the ratio is the undisturbed blocks' 1.1, while the stalled block alone says about 50
    assert latency.p99_ratio(timings, "handler", "bare") == pytest.approx(1.1)
    assert latency._p99(handler[2]) / latency._p99(bare[2]) > 40
