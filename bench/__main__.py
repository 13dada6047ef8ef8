"""`make bench`: cold starts and AWS call counts, measured side by side in one run.

Every figure comes from fresh processes of a Lambda-like interpreter (python3.13 with only
boto3) running the built artifacts in .cache/build-host (see bench/harness.py). Runs are
interleaved, so machine noise hits baseline and handlers alike; medians are reported.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".cache" / "build-host" / "build"
LAMBDA_PYTHON = ROOT / ".cache" / "lambda-python" / "bin" / "python"
HARNESS = Path(__file__).with_name("harness.py")
EVENTS = ROOT / "events" / "cognito"
RUNS = 11

PROFILE_ITEM = {
    "user_id": {"S": "bench-user"},
    "username": {"S": "bench-user"},
    "version": {"N": "3"},
    "created_at": {"S": "2026-01-01T00:00:00.000Z"},
    "updated_at": {"S": "2026-01-02T00:00:00.000Z"},
    "email": {"S": "bench@example.com"},
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
    seconds: list[float] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # the function's own settings


def trigger_cases() -> list[Case]:
    from tests.template import resource

    def handler(logical_id: str) -> str:
        return str(resource(logical_id)["Properties"]["Handler"])

    return [
        Case("post-confirmation (sign-up)", "PostConfirmationFunction", handler("PostConfirmationFunction"),
             EVENTS / "post_confirmation_email_sign_up.json"),
        Case("pre-token, profile exists", "PreTokenGenerationFunction", handler("PreTokenGenerationFunction"),
             EVENTS / "pre_token_v2_authentication.json", {"GetItem": {"Item": PROFILE_ITEM}}),
        Case("pre-token, no profile yet", "PreTokenGenerationFunction", handler("PreTokenGenerationFunction"),
             EVENTS / "pre_token_v2_authentication.json", {"GetItem": {}}),
    ]  # fmt: skip


def measure(cases: list[Case], runs: int = RUNS) -> Case:
    """Run the baseline and every case `runs` times, interleaved; returns the baseline."""
    for path in (LAMBDA_PYTHON, BUILD):
        if not path.exists():
            sys.exit(f"{path} is missing: run `make build-host` (make bench does)")
    baseline = Case("baseline: import boto3 + one DynamoDB client", "", "-", None)
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(runs):
            for case in [baseline, *cases]:
                canned = Path(scratch, "canned.json")
                canned.write_text(json.dumps(case.canned))
                task_root = BUILD / case.function if case.function else BUILD
                result = subprocess.run(
                    [str(LAMBDA_PYTHON), "-I", "-B", str(HARNESS), str(task_root), case.handler,
                     str(case.event or "-"), str(canned)],
                    capture_output=True, text=True, timeout=120, check=False,
                    env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
                         "PROFILE_TABLE_NAME": "bench", "POWERTOOLS_METRICS_NAMESPACE": "bench",
                         "POWERTOOLS_SERVICE_NAME": "bench", "PATH": "/usr/bin:/bin", **case.env},
                )  # fmt: skip
                if result.returncode != 0:
                    sys.exit(f"{case.label} failed:\n{result.stderr[-2000:]}")
                figures = json.loads(result.stdout.strip().splitlines()[-1])
                case.seconds.append(figures["seconds"])
                case.calls = figures["calls"]
    return baseline


def report_cold_starts(baseline: Case, cases: list[Case], limit: float) -> None:
    base = statistics.median(baseline.seconds)
    print(f"{'cold start (median of ' + str(len(baseline.seconds)) + ')':<46} {'ms':>8} {'ratio':>7}  limit")
    print(f"{baseline.label:<46} {base * 1000:8.1f} {1.0:7.2f}")
    for case in cases:
        median = statistics.median(case.seconds)
        print(f"{case.label:<46} {median * 1000:8.1f} {median / base:7.2f}  <= {limit:.2f}x")


def report_calls(cases: list[Case]) -> None:
    print(f"\n{'AWS calls per operation':<46} calls")
    for case in cases:
        calls = ", ".join(f"{name} {count}" for name, count in sorted(case.calls.items())) or "none"
        print(f"{case.label:<46} {calls}")


def main() -> None:
    sys.path.insert(0, str(ROOT))
    cases = trigger_cases()
    print("== Cognito triggers ==")
    baseline = measure(cases)
    report_cold_starts(baseline, cases, limit=1.15)
    report_calls(cases)

    from bench import streams

    print("\n== Stream handlers ==")
    streams.run()

    from local import demo

    print("\n== Local stack: make demo, warm (packages installed) ==")
    figures = demo.measure()
    parts = (("stack start", "stack_start_s"), ("scenario, every step checked", "scenario_s"), ("stop", "stop_s"))
    for label, key in parts:
        print(f"{label:<46} {figures[key]:8.2f} s")
    print(f"{'whole demo, wall':<46} {figures['total_s']:8.2f} s  <= 10 s")


if __name__ == "__main__":
    main()
