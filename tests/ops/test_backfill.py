"""`python -m ops backfill` on moto: profiles as the triggers make them, edits never overwritten,
exact AWS calls, checkpoints that survive a kill, pacing on a simulated clock, and the command's output."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lifecycle.pacing import TokenBucket, most_in_window
from local.support import MotoStack, attributes_of, mixed_users
from ops.__main__ import main
from ops.backfill import Backfill, Interrupted, Outcome, Tally
from shared.profile import Profile, profile_from_cognito
from shared.repository import ProfileRepository
from tests.ops.pool import add_users, edit_profile, with_attributes
from tests.streams import FakeClock


def backfill(stack: MotoStack, path: Path | None = None, **options: Any) -> Backfill:
    """A backfill of the stack's pool through recorded clients, paced at 15 req/s on a simulated clock."""
    clock = options.pop("clock", None) or FakeClock()
    return Backfill(
        cognito=stack.session.client("cognito-idp"),
        repo=options.pop("repo", None) or ProfileRepository(stack.session.client("dynamodb"), stack.table_name),
        user_pool_id=stack.user_pool_id,
        table_name=stack.table_name,
        bucket=TokenBucket(15, clock=clock, sleep=clock.sleep),
        checkpoint_path=path,
        **options,
    )


def stored(stack: MotoStack, sub: str) -> Profile | None:
    return stack.repository.get(sub)


