"""How `make bench` judges its noisy figures: a cold start on valgrind's instructions and estimated
cycles and strace's system calls (with the wall clock's waiting gated in the round that waited
least), and a warm p99 ratio as the median of blocks' ratios."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import bench.__main__ as bench
from bench import latency
from bench.__main__ import Case

BILLION = 1_000_000_000


@pytest.fixture(autouse=True)
def fresh_misses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    missed: list[str] = []
    monkeypatch.setattr(bench, "MISSED", missed)
    return missed


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """valgrind and strace are installed."""
    monkeypatch.setattr(bench, "VALGRIND", ("valgrind",))
    monkeypatch.setattr(bench, "STRACE", ("strace",))


def timed(label: str, cpu_ms: list[float], wait_ms: list[float], instructions: int = BILLION, syscalls: int = 10_000,
          cycles: int = 0) -> Case:  # fmt: skip
    case = Case(label, "Function", "app.handler", Path("event.json"), minor_faults=100)
    case.instructions, case.syscalls, case.cycles = instructions, syscalls, cycles or instructions * 3 // 2
    case.cpu_seconds = [ms / 1000 for ms in cpu_ms]
    case.seconds = [(cpu + wait) / 1000 for cpu, wait in zip(cpu_ms, wait_ms, strict=True)]
    return case


@pytest.mark.usefixtures("counted")
def test_the_counts_are_judged_not_the_cpu_time_a_busy_machine_moved(fresh_misses: list[str]) -> None:
    # Given counts within the limit and CPU times 1.3x apart; then counts beyond it, CPU times equal
    baseline = timed("baseline", [400, 400, 400], [1, 1, 1])
    within = timed("within", [520, 520, 520], [1, 1, 1], instructions=1_090_000_000, syscalls=10_900)
    heavier = timed("heavier", [400, 400, 400], [1, 1, 1], instructions=1_110_000_000)
    missing = timed("missing", [400, 400, 400], [1, 1, 1], cycles=1_680_000_000)  # the same instructions, 1.12x
    kernel = timed("kernel", [400, 400, 400], [1, 1, 1], syscalls=11_200)

    # When they are judged against 1.10x
    bench.report_cold_starts(baseline, [within, heavier, missing, kernel], limit=1.10)

    # Then each count beyond the limit misses, by name
    assert fresh_misses == [
        "cold start, heavier: 1.11x the baseline's instructions, target <= 1.10x",
        "cold start, heavier: 1.11x the baseline's estimated cycles, target <= 1.10x",
        "cold start, missing: 1.12x the baseline's estimated cycles, target <= 1.10x",
        "cold start, kernel: 1.12x the baseline's system calls, target <= 1.10x",
    ]


def test_without_valgrind_the_paired_cpu_ratio_is_judged_and_called_noisy(
    monkeypatch: pytest.MonkeyPatch, fresh_misses: list[str]
) -> None:
    monkeypatch.setattr(bench, "VALGRIND", ())
    monkeypatch.setattr(bench, "STRACE", ())
    baseline = timed("baseline", [400, 500, 300], [1, 1, 1])
    # Each round's ratio to its own baseline round: 1.10, 1.20, 1.30; the medians alone would say 1.10
    slow = timed("slow", [440, 600, 390], [1, 1, 1])

    bench.report_cold_starts(baseline, [slow], limit=1.15)

    assert fresh_misses == ["cold start, slow: 1.20x the baseline's CPU time (valgrind not installed: noisy), "
                            "target <= 1.15x"]  # fmt: skip


@pytest.mark.usefixtures("counted")
def test_a_wait_in_every_round_misses_and_the_baseline_s_own_wait_excuses_at_most_5_ms(
    fresh_misses: list[str],
) -> None:
    # Given a baseline that waits 4 ms in its best round, a handler that sleeps 30 ms in each, one
    # a busy machine delayed in most rounds, and one that waits 9 ms more than the baseline
    baseline = timed("baseline", [400, 400, 400], [4, 6, 4])
    sleeps = timed("sleeps", [400, 400, 400], [34, 35, 34])
    unlucky = timed("unlucky", [400, 400, 400], [5, 400, 250])
    slightly = timed("slightly", [400, 400, 400], [13, 14, 13])

    bench.report_cold_starts(baseline, [sleeps, unlucky, slightly], limit=1.10)

    # Then only the sleep misses
    assert [miss.split(":")[0] for miss in fresh_misses] == ["cold start, sleeps"]
    assert "waits 30 ms longer than the baseline" in fresh_misses[0]

    # And a baseline that itself waited 40 ms excuses 5 of a handler's 30
    fresh_misses.clear()
    bench.report_cold_starts(timed("slow baseline", [400] * 3, [40, 41, 40]), [timed("h", [400] * 3, [30] * 3)], 1.10)
    assert fresh_misses == ["cold start, h: waits 25 ms longer than the baseline (wall beyond CPU), limit 10 ms"]


@pytest.mark.usefixtures("counted")
def test_count_work_sets_each_count_and_a_count_that_does_not_repeat_misses(
    monkeypatch: pytest.MonkeyPatch, fresh_misses: list[str]
) -> None:
    # Given valgrind and strace counts for a baseline and two cases, the baseline and the first twice
    instructions = {"baseline": [BILLION, BILLION + 400_000], "first": [1_060_000_000] * 2, "second": [1_070_000_000]}
    syscalls = {"baseline": 12_000, "first": 12_800, "second": 12_900}
    monkeypatch.setattr(
        bench, "cachegrind", lambda case, scratch: (count := instructions[case.label].pop(0), 2 * count)
    )
    monkeypatch.setattr(bench, "syscalls", lambda case, scratch: syscalls[case.label])
    baseline, first, second = (Case(label, "", "-", None) for label in ("baseline", "first", "second"))

    bench.count_work(baseline, [first, second], scratch="-")

    # Then each has its count (the lower of two), and two counts 0.04 % apart repeat
    assert [(case.instructions, case.cycles, case.syscalls) for case in (baseline, first, second)] == [
        (BILLION, 2 * BILLION, 12_000), (1_060_000_000, 2_120_000_000, 12_800), (1_070_000_000, 2_140_000_000, 12_900)
    ]  # fmt: skip
    assert fresh_misses == []

    # When the first case counts 0.5 % apart, Then the method is said not to hold
    instructions.update({"baseline": [BILLION] * 2, "first": [1_060_000_000, 1_065_300_000], "second": [1]})
    bench.count_work(baseline, [first, second], scratch="-")
    assert len(fresh_misses) == 1
    assert re.fullmatch(r"instruction counts: first counted 10(60|65)\d+ then 10(60|65)\d+, not repeatable",
                        fresh_misses[0])  # fmt: skip


def test_the_counts_are_read_from_valgrind_s_and_strace_s_own_output() -> None:
    # cachegrind's summary of `true`, with its cache simulation: estimated cycles, as iai-callgrind's
    # formula gives them, = L1 hits 164,779 + 5 x LL hits 260 + 35 x RAM hits 2,399
    valgrind = """==9412== I   refs:      127,769
