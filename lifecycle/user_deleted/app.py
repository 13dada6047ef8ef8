"""Account deletion queue -> the deleted user's profile is deleted (CloudTrail deletions, second deletes)."""

from typing import TYPE_CHECKING, Any

from lifecycle.user_deleted.deletions import UserDeletedSettings, delete_profiles
from shared import settings
from shared.observability import MetricUnit, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
    config = settings.load(UserDeletedSettings)
    outcome = delete_profiles(config.repository(), event.get("Records") or [])
    metrics.add_metric(name="ProfilesOfDeletedUsersDeleted", unit=MetricUnit.Count, value=outcome.deleted)
    metrics.add_metric(name="AccountDeletionFailures", unit=MetricUnit.Count, value=len(outcome.failed))
    logger.info(
        "Batch of deletions",
        extra={"deleted": outcome.deleted, "absent": outcome.absent, "failed": len(outcome.failed)},
    )
    return outcome.response()
