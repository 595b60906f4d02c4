"""The command line as people and scripts use it (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from callcenter.testing.cluster import free_port

CLI = [sys.executable, "-m", "callcenter.cli"]


def _run(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def test_help_lists_every_contract_command() -> None:
    out = _run("--help").stdout
    for command in ("demo", "serve", "migrate", "user", "replay", "watch", "sim", "bench"):
        assert command in out


def test_invalid_setting_stops_with_its_name() -> None:
    result = _run("migrate", env={"CALLCENTER_RING_CYCLE_SECONDS": "fast"})
    assert result.returncode == 2
    assert "CALLCENTER_RING_CYCLE_SECONDS" in result.stderr


def test_migrate_then_user_add(tmp_path: Path) -> None:
    env = {"CALLCENTER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"}
    first = _run("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "upgraded from empty" in first.stdout
    assert "up to date" in _run("migrate", env=env).stdout
    added = _run(
        "user",
        "add",
        "lead7",
        "--role",
        "lead",
        "--team",
        "B组",
        "--password-stdin",
        env=env,
        stdin="correct horse battery\n",
    )
    assert added.returncode == 0, added.stderr
    again = _run(
        "user",
        "add",
        "lead7",
        "--role",
        "lead",
        "--password-stdin",
        env=env,
        stdin="correct horse battery\n",
    )
    assert again.returncode == 1
    assert "exists" in again.stderr


def test_migrate_reports_unreachable_database() -> None:
    result = _run("migrate", "--database-url", "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    assert result.returncode == 1
    assert "cannot reach the database" in result.stderr


def test_replay_missing_file_is_a_clear_error() -> None:
    result = _run("replay", "/no/such/capture.jsonl")
    assert result.returncode == 2
    assert "no such file" in result.stderr


def test_watch_prints_calls_from_the_simulator(tmp_path: Path) -> None:
    ami, control = free_port(), free_port()
    env = {"CALLCENTER_AMI_SECRET": "watch-test"}
    sim = subprocess.Popen(
        [*CLI, "sim", "--ami-port", str(ami), "--control-port", str(control)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    watch = None
    try:
        assert sim.stdout is not None
        assert "AMI on" in sim.stdout.readline()
        watch = subprocess.Popen(
            [*CLI, "watch", "--ami-port", str(ami)],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # calls placed before watch has logged in would not be seen: wait until it has
        assert watch.stderr is not None
        for line in watch.stderr:
            if "logged in" in line:
                break
        else:
            raise AssertionError("callcenter watch ended without logging in to the AMI")
        urllib.request.urlopen(
            urllib.request.Request(
                f"http://127.0.0.1:{control}/sim/agents/Agent%201001",
                method="PUT",
                data=json.dumps({"answer_after": 0.2}).encode(),
            ),
            timeout=5,
        )
        req = urllib.request.Request(
            f"http://127.0.0.1:{control}/sim/calls",
            method="POST",
            data=json.dumps(
                {"from": "13800138000", "name": "张三", "queue": "support", "talk_seconds": 0.5}
            ).encode(),
        )
        call_id = json.loads(urllib.request.urlopen(req, timeout=5).read())["call_id"]  # noqa: S310
        assert watch.stdout is not None
        record = json.loads(watch.stdout.readline())
        assert record["call_id"] == call_id
        assert record["caller_name"] == "张三"
        assert record["outcome"] == "answered"
    finally:
        for proc in (watch, sim):
            if proc is not None:
                proc.terminate()
                proc.communicate(timeout=10)  # reads and closes its pipes
                if proc.stdout is not None:
                    proc.stdout.close()
