"""`make demo`: the whole pipeline on the local stack, narrated, every outcome checked.

Sign-up -> profile -> ProfileCreated at the example consumer queue; sign-in -> enriched,
verified token; Google and Apple first sign-ins; forgot-password (profile untouched); the
profile API (the user's PATCH with If-Match, a stale ETag's 412, an admin's PATCH, a
non-admin's 403), each edit arriving as ProfileUpdated, synced to cognito-local and in a
refreshed ID token; a deletion -> ProfileDeleted.

Steps run as soon as the steps they build on have passed, several at once, as independent
users would: the stream's one-second batching windows then overlap instead of adding up.
Each step is reported in order, with its own duration. Exit status 0 only if every step's
outcome was checked.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from local import scenario
from local.scenario import Failed, check
from local.stack import Stack

EMAIL = "ada@example.com"
ADMIN_EMAIL = "margaret.admin@example.com"
# Users in the pool before the triggers: AdminCreateUser fires none, so they have no profile.
EXISTING = {
    "alan.turing@example.com": "Alan Turing",
    "edsger.dijkstra@example.com": "Edsger Dijkstra",
    "barbara.liskov@example.com": "Barbara Liskov",
}
PROFILE_CLAIMS = ("name", "locale", "picture", "plan", "tenant_id", "roles")


@dataclass
class Report:
    steps: list[tuple[str, bool, float]] = field(default_factory=list)
    stack_seconds: float = 0.0
    scenario_seconds: float = 0.0
    stop_seconds: float = 0.0
    total_seconds: float = 0.0
    processes: int = 0  # started and stopped

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(ok for _, ok, _ in self.steps)


@dataclass(frozen=True)
class Step:
    """One checked action; it starts once every step named in ``after`` has passed."""

    title: str
    run: Callable[[], list[str]]
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    ok: bool
    lines: list[str]
    seconds: float


def _claims(claims: dict[str, Any]) -> str:
    shown = {key: claims[key] for key in PROFILE_CLAIMS if key in claims}
    return ", ".join(f"{key}={value}" for key, value in shown.items()) or "(none)"


class Demo:
    def __init__(self, stack: Stack, say: Callable[[str], None]) -> None:
        self.stack = stack
        self.say = say
        self.sub = ""
        self.confirmed = 0.0  # when Ada's sign-up was confirmed (perf_counter)
        self.created_version = 0
        self.tokens: dict[str, Any] = {}  # Ada's latest sign-in: later steps reuse its access token
        self.federated: dict[str, scenario.FederatedUser] = {}  # by provider
        self.admin_group = self.admin_token = self.admin_sub = ""
        self.existing: dict[str, str] = {}  # email -> sub of the users from before the triggers
        self.deleted_at = 0.0  # when Alan's DELETE /me returned (perf_counter)
        self.inbox = scenario.Inbox(stack, scenario.consumer_queues(stack))

    def steps(self) -> list[Step]:
        steps = [
            Step("email sign-up", self.email_sign_up),
            Step("ProfileCreated", self.profile_created, after=("email sign-up",)),
            Step("sign-in", self.sign_in, after=("email sign-up",)),
            Step("Google first sign-in", self.google),
            Step("Apple first sign-in", self.apple),
            Step("forgot password", self.forgot_password, after=("sign-in",)),
            Step("API: own profile", self.api_own_profile, after=("forgot password",)),
            Step("admin sign-up", self.admin_sign_up),
            # beside Ada's own edit: the admin edits another profile (its own), with Ada's token refused
            Step("API: admin route", self.api_admin, after=("admin sign-up", "forgot password")),
            Step("existing users", self.existing_users),
            Step("backfill", self.backfill, after=("existing users",)),
            Step("API: DELETE /me", self.delete_me, after=("backfill",)),
            Step("ProfileDeleted", self.profile_deleted, after=("API: DELETE /me",)),
            # After the deletion, not beside it: a listing taken between its two deletes would
            # show Alan's profile as an orphan too.
            Step("reconcile: repair", self.reconcile_repair, after=("API: DELETE /me",)),
        ]
        return [*steps, Step("reconcile: no drift", self.no_drift, after=tuple(step.title for step in steps))]

    def _last(self, source: str, about: str) -> str:
        """The latest invocation from ``source`` about user ``about`` (other steps run meanwhile)."""
        assert self.stack.runtime is not None
        found = [
            item for item in self.stack.runtime.history if item.source == source and about in item.payload.decode()
        ]
        check(bool(found), f"no {source} invocation about {about} reached the runner")
        last = found[-1]
        check(last.function_error is None, f"{last.function} failed: {last.payload.decode()[:300]}")
        return f"{source} -> {last.function} ({last.duration_ms:.0f} ms)"

    def email_sign_up(self) -> list[str]:
        self.sub = scenario.sign_up(self.stack, EMAIL, {"name": "Ada Lovelace", "locale": "en-GB"})
        self.confirmed = time.perf_counter()
        ran = self._last("PostConfirmation_ConfirmSignUp", self.sub)
        stored = scenario.profile(self.stack, self.sub)
        check(stored is not None, "no profile after the confirmed sign-up")
        assert stored is not None
        check(stored.get("display_name") == "Ada Lovelace", f"display_name is {stored.get('display_name')!r}")
        check(stored.get("providers") == ["Cognito"], f"providers are {stored.get('providers')!r}")
        self.created_version = int(stored["version"])
        return [
            f"{EMAIL} signed up and confirmed with code {scenario.CODE} in cognito-local",
            ran,
            f"profile v{stored['version']}: display_name={stored['display_name']}, locale={stored.get('locale')}, "
            f"email_verified={stored.get('email_verified')}, providers={stored['providers']}",
        ]

    def profile_created(self) -> list[str]:
        check(bool(self.stack.pollers), "template.yaml has no stream handlers: nothing carries changes outward")
        queue, event = self.inbox.wait_event("ProfileCreated", self.sub)
        arrived = time.perf_counter() - self.confirmed
        detail = event.get("detail") or {}
        check(detail.get("version") == self.created_version, f"ProfileCreated carries version {detail.get('version')}")
        return [f"{EMAIL}'s ProfileCreated v{detail['version']} at {queue} {arrived:.2f} s after the confirmation"]

    def sign_in(self) -> list[str]:
        tokens = scenario.sign_in(self.stack, EMAIL)
        ran = self._last("TokenGeneration_Authentication", self.sub)
        claims = scenario.verify_id_token(self.stack, tokens["IdToken"])
        check(claims.get("sub") == self.sub, "ID token is for another user")
        check(claims.get("name") == "Ada Lovelace", f"name claim is {claims.get('name')!r}")
        check(claims.get("locale") == "en-GB", f"locale claim is {claims.get('locale')!r}")
        return [ran, f"ID token verified (RS256 against the JWKS, iss, aud, exp); profile claims: {_claims(claims)}"]

    def _federated(self, user: scenario.FederatedUser, display_name: str) -> list[str]:
        claims = scenario.federated_first_sign_in(self.stack, user)
        stored = scenario.profile(self.stack, user.sub)
        check(stored is not None, f"no profile for {user.username}")
        assert stored is not None
        check(stored.get("providers") == [user.provider], f"providers are {stored.get('providers')!r}")
        check(stored.get("display_name") == display_name, f"display_name is {stored.get('display_name')!r}")
        check(claims.get("name") == display_name, f"name claim is {claims.get('name')!r}")
        self.federated[user.provider] = user
        return [
            f"{user.username}: PostConfirmation_ConfirmSignUp, then TokenGeneration_HostedAuth (V2) via the Invoke API",
            f"profile v{stored['version']}: display_name={stored['display_name']}, providers={stored['providers']}; "
            f"ID token claims: {_claims(claims)}",
        ]

    def google(self) -> list[str]:
        user = scenario.federated(
            "Google",
            "109876543210987654321",
            "grace.hopper@gmail.example",
            {"name": "Grace Hopper", "picture": "https://lh3.googleusercontent.example/a/grace"},
        )
        return self._federated(user, "Grace Hopper")

    def apple(self) -> list[str]:
        # Apple sends the name on the first authorisation only, as given and family name.
        user = scenario.federated(
            "SignInWithApple",
            "001234.56789abcdef0123456789abcdef.0912",
            "k3x9q@privaterelay.appleid.example",
            {"given_name": "Katherine", "family_name": "Johnson"},
        )
        return self._federated(user, "Katherine Johnson")

    def forgot_password(self) -> list[str]:
        before = scenario.profile_item(self.stack, self.sub)
        scenario.reset_password(self.stack, EMAIL)
        ran = self._last("PostConfirmation_ConfirmForgotPassword", self.sub)
        after = scenario.profile_item(self.stack, self.sub)
        check(before == after, "the forgot-password confirmation changed the profile")
        self.tokens = scenario.sign_in(self.stack, EMAIL, scenario.NEW_PASSWORD)
        return [ran, "profile byte-for-byte unchanged; the new password signs in"]

    def _arrives(self, sub: str, email: str, version: int, change: tuple[str, str, str], password: str) -> list[str]:
        """The change at ``version`` of ``sub``'s profile (``change``: the claim, the Cognito attribute
        and the value) reaches the consumer, cognito-local and a refreshed ID token of ``email``."""
        field, attribute, value = change
        started = time.perf_counter()
        queue, event = self.inbox.wait_event("ProfileUpdated", sub, version=version)
        arrived = time.perf_counter() - started
        scenario.wait_for(
            lambda: True if scenario.cognito_attributes(self.stack, email).get(attribute) == value else None,
            f"{attribute}={value} in cognito-local",
        )
        synced = time.perf_counter() - started
        tokens = scenario.sign_in(self.stack, email, password)
        if email == EMAIL:
            self.tokens = tokens
        claims = scenario.verify_id_token(self.stack, tokens["IdToken"])
        check(claims.get(field) == value, f"the refreshed ID token says {field}={claims.get(field)!r}")
        return [
            f"ProfileUpdated v{version} changed={event['detail'].get('changed')} at {queue} after {arrived:.2f} s; "
            f"cognito-local {attribute}={value} after {synced:.2f} s; new ID token {field}={claims[field]}",
        ]

    def _access_token(self) -> str:
        """Ada's access token from her latest sign-in (valid for an hour), signing in only if no step has."""
        if "AccessToken" not in self.tokens:
            self.tokens = scenario.sign_in(self.stack, EMAIL, scenario.NEW_PASSWORD)
        return str(self.tokens["AccessToken"])

    def api_own_profile(self) -> list[str]:
        check(self.stack.api is not None, "template.yaml has no HttpApi route: nothing serves the API")
        assert self.stack.api is not None
        token = self._access_token()
        read = scenario.api(self.stack, "GET", "/me/profile", token)
        check(read.status == 200, f"GET /me/profile answered {read.status}: {read.body}")
        patch = {"display_name": "Ada Byron"}
        saved = scenario.api(self.stack, "PATCH", "/me/profile", token, patch, {"If-Match": read.etag})
        check(saved.status == 200, f"PATCH with If-Match answered {saved.status}: {saved.body}")
        check(saved.body.get("display_name") == "Ada Byron", f"PATCH returned {saved.body}")
        stale = scenario.api(self.stack, "PATCH", "/me/profile", token, {"locale": "fr-FR"}, {"If-Match": read.etag})
        check(stale.status == 412, f"PATCH with the stale ETag answered {stale.status}")
        check(stale.etag == saved.etag, f"the 412 names ETag {stale.etag}, not the current {saved.etag}")
        return [
            f"access token verified by the JWT authorizer (RS256, iss, client_id, exp, scope) at {self.stack.api.url}",
            f"GET /me/profile 200 ETag {read.etag}; PATCH display_name=Ada Byron If-Match 200 ETag {saved.etag}",
            f"PATCH with the stale ETag {read.etag}: 412, current ETag {stale.etag}",
            *self._arrives(
                self.sub, EMAIL, int(saved.etag.strip('"')), ("name", "name", "Ada Byron"), scenario.NEW_PASSWORD
            ),
        ]

    def admin_sign_up(self) -> list[str]:
        self.admin_group = scenario.admin_group(self.stack)
        self.admin_sub = scenario.sign_up(self.stack, ADMIN_EMAIL, {"name": "Margaret Hamilton"})
        scenario.add_to_group(self.stack, ADMIN_EMAIL, self.admin_group)
        self.admin_token = str(scenario.sign_in(self.stack, ADMIN_EMAIL)["AccessToken"])
        return [f"{ADMIN_EMAIL} signed up and added to group {self.admin_group} (AdminAddUserToGroup)"]

    def api_admin(self) -> list[str]:
        check(self.stack.api is not None, "template.yaml has no HttpApi route: nothing serves the API")
        admin, user = self.admin_token, self._access_token()
        path = f"/users/{self.admin_sub}/profile"
        refused = scenario.api(self.stack, "PATCH", path, user, {"plan": "team"}, {"If-Match": '"1"'})
        check(refused.status == 403, f"a non-admin's PATCH {path} answered {refused.status}")
        read = scenario.api(self.stack, "GET", path, admin)
        check(read.status == 200, f"the admin's GET answered {read.status}: {read.body}")
        saved = scenario.api(self.stack, "PATCH", path, admin, {"plan": "team"}, {"If-Match": read.etag})
        check(
            saved.status == 200 and saved.body.get("plan") == "team", f"the admin's PATCH: {saved.status} {saved.body}"
        )
        version = int(saved.etag.strip('"'))
        return [
            f"{ADMIN_EMAIL}'s access token's cognito:groups ({self.admin_group}) admits it to /users/{{sub}}/profile",
            f"{EMAIL}'s PATCH of that path: 403; the admin's GET 200, PATCH plan=team If-Match 200 (plan is "
            "admin-owned: no user may write it)",
            *self._arrives(self.admin_sub, ADMIN_EMAIL, version, ("plan", "custom:plan", "team"), scenario.PASSWORD),
        ]

    def delete_me(self) -> list[str]:
        email = "alan.turing@example.com"
        sub = self.existing[email]
        token = str(scenario.sign_in(self.stack, email)["AccessToken"])
        deleted = scenario.api(self.stack, "DELETE", "/me", token)
        check(deleted.status == 200, f"DELETE /me answered {deleted.status}: {deleted.body}")
        check(not scenario.cognito_user_exists(self.stack, email), f"{email} is still in cognito-local")
        check(scenario.profile_item(self.stack, sub) is None, "the profile is still stored after DELETE /me")
        again = scenario.api(self.stack, "DELETE", "/me", token)
        check(again.status == 200, f"DELETE /me again answered {again.status}: {again.body}")
        self.deleted_at = time.perf_counter()
        return [
            f"{email} signed in (a backfilled user) and called DELETE /me: {deleted.status}; the Cognito user "
            "is gone first, then the profile",
            f"the same DELETE again: {again.status} (idempotent, the token is still valid for the API)",
        ]

    def profile_deleted(self) -> list[str]:
        sub = self.existing["alan.turing@example.com"]
        queue, event = self.inbox.wait_event("ProfileDeleted", sub)
        arrived = time.perf_counter() - self.deleted_at
        return [f"ProfileDeleted v{event['detail'].get('version')} at {queue} {arrived:.2f} s after DELETE /me"]

    def existing_users(self) -> list[str]:
        def make(email: str) -> tuple[str, str]:  # Alan signs in later, to delete himself
            password = scenario.PASSWORD if email == "alan.turing@example.com" else None
            return email, scenario.existing_user(self.stack, email, EXISTING[email], password)

        with ThreadPoolExecutor(len(EXISTING)) as pool:
            self.existing = dict(pool.map(make, EXISTING))
        missing = [email for email, sub in self.existing.items() if scenario.profile_item(self.stack, sub) is None]
        check(missing == list(EXISTING), f"AdminCreateUser made a profile for {set(EXISTING) - set(missing)}")
        return [f"{len(EXISTING)} users made with AdminCreateUser (no trigger fires): no profile yet"]

    def backfill(self) -> list[str]:
        status, out, err = scenario.ops(self.stack, "backfill")
        check(status == 0, f"python -m ops backfill exited {status}: {err.strip()[-300:]}")
        lines = [json.loads(line) for line in out.splitlines() + err.splitlines() if line.startswith("{")]
        summary = next((line for line in lines if line.get("event") == "summary"), None)
        check(summary is not None and summary["state"] == "complete", f"backfill summary: {summary}")
        assert summary is not None
        progress = [line for line in lines if line.get("event") == "progress"]
        for email, sub in self.existing.items():
            stored = scenario.profile(self.stack, sub)
            check(stored is not None, f"backfill made no profile for {email}")
            assert stored is not None
            name = stored.get("display_name")
            check(name == EXISTING[email], f"{email}'s profile has display_name {name!r}")
        shown = {key: progress[-1][key] for key in ("users", "pages", "elapsed_seconds")} if progress else {}
        return [
            "python -m ops backfill, on the stack's pool and table (JSON lines off a terminal, a bar on one)",
            f"progress {shown}",
            f"summary: {summary['users']} users, created {summary['created']}, updated {summary['updated']}, "
            f"unchanged {summary['unchanged']}, skipped {sum(summary['skipped'].values())}; "
            f"each of the {len(EXISTING)} has its profile",
        ]

    def _reconcile(self, *options: str) -> dict[str, Any]:
        status, out, err = scenario.ops(self.stack, "reconcile", "--json", "-", *options)
        check(status in (0, 3), f"python -m ops reconcile exited {status}: {err.strip()[-300:]}")
        report: dict[str, Any] = json.loads(out)
        return report

    def reconcile_repair(self) -> list[str]:
        email = "edsger.dijkstra@example.com"
        gone = self.existing[email]
        self.stack.client("cognito-idp").admin_delete_user(UserPoolId=self.stack.user_pool_id, Username=email)
        repaired = self._reconcile("--repair", "--max-deletes", "1")
        outcomes = {item["sub"]: item["outcome"] for item in repaired["findings"] if item["kind"] == "orphan_profile"}
        check(outcomes == {gone: "repaired"}, f"reconcile --repair found and repaired orphans {outcomes}")
        check(scenario.profile_item(self.stack, gone) is None, "the orphaned profile is still stored")
        return [
            f"{email} deleted in cognito-local directly (AdminDeleteUser; no CloudTrail here)",
            f"python -m ops reconcile --repair --max-deletes 1: found orphan_profile {gone}, repaired "
            "(AdminGetUser confirmed the user is gone; the stream publishes ProfileDeleted as for DELETE /me)",
        ]

    def no_drift(self) -> list[str]:
        from lifecycle.reconcile.drift import Pacing, Reconciler

        cognito, dynamodb = self.stack.client("cognito-idp"), self.stack.client("dynamodb")
        pool, table = self.stack.user_pool_id, self.stack.table_name
        report = Reconciler(cognito, dynamodb, pool, table, Pacing.share(0.5)).run()
        check(report.drift == 0 and not report.failed, f"drift left: {report.summary()}")
        return [
            f"{report.users} users, {report.profiles} profiles: each user has its profile and each profile its user, "
            "synced attributes and IdP-owned fields equal (Reconciler in-process: the same run as the command's)"
        ]


