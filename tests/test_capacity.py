"""scripts/capacity.py: the capacity model's arithmetic, and docs/capacity.md equal to its output."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest

from scripts import capacity
from scripts.capacity import (
    COGNITO_ESSENTIALS,
    COGNITO_LITE,
    COGNITO_PLUS,
    SECONDS_PER_MONTH,
    Assumptions,
    CodeFacts,
    month,
    quotas,
    tiered,
)

CODE = CodeFacts(
    memory_gb=0.5,
    batch_size=100,
    window_seconds=1.0,
    put_events_entries=10,
    rate_share=0.4,
    update_quota=25.0,
    list_page=60,
    trigger_call_budget=3.0,
)
# Nothing happens unless a test says so.
NOTHING = Assumptions(
    active_share=1.0,
    sign_up_share=0.0,
    sign_ins=0.0,
    refreshes=0.0,
    api_reads=0.0,
    profile_edits=0.0,
    synced_share=0.0,
    idp_change_share=0.0,
    cold_start_share=0.0,
)


def test_docs_capacity_holds_exactly_the_scripts_tables() -> None:
    # Given the document as committed
    text = capacity.DOC.read_text()

    # Then its generated part is what the script prints now
    assert capacity.document_block(text) == capacity.render(), "run: python -m scripts.capacity --write"


def prose(text: str) -> str:
    """The hand-written part of the document (outside the generated block), whitespace collapsed."""
    start, end = text.find(capacity.BEGIN), text.find(capacity.END)
    return re.sub(r"\s+", " ", text[:start] + text[end:])


def test_the_prose_states_the_figures_the_model_computes() -> None:
    # Given the figures the prose of docs/capacity.md quotes, rendered from the model now
    written = prose(capacity.DOC.read_text())

    # Then each one is in the prose as the model renders it (edit the prose when the model moves)
    stale = [figure for figure in capacity.prose_figures() if figure not in written]
    assert not stale, f"docs/capacity.md states other figures than scripts/capacity.py computes: {stale}"


def test_a_changed_assumption_changes_the_figures_the_prose_must_state() -> None:
    # Given twice as many refreshes (sign-in traffic drives the bill and the trigger's concurrency)
    busier = dataclasses.replace(Assumptions(), refreshes=80.0)

    # Then some figure the prose states today no longer matches
    written = prose(capacity.DOC.read_text())
    assert [figure for figure in capacity.prose_figures(busier) if figure not in written]


def test_code_facts_come_from_template_and_code() -> None:
    # When the facts are read
    facts = CodeFacts.read()

    # Then they are the template's and the modules' values (not restated in the script)
    from lifecycle.users import PAGE_SIZE
    from local.support import function_spec, stream_mapping
    from stream_handlers.publish_events.publisher import MAX_ENTRIES_PER_CALL

    assert facts.memory_gb * 1024 == function_spec("PreTokenGenerationFunction").memory_mb
    assert facts.batch_size == stream_mapping("SyncCognitoFunction").batch_size
    assert facts.window_seconds == stream_mapping("SyncCognitoFunction").window_seconds
    assert facts.put_events_entries == MAX_ENTRIES_PER_CALL
    assert facts.list_page == PAGE_SIZE
    assert facts.trigger_call_budget < capacity.TRIGGER_BUDGET_SECONDS


def test_a_sign_in_that_changes_nothing_is_one_read_unit_and_one_invocation() -> None:
    # Given 1,000 active users who each sign in once and do nothing else
    assumptions = dataclasses.replace(NOTHING, sign_ins=1.0)

    # When the month is computed
    result = month(1_000, assumptions, CODE)

    # Then each sign-in is one pre-token invocation and one strongly consistent read, no write, no event
    assert result.invocations == 1_000
    assert result.read_units == 1_000
    assert result.write_units == 0
    assert result.events == 0
    assert result.gb_seconds == pytest.approx(1_000 * assumptions.trigger_ms / 1000 * CODE.memory_gb)


def test_an_edit_is_one_write_one_event_and_at_most_one_sync_call() -> None:
    # Given 1,000 users who each edit a synced field once
    assumptions = dataclasses.replace(NOTHING, profile_edits=1.0, synced_share=1.0)

    # When the month is computed
    result = month(1_000, assumptions, CODE)

    # Then: one UpdateItem, no read; one stream record, one event; one AdminUpdateUserAttributes
    assert (result.write_units, result.read_units) == (1_000, 0)
    assert (result.stream_records, result.events) == (1_000, 1_000)
    assert result.sync_calls == 1_000


def test_an_item_over_one_kilobyte_costs_two_write_units_per_write() -> None:
    assumptions = dataclasses.replace(NOTHING, sign_up_share=1.0, item_bytes=1_500)

    result = month(1_000, assumptions, CODE)

    assert result.write_units == 2_000


def test_stream_batches_hold_one_record_at_least_and_batch_size_at_most() -> None:
    # Given a trickle of changes, and a flood
    trickle = month(1_000, dataclasses.replace(NOTHING, profile_edits=1.0), CODE)
    flood = month(10**12, dataclasses.replace(NOTHING, profile_edits=1.0), CODE)

    # Then a trickle is one record a batch, one PutEvents each; a flood fills batches of 100, 10 PutEvents each
    assert trickle.records_per_batch == 1
    assert trickle.put_events_calls == trickle.stream_records
    assert flood.records_per_batch == CODE.batch_size
    assert flood.put_events_calls == pytest.approx(flood.stream_records / CODE.put_events_entries)
    # And besides the API's one invocation per edit, both stream handlers run once per batch
    assert flood.invocations - flood.edits == pytest.approx(2 * flood.stream_batches)


@pytest.mark.parametrize(
    ("mau", "bands", "expected"),
    [
        (10_000, COGNITO_ESSENTIALS, 0.0),
        (10_001, COGNITO_ESSENTIALS, 0.015),
        (1_000, COGNITO_PLUS, 20.0),
        # Lite: 90,000 x 0.0055 + 400,000 x 0.0046
        (500_000, COGNITO_LITE, 495.0 + 1_840.0),
    ],
)
def test_cognito_charges_each_band_at_its_price(
    mau: float, bands: tuple[tuple[float, float], ...], expected: float
) -> None:
    assert tiered(mau, bands) == pytest.approx(expected)


def test_a_quota_binds_where_the_peak_reaches_it() -> None:
    # Given the default assumptions
    assumptions = Assumptions()

    for quota in quotas(assumptions, CODE, scales=(1_000_000,)):
        # When the pool holds the users at which the quota is said to bind
        (at_binding,) = (row for row in quotas(assumptions, CODE, scales=(round(quota.binds_at_users),))
                         if row.name == quota.name)  # fmt: skip

        # Then the peak rate there is the quota's limit
        assert at_binding.peak[0] == pytest.approx(quota.limit, rel=1e-6)


def test_the_sync_share_is_the_rate_share_of_the_update_quota() -> None:
    (sync, *_) = quotas(Assumptions(), dataclasses.replace(CODE, rate_share=0.2))

    assert sync.limit == pytest.approx(0.2 * 25)


def test_a_list_users_pass_takes_a_call_per_page_at_the_given_rate() -> None:
    # 100 M users, 60 a page, 30 pages a second
    assert capacity.list_users_hours(100_000_000, CODE) == pytest.approx(math.ceil(100_000_000 / 60) / 30 / 3600)


def test_peak_rates_use_the_peak_to_average_ratio() -> None:
    flat = quotas(dataclasses.replace(Assumptions(), peak_to_average=1.0), CODE, scales=(SECONDS_PER_MONTH,))
    peaky = quotas(dataclasses.replace(Assumptions(), peak_to_average=3.0), CODE, scales=(SECONDS_PER_MONTH,))

    for low, high in zip(flat, peaky, strict=True):
        assert high.peak[0] == pytest.approx(3 * low.peak[0])


def test_write_replaces_only_the_generated_part(tmp_path: Path) -> None:
    # Given a document with prose around stale tables
    doc = tmp_path / "capacity.md"
    doc.write_text(f"# Title\nprose\n{capacity.BEGIN}\nstale\n{capacity.END}\nafter\n")

    # When it is rewritten
    capacity.write(doc)

    # Then the prose stays and the tables are current
    text = doc.read_text()
    assert text.startswith("# Title\nprose\n")
    assert text.endswith(f"{capacity.END}\nafter\n")
    assert capacity.document_block(text) == capacity.render()


def test_a_document_without_markers_is_refused(tmp_path: Path) -> None:
    doc = tmp_path / "capacity.md"
    doc.write_text("no markers\n")

    with pytest.raises(ValueError, match="markers"):
        capacity.write(doc)


def test_every_price_and_quota_constant_names_its_source() -> None:
    # Given the script's constants from the prices section to the assumptions
    lines = Path(capacity.__file__).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# --- Prices"))
    end = next(i for i, line in enumerate(lines) if line.startswith("# --- Assumptions"))
    constants = [i for i in range(start, end) if re.match(r"[A-Z_]+ = ", lines[i])]
    assert len(constants) >= 15

    for index in constants:
        # Then the comment block above it (constants sharing one block) cites a page
        above = index - 1
        while above > start and re.match(r"[A-Z_]+ = ", lines[above]):
            above -= 1
        block = []
        while above > start and lines[above].startswith("#"):
            block.append(lines[above])
            above -= 1
        assert any("https://" in line for line in block), f"no source above {lines[index]!r}"
