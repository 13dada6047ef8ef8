"""What both Cognito triggers share: their settings, the table client and a new user's profile."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws
from shared.observability import logger
from shared.profile import Profile, profile_from_cognito
from shared.repository import ProfileRepository
from shared.settings import env

STORE_ERRORS = (BotoCoreError, ClientError)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TriggerSettings:
    """What a Cognito trigger needs. Its AWS calls must fit well inside Cognito's 5 s."""

    profile_table_name: str = env("PROFILE_TABLE_NAME")
    connect_timeout_seconds: float = env("CONNECT_TIMEOUT_SECONDS", 0.5)
    read_timeout_seconds: float = env("READ_TIMEOUT_SECONDS", 0.5)
    max_attempts: int = env("MAX_ATTEMPTS", 2)
    # Kept free after the last call. Cognito's 5 s also cover a cold start's init and the
    # invocation's round trip, which the context's remaining time does not count.
    answer_margin_seconds: float = env("ANSWER_MARGIN_SECONDS", 1.0)

    def call_budget_seconds(self) -> float:
        """The longest one table call can take: every botocore attempt timing out, with its backoff.

        botocore's standard retry mode sleeps up to 2**(attempt-1) s (at most 1 s for 2 attempts).
        """
        attempts = self.max_attempts
        backoff = sum(min(2.0**attempt, 20.0) for attempt in range(attempts - 1))
        return attempts * (self.connect_timeout_seconds + self.read_timeout_seconds) + backoff

    def repository(self) -> ProfileRepository:
        """The profile repository with the trigger's tight timeouts and bounded retries."""
        return ProfileRepository(aws.client_for("dynamodb", self), self.profile_table_name)


def new_profile(user_id: str, user_name: str, attributes: Mapping[str, Any]) -> Profile:
    """A new user's profile from Cognito's attributes, each value left out logged by field (never the value)."""
    profile, rejected = profile_from_cognito(user_id, user_name, attributes)
    for problem in rejected:
        logger.warning("Attribute left out of the profile", extra={"field": problem.field, "reason": problem.reason})
    return profile


def error_fields(exc: BaseException) -> dict[str, str]:
    """The error's type and code, for a log line (never its message, which may quote a value)."""
    return {"error": type(exc).__name__, "code": aws.error_code(exc)}
