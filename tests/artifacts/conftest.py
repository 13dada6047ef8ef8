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

from local.support import REGION, ROOT, function_spec

BUILD = ROOT / ".aws-sam" / "build"
LAMBDA_PYTHON = ROOT / ".cache" / "lambda-python" / "bin" / "python"

# Runs inside the artifact: sys.path is the build folder and the interpreter's own site-packages.
# local/support.py is loaded by path (standard library only at import): the project is not on sys.path.
RUNNER = """
import importlib, importlib.util, json, sys
handler_path, event_path, task_root, function, support_path = sys.argv[1:6]
spec = importlib.util.spec_from_file_location("profile_sync_support", support_path)
support = importlib.util.module_from_spec(spec); sys.modules[spec.name] = support; spec.loader.exec_module(support)
sys.path.insert(0, task_root)  # what Lambda's /var/task is
module, _, name = handler_path.rpartition(".")
timeout = float(sys.argv[6])
context = support.LambdaContext(function_name=function, timeout=timeout)
event = json.load(open(event_path))
result = getattr(importlib.import_module(module), name)(event, context)
print("RESULT " + json.dumps(result))
"""
SUPPORT = ROOT / "local" / "support.py"


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
    spec = function_spec(logical_id)  # the handler and the Timeout Lambda gives it
    arguments = [spec.handler, str(event), str(folder), logical_id, str(SUPPORT), str(spec.timeout)]
    completed = subprocess.run(  # noqa: S603 (fixed interpreter and arguments)
        [str(LAMBDA_PYTHON), "-I", "-c", RUNNER, *arguments],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    line = next(line for line in completed.stdout.splitlines() if line.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return result
