"""Pre-token generation: the profile's claims into the tokens, read (or created) in one call."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, Literal

from shared.aws import RemainingTime
from shared.observability import MetricUnit, logger, metrics
from shared.profile import Profile, UndecodableProfile, idp_changes
from shared.repository import ProfileRepository, VersionConflict
from shared.settings import env
from shared.triggers import STORE_ERRORS, TriggerSettings, error_fields, new_profile
from triggers.pre_token_generation.claims import Claims, Token, build_claims

MACHINE_TO_MACHINE = "TokenGeneration_ClientCredentials"


@dataclasses.dataclass(frozen=True, kw_only=True)
class PreTokenSettings(TriggerSettings):
    # "open": issue the token without profile claims when the table is unreachable; "closed": refuse the sign-in.
    on_store_error: Literal["open", "closed"] = env("ON_STORE_ERROR", "open")
    claims_budget_bytes: int = env("CLAIMS_BUDGET_BYTES", 2048)


class ProfileStoreUnavailable(RuntimeError):
    """Raised to fail a sign-in closed when the profile table cannot be reached."""


class _OutOfTime(Exception):
    """Not enough of the trigger's time is left for another table call."""


def add_profile_claims(
    event: MutableMapping[str, Any], context: RemainingTime, config: PreTokenSettings, repo: ProfileRepository
) -> None:
    """Add the profile's claims to the token response of a pre-token-generation event.

    V1 events (and cognito-local's "0") get ID token claims as strings; V2/V3 events get
    JSON-typed claims in both tokens. The normal path is one read. A missing profile is
    created from the event's attributes (admin-created and imported users never fire
    post-confirmation), and changed IdP-owned fields (email, email_verified, providers)
    are applied with one version-conditional update. A write is made only while the
    context leaves time for it, so the trigger always answers within Cognito's 5 s.
    Without a profile (store error, fail-open) the ID token states none of the attributes
    the profile owns.
    """
    if event.get("triggerSource") == MACHINE_TO_MACHINE:
        return  # client credentials: no user, no profile
    request = event.get("request") or {}
    attributes = request.get("userAttributes") or {}
    user_id = attributes.get("sub")
    if not user_id:
        logger.warning("Token event has no sub attribute; token issued without profile claims")
        return

    def time_for_a_write() -> bool:
        remaining = context.get_remaining_time_in_millis() / 1000
        return remaining >= config.call_budget_seconds() + config.answer_margin_seconds

    fields: Mapping[str, Any]
    try:
        user_name = str(event.get("userName") or "")
        fields = _profile_for_sign_in(repo, str(user_id), user_name, attributes, time_for_a_write).fields
    except (*STORE_ERRORS, UndecodableProfile, _OutOfTime) as exc:
        _store_failed(exc, config)
        fields = {}

    version = str(event.get("version"))
    if version in ("2", "3"):
        _respond_v2(event, fields, config.claims_budget_bytes)
        return
    if "scopes" in request:
        # A V2 pool answered with V1 claims would lose the access token's claims: say so.
        logger.warning(
            "Pre-token event carries V2 fields but is not version 2 or 3; answered as V1",
            extra={"event_version": version},
        )
    _respond_v1(event, fields, config.claims_budget_bytes)


def _store_failed(exc: Exception, config: PreTokenSettings) -> None:
    """Apply the store-error policy: no claims (open) or no token (closed), logged and counted."""
    extra: dict[str, str]
    if isinstance(exc, UndecodableProfile):
        metric, problem, extra = "ProfileUndecodable", "Stored profile cannot be read", {"attribute": exc.attribute}
    elif isinstance(exc, _OutOfTime):
        metric, problem, extra = "ProfileStoreOutOfTime", "No time left to create the missing profile", {}
    else:
        metric, problem, extra = "ProfileStoreUnavailable", "Profile store unavailable", error_fields(exc)
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    if config.on_store_error == "closed":
        logger.error(f"{problem}; sign-in refused", extra=extra)
        raise ProfileStoreUnavailable(f"{problem}; sign-in refused") from exc
    logger.warning(f"{problem}; token issued without profile claims", extra=extra)


