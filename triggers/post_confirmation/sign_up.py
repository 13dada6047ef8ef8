"""Post-confirmation: a confirmed sign-up creates the user's profile."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.observability import MetricUnit, logger, metrics
from shared.repository import ProfileRepository
from shared.triggers import STORE_ERRORS, error_fields, new_profile


def create_profile_on_sign_up(repo: ProfileRepository, user_name: str, attributes: Mapping[str, Any]) -> None:
    """Create the new user's profile unless it exists (Cognito may deliver the trigger twice).

    A store failure does not fail the sign-up: the user is confirmed either way, and the
    pre-token trigger creates the missing profile from the same attributes on sign-in.
    """
    user_id = attributes.get("sub")
    if not user_id:
        logger.error("Sign-up event has no sub attribute; no profile written")
        return
    profile = new_profile(str(user_id), user_name, attributes)
    try:
        _, created = repo.create_if_absent(profile)
    except STORE_ERRORS as exc:
        logger.error("Profile not created; the pre-token trigger will create it", extra=error_fields(exc))
        metrics.add_metric(name="ProfileCreateFailed", unit=MetricUnit.Count, value=1)
        return
    logger.info("Profile created" if created else "Profile already existed; left unchanged")
    metrics.add_metric(name="ProfileCreated" if created else "ProfileCreateRepeated", unit=MetricUnit.Count, value=1)
