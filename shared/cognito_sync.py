"""Stream batch -> the Cognito attributes the field ownership map marks as synced.

Loop-safe by construction: this module only calls Cognito (never the profile table), and
Cognito has no trigger on attribute updates. Per batch and user, the changes of all the
user's records are coalesced to one net change (the first old image against the latest new
image): at most one AdminUpdateUserAttributes call, plus one AdminDeleteUserAttributes call
when a synced field was removed from the profile, and none when no synced field changed.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws, settings
from shared.fields import AUTHORISATION_ATTRIBUTES, Kind, synced_fields
from shared.observability import MetricUnit, logger, metrics
from shared.streams import (
    PoisonRecord,
    ProfileChange,
    StreamSettings,
    backoff,
    decode,
    send_to_dead_letter_queue,
    sequence_number,
)

FUNCTION = "sync_cognito"
# Never written from the profile, whatever the map says: a changed email must go through
# Cognito's own verification, and authorisation rests on the *_verified flags.
NEVER_SYNCED = frozenset({"email", "phone_number", "sub"}) | AUTHORISATION_ATTRIBUTES
_THROTTLING = frozenset({"TooManyRequestsException", "ThrottlingException", "LimitExceededException"})
_TRANSIENT = _THROTTLING | {"InternalErrorException", "ServiceUnavailable"}
# Cognito refuses the value itself (format, length): retrying cannot help, so the record is
# parked. Any other error (access denied, pool missing...) is the deployment's, and retried.
_REFUSED = frozenset({"InvalidParameterException"})


@dataclasses.dataclass(frozen=True, kw_only=True)
class SyncSettings(StreamSettings):
    user_pool_id: str
    # Share of the account's AdminUpdateUserAttributes quota (25 req/s, shared with the
    # users' own UpdateUserAttributes and DeleteUser) this function may use per container.
    cognito_rate_share: float = 0.4
    cognito_quota_per_second: float = 25.0


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
class AttributeChange:
    """The net change of one user's synced attributes over a batch."""

    username: str
    first_index: int
    first_sequence_number: str
    last_index: int
    version: int
    updates: dict[str, str]  # Cognito attribute -> value
    deletes: tuple[str, ...]  # Cognito attributes removed from the profile


def attribute_value(kind: Kind, value: Any) -> str:
    """A profile value as Cognito holds it: every attribute is a string."""
    if kind is Kind.BOOLEAN:
        return "true" if value else "false"
    if kind is Kind.STRING:
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def net_changes(changes: Sequence[tuple[int, ProfileChange]]) -> list[AttributeChange | tuple[int, ProfileChange, str]]:
    """Coalesce MODIFY records per user; an entry is a user's net change or a record that cannot sync.

    INSERT records are not synced (the profile was just made from the Cognito user's own
    attributes), nor REMOVE records (a deleted profile leaves the Cognito user alone).
    """
    first: dict[str, tuple[int, ProfileChange]] = {}
    latest: dict[str, tuple[int, ProfileChange]] = {}
    for index, change in changes:
        if change.event_name != "MODIFY":
            continue
        first.setdefault(change.user_id, (index, change))
        if change.user_id not in latest or change.version >= latest[change.user_id][1].version:
            latest[change.user_id] = (index, change)
    result: list[AttributeChange | tuple[int, ProfileChange, str]] = []
    for user_id, (index, earliest) in first.items():
        last_index, last = latest[user_id]
        before, after = earliest.old or {}, last.new or {}
        updates: dict[str, str] = {}
        deletes: list[str] = []
        for spec in synced_fields():
            attribute = spec.cognito_attribute
            if not attribute or attribute in NEVER_SYNCED or before.get(spec.name) == after.get(spec.name):
                continue
            if after.get(spec.name) is None:
                deletes.append(attribute)
            else:
                updates[attribute] = attribute_value(spec.kind, after[spec.name])
        if not updates and not deletes:
            continue
        if not last.username:
            result.append((index, earliest, "item has no username attribute"))
            continue
        result.append(
            AttributeChange(
                last.username, index, earliest.sequence_number, last_index, last.version, updates, tuple(deletes)
            )
        )
    return sorted(result, key=lambda item: item.first_index if isinstance(item, AttributeChange) else item[0])


@dataclass
class SyncResult:
    calls: int = 0
    users_synced: int = 0
    users_missing: int = 0
    refused: int = 0
    poisoned: int = 0
    failed_sequence_number: str | None = None

    def response(self) -> dict[str, Any]:
        """The ReportBatchItemFailures response."""
        # An empty identifier (a record without a sequence number) fails the whole batch, as it must.
        failures = [] if self.failed_sequence_number is None else [{"itemIdentifier": self.failed_sequence_number}]
        return {"batchItemFailures": failures}


