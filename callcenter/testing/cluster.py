"""Processes of a local cluster, shared by `callcenter bench cluster` and the cluster
tests (tests/integration/cluster.py): free ports, a private `redis-server`, a
PostgreSQL schema of its own, `callcenter sim` / `callcenter serve` processes
with their logs, and who holds the AMI lease (docs/adr/0074).

Only what both sides need lives here; what each of them drives (the bench's
console processes and stopwatch, the tests' consoles and AMI tap) stays with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import aiohttp
import asyncpg
import redis.asyncio as aioredis

CLI = (sys.executable, "-m", "callcenter.cli")
LEASE_KEY = "cc:lease:ami:default"  # the AMI lease of the default PBX (docs/adr/0028)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def die_with_parent() -> None:
    """Child side of fork: get SIGTERM if the parent dies (Linux), so no instance
    outlives a bench or a test run that was killed outright."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(
    argv: list[str], *, env: Mapping[str, str] | None = None, log: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """A child in its own session (Ctrl-C reaches the parent, which stops it in order),
    stdout discarded, stderr to `log` (discarded without)."""
    return subprocess.Popen(  # noqa: S603 - our own CLI and redis-server, argv from code
        argv,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log if log is not None else subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )


async def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM, wait up to `timeout`, then SIGKILL."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
    try:
        await asyncio.to_thread(proc.wait, timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        await asyncio.to_thread(proc.wait)


def wait_accepting(port: int, timeout: float, what: str) -> None:
    """Block until something accepts TCP connections on the loopback `port`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not accept connections on port {port}") from None
            time.sleep(0.05)


async def wait_http(url: str, timeout: float = 30.0) -> None:
    """Until `url` answers 200 (a process coming up)."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=1)) as res:
                    await res.read()
                    if res.status == 200:
                        return
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")
            await asyncio.sleep(0.2)


class PrivateRedis:
    """A `redis-server` of one's own on a free port (never the shared one, so a lease
    or stream of another cluster is never met, and it can be stopped and restarted).

    `persistent=True` keeps data across a restart with an append-only file, as the
    production compose runs it; the default restarts empty."""

    def __init__(self, workdir: Path, port: int | None = None, *, persistent: bool = False) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.persistent = persistent
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is needed on PATH (a private one is started)")
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "yes" if self.persistent else "no", "--appendfsync", "always"]
        argv += ["--dir", str(self.workdir)]
        self.proc = spawn(argv)
        wait_accepting(self.port, 10.0, "redis-server")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


async def lease_holder(redis_url: str, timeout: float = 10.0) -> str:
    """The instance id holding the AMI lease, once one does."""
    client = aioredis.from_url(redis_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, aioredis.RedisError):
                value = await client.get(LEASE_KEY)
                if value:
                    text = value.decode() if isinstance(value, bytes) else str(value)
                    return text.split(":")[0]
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()
    raise RuntimeError("no instance took the AMI lease")


def schema_urls(base: str, schema: str) -> tuple[str, str]:
    """(SQLAlchemy URL with `schema` as search_path, plain asyncpg DSN without it)."""
    url = f"{base}{'&' if '?' in base else '?'}search_path={schema}"
    plain = base.replace("postgresql+asyncpg://", "postgresql://").split("?")[0]
    return url, plain


async def drop_schema(plain: str, schema: str) -> None:
    conn = await asyncpg.connect(plain)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


class Instances:
    """`callcenter serve` processes (and optionally `callcenter sim`) sharing one
    environment: each instance gets its own HTTP and FastAGI port, instance id,
    outbox file and log (`workdir/NAME.log`)."""

    def __init__(self, workdir: Path, env: Mapping[str, str]) -> None:
        self.workdir = workdir
        self.env = dict(env)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}
        self._logs: list[IO[bytes]] = []

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def log_path(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def log_tail(self, name: str, chars: int = 4000) -> str:
        return self.log_path(name).read_text(errors="replace")[-chars:]

    def _log(self, name: str) -> IO[bytes]:
        fh = self.log_path(name).open("ab")
        self._logs.append(fh)
        return fh

    def start_sim(self, ami_port: int, control_port: int, name: str = "sim") -> None:
        argv = [*CLI, "sim", "--ami-port", str(ami_port), "--control-port", str(control_port)]
        self.procs[name] = spawn(argv, env=self.env, log=self._log(name))

    def start_serve(self, name: str) -> None:
        self.ports[name] = free_port()
        env = {
            **self.env,
            "CALLCENTER_HTTP_PORT": str(self.ports[name]),
            "CALLCENTER_AGI_PORT": str(free_port()),
            "CALLCENTER_INSTANCE_ID": name,
            "CALLCENTER_OUTBOX_PATH": str(self.workdir / f"{name}-outbox.db"),
        }
        self.procs[name] = spawn([*CLI, "serve"], env=env, log=self._log(name))

    async def wait_up(self, names: list[str], timeout: float = 60.0) -> None:
        for name in names:
            await wait_http(f"{self.url(name)}/healthz", timeout)

    def rss_kb(self, name: str) -> int:
        status = Path(f"/proc/{self.procs[name].pid}/status").read_text()
        return int(
            next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
        )

    async def stop(self, names: list[str] | None = None) -> None:
        """Stop `names` (default: all, in parallel), then close the logs if none runs."""
        chosen = [n for n in (names or list(self.procs)) if n in self.procs]
        await asyncio.gather(*(stop_process(self.procs[n]) for n in chosen))
        if all(p.poll() is not None for p in self.procs.values()):
            for fh in self._logs:
                fh.close()
            self._logs.clear()


def instance_env(base: Mapping[str, str], **settings: str) -> dict[str, str]:
    """`base` without any CALLCENTER_* variable, plus `settings` as CALLCENTER_<NAME>."""
    env = {k: v for k, v in base.items() if not k.startswith("CALLCENTER_")}
    env.update({f"CALLCENTER_{k.upper()}": v for k, v in settings.items()})
    return env
