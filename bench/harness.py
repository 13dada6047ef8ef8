"""Runs one function's handler in a fresh Lambda-like process, from its built artifact.

The process is python3.13 with only boto3 installed (as the Lambda runtime) plus the
function's `sam build` folder on sys.path. AWS requests are answered in-process by a
botocore `before-send` hook with canned responses, so what is timed is import, first-call
initialisation and the handler's own work, not a network; the same hook counts the calls.

Invoked as: python harness.py <task_root> <handler> <event.json|-> <canned.json> <context.json|->
Prints one JSON line: {"seconds": ..., "cpu_seconds": ..., "minor_faults": ..., "calls": {...}}:
wall-clock and CPU time (user + system, this process) and minor page faults from the harness's
first line. The Lambda context is a namespace of local/support.py's LambdaContext's values, which
bench/__main__.py writes to context.json: the measured process loads no module of the project's
but the handler's, so valgrind's and strace's counts of the whole process are the handler's and
the harness's alone. <handler> "-" is the baseline (import boto3, create one DynamoDB client);
"import:<module>[:<service>,...]" imports boto3, then creates those services' clients, then
imports the module, and invokes nothing: the stages of a cold start.
"""

import time

STARTED = time.perf_counter()
STARTED_CPU = time.process_time()

import importlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from types import SimpleNamespace  # noqa: E402
from typing import Any  # noqa: E402


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: object) -> Iterator[bytes]:
        yield self._body


def _context(path: str) -> SimpleNamespace:
    """The handler's context: LambdaContext's values, its time left counting down from now."""
    values = json.loads(open(path).read())  # noqa: SIM115
    deadline = time.monotonic() + values.pop("timeout")
    return SimpleNamespace(
        **values, get_remaining_time_in_millis=lambda: max(0, int((deadline - time.monotonic()) * 1000))
    )


def _minor_faults() -> int:
    """Page faults served without I/O so far: memory first touched, the same from run to run."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def main() -> None:
    task_root, handler_path, event_path, canned_path, context_path = sys.argv[1:6]
    canned = json.loads(open(canned_path).read())  # noqa: SIM115
    calls: Counter[str] = Counter()

    import boto3
    from botocore.awsrequest import AWSResponse

    def answer(request: Any, operation_name: str, **_: Any) -> Any:
        calls[operation_name] += 1
        body = json.dumps(canned.get(operation_name, {})).encode()
        return AWSResponse(request.url, 200, {}, _Raw(body))

    if handler_path == "-":
        boto3.client("dynamodb")
    elif handler_path.startswith("import:"):
        module, _, services = handler_path.removeprefix("import:").partition(":")
        for service in filter(None, services.split(",")):
            boto3.client(service)
        sys.path.insert(0, task_root)
        importlib.import_module(module)
    else:
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-send", _with_operation(answer))
        sys.path.insert(0, task_root)
        module, _, name = handler_path.rpartition(".")
        event = json.loads(open(event_path).read())  # noqa: SIM115
        function = getattr(importlib.import_module(module), name)
        function(event, _context(context_path))
    seconds = time.perf_counter() - STARTED
    cpu_seconds = time.process_time() - STARTED_CPU
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "minor_faults": _minor_faults(), "calls": calls}))


def _with_operation(answer: Callable[..., Any]) -> Callable[..., Any]:
    """before-send hands over the request only; the operation name is in the event name."""

    def hook(request: Any, event_name: str, **kwargs: Any) -> Any:
        target = request.headers.get("X-Amz-Target", b"")
        operation = (target.decode() if isinstance(target, bytes) else target).rpartition(".")[2]
        return answer(request, operation or event_name, **kwargs)

    return hook


if __name__ == "__main__":
    main()
