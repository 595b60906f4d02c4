"""Fixtures of the integration tests that more than one file uses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from callcenter.testing.cluster import PrivateRedis


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A Redis of the test's own (its faults touch nobody else's)."""
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()