def run_steps(steps: list[Step], verbose: bool = False) -> Iterator[tuple[Step, Outcome]]:
    """Run every step once the steps it comes after have passed, concurrently; yield the outcomes in
    the steps' order, each as soon as it and the ones before it are known."""
    futures: dict[str, Future[Outcome]] = {}
    earlier: set[str] = set()
    for step in steps:
        if not earlier.issuperset(step.after):
            raise ValueError(f"{step.title!r} comes after {sorted(set(step.after) - earlier)}: not earlier steps")
        earlier.add(step.title)

    def attempt(step: Step) -> Outcome:
        waited_for = [name for name in step.after if not futures[name].result().ok]
        if waited_for:
            return Outcome(False, [f"not run: {', '.join(waited_for)} failed"], 0.0)
        started = time.perf_counter()
        try:
            lines, ok = step.run(), True
        except Exception as exc:
            lines = [f"FAILED: {exc}" if isinstance(exc, Failed) else f"FAILED: {type(exc).__name__}: {exc}"]
            if verbose or not isinstance(exc, Failed):
                lines += traceback.format_exc().splitlines()[-6:]
            ok = False
        return Outcome(ok, lines, time.perf_counter() - started)

    # one thread per step: a step waiting for the ones it comes after never holds up another
    with ThreadPoolExecutor(len(steps), "demo-step") as pool:
        for step in steps:  # a step comes after earlier steps only: each future exists when waited for
            futures[step.title] = pool.submit(attempt, step)
        for step in steps:
            yield step, futures[step.title].result()


