"""Capacity and cost of profile-sync at 1, 10 and 100 million users: ``python -m scripts.capacity``.

Prints the tables of docs/capacity.md from the assumptions and list prices below (each with its
source); ``--write`` puts them into the document between its markers, and
tests/test_capacity.py keeps the two equal. Figures the code fixes are read from the code and
template.yaml, not restated: memory size, batch size and window, PutEvents entries per call, the
Cognito quota and rate share the sync paces itself to, the ListUsers page size.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "capacity.md"
BEGIN = "<!-- capacity:begin (python -m scripts.capacity --write) -->"
END = "<!-- capacity:end -->"

SCALES = (1_000_000, 10_000_000, 100_000_000)  # users in the pool
SECONDS_PER_MONTH = 30 * 24 * 3600
PRICE_DATE = "2026-11-28"  # when the prices and quotas below were last checked against their pages

# --- Prices: US East (N. Virginia), on-demand list prices, checked on PRICE_DATE ---------------
# https://aws.amazon.com/lambda/pricing/ (Arm: first 7.5 billion GB-s a month; requests $0.20 per million)
LAMBDA_ARM_PER_GB_SECOND = 0.0000133334
LAMBDA_PER_REQUEST = 0.20 / 1e6
# https://aws.amazon.com/dynamodb/pricing/on-demand/ (after the November 2024 on-demand price cut)
DYNAMODB_PER_WRITE_REQUEST_UNIT = 0.625 / 1e6
DYNAMODB_PER_READ_REQUEST_UNIT = 0.125 / 1e6
# https://aws.amazon.com/dynamodb/pricing/on-demand/ (standard table class; first 25 GB free, ignored)
DYNAMODB_PER_GB_MONTH = 0.25
# https://aws.amazon.com/eventbridge/pricing/ (custom events; each 64 KB chunk of an entry is one event)
EVENTBRIDGE_PER_EVENT = 1.00 / 1e6
EVENTBRIDGE_CHUNK_BYTES = 64 * 1024
# https://aws.amazon.com/eventbridge/pricing/ (archive: event processing per GB; storage per GB-month)
EVENTBRIDGE_ARCHIVE_PER_GB = 0.10
EVENTBRIDGE_ARCHIVE_PER_GB_MONTH = 0.023
# https://aws.amazon.com/api-gateway/pricing/ (HTTP API, first 300 million requests a month)
HTTP_API_PER_REQUEST = 1.00 / 1e6
# https://aws.amazon.com/cloudwatch/pricing/ (Logs, standard class, data ingested)
CLOUDWATCH_LOGS_PER_GB = 0.50
# https://aws.amazon.com/cognito/pricing/ : per MAU and month. Essentials (the template's
# UserPoolTier; pre-token V2 needs Essentials or Plus): 10,000 MAU free, then $0.015. Plus: no
# free tier, $0.020. Lite (V1 events only: no access-token claims), bands of MAU: 10,000 free,
# $0.0055 to 100,000, $0.0046 to 1,000,000, $0.00325 to 10,000,000, $0.0025 above.
COGNITO_ESSENTIALS = ((10_000, 0.0), (math.inf, 0.015))
COGNITO_PLUS = ((math.inf, 0.020),)
COGNITO_LITE = ((10_000, 0.0), (100_000, 0.0055), (1_000_000, 0.0046), (10_000_000, 0.00325), (math.inf, 0.0025))
# https://aws.amazon.com/about-aws/whats-new/2024/01/provisioned-capacity-api-limits-amazon-cognito/
COGNITO_PER_EXTRA_RPS_MONTH = 20.0

# --- Cognito request-rate quotas, per account and Region (requests per second) -----------------
# https://docs.aws.amazon.com/cognito/latest/developerguide/quotas.html (table "API operation
# categories and request rate quotas"; adjustable = can be raised, at COGNITO_PER_EXTRA_RPS_MONTH)
# Whether UserUpdate can be raised is not confirmed: the table's Adjustable column could not be read
# when this was checked, and the provisioned-capacity announcement (above) names five of its nine
# categories, UserUpdate not among them. Planned as fixed; docs/capacity.md and docs/runbook.md say so.
QUOTA_USER_UPDATE = 25  # AdminUpdateUserAttributes, users' own UpdateUserAttributes, DeleteUser
QUOTA_USER_LIST = 30  # ListUsers: not adjustable
QUOTA_USER_CREATION = 50  # SignUp, ConfirmSignUp, AdminCreateUser: adjustable
QUOTA_USER_AUTHENTICATION = 120  # InitiateAuth (sign-in and refresh): adjustable
# https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-user-pools-working-with-lambda-triggers.html
TRIGGER_BUDGET_SECONDS = 5.0
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html (adjustable; lower for new accounts)
LAMBDA_CONCURRENCY = 1_000


# --- Assumptions: change them and rerun --------------------------------------------------------
def _assume(value: Any, meaning: str) -> Any:
    """A default with the words the assumptions table shows beside it."""
    return field(default=value, metadata={"meaning": meaning})


@dataclass(frozen=True)
class Assumptions:
    """How users behave, per month; every rate is an assumption, not a measurement."""

    active_share: float = _assume(0.5, "monthly active users / users in the pool")
    sign_up_share: float = _assume(0.02, "new users a month / users in the pool")
    sign_ins: float = _assume(6.0, "sign-ins (password or hosted UI) per active user")
    refreshes: float = _assume(40.0, "refresh-token grants per active user (1 h access tokens)")
    api_reads: float = _assume(4.0, "GET /me/profile per active user")
    profile_edits: float = _assume(0.5, "PATCH /me/profile (or an admin's PATCH) per active user")
    synced_share: float = _assume(0.5, "edits that change a field the map syncs to Cognito")
    idp_change_share: float = _assume(0.02, "sign-ins whose IdP-owned fields changed (one conditional update)")
    # Cognito's own sizing example uses a 3:1 peak-to-average ratio:
    # https://docs.aws.amazon.com/cognito/latest/developerguide/quotas.html (identify quota requirements)
    peak_to_average: float = _assume(3.0, "peak rate / average rate (Cognito's sizing example)")
    item_bytes: int = _assume(1_000, "bytes per profile item: 1 write unit (<= 1 KB), 1 read unit (<= 4 KB)")
    event_bytes: int = _assume(1_500, "bytes per profile event (one 64 KB chunk)")
    log_bytes_per_invocation: int = _assume(1_000, "log bytes per invocation: START/END/REPORT and one JSON line")
    # Billed milliseconds per warm invocation (assumed; `make bench` measures ratios, not AWS times).
    trigger_ms: float = _assume(30.0, "billed ms per warm trigger invocation")
    api_ms: float = _assume(40.0, "billed ms per warm API invocation")
    stream_batch_ms: float = _assume(40.0, "billed ms per stream batch, besides its AWS calls")
    call_ms: float = _assume(20.0, "billed ms per PutEvents or AdminUpdateUserAttributes call")
    # Cold starts: under 1% of invocations per the AWS Compute Blog, and the INIT phase is billed
    # since 2025-08-01 (https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/);
    # `make bench` measures about 0.5 s for boto3, a client and the handler's imports.
    cold_start_share: float = _assume(0.01, "invocations that start cold (INIT billed since 2025-08-01)")
    init_ms: float = _assume(500.0, "billed ms per cold start's INIT (make bench: about 0.5 s)")


@dataclass(frozen=True)
class CodeFacts:
    """Figures the code and template.yaml fix."""

    memory_gb: float  # Globals.Function.MemorySize
    batch_size: int  # the stream mappings' BatchSize
    window_seconds: float  # their MaximumBatchingWindowInSeconds
    put_events_entries: int  # PutEvents entries per call
    rate_share: float  # CognitoRateShare's default
    update_quota: float  # the sync's COGNITO_QUOTA_PER_SECOND default
    list_page: int  # ListUsers users per page
    trigger_call_budget: float  # seconds one trigger table call can take, every attempt timing out

    @classmethod
    def read(cls) -> CodeFacts:
        from lifecycle.users import PAGE_SIZE
        from local.support import function_spec, stream_mapping, template
        from shared.triggers import TriggerSettings
        from stream_handlers.publish_events.publisher import MAX_ENTRIES_PER_CALL
        from stream_handlers.sync_cognito.sync import SyncSettings

        mapping = stream_mapping("SyncCognitoFunction")
        share = float(template()["Parameters"]["CognitoRateShare"]["Default"])
        quota = SyncSettings.__dataclass_fields__["cognito_quota_per_second"].default
        assert isinstance(quota, float)
        return cls(
            memory_gb=function_spec("PreTokenGenerationFunction").memory_mb / 1024,
            batch_size=mapping.batch_size,
            window_seconds=mapping.window_seconds,
            put_events_entries=MAX_ENTRIES_PER_CALL,
            rate_share=share,
            update_quota=float(quota),
            list_page=PAGE_SIZE,
            trigger_call_budget=TriggerSettings(profile_table_name="-").call_budget_seconds(),
        )


# The AWS calls each operation makes, as `make bench` and the handler tests count them exactly
# (README "Tests and benchmarks"; bench/__main__.py, bench/streams.py).
OPERATIONS = (
    ("sign-up (post-confirmation)", "1 PostConfirmation", "PutItem 1 (1 write unit)", "1 event, via the stream",
     "none"),
    ("sign-in or refresh, profile unchanged", "1 PreTokenGeneration", "GetItem 1 (1 read unit)", "none", "none"),
    ("sign-in, IdP-owned field changed", "1 PreTokenGeneration",
     "GetItem 1, UpdateItem 1", "1 event, via the stream", "none (email is never synced)"),
    ("API GET /me/profile", "1 ProfileApi", "GetItem 1", "none", "none"),
    ("API PATCH /me/profile", "1 ProfileApi", "UpdateItem 1, no read", "1 event, via the stream",
     "via the stream, if a synced field changed"),
    ("stream batch of b records", "1 PublishEvents + 1 SyncCognito", "none (Lambda's stream reads are free)",
     "ceil(b / 10) PutEvents, 1 event per record", "AdminUpdateUserAttributes: 1 per user with a synced change"),
)  # fmt: skip


@dataclass(frozen=True)
class Month:
    """One scale's monthly volumes."""

    users: int
    active: float
    sign_ups: float
    sign_ins: float
    refreshes: float
    api_reads: float
    edits: float
    idp_changes: float
    stream_records: float
    records_per_batch: float
    stream_batches: float
    put_events_calls: float
    sync_calls: float
    invocations: float
    gb_seconds: float
    read_units: float
    write_units: float
    events: float
    storage_gb: float


