"""The template's functions, run in this process, behind Lambda's Invoke API.

Each function's handler module is imported once, with the function's environment applied
and with its own copy of the project's modules (``shared`` and the function's package), so
module-level state (cached settings, clients, the logger's service name) is per function
as it is in Lambda. Third-party packages are shared. Invocations run one at a time: the
environment is process-wide, and each invocation applies its function's variables.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import io
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlparse

from local import cognito_events
from local.processes import HIDDEN_AWS_SETTINGS
from local.template import ACCOUNT_ID, REGION, FunctionSpec

ROOT = Path(__file__).resolve().parent.parent
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
LOG_TAIL_BYTES = 32 * 1024  # Lambda returns the last 4 KB; more is kept here, within HTTP header limits
HISTORY = 1000  # invocations remembered for the demo, tests and `up`
COGNITO_PREFIX = "/cognito-local"  # cognito-local's endpoint: its events are adapted (cognito_events)
Handler = Callable[[Any, Any], Any]


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"


class _CapturingStream(io.TextIOBase):
    """stdout/stderr stand-in: text written by an invoking thread goes to its invocation's log."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.local = threading.local()

    def write(self, text: str) -> int:
        buffer = getattr(self.local, "buffer", None)
        if buffer is not None:
            return int(buffer.write(text))
        try:
            return int(self.real.write(text))
        except ValueError:  # the stream it wrapped was closed (a test runner's capture): the console
            return int(sys.__stderr__.write(text)) if sys.__stderr__ else len(text)

    def flush(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self.real.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


def _install_capture() -> tuple[_CapturingStream, _CapturingStream]:
    if not isinstance(sys.stdout, _CapturingStream):
        sys.stdout = _CapturingStream(sys.stdout)
    if not isinstance(sys.stderr, _CapturingStream):
        sys.stderr = _CapturingStream(sys.stderr)
    return sys.stdout, sys.stderr  # type: ignore[return-value]


@dataclass
class Context:
    """The ``context`` argument, with the fields Lambda's Python runtime provides."""

    function_name: str
    memory_limit_in_mb: int
    timeout: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return function_arn(self.function_name)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[$LATEST]{self.aws_request_id[:8]}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout - (time.monotonic() - self.started)) * 1000))


@dataclass
class Invocation:
    """One invocation's outcome, as Lambda reports it."""

    function: str
    payload: bytes
    function_error: str | None
    logs: str
    duration_ms: float
    request_id: str
    source: str = ""  # triggerSource or "stream", for the runner's account of what ran

    def result(self) -> Any:
        return json.loads(self.payload) if self.payload else None


@dataclass
class LocalFunction:
    spec: FunctionSpec
    environment: dict[str, str]
    handler: Handler | None = None
    import_error: dict[str, Any] | None = None
    modules: dict[str, ModuleType] = field(default_factory=dict)


def _project_packages() -> frozenset[str]:
    """The application's top-level packages: folders at the root with an ``__init__.py``."""
    return frozenset(
        path.parent.name for path in ROOT.glob("*/__init__.py") if path.parent.name not in ("local", "tests", "bench")
    )


_PACKAGES = _project_packages()


def _project_modules() -> list[str]:
    return [name for name in list(sys.modules) if name.partition(".")[0] in _PACKAGES]


@contextlib.contextmanager
def local_environment(variables: dict[str, str]) -> Iterator[None]:
    """Apply a function's variables (and hide the developer's AWS settings) for one invocation."""
    previous = {name: os.environ.get(name) for name in (*variables, *HIDDEN_AWS_SETTINGS)}
    for name in HIDDEN_AWS_SETTINGS:
        os.environ.pop(name, None)
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _modules(own: dict[str, ModuleType]) -> Iterator[dict[str, ModuleType]]:
    """Swap the project's modules in ``sys.modules`` for a function's own set (empty: fresh imports)."""
    saved = {name: sys.modules.pop(name) for name in _project_modules()}
    sys.modules.update(own)
    try:
        yield own
    finally:
        own.clear()
        own.update({name: sys.modules.pop(name) for name in _project_modules()})
        sys.modules.update(saved)


