"""Cognito post-confirmation trigger: a confirmed sign-up creates the user's profile.

The event is read as a plain dict: powertools' Cognito data classes cost about 15 ms of
cold start (their package imports every data class), a tenth of the trigger's budget.
"""

from typing import TYPE_CHECKING, Any

from shared import settings
from shared.observability import logger, metrics
from shared.triggers import TriggerSettings
from triggers.post_confirmation.sign_up import create_profile_on_sign_up

SIGN_UP = "PostConfirmation_ConfirmSignUp"
FORGOT_PASSWORD = "PostConfirmation_ConfirmForgotPassword"

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
    source = event.get("triggerSource")
    if source == SIGN_UP:
        request = event.get("request") or {}
        repo = settings.load(TriggerSettings).repository()
        create_profile_on_sign_up(repo, str(event.get("userName") or ""), request.get("userAttributes") or {})
    elif source == FORGOT_PASSWORD:
        logger.info("Password reset confirmed; profile untouched")
    else:
        logger.warning("Unknown trigger source; event returned unchanged", extra={"trigger_source": source})
    return event
