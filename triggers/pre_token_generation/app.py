"""Cognito pre-token-generation trigger (V1, V2 and V3 events): profile claims into tokens."""

from typing import TYPE_CHECKING, Any

from shared.observability import logger, metrics
from shared.triggers import add_profile_claims

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
    add_profile_claims(event, context)
    return event
