"""Drift reconciliation under moto: each kind found and repaired, exact calls, the deletion cap, the sign-up race.

The pool and the table are template.yaml's, in-process; Cognito calls are paced on a simulated
clock, so no test waits for a token bucket.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from lifecycle.reconcile.app import handler
from lifecycle.reconcile.drift import Kind, Outcome, Pacing, Reconciler, Report
from lifecycle.users import CognitoUser
from local.support import LambdaContext, MotoStack, moto_stack
from shared.profile import Profile
from tests.streams import FakeClock

RUN_START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
BEFORE_RUN = "2026-11-28T11:00:00.000Z"
EMAIL = "ada@example.com"  # PII that must never reach a report


@pytest.fixture
def stack(aws_env: None) -> Iterator[MotoStack]:
    with moto_stack() as stack:
        yield stack


def cognito(stack: MotoStack) -> Any:
    return stack.session.client("cognito-idp")


def given_user(stack: MotoStack, username: str, **attributes: str) -> CognitoUser:
    """A Cognito user (AdminCreateUser) as ListUsers returns it."""
    client = cognito(stack)
    client.admin_create_user(
        UserPoolId=stack.user_pool_id,
        Username=username,
        UserAttributes=[{"Name": name, "Value": value} for name, value in attributes.items()],
        MessageAction="SUPPRESS",
    )
    return get_user(stack, username)


def get_user(stack: MotoStack, username: str) -> CognitoUser:
    answer = cognito(stack).admin_get_user(UserPoolId=stack.user_pool_id, Username=username)
    return CognitoUser.from_list_users({**answer, "Attributes": answer["UserAttributes"]})


def given_profile(stack: MotoStack, user: CognitoUser, created_at: str = BEFORE_RUN, **fields: Any) -> Profile:
    """The profile a trigger creates for ``user`` (created before the run), with ``fields`` on top."""
    made, _ = user.profile()
    profile = Profile(
        user_id=made.user_id,
        username=made.username,
        created_at=created_at,
        updated_at=created_at,
        fields={**made.fields, **fields},
        version=made.version,
    )
    stack.repository.create_if_absent(profile)
    return profile


def in_sync(stack: MotoStack, username: str, **attributes: str) -> CognitoUser:
    """A user and the profile a trigger made for it: no drift."""
    user = given_user(stack, username, **attributes)
    given_profile(stack, user)
    return user


def reconciler(
    stack: MotoStack, *, repair: bool = False, max_deletes: int = 0, clock: FakeClock | None = None, **options: Any
) -> Reconciler:
    """The reconciliation with recorded clients, on a simulated clock; the calls made so far are forgotten."""
    clock = clock or FakeClock()
    stack.calls.clear()
    return Reconciler(
        cognito(stack),
        stack.session.client("dynamodb"),
        stack.user_pool_id,
        stack.table_name,
        Pacing.share(0.5, clock=clock, sleep=clock.sleep),
        repair=repair,
        max_deletes=max_deletes,
        now=lambda: RUN_START,
        sleep=clock.sleep,
        **options,
    )


def attributes(stack: MotoStack, username: str) -> dict[str, str]:
    return get_user(stack, username).attributes


def only(report: Report, kind: Kind) -> dict[str, int]:
    """The outcomes of ``kind``, and that no other kind was found."""
    assert {found for found in Kind if report.count(found)} <= {kind}, report.summary()
    return {outcome.value: report.count(kind, outcome) for outcome in Outcome if report.count(kind, outcome)}


def test_a_pool_without_drift_reports_zero_and_writes_nothing(stack: MotoStack) -> None:
    # Given three users, each with the profile its trigger made
    for name in ("ada", "grace", "katherine"):
        in_sync(stack, name, email=f"{name}@example.com", name=name.title(), locale="en-GB")
    # When a repairing run compares them
    report = reconciler(stack, repair=True, max_deletes=5).run()
    # Then nothing drifted, and the run made one call of each reading kind and no write
    assert (report.drift, report.users, report.profiles, report.complete) == (0, 3, 3, True)
    assert stack.calls.counts == {"ListUsers": 1, "BatchGetItem": 1, "Scan": 1}


def test_a_user_without_profile_is_reported_then_created_as_the_trigger_would(stack: MotoStack) -> None:
    # Given a user whose profile was never made (an admin-created user who never signed in)
    user = given_user(stack, "ada", email=EMAIL, name="Ada Lovelace", locale="en-GB")
    # When a report-only run looks, Then it names the user and writes nothing
    report = reconciler(stack).run()
    assert only(report, Kind.MISSING_PROFILE) == {"found": 1}
    assert report.subs[Kind.MISSING_PROFILE][Outcome.FOUND] == [user.sub]
    assert stack.calls.counts == {"ListUsers": 1, "BatchGetItem": 1, "Scan": 1}
    assert stack.repository.get(user.sub) is None
    # When a repairing run looks, Then the user is confirmed with AdminGetUser and the profile is
    # the one the trigger makes, with one conditional put
    report = reconciler(stack, repair=True).run()
    assert only(report, Kind.MISSING_PROFILE) == {"repaired": 1}
    assert stack.calls.counts == {"ListUsers": 1, "BatchGetItem": 1, "AdminGetUser": 1, "PutItem": 1, "Scan": 1}
    assert stack.calls.of("AdminGetUser")[0]["Username"] == "ada"
    stored = stack.repository.get(user.sub)
    assert stored is not None
    assert dict(stored.fields) == dict(user.profile()[0].fields)
    assert stored.username == "ada"
    # And a third run finds nothing
    assert reconciler(stack, repair=True).run().drift == 0


def test_a_profile_whose_user_is_gone_is_confirmed_then_deleted(stack: MotoStack) -> None:
    # Given a profile whose Cognito user was deleted, beside a user in sync
    gone = given_user(stack, "gone", email="gone@example.com")
    given_profile(stack, gone)
    cognito(stack).admin_delete_user(UserPoolId=stack.user_pool_id, Username="gone")
    in_sync(stack, "ada", email=EMAIL)
    # When a report-only run looks, Then it confirms the orphan with one AdminGetUser and deletes nothing
    report = reconciler(stack).run()
    assert only(report, Kind.ORPHAN_PROFILE) == {"found": 1}
    assert report.subs[Kind.ORPHAN_PROFILE][Outcome.FOUND] == [gone.sub]
    assert stack.calls.counts == {"ListUsers": 1, "BatchGetItem": 1, "Scan": 1, "AdminGetUser": 1}
    # When a repairing run may delete one, Then it deletes that profile only
    report = reconciler(stack, repair=True, max_deletes=1).run()
    assert only(report, Kind.ORPHAN_PROFILE) == {"repaired": 1}
    assert stack.calls.counts == {"ListUsers": 1, "BatchGetItem": 1, "Scan": 1, "AdminGetUser": 1, "DeleteItem": 1}
    assert stack.repository.get(gone.sub) is None
    assert reconciler(stack, repair=True, max_deletes=1).run().drift == 0


def test_max_deletes_caps_the_profiles_deleted_and_reports_the_rest(stack: MotoStack) -> None:
    # Given three profiles whose users are gone
    subs = []
    for name in ("one", "two", "three"):
        user = given_user(stack, name)
        given_profile(stack, user)
        subs.append(user.sub)
        cognito(stack).admin_delete_user(UserPoolId=stack.user_pool_id, Username=name)
    # When a repairing run may delete none (the default), Then none goes
    report = reconciler(stack, repair=True).run()
    assert only(report, Kind.ORPHAN_PROFILE) == {"skipped": 3}
    assert report.reasons[Kind.ORPHAN_PROFILE] == {"max deletes reached": 3}
    assert "DeleteItem" not in stack.calls.counts
    # When it may delete two, Then exactly two go and the third is reported as left
    report = reconciler(stack, repair=True, max_deletes=2).run()
    assert only(report, Kind.ORPHAN_PROFILE) == {"repaired": 2, "skipped": 1}
    assert stack.calls.counts["DeleteItem"] == 2
    assert [sub for sub in subs if stack.repository.get(sub) is not None] == report.subs[Kind.ORPHAN_PROFILE][
        Outcome.SKIPPED
    ]


def test_synced_attributes_take_the_tables_values(stack: MotoStack) -> None:
    # Given a profile whose synced fields Cognito holds otherwise: a stale name, no plan,
    # and a locale the profile no longer has
    user = given_user(stack, "ada", email=EMAIL, name="Ada Lovelace", locale="en-GB")
    made = given_profile(stack, user)
    stack.repository.update(user.sub, {"display_name": "Ada King", "plan": "pro", "locale": None}, made.version)
    # When a report-only run looks, Then it names the attributes, never their values
    report = reconciler(stack).run()
    assert only(report, Kind.SYNCED_ATTRIBUTES) == {"found": 1}
    assert report.findings[0].names == ("custom:plan", "locale", "name")
    assert "Ada King" not in json.dumps(report.to_json()) + report.table()
    # When a repairing run fixes it, Then Cognito holds the profile's values, in one update and one delete
    report = reconciler(stack, repair=True).run()
    assert only(report, Kind.SYNCED_ATTRIBUTES) == {"repaired": 1}
    assert stack.calls.of("AdminUpdateUserAttributes")[0]["UserAttributes"] == [
        {"Name": "custom:plan", "Value": "pro"},
        {"Name": "name", "Value": "Ada King"},
    ]
    assert stack.calls.of("AdminDeleteUserAttributes")[0]["UserAttributeNames"] == ["locale"]
    assert stack.calls.counts == {
        "ListUsers": 1,
        "BatchGetItem": 1,
        "GetItem": 1,  # the profile read again just before the write
        "AdminUpdateUserAttributes": 1,
        "AdminDeleteUserAttributes": 1,
        "Scan": 1,
    }
    after = attributes(stack, "ada")
    assert (after["name"], after["custom:plan"], "locale" in after) == ("Ada King", "pro", False)
    assert reconciler(stack, repair=True).run().drift == 0


def test_a_profile_changed_since_the_page_was_read_is_left_to_the_stream_sync(stack: MotoStack) -> None:
    # Given a synced field that differs, and a profile edit landing after the page's read
    user = given_user(stack, "ada", email=EMAIL, name="Ada Lovelace")
    made = given_profile(stack, user, display_name="Ada King")
    run = reconciler(stack, repair=True)
    real_get = run._repository.get

    def edited_then_read(user_id: str) -> Profile | None:
        stack.repository.update(user_id, {"display_name": "Ada Byron"}, made.version)
        return real_get(user_id)

    run._repository.get = edited_then_read  # type: ignore[method-assign]
    # When the run repairs, Then it writes nothing to Cognito: the newer value is the sync's to write
    report = run.run()
    assert only(report, Kind.SYNCED_ATTRIBUTES) == {"skipped": 1}
    assert report.reasons[Kind.SYNCED_ATTRIBUTES] == {"profile changed meanwhile": 1}
    assert "AdminUpdateUserAttributes" not in stack.calls.counts
    assert attributes(stack, "ada")["name"] == "Ada Lovelace"


def test_idp_fields_take_cognitos_values_with_a_version_conditional_update(stack: MotoStack) -> None:
    # Given a user whose email changed in Cognito after the profile was made
    user = given_user(stack, "ada", email=EMAIL, email_verified="true")
    made = given_profile(stack, user)
    cognito(stack).admin_update_user_attributes(
        UserPoolId=stack.user_pool_id,
        Username="ada",
        UserAttributes=[
            {"Name": "email", "Value": "ada.king@example.com"},
            {"Name": "email_verified", "Value": "false"},
        ],
    )
    # When a report-only run looks, Then it names the fields and writes nothing
    report = reconciler(stack).run()
    assert only(report, Kind.IDP_FIELDS) == {"found": 1}
    assert report.findings[0].names == ("email", "email_verified")
    assert "ada.king" not in json.dumps(report.to_json()) + report.table()
    # When a repairing run fixes it, Then the profile takes Cognito's values, read again with AdminGetUser
    report = reconciler(stack, repair=True).run()
    assert only(report, Kind.IDP_FIELDS) == {"repaired": 1}
    assert stack.calls.counts == {"ListUsers": 1, "BatchGetItem": 1, "AdminGetUser": 1, "UpdateItem": 1, "Scan": 1}
    update = stack.calls.of("UpdateItem")[0]
    assert update["ExpressionAttributeValues"][":expected"] == {"N": str(made.version)}
    stored = stack.repository.get(user.sub)
    assert stored is not None
    assert (stored.fields["email"], stored.fields["email_verified"], stored.version) == (
        "ada.king@example.com",
        False,
        made.version + 1,
    )
    assert reconciler(stack, repair=True).run().drift == 0


def test_a_user_still_listed_after_deletion_gets_no_profile_back(stack: MotoStack) -> None:
    # Given a user without profile whom ListUsers still lists (eventually consistent) though
    # the account deletion removed it: AdminGetUser no longer finds it
    user = given_user(stack, "gone", email=EMAIL)

    def deleted(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        error = {"Error": {"Code": "UserNotFoundException", "Message": "User does not exist."}}
        return AWSResponse("https://cognito-idp.us-east-1.amazonaws.com/", 400, {}, None), error

    stack.session.events.register("before-call.cognito-identity-provider.AdminGetUser", deleted)
    # When a repairing run looks
    report = reconciler(stack, repair=True).run()
    # Then the finding is skipped with its reason, and nothing is written (no profile, no ProfileCreated)
    assert only(report, Kind.MISSING_PROFILE) == {"skipped": 1}
    assert report.reasons[Kind.MISSING_PROFILE] == {"user gone": 1}
    assert stack.calls.counts == {"ListUsers": 1, "BatchGetItem": 1, "AdminGetUser": 1, "Scan": 1}
    assert stack.repository.get(user.sub) is None


def test_a_user_who_signs_up_between_the_listing_and_the_scan_keeps_the_profile(stack: MotoStack) -> None:
    # Given a run that has listed the pool
    in_sync(stack, "ada", email=EMAIL)
    run = reconciler(stack, repair=True, max_deletes=10)
    assert run.compare_users()
    # When a user signs up now (its profile created after the run started), and another user,
    # created earlier but missed by the listing (eventual consistency), appears in the scan
    late = given_user(stack, "grace")
    given_profile(stack, late, created_at="2026-11-28T12:00:01.000Z")
    missed = given_user(stack, "katherine")
    given_profile(stack, missed, created_at=BEFORE_RUN)
    stack.calls.clear()
    assert run.find_orphans()
    # Then neither profile is deleted: the new one is not even looked up, the older one is
    # confirmed with AdminGetUser and found to have its user
    assert run.report.drift == 0
    assert stack.calls.counts == {"Scan": 1, "AdminGetUser": 1}
    assert stack.calls.of("AdminGetUser")[0]["Username"] == "katherine"
    assert stack.repository.get(late.sub) is not None
    assert stack.repository.get(missed.sub) is not None


def test_a_user_name_taken_again_by_another_user_does_not_save_the_old_profile(stack: MotoStack) -> None:
    # Given a profile whose user was deleted and whose user name a new user took
    old = given_user(stack, "ada", email=EMAIL)
    given_profile(stack, old)
    cognito(stack).admin_delete_user(UserPoolId=stack.user_pool_id, Username="ada")
    new = in_sync(stack, "ada", email=EMAIL)
    # When a repairing run may delete, Then the old profile goes and the new one stays
    report = reconciler(stack, repair=True, max_deletes=1).run()
    assert only(report, Kind.ORPHAN_PROFILE) == {"repaired": 1}
    assert report.subs[Kind.ORPHAN_PROFILE][Outcome.REPAIRED] == [old.sub]
    assert stack.repository.get(new.sub) is not None


def test_a_run_out_of_time_stops_listing_and_deletes_nothing(stack: MotoStack) -> None:
    # Given an orphan, and a run with less time left than its safety margin
    gone = given_user(stack, "gone")
    given_profile(stack, gone)
    cognito(stack).admin_delete_user(UserPoolId=stack.user_pool_id, Username="gone")
    run = reconciler(stack, repair=True, max_deletes=10, time_left=lambda: 10.0, stop_margin_seconds=30.0)
    # When it runs, Then it says it is incomplete, and neither scans nor deletes
    report = run.run()
    assert not report.complete
    assert report.failed
    assert report.errors == ["time ran out while listing users: the pool is too large for one invocation"]
    assert "Scan" not in stack.calls.counts
    assert stack.repository.get(gone.sub) is not None


def test_list_users_pages_are_paced_within_the_quota_share(stack: MotoStack) -> None:
    # Given 61 users: two ListUsers pages of at most 60
    for index in range(61):
        in_sync(stack, f"user{index:02}")
    clock = FakeClock()
    # When a run takes half of ListUsers' 30 req/s on a simulated clock
    report = reconciler(stack, clock=clock).run()
    # Then it makes two ListUsers calls, one BatchGetItem per page, and the second page waits 1/15 s
    assert (report.users, report.drift) == (61, 0)
    assert stack.calls.counts == {"ListUsers": 2, "BatchGetItem": 2, "Scan": 1}
    assert clock.slept == pytest.approx(1 / 15)


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def test_a_throttled_then_retried_list_users_takes_a_token_per_attempt(stack: MotoStack) -> None:
    # Given one user in sync, and Cognito throttling the first ListUsers attempt (botocore retries it)
    in_sync(stack, "ada", email=EMAIL)
    client = stack.session.client("cognito-idp", config=Config(retries={"mode": "standard", "total_max_attempts": 2}))
    attempts: list[float] = []
    clock = FakeClock()

    def throttle_first(**_: Any) -> AWSResponse | None:
        attempts.append(clock())
        if len(attempts) > 1:
            return None  # moto answers
        body = _Body(b'{"__type": "TooManyRequestsException", "message": "slow down"}')
        return AWSResponse(client.meta.endpoint_url, 400, {"Content-Type": "application/x-amz-json-1.1"}, body)

    client.meta.events.register("before-send.cognito-identity-provider.ListUsers", throttle_first)
    run = Reconciler(
        client,
        stack.session.client("dynamodb"),
        stack.user_pool_id,
        stack.table_name,
        Pacing.share(0.5, clock=clock, sleep=clock.sleep),
    )
    # When it runs
    report = run.run()
    # Then both attempts took a token from the ListUsers bucket (15 a second): the retry waited 1/15 s
    assert (report.complete, report.users, report.drift) == (True, 1, 0)
    assert attempts == pytest.approx([0.0, 1 / 15])
    assert clock.slept == pytest.approx(1 / 15)


def test_the_scheduled_function_counts_each_kind_of_drift(
    stack: MotoStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the function's environment from template.yaml, one orphan and one user without profile
    for name, value in stack.environment("ReconcileFunction").items():
        monkeypatch.setenv(name, value)
    gone = given_user(stack, "gone")
    given_profile(stack, gone, created_at=(RUN_START - timedelta(days=400)).isoformat().replace("+00:00", "Z"))
    cognito(stack).admin_delete_user(UserPoolId=stack.user_pool_id, Username="gone")
    given_user(stack, "ada", email=EMAIL)
    # When the schedule invokes it
    summary = handler({"source": "aws.events"}, LambdaContext.of("ReconcileFunction"))
    # Then it repairs both (MAX_DELETES is the template's 10) and emits one metric per kind
    assert summary["orphan_profile"] == {"repaired": 1}
    assert summary["missing_profile"] == {"repaired": 1}
    printed = capsys.readouterr().out
    emitted = [json.loads(line) for line in printed.splitlines() if '"_aws"' in line]
    metrics = {
        definition["Name"]: document[definition["Name"]]
        for document in emitted
        for directive in document["_aws"]["CloudWatchMetrics"]
        for definition in directive["Metrics"]
    }
    assert metrics["DriftOrphanProfile"] == [1.0]
    assert metrics["DriftMissingProfile"] == [1.0]
    assert metrics["DriftSyncedAttributes"] == [0.0]
    assert metrics["ReconcileFailed"] == [0.0]
    assert EMAIL not in printed


# --- python -m ops reconcile -------------------------------------------------------------


def ops(stack: MotoStack, *arguments: str) -> int:
    from ops.__main__ import main

    return main(["reconcile", "--user-pool-id", stack.user_pool_id, "--table-name", stack.table_name, *arguments])


def test_ops_reconcile_prints_a_table_of_subs_and_exits_3_when_drift_is_left(
    stack: MotoStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a user without profile
    user = given_user(stack, "ada", email=EMAIL, name="Ada Lovelace")
    # When the operator runs a report
    status = ops(stack)
    # Then the table counts the kind and names the sub, never the email or the name; drift is left: 3
    printed = capsys.readouterr().out
    assert status == 3
    assert re.search(r"^missing_profile +1 +1 +0 +0 +0$", printed, re.MULTILINE)
    assert user.sub in printed
    assert EMAIL not in printed
    assert "Ada" not in printed
    assert stack.repository.get(user.sub) is None


def test_ops_reconcile_repair_writes_json_and_exits_0_once_nothing_is_left(
    stack: MotoStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a user without profile
    user = given_user(stack, "ada", email=EMAIL)
    # When the operator repairs with the JSON report on stdout
    status = ops(stack, "--repair", "--json", "-")
    # Then the document says what was repaired, and the exit status says nothing is left
    document = json.loads(capsys.readouterr().out)
    assert status == 0
    assert document["kinds"]["missing_profile"]["repaired"] == 1
    assert document["kinds"]["missing_profile"]["subs"] == {"repaired": [user.sub]}
    assert document["complete"] is True
    assert stack.repository.get(user.sub) is not None


def test_ops_reconcile_with_an_unwritable_json_path_says_so_in_one_line_and_exits_1(
    stack: MotoStack, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given a user without profile, and a --json path in a folder that does not exist
    user = given_user(stack, "ada", email=EMAIL)
    path = tmp_path / "missing" / "report.json"
    # When the operator repairs
    status = ops(stack, "--repair", "--json", str(path))
    # Then the repair is made and the table printed, and the failed write is one line and exit 1
    printed = capsys.readouterr()
    assert status == 1
    assert user.sub in printed.out
    assert printed.err == f"error: cannot write the JSON report to {path}: No such file or directory\n"
    assert stack.repository.get(user.sub) is not None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--max-deletes", "-1"], "--max-deletes: must be 0 or more, not -1"),
        (["--max-deletes", "ten"], "--max-deletes: not a whole number: 'ten'"),
        (["--rate-share", "1.5"], "--rate-share: must be above 0 and at most 1, not 1.5"),
    ],
)
def test_ops_reconcile_refuses_bad_options_with_one_line(
    stack: MotoStack, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        ops(stack, *arguments)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert stack.calls.counts == {}


def test_a_profile_without_user_name_is_confirmed_with_a_listing_filtered_on_its_sub(stack: MotoStack) -> None:
    # Given a run that has listed the pool, then two profiles that store no user name, both
    # created before the run: one whose user was deleted, one whose user the listing missed
    gone = given_user(stack, "gone")
    cognito(stack).admin_delete_user(UserPoolId=stack.user_pool_id, Username="gone")
    run = reconciler(stack, repair=True, max_deletes=10)
    assert run.compare_users()
    missed = given_user(stack, "missed")
    for user in (gone, missed):
        made, _ = user.profile()
        stack.repository.create_if_absent(
            Profile(user_id=user.sub, username="", created_at=BEFORE_RUN, updated_at=BEFORE_RUN, fields=made.fields)
        )
    stack.calls.clear()
    # When it looks for orphans
    assert run.find_orphans()
    # Then each is looked up with ListUsers filtered on its sub; only the one without a user goes
    filters = sorted(call["Filter"] for call in stack.calls.of("ListUsers"))
    assert filters == sorted([f'sub = "{gone.sub}"', f'sub = "{missed.sub}"'])
    assert stack.calls.counts == {"Scan": 1, "ListUsers": 2, "DeleteItem": 1}
    assert run.report.subs[Kind.ORPHAN_PROFILE] == {Outcome.REPAIRED: [gone.sub]}
    assert stack.repository.get(gone.sub) is None
    assert stack.repository.get(missed.sub) is not None


def test_a_failing_listing_stops_the_run_before_any_orphan_is_looked_for(stack: MotoStack) -> None:
    # Given an orphan, and Cognito refusing ListUsers (throttled beyond the client's retries)
    gone = given_user(stack, "gone")
    given_profile(stack, gone)
    cognito(stack).admin_delete_user(UserPoolId=stack.user_pool_id, Username="gone")

    def throttled(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        error = {"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}}
        return AWSResponse("https://cognito-idp.us-east-1.amazonaws.com/", 400, {}, None), error

    stack.session.events.register("before-call.cognito-identity-provider.ListUsers", throttled)
    clock = FakeClock()
    stack.calls.clear()
    run = Reconciler(
        stack.session.client("cognito-idp", config=Config(retries={"mode": "standard", "total_max_attempts": 1})),
        stack.session.client("dynamodb"),
        stack.user_pool_id,
        stack.table_name,
        Pacing.share(0.5, clock=clock, sleep=clock.sleep),
        repair=True,
        max_deletes=10,
    )
    # When it runs, Then it reports the failure, is incomplete, and neither scans nor deletes
    report = run.run()
    assert (report.complete, report.failed) == (False, True)
    assert report.errors == ["ListUsers failed (TooManyRequestsException)"]
    assert stack.calls.counts == {"ListUsers": 1}
    assert stack.repository.get(gone.sub) is not None


def test_an_unconfirmed_user_without_profile_is_not_drift(stack: MotoStack) -> None:
    # Given a user who signed up and has not confirmed yet (no trigger has run for it)
    client_id = cognito(stack).create_user_pool_client(UserPoolId=stack.user_pool_id, ClientName="app")[
        "UserPoolClient"
    ]["ClientId"]
    cognito(stack).sign_up(ClientId=client_id, Username="ada", Password="Passw0rd!Passw0rd")
    assert get_user(stack, "ada").status == "UNCONFIRMED"
    # When a repairing run looks, Then it lists the user, finds no drift and creates nothing
    report = reconciler(stack, repair=True).run()
    assert (report.users, report.drift) == (1, 0)
    assert stack.calls.counts == {"ListUsers": 1, "BatchGetItem": 1, "Scan": 1}
