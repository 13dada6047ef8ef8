"""Settings read from the environment: clear errors naming the variable, typed values, cached."""

import dataclasses
from collections.abc import Iterator
from typing import Literal

import pytest

from shared import settings
from shared.settings import SettingsError, env
from shared.triggers import TriggerSettings
from triggers.pre_token_generation.sign_in import PreTokenSettings


@dataclasses.dataclass(frozen=True)
class ExampleSettings:
    table_name: str = env("TABLE_NAME")
    mode: Literal["open", "closed"] = env("MODE", "open")
    enabled: bool = env("ENABLED", False)
    timeout_seconds: float = env("TIMEOUT_SECONDS", 0.5)
    attempts: int = env("ATTEMPTS", 2)
    bus: str = env("EXAMPLE_EVENT_BUS", "default")


VARIABLES = [
    *(field.metadata["env"] for field in dataclasses.fields(ExampleSettings)),
    "BUS",
    *(field.metadata["env"] for field in dataclasses.fields(PreTokenSettings)),
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts from an environment without these variables and an empty cache."""
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    settings.load.cache_clear()
    yield
    settings.load.cache_clear()


def test_missing_required_variable_raises_an_error_naming_it() -> None:
    # Given no PROFILE_TABLE_NAME in the environment
    # When the trigger settings are loaded
    with pytest.raises(SettingsError) as caught:
        settings.load(TriggerSettings)

    # Then the error names the variable
    assert "PROFILE_TABLE_NAME" in str(caught.value)


def test_empty_required_variable_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given PROFILE_TABLE_NAME set to an empty string
    monkeypatch.setenv("PROFILE_TABLE_NAME", "")

    # When / Then loading fails naming it
    with pytest.raises(SettingsError, match="PROFILE_TABLE_NAME"):
        settings.load(TriggerSettings)


def test_unset_optional_variables_keep_their_declared_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given only the required variable
    monkeypatch.setenv("TABLE_NAME", "profiles")

    # When the settings are loaded
    loaded = settings.load(ExampleSettings)

    # Then every other field has the default the class declares
    assert loaded == ExampleSettings(table_name="profiles")


def test_string_variable_is_taken_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the table name in the environment
    monkeypatch.setenv("PROFILE_TABLE_NAME", "profile-sync-ProfileTable-1ABC")

    # When the trigger settings are loaded
    loaded = settings.load(TriggerSettings)

    # Then the value is the variable's
    assert loaded.profile_table_name == "profile-sync-ProfileTable-1ABC"


def test_literal_variable_accepts_a_declared_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given fail-closed chosen for the pre-token trigger
    monkeypatch.setenv("PROFILE_TABLE_NAME", "profiles")
    monkeypatch.setenv("ON_STORE_ERROR", "closed")

    # When the settings are loaded
    loaded = settings.load(PreTokenSettings)

    # Then the choice is taken
    assert loaded.on_store_error == "closed"


@pytest.mark.parametrize("value", ["CLOSED", "fail-closed", "maybe"])
def test_literal_variable_rejects_other_values_naming_the_variable_and_choices(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # Given a value outside the declared choices (the match is exact)
    monkeypatch.setenv("PROFILE_TABLE_NAME", "profiles")
    monkeypatch.setenv("ON_STORE_ERROR", value)

    # When the settings are loaded
    with pytest.raises(SettingsError) as caught:
        settings.load(PreTokenSettings)

    # Then the error names the variable and lists the choices
    message = str(caught.value)
    assert "ON_STORE_ERROR" in message
    assert "open" in message
    assert "closed" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("false", False), ("False", False), ("0", False)],
)
def test_boolean_variable_is_parsed(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    # Given a boolean variable in one of its accepted spellings
    monkeypatch.setenv("TABLE_NAME", "profiles")
    monkeypatch.setenv("ENABLED", value)

    # When the settings are loaded
    loaded = settings.load(ExampleSettings)

    # Then it is the matching boolean
    assert loaded.enabled is expected


@pytest.mark.parametrize("value", ["yes", "on", "2", "tru"])
def test_boolean_variable_rejects_other_words_naming_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    # Given a boolean variable that is not true/false/1/0
    monkeypatch.setenv("TABLE_NAME", "profiles")
    monkeypatch.setenv("ENABLED", value)

    # When / Then loading fails naming it
    with pytest.raises(SettingsError, match="ENABLED"):
        settings.load(ExampleSettings)


def test_number_variables_are_converted_to_their_declared_types(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a timeout and an attempt count
    monkeypatch.setenv("PROFILE_TABLE_NAME", "profiles")
    monkeypatch.setenv("CONNECT_TIMEOUT_SECONDS", "0.25")
    monkeypatch.setenv("MAX_ATTEMPTS", "3")

    # When the trigger settings are loaded
    loaded = settings.load(TriggerSettings)

    # Then the timeout is a float and the count an int
    assert loaded.connect_timeout_seconds == 0.25
    assert isinstance(loaded.max_attempts, int)
    assert loaded.max_attempts == 3


@pytest.mark.parametrize(("variable", "value"), [("READ_TIMEOUT_SECONDS", "fast"), ("MAX_ATTEMPTS", "2.5")])
def test_non_numeric_variable_is_rejected_naming_it(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    # Given a number variable that does not parse as its type
    monkeypatch.setenv("PROFILE_TABLE_NAME", "profiles")
    monkeypatch.setenv(variable, value)

    # When / Then loading fails naming the variable
    with pytest.raises(SettingsError, match=variable):
        settings.load(TriggerSettings)


@pytest.mark.parametrize("value", ["0", "-1", "-0.5"])
def test_zero_or_negative_number_is_rejected(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    # Given a timeout that is not positive
    monkeypatch.setenv("PROFILE_TABLE_NAME", "profiles")
    monkeypatch.setenv("CONNECT_TIMEOUT_SECONDS", value)

    # When / Then loading fails naming it
    with pytest.raises(SettingsError, match="CONNECT_TIMEOUT_SECONDS"):
        settings.load(TriggerSettings)


@pytest.mark.parametrize("value", ["nan", "inf", "Infinity"])
def test_non_finite_number_is_rejected(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    # Given a timeout that is not a finite number
    monkeypatch.setenv("PROFILE_TABLE_NAME", "profiles")
    monkeypatch.setenv("READ_TIMEOUT_SECONDS", value)

    # When / Then loading fails naming it
    with pytest.raises(SettingsError, match="READ_TIMEOUT_SECONDS"):
        settings.load(TriggerSettings)


def test_env_metadata_names_the_variable_to_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the bus name under the variable the field's metadata names (and a decoy under the field name)
    monkeypatch.setenv("TABLE_NAME", "profiles")
    monkeypatch.setenv("EXAMPLE_EVENT_BUS", "profile-events")
    monkeypatch.setenv("BUS", "decoy")

    # When the settings are loaded
    loaded = settings.load(ExampleSettings)

    # Then the named variable is used
    assert loaded.bus == "profile-events"


def test_settings_are_read_once_and_cached_until_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given settings loaded once
    monkeypatch.setenv("PROFILE_TABLE_NAME", "first")
    first = settings.load(TriggerSettings)

    # When the environment changes
    monkeypatch.setenv("PROFILE_TABLE_NAME", "second")

    # Then later loads return the cached settings until the cache is cleared
    assert settings.load(TriggerSettings) is first
    settings.load.cache_clear()
    assert settings.load(TriggerSettings).profile_table_name == "second"


def test_a_failed_load_is_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a load that failed for a missing variable
    with pytest.raises(SettingsError):
        settings.load(TriggerSettings)

    # When the variable is then set
    monkeypatch.setenv("PROFILE_TABLE_NAME", "profiles")

    # Then the next load succeeds without clearing the cache
    assert settings.load(TriggerSettings).profile_table_name == "profiles"


def test_a_field_without_a_variable_is_refused_by_name() -> None:
    # Given settings with a field that names no environment variable
    @dataclasses.dataclass(frozen=True)
    class Careless:
        table_name: str = "profiles"

    # When they are loaded
    # Then the error names the field: variables are never derived from field names
    with pytest.raises(SettingsError, match=r"Careless\.table_name"):
        settings.load(Careless)
