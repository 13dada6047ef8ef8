"""What every function's logging hides: third-party libraries' debug output, with the values it would print."""

from __future__ import annotations

import importlib
import io
import logging
from collections.abc import Iterator

import pytest

from local.support import moto_stack

THIRD_PARTY = ("botocore", "boto3", "urllib3", "s3transfer")
EMAIL = "ada.zq7@example.com"


class _Capture(logging.Handler):
    """What the Lambda runtime's handler on the root logger would print: every record that reaches it."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []
        self.output = io.StringIO()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.output.write(self.format(record) + "\n")


@pytest.fixture
def lambda_debug_logging(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Capture]:
    """The runtime under LoggingConfig ApplicationLogLevel DEBUG: root logger at DEBUG with its handler."""
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
    root = logging.getLogger()
    capture = _Capture()
    previous = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(capture)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(previous)


def test_aws_sdk_debug_logs_stay_silent_at_lambda_debug_level(lambda_debug_logging: _Capture) -> None:
    # Given a function's observability module imported under Lambda's DEBUG log level
    importlib.import_module("shared.observability")
    logging.getLogger("shared.probe").debug("application debug reaches the runtime")

    # When a real botocore call sends an item holding an email
    with moto_stack(table_only=True) as stack:
        stack.dynamodb.put_item(TableName=stack.table_name, Item={"user_id": {"S": "u1"}, "email": {"S": EMAIL}})

    # Then the application's own debug record was printed (the capture sees DEBUG)...
    records = lambda_debug_logging.records
    assert [record.getMessage() for record in records if record.name == "shared.probe"] == [
        "application debug reaches the runtime"
    ]
    # ...but no SDK or HTTP library record below WARNING, and the email nowhere
    chatty = [
        f"{record.levelname} {record.name}"
        for record in records
        if record.name.split(".")[0] in THIRD_PARTY and record.levelno < logging.WARNING
    ]
    assert chatty == []
    assert EMAIL not in lambda_debug_logging.output.getvalue()
