"""Stream handler figures for `make bench`: AWS calls per 100 changed records, the per-record
cost of decode + diff + build, and each handler's cold start against the boto3 baseline.

Calls are counted exactly (botocore's before-parameter-build event) with the handlers
running in-process under moto on records read from moto's stream after real writes. Cold
starts come from fresh processes running the built artifacts (bench/harness.py), measured
interleaved with the baseline in the same run.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.support import MotoStack

ROUNDS = 7
EVENT_ENV = {
    "EVENT_BUS_NAME": "bench-profiles",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench-dlq",
    "USER_POOL_ID": "us-east-1_bench",
}
COLD_START_LIMIT = 1.2


@contextmanager
def _stack() -> Iterator[MotoStack]:
    """template.yaml's resources under moto (local/support.py), the stream functions' variables set."""
    from local.support import moto_stack

    with moto_stack() as stack:
        os.environ.update(
            stack.environment("PublishEventsFunction", "SyncCognitoFunction"),
            # The client-side rate limit would only add sleeps here: calls are counted, not timed.
            COGNITO_QUOTA_PER_SECOND="100000",
            POWERTOOLS_METRICS_NAMESPACE="bench",
            POWERTOOLS_SERVICE_NAME="bench",
            POWERTOOLS_LOG_LEVEL="WARNING",
        )
        from shared.observability import logger, metrics

        metrics.namespace = "bench"  # the process imported it before this environment was set
        logger.setLevel("WARNING")  # the handlers' per-batch lines would bury the figures
        yield stack


def _changed_records(stack: MotoStack, users: int, updates: int, changes: dict[str, Any]) -> list[dict[str, Any]]:
    """``users`` x ``updates`` MODIFY records (users interleaved), read back from the stream."""
    from shared.profile import Profile

    now = "2026-11-28T00:00:00.000Z"
    cognito = stack.session.client("cognito-idp")
    prefix = time.perf_counter_ns()
    for index in range(users):
        user_id = f"user-{prefix}-{index:03}"
        cognito.admin_create_user(UserPoolId=stack.user_pool_id, Username=user_id)
        profile = Profile(user_id, user_id, now, now, {"plan": "free", "display_name": "Bench User"})
        stack.repository.create_if_absent(profile)
    for version in range(1, updates + 1):
        for index in range(users):
            values = {name: f"{value}{version}" for name, value in changes.items()}
            stack.repository.update(f"user-{prefix}-{index:03}", values, expected_version=version)
    return [record for record in stack.stream.read() if record["eventName"] == "MODIFY"]


def _calls(stack: MotoStack, function: str, records: list[Any]) -> Counter[str]:
    """The AWS calls template.yaml's ``function`` makes for one batch of ``records``, in a 60 s invocation."""
    from local.support import LambdaContext, handler_for

    stack.calls.clear()
    handler_for(function)({"Records": records}, LambdaContext.of(function))
    return stack.calls.counts


def calls_per_100_changed_records() -> list[tuple[str, Counter[str]]]:
    publish, sync = "PublishEventsFunction", "SyncCognitoFunction"
    rows = []
    with _stack() as stack:
        records = _changed_records(stack, users=100, updates=1, changes={"plan": "pro"})
        rows.append(("publish: 100 updates of 100 users", _calls(stack, publish, records)))
        rows.append(("sync: 100 synced updates of 100 users", _calls(stack, sync, records)))
        records = _changed_records(stack, users=50, updates=2, changes={"plan": "pro"})
        rows.append(("sync: 100 synced updates of 50 users", _calls(stack, sync, records)))
        records = _changed_records(stack, users=100, updates=1, changes={"given_name": "Ada"})
        rows.append(("sync: 100 non-synced updates", _calls(stack, sync, records)))
    return rows


def per_record_cost() -> float:
    """Median seconds per record to decode, diff and build the event, over a batch of 100."""
    from shared.streams import decode
    from stream_handlers.publish_events.events import build_entry

    with _stack() as stack:
        records = _changed_records(stack, users=100, updates=1, changes={"plan": "pro", "display_name": "Ada"})
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for record in records:
            build_entry(decode(record), source="profile-sync", bus_name="bench", include_pii=False)
        rounds.append((time.perf_counter() - started) / len(records))
    return statistics.median(rounds)


def cold_starts() -> None:
    from bench.__main__ import EVENTS, VALGRIND, Case, measure, report_calls, report_cold_starts, report_stages
    from local.support import resource

    event = EVENTS.parent / "streams" / "stream_modify_synced.json"

    def case(label: str, logical_id: str, canned: dict[str, Any], client: str) -> Case:
        handler = str(resource(logical_id)["Properties"]["Handler"])
        return Case(label, logical_id, handler, event, canned, env=EVENT_ENV, clients=(client,))

    cases = [
        case("publish_events (1 synced update)", "PublishEventsFunction", {"PutEvents": {"FailedEntryCount": 0}},
             "events"),
        case("sync_cognito (1 synced update)", "SyncCognitoFunction", {"AdminUpdateUserAttributes": {}},
             "cognito-idp"),
    ]  # fmt: skip
    baseline = measure(cases)
    report_cold_starts(baseline, cases, limit=COLD_START_LIMIT)
    if VALGRIND:
        print("where a stream handler's extra instructions go, stage by stage:")
        with tempfile.TemporaryDirectory() as scratch:
            for handled in cases:
                report_stages(baseline, handled, scratch)
    report_calls(cases)


def run() -> None:
    """Print the stream handlers' figures."""
    cold_starts()
    print(f"\n{'AWS calls per 100 changed records':<46} calls")
    for label, counts in calls_per_100_changed_records():
        print(f"{label:<46} {', '.join(f'{name} {count}' for name, count in sorted(counts.items())) or 'none'}")
    print(f"\n{'decode + diff + build, batch of 100':<46} {per_record_cost() * 1e6:8.1f} us/record")


if __name__ == "__main__":
    run()
