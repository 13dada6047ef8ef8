"""One function's sandbox: ``python -I local/worker.py HANDLER CODE_PATH...``, started by the runner.

Runs in its own process with only the function's environment, the function's code on
``sys.path`` and the runner's site-packages (its third-party dependencies): module state
(settings, clients, the logger's service name) is the function's alone, as in Lambda. It
starts while the stack boots; its first stdin line adds the variables that name the stack's
resources (they exist only once provisioned), then the handler is imported, once. An import
failure is answered to every invocation as ``Runtime.ImportModuleError``. Each further line
is an invocation (``{"event", "request_id", "timeout"}``); each answer is one line (``{"error",
"payload"}``) on the original stdout. The handler's own output (stdout and stderr) goes to
stderr, the function's log. Standard library only.
"""

import contextlib
import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any


def _lambda_context() -> Any:
    """local/support.py's LambdaContext, loaded by path: the repository is not on this process's sys.path."""
    spec = importlib.util.spec_from_file_location("local_support", Path(__file__).with_name("support.py"))
    assert spec is not None
    assert spec.loader is not None
    support = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(support)
    return support.LambdaContext


def _error(exc: BaseException, request_id: str = "", kind: str = "") -> dict[str, Any]:
    trace = traceback.format_tb(exc.__traceback__)
    body = {"errorMessage": str(exc), "errorType": kind or type(exc).__name__, "stackTrace": trace}
    if request_id:
        body["requestId"] = request_id
    return body


def main() -> None:
    handler_name, *code_paths = sys.argv[1:]
    with contextlib.suppress(ImportError):  # every Python Lambda runtime has boto3: loaded while the stack boots
        import boto3  # noqa: F401
    os.environ.update(json.loads(sys.stdin.readline() or "{}"))  # the variables naming the stack's resources
    sys.path[:0] = code_paths
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the handler's stdout is the function's log, as in Lambda
    module_name, _, attribute = handler_name.rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
        init_error = None
    except Exception as exc:  # Lambda reports an init failure to each invocation
        init_error = _error(exc, kind="Runtime.ImportModuleError")
        init_error["errorMessage"] = f"Unable to import module '{module_name}': {exc}"
        sys.stderr.write(f"[ERROR] {init_error['errorMessage']}\n")
    lambda_context = _lambda_context()
    for line in sys.stdin:
        request = json.loads(line)
        error, result = init_error is not None, init_error
        if init_error is None:
            try:
                context = lambda_context(
                    function_name=os.environ["AWS_LAMBDA_FUNCTION_NAME"],
                    timeout=request["timeout"],
                    memory_limit_in_mb=int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]),
                    aws_request_id=request["request_id"],
                    region=os.environ["AWS_REGION"],
                )
                result = handler(request["event"], context)
            except Exception as exc:
                error, result = True, _error(exc, request["request_id"])
                sys.stderr.write(f"[ERROR] {type(exc).__name__}: {exc}\n{''.join(result['stackTrace'])}")
        try:
            payload = json.dumps(result)
        except (TypeError, ValueError) as exc:
            error, payload = True, json.dumps(_error(exc, kind="Runtime.MarshalError"))
        sys.stdout.flush()
        sys.stderr.flush()
        answers.write(json.dumps({"error": error, "payload": payload}) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