def run(say: Callable[[str], None] | None = None, verbose: bool = False) -> Report:
    """Start the stack, run every step, stop the stack; the report says what passed and how long it took.
    By default it says each line on the stdout it started with (an ``ops`` step holds sys.stdout)."""
    if say is None:
        stream = sys.stdout
        say = lambda line: print(line, file=stream, flush=True)  # noqa: E731
    report = Report()
    began = time.perf_counter()
    say("profile-sync local demo: template.yaml on DynamoDB Local, cognito-local and moto (no Docker, no AWS)")
    stack = Stack(say=say)
    try:
        stack.start()
        report.stack_seconds = time.perf_counter() - began
        assert stack.supervisor is not None
        report.processes = len(stack.supervisor.children)
        say(
            f"  stack up in {report.stack_seconds:.1f} s: {len(stack.specs)} functions, "
            f"{len(stack.pollers)} stream mappings, table {stack.table_name}, pool {stack.user_pool_id}"
        )
        demo = Demo(stack, say)
        scenario_began = time.perf_counter()
        for number, (step, outcome) in enumerate(run_steps(demo.steps(), verbose), start=1):
            report.steps.append((step.title, outcome.ok, outcome.seconds))
            say(f"{number:>2}. {step.title:<22}{'ok' if outcome.ok else 'FAILED':>6} {outcome.seconds:6.2f} s")
            for line in outcome.lines:
                say(f"      {line}")
        report.scenario_seconds = time.perf_counter() - scenario_began
    finally:
        stopping = time.perf_counter()
        stack.stop()
        report.stop_seconds = time.perf_counter() - stopping
    report.total_seconds = time.perf_counter() - began
    passed = sum(ok for _, ok, _ in report.steps)
    say(
        f"{passed}/{len(report.steps)} steps checked in {report.scenario_seconds:.2f} s (stack start "
        f"{report.stack_seconds:.1f} s, stop {report.stop_seconds:.1f} s, total {report.total_seconds:.1f} s); "
        f"stopped {report.processes} processes"
    )
    return report


def measure() -> dict[str, float]:
    """For ``make bench``: one warm demo run, quiet; seconds for stack start, scenario, stop and total."""
    report = run(say=lambda _: None)
    if not report.passed:
        raise RuntimeError(f"the demo failed: {[title for title, ok, _ in report.steps if not ok]}")
    return {
        "stack_start_s": report.stack_seconds,
        "scenario_s": report.scenario_seconds,
        "stop_s": report.stop_seconds,
        "total_s": report.total_seconds,
    }
