"""`python -m ops backfill` over 100,000 users on a simulated clock: quota share, DynamoDB calls, resume cost.

Cognito's ListUsers and the profile table are in-process fakes here (``FakeCognito``,
``MemoryRepository``) so that 100,000 users take seconds, not the hours moto would: the
figures are the backfill's own logic (pacing, calls per user, what a resume repeats). The
tests check the same logic on moto, where each repository method is exactly one DynamoDB call.
Each fake call advances the simulated clock by an assumed latency, printed with the figures:
the share of the rate used holds while one ListUsers round trip plus a page's writes take
less than ``1 / rate`` (docs/migration.md#backfill).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from lifecycle.pacing import TokenBucket, most_in_window
from local.support import attributes_of, mixed_users
from ops.backfill import DEFAULT_RATE, Backfill, Interrupted, Tally
from shared.profile import Profile, profile_from_cognito
from shared.repository import VersionConflict

USERS = 100_000
LIST_USERS_LATENCY = 0.030  # simulated seconds per ListUsers call
DYNAMODB_LATENCY = 0.0005  # simulated seconds per DynamoDB call, one worker (as 8 workers at 4 ms would take)
SHARE_TARGET = 0.90


class SimulatedClock:
    """Time that moves only when slept on or advanced by a fake's latency."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


# --- fakes ------------------------------------------------------------------------------------------


@dataclass
class FakeCognito:
    """ListUsers and DescribeUserPool over a list of entries: pages of at most 60, some short, as
    Cognito's may be; a token it never gave is refused with InvalidParameterException."""

    users: list[dict[str, Any]]
    clock: SimulatedClock | None = None
    latency: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    call_times: list[float] = field(default_factory=list)

    def _advance(self) -> None:
        if self.clock:
            self.clock.sleep(self.latency)

    def describe_user_pool(self, UserPoolId: str) -> dict[str, Any]:
        self.calls["DescribeUserPool"] += 1
        return {"UserPool": {"Id": UserPoolId, "EstimatedNumberOfUsers": len(self.users)}}

    def list_users(self, UserPoolId: str, Limit: int, PaginationToken: str | None = None) -> dict[str, Any]:
        self.calls["ListUsers"] += 1
        self.call_times.append(self.clock() if self.clock else 0.0)
        self._advance()
        start = 0
        if PaginationToken is not None:
            if not PaginationToken.startswith("page-"):
                error = {"Error": {"Code": "InvalidParameterException", "Message": "Invalid pagination token"}}
                raise ClientError(error, "ListUsers")
            start = int(PaginationToken.removeprefix("page-"))
        size = Limit if (start // Limit) % 7 else Limit - 23  # every seventh page is short
        end = min(len(self.users), start + size)
        answer: dict[str, Any] = {"Users": self.users[start:end]}
        if end < len(self.users):
            answer["PaginationToken"] = f"page-{end}"
        return answer


@dataclass
class MemoryRepository:
    """ProfileRepository's contract in memory (conditional create, version-conditional update),
    each method standing for its one DynamoDB call."""

    clock: SimulatedClock | None = None
    latency: float = 0.0
    items: dict[str, Profile] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)

    def _call(self, operation: str) -> None:
        self.calls[operation] += 1
        if self.clock:
            self.clock.sleep(self.latency)

    def get(self, user_id: str) -> Profile | None:
        self._call("GetItem")
        return self.items.get(user_id)

    def create_if_absent(self, profile: Profile) -> tuple[Profile, bool]:
        self._call("PutItem")
        if profile.user_id in self.items:
            return self.items[profile.user_id], False
        self.items[profile.user_id] = profile
        return profile, True

    def update(self, user_id: str, changes: Mapping[str, Any], expected_version: int, **_: Any) -> Profile:
        self._call("UpdateItem")
        current = self.items.get(user_id)
        if current is None or current.version != expected_version:
            raise VersionConflict(f"profile is not at version {expected_version}", current)
        fields = {**current.fields, **changes}
        updated = replace(
            current, fields={k: v for k, v in fields.items() if v is not None}, version=expected_version + 1
        )
        self.items[user_id] = updated
        return updated


def seeded_repository(users: list[dict[str, Any]], every: int = 10, **options: Any) -> MemoryRepository:
    """Every ``every``-th confirmed user already has a profile (a trigger made it), edited by the user
    and an admin, with a stale ``email_verified`` on every second one."""
    repo = MemoryRepository(**options)
    for index, entry in enumerate(users[::every]):
        if entry["UserStatus"] == "UNCONFIRMED":
            continue
        profile, _ = profile_from_cognito(attributes_of(entry)["sub"], entry["Username"], attributes_of(entry))
        edited = {**profile.fields, "display_name": "Edited by the user", "plan": "pro"}
        if index % 2:
            edited["email_verified"] = not edited.get("email_verified", False)
        repo.items[profile.user_id] = replace(profile, fields=edited, version=7)
    return repo


