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
from local.stack import STATE_FILE, Stack

ROOT = processes.ROOT


def _say(message: str) -> None:
    print(message, flush=True)  # noqa: T201 - this is the console


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


def _read_event(path: str | None) -> bytes:
    if path is None:
        return b"{}"
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def cmd_invoke(args: argparse.Namespace) -> int:
    payload = _read_event(args.event)
    state = _running_stack()
    if state is not None:
        request = urllib.request.Request(  # noqa: S310 - the runner's loopback URL
            f"{state['endpoints']['lambda_']}/2015-03-31/functions/{args.function}/invocations",
            data=payload,
            headers={"X-Amz-Log-Type": "Tail", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                body, error = response.read(), response.headers.get("X-Amz-Function-Error")
                logs = base64.b64decode(response.headers.get("X-Amz-Log-Result", "")).decode()
        except urllib.error.HTTPError as exc:
            _say(exc.read().decode())
            return 2
    else:
        with Stack(say=lambda message: print(message, file=sys.stderr)) as stack:  # noqa: T201
            assert stack.runtime is not None
            name = stack.runtime.resolve_name(args.function)
            if name is None:
                known = ", ".join(sorted(stack.specs))
                print(f"no function {args.function} in template.yaml; it has {known}", file=sys.stderr)  # noqa: T201
                return 2
            invocation = stack.runtime.invoke(name, json.loads(payload or b"{}"))
            body, error, logs = invocation.payload, invocation.function_error, invocation.logs
    print(logs, file=sys.stderr, end="")  # noqa: T201
    print(json.dumps(json.loads(body or b"null"), indent=2))  # noqa: T201
    return 1 if error else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from local import demo

    report = demo.run(say=_say, verbose=args.verbose)
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
    os.chdir(ROOT)
    try:
        result: int = args.run(args)
    except processes.MissingPrerequisite as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 3
    return result


if __name__ == "__main__":
    sys.exit(main())