def month(users: int, a: Assumptions, code: CodeFacts) -> Month:
    """The volumes of one month at ``users`` users."""
    active = users * a.active_share
    sign_ups = users * a.sign_up_share
    sign_ins = active * a.sign_ins
    refreshes = active * a.refreshes
    api_reads = active * a.api_reads
    edits = active * a.profile_edits
    idp_changes = sign_ins * a.idp_change_share
    records = sign_ups + edits + idp_changes
    # Records gather for up to the batching window: at the average rate, per window, at least one
    # and at most BatchSize. (More stream shards split them into more, smaller batches.)
    per_batch = min(code.batch_size, max(1.0, records / SECONDS_PER_MONTH * code.window_seconds))
    batches = records / per_batch
    put_events = batches * math.ceil(per_batch / code.put_events_entries)
    sync_calls = edits * a.synced_share  # an upper bound: coalescing per user and batch only lowers it
    trigger_invocations = sign_ups + sign_ins + refreshes
    api_invocations = api_reads + edits
    invocations = trigger_invocations + api_invocations + 2 * batches
    warm_ms = (
        trigger_invocations * a.trigger_ms
        + api_invocations * a.api_ms
        + 2 * batches * a.stream_batch_ms
        + (put_events + sync_calls) * a.call_ms
    )
    init_ms = invocations * a.cold_start_share * a.init_ms
    read_units = (sign_ins + refreshes + api_reads) * math.ceil(a.item_bytes / 4096)
    write_units = (sign_ups + edits + idp_changes) * math.ceil(a.item_bytes / 1024)
    events = records * math.ceil(a.event_bytes / EVENTBRIDGE_CHUNK_BYTES)
    return Month(
        users=users,
        active=active,
        sign_ups=sign_ups,
        sign_ins=sign_ins,
        refreshes=refreshes,
        api_reads=api_reads,
        edits=edits,
        idp_changes=idp_changes,
        stream_records=records,
        records_per_batch=per_batch,
        stream_batches=batches,
        put_events_calls=put_events,
        sync_calls=sync_calls,
        invocations=invocations,
        gb_seconds=(warm_ms + init_ms) / 1000 * code.memory_gb,
        read_units=read_units,
        write_units=write_units,
        events=events,
        storage_gb=users * a.item_bytes / 1e9,
    )


