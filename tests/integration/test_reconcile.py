"""The drift reconciliation on the local stack: a user deleted in cognito-local directly is found and repaired."""

import uuid

import pytest

from lifecycle.reconcile.drift import Kind, Outcome, Pacing, Reconciler, Report
from local import scenario
from local.stack import Stack

pytestmark = pytest.mark.integration


def reconcile(stack: Stack, *, repair: bool = False, max_deletes: int = 0) -> Report:
    """A run over the stack's pool and table with the clients ``python -m ops reconcile --local`` makes."""
    target = stack.ops_target()
    return Reconciler(
        target.client("cognito-idp"),
        target.client("dynamodb"),
        target.user_pool_id,
        target.table_name,
        Pacing.share(1.0),
        repair=repair,
        max_deletes=max_deletes,
    ).run()


def test_a_user_deleted_in_cognito_is_found_then_its_profile_deleted_and_no_drift_remains(stack: Stack) -> None:
    # Given two users who signed up (their profiles made by the trigger); one is then deleted in
    # cognito-local directly, where no trigger tells the table
    kept = scenario.sign_up(stack, f"kept-{uuid.uuid4().hex[:8]}@example.com", {"name": "Ada Lovelace"})
    email = f"gone-{uuid.uuid4().hex[:8]}@example.com"
    gone = scenario.sign_up(stack, email, {"name": "Grace Hopper"})
    scenario.wait_for(lambda: scenario.profile(stack, gone), "the trigger's profile")
    stack.client("cognito-idp").admin_delete_user(UserPoolId=stack.user_pool_id, Username=email)
    # When a report-only run looks, Then it names the orphan and deletes nothing
    report = reconcile(stack)
    assert report.complete, report.errors
    assert gone in report.subs[Kind.ORPHAN_PROFILE][Outcome.FOUND]
    assert kept not in str(report.to_json())
    assert scenario.profile(stack, gone) is not None
    # When a repairing run may delete every orphan found (the session's stack is shared: other
    # tests leave profiles of their own pools in its table), Then the orphan's profile goes and
    # the other stays
    orphans = report.count(Kind.ORPHAN_PROFILE, Outcome.FOUND)
    report = reconcile(stack, repair=True, max_deletes=orphans)
    assert report.complete, report.errors
    assert gone in report.subs[Kind.ORPHAN_PROFILE][Outcome.REPAIRED]
    assert report.total(Outcome.FAILED) == 0
    assert scenario.profile(stack, gone) is None
    assert scenario.profile(stack, kept) is not None
    # And a final run reports no drift
    final = reconcile(stack)
    assert (final.complete, final.drift) == (True, 0), final.table()
