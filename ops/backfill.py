"""`python -m ops backfill`: give every existing Cognito user the profile a trigger would have made.

Users come from ListUsers (federated ones included), page by page, paced by a token bucket at
``--rate`` requests a second. Each user's attributes are mapped through the field ownership
map exactly as the triggers map them (``CognitoUser.profile``, ``idp_changes``):

- no profile: created, on the condition that none exists (the trigger's create-if-absent);
- a profile: only its IdP-owned fields that differ are updated, on the condition that the
  version is the one read. A user's or an admin's edit made meanwhile fails the condition;
  the stored profile comes back with the failure and is diffed again (a bounded number of
  times), so no edit is ever overwritten. Nothing that differs: nothing is written.

A user costs one DynamoDB call (the conditional PutItem, which hands back the stored item
when it fails), two when IdP-owned fields changed. After every page the pagination token
and the counts go to ``--checkpoint``; a run started again with that file resumes after
the last page it saved. See docs/migration.md#backfill.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from lifecycle.pacing import TokenBucket, pace
from lifecycle.users import CognitoUser, page
from ops import checkpoint
from ops.progress import Progress
from ops.target import add_target_arguments, resolve
from shared.aws import error_code
from shared.profile import Profile, Rejected, UndecodableProfile, idp_changes
from shared.repository import ProfileRepository, VersionConflict

# ListUsers is in the UserList category: 30 requests a second per account and Region, shared
# with every other caller (https://docs.aws.amazon.com/cognito/latest/developerguide/quotas.html).
LIST_USERS_QUOTA = 30.0
DEFAULT_RATE = LIST_USERS_QUOTA / 2
DEFAULT_WORKERS = 8
CONFLICT_ATTEMPTS = 3  # a user edited this often while the backfill looks at them is reported, not retried forever
# ListUsers answers InvalidParameterException for a pagination token it no longer accepts
# (https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_ListUsers.html#API_ListUsers_Errors);
# moto answers InvalidToken.
REFUSED_TOKEN = frozenset({"InvalidParameterException", "InvalidToken"})
# A DynamoDB refusal of this one item: reported for the user, the run goes on. Anything else
# (throttling beyond the client's retries, no table, no permission, no network) stops the run
# before the page's checkpoint, so a resume does the page again.
ITEM_REFUSED = frozenset({"ValidationException"})
CHECKPOINT_FORMAT = 1
FAILED_KEPT = 1000  # subs of failed users kept in the checkpoint and summary


class Repository(Protocol):
    """What the backfill needs of ``shared.repository.ProfileRepository`` (one DynamoDB call per method)."""

    def get(self, user_id: str) -> Profile | None: ...

    def create_if_absent(self, profile: Profile) -> tuple[Profile, bool]: ...

    def update(self, user_id: str, changes: Mapping[str, Any], expected_version: int) -> Profile: ...


class Interrupted(Exception):
    """Raised by an ``after_page`` hook to stop a run (tests use it as a kill)."""


@dataclass(frozen=True)
class Outcome:
    """What became of one user: created, updated, unchanged, skipped or error."""

    sub: str
    kind: str
    reason: str = ""  # skipped and error only; never a value
    fields: tuple[str, ...] = ()  # created: the profile's fields; updated: the changed fields
    left_out: tuple[str, ...] = ()  # fields whose Cognito value does not fit (named, never printed)


@dataclass
class Tally:
    """The counts a checkpoint carries and the summary prints."""

    users: int = 0
    pages: int = 0
    requests: int = 0  # ListUsers calls
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> users
    errors: dict[str, int] = field(default_factory=dict)  # reason -> users
    left_out: dict[str, int] = field(default_factory=dict)  # field -> users whose value was invalid
    failed: list[str] = field(default_factory=list)  # subs of the users in ``errors`` (the first FAILED_KEPT)
    restarts: int = 0  # times a refused pagination token sent the run back to the first page

    def add(self, outcome: Outcome) -> None:
        self.users += 1
        if outcome.kind in ("created", "updated", "unchanged"):
            setattr(self, outcome.kind, getattr(self, outcome.kind) + 1)
        elif outcome.kind == "skipped":
            self.skipped[outcome.reason] = self.skipped.get(outcome.reason, 0) + 1
        else:
            self.errors[outcome.reason] = self.errors.get(outcome.reason, 0) + 1
            if len(self.failed) < FAILED_KEPT:
                self.failed.append(outcome.sub)
        for name in outcome.left_out:
            self.left_out[name] = self.left_out.get(name, 0) + 1

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> Tally:
        known = {name: saved[name] for name in cls.__dataclass_fields__ if name in saved}
        return cls(**known)


# --- one user ---------------------------------------------------------------------------------


def backfill_user(repo: Repository, user: CognitoUser, *, dry_run: bool = False) -> Outcome:
    """Create or refresh one user's profile (or, with ``dry_run``, say what that would do, reading only)."""
    if not user.sub:
        return Outcome("", "skipped", "no sub attribute")
    if user.status == "UNCONFIRMED":
        # No trigger creates a profile before confirmation; post-confirmation will.
        return Outcome(user.sub, "skipped", "unconfirmed")
    fresh, rejected = user.profile()
    try:
        if dry_run:
            stored = repo.get(user.sub)
            if stored is None:
                return _created(fresh, rejected)
            changes, rejected = idp_changes(stored, user.attributes)
            kind = "updated" if changes else "unchanged"
            return Outcome(user.sub, kind, fields=tuple(sorted(changes)), left_out=_names(rejected))
        stored, created = repo.create_if_absent(fresh)
        if created:
            return _created(fresh, rejected)
        if stored is fresh:  # the condition failed without the item: read it
            found = repo.get(user.sub)
            if found is None:
                return Outcome(user.sub, "skipped", "profile deleted during the backfill")
            stored = found
        return _refresh(repo, user, stored)
    except UndecodableProfile as exc:
        return Outcome(user.sub, "error", f"stored profile has an unreadable {exc.attribute}")
    except Exception as exc:
        if error_code(exc) in ITEM_REFUSED:
            return Outcome(user.sub, "error", f"DynamoDB refused the item ({error_code(exc)})")
        raise