def tiered(mau: float, bands: tuple[tuple[float, float], ...]) -> float:
    """A monthly MAU charge over price bands of (upper bound, price per MAU)."""
    total, lower = 0.0, 0.0
    for upper, price in bands:
        if mau > lower:
            total += (min(mau, upper) - lower) * price
        lower = upper
    return total


def costs(m: Month, a: Assumptions) -> dict[str, float]:
    """Monthly list-price cost per line item, Cognito on the Essentials plan (the template's)."""
    archive_gb = m.events * a.event_bytes / 1e9
    peak_authentications = (m.sign_ins + m.refreshes) / SECONDS_PER_MONTH * a.peak_to_average
    return {
        "Cognito Essentials (MAU)": tiered(m.active, COGNITO_ESSENTIALS),
        # Sign-ins and refreshes are the app's calls, but the pool cannot serve them without it.
        "Cognito UserAuthentication capacity above 120 req/s": COGNITO_PER_EXTRA_RPS_MONTH
        * max(0.0, peak_authentications - QUOTA_USER_AUTHENTICATION),
        "Lambda requests": m.invocations * LAMBDA_PER_REQUEST,
        "Lambda duration (arm64)": m.gb_seconds * LAMBDA_ARM_PER_GB_SECOND,
        "DynamoDB reads": m.read_units * DYNAMODB_PER_READ_REQUEST_UNIT,
        "DynamoDB writes": m.write_units * DYNAMODB_PER_WRITE_REQUEST_UNIT,
        "DynamoDB storage": m.storage_gb * DYNAMODB_PER_GB_MONTH,
        "EventBridge events": m.events * EVENTBRIDGE_PER_EVENT,
        # The archive keeps 30 days: about one month of events stored at any time.
        "EventBridge archive": archive_gb * (EVENTBRIDGE_ARCHIVE_PER_GB + EVENTBRIDGE_ARCHIVE_PER_GB_MONTH),
        "HTTP API requests": (m.api_reads + m.edits) * HTTP_API_PER_REQUEST,
        "CloudWatch Logs ingestion": m.invocations * a.log_bytes_per_invocation / 1e9 * CLOUDWATCH_LOGS_PER_GB,
    }


