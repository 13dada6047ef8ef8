"""Stream batch -> the Cognito attributes the field ownership map marks as synced.

Loop-safe by construction: this module only calls Cognito (never the profile table), and
Cognito has no trigger on attribute updates. Per batch and user, the changes of all the
user's records are coalesced to one net change (the first old image against the new image
of the user's last record in stream order): at most one AdminUpdateUserAttributes call,
plus one AdminDeleteUserAttributes call when a synced field was removed from the profile,
and none when no synced field changed.
"""

from __future__ import annotations

import dataclasses
import heapq
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws
from shared.fields import FieldError
from shared.observability import MetricUnit, logger, metrics
from shared.profile import same_value
from shared.settings import env
from shared.streams import (
    Attempts,
    BatchOutcome,
    DeadLetterQueue,
    Deadline,
    PoisonRecord,
    ProfileChange,
    StreamSettings,
    decode,
    sequence_number,
)
from shared.synced import cognito_value, synced_attributes

FUNCTION = "sync_cognito"
RECOVER = (
    "do not replay this record: a later change may have synced since. Fix the value in the profile "
    "table (a write of a synced field syncs it), or write the profile's current synced fields to Cognito"
)
_THROTTLING = frozenset({"TooManyRequestsException", "ThrottlingException", "LimitExceededException"})
# Cognito refuses the value itself (format, length): retrying cannot help, so the record is
# parked. Any other error (access denied, pool missing...) is the deployment's, and retried.
_REFUSED = frozenset({"InvalidParameterException"})


@dataclasses.dataclass(frozen=True, kw_only=True)
class SyncSettings(StreamSettings):
    user_pool_id: str = env("USER_POOL_ID")
    # Share of the account's AdminUpdateUserAttributes quota (25 req/s, shared with the
    # users' own UpdateUserAttributes and DeleteUser) this function may use per container.
    cognito_rate_share: float = env("COGNITO_RATE_SHARE", 0.4)
    cognito_quota_per_second: float = env("COGNITO_QUOTA_PER_SECOND", 25.0)


class TokenBucket:
    """A client-side rate limit: ``rate`` calls per second, bursts up to ``capacity``."""

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._last = clock()
        self._lock = threading.Lock()

    def wait_seconds(self) -> float:
        """How long the next ``acquire`` would sleep, without taking a token."""
        with self._lock:
            tokens = min(self.capacity, self._tokens + (self._clock() - self._last) * self.rate)
            return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def acquire(self) -> float:
        """Take one token, sleeping until one is available; returns the time slept."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate
            if wait:
                self._sleep(wait)
                self._tokens = 1.0
                self._last = now + wait
            self._tokens -= 1
            return wait


@cache
def limiter(rate: float) -> TokenBucket:
    """The container's rate limiter (kept across invocations, so the rate holds between batches)."""
    return TokenBucket(rate)


@dataclass(frozen=True)
class UserChange:
    """The net change of one user's synced attributes over a batch, and the records it stems from."""

    username: str | None
    indexes: tuple[int, ...]  # the user's MODIFY records in the batch, in stream order
    sequence_number: str  # the first of them: where a retry must start
    age_seconds: float  # of the first of them
    version: int
    updates: dict[str, str]  # Cognito attribute -> value
    deletes: tuple[str, ...]  # Cognito attributes removed from the profile
    problem: str | None = None  # why the change can never be written (names fields, never values)

    @property
    def first_index(self) -> int:
        return self.indexes[0]


def net_changes(changes: Sequence[tuple[int, ProfileChange]], now: float) -> list[UserChange]:
    """Coalesce MODIFY records per user into the changes Cognito needs, in order of each user's first record.

    The net change compares the user's first old image with the new image of the user's
    *last record in stream order*: versions restart in no lifetime order a batch can rely
    on, stream order is the table's own. A user whose changes touch no synced field is left
    out. INSERT records are not synced (the profile was just made from the Cognito user's
    own attributes), nor REMOVE records (a deleted profile leaves the Cognito user alone).
    """
    per_user: dict[str, list[tuple[int, ProfileChange]]] = {}
    for index, change in changes:
        if change.event_name == "MODIFY":
            per_user.setdefault(change.user_id, []).append((index, change))
    result: list[UserChange] = []
    for records in per_user.values():
        first = records[0][1]
        last = records[-1][1]
        before, after = first.old or {}, last.new or {}
        updates: dict[str, str] = {}
        deletes: list[str] = []
        invalid: list[str] = []
        for spec, attribute in synced_attributes():
            if same_value(before.get(spec.name), after.get(spec.name)):
                continue
            if after.get(spec.name) is None:
                deletes.append(attribute)
                continue
            try:
                updates[attribute] = cognito_value(spec, after[spec.name])  # what the map allows, nothing else
            except (FieldError, TypeError, ValueError):
                invalid.append(spec.name)
        if not updates and not deletes and not invalid:
            continue
        username = last.username
        problem = None
        if invalid:
            problem = f"values of {', '.join(invalid)} do not fit the field map"
        elif not username:
            problem = "item has no username attribute"
        result.append(
            UserChange(
                username=username,
                indexes=tuple(index for index, _ in records),
                sequence_number=first.sequence_number,
                age_seconds=first.age_seconds(now),
                version=last.version,
                updates=updates,
                deletes=tuple(deletes),
                problem=problem,
            )
        )
    return sorted(result, key=lambda change: change.first_index)


