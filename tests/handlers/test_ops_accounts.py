"""`python -m ops erase` and `python -m ops export` under moto, on a simulated wait."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.support import TABLE
from ops import erase
from ops.__main__ import main
from shared.accounts import SETTLE_SECONDS
from shared.profile import Profile, first_version
from shared.repository import ProfileRepository

NOW = "2026-11-28T00:00:00.000Z"


@pytest.fixture
def users(table: Any) -> dict[str, Any]:
    """A pool with Ada (native, with a profile); ops targets it by ids."""
    cognito = boto3.client("cognito-idp", region_name="us-east-1")
    pool = cognito.create_user_pool(PoolName="users")["UserPool"]["Id"]
    user = cognito.admin_create_user(
        UserPoolId=pool, Username="ada", UserAttributes=[{"Name": "email", "Value": "ada@example.com"}]
    )["User"]
    sub = next(item["Value"] for item in user["Attributes"] if item["Name"] == "sub")
    repository = ProfileRepository(table, TABLE)
    repository.create_if_absent(Profile(sub, "ada", NOW, NOW, fields={"email": "ada@example.com"},
                                        version=first_version()))  # fmt: skip
    target = ["--user-pool-id", pool, "--table-name", TABLE, "--region", "us-east-1"]
    return {"cognito": cognito, "pool": pool, "sub": sub, "repository": repository, "target": target}


def test_erase_deletes_both_stores_waits_and_deletes_again(
    users: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a sign-in under way that writes Ada's profile back while erase waits
    waits: list[float] = []

    def sign_in_meanwhile(seconds: float) -> None:
        waits.append(seconds)
        users["repository"].create_if_absent(Profile(users["sub"], "ada", NOW, NOW, version=first_version()))

    monkeypatch.setattr(erase, "sleep", sign_in_meanwhile)

    # When the operator erases her
    status = main(["erase", users["sub"], *users["target"]])

    # Then both stores are empty, the wait was the settle time, and the report says so without PII
    out = capsys.readouterr().out
    assert status == 0
    assert waits == [SETTLE_SECONDS]
    assert users["repository"].get(users["sub"]) is None
    assert users["cognito"].list_users(UserPoolId=users["pool"])["Users"] == []
    assert "cognito user: deleted" in out
    assert "second delete: removed a profile re-created meanwhile" in out
    assert "point-in-time recovery" in out
    assert "35 days (PointInTimeRecoveryDays)" in out
    assert "ada@example.com" not in out


def test_erase_of_an_erased_user_succeeds_and_says_both_were_gone(
    users: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(erase, "sleep", lambda seconds: None)
    assert main(["erase", users["sub"], *users["target"]]) == 0
    capsys.readouterr()
    assert main(["erase", users["sub"], *users["target"]]) == 0
    out = capsys.readouterr().out
    assert "cognito user: already gone" in out
    assert "profile: already gone" in out


def test_erase_that_fails_exits_non_zero_with_one_line(
    users: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a table that does not exist (a wrong --table-name)
    monkeypatch.setattr(erase, "sleep", lambda seconds: None)
    target = [*users["target"]]
    target[target.index(TABLE)] = "no-such-table"

    # When the operator erases Ada, Then it fails with one line and a non-zero status
    assert main(["erase", users["sub"], "--username", "ada", *target]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "ResourceNotFoundException" in err
    assert "run it again" in err


def test_the_report_follows_the_stack_parameters() -> None:
    # Given a stack that keeps less, and events with PII
    parameters = {**erase.DEFAULTS, "PointInTimeRecoveryDays": "3", "DeadLetterRetentionSeconds": "172800",
                  "IncludePiiInEvents": "true"}  # fmt: skip

    # When the holders are listed
    kept = {holder.place: holder for holder in erase.holders(parameters)}

    # Then each names its bound
    assert kept["profile table point-in-time recovery"].retention == "3 days (PointInTimeRecoveryDays)"
    assert kept["stream dead-letter queue"].retention == "2 days (DeadLetterRetentionSeconds)"
    assert "field values" in kept["event archive"].holds


def test_export_writes_the_document_to_a_private_file_and_prints_no_pii(
    users: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # When the operator exports Ada to a file
    output = tmp_path / "ada.json"
    status = main(["export", users["sub"], "--output", str(output), *users["target"]])

    # Then the file holds her profile and Cognito attributes, readable by its owner only
    document = json.loads(output.read_text())
    assert status == 0
    assert document["profile"]["fields"] == {"email": "ada@example.com"}
    assert document["cognito"]["attributes"]["email"] == "ada@example.com"
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert "ada@example.com" not in capsys.readouterr().out


def test_export_of_an_unknown_sub_fails(users: dict[str, Any], tmp_path: Path) -> None:
    output = tmp_path / "nobody.json"
    assert main(["export", "00000000-0000-0000-0000-000000000000", "--output", str(output), *users["target"]]) == 1
    assert not output.exists()


def test_the_reports_defaults_are_the_templates() -> None:
    # Given the defaults the erase report shows without --stack, When compared with template.yaml's
    # parameters, Then each is the template's default (a changed default would mislead the report)
    from local.support import template

    parameters = template()["Parameters"]
    assert {name: str(parameters[name]["Default"]) for name in erase.DEFAULTS} == erase.DEFAULTS


def spoil_profile(sub: str) -> None:
    """Overwrite the profile with an item this code cannot decode (a version that is not a counter)."""
    item = {"user_id": {"S": sub}, "username": {"S": "ada"}, "version": {"S": "not-a-number"}}
    boto3.client("dynamodb", region_name="us-east-1").put_item(TableName=TABLE, Item=item)


def test_erase_of_an_undecodable_profile_deletes_both_stores(
    users: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given Ada's stored profile no longer decodes
    monkeypatch.setattr(erase, "sleep", lambda seconds: None)
    spoil_profile(users["sub"])

    # When the operator erases her by sub alone
    status = main(["erase", users["sub"], *users["target"]])

    # Then both stores are emptied
    assert status == 0
    assert "cognito user: deleted" in capsys.readouterr().out
    assert users["repository"].delete(users["sub"]) is False


def test_export_of_an_undecodable_profile_fails_with_one_line(
    users: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given Ada's stored profile no longer decodes
    spoil_profile(users["sub"])

    # When the operator exports her, Then one line says why, the status is 1 and no file is written
    output = tmp_path / "ada.json"
    assert main(["export", users["sub"], "--output", str(output), *users["target"]]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cannot be read" in err
    assert not output.exists()


def test_export_over_an_existing_world_readable_file_leaves_it_private(users: dict[str, Any], tmp_path: Path) -> None:
    # Given an earlier file at the output path, readable by everyone
    output = tmp_path / "ada.json"
    output.write_text("old\n")
    output.chmod(0o644)

    # When the operator exports Ada over it
    status = main(["export", users["sub"], "--output", str(output), *users["target"]])

    # Then the file holds the export and is readable by its owner only, with no temporary left
    assert status == 0
    assert json.loads(output.read_text())["user_id"] == users["sub"]
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["ada.json"]


def test_erase_whose_stack_parameters_cannot_be_read_still_reports_with_defaults_marked(
    users: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ops.target import Target

    # Given a --stack whose DescribeStacks fails once the erase is done (the stack is gone)
    monkeypatch.setattr(erase, "sleep", lambda seconds: None)
    monkeypatch.setattr(erase, "resolve", lambda args: Target(users["pool"], TABLE, "us-east-1"))

    # When the operator erases Ada
    status = main(["erase", users["sub"], "--stack", "gone"])

    # Then the erase is reported done, its figures marked as the template's defaults, with one warning line
    captured = capsys.readouterr()
    assert status == 0
    assert "cognito user: deleted" in captured.out
    assert "(retentions: template defaults (stack gone not read))" in captured.out
    assert "kept 35 days (PointInTimeRecoveryDays)" in captured.out
    assert captured.err.count("\n") == 1
    assert "not read" in captured.err


def test_the_report_says_the_account_deletion_dead_letter_queue_can_hold_the_cloudtrail_event() -> None:
    # When the holders are listed for the template's defaults
    kept = {holder.place: holder for holder in erase.holders(erase.DEFAULTS)}

    # Then the account deletion queues name the CloudTrail event's PII and its bound
    holder = kept["account deletion queues"]
    assert "CloudTrail deletion event (caller, IP address, user agent)" in holder.holds
    assert holder.retention == "14 days at most (DeadLetterRetentionSeconds)"
