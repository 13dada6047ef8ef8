"""Profile table stream -> the attributes Cognito must also hold (never the other way round)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.cognito_sync import sync_records
from shared.observability import logger, metrics


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return sync_records(event.get("Records") or [], context)
