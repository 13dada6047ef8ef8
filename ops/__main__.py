"""python -m ops SUBCOMMAND [--help]: see ops/__init__.py."""

from __future__ import annotations

import argparse
import importlib
import sys

from ops.target import Target, TargetError

# subcommand -> (module, one-line help); modules are imported only when their command runs
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "attach-triggers": (
        "ops.attach_triggers",
        "attach the two triggers to an adopted user pool, add its missing custom attributes",
    ),
    "detach-triggers": ("ops.detach_triggers", "remove profile-sync's two triggers from a user pool"),
    "backfill": ("ops.backfill", "create or refresh the profile of every existing Cognito user (paced, resumable)"),
    "reconcile": ("ops.reconcile", "find drift between the user pool and the profile table; --repair fixes it"),
    "erase": ("ops.erase", "delete a user's account (Cognito user, then profile) and report what still holds data"),
    "export": ("ops.export", "write a user's profile, Cognito attributes and dates as one JSON document"),
}


def parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """Every subcommand, with the options of ``chosen`` only: its module is the one imported."""
    top = argparse.ArgumentParser(prog="python -m ops", description="Operate profile-sync beside a Cognito user pool.")
    commands = top.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    for name, (module, summary) in SUBCOMMANDS.items():
        command = commands.add_parser(name, help=summary, description=summary)
        if name == chosen:
            importlib.import_module(module).add_arguments(command)
        command.set_defaults(module=module)
    return top


def main(argv: list[str] | None = None, target: Target | None = None) -> int:
    """Run one subcommand; its exit status. A caller that already holds the ``target`` (the local
    demo, in-process) passes it instead of --local, --stack or the ids."""
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((word for word in argv if not word.startswith("-")), None)
    args = parser(chosen).parse_args(argv)
    args.target = target
    try:
        return int(importlib.import_module(args.module).run(args))
    except TargetError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201 - this is the console
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)  # noqa: T201 - this is the console
        return 130


if __name__ == "__main__":
    sys.exit(main())
