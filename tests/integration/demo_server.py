"""`callcenter demo` as a subprocess on SQLite or on a PostgreSQL schema of its own, for
the tests that drive the whole HTTP surface (fuzzing, hostile inputs); and the demo's
runtime in the test's own process (`demo_runtime`). No tests here."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from callcenter.commands.demo import demo_settings
from callcenter.settings import load_settings
from callcenter.testing.cluster import free_port
from callcenter.wiring import DemoOptions, Runtime
from tests.conftest import PG_URL
from tests.polling import until

PLAIN_PG = PG_URL.replace("postgresql+asyncpg://", "postgresql://")


def demo_runtime(workdir: Path, *, answer_after_seconds: float = 4.0) -> Runtime:
    """The demo's whole runtime (simulator, dialer, console) on free ports over a SQLite
    file in `workdir`, placing no calls of its own; not started yet."""
    database = workdir / "demo.db"
    settings = dataclasses.replace(
        demo_settings(load_settings(environ={}), database),
        agi_port=0,
        outbox_path=str(workdir / "outbox.db"),
    )
    return Runtime(
        settings=settings,
        demo=DemoOptions(
            database_file=database, calls_per_minute=0, answer_after_seconds=answer_after_seconds
        ),
        host="127.0.0.1",
        port=0,
    )


@dataclass(frozen=True, slots=True)
class Demo:
    base: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def login(self, user: str) -> str:
        status, body = self.request("POST", "/api/login", {"username": user, "password": "demo"})
        assert status == 200, body
        token: str = json.loads(body)["token"]
        return token

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        token: str | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, str]:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(  # noqa: S310 - loopback test server
            self.base + path, method=method, data=data, headers=headers
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


async def _pg(statement: str) -> None:
    conn = await asyncpg.connect(PLAIN_PG)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def _pg_schema() -> Iterator[str]:
    schema = f"t_demo_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in PG_URL else "?"
        yield f"{PG_URL}{sep}search_path={schema}"
    finally:
        asyncio.run(_pg(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@contextlib.contextmanager
def running_demo(tmp: Path, backend: str) -> Iterator[Demo]:
    """The demo (no simulated traffic) on `backend` "sqlite" or "postgres"."""
    with contextlib.ExitStack() as stack:
        args = ["--database", str(tmp / "demo.db")]
        if backend == "postgres":
            args += ["--database-url", stack.enter_context(_pg_schema())]
        port = free_port()
        log_path = tmp / f"demo-{backend}.log"
        log = stack.enter_context(log_path.open("wb"))
        demo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "callcenter.cli",
                "demo",
                "--port",
                str(port),
                "--calls-per-minute",
                "0",
                *args,
            ],
            env={**os.environ, "CALLCENTER_AGI_PORT": str(free_port())},
            stdout=log,
            stderr=log,
        )
        try:
            base = f"http://127.0.0.1:{port}"

            def up() -> bool:
                try:
                    urllib.request.urlopen(f"{base}/healthz", timeout=1).read()  # noqa: S310
                except OSError:
                    assert demo.poll() is None, log_path.read_text()
                    return False
                return True

            until(up, timeout=60, what=f"the demo at {base}", every=0.3)
            yield Demo(base, log_path)
        finally:
            demo.terminate()
            demo.wait(timeout=20)
