"""python -m local up | invoke FUNCTION [-e EVENT] | demo | install."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from local import processes
from local.http_api import routes
from local.stack import STATE_FILE, Stack
from local.template import stream_sources

JSON_KINDS = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


class UsageError(Exception):
    """A mistake in the command line or the event: one line, before any stack starts."""


def _say(message: str) -> None:
    print(message, flush=True)  # noqa: T201 - this is the console


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # noqa: T201 - this is the console


def _running_stack() -> dict[str, Any] | None:
    """The stack `up` started, if it is still answering."""
    try:
        state: dict[str, Any] = json.loads(STATE_FILE.read_text())
        os.kill(int(state["pid"]), 0)
        if processes.http_ok(f"{state['endpoints']['lambda_']}/health", timeout=1):
            return state
    except (OSError, ValueError, KeyError):
        return None
    return None


def cmd_up(args: argparse.Namespace) -> int:
    with Stack(say=_say) as stack:
        assert stack.endpoints is not None
        assert stack.runtime is not None
        stack.write_state()
        _say(f"local stack ready in {stack.timings['ready']:.1f} s (Ctrl-C stops it and everything it started)")
        _say(f"  functions: {', '.join(sorted(stack.specs))}")
        if stack.endpoints.api:
            _say(f"  HTTP API (JWT authorizer on cognito-local's tokens): {stack.endpoints.api}")
        _say(f"  table {stack.table_name}, user pool {stack.user_pool_id}, app client {stack.client_id}")
        for name, url in stack.queue_urls.items():
            _say(f"  queue {name}: {url}")
        _say("  point boto3, the AWS CLI or an app at it with:")
        for key, value in stack.endpoints.environment().items():
            _say(f"    export {key}={value}")
        stack.runtime.on_invoke = lambda item: _say(
            f"  {item.function} {item.source or 'invoke'}: {item.function_error or 'ok'} {item.duration_ms:.0f} ms"
        )
        try:
            threading.Event().wait()
        finally:
            Stack.clear_state()
    return 0


def read_event(path: str | None) -> Any:
    """The event from a file (``-`` for stdin; none: ``{}``), or a UsageError saying what is wrong with it."""
    if path is None:
        return {}
    if not path.strip():
        raise UsageError("-e needs an event file (or '-' for stdin), e.g. -e events/cognito/…json")
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"event file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read event file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        where = "stdin" if path == "-" else path
        raise UsageError(f"{where} is not JSON: {exc}") from None


def check_invocation(stack: Stack, function: str, event: Any, known: list[str]) -> None:
    """A UsageError unless ``function`` is one of ``known`` and ``event`` has the shape its event source sends."""
    if function not in known:
        raise UsageError(f"no function {function!r} in template.yaml; it has {', '.join(sorted(known))}")
    if not isinstance(event, dict):
        kind = "null" if event is None else JSON_KINDS.get(type(event), type(event).__name__)
        raise UsageError(f"the event is {kind}; {function} takes a JSON object")
    stream_handler = function in {source.function for source in stream_sources(stack.template)}
    if stream_handler and not isinstance(event.get("Records"), list):
        raise UsageError(f'{function} reads the stream: its event needs a "Records" list (see events/streams/)')
    api_function = function in {route.function for route in routes(stack.template, stack.resolver)}
    if api_function and not isinstance(event.get("routeKey"), str):
        raise UsageError(f'{function} serves the HTTP API: its event needs a "routeKey" (see events/api/)')
    trigger = function in stack.trigger_functions().values()
    if trigger and not isinstance(event.get("triggerSource"), str):
        raise UsageError(f'{function} is a Cognito trigger: its event needs a "triggerSource" (see events/cognito/)')


def cmd_invoke(args: argparse.Namespace) -> int:
    stack = Stack(say=_err)  # reads template.yaml; nothing starts until stack.start()
    event = read_event(args.event)
    state = _running_stack()
    check_invocation(stack, args.function, event, state["functions"] if state else list(stack.specs))
    payload = json.dumps(event)
    if state is not None:
        request = urllib.request.Request(  # noqa: S310 - the runner's loopback URL
            f"{state['endpoints']['lambda_']}/2015-03-31/functions/{args.function}/invocations",
            data=payload.encode(),
            headers={"X-Amz-Log-Type": "Tail", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
                body, error = response.read(), response.headers.get("X-Amz-Function-Error")
                logs = base64.b64decode(response.headers.get("X-Amz-Log-Result", "")).decode()
        except urllib.error.HTTPError as exc:
            _err(f"error: the running stack answered {exc.code}: {exc.read().decode()}")
            return 2
    else:
        with stack:
            assert stack.runtime is not None
            invocation = stack.runtime.invoke(args.function, json.loads(payload))
            body, error, logs = invocation.payload, invocation.function_error, invocation.logs
    print(logs, file=sys.stderr, end="")  # noqa: T201
    print(json.dumps(json.loads(body or b"null"), indent=2))  # noqa: T201
    return 1 if error else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from local import demo

    report = demo.run(verbose=args.verbose)  # it prints on this stdout, which an ops step borrows
    return 0 if report.passed else 1


def cmd_install(args: argparse.Namespace) -> int:
    processes.install_npm_packages(_say)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description="profile-sync's local stack, without Docker")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the stack and keep it running until Ctrl-C").set_defaults(run=cmd_up)
    invoke = commands.add_parser("invoke", help="invoke one function with an event (like sam local invoke -e)")
    invoke.add_argument("function", help="logical id in template.yaml, e.g. PostConfirmationFunction")
    invoke.add_argument("-e", "--event", help="event JSON file (e.g. events/….json), '-' for stdin; default {}")
    invoke.set_defaults(run=cmd_invoke)
    demo = commands.add_parser("demo", help="run the narrated scenario on a fresh stack")
    demo.add_argument("-v", "--verbose", action="store_true", help="tracebacks for failed checks")
    demo.set_defaults(run=cmd_demo)
    commands.add_parser("install", help="install the npm packages into .cache/npm").set_defaults(run=cmd_install)
    args = parser.parse_args(argv)
    try:
        result: int = args.run(args)
    except UsageError as exc:
        _err(f"error: {exc}")
        return 2
    except processes.MissingPrerequisite as exc:
        _err(f"error: {exc}")
        return 3
    return result


if __name__ == "__main__":
    sys.exit(main())
