"""Cognito pre-token-generation trigger (V1, V2 and V3 events): profile claims into tokens."""

from typing import TYPE_CHECKING, Any

from shared import settings
from shared.observability import logger, metrics
from triggers.pre_token_generation.sign_in import PreTokenSettings, add_profile_claims

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
    config = settings.load(PreTokenSettings)
    add_profile_claims(event, context, config, config.repository())
    return event
