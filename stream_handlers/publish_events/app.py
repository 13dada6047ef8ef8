"""Profile table stream -> ProfileCreated / ProfileUpdated / ProfileDeleted events on EventBridge."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.observability import logger, metrics
from shared.publisher import publish_records


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return publish_records(event.get("Records") or [], context)