def _refresh(repo: Repository, user: CognitoUser, stored: Profile) -> Outcome:
    """Apply the IdP-owned fields that differ, conditional on the version; re-diff after a concurrent edit."""
    for _ in range(CONFLICT_ATTEMPTS):
        changes, rejected = idp_changes(stored, user.attributes)
        if not changes:
            return Outcome(user.sub, "unchanged", left_out=_names(rejected))
        try:
            repo.update(user.sub, changes, expected_version=stored.version)
        except VersionConflict as conflict:
            if conflict.current is None:
                return Outcome(user.sub, "skipped", "profile deleted during the backfill")
            stored = conflict.current
            continue
        return Outcome(user.sub, "updated", fields=tuple(sorted(changes)), left_out=_names(rejected))
    return Outcome(user.sub, "error", f"profile changed concurrently {CONFLICT_ATTEMPTS} times")


def _created(profile: Profile, rejected: list[Rejected]) -> Outcome:
    return Outcome(profile.user_id, "created", fields=tuple(sorted(profile.fields)), left_out=_names(rejected))


def _names(rejected: Iterable[Rejected]) -> tuple[str, ...]:
    return tuple(sorted({problem.field for problem in rejected}))


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Backfill:
    """One backfill of a pool into a table; ``run`` goes page by page from the checkpoint."""

    cognito: Any
    repo: Repository
    user_pool_id: str
    table_name: str
    bucket: TokenBucket
    checkpoint_path: Path | None = None
    dry_run: bool = False
    workers: int = 1
    report: Callable[[Outcome], None] = lambda _outcome: None
    progress: Progress | None = None
    after_page: Callable[[Tally], None] = lambda _tally: None  # after the page's checkpoint is written
    tally: Tally = field(default_factory=Tally)
    complete: bool = False

    def run(self) -> Tally:
        # Every ListUsers attempt, botocore's retries included, takes a token; a fake client
        # without botocore events (the benchmark's) is paced here, once per call.
        bucket = None if pace(self.cognito, "ListUsers", self.bucket) else self.bucket
        token = self._resume()
        if self.complete:
            return self.tally
        restarted = False
        executor = ThreadPoolExecutor(self.workers) if self.workers > 1 else None
        try:
            while True:
                try:
                    found = page(self.cognito, self.user_pool_id, bucket, token)
                except Exception as exc:
                    if token is None or restarted or error_code(exc) not in REFUSED_TOKEN:
                        raise
                    # Writes are idempotent: going over the users already done changes nothing.
                    restarted, token = True, None
                    self.tally = Tally(restarts=self.tally.restarts + 1, requests=self.tally.requests + 1)
                    if self.progress:
                        self.progress.note("restart", reason="ListUsers refused the saved pagination token")
                    continue
                self.tally.requests += 1
                one = lambda user: backfill_user(self.repo, user, dry_run=self.dry_run)  # noqa: E731
                outcomes = list(executor.map(one, found.users) if executor else map(one, found.users))
                for outcome in outcomes:
                    self.tally.add(outcome)
                    self.report(outcome)
                self.tally.pages += 1
                token = found.next_token
                self.complete = token is None
                self._save(token)
                if self.progress:
                    self.progress.update(
                        self.tally.users, pages=self.tally.pages, requests=self.tally.requests, force=self.complete
                    )
                self.after_page(self.tally)
                if self.complete:
                    return self.tally
        finally:
            if executor:
                executor.shutdown(cancel_futures=True)

    def _resume(self) -> str | None:
        if self.checkpoint_path is None:
            return None
        saved = checkpoint.read(self.checkpoint_path)
        if saved is None:
            return None
        if saved.get("format") != CHECKPOINT_FORMAT:
            raise checkpoint.CheckpointError(f"checkpoint {self.checkpoint_path} is not a backfill's")
        where = (saved.get("user_pool_id"), saved.get("table_name"))
        if where != (self.user_pool_id, self.table_name):
            raise checkpoint.CheckpointError(
                f"checkpoint {self.checkpoint_path} belongs to pool {where[0]} and table {where[1]}, not these"
            )
        try:
            self.tally = Tally.from_dict(saved["tally"])
            token = saved["token"]
            self.complete = bool(saved["complete"])
        except (KeyError, TypeError):
            raise checkpoint.CheckpointError(f"checkpoint {self.checkpoint_path} is incomplete") from None
        if token is not None and not isinstance(token, str):
            raise checkpoint.CheckpointError(f"checkpoint {self.checkpoint_path} has an unusable token")
        return token

    def _save(self, token: str | None) -> None:
        if self.checkpoint_path is None:
            return
        state = {
            "format": CHECKPOINT_FORMAT,
            "user_pool_id": self.user_pool_id,
            "table_name": self.table_name,
            "token": token,
            "complete": self.complete,
            "tally": asdict(self.tally),
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        checkpoint.write(self.checkpoint_path, state)


# --- the command --------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE,
        metavar="N",
        help=f"ListUsers requests a second, never exceeded (default {DEFAULT_RATE:g}: half the account's "
        f"{LIST_USERS_QUOTA:g} req/s quota, which every other caller shares)",
    )
    parser.add_argument(
        "--checkpoint", type=Path, metavar="FILE", help="save progress here after every page; resume from it"
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would be created and changed; write nothing")
    parser.add_argument(
        "--workers", type=int, default=DEFAULT_WORKERS, metavar="N",
        help=f"users of a page handled at once (default {DEFAULT_WORKERS})",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    if not args.rate > 0:
        return _refuse(f"--rate must be above 0, not {args.rate:g}")
    if args.workers < 1:
        return _refuse(f"--workers must be at least 1, not {args.workers}")
    if args.dry_run and args.checkpoint:
        return _refuse("--dry-run writes nothing, a checkpoint included: leave out --checkpoint")
    target = resolve(args)
    cognito = target.client("cognito-idp")
    try:
        # The progress bar's total (https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_UserPoolType.html)
        described = cognito.describe_user_pool(UserPoolId=target.user_pool_id)["UserPool"]
    except (BotoCoreError, ClientError) as exc:
        return _refuse(f"cannot describe user pool {target.user_pool_id} ({error_code(exc) or type(exc).__name__})")
    estimated = described.get("EstimatedNumberOfUsers")
    progress = Progress(estimated)
    as_json = not sys.stdout.isatty()

    def report(outcome: Outcome) -> None:
        if outcome.kind == "error":
            progress.note("user_failed", sub=outcome.sub, reason=outcome.reason)
        if outcome.left_out:
            progress.note("fields_left_out", sub=outcome.sub, fields=list(outcome.left_out))
        if args.dry_run and outcome.kind in ("created", "updated"):
            _print_plan(outcome, as_json)

    backfill = Backfill(
        cognito=cognito,
        repo=ProfileRepository(target.client("dynamodb"), target.table_name),
        user_pool_id=target.user_pool_id,
        table_name=target.table_name,
        bucket=TokenBucket(args.rate),
        checkpoint_path=args.checkpoint,
        dry_run=args.dry_run,
        workers=args.workers,
        report=report,
        progress=progress,
    )
    try:
        tally = backfill.run()
    except checkpoint.CheckpointError as exc:
        return _refuse(str(exc))
    except (BotoCoreError, ClientError, OSError) as exc:  # anything else is a bug: its traceback shows
        code = error_code(exc) or type(exc).__name__
        progress.finish()
        saved = f"; rerun with --checkpoint {args.checkpoint} to resume after page {backfill.tally.pages}"
        print(f"error: backfill stopped ({code}){saved if args.checkpoint else ''}", file=sys.stderr)  # noqa: T201
        _print_summary(backfill, as_json, stopped=code)
        return 1
    progress.finish()
    _print_summary(backfill, as_json)
    return 1 if tally.error_count else 0


def _refuse(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)  # noqa: T201 - this is the console
    return 2


def _print_plan(outcome: Outcome, as_json: bool) -> None:
    action = "create" if outcome.kind == "created" else "update"
    if as_json:
        print(json.dumps({"would": action, "sub": outcome.sub, "fields": list(outcome.fields)}))  # noqa: T201
    else:
        print(f"would {action} {outcome.sub}: {', '.join(outcome.fields)}")  # noqa: T201


def _print_summary(backfill: Backfill, as_json: bool, stopped: str | None = None) -> None:
    tally = backfill.tally
    state = "stopped" if stopped else ("complete" if backfill.complete else "incomplete")
    if as_json:
        summary = {"event": "summary", "state": state, "dry_run": backfill.dry_run, **asdict(tally)}
        print(json.dumps(summary))  # noqa: T201
        return
    verb = "would be " if backfill.dry_run else ""
    lines = [
        f"backfill {state}{' (dry run: nothing written)' if backfill.dry_run else ''}: "
        f"{tally.users:,} users in {tally.pages:,} pages ({tally.requests:,} ListUsers calls)",
        f"  {verb}created {tally.created:,}, {verb}updated {tally.updated:,}, unchanged {tally.unchanged:,}, "
        f"skipped {sum(tally.skipped.values()):,}, errors {tally.error_count:,}",
    ]
    lines += [f"  skipped, {reason}: {count:,}" for reason, count in sorted(tally.skipped.items())]
    lines += [f"  error, {reason}: {count:,}" for reason, count in sorted(tally.errors.items())]
    if tally.left_out:
        fields = ", ".join(f"{name} {count:,}" for name, count in sorted(tally.left_out.items()))
        lines.append(f"  invalid values left out (users per field): {fields}")
    if tally.restarts:
        restarts = f"{tally.restarts}x (pagination token refused); counts are since the last restart"
        lines.append(f"  restarted from the first page {restarts}")
    if tally.failed:
        lines.append(f"  failed subs: {' '.join(tally.failed[:20])}{' ...' if len(tally.failed) > 20 else ''}")
    print("\n".join(lines))  # noqa: T201
