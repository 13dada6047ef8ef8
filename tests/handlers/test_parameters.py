"""Every value CloudFormation accepts for a parameter is one the functions accept too.

A parameter that reaches a function's environment must not let a stack deploy with a value the
function refuses on its first invocation (``shared/settings.py``), nor with one the function
silently replaces by its default while the rest of the template uses it as given.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from api.profile.app import ApiSettings
from consumers.example.copies import ConsumerSettings
from lifecycle.reconcile.app import ReconcileSettings
from lifecycle.user_deleted.deletions import UserDeletedSettings
from local.support import function_environment, resources_of_type, template
from local.template import Resolver
from shared import settings
from shared.triggers import TriggerSettings
from stream_handlers.publish_events.publisher import PublishSettings
from stream_handlers.sync_cognito.sync import SyncSettings
from triggers.pre_token_generation.sign_in import PreTokenSettings

# The settings each function loads; a new function must be added here.
FUNCTION_SETTINGS: dict[str, type[Any]] = {
    "PostConfirmationFunction": TriggerSettings,
    "PreTokenGenerationFunction": PreTokenSettings,
    "PublishEventsFunction": PublishSettings,
    "SyncCognitoFunction": SyncSettings,
    "ProfileApiFunction": ApiSettings,
    "ExampleConsumerFunction": ConsumerSettings,
    "ReconcileFunction": ReconcileSettings,
    "UserDeletedFunction": UserDeletedSettings,
}
# Values people type, and values at the edges of what the functions convert.
CANDIDATES = [
    "",
    " ",
    "0",
    "00",
    "0.0",
    ".0",
    ".00",
    "0.",
    "-0",
    "-1",
    "1",
    "1.",
    "1.0",
    "1.5",
    "0.5",
    ".5",
    "0.0001",
    "2",
    "25",
    "1e3",
    "nan",
    "inf",
    "abc",
    "true",
    "false",
    "True",
    "yes",
    "open",
    "closed",
    "Open",
    "aws.events",
    "com.example.profiles",
    "profile-sync",
]


def cloudformation_accepts(spec: dict[str, Any], value: str) -> bool:
    """Whether CloudFormation takes ``value`` for a parameter: AllowedValues, AllowedPattern (a
    full match), MinLength/MaxLength, Number and MinValue/MaxValue
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html).
    Numbers are taken as Python's float() reads them: wider than CloudFormation, so stricter here."""
    if "AllowedValues" in spec and value not in [str(allowed) for allowed in spec["AllowedValues"]]:
        return False
    if spec.get("Type", "String") == "Number":
        try:
            number = float(value)
        except ValueError:
            return False
        return not ("MinValue" in spec and number < float(spec["MinValue"])) and not (
            "MaxValue" in spec and number > float(spec["MaxValue"])
        )
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        return False
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        return False
    return not ("MaxLength" in spec and len(value) > int(spec["MaxLength"]))


def parameters_in(value: Any, names: set[str]) -> set[str]:
    """The template parameters an (unresolved) value refers to, by Ref or inside a Sub."""
    if isinstance(value, dict):
        found = {value["Ref"]} & names if set(value) == {"Ref"} else set()
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            found |= set(re.findall(r"\$\{([^}!.]+)\}", text)) & names
        return found | {name for inner in value.values() for name in parameters_in(inner, names)}
    if isinstance(value, list):
        return {name for inner in value for name in parameters_in(inner, names)}
    return set()


def settings_variables(cls: type[Any]) -> dict[str, str]:
    """The environment variable of each settings field, by variable."""
    return {field.metadata.get("env", field.name.upper()): field.name for field in dataclasses.fields(cls)}


def parameter_routes() -> list[tuple[str, str, str]]:
    """(parameter, function, variable) for every parameter that reaches a function's environment."""
    names = set(template()["Parameters"])
    return sorted(
        (parameter, function, variable)
        for function in FUNCTION_SETTINGS
        for variable, value in function_environment(function).items()
        for parameter in parameters_in(value, names)
    )


def cases() -> list[tuple[str, str, str, str]]:
    found = []
    for parameter, function, variable in parameter_routes():
        spec = template()["Parameters"][parameter]
        values = [*CANDIDATES, str(spec.get("Default", "")), *map(str, spec.get("AllowedValues", []))]
        found += [
            (parameter, function, variable, value)
            for value in dict.fromkeys(values)
            if cloudformation_accepts(spec, value)
        ]
    return found


def test_every_function_declares_its_settings() -> None:
    assert set(FUNCTION_SETTINGS) == set(resources_of_type("AWS::Serverless::Function"))


def test_parameters_reach_the_settings_the_functions_read() -> None:
    # Given the parameters that reach a function's environment, When their variables are read,
    # Then each is a field of that function's settings, except the metrics namespace
    # (powertools reads it; AppName's pattern keeps it non-empty)
    unread = {
        (parameter, variable)
        for parameter, function, variable in parameter_routes()
        if variable not in settings_variables(FUNCTION_SETTINGS[function])
    }
    assert unread == {("AppName", "POWERTOOLS_METRICS_NAMESPACE")}
    assert {parameter for parameter, _, _ in parameter_routes()} >= {
        "OnProfileStoreError",
        "EventSource",
        "IncludePiiInEvents",
        "CognitoRateShare",
        "ReconcileMaxDeletes",
    }


@pytest.mark.parametrize(("parameter", "function", "variable", "value"), cases())
def test_a_value_cloudformation_accepts_is_one_the_function_uses_as_given(
    parameter: str, function: str, variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a value CloudFormation accepts for a parameter that reaches a function's environment
    cls = FUNCTION_SETTINGS[function]
    resolver = Resolver(template(), parameters={parameter: value})
    environment = resolver.resolve(function_environment(function))
    for name in settings_variables(cls):
        monkeypatch.delenv(name, raising=False)
    for name, resolved in environment.items():
        monkeypatch.setenv(name, str(resolved))
    # When the function loads its settings, Then they load, and the value is not replaced by a default
    settings.load.cache_clear()
    loaded = settings.load(cls)  # type: ignore[arg-type]  # a class is hashable: python/mypy#11470
    if variable in settings_variables(cls):
        # (what the variable gets: a parameter may stand for something else when empty, as
        # ExistingUserPoolId does for the pool the stack creates)
        given = str(environment[variable])
        assert given != "", f"{variable}='' is read as unset: {function} would use its default, the template ''"
        assert getattr(loaded, settings_variables(cls)[variable]) is not None


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        *[(value, True) for value in ("0.4", ".5", "0.0001", "1", "1.00")],
        *[(value, False) for value in ("0", "0.0", ".0", ".00", "1.5", "-1", "")],
    ],
)
def test_cognito_rate_share_is_a_share_in_zero_to_one(value: str, accepted: bool) -> None:
    assert cloudformation_accepts(template()["Parameters"]["CognitoRateShare"], value) is accepted


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        *[(value, True) for value in ("profile-sync", "com.example.profiles", "a", "x" * 256)],
        *[(value, False) for value in ("", "aws.profiles", "profile sync", "x" * 257)],
    ],
)
def test_event_source_is_a_source_eventbridge_takes(value: str, accepted: bool) -> None:
    assert cloudformation_accepts(template()["Parameters"]["EventSource"], value) is accepted