@dataclass(frozen=True)
class Quota:
    """Where one Cognito quota binds: the peak rate at each scale against the quota."""

    name: str
    limit: float
    peak: tuple[float, ...]  # requests per second at each scale's peak
    binds_at_users: float  # users at which the peak reaches the limit
    adjustable: str
    answer: str


def quotas(a: Assumptions, code: CodeFacts, scales: tuple[int, ...] = SCALES) -> list[Quota]:
    """Peak request rates per Cognito quota category, and the scale at which each binds."""

    def per_user_peak(per_user_month: float) -> float:
        return per_user_month / SECONDS_PER_MONTH * a.peak_to_average

    budget = code.rate_share * code.update_quota
    rows = (
        ("UserUpdate: the sync's share", budget, a.active_share * a.profile_edits * a.synced_share,
         "not confirmed",
         f"CognitoRateShare {code.rate_share:g} x {code.update_quota:g} req/s per concurrent batch; one call per "
         "user per batch (coalesced); a peak above it waits in the stream and drains off-peak"),
        ("UserCreation: sign-ups", QUOTA_USER_CREATION, a.sign_up_share, "yes",
         "sign-ups call Cognito, not this code; post-confirmation makes 1 PutItem"),
        ("UserAuthentication: sign-ins, refreshes", QUOTA_USER_AUTHENTICATION,
         a.active_share * (a.sign_ins + a.refreshes), "yes",
         "the app's calls, not this code's: raise it (provisioned capacity) before it binds"),
    )  # fmt: skip
    found = []
    for name, limit, rate, adjustable, answer in rows:
        peak = per_user_peak(rate)
        found.append(Quota(name, limit, tuple(users * peak for users in scales), limit / peak, adjustable, answer))
    return found


