"""`python -m ops reconcile`: find drift between the user pool and the profile table; repair it with --repair.

The comparison and the repairs are ``lifecycle.reconcile.drift``'s, the scheduled function's
too (docs/reconcile.md). Prints a table (or the JSON document with ``--json``); exit status 0
when nothing is left to fix, 3 when drift was found and left (report only, capped or skipped),
1 when a call or a repair failed, a pass could not finish or the JSON report could not be written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lifecycle.reconcile.drift import Pacing, Reconciler
from ops.target import add_target_arguments, resolve

LEFT_DRIFT = 3


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1, not {text}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument("--repair", action="store_true", help="fix the drift found (default: report only)")
    parser.add_argument(
        "--max-deletes",
        type=_count,
        default=0,
        metavar="N",
        help="with --repair, delete at most N profiles without a user (default 0: none)",
    )
    parser.add_argument(
        "--rate-share",
        type=_share,
        default=0.5,
        metavar="SHARE",
        help="share of each Cognito quota to use, above 0 and at most 1 (default 0.5)",
    )
    parser.add_argument("--json", metavar="PATH", help="write the report as JSON to PATH ('-': stdout, no table)")


def run(args: argparse.Namespace) -> int:
    target = resolve(args)
    reconciler = Reconciler(
        target.client("cognito-idp"),
        target.client("dynamodb"),
        target.user_pool_id,
        target.table_name,
        Pacing.share(args.rate_share),
        repair=args.repair,
        max_deletes=args.max_deletes,
    )
    report = reconciler.run()
    document = json.dumps(report.to_json(), indent=2)
    if args.json == "-":
        print(document)  # noqa: T201 - this is the console
    else:
        print(report.table())  # noqa: T201 - this is the console
        if args.json:
            try:
                Path(args.json).write_text(document + "\n")
            except OSError as exc:  # the repairs are made and the table printed: say so, fail the run
                message = f"error: cannot write the JSON report to {args.json}: {exc.strerror or exc}"
                print(message, file=sys.stderr)  # noqa: T201 - this is the console
                return 1
    if report.failed:
        return 1
    return LEFT_DRIFT if report.unresolved else 0
