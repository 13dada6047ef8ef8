"""`python -m ops erase SUB`: delete a user's account, and say what still holds their data.

The Cognito user first, then the profile (``shared/accounts.py``); then, ``--settle-seconds``
later, the profile once more: a sign-in already under way may have written it back
(docs/lifecycle.md). The report names every place the user's data outlives the erase and for
how long, each bounded by a template parameter. Output holds the sub, flags and durations only.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ops.target import Target, add_target_arguments, resolve
from shared.accounts import SETTLE_SECONDS, AccountError, Accounts, Deletion, LookupIncomplete
from shared.aws import error_code

sleep: Callable[[float], None] = time.sleep  # tests replace it: they never wait


@dataclass(frozen=True)
class Holder:
    """A place that keeps some of a deleted user's data after the erase, and until when."""

    place: str
    holds: str
    retention: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sub", help="the user's sub (the profile's key)")
    parser.add_argument("--username", help="the Cognito user name (default: the profile's, or found by sub)")
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=SETTLE_SECONDS,
        help=f"wait this long before the second profile delete (default {SETTLE_SECONDS})",
    )
    add_target_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    target = resolve(args)
    if args.settle_seconds < 0:
        print("error: --settle-seconds cannot be negative", file=sys.stderr)  # noqa: T201 - this is the console
        return 2
    accounts = target.accounts()
    try:
        deletion, recreated = erase(accounts, args.sub, args.username, args.settle_seconds)
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201 - this is the console
        return 2
    except LookupIncomplete as exc:
        print(f"error: {exc}; run it again", file=sys.stderr)  # noqa: T201 - this is the console
        return 1
    except (BotoCoreError, ClientError) as exc:
        code = error_code(exc) or type(exc).__name__
        print(f"error: erase of {args.sub} failed ({code}); run it again to finish", file=sys.stderr)  # noqa: T201
        return 1
    source = f"stack {args.stack}" if getattr(args, "stack", None) else "template defaults (no --stack)"
    try:
        parameters = parameters_of(target, args)
    except (BotoCoreError, ClientError) as exc:
        # The erase is done: say the report's figures are not the stack's, and still report.
        code = error_code(exc) or type(exc).__name__
        warning = f"warning: parameters of stack {args.stack} not read ({code}); showing template defaults"
        print(warning, file=sys.stderr)  # noqa: T201 - this is the console
        parameters, source = dict(DEFAULTS), f"template defaults (stack {args.stack} not read)"
    print(report(deletion, recreated, holders(parameters), source))  # noqa: T201 - this is the console
    return 0


def erase(accounts: Accounts, sub: str, username: str | None, settle_seconds: float) -> tuple[Deletion, bool]:
    """Delete the account, wait, delete the profile again; returns the deletion and whether the
    second delete found a profile (re-created by a sign-in that was under way)."""
    deletion = accounts.delete(sub, username)
    sleep(settle_seconds)
    return deletion, accounts.repo.delete(sub)


DEFAULTS = {
    "PointInTimeRecoveryDays": "35",
    "DeadLetterRetentionSeconds": "1209600",
    "FailedBatchRetentionDays": "14",
    "LogRetentionDays": "30",
    "EventArchiveRetentionDays": "30",
    "IncludePiiInEvents": "false",
}


def parameters_of(target: Target, args: argparse.Namespace) -> dict[str, str]:
    """The stack's retention parameters: the deployed values with --stack, the template's defaults otherwise."""
    values = dict(DEFAULTS)
    if getattr(args, "stack", None):
        stacks = target.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"]
        values |= {p["ParameterKey"]: p["ParameterValue"] for p in stacks[0].get("Parameters", [])}
    return values


def _days(seconds: str) -> str:
    return f"{int(seconds) / 86400:g} days"


def holders(parameters: Mapping[str, str]) -> list[Holder]:
    """What keeps a deleted user's data, and how long, for these stack parameters (docs/lifecycle.md)."""
    pii_events = parameters.get("IncludePiiInEvents") == "true"
    event_data = "profile events with field values (IncludePiiInEvents=true)" if pii_events else "subs only"
    return [
        Holder("profile table point-in-time recovery", "the deleted profile, restorable",
               f"{parameters['PointInTimeRecoveryDays']} days (PointInTimeRecoveryDays)"),
        Holder("profile table stream", "the profile's change records, old images included", "24 hours (fixed)"),
        Holder("stream dead-letter queue", "records parked with their profile content, if any",
               f"{_days(parameters['DeadLetterRetentionSeconds'])} (DeadLetterRetentionSeconds)"),
        Holder("failed-batch bucket", "stream batches a handler gave up on, if any",
               f"{parameters['FailedBatchRetentionDays']} days (FailedBatchRetentionDays)"),
        Holder("event archive", event_data,
               f"{parameters['EventArchiveRetentionDays']} days (EventArchiveRetentionDays)"),
        Holder("consumer dead-letter queues", event_data,
               f"{_days(parameters['DeadLetterRetentionSeconds'])} (DeadLetterRetentionSeconds)"),
        Holder("account deletion queues",
               "the sub; its dead-letter queue may hold the whole CloudTrail deletion event"
               " (caller, IP address, user agent)",
               f"{_days(parameters['DeadLetterRetentionSeconds'])} at most (DeadLetterRetentionSeconds)"),
        Holder("function logs", "subs, field names and counts, no values",
               f"{parameters['LogRetentionDays']} days (LogRetentionDays)"),
        Holder("CloudTrail", "the sub of the AdminDeleteUser call", "the trail's own retention (90 days of history)"),
        Holder("downstream consumers", "whatever they kept of the events", "their own policies"),
    ]  # fmt: skip


def report(deletion: Deletion, recreated: bool, kept: list[Holder], source: str = "") -> str:
    """The erase's report: what was deleted, then what still holds data and for how long.

    ``source`` says where the retention figures come from (the stack, or the template's defaults).
    """
    lines = [
        f"erased {deletion.sub}",
        f"  cognito user: {'deleted' if deletion.cognito_user_deleted else 'already gone'}",
        f"  profile: {'deleted' if deletion.profile_deleted else 'already gone'}",
        f"  second delete: {'removed a profile re-created meanwhile' if recreated else 'nothing to remove'}",
        f"still holding data of this user{f' (retentions: {source})' if source else ''}:",
        *(f"  {holder.place}: {holder.holds}; kept {holder.retention}" for holder in kept),
    ]
    return "\n".join(lines)
