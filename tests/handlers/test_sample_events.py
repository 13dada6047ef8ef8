"""Every sample event in events/ runs through the handler that template.yaml wires to it,
so the samples, the template and the code cannot drift apart."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local.support import EVENTS, handler_for, resource

COGNITO_TRIGGERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "PostConfirmation_": lambda config: config["PostConfirmation"],
    "TokenGeneration_": lambda config: config["PreTokenGenerationConfig"]["LambdaArn"],
}


def function_for(event: dict[str, Any]) -> str:
    """The logical id of the function template.yaml has Cognito call for this event."""
    config = resource("UserPool")["Properties"]["LambdaConfig"]
    source = event.get("triggerSource", "")
    for prefix, arn_of in COGNITO_TRIGGERS.items():
        if source.startswith(prefix):
            return str(arn_of(config)["Fn::GetAtt"][0])
    raise AssertionError(f"no function in template.yaml handles trigger source {source!r}")


SAMPLES = sorted(path.relative_to(EVENTS) for path in (EVENTS / "cognito").glob("*.json"))


def test_there_is_a_sample_for_every_trigger_source_handled() -> None:
    sources = {json.loads((EVENTS / path).read_text())["triggerSource"] for path in SAMPLES}
    assert sources >= {
        "PostConfirmation_ConfirmSignUp",
        "PostConfirmation_ConfirmForgotPassword",
        "TokenGeneration_Authentication",
        "TokenGeneration_RefreshTokens",
        "TokenGeneration_HostedAuth",
        "TokenGeneration_ClientCredentials",
    }


@pytest.mark.parametrize("sample", SAMPLES, ids=str)
def test_sample_event_runs_through_its_handler(sample: Path, table: Any, lambda_context: Any) -> None:
    # Given a sample event and the function template.yaml wires to its trigger source
    event = json.loads((EVENTS / sample).read_text())
    handler = handler_for(function_for(event))

    # When the handler runs it
    result = handler(event, lambda_context)

    # Then it returns the event, with Cognito's own fields untouched
    assert result is event
    for key in ("version", "triggerSource", "region", "userPoolId", "userName", "request"):
        assert result.get(key) == json.loads((EVENTS / sample).read_text()).get(key)