class _Transient(Exception):
    """Cognito stayed unavailable or throttled after the bounded retries."""


class CognitoSync:
    """Syncs one batch at a time; clients, limiter and sleep are handed in (tests pass their own)."""

    def __init__(
        self,
        config: SyncSettings,
        cognito_client: Any,
        dead_letter_client: Callable[[], Any],
        bucket: TokenBucket,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = config
        self._cognito = cognito_client
        self._dead_letter_client = dead_letter_client  # created on first use: poison is rare
        self._bucket = bucket
        self._sleep = sleep

    def sync(self, records: Sequence[Mapping[str, Any]]) -> SyncResult:
        """Apply the batch's net synced changes in order; stop at the first user that still fails."""
        result = SyncResult()
        decoded: list[tuple[int, ProfileChange]] = []
        for index, record in enumerate(records):
            try:
                decoded.append((index, decode(record)))
            except PoisonRecord as exc:
                if not self._dead_letter(record, str(exc), result):
                    result.failed_sequence_number = sequence_number(record)
                    records = records[:index]  # later records are retried with this one
                    break
        for item in net_changes(decoded):
            if isinstance(item, tuple):
                index, change, reason = item
                if not self._dead_letter(records[index], reason, result):
                    result.failed_sequence_number = change.sequence_number
                    return result
                continue
            try:
                refusal = self._apply(item, result)
            except _Transient:
                result.failed_sequence_number = item.first_sequence_number
                return result
            if refusal and not self._dead_letter(records[item.last_index], refusal, result):
                result.failed_sequence_number = item.first_sequence_number
                return result
        return result

    def _apply(self, change: AttributeChange, result: SyncResult) -> str | None:
        """Write one user's change; returns why Cognito refused it for good, if it did."""
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
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "UserNotFoundException":
                logger.info("Cognito user is gone; nothing to sync", extra={"version": change.version})
                result.users_missing += 1
                return None
            if code not in _REFUSED:
                logger.error("Cognito call failed", extra={"code": code})
                raise _Transient(code) from None
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
        attempts = self._config.retry_attempts
        for attempt in range(attempts):
            if attempt:
                self._sleep(backoff(attempt - 1, self._config.retry_base_seconds, self._config.retry_max_seconds))
            self._bucket.acquire()
            result.calls += 1
            try:
                getattr(self._cognito, operation)(**params)
                return
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code not in _TRANSIENT:
                    raise
                logger.warning("Cognito throttled or unavailable; retrying", extra={"code": code, "attempt": attempt})
                metrics.add_metric(name="CognitoThrottled", unit=MetricUnit.Count, value=1)
            except BotoCoreError as exc:
                logger.warning("Cognito unreachable; retrying", extra={"error": type(exc).__name__, "attempt": attempt})
        raise _Transient(operation)

    def _dead_letter(self, record: Mapping[str, Any], reason: str, result: SyncResult) -> bool:
        parked = send_to_dead_letter_queue(self._dead_letter_client(), self._config, record, reason, FUNCTION)
        result.poisoned += parked
        return parked


def sync_records(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The stream handler's work: sync the batch and answer with its batch item failures."""
    config = settings.load(SyncSettings)
    timeouts = {"connect_timeout": config.connect_timeout_seconds, "read_timeout": config.read_timeout_seconds}
    # Cognito calls are retried here, not by botocore, so that every attempt passes the rate limiter.
    cognito = aws.client("cognito-idp", **timeouts, max_attempts=1)
    sqs = partial(aws.client, "sqs", **timeouts, max_attempts=config.max_attempts)
    bucket = limiter(config.cognito_rate_share * config.cognito_quota_per_second)
    syncer = CognitoSync(config, cognito, sqs, bucket)
    result = syncer.sync(list(records))
    metrics.add_metric(name="CognitoUsersSynced", unit=MetricUnit.Count, value=result.users_synced)
    metrics.add_metric(name="CognitoCalls", unit=MetricUnit.Count, value=result.calls)
    logger.info(
        "Batch synced",
        extra={
            "cognito_calls": result.calls,
            "users_synced": result.users_synced,
            "users_missing": result.users_missing,
            "refused": result.refused,
            "poisoned": result.poisoned,
            "failed_sequence_number": result.failed_sequence_number,
        },
    )
    return result.response()
