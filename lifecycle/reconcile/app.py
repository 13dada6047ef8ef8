"""The scheduled reconciliation: the pool against the table, repaired within Cognito's quotas.

Off unless the stack's ``ReconcileSchedule`` parameter names a schedule. One invocation runs
one whole reconciliation, for pools up to about 200,000 users (docs/reconcile.md); past that,
the run stops before its deadline, says so (``ReconcileFailed``) and deletes nothing.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from lifecycle.reconcile.drift import Kind, Outcome, Pacing, Reconciler
from shared import aws, settings
from shared.observability import MetricUnit, logger, metrics
from shared.settings import env

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# One metric per kind of drift, counting every finding of that kind, repaired or not.
DRIFT_METRICS = {
    Kind.MISSING_PROFILE: "DriftMissingProfile",
    Kind.ORPHAN_PROFILE: "DriftOrphanProfile",
    Kind.SYNCED_ATTRIBUTES: "DriftSyncedAttributes",
    Kind.IDP_FIELDS: "DriftIdpFields",
    Kind.UNDECODABLE_PROFILE: "DriftUndecodableProfile",
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReconcileSettings:
    profile_table_name: str = env("PROFILE_TABLE_NAME")
    user_pool_id: str = env("USER_POOL_ID")
    repair: bool = env("REPAIR", True)
    max_deletes: int = env("MAX_DELETES", 10)
    # Share of each Cognito quota (ListUsers 30, AdminUpdateUserAttributes 25, AdminGetUser
    # 120 req/s per account and Region) a run may take; the rest is the users' and the sync's.
    cognito_rate_share: float = env("COGNITO_RATE_SHARE", 0.25)
    stop_margin_seconds: float = env("STOP_MARGIN_SECONDS", 30.0)
    connect_timeout_seconds: float = env("CONNECT_TIMEOUT_SECONDS", 2.0)
    read_timeout_seconds: float = env("READ_TIMEOUT_SECONDS", 10.0)
    max_attempts: int = env("MAX_ATTEMPTS", 4)  # standard retry mode: throttling backs off, then fails

    def client(self, service: str) -> Any:
        return aws.client_for(service, self)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings.load(ReconcileSettings)
    reconciler = Reconciler(
        config.client("cognito-idp"),
        config.client("dynamodb"),
        config.user_pool_id,
        config.profile_table_name,
        Pacing.share(config.cognito_rate_share),
        repair=config.repair,
        max_deletes=config.max_deletes,
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
        stop_margin_seconds=config.stop_margin_seconds,
    )
    report = reconciler.run()

    for kind, name in DRIFT_METRICS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=report.count(kind))
    metrics.add_metric(name="DriftRepaired", unit=MetricUnit.Count, value=report.total(Outcome.REPAIRED))
    metrics.add_metric(name="DriftRepairFailed", unit=MetricUnit.Count, value=report.total(Outcome.FAILED))
    # 1 when the run stopped short, or a call or a repair failed: what ReconcileFailedAlarm watches.
    metrics.add_metric(name="ReconcileFailed", unit=MetricUnit.Count, value=1 if report.failed else 0)
    summary = report.summary()
    if report.failed:
        logger.error("Reconciliation did not finish cleanly", extra={**summary, "problems": report.errors})
    else:
        logger.info("Reconciled", extra=summary)
    return summary
