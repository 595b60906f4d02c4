"""Fuzz the REST API from its own OpenAPI document (schemathesis): no request, however
odd, may produce a server error. Runs against the real demo service."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.integration.redis_server import free_port


def _login(base: str, user: str) -> str:
    req = urllib.request.Request(  # noqa: S310 - loopback test server
        f"{base}/api/login",
        method="POST",
        data=json.dumps({"username": user, "password": "demo"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        token: str = json.loads(resp.read())["token"]
        return token


def test_no_server_errors_for_any_generated_request(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CALLCENTER_AGI_PORT": str(free_port())}
    with (tmp_path / "demo.log").open("wb") as log:
        demo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "callcenter.cli",
                "demo",
                "--port",
                str(port),
                "--database",
                str(tmp_path / "demo.db"),
                "--calls-per-minute",
                "0",
            ],
            env=env,
            stdout=log,
            stderr=log,
        )
        try:
            end = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{base}/healthz", timeout=1).read()  # noqa: S310
                    break
                except OSError:
                    assert time.monotonic() < end, (tmp_path / "demo.log").read_text()
                    time.sleep(0.3)
            cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
            assert cli, "schemathesis is a dev dependency"
            for user in ("manager1", "agent1"):
                token = _login(base, user)
                result = subprocess.run(
                    [
                        cli,
                        "run",
                        f"{base}/api/openapi.json",
                        "-H",
                        f"Authorization: Bearer {token}",
                        "--checks",
                        "not_a_server_error",
                        "--max-examples",
                        "5",
                        "--exclude-path",
                        "/api/logout",
                        "--no-color",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=300,
                    check=False,
                )
                assert result.returncode == 0, result.stdout[-4000:]
                assert " passed" in result.stdout
        finally:
            demo.terminate()
            demo.wait(timeout=20)