def _profile_for_sign_in(
    repo: ProfileRepository,
    user_id: str,
    user_name: str,
    attributes: Mapping[str, Any],
    time_for_a_write: Callable[[], bool],
) -> Profile:
    """The user's profile: one read; created when missing, its IdP-owned fields refreshed when changed."""
    profile = repo.get(user_id)
    if profile is not None:
        return _refresh_idp_fields(repo, profile, attributes, time_for_a_write)
    if not time_for_a_write():
        raise _OutOfTime
    profile, created = repo.create_if_absent(new_profile(user_id, user_name, attributes))
    if created:
        logger.info("Profile was missing; created on sign-in")
        metrics.add_metric(name="ProfileCreatedOnSignIn", unit=MetricUnit.Count, value=1)
    else:
        logger.info("Profile appeared concurrently; the other writer's profile is used")
        metrics.add_metric(name="ProfileCreateRaceLost", unit=MetricUnit.Count, value=1)
    return profile


def _refresh_idp_fields(
    repo: ProfileRepository,
    profile: Profile,
    attributes: Mapping[str, Any],
    time_for_a_write: Callable[[], bool],
) -> Profile:
    """Apply IdP-owned fields that changed in Cognito with one conditional update, only when needed.

    Best effort: no IdP-owned field is a claim, so a refresh that cannot be made now leaves
    the token as it would have been, and the next sign-in applies it.
    """
    changes, rejected = idp_changes(profile, attributes)
    for problem in rejected:
        logger.warning("Attribute not applied to the profile", extra={"field": problem.field, "reason": problem.reason})
    if not changes:
        return profile
    fields: dict[str, Any] = {"fields": sorted(changes)}
    if not time_for_a_write():
        logger.warning("No time left to refresh IdP-owned fields; the next sign-in applies them", extra=fields)
        metrics.add_metric(name="ProfileStoreOutOfTime", unit=MetricUnit.Count, value=1)
        return profile
    try:
        refreshed = repo.update(profile.user_id, changes, expected_version=profile.version)
    except VersionConflict:
        logger.info("Profile changed concurrently; the next sign-in applies the IdP-owned fields", extra=fields)
        metrics.add_metric(name="IdpRefreshConflict", unit=MetricUnit.Count, value=1)
        return profile
    except STORE_ERRORS as exc:
        logger.warning("IdP-owned fields not refreshed; the table did not answer", extra=fields | error_fields(exc))
        metrics.add_metric(name="IdpRefreshFailed", unit=MetricUnit.Count, value=1)
        return profile
    logger.info("IdP-owned fields refreshed from Cognito", extra=fields)
    metrics.add_metric(name="IdpFieldsRefreshed", unit=MetricUnit.Count, value=1)
    return refreshed


def _claims(fields: Mapping[str, Any], token: Token, strings_only: bool, budget: int) -> Claims:
    result = build_claims(fields, token, strings_only=strings_only, budget_bytes=budget)
    if result.dropped:
        logger.warning("Claims dropped to fit the size budget", extra={"token": token, "dropped": list(result.dropped)})
        metrics.add_metric(name="ClaimsDropped", unit=MetricUnit.Count, value=len(result.dropped))
    return result


def _apply(generation: Mapping[str, Any], claims: Claims) -> dict[str, Any]:
    """One token's response section with ``claims`` merged in, keeping what an earlier writer put there.

    The profile decides the claims it adds or suppresses; no claim ends up both added and suppressed.
    """
    added = {
        name: value
        for name, value in (generation.get("claimsToAddOrOverride") or {}).items()
        if name not in claims.suppress
    }
    suppressed = [name for name in generation.get("claimsToSuppress") or [] if name not in claims.claims]
    section = {**generation, "claimsToAddOrOverride": {**added, **claims.claims}}
    if suppressed or claims.suppress:
        section["claimsToSuppress"] = list(dict.fromkeys([*suppressed, *claims.suppress]))
    return section


def _respond_v1(event: MutableMapping[str, Any], fields: Mapping[str, Any], budget: int) -> None:
    response = event.get("response") or {}
    details = response.get("claimsOverrideDetails") or {}
    response["claimsOverrideDetails"] = _apply(details, _claims(fields, "id", True, budget))
    event["response"] = response


_V2_SECTIONS: tuple[tuple[str, Token], ...] = (("idTokenGeneration", "id"), ("accessTokenGeneration", "access"))


def _respond_v2(event: MutableMapping[str, Any], fields: Mapping[str, Any], budget: int) -> None:
    response = event.get("response") or {}
    details = response.get("claimsAndScopeOverrideDetails") or {}
    for key, token in _V2_SECTIONS:
        details[key] = _apply(details.get(key) or {}, _claims(fields, token, False, budget))
    response["claimsAndScopeOverrideDetails"] = details
    event["response"] = response
