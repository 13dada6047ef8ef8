"""`make bench`: cold starts and AWS call counts, measured side by side in one run.

Every figure comes from fresh processes of a Lambda-like interpreter (python3.13 with only
boto3) running the built artifacts in .aws-sam/build (see bench/harness.py). Runs are
interleaved, so machine noise hits baseline and handlers alike; medians are reported.

A cold start is judged on counts that no machine load moves: the instructions its process
executes (valgrind's cachegrind, without its cache simulation) and the system calls it makes
(strace -c), each as a ratio to the baseline's. The measured process loads nothing of the
project's but the handler (its Lambda context is a namespace of values), so the counts are the
handler's own. Repeated, a count repeats within REPEAT_TOLERANCE; the bench checks that on every
run. CPU and wall-clock times of this shared VM are no such measure: the same baseline process
took 320 to 510 ms of CPU from one round to the next, which moved a trigger's CPU ratio between
0.90x and 1.19x. They are printed beside the counts (medians of 15 interleaved rounds, each
round's ratio paired with its own baseline), with the minor page faults. Neither count sees
waiting, which is judged as the wall clock beyond CPU time in the round that waited least.
Without valgrind, the CPU-time ratio is judged instead, and the output says it is noisy.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.support import LambdaContext, function_spec

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"
LAMBDA_PYTHON = ROOT / ".cache" / "lambda-python" / "bin" / "python"
HARNESS = Path(__file__).with_name("harness.py")
EVENTS = ROOT / "events" / "cognito"
RUNS = 15
TRIGGER_COLD_START_LIMIT = 1.10
API_COLD_START_LIMIT = 1.30
REPEAT_TOLERANCE = 0.003  # two counts of the same process may differ by this share (seen: 0.15 %), no more
WAIT_LIMIT_MS = 10  # how much longer than the baseline a cold start may wait (wall clock beyond CPU time)
BASELINE_WAIT_CREDIT_MS = 5  # the baseline's own wait counts up to this: a slow baseline round excuses nothing
ARTIFACT_LIMIT_MB = 9.0
_VALGRIND = shutil.which("valgrind")
# Cachegrind: instructions, and with its cache simulation the misses of a model cache, from which
# iai-callgrind's estimate of cycles: L1 hits + 5 x LL hits + 35 x RAM hits. The simulation is asked
# for by name (its default changed from yes to no in valgrind 3.21); without it, about 25x native.
_CACHEGRIND = (_VALGRIND, "--tool=cachegrind", "--cachegrind-out-file=/dev/null") if _VALGRIND else ()
VALGRIND = (*_CACHEGRIND, "--cache-sim=yes") if _VALGRIND else ()
_STRACE = shutil.which("strace")
STRACE = (_STRACE, "-f", "-c") if _STRACE else ()  # a summary per syscall, the total last
MISSED: list[str] = []  # every figure that missed its target: `make bench` fails on any


def check(label: str, value: float, limit: float, unit: str = "") -> bool:
    """Print a figure against its target, remembering a miss."""
    ok = value <= limit
    print(f"{label:<46} {value:8.2f}{unit} <= {limit:.2f}{unit}  {'ok' if ok else 'MISSED'}")
    if not ok:
        MISSED.append(f"{label}: {value:.2f}{unit}, target <= {limit:.2f}{unit}")
    return ok


PROFILE_ITEM = {
    "user_id": {"S": "bench-user"},
    "username": {"S": "bench-user"},
    "version": {"N": "3"},
    "created_at": {"S": "2026-01-01T00:00:00.000Z"},
    "updated_at": {"S": "2026-01-02T00:00:00.000Z"},
    # The event's IdP-owned values: an unchanged sign-in, the read-only path (one GetItem).
    "email": {"S": "jane.doe@example.com"},
    "email_verified": {"BOOL": True},
    "providers": {"L": [{"S": "Cognito"}]},
    "plan": {"S": "pro"},
    "roles": {"L": [{"S": "admin"}]},
    "locale": {"S": "en-GB"},
}


@dataclass
class Case:
    """One operation: a function, an event and what AWS answers."""

    label: str
    function: str  # logical id; "" for the baseline process
    handler: str
    event: Path | None
    canned: dict[str, Any] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)  # wall clock, one per round
    cpu_seconds: list[float] = field(default_factory=list)  # user + system, one per round
    calls: dict[str, int] = field(default_factory=dict)
    minor_faults: int = 0  # page faults served without I/O, last round (the same each round)
    instructions: int = 0  # user-space instructions of the whole process, counted by valgrind
    cycles: int = 0  # the cycles those take by valgrind's cache model: memory's share of the work too
    syscalls: int = 0  # system calls of the whole process, counted by strace
    clients: tuple[str, ...] = ("dynamodb",)  # the AWS clients the function creates on this path
    env: dict[str, str] = field(default_factory=dict)  # the function's own settings
    expected_calls: dict[str, int] | None = None  # exact AWS calls the operation must make


def trigger_cases() -> list[Case]:
    def handler(logical_id: str) -> str:
        return function_spec(logical_id).handler

    return [
        Case("post-confirmation (sign-up)", "PostConfirmationFunction", handler("PostConfirmationFunction"),
             EVENTS / "post_confirmation_email_sign_up.json", expected_calls={"PutItem": 1}),
        Case("pre-token, profile exists", "PreTokenGenerationFunction", handler("PreTokenGenerationFunction"),
             EVENTS / "pre_token_v2_authentication.json", {"GetItem": {"Item": PROFILE_ITEM}},
             expected_calls={"GetItem": 1}),
        Case("pre-token, no profile yet", "PreTokenGenerationFunction", handler("PreTokenGenerationFunction"),
             EVENTS / "pre_token_v2_authentication.json", {"GetItem": {}},
             expected_calls={"GetItem": 1, "PutItem": 1}),
    ]  # fmt: skip


def api_cases() -> list[Case]:
    handler = function_spec("ProfileApiFunction").handler
    event = ROOT / "events" / "api" / "get_me_profile.json"
    return [
        Case("GET /me/profile, profile exists", "ProfileApiFunction", handler, event,
             {"GetItem": {"Item": PROFILE_ITEM}}, env={"USER_POOL_ID": "us-east-1_bench"},
             expected_calls={"GetItem": 1}),
    ]  # fmt: skip


def _context_file(case: Case, scratch: str) -> str:
    """local/support.py's LambdaContext for ``case``'s function, as the values the harness needs."""
    if not case.function:
        return "-"
    context = LambdaContext.of(case.function)
    path = Path(scratch, f"context-{case.function}.json")
    names = ("function_name", "function_version", "invoked_function_arn", "memory_limit_in_mb", "aws_request_id",
             "log_group_name", "log_stream_name", "timeout")  # fmt: skip
    path.write_text(json.dumps({name: getattr(context, name) for name in names}))
    return str(path)


def _run(case: Case, scratch: str, wrapper: tuple[str, ...] = ()) -> tuple[dict[str, Any], str]:
    """One fresh process of ``case`` (under ``wrapper``: valgrind, strace): the harness's figures and stderr."""
    canned = Path(scratch, f"canned-{threading.get_ident()}.json")
    canned.write_text(json.dumps(case.canned))
    task_root = BUILD / case.function if case.function else BUILD
    result = subprocess.run(
        [*wrapper, str(LAMBDA_PYTHON), "-I", "-B", str(HARNESS), str(task_root), case.handler,
         str(case.event or "-"), str(canned), _context_file(case, scratch)],
        capture_output=True, text=True, timeout=300, check=False,
        env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
             "PROFILE_TABLE_NAME": "bench", "POWERTOOLS_METRICS_NAMESPACE": "bench",
             "POWERTOOLS_SERVICE_NAME": "bench", "PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", **case.env},
    )  # fmt: skip
    if result.returncode != 0:
        sys.exit(f"{case.label} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def cachegrind_counts(valgrind_output: str) -> tuple[int, int] | None:
    """(instructions, estimated cycles) from cachegrind's summary, or None when it has none. Cycles as
    iai-callgrind estimates them: L1 hits + 5 x last-level hits + 35 x RAM hits; without the cache
    simulation's lines, cycles = instructions."""

    def total(name: str) -> int | None:
        found = re.search(rf"{name}:\s+([\d,]+)", valgrind_output)
        return int(found.group(1).replace(",", "")) if found else None

    instructions = total(r"I\s+refs")
    if instructions is None:
        return None
    misses = [total(name) for name in (r"D\s+refs", r"I1\s+misses", r"D1\s+misses", r"LLi\s+misses", r"LLd\s+misses")]
    if None in misses:
        return instructions, instructions
    data, l1_instructions, l1_data, ll_instructions, ll_data = (int(count or 0) for count in misses)
    ram = ll_instructions + ll_data
    last_level = l1_instructions + l1_data - ram
    return instructions, instructions + data - last_level - ram + 5 * last_level + 35 * ram


def cachegrind(case: Case, scratch: str, wrapper: tuple[str, ...] = VALGRIND) -> tuple[int, int]:
    """(instructions, estimated cycles) of ``case``'s whole process under valgrind."""
    _, stderr = _run(case, scratch, wrapper=wrapper)
    counts = cachegrind_counts(stderr)
    if counts is None:
        sys.exit(f"valgrind printed no instruction count for {case.label}:\n{stderr[-2000:]}")
    return counts


def instructions(case: Case, scratch: str) -> int:
    """The user-space instructions ``case``'s whole process executes (no cache simulation: faster)."""
    return cachegrind(case, scratch, (*_CACHEGRIND, "--cache-sim=no"))[0]


def syscall_count(strace_summary: str) -> int | None:
    """The calls column of the "total" line of ``strace -c``'s summary, or None when there is none."""
    found = re.search(r"^[\d.]+\s+[\d.]+\s+\d+\s+(\d+)(?:\s+\d+)?\s+total$", strace_summary, re.MULTILINE)
    return int(found.group(1)) if found else None


def syscalls(case: Case, scratch: str) -> int:
    """The system calls ``case``'s whole process makes, counted by strace: the kernel's share of the work."""
    summary = Path(scratch, f"strace-{threading.get_ident()}.txt")
    _run(case, scratch, wrapper=(*STRACE, "-o", str(summary)))
    count = syscall_count(summary.read_text())
    if count is None:
        sys.exit(f"strace wrote no total for {case.label}:\n{summary.read_text()[-2000:]}")
    return count


def count_work(baseline: Case, cases: list[Case], scratch: str) -> None:
    """Each process's instructions (valgrind) and system calls (strace), once each; the baseline and
    the first case are counted twice, and two counts of the same work apart by more than
    REPEAT_TOLERANCE mean the method does not hold on this machine: a miss."""
    everyone = [baseline, *cases]
    if VALGRIND:
        repeated = everyone[:2]  # the baseline and the first case, counted twice
        with ThreadPoolExecutor(max_workers=2) as pool:  # deterministic counts: the two cores run two at once
            counts = list(pool.map(lambda case: cachegrind(case, scratch), [*everyone, *repeated]))
        for case, count in zip(everyone, counts, strict=False):
            case.instructions, case.cycles = count
        for case, first, again in zip(repeated, counts[: len(repeated)], counts[len(everyone) :], strict=True):
            case.instructions, case.cycles = min(first, again)
            if abs(first[0] - again[0]) > REPEAT_TOLERANCE * first[0]:
                MISSED.append(f"instruction counts: {case.label} counted {first[0]} then {again[0]}, not repeatable")
    if STRACE:
        for case in everyone:
            case.syscalls = syscalls(case, scratch)


def measure(cases: list[Case], runs: int = RUNS) -> Case:
    """Run the baseline and every case `runs` times, interleaved, then count each one's work (valgrind
    and strace, where installed); returns the baseline."""
    for path in (LAMBDA_PYTHON, BUILD):
        if not path.exists():
            sys.exit(f"{path} is missing: run `make build` (make bench does)")
    baseline = Case("baseline: boto3 + one DynamoDB client", "", "-", None)
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(runs):
            for case in [baseline, *cases]:
                figures, _ = _run(case, scratch)
                case.seconds.append(figures["seconds"])
                case.cpu_seconds.append(figures["cpu_seconds"])
                case.minor_faults = figures["minor_faults"]
                case.calls = figures["calls"]
        count_work(baseline, cases, scratch)
    return baseline


def _paired_ratio(spent: list[float], base: list[float]) -> float:
    return statistics.median(case / baseline for case, baseline in zip(spent, base, strict=True))


def report_cold_starts(baseline: Case, cases: list[Case], limit: float) -> None:
    """Each case's cold start against the baseline, judged on counts no machine load moves, each
    within ``limit``: the instructions and the cycles valgrind's cache model estimates for them, and
    the system calls (strace). None sees waiting (a lock, a sleep, a lookup), so the wall clock
    beyond CPU time is judged too: at most WAIT_LIMIT_MS more than the baseline's, in the round
    that waited least. Without valgrind, the median paired CPU-time ratio is judged instead, and
    the output says it is noisy."""
    judge = "instructions and cycles" if VALGRIND else "CPU time (valgrind not installed: noisy)"
    judged = f"{judge} and system calls" if STRACE else f"{judge} (strace not installed: system calls unjudged)"
    print(f"cold start, judged on {judged}; times: medians of {len(baseline.seconds)} rounds")
    columns = (("wall ms", 7), ("CPU ms", 6), ("wait", 4), ("CPU", 5), ("wall", 5), ("faults", 6), ("Minstr", 6),
               ("instr", 5), ("cycles", 6), ("calls", 5))  # fmt: skip
    print(f"{'':<38} " + " ".join(f"{name:>{width}}" for name, width in columns) + "  (ratios to the baseline)")
    base_waiting = _waiting_ms(baseline)

    def counted(case: Case) -> dict[str, float]:
        """The judged counts' ratios to the baseline's (none for a tool that is not installed)."""
        ratios = {}
        if VALGRIND:
            ratios["instructions"] = case.instructions / baseline.instructions
            ratios["estimated cycles"] = case.cycles / baseline.cycles
        if STRACE:
            ratios["system calls"] = case.syscalls / baseline.syscalls
        return ratios

    def columns_of(case: Case, ratios: dict[str, float]) -> str:
        def ratio(name: str, width: int) -> str:
            return f"{ratios[name]:{width}.2f}" if name in ratios else f"{'-':>{width}}"

        millions = f"{case.instructions / 1e6:6.0f}" if VALGRIND else f"{'-':>6}"
        return f"{millions} {ratio('instructions', 5)} {ratio('estimated cycles', 6)} {ratio('system calls', 5)}"

    print(
        f"{baseline.label:<38} {statistics.median(baseline.seconds) * 1000:7.0f} "
        f"{statistics.median(baseline.cpu_seconds) * 1000:6.0f} {base_waiting:4.0f} {1:5.2f} {1:5.2f} {1:6.2f} "
        + columns_of(baseline, counted(baseline))
    )
    for case in cases:
        cpu_ratio = _paired_ratio(case.cpu_seconds, baseline.cpu_seconds)
        ratios = counted(case) if VALGRIND else {"CPU time (valgrind not installed: noisy)": cpu_ratio} | counted(case)
        waited = _waiting_ms(case) - min(base_waiting, BASELINE_WAIT_CREDIT_MS)
        misses = [f"{ratio:.2f}x the baseline's {name}, target <= {limit:.2f}x"
                  for name, ratio in ratios.items() if ratio > limit]  # fmt: skip
        if waited > WAIT_LIMIT_MS:
            misses.append(f"waits {waited:.0f} ms longer than the baseline (wall beyond CPU), limit {WAIT_LIMIT_MS} ms")
        print(
            f"{case.label:<38} {statistics.median(case.seconds) * 1000:7.0f} "
            f"{statistics.median(case.cpu_seconds) * 1000:6.0f} {_waiting_ms(case):4.0f} {cpu_ratio:5.2f} "
            f"{_paired_ratio(case.seconds, baseline.seconds):5.2f} {case.minor_faults / baseline.minor_faults:6.2f} "
            f"{columns_of(case, ratios)}  <= {limit:.2f}x  {'MISSED' if misses else 'ok'}"
        )
        MISSED.extend(f"cold start, {case.label}: {miss}" for miss in misses)


def _waiting_ms(case: Case) -> float:
    """The least wall clock beyond CPU time over the rounds: a wait the code makes is in every round,
    while a busy machine's descheduling only adds to some, so the minimum keeps the one, not the other."""
    return min(wall - cpu for wall, cpu in zip(case.seconds, case.cpu_seconds, strict=True)) * 1000


def report_calls(cases: list[Case]) -> None:
    print(f"\n{'AWS calls per operation':<46} calls")
    for case in cases:
        calls = ", ".join(f"{name} {count}" for name, count in sorted(case.calls.items())) or "none"
        verdict = ""
        if case.expected_calls is not None:
            verdict = "  ok" if case.calls == case.expected_calls else f"  MISSED (expected {case.expected_calls})"
            if case.calls != case.expected_calls:
                MISSED.append(f"calls, {case.label}: {case.calls}, expected {case.expected_calls}")
        print(f"{case.label:<46} {calls}{verdict}")


def report_stages(baseline: Case, case: Case, scratch: str) -> None:
    """Where ``case``'s extra instructions over the baseline go, stage by stage, each a process of its
    own under valgrind: boto3 with the function's clients, then powertools' package, then the
    project's modules, then the invocation. The rows add up to the case's difference."""
    module = case.handler.rpartition(".")[0]
    clients = ",".join(case.clients)
    stages = [Case(f"import {name}", case.function, f"import:{name}:{clients}", None)
              for name in ("boto3", "aws_lambda_powertools", module)]  # fmt: skip
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = [baseline.instructions, *pool.map(lambda stage: instructions(stage, scratch), stages)]
    counts.append(case.instructions)
    parts = (f"boto3's {' and '.join(case.clients)} client(s), for the baseline's DynamoDB client",
             "powertools' package (logger, metrics, tracer)", "the project's modules",
             "the invocation (settings, the calls, log, EMF)")  # fmt: skip
    print(f"  {case.label}: {(case.instructions - baseline.instructions) / 1e6:+.0f} M instructions over the baseline")
    for part, before, after in zip(parts, counts[:-1], counts[1:], strict=True):
        print(f"    {part:<66} {(after - before) / 1e6:+6.0f} M  {(after - before) / baseline.instructions:+6.1%}")


def report_artifacts() -> None:
    print(f"\n{'artifact (sam build), unzipped':<46} {'MB':>8}")
    for folder in sorted(path for path in BUILD.iterdir() if path.is_dir()):
        size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1024 / 1024
        check(folder.name, size, ARTIFACT_LIMIT_MB, " MB")


def main() -> None:
    sys.path.insert(0, str(ROOT))
    cases = trigger_cases()
    print("== Cognito triggers ==")
    baseline = measure(cases)
    report_cold_starts(baseline, cases, limit=TRIGGER_COLD_START_LIMIT)
    if VALGRIND:
        print("where a trigger's extra instructions go, stage by stage (the difference between stages):")
        with tempfile.TemporaryDirectory() as scratch:
            for case in cases[:2]:  # post-confirmation, and pre-token on its usual path
                report_stages(baseline, case, scratch)
    report_calls(cases)

    print("\n== Profile API ==")
    cases = api_cases()
    report_cold_starts(measure(cases), cases, limit=API_COLD_START_LIMIT)
    report_calls(cases)
    report_artifacts()

    from bench import latency

    print()
    latency.run(check)

    from bench import backfill

    print()
    backfill.run(check)

    from bench import streams

    print("\n== Stream handlers ==")
    streams.run()

    from local import demo

    print("\n== Local stack: make demo, warm (packages installed) ==")
    figures = demo.measure()
    parts = (("stack start", "stack_start_s"), ("scenario, every step checked", "scenario_s"), ("stop", "stop_s"))
    for label, key in parts:
        print(f"{label:<46} {figures[key]:8.2f} s")
    check("whole demo, wall", figures["total_s"], 10.0, " s")

    missing = [tool for tool, found in (("valgrind", VALGRIND), ("strace", STRACE)) if not found]
    if missing:
        print(f"\nwarning: {' and '.join(missing)} not installed: the cold starts' judgement above is partial"
              f" (apt-get install {' '.join(missing)})")  # fmt: skip
    if MISSED:
        print("\nmissed targets:\n  " + "\n  ".join(MISSED))
        sys.exit(1)
    print("\nevery figure within its target")


if __name__ == "__main__":
    main()
