"""Every sample stream event in events/streams/ runs through each function template.yaml
attaches to the profile table's stream, so samples, template and code cannot drift apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local.support import EVENTS, MotoStack, handler_for, stream_mappings

SAMPLES = sorted((EVENTS / "streams").glob("*.json"))


def stream_functions() -> list[str]:
    """Logical ids of the functions with a DynamoDB event source on ProfileTable's stream."""
    return sorted(
        {
            mapping["Function"]
            for mapping in stream_mappings().values()
            if mapping["Stream"] == {"Fn::GetAtt": ["ProfileTable", "StreamArn"]}
        }
    )


def test_the_stream_has_consumers_and_samples() -> None:
    assert stream_functions()
    assert {path.stem for path in SAMPLES} >= {"stream_insert", "stream_remove", "stream_poison", "stream_mixed_batch"}


@pytest.mark.parametrize("function", stream_functions())
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda path: path.name)
def test_sample_stream_event_runs_through_every_stream_function(
    sample: Path, function: str, stack: MotoStack, context: Any
) -> None:
    # Given a sample stream batch and a function on the table's stream
    event = json.loads(sample.read_text())

    # When the function handles it
    response = handler_for(function)(event, context)

    # Then it answers in the ReportBatchItemFailures shape, naming only records of the batch
    assert set(response) == {"batchItemFailures"}
    sequence_numbers = {record["dynamodb"].get("SequenceNumber") for record in event["Records"]}
    assert {failure["itemIdentifier"] for failure in response["batchItemFailures"]} <= sequence_numbers