def kinds(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The first entry of each kind mixed_users makes, by kind."""
    found: dict[str, dict[str, Any]] = {}
    for entry in entries:
        found.setdefault(entry["Kind"], entry)
    return found


def stream_events(stack: MotoStack) -> Counter[tuple[str, str]]:
    """(event name, sub) of every table change since the last call."""
    return Counter((record["eventName"], record["dynamodb"]["Keys"]["user_id"]["S"]) for record in stack.stream.read())


# --- what each user becomes ----------------------------------------------------------------------


def test_every_kind_of_user_gets_the_profile_its_trigger_would_create(pool: MotoStack) -> None:
    # Given email, Google, Apple and admin-created users, and an unconfirmed one, without profiles
    entries = list(kinds(mixed_users(200)).values())
    add_users(pool, entries)
    # When the backfill runs
    tally = backfill(pool).run()
    # Then each confirmed user has the fields profile_from_cognito (the triggers' mapping) gives
    for entry in entries:
        attributes = attributes_of(entry)
        profile = stored(pool, attributes["sub"])
        if entry["UserStatus"] == "UNCONFIRMED":
            assert profile is None  # post-confirmation creates it once they confirm
            continue
        expected, _ = profile_from_cognito(attributes["sub"], entry["Username"], attributes)
        assert profile is not None
        assert dict(profile.fields) == dict(expected.fields)
        assert profile.username == entry["Username"]
    providers = {p.fields["providers"][0] for e in entries if (p := stored(pool, attributes_of(e)["sub"]))}
    assert providers == {"Cognito", "Google", "SignInWithApple"}
    assert (tally.created, tally.skipped) == (len(entries) - 1, {"unconfirmed": 1})


def test_an_existing_profile_gets_the_changed_idp_fields_only_and_keeps_user_and_admin_edits(pool: MotoStack) -> None:
    # Given a profile the user renamed and an admin put on a plan, and Cognito now saying the email is verified
    entry = with_attributes(kinds(mixed_users(50))["admin"], email_verified="true", name="Cognito Name")
    add_users(pool, [entry])
    sub = attributes_of(entry)["sub"]
    before = edit_profile(pool, entry, display_name="Edited by the user", plan="pro", email_verified=False)
    # When the backfill runs
    tally = backfill(pool).run()
    # Then email_verified follows Cognito in one version-conditional update; the edits stay
    after = stored(pool, sub)
    assert after is not None
    assert after.fields["email_verified"] is True
    assert (after.fields["display_name"], after.fields["plan"]) == ("Edited by the user", "pro")
    assert after.version == before.version + 1
    assert (tally.updated, tally.created, tally.unchanged) == (1, 0, 0)


def test_a_second_run_changes_nothing(pool: MotoStack) -> None:
    # Given a pool backfilled once
    entries = mixed_users(120)
    add_users(pool, entries)
    first = backfill(pool).run()
    stream_events(pool)
    # When the backfill runs again
    second = backfill(pool).run()
    # Then every user is unchanged (or skipped as before) and the table's stream has no record
    assert second.unchanged == first.created
    assert (second.created, second.updated, second.skipped) == (0, 0, first.skipped)
    assert stream_events(pool) == Counter()


def test_dynamodb_calls_are_one_per_user_and_a_second_only_for_changed_idp_fields(pool: MotoStack) -> None:
    # Given a user without a profile, one whose profile matches Cognito, one whose email changed in Cognito
    new, same, moved = [entry for entry in mixed_users(50) if entry["Kind"] == "email"][:3]
    add_users(pool, [new, same, with_attributes(moved, email="moved@example.com")])
    edit_profile(pool, same, display_name="Edited")
    edit_profile(pool, moved, display_name="Edited")
    pool.calls.clear()
    # When the backfill runs
    backfill(pool).run()
    # Then: one ListUsers page, a conditional PutItem per user (a failed one hands the stored item back,
    # so no GetItem), and one UpdateItem for the changed email
    assert pool.calls.counts == Counter({"ListUsers": 1, "PutItem": 3, "UpdateItem": 1})
    (update,) = pool.calls.of("UpdateItem")
    assert update["ConditionExpression"] == "#version = :expected"
    assert set(update["ExpressionAttributeNames"].values()) == {"version", "updated_at", "email"}


class EditsFirst:
    """A repository where the user edits their profile just before each of the backfill's first ``times`` updates."""

    def __init__(self, inner: ProfileRepository, times: int) -> None:
        self.inner, self.times = inner, times

    def get(self, user_id: str) -> Profile | None:
        return self.inner.get(user_id)

    def create_if_absent(self, profile: Profile) -> tuple[Profile, bool]:
        return self.inner.create_if_absent(profile)

    def update(self, user_id: str, changes: Any, expected_version: int) -> Profile:
        if self.times:
            self.times -= 1
            current = self.inner.get(user_id)
            assert current is not None
            self.inner.update(user_id, {"display_name": f"User edit {self.times}"}, expected_version=current.version)
        return self.inner.update(user_id, changes, expected_version=expected_version)


def test_a_concurrent_edit_is_rediffed_and_kept_never_overwritten(pool: MotoStack) -> None:
    # Given a profile whose email_verified is stale, and a user who edits it while the backfill looks at it
    entry = with_attributes(mixed_users(1)[0], email_verified="true")
    add_users(pool, [entry])
    sub = attributes_of(entry)["sub"]
    edit_profile(pool, entry, email_verified=False)
    repo = EditsFirst(ProfileRepository(pool.session.client("dynamodb"), pool.table_name), times=1)
    pool.calls.clear()
    # When the backfill runs
    tally = backfill(pool, repo=repo).run()
    # Then its first update fails on the version, the stored profile from the failure is diffed again,
    # and the second update applies email_verified on top of the user's edit
    after = stored(pool, sub)
    assert after is not None
    assert (after.fields["display_name"], after.fields["email_verified"]) == ("User edit 0", True)
    assert tally.updated == 1
    assert [call.operation for call in pool.calls.made if call.service == "dynamodb"].count("UpdateItem") == 3


def test_a_profile_edited_at_every_attempt_is_reported_as_an_error_not_overwritten(pool: MotoStack) -> None:
    entry = with_attributes(mixed_users(1)[0], email_verified="true")
    add_users(pool, [entry])
    edit_profile(pool, entry, email_verified=False)
    repo = EditsFirst(ProfileRepository(pool.session.client("dynamodb"), pool.table_name), times=99)
    tally = backfill(pool, repo=repo).run()
    after = stored(pool, attributes_of(entry)["sub"])
    assert after is not None
    assert after.fields["email_verified"] is False
    assert tally.errors == {"profile changed concurrently 3 times": 1}
    assert tally.failed == [attributes_of(entry)["sub"]]


def test_an_unreadable_stored_profile_is_an_error_of_that_user_and_the_run_goes_on(pool: MotoStack) -> None:
    entries = [entry for entry in mixed_users(30) if entry["UserStatus"] == "CONFIRMED"][:3]
    add_users(pool, entries)
    broken = attributes_of(entries[0])["sub"]
    pool.dynamodb.put_item(TableName=pool.table_name, Item={"user_id": {"S": broken}, "version": {"S": "seven"}})
    tally = backfill(pool).run()
    assert tally.errors == {"stored profile has an unreadable version": 1}
    assert (tally.failed, tally.created) == ([broken], 2)


# --- kills, resumes and pacing -------------------------------------------------------------------


def kill_after(pages: int) -> Any:
    def hook(tally: Tally) -> None:
        if tally.pages == pages:
            raise Interrupted

    return hook


def test_5000_mixed_users_killed_at_half_and_resumed_are_each_done_once_at_the_rate(
    pool: MotoStack, tmp_path: Path
) -> None:
    """The issue's size on in-process moto, which takes 4-15 ms a call: 30 s of CPU, 80 s of wall time on
    the loaded 2-core machine. "Once" is read from the calls: one PutItem per user across both runs."""
    # Given 5,000 users of every kind, every 50th with a profile edited by the user and an admin
    entries = mixed_users(5000, seed=11)
    add_users(pool, entries)
    edited = {}
    for entry in entries[::50]:
        if entry["UserStatus"] != "UNCONFIRMED":
            edited[attributes_of(entry)["sub"]] = edit_profile(pool, entry, display_name="Mine", plan="team")
    clock, path = FakeClock(), tmp_path / "backfill.json"
    cognito_calls: list[float] = []
    # every attempt sent, as the quota sees them (the bucket is taken at before-send, registered first)
    pool.session.events.register("before-send.cognito-idp.ListUsers", lambda **_: cognito_calls.append(clock()))
    pool.calls.clear()
    # When it is killed after the checkpoint of page 42 of 84, then started again with the same file
    with pytest.raises(Interrupted):
        backfill(pool, path, clock=clock, after_page=kill_after(42)).run()
    tally = backfill(pool, path, clock=clock).run()
    # Then every confirmed user had exactly one conditional PutItem over both runs, and no other write
    confirmed = {attributes_of(e)["sub"] for e in entries if e["UserStatus"] != "UNCONFIRMED"}
    puts = Counter(call["Item"]["user_id"]["S"] for call in pool.calls.of("PutItem"))
    assert set(puts) == confirmed
    assert set(puts.values()) == {1}
    assert pool.calls.counts["UpdateItem"] == 0
    # and was counted once: created, or unchanged for the edited profiles, which keep their edits
    assert (tally.users, tally.created, tally.unchanged) == (5000, len(confirmed) - len(edited), len(edited))
    assert tally.skipped == {"unconfirmed": 5000 - len(confirmed)}
    for sub in edited:
        after = stored(pool, sub)
        assert after is not None
        assert (after.fields["display_name"], after.fields["plan"]) == ("Mine", "team")
    # and ListUsers was called once a page (84 pages of at most 60), never more than 15 in any second
    assert pool.calls.counts["ListUsers"] == tally.pages == tally.requests == 84
    assert most_in_window(cognito_calls, 1.0) <= 15 + 1
    assert len(cognito_calls) / (cognito_calls[-1] - cognito_calls[0]) >= 0.9 * 15


def test_killed_between_a_pages_writes_and_its_checkpoint_the_resume_redoes_that_page_only(
    pool: MotoStack, tmp_path: Path
) -> None:
    # Given 300 users, and a run killed after 30 writes of its third page (before that page's checkpoint)
    entries = [e for e in mixed_users(400, seed=5) if e["UserStatus"] != "UNCONFIRMED"][:300]
    add_users(pool, entries)
    path = tmp_path / "backfill.json"

    class DiesMidPage(ProfileRepository):
        writes = 0

        def create_if_absent(self, profile: Profile) -> tuple[Profile, bool]:
            result = super().create_if_absent(profile)
            DiesMidPage.writes += 1
            if DiesMidPage.writes == 150:
                raise Interrupted
            return result

    dying = DiesMidPage(pool.session.client("dynamodb"), pool.table_name)
    with pytest.raises(Interrupted):
        backfill(pool, path, repo=dying).run()  # one worker: the kill comes after exactly 150 writes
    pool.calls.clear()
    # When it is started again with the same checkpoint (four users at a time)
    tally = backfill(pool, path, workers=4).run()
    # Then it went on from page 3 (ListUsers for pages 3-5 only), each profile was created exactly once,
    # and every user is counted once: the 30 written before the kill as unchanged
    assert pool.calls.counts["ListUsers"] == 3
    assert tally.users == 300
    assert (tally.created, tally.unchanged) == (270, 30)
    changes = stream_events(pool)
    assert len(changes) == 300
    assert set(changes.values()) == {1}


def test_a_pagination_token_cognito_refuses_restarts_from_the_first_page(pool: MotoStack, tmp_path: Path) -> None:
    # Given a checkpoint whose token Cognito no longer accepts, 100 users already done
    entries = [e for e in mixed_users(200, seed=2) if e["UserStatus"] != "UNCONFIRMED"][:100]
    add_users(pool, entries)
    path = tmp_path / "backfill.json"
    done = backfill(pool, path, after_page=kill_after(1))
    with pytest.raises(Interrupted):
        done.run()
    saved = json.loads(path.read_text())
    path.write_text(json.dumps({**saved, "token": "expired-token"}))
    pool.calls.clear()
    # When the backfill resumes
    tally = backfill(pool, path).run()
    # Then it starts over (ListUsers: the refused call, then both pages), every user counted once since
    assert pool.calls.counts["ListUsers"] == 3
    assert (tally.restarts, tally.users, tally.created, tally.unchanged) == (1, 100, 40, 60)


def test_a_finished_checkpoint_runs_nothing_again(pool: MotoStack, tmp_path: Path) -> None:
    add_users(pool, mixed_users(10))
    path = tmp_path / "backfill.json"
    first = backfill(pool, path).run()
    pool.calls.clear()
    again = backfill(pool, path)
    assert again.run() == first
    assert again.complete
    assert pool.calls.made == []


# --- the command ---------------------------------------------------------------------------------


def command(stack: MotoStack, *extra: str) -> int:
    return main(["backfill", "--user-pool-id", stack.user_pool_id, "--table-name", stack.table_name, *extra])


def test_invalid_attribute_values_are_left_out_by_field_and_never_printed(
    pool: MotoStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a user whose locale, picture and name fit no field
    entry = with_attributes(kinds(mixed_users(20))["email"], locale="SECRET-LOCALE!", picture="http://secret.example/x")
    add_users(pool, [entry])
    # When the command runs (output not to a terminal: JSON lines)
    status = command(pool)
    out, err = capsys.readouterr()
    # Then it succeeds, names the fields and never prints a value (nor the email)
    assert status == 0
    summary = json.loads(out.splitlines()[-1])
    assert (summary["created"], summary["left_out"], summary["state"]) == (1, {"locale": 1, "picture": 1}, "complete")
    notes = [json.loads(line) for line in err.splitlines()]
    assert {"event": "fields_left_out", "sub": attributes_of(entry)["sub"], "fields": ["locale", "picture"]} in notes
    for secret in ("SECRET", "secret.example", "@example.com"):
        assert secret not in out + err
    profile = stored(pool, attributes_of(entry)["sub"])
    assert profile is not None
    assert "locale" not in profile.fields


def test_dry_run_prints_what_it_would_create_and_change_and_writes_nothing(
    pool: MotoStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two users without profiles and one whose email changed in Cognito
    entries = [e for e in mixed_users(30) if e["Kind"] == "email"][:3]
    moved = with_attributes(entries[2], email="moved@example.com")
    add_users(pool, [*entries[:2], moved])
    edit_profile(pool, entries[2], display_name="Edited")
    stream_events(pool)
    # When the command runs with --dry-run
    status = command(pool, "--dry-run")
    out, _ = capsys.readouterr()
    # Then it lists each would-be write by sub and field names, counts them, and the table is unchanged
    lines = [json.loads(line) for line in out.splitlines()]
    plans = {(line["would"], line["sub"]) for line in lines if "would" in line}
    subs = [attributes_of(e)["sub"] for e in entries]
    assert plans == {("create", subs[0]), ("create", subs[1]), ("update", subs[2])}
    assert {"would": "update", "sub": subs[2], "fields": ["email"]} in lines
    assert (lines[-1]["created"], lines[-1]["updated"], lines[-1]["dry_run"]) == (2, 1, True)
    assert status == 0
    assert stream_events(pool) == Counter()
    assert stored(pool, subs[0]) is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--dry-run", "--checkpoint", "x.json"), "error: --dry-run writes nothing, a checkpoint included"),
        (("--rate", "0"), "error: --rate must be above 0, not 0"),
        (("--workers", "0"), "error: --workers must be at least 1, not 0"),
    ],
)
def test_bad_options_are_refused_with_one_line(
    pool: MotoStack, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], message: str
) -> None:
    assert command(pool, *extra) == 2
    _, err = capsys.readouterr()
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_a_pool_that_cannot_be_described_is_refused_with_one_line(
    pool: MotoStack, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["backfill", "--user-pool-id", "us-east-1_missing", "--table-name", pool.table_name])
    _, err = capsys.readouterr()
    assert status == 2
    assert err == "error: cannot describe user pool us-east-1_missing (ResourceNotFoundException)\n"


