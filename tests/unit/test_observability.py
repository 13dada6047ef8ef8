"""What every function's logging hides: PII values, and third-party libraries' debug output."""

from __future__ import annotations

from shared.observability import REDACTED, redact


def test_preferences_are_redacted_in_logs() -> None:
    # Given changed values holding free-form preferences and a non-PII plan
    values = {"preferences": {"note": "call me Ada"}, "plan": "pro"}

    # When they are made safe to log
    safe = redact(values)

    # Then the preferences are replaced by the marker and the plan kept
    assert safe == {"preferences": REDACTED, "plan": "pro"}
