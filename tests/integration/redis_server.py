"""A private redis-server process for tests that stop and restart Redis.

The shared Redis on 6379 is never stopped by tests; fault tests run their own.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

from tests.polling import until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PrivateRedis:
    """`persistent=True` keeps data across a restart with an append-only file, as the
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
        assert binary, "redis-server is needed for fault-injection tests"
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.persistent else "no",
                "--appendfsync",
                "always",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def accepting() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                return False

        until(accepting, timeout=10, what=f"redis-server on port {self.port}", every=0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None
