"""The `sam build` artifact runs on its own: each function's handler imports and runs from
its build folder with only boto3 beside it, as the Lambda runtime provides.

`make test` builds a copy for this machine's architecture (.cache/build-host) before the
tests, because the deployable arm64 artifact holds aarch64 wheels that cannot load here.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.conftest import EVENTS, REGION
from tests.template import ROOT, create_table_kwargs, resource, resources_of_type

BUILD = ROOT / ".cache" / "build-host" / "build"
LAMBDA_PYTHON = ROOT / ".cache" / "lambda-python" / "bin" / "python"
TABLE = "profiles-artifact-test"

# Runs inside the artifact: sys.path is the build folder and the interpreter's own site-packages.
RUNNER = """
import importlib, json, sys
handler_path, event_path, task_root = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, task_root)  # what Lambda's /var/task is
module, _, name = handler_path.rpartition(".")
class Context:
    function_name = "artifact"; memory_limit_in_mb = 512; aws_request_id = "artifact-test"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:artifact"
    def get_remaining_time_in_millis(self): return 5000
event = json.load(open(event_path))
result = getattr(importlib.import_module(module), name)(event, Context())
print("RESULT " + json.dumps(result))
"""


@pytest.fixture(scope="module")
def dynamodb_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    client.create_table(**create_table_kwargs("ProfileTable", TABLE))
    yield endpoint
    server.stop()


def run_built(logical_id: str, event: Path, endpoint: str) -> dict[str, Any]:
    folder = BUILD / logical_id
    assert folder.is_dir(), f"{folder} is missing: run `make build-host` (make test does) first"
    assert LAMBDA_PYTHON.exists(), f"{LAMBDA_PYTHON} is missing: run `make build-host` first"
    environment = {
        "PATH": os.environ["PATH"],
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "PROFILE_TABLE_NAME": TABLE,
        "POWERTOOLS_METRICS_NAMESPACE": "artifact-test",
        "POWERTOOLS_SERVICE_NAME": logical_id,
    }
    completed = subprocess.run(  # noqa: S603 (fixed interpreter and arguments)
        [
            str(LAMBDA_PYTHON),
            "-I",
            "-c",
            RUNNER,
            resource(logical_id)["Properties"]["Handler"],
            str(event),
            str(folder),
        ],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    line = next(line for line in completed.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))  # type: ignore[no-any-return]


def test_lambda_python_has_nothing_but_boto3() -> None:
    # Given the interpreter standing in for the Lambda runtime, Then pydantic and powertools
    # are not importable from it: they must come from the artifact
    probe = subprocess.run(  # noqa: S603
        [str(LAMBDA_PYTHON), "-I", "-c", "import aws_lambda_powertools"], capture_output=True, check=False
    )
    assert probe.returncode != 0


@pytest.mark.parametrize("logical_id", sorted(resources_of_type("AWS::Serverless::Function")))
def test_built_function_has_its_handler_module(logical_id: str) -> None:
    module = resource(logical_id)["Properties"]["Handler"].rpartition(".")[0]
    assert (BUILD / logical_id / (module.replace(".", "/") + ".py")).is_file()


def test_built_post_confirmation_creates_the_profile(dynamodb_endpoint: str) -> None:
    # Given the built post-confirmation function and a sign-up event
    # When it runs from its build folder
    result = run_built(
        "PostConfirmationFunction", EVENTS / "cognito" / "post_confirmation_email_sign_up.json", dynamodb_endpoint
    )

    # Then the profile exists in the table
    client = boto3.client(
        "dynamodb", endpoint_url=dynamodb_endpoint, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    sub = result["request"]["userAttributes"]["sub"]
    assert client.get_item(TableName=TABLE, Key={"user_id": {"S": sub}}).get("Item")


def test_built_pre_token_function_adds_claims(dynamodb_endpoint: str) -> None:
    # Given the built pre-token function and a V2 event
    # When it runs from its build folder
    result = run_built(
        "PreTokenGenerationFunction", EVENTS / "cognito" / "pre_token_v2_authentication.json", dynamodb_endpoint
    )

    # Then the response carries claims for both tokens
    details = result["response"]["claimsAndScopeOverrideDetails"]
    assert "idTokenGeneration" in details
    assert "accessTokenGeneration" in details