@dataclass
class SyncResult(BatchOutcome):
    """What a batch came to."""

    calls: int = 0
    users_synced: int = 0
    users_missing: int = 0
    refused: int = 0


class _Unfinished(Exception):
    """Cognito stayed unavailable or throttled for as long as the invocation had time."""


class CognitoSync:
    """Syncs one batch at a time; clients, limiter, time and settings are handed in (tests pass their own)."""

    def __init__(
        self,
        config: SyncSettings,
        cognito_client: Any,
        dead_letter_client: Callable[[], Any],
        bucket: TokenBucket,
        deadline: Deadline,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._cognito = cognito_client
        self._dead_letters = DeadLetterQueue(config, dead_letter_client, deadline, sleep, FUNCTION, RECOVER)
        self._bucket = bucket
        self._deadline = deadline
        self._sleep = sleep
        self._wall_clock = wall_clock

    def sync(self, records: Sequence[Mapping[str, Any]]) -> SyncResult:
        """Apply the batch's net synced changes in order; stop at the first that must be retried.

        Work runs in batch order: a user's change at its first record, and each record to park
        at its own position. So a record is parked only when everything before it has
        succeeded, and a retry, which starts at the first failure, never parks it twice.
        """
        result = SyncResult()
        decoded: list[tuple[int, ProfileChange]] = []
        parks: list[tuple[int, str]] = []  # (position in the batch, reason), kept in position order
        for index, record in enumerate(records):
            try:
                decoded.append((index, decode(record)))
            except PoisonRecord as exc:
                parks.append((index, str(exc)))
        heapq.heapify(parks)
        for change in net_changes(decoded, self._wall_clock()):
            if not self._park_until(change.first_index, records, parks, result):
                return result
            try:
                refusal = self._apply(change, result)
            except _Unfinished as exc:
                if change.age_seconds < self._config.park_after_seconds:
                    result.failed_sequence_number = change.sequence_number
                    return result
                refusal = f"still failing after {int(change.age_seconds)} s ({exc}); the stream keeps records 24 h"
            if refusal:
                for position in change.indexes:  # each parked when the batch reaches it
                    heapq.heappush(parks, (position, refusal))
        self._park_until(len(records), records, parks, result)
        return result

    def _park_until(
        self, position: int, records: Sequence[Mapping[str, Any]], parks: list[tuple[int, str]], result: SyncResult
    ) -> bool:
        """Park the records due before ``position``, in batch order; ``False`` once one could not be."""
        while parks and parks[0][0] < position:
            index, reason = heapq.heappop(parks)
            if not self._park(records[index], reason, result):
                result.failed_sequence_number = sequence_number(records[index])
                return False
        return True

    def _apply(self, change: UserChange, result: SyncResult) -> str | None:
        """Write one user's change; returns why it can never be written, if so; raises ``_Unfinished``."""
        if change.problem or not change.username:
            return change.problem or "item has no username attribute"
        pool = self._config.user_pool_id
        try:
            if change.updates:
                attributes = [{"Name": name, "Value": value} for name, value in change.updates.items()]
                self._call(
                    "admin_update_user_attributes",
                    result,
                    UserPoolId=pool,
                    Username=change.username,
                    UserAttributes=attributes,
                )
            if change.deletes:
                self._call(
                    "admin_delete_user_attributes",
                    result,
                    UserPoolId=pool,
                    Username=change.username,
                    UserAttributeNames=list(change.deletes),
                )
        except ClientError as exc:
            code = aws.error_code(exc)
            if code == "UserNotFoundException":
                logger.info("Cognito user is gone; nothing to sync", extra={"version": change.version})
                result.users_missing += 1
                return None
            metrics.add_metric(name="CognitoSyncRefused", unit=MetricUnit.Count, value=1)
            result.refused += 1
            return f"Cognito refused the attributes {sorted(change.updates)} ({code})"
        result.users_synced += 1
        logger.info(
            "Cognito attributes synced",
            extra={"updated": sorted(change.updates), "deleted": list(change.deletes), "version": change.version},
        )
        return None

    def _call(self, operation: str, result: SyncResult, **params: Any) -> None:
        """One Cognito operation, retried with backoff while the invocation has time.

        Throttling and outages are retried, and so is an error of the deployment (access
        denied, a missing pool): it is fixed by an operator, so the batch waits for it, backing
        off rather than spinning. Only a refusal of the value, or a user that is gone, returns
        at once (raised for ``_apply``).
        """
        attempts = Attempts(self._config, self._deadline, self._sleep)
        last = ""
        while attempts.next(wait_seconds=self._bucket.wait_seconds()):
            self._bucket.acquire()
            result.calls += 1
            try:
                getattr(self._cognito, operation)(**params)
                return
            except ClientError as exc:
                code = aws.error_code(exc)
                if code in _REFUSED or code == "UserNotFoundException":
                    raise
                last = code
                if code in _THROTTLING:
                    logger.warning("Cognito throttled; retrying", extra={"code": code})
                    metrics.add_metric(name="CognitoThrottled", unit=MetricUnit.Count, value=1)
                else:
                    logger.error("Cognito call failed; retrying", extra={"code": code})
            except BotoCoreError as exc:
                last = type(exc).__name__
                logger.warning("Cognito unreachable; retrying", extra={"error": last})
        raise _Unfinished(last or "no time left for a call")

    def _park(self, record: Mapping[str, Any], reason: str, result: SyncResult) -> bool:
        parked = self._dead_letters.park(record, reason)
        result.poisoned += parked
        return parked
