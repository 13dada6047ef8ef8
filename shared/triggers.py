"""What the Cognito triggers do, apart from reading the event and returning it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws, settings
from shared.claims import Claims, build_claims
from shared.observability import MetricUnit, logger, metrics
from shared.profile import Profile, profile_from_cognito
from shared.repository import ProfileRepository

SIGN_UP = "PostConfirmation_ConfirmSignUp"
FORGOT_PASSWORD = "PostConfirmation_ConfirmForgotPassword"
MACHINE_TO_MACHINE = "TokenGeneration_ClientCredentials"
STORE_ERRORS = (BotoCoreError, ClientError)


@dataclasses.dataclass(frozen=True)
class TriggerSettings:
    """What the Cognito triggers need. Their AWS calls must fit well inside 5 s."""

    profile_table_name: str
    connect_timeout_seconds: float = 0.5
    read_timeout_seconds: float = 0.5
    max_attempts: int = 2
    # Pre-token generation only. "open": issue the token without profile claims when the
    # table is unreachable; "closed": refuse the sign-in.
    on_store_error: Literal["open", "closed"] = "open"
    claims_budget_bytes: int = 2048


class ProfileStoreUnavailable(RuntimeError):
    """Raised to fail a sign-in closed when the profile table cannot be reached."""


def repository(config: TriggerSettings) -> ProfileRepository:
    """The profile repository with the trigger's tight timeouts and bounded retries."""
    client = aws.client(
        "dynamodb",
        connect_timeout=config.connect_timeout_seconds,
        read_timeout=config.read_timeout_seconds,
        max_attempts=config.max_attempts,
    )
    return ProfileRepository(client, config.profile_table_name)


def create_profile_on_sign_up(user_name: str, attributes: Mapping[str, Any]) -> None:
    """Create the new user's profile unless it exists (Cognito may deliver the trigger twice).

    A store failure does not fail the sign-up: the user is confirmed either way, and the
    pre-token trigger creates the missing profile from the same attributes on sign-in.
    """
    user_id = attributes.get("sub")
    if not user_id:
        logger.error("Sign-up event has no sub attribute; no profile written")
        return
    profile = _new_profile(str(user_id), user_name, attributes)
    try:
        _, created = repository(settings.load(TriggerSettings)).create_if_absent(profile)
    except STORE_ERRORS as exc:
        logger.error("Profile not created; the pre-token trigger will create it", extra=_error(exc))
        metrics.add_metric(name="ProfileCreateFailed", unit=MetricUnit.Count, value=1)
        return
    logger.info("Profile created" if created else "Profile already existed; left unchanged")
    metrics.add_metric(name="ProfileCreated" if created else "ProfileCreateRepeated", unit=MetricUnit.Count, value=1)


def add_profile_claims(event: MutableMapping[str, Any]) -> None:
    """Add the profile's claims to the token response of a pre-token-generation event.

    V1 events (and cognito-local's "0") get ID token claims as strings; V2/V3 events get
    JSON-typed claims in both tokens. The normal path is one read; a missing profile is
    created from the event's attributes (admin-created and imported users never fire
    post-confirmation).
    """
    if event.get("triggerSource") == MACHINE_TO_MACHINE:
        return  # client credentials: no user, no profile
    request = event.get("request") or {}
    attributes = request.get("userAttributes") or {}
    user_id = attributes.get("sub")
    if not user_id:
        logger.warning("Token event has no sub attribute; token issued without profile claims")
        return
    config = settings.load(TriggerSettings)
    try:
        profile = _read_or_create(repository(config), str(user_id), event.get("userName", ""), attributes)
    except STORE_ERRORS as exc:
        metrics.add_metric(name="ProfileStoreUnavailable", unit=MetricUnit.Count, value=1)
        if config.on_store_error == "closed":
            raise ProfileStoreUnavailable("profile store unavailable; sign-in refused") from exc
        logger.warning("Profile store unavailable; token issued without profile claims", extra=_error(exc))
        return

    if str(event.get("version")) in ("2", "3"):
        _respond_v2(event, profile, config.claims_budget_bytes)
    else:
        _respond_v1(event, profile, config.claims_budget_bytes)


def _read_or_create(repo: ProfileRepository, user_id: str, user_name: str, attributes: Mapping[str, Any]) -> Profile:
    profile = repo.get(user_id)
    if profile is not None:
        return profile
    profile, created = repo.create_if_absent(_new_profile(user_id, user_name, attributes))
    logger.info("Profile was missing; created on sign-in" if created else "Profile appeared concurrently")
    metrics.add_metric(name="ProfileCreatedOnSignIn", unit=MetricUnit.Count, value=1)
    return profile


def _new_profile(user_id: str, user_name: str, attributes: Mapping[str, Any]) -> Profile:
    profile, rejected = profile_from_cognito(user_id, user_name, attributes)
    for problem in rejected:
        logger.warning("Attribute left out of the profile", extra={"field": problem.field, "reason": problem.reason})
    return profile


def _claims(profile: Profile, token: str, strings_only: bool, budget: int) -> dict[str, Any]:
    result: Claims = build_claims(profile.fields, token, strings_only=strings_only, budget_bytes=budget)  # type: ignore[arg-type]
    if result.dropped:
        logger.warning("Claims dropped to fit the size budget", extra={"token": token, "dropped": list(result.dropped)})
        metrics.add_metric(name="ClaimsDropped", unit=MetricUnit.Count, value=len(result.dropped))
    return result.claims


def _respond_v1(event: MutableMapping[str, Any], profile: Profile, budget: int) -> None:
    response = event.setdefault("response", {})
    details = response.get("claimsOverrideDetails") or {}
    details["claimsToAddOrOverride"] = {
        **(details.get("claimsToAddOrOverride") or {}),
        **_claims(profile, "id", True, budget),
    }
    response["claimsOverrideDetails"] = details


def _respond_v2(event: MutableMapping[str, Any], profile: Profile, budget: int) -> None:
    response = event.setdefault("response", {})
    details = response.get("claimsAndScopeOverrideDetails") or {}
    for key, token in (("idTokenGeneration", "id"), ("accessTokenGeneration", "access")):
        generation = details.get(key) or {}
        generation["claimsToAddOrOverride"] = {
            **(generation.get("claimsToAddOrOverride") or {}),
            **_claims(profile, token, False, budget),
        }
        details[key] = generation
    response["claimsAndScopeOverrideDetails"] = details


def _error(exc: Exception) -> dict[str, str]:
    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
    return {"error": type(exc).__name__, "code": code}