==9412== I1  misses:      1,091
==9412== LLi misses:      1,072
==9412== D   refs:       39,669  (29,403 rd   + 10,266 wr)
==9412== D1  misses:      1,568  ( 1,224 rd   +    344 wr)
==9412== LLd misses:      1,327  ( 1,015 rd   +    312 wr)
"""
    strace = """% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 34.33    0.008348           3      2497       197 newfstatat
  0.00    0.000000           0         1           epoll_create1
------ ----------- ----------- --------- --------- ----------------
100.00    0.024315           3      6096       609 total
"""
    assert bench.cachegrind_counts(valgrind) == (127_769, 250_044)
    assert bench.cachegrind_counts(valgrind.splitlines()[0]) == (127_769, 127_769)  # no cache simulation
    assert bench.syscall_count(strace) == 6096
    # A total without errors has no errors column
    assert bench.syscall_count(strace.replace("      6096       609 total", "      6096           total")) == 6096
    assert bench.cachegrind_counts("valgrind: failed to start tool 'cachegrind'") is None
    assert bench.syscall_count("strace: exec: No such file or directory") is None


def test_the_stages_add_up_to_the_case_s_difference_with_the_baseline(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given counts for each stage of a stream handler that makes an EventBridge client
    stages = {"import:boto3:events": 1_000_000_000, "import:aws_lambda_powertools:events": 1_035_000_000,
              "import:stream_handlers.publish_events.app:events": 1_085_000_000}  # fmt: skip
    monkeypatch.setattr(bench, "instructions", lambda case, scratch: stages[case.handler])
    baseline = Case("baseline", "", "-", None, instructions=1_010_000_000)
    case = Case("publish", "PublishEventsFunction", "stream_handlers.publish_events.app.handler", None,
                instructions=1_100_000_000, clients=("events",))  # fmt: skip

    bench.report_stages(baseline, case, scratch="-")

    # Then each row is the difference between its stages, and the rows add up to the 90 M
    printed = capsys.readouterr().out
    rows = [int(found) for found in re.findall(r"([+-]\d+) M  ", printed)]
    assert rows == [-10, 35, 50, 15]
    assert sum(rows) == 90
    assert "boto3's events client(s), for the baseline's DynamoDB client" in printed


def test_one_stalled_block_does_not_move_the_p99_ratio() -> None:
    # Given five blocks of 100 calls: the handler takes 1.0x the bare call in one, 1.1x in three,
    # and in the last a stall made its five slowest calls 50x slower
    bare = [[1.0 + index / 1000 for index in range(100)] for _ in range(5)]
    factors = [1.0, 1.1, 1.1, 1.1, 1.1]
    handler = [[factor * sample for sample in block] for factor, block in zip(factors, bare, strict=True)]
    handler[4] = sorted(handler[4])[:95] + [55.0] * 5
    timings = {"handler": handler, "bare": bare}

    # Then the ratio is the middle block's 1.1: neither the stall's ~50 nor the best block's 1.0
    assert latency.p99_ratio(timings, "handler", "bare") == pytest.approx(1.1)
    assert latency._p99(handler[4]) / latency._p99(bare[4]) > 40