def list_users_hours(users: int, code: CodeFacts, rate: float = QUOTA_USER_LIST) -> float:
    """Hours one ListUsers pass over ``users`` takes at ``rate`` pages a second."""
    return math.ceil(users / code.list_page) / rate / 3600


def prose_figures(a: Assumptions | None = None, code: CodeFacts | None = None) -> list[str]:
    """The phrases the hand-written part of docs/capacity.md states, rendered from this model
    (rounded as the prose rounds them): tests/test_capacity.py finds each in the document."""
    a = a or Assumptions()
    code = code or CodeFacts.read()
    months = [month(users, a, code) for users in SCALES]
    per_scale = [costs(m, a) for m in months]
    own = [sum(v for k, v in c.items() if not k.startswith("Cognito")) for c in per_scale]
    cognito_share = min(1 - mine / sum(c.values()) for mine, c in zip(own, per_scale, strict=True))
    per_million = {5 * round(mine / (m.users / 1e6) / 5) for mine, m in zip(own, months, strict=True)}
    sync, _, authentication = quotas(a, code)
    largest = months[-1]
    peak_rate = (largest.sign_ins + largest.refreshes) / SECONDS_PER_MONTH * a.peak_to_average
    return [
        # What the numbers say
        f"over {math.floor(cognito_share * 100)}% of the total",
        *[f"about ${dollars_a_month} a month per million users" for dollars_a_month in sorted(per_million)],
        f"({code.trigger_call_budget:g} s in the worst case",
        f"about {round(peak_rate * a.trigger_ms / 1000, -1):.0f} concurrent executions at the "
        f"{largest.users // 1_000_000}-million peak",
        f"Lambda's default of {LAMBDA_CONCURRENCY:,} per Region",
        # Where the quotas bind
        f"**UserUpdate, {QUOTA_USER_UPDATE} req/s",
        f"({code.rate_share:g}, so {code.rate_share * code.update_quota:g} req/s)",
        f"near {round(sync.binds_at_users / 1e7) * 10} million users",
        f"**UserList, {QUOTA_USER_LIST} req/s",
        f"({code.list_page} users a page",
        f"over {largest.users // 1_000_000} million users takes "
        f"{list_users_hours(largest.users, code):.0f} hours at the whole quota",
        f"**UserAuthentication, {QUOTA_USER_AUTHENTICATION} req/s",
        f"binds at about {authentication.binds_at_users / 1e6:.1f} million users",
        # How the figures are made
        f"({code.memory_gb * 1024:g} MB, the stream mappings' `BatchSize` {code.batch_size} and "
        f"{code.window_seconds:g} s window",
        f"sends {code.put_events_entries} entries per `PutEvents` call",
        f"arm64 ${LAMBDA_ARM_PER_GB_SECOND:.10f} per GB-s, ${LAMBDA_PER_REQUEST * 1e6:.2f} per million requests",
        f"${DYNAMODB_PER_WRITE_REQUEST_UNIT * 1e6:.3f} per million write units, "
        f"${DYNAMODB_PER_READ_REQUEST_UNIT * 1e6:.3f} per million read units",
        f"${EVENTBRIDGE_PER_EVENT * 1e6:.2f} per million custom events",
        f"archive ${EVENTBRIDGE_ARCHIVE_PER_GB:.2f} per GB processed and "
        f"${EVENTBRIDGE_ARCHIVE_PER_GB_MONTH} per GB-month",
        f"(${HTTP_API_PER_REQUEST * 1e6:.2f} per million)",
        f"(${CLOUDWATCH_LOGS_PER_GB:.2f} per GB ingested)",
        f"Essentials {COGNITO_ESSENTIALS[0][0]:,} free then ${COGNITO_ESSENTIALS[1][1]}",
        f"Plus ${COGNITO_PLUS[0][1]:.3f} with no free tier",
        f"from ${COGNITO_LITE[1][1]} down to ${COGNITO_LITE[-1][1]}",
        f"${COGNITO_PER_EXTRA_RPS_MONTH:.0f} per request-per-second-month",
        f"storage price (${DYNAMODB_PER_GB_MONTH} per GB-month)",
    ]