# --- the figures ----------------------------------------------------------------------------------------


def backfill(
    users: list[dict[str, Any]], repo: MemoryRepository, clock: SimulatedClock, path: Path | None, **options: Any
) -> tuple[Backfill, FakeCognito]:
    cognito = FakeCognito(users, clock, LIST_USERS_LATENCY)
    repo.clock, repo.latency = clock, DYNAMODB_LATENCY
    bucket = TokenBucket(DEFAULT_RATE, clock=clock, sleep=clock.sleep)
    run = Backfill(cognito, repo, "bench_pool", "bench-table", bucket, checkpoint_path=path, **options)
    return run, cognito


def run(check: Callable[[str, float, float], Any]) -> None:
    """Print the figures; ``check(label, value, limit)`` records whether a target is met."""
    users = mixed_users(USERS)
    print(f"== Backfill: {USERS:,} users, simulated clock, rate {DEFAULT_RATE:g} req/s ==")
    print(f"assumed latencies: ListUsers {LIST_USERS_LATENCY * 1000:.0f} ms, DynamoDB {DYNAMODB_LATENCY * 1000:.1f} ms")

    clock = SimulatedClock()
    whole, cognito = backfill(users, seeded_repository(users), clock, None)
    tally = whole.run()
    repo = whole.repo
    assert isinstance(repo, MemoryRepository)
    share = cognito.calls["ListUsers"] / (clock.now * DEFAULT_RATE)
    dynamodb_calls = sum(repo.calls.values())
    print(f"{'users, pages (ListUsers calls)':<46} {tally.users:,}, {tally.pages:,} ({cognito.calls['ListUsers']:,})")
    print(_counts(tally))
    print(f"{'simulated wall time':<46} {clock.now:8.1f} s")
    print(f"{'share of the rate used (ListUsers calls / rate x time)':<46} {share:8.1%}  target >= {SHARE_TARGET:.0%}")
    check("shortfall from 90% of the rate (0: none)", max(0.0, SHARE_TARGET - share), 0.0)
    check("most ListUsers calls in any 1 s (rate + burst)", most_in_window(cognito.call_times, 1.0), DEFAULT_RATE + 1)
    calls = ", ".join(f"{name} {count:,}" for name, count in sorted(repo.calls.items()))
    print(f"{'DynamoDB calls':<46} {calls}")
    check("DynamoDB calls per user", dynamodb_calls / tally.users, 1.1)

    # Killed at 50% in the middle of a page (after some of its writes, before its checkpoint), then resumed.
    # Checkpoints in memory where the machine has a tmpfs: 1,800 fsyncs on a shared disk cost minutes of real time
    # (the simulated clock does not count them; on AWS they add to each page's time).
    memory = Path("/dev/shm")  # noqa: S108 - a private temporary directory inside it
    with tempfile.TemporaryDirectory(dir=memory if memory.is_dir() else None) as scratch:
        path = Path(scratch, "checkpoint.json")
        clock = SimulatedClock()
        repo = seeded_repository(users)
        first, cognito_first = backfill(users, repo, clock, path)
        first.repo = _KillAfter(repo, writes=USERS // 2)
        with contextlib.suppress(Interrupted):
            first.run()
        second, cognito_second = backfill(users, repo, clock, path)
        resumed = second.run()
        list_calls = cognito_first.calls["ListUsers"] + cognito_second.calls["ListUsers"]
        resumed_calls = sum(repo.calls.values())
    print(f"{'killed at 50% mid-page, resumed: users counted':<46} {resumed.users:,} of {tally.users:,}")
    extra_calls = resumed_calls - dynamodb_calls
    print(f"{'  extra ListUsers / DynamoDB calls':<46} {list_calls - cognito.calls['ListUsers']} / {extra_calls}")
    check("resume overhead (extra DynamoDB calls / users)", extra_calls / tally.users, 0.001)
    check("every user once after the resume: |counted - users|", abs(resumed.users - tally.users), 0)


@dataclass
class _KillAfter:
    """A repository that dies (as SIGKILL would) once ``writes`` PutItem/UpdateItem calls have been made."""

    inner: MemoryRepository
    writes: int

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name not in ("create_if_absent", "update"):
            return method

        def counted(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            self.writes -= 1
            if self.writes <= 0:
                raise Interrupted
            return result

        return counted


def _counts(tally: Tally) -> str:
    skipped = ", ".join(f"{reason} {count:,}" for reason, count in sorted(tally.skipped.items()))
    left_out = ", ".join(f"{name} {count:,}" for name, count in sorted(tally.left_out.items()))
    return (
        f"{'created / updated / unchanged':<46} {tally.created:,} / {tally.updated:,} / {tally.unchanged:,}\n"
        f"{'skipped':<46} {skipped}\n{'invalid values left out (users per field)':<46} {left_out}\n"
        f"{'errors':<46} {tally.error_count}"
    )


if __name__ == "__main__":
    from bench.__main__ import check as _check

    run(_check)
