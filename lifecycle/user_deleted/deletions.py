"""Profiles of deleted users: each message of the account deletion queue deletes one profile.

Messages come from two places, both through the queue's delivery delay (docs/lifecycle.md):
the CloudTrail rule, for users deleted outside the API (console, AdminDeleteUser, a user's own
DeleteUser), and the API and ``ops erase``, which ask for a second delete after their own.
Either way the body is ``{"sub": ...}``: the rule's input transformer keeps nothing else of
the CloudTrail event (no IP address, user agent or caller). One exception: an event the rule
could not deliver lands in the dead-letter queue as EventBridge holds it, which may be the whole
CloudTrail event rather than the transformed input (docs/lifecycle.md); redriven, it comes back
here, and its sub is read from ``detail.additionalEventData.sub``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws
from shared.accounts import AccountError, valid_sub
from shared.observability import logger
from shared.repository import ProfileRepository
from shared.settings import env


@dataclasses.dataclass(frozen=True, kw_only=True)
class UserDeletedSettings:
    profile_table_name: str = env("PROFILE_TABLE_NAME")
    connect_timeout_seconds: float = env("CONNECT_TIMEOUT_SECONDS", 1.0)
    read_timeout_seconds: float = env("READ_TIMEOUT_SECONDS", 2.0)
    max_attempts: int = env("MAX_ATTEMPTS", 3)

    def repository(self) -> ProfileRepository:
        return ProfileRepository(aws.client_for("dynamodb", self), self.profile_table_name)


@dataclass
class Outcome:
    deleted: int = 0  # profiles that existed and are gone
    absent: int = 0  # no profile: already deleted (the usual case for a second delete)
    failed: list[str] = field(default_factory=list)  # message ids SQS delivers again (then to the DLQ)

    def response(self) -> dict[str, Any]:
        """The partial batch response: only the failed messages come back."""
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in self.failed]}


def sub_of(body: str | None) -> str:
    """The sub a message names, or ``AccountError`` saying what is wrong with it (never its content)."""
    try:
        message = json.loads(body or "")
    except ValueError:
        raise AccountError("message body is not JSON") from None
    if isinstance(message, Mapping) and isinstance(message.get("detail"), Mapping):
        return _sub_of_cloudtrail(message["detail"])
    if not isinstance(message, Mapping) or "sub" not in message:
        raise AccountError("message names no sub")
    return valid_sub(message["sub"])


DELETIONS = frozenset({"AdminDeleteUser", "DeleteUser"})  # the calls UserDeletedRule matches


def _sub_of_cloudtrail(detail: Mapping[str, Any]) -> str:
    """The deleted user's sub from a CloudTrail event (a redriven dead letter), held to the rule's own pattern."""
    if detail.get("eventSource") != "cognito-idp.amazonaws.com" or detail.get("eventName") not in DELETIONS:
        raise AccountError("CloudTrail event is not a Cognito user deletion")
    if detail.get("errorCode"):
        raise AccountError("CloudTrail event records a failed call: nobody was deleted")
    extra = detail.get("additionalEventData")
    if not isinstance(extra, Mapping) or "sub" not in extra:
        raise AccountError("CloudTrail event names no sub")
    return valid_sub(extra["sub"])


def delete_profiles(repo: ProfileRepository, records: Iterable[Mapping[str, Any]]) -> Outcome:
    """Delete the profile each SQS record names; a record that fails is reported, never dropped.

    A malformed message fails too: SQS receives it again and, after the queue's
    maxReceiveCount, moves it to the dead-letter queue, where an operator can read it.
    """
    outcome = Outcome()
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            sub = sub_of(record.get("body"))
        except AccountError as exc:
            logger.error("Account deletion message unusable", extra={"message_id": message_id, "problem": str(exc)})
            outcome.failed.append(message_id)
            continue
        try:
            existed = repo.delete(sub)
        except (BotoCoreError, ClientError) as exc:
            logger.warning(
                "Profile not deleted; SQS delivers the message again",
                extra={"sub": sub, "error": type(exc).__name__, "code": aws.error_code(exc)},
            )
            outcome.failed.append(message_id)
            continue
        if existed:
            outcome.deleted += 1
            logger.info("Profile of a deleted user deleted", extra={"sub": sub})
        else:
            outcome.absent += 1
    return outcome
