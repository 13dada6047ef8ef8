"""One local stack (DynamoDB Local, cognito-local, moto server) for the whole session."""

from collections.abc import Iterator

import pytest

from local.processes import MissingPrerequisite
from local.stack import Stack


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    local = Stack()
    try:
        local.start()
    except MissingPrerequisite as exc:
        local.stop()
        pytest.fail(f"the local stack cannot start: {exc}", pytrace=False)
    yield local
    local.stop()
