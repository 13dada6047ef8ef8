"""Runs one function's handler in a fresh Lambda-like process, from its built artifact.

The process is python3.13 with only boto3 installed (as the Lambda runtime) plus the
function's `sam build` folder on sys.path. AWS requests are answered in-process by a
botocore `before-send` hook with canned responses, so what is timed is import, first-call
initialisation and the handler's own work, not a network; the same hook counts the calls.

Invoked as: python harness.py <task_root> <handler> <event.json|-> <canned.json> <support.py> <timeout> [<loads>]
Prints one JSON line: {"seconds": ..., "cpu_seconds": ..., "minor_faults": ..., "calls": {...}}:
wall-clock and CPU time (user + system, this process) and minor page faults from the harness's
first line. The Lambda context is local/support.py's, loaded by path once the handler is imported;
its load is not counted. <loads> (default 1) loads it that many times: under valgrind, which
counts the whole process, the difference between 2 and 1 is the load's own instructions.
<handler> "-" is the baseline (import boto3, create one DynamoDB client); "import:<module>" imports
boto3 and that module, no client and no invocation: the stages of a cold start.
"""

import time

STARTED = time.perf_counter()
STARTED_CPU = time.process_time()

import importlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: object) -> Iterator[bytes]:
        yield self._body


def _support(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("profile_sync_support", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _minor_faults() -> int:
    """Page faults served without I/O so far: memory first touched, the same from run to run."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def main() -> None:
    task_root, handler_path, event_path, canned_path, support_path, timeout = sys.argv[1:7]
    context_loads = int(sys.argv[7]) if len(sys.argv) > 7 else 1
    canned = json.loads(open(canned_path).read())  # noqa: SIM115
    calls: Counter[str] = Counter()
    baseline = handler_path == "-"

    import boto3
    from botocore.awsrequest import AWSResponse

    def answer(request: Any, operation_name: str, **_: Any) -> Any:
        calls[operation_name] += 1
        body = json.dumps(canned.get(operation_name, {})).encode()
        return AWSResponse(request.url, 200, {}, _Raw(body))

    not_counted = not_counted_cpu = 0.0
    not_counted_faults = 0
    if baseline:
        boto3.client("dynamodb")
    elif handler_path.startswith("import:"):  # a stage of a cold start: boto3, then one module's import
        sys.path.insert(0, task_root)
        importlib.import_module(handler_path.removeprefix("import:"))
    else:
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-send", _with_operation(answer))
        sys.path.insert(0, task_root)
        module, _, name = handler_path.rpartition(".")
        event = json.loads(open(event_path).read())  # noqa: SIM115
        function = getattr(importlib.import_module(module), name)
        loading, loading_cpu, loading_faults = time.perf_counter(), time.process_time(), _minor_faults()
        for _ in range(context_loads):
            context = _support(support_path).LambdaContext(function_name=Path(task_root).name, timeout=float(timeout))
        not_counted, not_counted_cpu = time.perf_counter() - loading, time.process_time() - loading_cpu
        not_counted_faults = _minor_faults() - loading_faults
        function(event, context)
    seconds = time.perf_counter() - STARTED - not_counted
    cpu_seconds = time.process_time() - STARTED_CPU - not_counted_cpu
    faults = _minor_faults() - not_counted_faults
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "minor_faults": faults, "calls": calls}))


def _with_operation(answer: Callable[..., Any]) -> Callable[..., Any]:
    """before-send hands over the request only; the operation name is in the event name."""

    def hook(request: Any, event_name: str, **kwargs: Any) -> Any:
        target = request.headers.get("X-Amz-Target", b"")
        operation = (target.decode() if isinstance(target, bytes) else target).rpartition(".")[2]
        return answer(request, operation or event_name, **kwargs)

    return hook


if __name__ == "__main__":
    main()
