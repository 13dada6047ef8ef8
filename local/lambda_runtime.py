"""The template's functions, each in its own process, behind Lambda's Invoke API.

A function runs in a sandbox process (``local/worker.py``) with only its own environment
(the template's variables resolved to the local resources, Lambda's runtime variables, the
local endpoints and credentials) and its own code on ``sys.path``: settings, clients and the
logger's service name are per function as in Lambda, and the runner's own process is never
changed. A function handles one invocation at a time; different functions run concurrently.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from local import cognito_local, processes
from local.template import ACCOUNT_ID, REGION, FunctionSpec

WORKER = Path(__file__).resolve().with_name("worker.py")
INHERITED = ("PATH", "LANG", "LC_ALL", "HOME")  # what a function's process takes from the runner's
LOG_TAIL_BYTES = 32 * 1024  # Lambda returns the last 4 KB; more is kept here, within HTTP header limits
HISTORY = 1000  # invocations remembered for the demo, tests and `up`
COGNITO_PREFIX = "/cognito-local"  # cognito-local's Lambda endpoint: its events are adapted


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"


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
    event: Any = None  # the event the function was invoked with, for tests to tell invocations apart

    def result(self) -> Any:
        return json.loads(self.payload) if self.payload else None


class Function:
    """One function of the template and its sandbox process."""

    def __init__(self, spec: FunctionSpec, local: dict[str, str], supervisor: processes.Supervisor) -> None:
        self.spec = spec
        self.supervisor = supervisor
        self.handler, self.code_paths = spec.handler, spec.code_paths  # Runtime.override replaces them
        self.variables: dict[str, str] | None = None  # the template's, once the resources they name exist
        self.environment = {
            **{name: os.environ[name] for name in INHERITED if name in os.environ},
            "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.logical_id}",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "TZ": ":UTC",
            "_HANDLER": spec.handler,
            **({"AWS_LAMBDA_LOG_FORMAT": "JSON"} if spec.log_format.upper() == "JSON" else {}),
            **local,
        }
        self.child: processes.Child | None = None
        self.lock = threading.Lock()

    def start(self) -> processes.Child:
        command = [sys.executable, "-I", str(WORKER), self.handler, *map(str, self.code_paths)]
        cwd = self.code_paths[0] if self.code_paths[0].is_dir() else None
        self.child = self.supervisor.start(self.spec.logical_id, command, self.environment, cwd=cwd, pipes=True)
        if self.variables is not None:
            self.configure(self.variables)
        return self.child

    def configure(self, variables: dict[str, str]) -> None:
        """Give the sandbox the template's variables: it imports the handler then."""
        self.variables = variables
        if self.child is not None:
            assert self.child.process.stdin is not None
            self.child.process.stdin.write(json.dumps(variables) + "\n")
            self.child.process.stdin.flush()

    def stop(self) -> None:
        if self.child is not None:
            self.child.kill()
            self.child.process.wait()
            for pipe in (self.child.process.stdin, self.child.process.stdout):
                if pipe is not None:
                    pipe.close()
            self.child = None

    def invoke(self, event: Any, request_id: str) -> tuple[str | None, bytes, str]:
        """(function error, payload, the function's output) of one invocation."""
        with self.lock:
            child = self.child or self.start()
            assert child.process.stdin is not None
            assert child.process.stdout is not None
            offset = child.log_path.stat().st_size
            try:
                child.process.stdin.write(
                    json.dumps({"event": event, "request_id": request_id, "timeout": self.spec.timeout}) + "\n"
                )
                child.process.stdin.flush()
                answer = child.process.stdout.readline()
            except (BrokenPipeError, ValueError):
                answer = ""
            with child.log_path.open("rb") as log:
                log.seek(offset)
                output = log.read().decode(errors="replace")
            if not answer:  # the handler ended its process: Lambda reports it, the next invocation gets a new one
                error = {"errorType": "Runtime.ExitError", "errorMessage": f"exit status {child.process.wait()}"}
                self.stop()
                return "Unhandled", json.dumps(error).encode(), output
        reply = json.loads(answer)
        return ("Unhandled" if reply["error"] else None), reply["payload"].encode(), output


