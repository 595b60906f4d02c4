"""`callcenter bench cluster` in a tiny size: two real `serve` instances over Redis and
PostgreSQL, consoles split between them, calls from the simulator. Every offer must pop
on its agent's console (half of them cross Redis) and every ended call must be written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import PG_ENABLED, PG_URL

pytestmark = [
    pytest.mark.skipif(not PG_ENABLED, reason="needs PostgreSQL"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


@pytest.mark.timeout(110)
def test_tiny_cluster_bench_delivers_every_pop_and_writes_every_call() -> None:
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "callcenter.cli", "bench", "cluster"),
            *("--consoles", "20", "--seconds", "8", "--calls-per-second", "3"),
            *("--database-url", PG_URL),
        ],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert proc.stdout.strip(), proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["bench"] == "cluster"
    assert result["instances"] == 2
    assert result["consoles"] == 20, proc.stderr[-3000:]
    assert result["calls_placed"] == 24
    assert result["pops_expected"] >= 24
    assert result["pops_delivered"] == result["pops_expected"], proc.stdout
    assert result["wrong_console"] == 0
    assert result["duplicate_pops"] == 0
    assert result["calls_ended"] == result["calls_placed"]
    assert result["records_written"] == result["calls_ended"], proc.stdout
    assert result["p99_ms"] is not None
    assert proc.returncode == 0, proc.stderr[-3000:]
