"""Profile table stream -> the attributes Cognito must also hold (never the other way round)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import settings
from shared.observability import MetricUnit, logger, metrics
from shared.streams import Deadline
from stream_handlers.sync_cognito.sync import CognitoSync, SyncSettings, limiter


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings.load(SyncSettings)
    syncer = CognitoSync(
        config,
        config.client("cognito-idp"),  # one attempt per call: every attempt passes the rate limiter
        lambda: config.client("sqs"),  # created on first use: poison is rare
        limiter(config.cognito_rate_share * config.cognito_quota_per_second),
        Deadline(context, config.answer_margin_seconds),
    )
    result = syncer.sync(event.get("Records") or [])

    metrics.add_metric(name="CognitoUsersSynced", unit=MetricUnit.Count, value=result.users_synced)
    metrics.add_metric(name="CognitoCalls", unit=MetricUnit.Count, value=result.calls)
    logger.info(
        "Batch synced",
        extra={
            "cognito_calls": result.calls,
            "users_synced": result.users_synced,
            "users_missing": result.users_missing,
            "refused": result.refused,
            "poisoned": result.poisoned,
            "failed_sequence_number": result.failed_sequence_number,
        },
    )
    return result.response()
