"""Which pool and table a command works on: --local, --stack or the ids, and the errors that say what to pass."""

import argparse
import contextlib
import json
import os
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from ops import target
from ops.__main__ import main as ops_main
from ops.target import Target, TargetError, add_target_arguments, local_target, make_client, resolve, stack_target


def parse(*argv: str, table: bool = True) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_target_arguments(parser, table=table)
    return parser.parse_args(list(argv))


def test_the_ids_name_the_target() -> None:
    found = resolve(parse("--user-pool-id", "us-east-1_abc", "--table-name", "profiles", "--region", "eu-west-1"))
    assert (found.user_pool_id, found.table_name, found.region, found.environment) == (
        "us-east-1_abc", "profiles", "eu-west-1", {}
    )  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "say what to work on: --user-pool-id ID --table-name NAME, --stack NAME or --local"),
        (("--user-pool-id", "us-east-1_abc"), "say what to work on"),
        (("--local", "--stack", "app"), "give one of --local, --stack or the ids, not --local and --stack"),
        (("--stack", "app", "--table-name", "t"), "not --stack and the ids"),
    ],
)
def test_missing_or_conflicting_choices_are_refused_with_what_to_pass(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(TargetError, match=message):
        resolve(parse(*argv))


def test_a_command_without_a_table_needs_the_pool_only() -> None:
    found = resolve(parse("--user-pool-id", "us-east-1_abc", table=False))
    assert (found.user_pool_id, found.table_name) == ("us-east-1_abc", "")
    with pytest.raises(TargetError, match="--user-pool-id ID, --stack"):
        resolve(parse(table=False))


def local_state(path: Path, pid: int) -> Path:
    state = {
        "pid": pid,
        "environment": {"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:1", "AWS_ACCESS_KEY_ID": "local"},
        "outputs": {"UserPoolId": "local_pool", "ProfileTableName": "ProfileTable"},
    }
    path.write_text(json.dumps(state))
    return path


def test_local_target_reads_the_running_stacks_state(tmp_path: Path) -> None:
    found = local_target(local_state(tmp_path / "stack.json", os.getpid()))
    assert (found.user_pool_id, found.table_name) == ("local_pool", "ProfileTable")
    assert found.environment["AWS_ENDPOINT_URL_DYNAMODB"] == "http://127.0.0.1:1"


@pytest.mark.parametrize("case", ["no file", "not json", "dead process", "no outputs"])
def test_local_target_without_a_running_stack_says_how_to_start_one(tmp_path: Path, case: str) -> None:
    path = tmp_path / "stack.json"
    if case == "not json":
        path.write_text("{")
    elif case == "dead process":
        local_state(path, pid=2**22 + 12345)  # above Linux's largest pid: no such process
    elif case == "no outputs":
        path.write_text(json.dumps({"pid": os.getpid(), "environment": {}}))
    with pytest.raises(TargetError, match=r"no local stack is running: start one with `python -m local up`"):
        local_target(path)


def stubbed_cloudformation(monkeypatch: pytest.MonkeyPatch, answer: dict[str, Any] | None) -> Stubber:
    client = make_client("cloudformation", "us-east-1")
    stubber = Stubber(client)
    if answer is None:
        stubber.add_client_error("describe_stacks", "ValidationError", "Stack with id app does not exist")
    else:
        stubber.add_response("describe_stacks", answer, {"StackName": "app"})
    stubber.activate()
    monkeypatch.setattr(target, "make_client", lambda service, region=None, **_: client)
    return stubber


def stack(outputs: dict[str, str]) -> dict[str, Any]:
    described = [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()]
    return {"Stacks": [{"StackName": "app", "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE",
                        "Outputs": described}]}  # fmt: skip


def test_stack_target_reads_pool_and_table_from_the_outputs(monkeypatch: pytest.MonkeyPatch, aws_env: None) -> None:
    stubbed_cloudformation(monkeypatch, stack({"UserPoolId": "us-east-1_abc", "ProfileTableName": "profiles"}))
    found = stack_target("app", "us-east-1")
    assert found == Target("us-east-1_abc", "profiles", region="us-east-1",
                           outputs={"UserPoolId": "us-east-1_abc", "ProfileTableName": "profiles"})  # fmt: skip


def test_stack_target_names_the_missing_output(monkeypatch: pytest.MonkeyPatch, aws_env: None) -> None:
    stubbed_cloudformation(monkeypatch, stack({"UserPoolId": "us-east-1_abc"}))
    with pytest.raises(TargetError, match="stack app has no output ProfileTableName"):
        stack_target("app", "us-east-1")


def test_stack_target_reports_a_stack_it_cannot_read(monkeypatch: pytest.MonkeyPatch, aws_env: None) -> None:
    stubbed_cloudformation(monkeypatch, None)
    with pytest.raises(TargetError, match=r"cannot read stack app: .*ValidationError"):
        stack_target("app", "us-east-1")


def test_clients_have_explicit_timeouts_and_bounded_retries(aws_env: None) -> None:
    config = make_client("dynamodb", "us-east-1").meta.config
    assert config.connect_timeout == target.CONNECT_TIMEOUT_SECONDS
    assert config.read_timeout == target.READ_TIMEOUT_SECONDS
    assert config.retries == {"mode": "standard", "total_max_attempts": target.MAX_ATTEMPTS}


def test_local_clients_use_the_stacks_endpoint_and_credentials_only(aws_env: None) -> None:
    environment = {"AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": "http://127.0.0.1:9229", "AWS_ACCESS_KEY_ID": "local",
                   "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "eu-west-2"}  # fmt: skip
    client = make_client("cognito-idp", environment=environment)
    assert client.meta.endpoint_url == "http://127.0.0.1:9229"
    assert client.meta.region_name == "eu-west-2"
    assert client._request_signer._credentials.access_key == "local"


def test_timeout_and_attempts_reach_every_client_of_the_target(aws_env: None) -> None:
    found = resolve(
        parse("--user-pool-id", "us-east-1_abc", "--table-name", "t", "--timeout", "2.5", "--attempts", "2")
    )
    config = found.client("cognito-idp").meta.config
    assert (config.read_timeout, config.connect_timeout) == (2.5, target.CONNECT_TIMEOUT_SECONDS)
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--timeout", "0"), "argument --timeout: must be a finite number more than 0: '0'"),
        (("--timeout", "nan"), "argument --timeout: must be a finite number more than 0: 'nan'"),
        (("--timeout", "1e309"), "argument --timeout: must be a finite number more than 0: '1e309'"),
        (("--timeout", "soon"), "argument --timeout: not a number: 'soon'"),
        (("--attempts", "-1"), "argument --attempts: must be a finite number more than 0: '-1'"),
        (("--attempts", "1.5"), "argument --attempts: not a number: '1.5'"),
    ],
)
def test_a_timeout_or_attempts_that_is_not_a_positive_number_is_refused(
    argv: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse("--user-pool-id", "us-east-1_abc", "--table-name", "t", *argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_local_and_stack_targets_carry_the_timeout_and_attempts_to_their_clients(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, aws_env: None
) -> None:
    # Given a running local stack's state, and a stack whose outputs name a pool and table
    state = local_state(tmp_path / "stack.json", os.getpid())
    monkeypatch.setattr(target, "local_target", lambda: local_target(state))
    made: list[dict[str, Any]] = []
    client = make_client("cloudformation", "us-east-1")
    stubber = Stubber(client)
    stubber.add_response("describe_stacks", stack({"UserPoolId": "us-east-1_abc", "ProfileTableName": "p"}),
                         {"StackName": "app"})  # fmt: skip
    stubber.activate()

    def recording(service: str, region: str | None = None, environment: Any = None, **limits: Any) -> Any:
        made.append({"service": service, **limits})
        return client

    monkeypatch.setattr(target, "make_client", recording)

    # When each is chosen with --timeout 2 --attempts 3
    local = resolve(parse("--local", "--timeout", "2", "--attempts", "3"))
    deployed = resolve(parse("--stack", "app", "--timeout", "2", "--attempts", "3"))

    # Then both targets, and the stack lookup's own client, carry them
    assert (local.read_timeout, local.max_attempts) == (deployed.read_timeout, deployed.max_attempts) == (2.0, 3)
    assert made == [{"service": "cloudformation", "read_timeout": 2.0, "max_attempts": 3}]
    local.client("sqs")
    assert made[-1] == {"service": "sqs", "read_timeout": 2.0, "max_attempts": 3}


def test_a_replaced_target_makes_new_clients_with_its_own_limits(aws_env: None) -> None:
    first = Target("us-east-1_abc", "t", region="us-east-1")
    first.client("dynamodb")
    patient = replace(first, read_timeout=2.0)
    assert patient.client("dynamodb").meta.config.read_timeout == 2.0


def test_a_command_gives_up_on_an_aws_that_never_answers_after_timeout_times_attempts(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an AWS endpoint that accepts connections and never answers, counting them
    connections: list[socket.socket] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        server.settimeout(0.1)
        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    connections.append(server.accept()[0])

        acceptor = threading.Thread(target=accept, daemon=True)
        acceptor.start()
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.getsockname()[1]}")

        # When an export waits at most 0.5 s per request, three tries
        started = time.monotonic()
        status = ops_main(["export", "abc", "--output", str(tmp_path / "out.json"), "--user-pool-id", "us-east-1_abc",
                           "--table-name", "t", "--timeout", "0.5", "--attempts", "3"])  # fmt: skip
        elapsed = time.monotonic() - started
        stop.set()
        acceptor.join()
    for connection in connections:
        connection.close()

    # Then it tried three times, each given up after the timeout, and failed with the reason
    assert status == 1
    assert "export of abc failed (ReadTimeoutError)" in capsys.readouterr().err
    assert len(connections) == 3
    assert 1.5 <= elapsed < 5.0
    assert not (tmp_path / "out.json").exists()