class Runtime:
    """The functions of the template and a serialised, Lambda-like ``invoke``."""

    def __init__(
        self,
        specs: dict[str, FunctionSpec],
        environments: dict[str, dict[str, str]],
        pool: cognito_events.PoolBehaviour,
    ) -> None:
        self.pool = pool
        self.functions = {name: LocalFunction(spec, environments[name]) for name, spec in specs.items()}
        self.history: deque[Invocation] = deque(maxlen=HISTORY)
        self._lock = threading.Lock()
        self._overrides: dict[str, Handler] = {}
        self.on_invoke: Callable[[Invocation], None] | None = None
        self._streams = _install_capture()  # what the handlers' loggers bind to at import
        for function in self.functions.values():
            self._import(function)

    def _import(self, function: LocalFunction) -> None:
        module_name, _, attribute = function.spec.handler.rpartition(".")
        with local_environment(self._lambda_environment(function)), _modules(function.modules):
            try:
                module = importlib.import_module(module_name)
                function.handler = getattr(module, attribute)
            except Exception as exc:  # Lambda reports any import failure at invoke time
                function.import_error = {
                    "errorMessage": f"Unable to import module '{module_name}': {exc}",
                    "errorType": "Runtime.ImportModuleError",
                    "stackTrace": [],
                }

    def _lambda_environment(self, function: LocalFunction) -> dict[str, str]:
        name = function.spec.logical_id
        runtime = {
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "_HANDLER": function.spec.handler,
        }
        if function.spec.log_format.upper() == "JSON":
            runtime["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        return {**runtime, **function.environment}

    def resolve_name(self, name: str) -> str | None:
        """A function's name from a name, a full or partial ARN (``$LATEST`` qualifier only)."""
        name = unquote(name)
        if ":function:" in name:
            name = name.split(":function:", 1)[1]
        base, _, qualifier = name.partition(":")
        if qualifier not in ("", "$LATEST"):
            return None
        return base if base in self.functions else None

    @contextlib.contextmanager
    def override(self, name: str, handler: Handler) -> Iterator[None]:
        """Run ``handler`` in place of the function's own (a test seam, like updating its code)."""
        self._overrides[name] = handler
        try:
            yield
        finally:
            self._overrides.pop(name, None)

    def invoke(self, name: str, event: Any, *, source: str = "", wait: float | None = None) -> Invocation:
        """Invoke function ``name`` with ``event``; errors come back as Lambda reports them."""
        function = self.functions[name]
        context = Context(name, function.spec.memory_mb, function.spec.timeout)
        if not self._lock.acquire(timeout=wait if wait is not None else function.spec.timeout * 2):
            error = {"errorMessage": "local runtime busy: another invocation holds it", "errorType": "TooManyRequests"}
            return Invocation(name, json.dumps(error).encode(), "Unhandled", "", 0.0, context.aws_request_id, source)
        log = io.StringIO()
        log.write(f"START RequestId: {context.aws_request_id} Version: $LATEST\n")
        error_kind: str | None = None
        started = time.perf_counter()
        saved_streams = sys.stdout, sys.stderr  # a test runner may have swapped them since import
        try:
            for stream in self._streams:
                stream.local.buffer = log
            sys.stdout, sys.stderr = self._streams
            handler = self._overrides.get(name) or function.handler
            if handler is None:
                body: Any = function.import_error
                error_kind = "Unhandled"
            else:
                with local_environment(self._lambda_environment(function)), _modules(function.modules):
                    context.started = time.monotonic()
                    try:
                        body = handler(event, context)
                    except Exception as exc:
                        error_kind = "Unhandled"
                        body = {
                            "errorMessage": str(exc),
                            "errorType": type(exc).__name__,
                            "requestId": context.aws_request_id,
                            "stackTrace": traceback.format_tb(exc.__traceback__),
                        }
                        log.write(f"[ERROR] {type(exc).__name__}: {exc}\n{''.join(body['stackTrace'])}")
            try:
                payload = json.dumps(body).encode()
            except (TypeError, ValueError) as exc:
                error_kind = "Unhandled"
                payload = json.dumps(
                    {"errorMessage": f"Unable to marshal response: {exc}", "errorType": "Runtime.MarshalError"}
                ).encode()
            duration = (time.perf_counter() - started) * 1000
            if duration > function.spec.timeout * 1000:
                error_kind = "Unhandled"
                payload = json.dumps(
                    {
                        "errorMessage": f"Task timed out after {function.spec.timeout:.2f} seconds",
                        "errorType": "Sandbox.Timedout",
                    }
                ).encode()
            log.write(f"END RequestId: {context.aws_request_id}\n")
            log.write(
                f"REPORT RequestId: {context.aws_request_id}\tDuration: {duration:.2f} ms\t"
                f"Memory Size: {function.spec.memory_mb} MB\n"
            )
        finally:
            for stream in self._streams:
                stream.local.buffer = None
            sys.stdout, sys.stderr = saved_streams
            self._lock.release()
        invocation = Invocation(name, payload, error_kind, log.getvalue(), duration, context.aws_request_id, source)
        self.history.append(invocation)
        if self.on_invoke is not None:
            self.on_invoke(invocation)
        return invocation


class InvokeServer(ThreadingHTTPServer):
    """Lambda's Invoke API on loopback: ``POST /2015-03-31/functions/<name>/invocations``."""

    daemon_threads = True

    def __init__(self, runtime: Runtime, port: int = 0) -> None:
        self.runtime = runtime
        super().__init__(("127.0.0.1", port), _InvokeHandler)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> InvokeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _InvokeHandler(BaseHTTPRequestHandler):
    server: InvokeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the runner reports invocations itself
        return

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200, b'{"ok": true}')
        else:
            self._error(404, "ResourceNotFoundException", f"no route {self.path}")

    def do_POST(self) -> None:
        path = urlparse(self.path).path
        from_cognito = path.startswith(COGNITO_PREFIX + "/")
        if from_cognito:
            path = path[len(COGNITO_PREFIX) :]
        parts = path.strip("/").split("/")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(parts) != 4 or parts[0] != "2015-03-31" or parts[1] != "functions" or parts[3] != "invocations":
            self._error(404, "ResourceNotFoundException", f"no route {self.path}")
            return
        runtime = self.server.runtime
        name = runtime.resolve_name(parts[2])
        if name is None:
            self._error(404, "ResourceNotFoundException", f"Function not found: {function_arn(unquote(parts[2]))}")
            return
        if len(body) > MAX_PAYLOAD_BYTES:
            self._error(413, "RequestTooLargeException", "Request must be smaller than 6291456 bytes")
            return
        try:
            event = json.loads(body) if body else {}
        except ValueError as exc:
            self._error(400, "InvalidRequestContentException", f"Could not parse request body into json: {exc}")
            return
        kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if kind == "DryRun":
            self._send(204, b"")
            return
        adapted = cognito_events.adapt_event(event, runtime.pool) if from_cognito else event
        source = str(adapted.get("triggerSource", "")) if isinstance(adapted, dict) else ""
        if kind == "Event":
            threading.Thread(target=runtime.invoke, args=(name, adapted), kwargs={"source": source}).start()
            self._send(202, b"")
            return
        invocation = runtime.invoke(name, adapted, source=source)
        payload = invocation.payload
        if from_cognito and invocation.function_error is None:
            payload = json.dumps(cognito_events.adapt_result(invocation.result(), adapted)).encode()
        headers = {"X-Amz-Executed-Version": "$LATEST", "X-Amzn-RequestId": invocation.request_id}
        if invocation.function_error:
            headers["X-Amz-Function-Error"] = invocation.function_error
        if self.headers.get("X-Amz-Log-Type") == "Tail":
            headers["X-Amz-Log-Result"] = base64.b64encode(invocation.logs.encode()[-LOG_TAIL_BYTES:]).decode()
        self._send(200, payload, headers)

    def _error(self, status: int, kind: str, message: str) -> None:
        body = json.dumps({"Type": "User", "message": message}).encode()
        self._send(status, body, {"x-amzn-ErrorType": kind})

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(body)
