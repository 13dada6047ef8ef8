"""Runs one function's handler in a fresh Lambda-like process, from its built artifact.

The process is python3.13 with only boto3 installed (as the Lambda runtime) plus the
function's `sam build` folder on sys.path. AWS requests are answered in-process by a
botocore `before-send` hook with canned responses, so what is timed is import, first-call
initialisation and the handler's own work, not a network; the same hook counts the calls.

Invoked as: python harness.py <task_root> <handler> <event.json|-> <canned.json>
Prints one JSON line: {"seconds": ..., "calls": {...}}.
"""

import time

STARTED = time.perf_counter()

import importlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from collections import Counter  # noqa: E402


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: object):  # type: ignore[no-untyped-def]
        yield self._body


class _Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000  # ample: the handlers check it before every call


def main() -> None:
    task_root, handler_path, event_path, canned_path = sys.argv[1:5]
    canned = json.loads(open(canned_path).read())  # noqa: SIM115
    calls: Counter[str] = Counter()
    baseline = handler_path == "-"

    import boto3
    from botocore.awsrequest import AWSResponse

    def answer(request, operation_name, **_):  # type: ignore[no-untyped-def]
        calls[operation_name] += 1
        body = json.dumps(canned.get(operation_name, {})).encode()
        return AWSResponse(request.url, 200, {}, _Raw(body))

    if baseline:
        boto3.client("dynamodb")
    else:
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-send", _with_operation(answer))
        sys.path.insert(0, task_root)
        module, _, name = handler_path.rpartition(".")
        event = json.loads(open(event_path).read())  # noqa: SIM115
        getattr(importlib.import_module(module), name)(event, _Context())
    print(json.dumps({"seconds": time.perf_counter() - STARTED, "calls": calls}))


def _with_operation(answer):  # type: ignore[no-untyped-def]
    """before-send hands over the request only; the operation name is in the event name."""

    def hook(request, event_name, **kwargs):  # type: ignore[no-untyped-def]
        target = request.headers.get("X-Amz-Target", b"")
        operation = (target.decode() if isinstance(target, bytes) else target).rpartition(".")[2]
        return answer(request, operation or event_name, **kwargs)

    return hook


if __name__ == "__main__":
    main()
