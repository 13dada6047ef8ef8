"""Cognito post-confirmation trigger: a confirmed sign-up creates the user's profile."""

from typing import Any

from aws_lambda_powertools.utilities.data_classes.cognito_user_pool_event import PostConfirmationTriggerEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.observability import logger, metrics
from shared.triggers import FORGOT_PASSWORD, SIGN_UP, create_profile_on_sign_up


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    trigger = PostConfirmationTriggerEvent(event)
    source = trigger.trigger_source
    if source == SIGN_UP:
        create_profile_on_sign_up(trigger.user_name, trigger.request.user_attributes)
    elif source == FORGOT_PASSWORD:
        logger.info("Password reset confirmed; profile untouched")
    else:
        logger.warning("Unknown trigger source; event returned unchanged", extra={"trigger_source": source})
    return event