# --- Rendering ---------------------------------------------------------------------------------
def count(value: float) -> str:
    """1 234 -> "1.2 k"; millions "M", billions "B"; small values with one decimal."""
    for size, unit in ((1e9, " B"), (1e6, " M"), (1e3, " k")):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.1f}" if value % 1 else f"{value:.0f}"


def dollars(value: float) -> str:
    return f"${value:,.2f}" if value < 100 else f"${value:,.0f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _scale_header(scales: tuple[int, ...]) -> list[str]:
    return [f"{count(users)} users" for users in scales]


def render(a: Assumptions | None = None, code: CodeFacts | None = None, scales: tuple[int, ...] = SCALES) -> str:
    """The tables of docs/capacity.md, as markdown."""
    a = a or Assumptions()
    code = code or CodeFacts.read()
    months = [month(users, a, code) for users in scales]
    out = [f"Prices: US East (N. Virginia) list prices, checked {PRICE_DATE}; no free tier but Cognito's.", ""]

    out += ["### Assumptions", ""]
    rows = [[f"`{item.name}`", f"{getattr(a, item.name):g}", item.metadata["meaning"]] for item in fields(a)]
    rows += [
        ["memory", f"{code.memory_gb * 1024:g} MB", "every function (template.yaml Globals)"],
        ["stream batch", f"{code.batch_size}, {code.window_seconds:g} s",
         "BatchSize and batching window (template.yaml); records per batch assume one shard"],
        ["PutEvents entries", str(code.put_events_entries), "per call (stream_handlers/publish_events/publisher.py)"],
        ["ListUsers page", str(code.list_page), "users per call (lifecycle/users.py)"],
    ]  # fmt: skip
    out += [*_table(["assumption", "value", "meaning"], rows), ""]

    out += ["### AWS calls per operation", ""]
    out += _table(["operation", "Lambda", "DynamoDB", "EventBridge", "Cognito API"], [list(op) for op in OPERATIONS])
    out += [""]

    out += ["### Monthly volumes", ""]
    volumes = [
        ("monthly active users", "active"),
        ("sign-ups", "sign_ups"),
        ("sign-ins", "sign_ins"),
        ("token refreshes", "refreshes"),
        ("API reads", "api_reads"),
        ("profile edits", "edits"),
        ("IdP-field updates at sign-in", "idp_changes"),
        ("stream records", "stream_records"),
        ("records per stream batch", "records_per_batch"),
        ("Lambda invocations", "invocations"),
        ("Lambda GB-seconds", "gb_seconds"),
        ("DynamoDB read units", "read_units"),
        ("DynamoDB write units", "write_units"),
        ("PutEvents calls", "put_events_calls"),
        ("EventBridge events", "events"),
        ("AdminUpdateUserAttributes calls (at most)", "sync_calls"),
        ("table size, GB", "storage_gb"),
    ]
    out += _table(["per month", *_scale_header(scales)], [[label] + [count(getattr(m, key)) for m in months]
                                                          for label, key in volumes])  # fmt: skip
    out += [""]

    out += ["### Monthly cost at list prices", ""]
    per_scale = [costs(m, a) for m in months]
    rows = [[item] + [dollars(c[item]) for c in per_scale] for item in per_scale[0]]
    rows.append(["**total**"] + [f"**{dollars(sum(c.values()))}**" for c in per_scale])
    rows.append(["without Cognito"] + [dollars(sum(v for k, v in c.items() if not k.startswith("Cognito")))
                                       for c in per_scale])  # fmt: skip
    rows.append(["Cognito MAU on Plus instead"] + [dollars(tiered(m.active, COGNITO_PLUS)) for m in months])
    rows.append(["Cognito MAU on Lite instead (V1: no access-token claims)"]
                + [dollars(tiered(m.active, COGNITO_LITE)) for m in months])  # fmt: skip
    out += [*_table(["item", *_scale_header(scales)], rows), ""]

    out += ["### Where Cognito's request-rate quotas bind", ""]
    rows = [
        [q.name, f"{q.limit:g}", q.adjustable, *[f"{peak:.1f}" for peak in q.peak], f"{count(q.binds_at_users)} users",
         q.answer]
        for q in quotas(a, code, scales)
    ]  # fmt: skip
    header = ["quota", "req/s", "adjustable", *[f"peak at {h}" for h in _scale_header(scales)], "binds at",
              "what the design does"]  # fmt: skip
    out += [*_table(header, rows), ""]

    out += ["### A full ListUsers pass (backfill, reconcile)", ""]
    rows = [
        [f"{share:.0%} of UserList ({QUOTA_USER_LIST * share:g} req/s)",
         *[f"{list_users_hours(users, code, QUOTA_USER_LIST * share):.1f} h" for users in scales]]
        for share in (1.0, 0.5)
    ]  # fmt: skip
    out += [*_table([f"pace ({code.list_page} users a page)", *_scale_header(scales)], rows), ""]

    out += ["### The 5 s trigger budget", ""]
    worst = a.init_ms / 1000 + code.trigger_call_budget
    peak_rate = [(m.sign_ins + m.refreshes) / SECONDS_PER_MONTH * a.peak_to_average for m in months]
    rows = [
        ["pre-token invocations a second at peak", *[f"{rate:.0f}" for rate in peak_rate]],
        [f"concurrent pre-token executions at peak (account default {LAMBDA_CONCURRENCY:,})",
         *[f"{rate * a.trigger_ms / 1000:.0f}" for rate in peak_rate]],
        ["worst case: cold start + one GetItem timing out on every attempt",
         *[f"{worst:.1f} s of {TRIGGER_BUDGET_SECONDS:g} s"] * len(scales)],
    ]  # fmt: skip
    out += _table(["pre-token generation", *_scale_header(scales)], rows)
    return "\n".join(out) + "\n"


def document_block(text: str) -> str:
    """The generated part of a document: what lies between BEGIN and END."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"markers {BEGIN!r} and {END!r} not found in order")
    return text[start + len(BEGIN) : end].strip("\n") + "\n"


def write(path: Path = DOC) -> None:
    """Replace the generated part of ``path`` with the current tables."""
    text = path.read_text()
    old = document_block(text)
    start = text.find(BEGIN) + len(BEGIN)
    end = text.find(END)
    path.write_text(text[:start] + "\n" + render() + text[end:])
    print(f"{path}: {'unchanged' if old == render() else 'updated'}")  # noqa: T201 - this is the console


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.capacity", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"update {DOC.relative_to(ROOT)} in place")
    args = parser.parse_args(argv)
    if args.write:
        write()
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