def test_a_checkpoint_of_another_pool_is_refused(
    pool: MotoStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "backfill.json"
    path.write_text(json.dumps({"format": 1, "user_pool_id": "us-east-1_other", "table_name": pool.table_name}))
    assert command(pool, "--checkpoint", str(path)) == 2
    _, err = capsys.readouterr()
    assert "belongs to pool us-east-1_other" in err
    assert err.count("\n") == 1


def test_a_failed_user_makes_the_exit_status_non_zero_and_is_named_by_sub(
    pool: MotoStack, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [e for e in mixed_users(10) if e["UserStatus"] == "CONFIRMED"][:2]
    add_users(pool, entries)
    broken = attributes_of(entries[0])["sub"]
    pool.dynamodb.put_item(TableName=pool.table_name, Item={"user_id": {"S": broken}, "version": {"N": "0"}})
    assert command(pool) == 1
    out, err = capsys.readouterr()
    summary = json.loads(out.splitlines()[-1])
    assert (summary["errors"], summary["failed"], summary["created"]) == (
        {"stored profile has an unreadable version": 1}, [broken], 1
    )  # fmt: skip
    assert {"event": "user_failed", "sub": broken, "reason": "stored profile has an unreadable version"} in [
        json.loads(line) for line in err.splitlines()
    ]


def test_an_unreachable_table_stops_the_run_at_the_last_checkpoint(
    pool: MotoStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a table name that does not exist
    add_users(pool, mixed_users(5))
    path = tmp_path / "backfill.json"
    status = main(["backfill", "--user-pool-id", pool.user_pool_id, "--table-name", "nope", "--checkpoint", str(path)])
    out, err = capsys.readouterr()
    # Then the run stops with one error line saying how to resume, and saved no page
    assert status == 1
    assert f"error: backfill stopped (ResourceNotFoundException); rerun with --checkpoint {path}" in err
    assert json.loads(out.splitlines()[-1])["state"] == "stopped"
    assert not path.exists()


def test_outcomes_are_reported_one_by_one(pool: MotoStack) -> None:
    entries = [e for e in mixed_users(10) if e["UserStatus"] == "CONFIRMED"][:2]
    add_users(pool, entries)
    seen: list[Outcome] = []
    backfill(pool, report=seen.append).run()
    assert sorted(outcome.sub for outcome in seen) == sorted(attributes_of(e)["sub"] for e in entries)
    assert {outcome.kind for outcome in seen} == {"created"}
