"""The user pool and profile table under moto for the ops tests (helpers in tests/ops/pool.py)."""

from collections.abc import Iterator

import pytest

from local.support import MotoStack, moto_stack


@pytest.fixture
def pool(aws_env: None) -> Iterator[MotoStack]:
    """template.yaml's table and user pool under moto; the calls of ``pool.session``'s clients are recorded."""
    with moto_stack() as stack:
        yield stack