class Runtime:
    """The template's functions and a Lambda-like ``invoke``."""

    def __init__(
        self,
        specs: dict[str, FunctionSpec],
        local: dict[str, str],
        supervisor: processes.Supervisor,
        start: Iterable[str] = (),
    ) -> None:
        """The functions, with ``local`` (endpoints, credentials) and Lambda's variables. Those named in
        ``start`` start their processes now (the stack's event sources call them); the others on their
        first invocation."""
        self.functions = {name: Function(spec, local, supervisor) for name, spec in specs.items()}
        self.start(start)
        self.history: deque[Invocation] = deque(maxlen=HISTORY)
        self.on_invoke: Callable[[Invocation], None] | None = None

    def start(self, names: Iterable[str]) -> None:
        """Start the processes of the functions ``names`` that have none yet (without waiting for them)."""
        for name in names:
            function = self.functions[name]
            with function.lock:
                if function.child is None:
                    function.start()

    def configure(self, variables: dict[str, dict[str, str]]) -> None:
        """The template's variables of each function, resolved: its handler is imported then."""
        for name, function in self.functions.items():
            with function.lock:
                function.configure(variables[name])

    def resolve_name(self, name: str) -> str | None:
        """A function's name from its name or ARN (``$LATEST`` qualifier only)."""
        name = unquote(name).rpartition(":function:")[2]
        base, _, qualifier = name.partition(":")
        return base if base in self.functions and qualifier in ("", "$LATEST") else None

    @contextlib.contextmanager
    def override(self, name: str, handler: str, code_path: Path) -> Iterator[None]:
        """Run ``handler`` (module.attribute under ``code_path``) in place of the function's own,
        with the function's environment: a test seam, like updating the function's code."""
        function = self.functions[name]
        with function.lock:
            function.stop()
            function.handler, function.code_paths = handler, (code_path,)
        try:
            yield
        finally:
            with function.lock:
                function.stop()
                function.handler, function.code_paths = function.spec.handler, function.spec.code_paths

    def invoke(self, name: str, event: Any, *, source: str = "") -> Invocation:
        """Invoke function ``name`` with ``event``; errors come back as Lambda reports them."""
        function = self.functions[name]
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        error, payload, output = function.invoke(event, request_id)
        duration = (time.perf_counter() - started) * 1000
        logs = (
            f"START RequestId: {request_id} Version: $LATEST\n{output}END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\tMemory Size: {function.spec.memory_mb} MB\n"
        )
        invocation = Invocation(name, payload, error, logs, duration, request_id, source, event)
        self.history.append(invocation)
        if self.on_invoke is not None:
            self.on_invoke(invocation)
        return invocation


class InvokeServer(ThreadingHTTPServer):
    """The runner's endpoint on loopback: Lambda's Invoke API for every function
    (``POST /2015-03-31/functions/<name>/invocations``; cognito-local calls it under
    ``/cognito-local``, and its events are adapted), and Cognito's API, passed through to
    cognito-local on ``cognito_port`` (``cognito_local.forward``)."""

    daemon_threads = True

    def __init__(self, cognito_port: int) -> None:
        self.cognito_port = cognito_port
        self.runtime: Runtime | None = None
        self.pool: cognito_local.PoolBehaviour | None = None
        super().__init__(("127.0.0.1", 0), _Handler)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: InvokeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the runner reports invocations itself
        return

    def do_GET(self) -> None:
        if self.path == "/health" and self.server.runtime is not None:
            self._send(200, b'{"ok": true}')
        else:
            self._error(404, "ResourceNotFoundException", f"no route {self.path}")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("X-Amz-Target", "").startswith("AWSCognitoIdentityProviderService."):
            request_headers = dict(self.headers.items())
            status, headers, payload = cognito_local.forward(self.server.cognito_port, self.path, request_headers, body)
            self._send(status, payload, headers)
            return
        path = urlparse(self.path).path
        from_cognito = path.startswith(COGNITO_PREFIX + "/")
        parts = path.removeprefix(COGNITO_PREFIX).strip("/").split("/")
        runtime = self.server.runtime
        if runtime is None or len(parts) != 4 or parts[:2] != ["2015-03-31", "functions"] or parts[3] != "invocations":
            self._error(404, "ResourceNotFoundException", f"no route {self.path}")
            return
        name = runtime.resolve_name(parts[2])
        if name is None:
            self._error(404, "ResourceNotFoundException", f"Function not found: {function_arn(unquote(parts[2]))}")
            return
        try:
            event = json.loads(body) if body else {}
        except ValueError as exc:
            self._error(400, "InvalidRequestContentException", f"Could not parse request body into json: {exc}")
            return
        if from_cognito and self.server.pool is not None:
            event = cognito_local.adapt_event(event, self.server.pool)
        source = str(event.get("triggerSource", "")) if isinstance(event, dict) else ""
        invocation = runtime.invoke(name, event, source=source)
        payload = invocation.payload
        if from_cognito and invocation.function_error is None:
            payload = json.dumps(cognito_local.adapt_result(invocation.result(), event)).encode()
        headers = {"X-Amz-Executed-Version": "$LATEST", "X-Amzn-RequestId": invocation.request_id}
        if invocation.function_error:
            headers["X-Amz-Function-Error"] = invocation.function_error
        if self.headers.get("X-Amz-Log-Type") == "Tail":
            headers["X-Amz-Log-Result"] = base64.b64encode(invocation.logs.encode()[-LOG_TAIL_BYTES:]).decode()
        self._send(200, payload, headers)

    def _error(self, status: int, kind: str, message: str) -> None:
        self._send(status, json.dumps({"Type": "User", "message": message}).encode(), {"x-amzn-ErrorType": kind})

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        headers = {"Content-Type": "application/json", **(headers or {}), "Content-Length": str(len(body))}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)
