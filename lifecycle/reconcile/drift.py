"""Drift between the user pool and the profile table: found, reported and, with ``repair``, fixed.

Kinds of drift (docs/reconcile.md):

- ``missing_profile``: a user without a profile. Repair: the user is confirmed with AdminGetUser
  (a stale listing may still show a deleted user), then the profile a trigger would create
  (``CognitoUser.profile()``, ``ProfileRepository.create_if_absent``).
- ``orphan_profile``: a profile without a user. Repair: delete it, at most ``max_deletes``
  a run, each first confirmed with AdminGetUser.
- ``synced_attributes``: Cognito's copy of a synced field differs. The table wins:
  AdminUpdateUserAttributes (and AdminDeleteUserAttributes for a field the profile lacks),
  mapped by ``shared.synced`` as the stream sync maps them.
- ``idp_fields``: the profile's copy of an IdP-owned field differs. Cognito wins:
  ``shared.profile.idp_changes`` and one version-conditional update.
- ``undecodable_profile``: a stored item this code cannot read. Reported, never repaired.

One pass over ListUsers, page by page: each page's profiles are read with one BatchGetItem
and compared at once, so neither store is held in memory; only the subs seen are kept (as
128-bit integers, about 80 MB per million users). Then one Scan of the table's keys finds
the profiles whose sub was not listed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lifecycle.pacing import TokenBucket, pace
from lifecycle.users import PAGE_SIZE, CognitoUser, pages
from shared import aws
from shared.profile import KEY, Profile, UndecodableProfile, idp_changes, iso_utc
from shared.repository import ProfileRepository, VersionConflict, from_dynamodb
from shared.synced import wanted_attributes

# Cognito's request rate quotas per account and Region, by operation category
# (https://docs.aws.amazon.com/cognito/latest/developerguide/quotas.html#category_operations):
# UserList (ListUsers) 30 req/s; UserUpdate (AdminUpdateUserAttributes, AdminDeleteUserAttributes,
# shared with the users' own UpdateUserAttributes and DeleteUser) 25 req/s; UserRead
# (AdminGetUser) 120 req/s. A run takes ``share`` of each, so sign-ups, the stream sync and
# the users' own calls keep the rest.
LIST_USERS_PER_SECOND = 30.0
USER_UPDATE_PER_SECOND = 25.0
USER_READ_PER_SECOND = 120.0
# BatchGetItem reads at most 100 keys a call and may return some as UnprocessedKeys, to be
# asked again with backoff (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html).
# A ListUsers page holds at most 60 users, so one call a page, plus bounded retries.
BATCH_GET_ATTEMPTS = 5
BATCH_GET_BACKOFF_SECONDS = 0.1
FILTERED_PAGES = 5  # pages of a ListUsers filtered on one sub before the run gives up confirming it
LISTED_SUBS_KEPT = 1000  # subs named in a report per kind and outcome; the counts are always whole


class Kind(StrEnum):
    MISSING_PROFILE = "missing_profile"
    ORPHAN_PROFILE = "orphan_profile"
    SYNCED_ATTRIBUTES = "synced_attributes"
    IDP_FIELDS = "idp_fields"
    UNDECODABLE_PROFILE = "undecodable_profile"


class Outcome(StrEnum):
    FOUND = "found"  # reported only (no --repair)
    REPAIRED = "repaired"
    SKIPPED = "skipped"  # not repaired on purpose: the finding's reason says why
    FAILED = "failed"  # a repair was tried and AWS refused it


@dataclass(frozen=True)
class Finding:
    """One drift of one user: the sub and the names of the fields or attributes, never their values."""

    kind: Kind
    sub: str
    outcome: Outcome
    names: tuple[str, ...] = ()
    reason: str = ""


@dataclass
class Report:
    """What a run found and did. ``complete`` is false when a pass could not finish."""

    started_at: str
    repair: bool
    max_deletes: int
    users: int = 0  # listed
    profiles: int = 0  # scanned
    complete: bool = True
    errors: list[str] = field(default_factory=list)  # one line each, no attribute values
    counts: dict[Kind, dict[Outcome, int]] = field(default_factory=dict)
    subs: dict[Kind, dict[Outcome, list[str]]] = field(default_factory=dict)
    reasons: dict[Kind, dict[str, int]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)  # the first LISTED_SUBS_KEPT of each kind

    def add(self, finding: Finding) -> None:
        per_kind = self.counts.setdefault(finding.kind, {})
        per_kind[finding.outcome] = per_kind.get(finding.outcome, 0) + 1
        listed = self.subs.setdefault(finding.kind, {}).setdefault(finding.outcome, [])
        if len(listed) < LISTED_SUBS_KEPT:
            listed.append(finding.sub)
            self.findings.append(finding)
        if finding.reason:
            reasons = self.reasons.setdefault(finding.kind, {})
            reasons[finding.reason] = reasons.get(finding.reason, 0) + 1

    def count(self, kind: Kind, outcome: Outcome | None = None) -> int:
        per_kind = self.counts.get(kind, {})
        return per_kind.get(outcome, 0) if outcome else sum(per_kind.values())

    def total(self, outcome: Outcome) -> int:
        return sum(self.count(kind, outcome) for kind in Kind)

    @property
    def drift(self) -> int:
        """Findings of every kind, whatever became of them."""
        return sum(self.count(kind) for kind in Kind)

    @property
    def failed(self) -> bool:
        """Something went wrong: a repair AWS refused, a pass that stopped short, a call that failed."""
        return not self.complete or bool(self.errors) or self.total(Outcome.FAILED) > 0

    @property
    def unresolved(self) -> int:
        """Drift left as it was: reported only, skipped or failed."""
        return self.drift - self.total(Outcome.REPAIRED)

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON document: counts per kind and outcome, the subs, field names, no values."""
        return {
            "started_at": self.started_at,
            "repair": self.repair,
            "max_deletes": self.max_deletes,
            "complete": self.complete,
            "users": self.users,
            "profiles": self.profiles,
            "drift": self.drift,
            "errors": list(self.errors),
            "kinds": {
                kind.value: {
                    "count": self.count(kind),
                    **{outcome.value: self.count(kind, outcome) for outcome in Outcome},
                    "subs": {outcome.value: list(subs) for outcome, subs in self.subs.get(kind, {}).items()},
                    "reasons": dict(self.reasons.get(kind, {})),
                }
                for kind in Kind
            },
            "findings": [
                {"kind": f.kind.value, "sub": f.sub, "outcome": f.outcome.value, "names": list(f.names)}
                | ({"reason": f.reason} if f.reason else {})
                for f in self.findings
            ],
        }

    def summary(self) -> dict[str, Any]:
        """Counts only: what the function logs and returns."""
        return {
            "complete": self.complete,
            "users": self.users,
            "profiles": self.profiles,
            "errors": len(self.errors),
            **{kind.value: {o.value: self.count(kind, o) for o in Outcome if self.count(kind, o)} for kind in Kind},
        }

    def table(self) -> str:
        """The report for a person: counts per kind, then each finding's sub and field names."""
        rows = [("drift", "count", *[outcome.value for outcome in Outcome])]
        rows += [(kind.value, str(self.count(kind)), *[str(self.count(kind, o)) for o in Outcome]) for kind in Kind]
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        lines = [
            f"reconcile {'with repair' if self.repair else 'report only'}, started {self.started_at}: "
            f"{self.users} users, {self.profiles} profiles, {self.drift} drift"
            + ("" if self.complete else " (INCOMPLETE: see errors)"),
            "",
            *["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows],
        ]
        if self.findings:
            lines += ["", "sub                                   kind                 outcome   fields / reason"]
            for f in self.findings:
                detail = ", ".join(f.names) + (f" ({f.reason})" if f.reason else "")
                lines.append(f"{f.sub:<37} {f.kind.value:<20} {f.outcome.value:<9} {detail}".rstrip())
        lines += [f"error: {error}" for error in self.errors]
        return "\n".join(lines)


@dataclass(frozen=True)
class Pacing:
    """One token bucket per Cognito quota category the run calls."""

    list_users: TokenBucket
    user_update: TokenBucket
    user_read: TokenBucket

    def install(self, cognito: Any) -> None:
        """Pace every attempt of each Cognito call the run makes, botocore's retries included."""
        for operation, bucket in (
            ("ListUsers", self.list_users),
            ("AdminGetUser", self.user_read),
            ("AdminUpdateUserAttributes", self.user_update),
            ("AdminDeleteUserAttributes", self.user_update),
        ):
            if not pace(cognito, operation, bucket):
                raise TypeError("the reconciliation needs a botocore Cognito client: it paces each attempt")

    @classmethod
    def share(
        cls, share: float, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> Pacing:
        """``share`` (0 to 1) of each quota, never a burst above it."""
        if not 0 < share <= 1:
            raise ValueError(f"the rate share must be above 0 and at most 1, not {share}")
        return cls(
            TokenBucket(LIST_USERS_PER_SECOND * share, clock=clock, sleep=sleep),
            TokenBucket(USER_UPDATE_PER_SECOND * share, clock=clock, sleep=sleep),
            TokenBucket(USER_READ_PER_SECOND * share, clock=clock, sleep=sleep),
        )


class _Unconfirmed(Exception):
    """Cognito did not say whether a user exists; the profile is left alone."""


class _Stop(Exception):
    """A pass cannot go on (time is up, or a listing call failed); the message says why."""


def _sub_key(sub: str) -> int | str:
    """A sub as a set member: a UUID as its 128-bit integer (half the memory of the string)."""
    try:
        return uuid.UUID(sub).int
    except ValueError:
        return sub


class Reconciler:
    """Compares a user pool with its profile table; clients, pacing and time are handed in."""

    def __init__(
        self,
        cognito: Any,
        dynamodb: Any,
        user_pool_id: str,
        table_name: str,
        pacing: Pacing,
        *,
        repair: bool = False,
        max_deletes: int = 0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        time_left: Callable[[], float] | None = None,
        stop_margin_seconds: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_deletes < 0:
            raise ValueError(f"max_deletes must be 0 or more, not {max_deletes}")
        pacing.install(cognito)
        self._cognito = cognito
        self._dynamodb = dynamodb
        self._pool = user_pool_id
        self._table = table_name
        self._repository = ProfileRepository(dynamodb, table_name)
        self._pacing = pacing
        self._repair = repair
        self._max_deletes = max_deletes
        self._time_left = time_left
        self._margin = stop_margin_seconds
        self._sleep = sleep
        self._seen: set[int | str] = set()
        self._deleted = 0
        self.report = Report(started_at=iso_utc(now()), repair=repair, max_deletes=max_deletes)

    def run(self) -> Report:
        """Both passes. Orphans are looked for only when every user was listed: a partial
        listing would make every profile it did not reach look orphaned."""
        if self.compare_users():
            self.find_orphans()
        return self.report

    # --- pass 1: every user, with the profile stored for it ----------------------------

    def compare_users(self) -> bool:
        """Page through ListUsers and compare each page's users with their profiles; whether it finished."""
        try:
            for page in self._pages():
                self._check_time("listing users")
                users = [user for user in page.users if user.sub]
                self._seen.update(_sub_key(user.sub) for user in users)
                self.report.users += len(users)
                stored = self._read_profiles([user.sub for user in users])
                for user in users:
                    self._check_time("comparing users")
                    item = stored.get(user.sub)
                    if item is None:
                        self._missing_profile(user)
                    else:
                        self._compare(user, item)
        except _Stop as exc:
            self._stopped(str(exc))
            return False
        return True

    def _pages(self) -> Iterator[Any]:
        try:
            yield from pages(self._cognito, self._pool, None)  # paced by the client (Pacing.install)
        except (BotoCoreError, ClientError) as exc:
            raise _Stop(f"ListUsers failed ({aws.error_code(exc) or type(exc).__name__})") from None

    def _read_profiles(self, subs: list[str]) -> dict[str, dict[str, Any]]:
        """The stored items of ``subs`` (at most 100), read strongly consistent, by sub."""
        found: dict[str, dict[str, Any]] = {}
        keys = [{KEY: {"S": sub}} for sub in dict.fromkeys(subs)]
        for attempt in range(BATCH_GET_ATTEMPTS):
            if not keys:
                return found
            if attempt:
                self._sleep(BATCH_GET_BACKOFF_SECONDS * 2 ** (attempt - 1))
            try:
                answer = self._dynamodb.batch_get_item(
                    RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}}
                )
            except (BotoCoreError, ClientError) as exc:
                raise _Stop(f"BatchGetItem failed ({aws.error_code(exc) or type(exc).__name__})") from None
            for item in answer.get("Responses", {}).get(self._table, []):
                found[item[KEY]["S"]] = item
            keys = answer.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
        if keys:
            raise _Stop(f"BatchGetItem left {len(keys)} keys unprocessed after {BATCH_GET_ATTEMPTS} attempts")
        return found

    def _missing_profile(self, user: CognitoUser) -> None:
        if user.status == "UNCONFIRMED":
            return  # no trigger has run for it yet: its profile comes with the confirmation
        if not self._repair:
            self._add(Kind.MISSING_PROFILE, user.sub, Outcome.FOUND)
            return
        # ListUsers is eventually consistent: a user deleted moments ago may still be listed,
        # after the deletion's delayed second delete has run, so the user is confirmed first
        # and the profile made from what AdminGetUser returns.
        try:
            fresh = self._get_user(user.username)
        except (BotoCoreError, ClientError) as exc:
            self._add(Kind.MISSING_PROFILE, user.sub, Outcome.FAILED, reason=_code(exc))
            return
        if fresh is None or fresh.sub != user.sub:
            self._add(Kind.MISSING_PROFILE, user.sub, Outcome.SKIPPED, reason="user gone")
            return
        profile, rejected = fresh.profile()
        names = tuple(problem.field for problem in rejected)
        try:
            _, created = self._repository.create_if_absent(profile)
        except (BotoCoreError, ClientError) as exc:
            self._add(Kind.MISSING_PROFILE, user.sub, Outcome.FAILED, names, _code(exc))
            return
        if created:
            self._add(Kind.MISSING_PROFILE, user.sub, Outcome.REPAIRED, names, "values left out" if names else "")
        else:
            self._add(Kind.MISSING_PROFILE, user.sub, Outcome.SKIPPED, reason="created meanwhile")

    def _compare(self, user: CognitoUser, item: dict[str, Any]) -> None:
        values = from_dynamodb(item)
        try:
            profile = Profile.from_item(values)
        except UndecodableProfile as exc:
            self._add(Kind.UNDECODABLE_PROFILE, user.sub, Outcome.SKIPPED, (exc.attribute,), "unreadable value")
            return
        self._compare_idp_fields(user, profile)
        self._compare_synced(user, profile, values)

    def _compare_idp_fields(self, user: CognitoUser, profile: Profile) -> None:
        """Cognito wins: IdP-owned fields take the user's attribute values, as at sign-in."""
        changes, _ = idp_changes(profile, user.attributes)
        if not changes:
            return
        names = tuple(sorted(changes))
        if not self._repair:
            self._add(Kind.IDP_FIELDS, user.sub, Outcome.FOUND, names)
            return
        # ListUsers is eventually consistent: the values written come from a fresh AdminGetUser.
        try:
            fresh = self._get_user(user.username)
            if fresh is None or fresh.sub != user.sub:
                self._add(Kind.IDP_FIELDS, user.sub, Outcome.SKIPPED, names, "user gone")
                return
            changes, _ = idp_changes(profile, fresh.attributes)
            if not changes:
                self._add(Kind.IDP_FIELDS, user.sub, Outcome.SKIPPED, names, "resolved meanwhile")
                return
            self._repository.update(profile.user_id, changes, profile.version, only_if_changed=True)
        except VersionConflict:
            self._add(Kind.IDP_FIELDS, user.sub, Outcome.SKIPPED, names, "profile changed meanwhile")
        except (BotoCoreError, ClientError) as exc:
            self._add(Kind.IDP_FIELDS, user.sub, Outcome.FAILED, names, _code(exc))
        else:
            self._add(Kind.IDP_FIELDS, user.sub, Outcome.REPAIRED, tuple(sorted(changes)))

    def _compare_synced(self, user: CognitoUser, profile: Profile, values: Mapping[str, Any]) -> None:
        """The table wins: Cognito's synced attributes take the profile's values."""
        wanted, invalid = wanted_attributes(values)
        if invalid:
            self._add(Kind.SYNCED_ATTRIBUTES, user.sub, Outcome.SKIPPED, tuple(invalid), "value does not fit the map")
        updates, deletes = _differences(wanted, user.attributes)
        if not updates and not deletes:
            return
        names = tuple(sorted([*updates, *deletes]))
        if not self._repair:
            self._add(Kind.SYNCED_ATTRIBUTES, user.sub, Outcome.FOUND, names)
            return
        try:
            # The stream sync may have written a newer value since the page was read: the
            # profile is read again, and a changed profile is left to the sync.
            current = self._repository.get(profile.user_id)
            if current is None or current.version != profile.version:
                self._add(Kind.SYNCED_ATTRIBUTES, user.sub, Outcome.SKIPPED, names, "profile changed meanwhile")
                return
            if updates:
                self._cognito.admin_update_user_attributes(
                    UserPoolId=self._pool,
                    Username=user.username,
                    UserAttributes=[{"Name": name, "Value": value} for name, value in updates.items()],
                )
            if deletes:
                self._cognito.admin_delete_user_attributes(
                    UserPoolId=self._pool, Username=user.username, UserAttributeNames=deletes
                )
        except UndecodableProfile as exc:
            self._add(Kind.UNDECODABLE_PROFILE, user.sub, Outcome.SKIPPED, (exc.attribute,), "unreadable value")
        except (BotoCoreError, ClientError) as exc:
            self._add(Kind.SYNCED_ATTRIBUTES, user.sub, Outcome.FAILED, names, _code(exc))
        else:
            self._add(Kind.SYNCED_ATTRIBUTES, user.sub, Outcome.REPAIRED, names)

    # --- pass 2: every profile whose sub was not listed --------------------------------

    def find_orphans(self) -> bool:
        """Scan the table's keys; confirm and (with repair, up to the cap) delete profiles without a user."""
        names = {"#key": KEY, "#username": "username", "#created": "created_at"}
        request: dict[str, Any] = {
            "TableName": self._table,
            "ProjectionExpression": "#key, #username, #created",
            "ExpressionAttributeNames": names,
        }
        try:
            while True:
                self._check_time("scanning profiles")
                try:
                    answer = self._dynamodb.scan(**request)
                except (BotoCoreError, ClientError) as exc:
                    raise _Stop(f"Scan failed ({aws.error_code(exc) or type(exc).__name__})") from None
                self.report.profiles += len(answer.get("Items", []))
                for item in answer.get("Items", []):
                    sub = item.get(KEY, {}).get("S", "")
                    if sub and _sub_key(sub) not in self._seen:
                        self._check_time("confirming orphans")
                        username, created = (item.get(name, {}).get("S", "") for name in ("username", "created_at"))
                        self._orphan(sub, username, created)
                if not answer.get("LastEvaluatedKey"):
                    return True
                request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        except _Stop as exc:
            self._stopped(str(exc))
            return False

    def _orphan(self, sub: str, username: str, created_at: str) -> None:
        """A profile whose sub ListUsers did not return: an orphan only once Cognito confirms it.

        Two guards against a user who signed up while the run went on (ListUsers may have
        passed the user's place, and it is eventually consistent): a profile created at or
        after the run's start is left alone, and every other one is looked up again, with
        AdminGetUser by the user name it stores (a user that is gone, or a user name now held
        by another sub, makes it an orphan) or, for an item without a user name, with a
        ListUsers filtered on the sub.
        """
        if created_at and created_at >= self.report.started_at:
            return  # created during this run: its user is newer than the listing
        try:
            if username:
                user = self._get_user(username)
                exists = user is not None and user.sub == sub
            else:
                exists = self._listed(sub)
        except (BotoCoreError, ClientError, _Unconfirmed) as exc:
            self._add(Kind.ORPHAN_PROFILE, sub, Outcome.FAILED, reason=f"confirmation failed ({_code(exc)})")
            return
        except ValueError:
            self._add(Kind.ORPHAN_PROFILE, sub, Outcome.SKIPPED, reason="key is not a Cognito sub")
            return
        if exists:
            return  # listed late: the user exists
        if not self._repair:
            self._add(Kind.ORPHAN_PROFILE, sub, Outcome.FOUND)
            return
        if self._deleted >= self._max_deletes:
            self._add(Kind.ORPHAN_PROFILE, sub, Outcome.SKIPPED, reason="max deletes reached")
            return
        try:
            self._repository.delete(sub)
        except (BotoCoreError, ClientError) as exc:
            self._add(Kind.ORPHAN_PROFILE, sub, Outcome.FAILED, reason=_code(exc))
            return
        self._deleted += 1
        self._add(Kind.ORPHAN_PROFILE, sub, Outcome.REPAIRED)

    # --- helpers ------------------------------------------------------------------------

    def _get_user(self, username: str) -> CognitoUser | None:
        """The user now (AdminGetUser, paced in the UserRead category by the client), or None when it is gone."""
        try:
            answer = self._cognito.admin_get_user(UserPoolId=self._pool, Username=username)
        except ClientError as exc:
            if aws.error_code(exc) == "UserNotFoundException":
                return None
            raise
        return CognitoUser.from_list_users({**answer, "Attributes": answer.get("UserAttributes", [])})

    def _listed(self, sub: str) -> bool:
        """Whether a user has ``sub``: one ListUsers filtered on it, paced in the UserList category.

        ``sub`` is one of the attributes ListUsers filters on
        (https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_ListUsers.html);
        raises ``ValueError`` for a key that is not a UUID, as every Cognito sub is, so nothing
        from the table is ever spliced into the filter unchecked.
        """
        canonical = str(uuid.UUID(sub))
        request: dict[str, Any] = {"UserPoolId": self._pool, "Filter": f'sub = "{canonical}"', "Limit": PAGE_SIZE}
        for _ in range(FILTERED_PAGES):  # a page may be short, even empty, and still not be the last
            answer = self._cognito.list_users(**request)
            if any(CognitoUser.from_list_users(entry).sub == sub for entry in answer.get("Users", [])):
                return True
            if not answer.get("PaginationToken"):
                return False
            request["PaginationToken"] = answer["PaginationToken"]
        raise _Unconfirmed(f"ListUsers filtered on a sub still had pages after {FILTERED_PAGES}")

    def _check_time(self, doing: str) -> None:
        if self._time_left is not None and self._time_left() < self._margin:
            raise _Stop(f"time ran out while {doing}: the pool is too large for one invocation")

    def _stopped(self, why: str) -> None:
        self.report.complete = False
        self.report.errors.append(why)

    def _add(self, kind: Kind, sub: str, outcome: Outcome, names: tuple[str, ...] = (), reason: str = "") -> None:
        self.report.add(Finding(kind, sub, outcome, names, reason))


def _differences(wanted: Mapping[str, str | None], current: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The attributes Cognito must take (name -> value) and those it must drop, for ``wanted``."""
    updates = {name: value for name, value in wanted.items() if value is not None and current.get(name) != value}
    deletes = [name for name, value in wanted.items() if value is None and current.get(name)]
    return updates, deletes


def _code(exc: BaseException) -> str:
    return aws.error_code(exc) or type(exc).__name__
