"""The example consumer: profile events from its SQS queue -> its own copy of the profiles.

SQS delivers at least once and EventBridge delivers out of order; the consumer kit's ``apply``
makes the copy end equal to the profile table anyway. Each message is one event; a message that
fails (an event the kit refuses, a DynamoDB error) is reported alone as a batch item failure
(https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html), so SQS delivers
it again and, after the queue's maxReceiveCount, moves it to the dead-letter queue.
"""

from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from consumers.example.copies import ConsumerSettings, CopyTable
from profile_sync_consumer.events import EventError, parse_sqs_body
from shared import settings
from shared.aws import error_code
from shared.observability import MetricUnit, logger, metrics

processor = BatchProcessor(event_type=EventType.SQS)


def apply_message(copies: CopyTable, record: SQSRecord) -> None:
    """Apply one message's event; raises to fail this message alone."""
    try:
        event = parse_sqs_body(record.body)
    except EventError as exc:
        # The reason names the problem, never a value; the message goes to the DLQ after its retries.
        logger.warning("Event refused", extra={"message_id": record.message_id, "reason": str(exc)})
        metrics.add_metric(name="EventsRefused", unit=MetricUnit.Count, value=1)
        raise
    try:
        changed = copies.apply(event)
    except Exception as exc:
        # The error's type and AWS code only: a message may quote what was sent.
        problem = {"message_id": record.message_id, "user_id": event.user_id, "error": type(exc).__name__}
        logger.error("Event not applied", extra={**problem, "code": error_code(exc)})
        raise
    metrics.add_metric(name="EventsApplied" if changed else "EventsSkipped", unit=MetricUnit.Count, value=1)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    config = settings.load(ConsumerSettings)
    copies = CopyTable(config.client(), config.table_name, config.write_attempts, config.tombstone_days)
    return process_partial_response(
        event=event, record_handler=partial(apply_message, copies), processor=processor, context=context
    )
