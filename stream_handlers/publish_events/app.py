"""Profile table stream -> ProfileCreated / ProfileUpdated / ProfileDeleted events on EventBridge."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import settings
from shared.observability import MetricUnit, logger, metrics
from shared.streams import Deadline
from stream_handlers.publish_events.publisher import Publisher, PublishSettings


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings.load(PublishSettings)
    publisher = Publisher(
        config,
        config.client("events"),
        lambda: config.client("sqs"),  # created on first use: poison is rare
        Deadline(context, config.answer_margin_seconds),
    )
    result = publisher.publish(event.get("Records") or [])

    metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=result.published)
    metrics.add_metric(name="ChangesSkipped", unit=MetricUnit.Count, value=result.skipped)
    if result.failed_sequence_number:
        metrics.add_metric(name="BatchItemFailures", unit=MetricUnit.Count, value=1)
    logger.info(
        "Batch published",
        extra={
            "published": result.published,
            "skipped": result.skipped,
            "poisoned": result.poisoned,
            "put_events_calls": len(result.calls),
            "failed_sequence_number": result.failed_sequence_number,
        },
    )
    return result.response()
