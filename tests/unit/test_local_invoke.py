"""`python -m local invoke` names a wrong function or event in one line, before any stack starts (no sockets)."""

from pathlib import Path
from typing import Any

import pytest

from local import __main__ as cli
from local.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
SIGN_UP = ROOT / "events" / "cognito" / "post_confirmation_email_sign_up.json"
STREAM = ROOT / "events" / "streams" / "stream_modify_synced.json"


@pytest.fixture(autouse=True)
def no_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """No stack is running, and starting one fails the test."""

    def start(self: Stack) -> Stack:
        raise AssertionError("a stack was started")

    monkeypatch.setattr(Stack, "start", start)
    monkeypatch.setattr(cli, "_running_stack", lambda: None)


def invoke(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = cli.main(["invoke", *args])
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1, err
    return status, err.strip()


def event_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "event.json"
    path.write_text(text)
    return str(path)


def test_a_missing_event_file_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    # When the event file does not exist
    status, message = invoke(capsys, "PostConfirmationFunction", "-e", "events/nope.json")
    # Then one line names it
    assert status == 2
    assert message == "error: event file events/nope.json does not exist"


def test_an_empty_event_option_asks_for_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    status, message = invoke(capsys, "PostConfirmationFunction", "-e", "")
    assert status == 2
    assert message.startswith("error: -e needs an event file")


def test_an_event_file_that_is_not_json_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Given a file that is not JSON
    path = event_file(tmp_path, "triggerSource: PostConfirmation_ConfirmSignUp\n")
    # When it is the event
    status, message = invoke(capsys, "PostConfirmationFunction", "-e", path)
    # Then one line says so, with where the parser stopped
    assert status == 2
    assert message.startswith(f"error: {path} is not JSON: Expecting value: line 1 column 1")


@pytest.mark.parametrize(("text", "kind"), [("[]", "a list"), ("null", "null"), ('"hello"', "a string")])
def test_an_event_that_is_not_an_object_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, kind: str
) -> None:
    status, message = invoke(capsys, "PostConfirmationFunction", "-e", event_file(tmp_path, text))
    assert status == 2
    assert message == f"error: the event is {kind}; PostConfirmationFunction takes a JSON object"


def test_a_stream_handler_event_without_records_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    # When a stream function is invoked with the default event, {}
    status, message = invoke(capsys, "PublishEventsFunction")
    # Then it is refused for its missing Records, instead of publishing nothing
    assert status == 2
    assert 'PublishEventsFunction reads the stream: its event needs a "Records" list' in message


def test_a_trigger_event_without_a_trigger_source_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    status, message = invoke(capsys, "PreTokenGenerationFunction")
    assert status == 2
    assert 'PreTokenGenerationFunction is a Cognito trigger: its event needs a "triggerSource"' in message


def test_an_unknown_function_is_named_with_the_templates_functions(capsys: pytest.CaptureFixture[str]) -> None:
    status, message = invoke(capsys, "PostConfirmation", "-e", str(SIGN_UP))
    assert status == 2
    functions = ", ".join(sorted(Stack().specs))
    assert "PostConfirmationFunction, PreTokenGenerationFunction" in functions
    assert message == f"error: no function 'PostConfirmation' in template.yaml; it has {functions}"


def test_with_up_running_an_unknown_function_is_named_with_the_running_stacks_functions(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stack started by `up`
    state: dict[str, Any] = {"functions": ["PostConfirmationFunction", "SyncCognitoFunction"], "endpoints": {}}
    monkeypatch.setattr(cli, "_running_stack", lambda: state)
    # When the function named is not one of its functions
    status, message = invoke(capsys, "Nope", "-e", str(SIGN_UP))
    # Then its functions are listed, and nothing is sent to it
    assert status == 2
    assert message.endswith("it has PostConfirmationFunction, SyncCognitoFunction")


@pytest.mark.parametrize(("function", "path"), [("PostConfirmationFunction", SIGN_UP), ("SyncCognitoFunction", STREAM)])
def test_sample_events_are_accepted_for_their_functions(function: str, path: Path) -> None:
    # Given a sample event from events/ for its function
    stack = Stack()
    # Then the invoker finds nothing wrong with it
    cli.check_invocation(stack, function, cli.read_event(str(path)), list(stack.specs))
