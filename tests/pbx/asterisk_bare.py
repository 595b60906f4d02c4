"""A small isolated Asterisk for the AMI transport tests (own temp dir, free ports).

Only what the AMI client needs: manager.conf with one user, optionally a dialplan with a
queue and simulated phones (../shared/asterisk/README.md). The shared `tests/pbx` harness
renders the full configuration with `callcenter pbx-config`; this one stays minimal so
transport tests do not depend on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest

from callcenter.testing.cluster import free_port

ASTERISK = shutil.which("asterisk")
needs_asterisk = pytest.mark.skipif(
    ASTERISK is None,
    reason="Asterisk is not installed (bash ../shared/asterisk/install); the pbx suite needs it",
)

MODULES = """[modules]
autoload = no
load = res_timing_timerfd.so
load = pbx_config.so
load = app_dial.so
load = app_queue.so
load = app_playtones.so
load = app_senddtmf.so
load = app_verbose.so
load = app_exec.so
load = bridge_simple.so
load = bridge_softmix.so
load = bridge_native_rtp.so
load = bridge_holding.so
load = func_global.so
load = func_cdr.so
load = func_logic.so
load = func_callerid.so
load = func_channel.so
load = func_strings.so
load = res_musiconhold.so
"""

LOGGER = """[general]
[logfiles]
messages => notice,warning,error
"""


class BareAsterisk:
    """One Asterisk process in `root`; `cli()` runs a remote console command."""

    def __init__(
        self,
        root: Path,
        *,
        username: str = "callcenter",
        secret: str = "s3cret",  # noqa: S107 - a throwaway test instance
        extra: Mapping[str, str] | None = None,
    ) -> None:
        self.root = root
        self.etc = root / "etc"
        self.port = free_port()
        self.username = username
        self.secret = secret
        for sub in ("etc", "lib", "spool", "run", "log"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        files = {
            "asterisk.conf": self._asterisk_conf(),
            "modules.conf": MODULES,
            "logger.conf": LOGGER,
            "manager.conf": self._manager_conf(),
            "extensions.conf": "[general]\n[default]\n",
            "queues.conf": "[general]\n",
            **(extra or {}),
        }
        for name, text in files.items():
            (self.etc / name).write_text(text)

    @property
    def conf(self) -> str:
        return str(self.etc / "asterisk.conf")

    def _asterisk_conf(self) -> str:
        r = self.root
        return f"""[directories]
astetcdir => {r}/etc
astmoddir => /usr/lib/asterisk/modules
astvarlibdir => {r}/lib
astdbdir => {r}/lib
astkeydir => {r}/lib
astdatadir => /var/lib/asterisk
astagidir => /var/lib/asterisk/agi-bin
astspooldir => {r}/spool
astrundir => {r}/run
astlogdir => {r}/log
[options]
documentation_language = en_US
"""

    def _manager_conf(self) -> str:
        return f"""[general]
enabled = yes
port = {self.port}
bindaddr = 127.0.0.1

[{self.username}]
secret = {self.secret}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
read = all
write = all
"""

    async def _run(self, *args: str) -> str:
        assert ASTERISK is not None
        proc = await asyncio.create_subprocess_exec(
            ASTERISK,
            "-C",
            self.conf,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        return out.decode(errors="replace")

    async def start(self) -> None:
        await self._run("-g")
        await self.wait_ami()
        # AMI answers before every module is loaded (QueueStatus unknown for a moment)
        await self.cli("core waitfullybooted")

    async def wait_ami(self, timeout: float = 20.0) -> float:
        """Poll until AMI answers with its banner; returns the loop time it did."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            with contextlib.suppress(OSError):
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                try:
                    banner = await asyncio.wait_for(reader.readline(), 2)
                finally:
                    writer.close()
                if banner.startswith(b"Asterisk Call Manager"):
                    return loop.time()
            if loop.time() > end:
                raise AssertionError(f"Asterisk AMI did not come up on port {self.port}")
            await asyncio.sleep(0.05)

    async def cli(self, command: str) -> str:
        return await self._run("-rx", command)

    async def sessions(self, username: str | None = None) -> list[str]:
        """The AMI session ids (`manager show connected`), optionally of one user."""
        text = await self.cli("manager show connected")
        ids: list[str] = []
        for line in text.splitlines():
            parts = line.split()
            # Username  IP Address  Start  Elapsed  FileDes  HttpCnt  ReadPerms  WritePerms
            if (
                len(parts) >= 5
                and parts[1] == "127.0.0.1"
                and parts[4].isdigit()
                and (username is None or parts[0] == username)
            ):
                ids.append(parts[4])
        return ids

    async def stop(self) -> None:
        await self.cli("core stop now")
        pid = self.root / "run" / "asterisk.pid"
        loop = asyncio.get_running_loop()
        end = loop.time() + 10
        while pid.exists() and loop.time() < end:
            await asyncio.sleep(0.05)
