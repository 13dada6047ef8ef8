"""Running a built function as the Lambda runtime would: its build folder on sys.path and a
python3.13 with only boto3 (.cache/lambda-python), against a moto server on loopback.

The artifacts are those `sam build` writes to .aws-sam/build (`make artifacts` builds them
first): pure Python, so the deployable arm64 artifact runs on this machine as it is.
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

from tests.conftest import REGION
from tests.template import ROOT, resource, template

BUILD = ROOT / ".aws-sam" / "build"
LAMBDA_PYTHON = ROOT / ".cache" / "lambda-python" / "bin" / "python"

# Runs inside the artifact: sys.path is the build folder and the interpreter's own site-packages.
RUNNER = """
import importlib, json, sys
handler_path, event_path, task_root, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
sys.path.insert(0, task_root)  # what Lambda's /var/task is
module, _, name = handler_path.rpartition(".")
class Context:
    function_name = "artifact"; memory_limit_in_mb = 512; aws_request_id = "artifact-test"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:artifact"
    def get_remaining_time_in_millis(self): return int(timeout * 1000)
event = json.load(open(event_path))
result = getattr(importlib.import_module(module), name)(event, Context())
print("RESULT " + json.dumps(result))
"""


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto server on loopback, one per test module."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def client(service: str, endpoint: str) -> Any:
    """A client of the moto server."""
    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )


def run_built(logical_id: str, event: Path, endpoint: str, **variables: str) -> dict[str, Any]:
    """Invoke a built function's handler in a fresh Lambda-like process; its response."""
    folder = BUILD / logical_id
    assert folder.is_dir(), f"{folder} is missing: run `make artifacts` (it builds them first)"
    assert LAMBDA_PYTHON.exists(), f"{LAMBDA_PYTHON} is missing: run `make artifacts` first"
    environment = {
        "PATH": os.environ["PATH"],
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "POWERTOOLS_METRICS_NAMESPACE": "artifact-test",
        "POWERTOOLS_SERVICE_NAME": logical_id,
        **variables,
    }
    properties = resource(logical_id)["Properties"]
    timeout = properties.get("Timeout", template()["Globals"]["Function"]["Timeout"])  # what Lambda gives it
    completed = subprocess.run(  # noqa: S603 (fixed interpreter and arguments)
        [str(LAMBDA_PYTHON), "-I", "-c", RUNNER, properties["Handler"], str(event), str(folder), str(timeout)],
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
