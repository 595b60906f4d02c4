"""A real Asterisk and the real service, for the `pbx` suite (ADR 0040).

`PbxStack` renders the configuration with `callcenter pbx-config --phones local` (the
same render production uses, with simulated people instead of SIP phones and a
carrier), starts one isolated Asterisk on free ports, and runs `callcenter serve`
against it over a PostgreSQL schema of its own (SQLite when PostgreSQL is off).

The tests drive it as people would: callers, phones and customers are Local channels
whose behaviour comes from variables (`caller-sim`, `phone-sim`, `customer-sim` in the
render), set through `AmiControl` — a plain AMI connection of the test's own, so the
test's view of the PBX never depends on the service's AMI client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp

from callcenter.testing import staff
from callcenter.testing.cluster import drop_schema, free_port, schema_urls
from tests.ami_wire import action_frame, cancel_until_done, hang_up, messages
from tests.conftest import PG_ENABLED, PG_URL
from tests.console_frames import frame_messages

if TYPE_CHECKING:
    from crm_core.db import Database

CLI = [sys.executable, "-m", "callcenter.cli"]
PASSWORD = "pbx-pass-1"
AMI_USER = "callcenter"
AMI_SECRET = "pbx-test-secret"
AGI_SECRET = "pbx-suite-agi-secret"  # the rendered dialplan passes it to every AGI
# the tests' own AMI user: the service's sessions (AMI_USER) can be told apart, kicked
# and refused without touching the test's connection
TEST_AMI_USER = "cc-test"
TEST_AMI_SECRET = "pbx-test-control"
DID = "4008001234"
RING_CYCLE = 2.0  # seconds: the ring limit is 3 x 2 = 6 s, so ring tests stay short
RING_LIMIT = 3 * RING_CYCLE
AGENTS = {  # username -> (extension, member name)
    "agent1": ("1001", "Agent 1001"),
    "agent2": ("1002", "Agent 1002"),
    "agent3": ("1003", "Agent 1003"),
}
LEAD_EXT = "9001"
T = TypeVar("T")


def asterisk_binary() -> str | None:
    return shutil.which("asterisk")


async def wait_for(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float, what: str, every: float = 0.2
) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what`."""
    end = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(every)


async def first_in(
    items: list[T],
    wanted: Callable[[T], bool],
    since: int,
    timeout: float,
    more_than: Callable[[int, float], Awaitable[None]],
    failure: Callable[[], str],
) -> T:
    """The first of `items` (a list that grows; from index `since`) that is `wanted`.
    `more_than(n, left)` waits until there are more than n items or `left` s passed;
    after `timeout` s the test fails with `failure()`."""
    end = time.monotonic() + timeout
    index = since
    while True:
        while index < len(items):
            item = items[index]
            index += 1
            if wanted(item):
                return item
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(failure())
        await more_than(index, left)


async def create_agents(
    db: Database, team_id: int, agents: dict[str, tuple[str, str]], password_hash: str
) -> dict[str, int]:
    """Agents (username → (extension, member name)) of the team, members of support and
    sales through `Local/EXT@agents/n`; their user ids by username."""
    made = await staff.create_agents(db.users, team_id, agents, password_hash)
    return {username: user.id for username, user in made.items()}


class PbxStack:
    """One Asterisk + one `callcenter serve`, for the whole test session."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.pbx_dir = workdir / "pbx"
        self.schema = f"t_pbx_{uuid.uuid4().hex[:8]}"
        self.db_url, self.plain_dsn = schema_urls(PG_URL, self.schema)
        if not PG_ENABLED:
            self.db_url = f"sqlite+aiosqlite:///{workdir / 'crm.db'}"
        self.ami_port = free_port()
        self.agi_port = free_port()
        self.http_port = free_port()
        self.service: subprocess.Popen[bytes] | None = None
        self._service_log: Any = None
        self.users: dict[str, int] = {}
        self.customers: dict[str, int] = {}

    # --- lifecycle ------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "CALLCENTER_DATABASE_URL": self.db_url,
            "CALLCENTER_REDIS_URL": "",
            "CALLCENTER_AMI_HOST": "127.0.0.1",
            "CALLCENTER_AMI_PORT": str(self.ami_port),
            "CALLCENTER_AMI_USERNAME": AMI_USER,
            "CALLCENTER_AMI_SECRET": AMI_SECRET,
            "CALLCENTER_AMI_PING_INTERVAL_SECONDS": "1",
            "CALLCENTER_AMI_WATCHDOG_SECONDS": "3",
            "CALLCENTER_AGI_HOST": "127.0.0.1",
            "CALLCENTER_AGI_PORT": str(self.agi_port),
            "CALLCENTER_HTTP_HOST": "127.0.0.1",
            "CALLCENTER_HTTP_PORT": str(self.http_port),
            "CALLCENTER_SECRET_KEY": "a-pbx-suite-secret-of-enough-length",
            "CALLCENTER_RING_CYCLE_SECONDS": str(RING_CYCLE),
            "CALLCENTER_OUTBOX_PATH": str(self.workdir / "outbox.db"),
            "CALLCENTER_INSTANCE_ID": "pbx-suite",
            "CALLCENTER_PBX_DID": DID,
            # the rendered dialplan passes it to every AGI; the service refuses others
            "CALLCENTER_AGI_SECRET": AGI_SECRET,
            # the suite runs at any hour: the IVR is always open
            "CALLCENTER_BUSINESS_HOURS": "00:00-24:00",
            "CALLCENTER_LOG_LEVEL": "INFO",
            # the shortest ring before "no answer" the dialer allows (campaign tests)
            "CALLCENTER_DIALER_RING_SECONDS": "15",
            **extra,
        }

    def start(self) -> None:
        self.start_pbx()
        self.start_service()

    def start_pbx(self) -> None:
        """The database and Asterisk, configured by `pbx-config` (no service yet)."""
        asyncio.run(self._prepare_database())
        subprocess.run(
            [
                *CLI,
                "pbx-config",
                "--out",
                str(self.pbx_dir),
                "--phones",
                "local",
                "--ami-port",
                str(self.ami_port),
                "--agi-port",
                str(self.agi_port),
            ],
            env=self.env(),
            check=True,
            capture_output=True,
        )
        self._add_test_ami_user()
        self.start_asterisk()

    def stop(self) -> None:
        self.stop_service()
        self.stop_asterisk()
        if PG_ENABLED:
            asyncio.run(self._drop_schema())

    @property
    def manager_conf(self) -> Path:
        return self.pbx_dir / "etc" / "manager.conf"

    def _add_test_ami_user(self) -> None:
        with self.manager_conf.open("a") as f:
            f.write(
                f"\n[{TEST_AMI_USER}]\nsecret = {TEST_AMI_SECRET}\n"
                "deny = 0.0.0.0/0.0.0.0\npermit = 127.0.0.1/255.255.255.255\n"
                "read = all\nwrite = all\nwritetimeout = 500\n"
            )

    async def cli(self, command: str) -> str:
        """`asterisk -rx` without blocking the test's event loop."""
        proc = await asyncio.create_subprocess_exec(
            "asterisk",
            "-C",
            str(self.asterisk_conf),
            "-rx",
            command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 20)
        if proc.returncode != 0:
            raise AssertionError(f"asterisk -rx {command!r} failed: {err.decode() or out.decode()}")
        return out.decode(errors="replace")

    async def service_sessions(self) -> list[str]:
        """The service's AMI session ids (`manager show connected`)."""
        ids: list[str] = []
        for line in (await self.cli("manager show connected")).splitlines():
            # Username  IP Address  Start  Elapsed  FileDes  HttpCnt  ReadPerms  WritePerms
            parts = line.split()
            if len(parts) >= 5 and parts[0] == AMI_USER and parts[4].isdigit():
                ids.append(parts[4])
        return ids

    async def kick_service(self) -> None:
        """Drop the service's AMI session(s), as `manager kick session` does."""
        sessions = await self.service_sessions()
        assert sessions, "the service has no AMI session to kick"
        for session in sessions:
            await self.cli(f"manager kick session {session}")

    async def refuse_service_logins(self, refuse: bool = True) -> None:
        """Change the service's AMI secret (logins refused) or put it back."""
        text = self.manager_conf.read_text()
        good, bad = f"secret = {AMI_SECRET}\n", "secret = refused-for-a-test\n"
        self.manager_conf.write_text(text.replace(good, bad) if refuse else text.replace(bad, good))
        await self.cli("manager reload")

    async def wait_service_logged_in(self, timeout: float = 15.0) -> float:
        """Until the service has an AMI session again; returns time.time() then."""

        async def up() -> bool:
            return bool(await self.service_sessions())

        await wait_for(up, timeout=timeout, every=0.1, what="the service's AMI login")
        return time.time()

    @property
    def asterisk_conf(self) -> Path:
        return self.pbx_dir / "etc" / "asterisk.conf"

    def asterisk_cli(self, command: str, *, check: bool = True) -> str:
        done = subprocess.run(
            ["asterisk", "-C", str(self.asterisk_conf), "-rx", command],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"asterisk -rx {command!r} failed: {done.stderr or done.stdout}")
        return done.stdout

    def start_asterisk(self) -> None:
        subprocess.run(["asterisk", "-C", str(self.asterisk_conf), "-g"], check=True)
        self.wait_ami_port()
        # AMI answers before the PBX is fully booted, and a call placed then never runs
        # ("PBX requires Asterisk to be fully booted")
        self.asterisk_cli("core waitfullybooted")

    def wait_ami_port(self, timeout: float = 30.0) -> None:
        asyncio.run(self._wait_ami_banner(timeout))

    async def wait_ami_banner(self, timeout: float = 30.0) -> None:
        """Until Asterisk's AMI answers with its banner (after a start or restart)."""
        await self._wait_ami_banner(timeout)

    async def _wait_ami_banner(self, timeout: float) -> None:
        async def banner() -> bool:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.ami_port)
            except OSError:
                return False
            try:
                line = await asyncio.wait_for(reader.readline(), 2)
                return line.startswith(b"Asterisk Call Manager")
            except (OSError, TimeoutError):
                return False
            finally:
                writer.close()

        await wait_for(
            banner, timeout=timeout, every=0.1, what=f"Asterisk's AMI on {self.ami_port}"
        )

    def stop_asterisk(self) -> None:
        pid_file = self.pbx_dir / "run" / "asterisk.pid"
        pid = pid_file.read_text().strip() if pid_file.exists() else ""
        self.asterisk_cli("core stop now", check=False)

        async def gone() -> bool:
            return not pid or not Path(f"/proc/{pid}").exists()

        asyncio.run(wait_for(gone, timeout=15, every=0.1, what="Asterisk to stop"))

    def start_service(self, **extra_env: str) -> None:
        self._service_log = (self.workdir / "service.log").open("ab")
        self.service = subprocess.Popen(
            [*CLI, "serve"],
            env=self.env(**extra_env),
            stdout=subprocess.DEVNULL,
            stderr=self._service_log,
            cwd=self.workdir,
        )
        asyncio.run(self._wait_ready())

    def stop_service(self) -> None:
        if self.service is not None and self.service.poll() is None:
            self.service.terminate()
            try:
                self.service.wait(20)
            except subprocess.TimeoutExpired:
                self.service.kill()
                self.service.wait()
        if self._service_log is not None:
            self._service_log.close()
            self._service_log = None

    async def _wait_ready(self, timeout: float = 40.0) -> None:
        async def ready() -> bool:
            try:
                limit = aiohttp.ClientTimeout(total=2)
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(f"{self.url}/readyz", timeout=limit) as res,
                ):
                    return res.status == 200
            except (aiohttp.ClientError, TimeoutError):
                if self.service is not None and self.service.poll() is not None:
                    raise AssertionError(f"serve exited: {self.service_log()}") from None
                return False

        await wait_for(ready, timeout=timeout, what=f"serve ready; log: {self.service_log()}")

    async def _prepare_database(self) -> None:
        from crm_core.db import open_database
        from crm_core.db.migrate import upgrade_async
        from crm_core.domain.models import Role
        from crm_core.passwords import hash_password

        await upgrade_async(self.db_url)  # creates our PostgreSQL schema first
        db = await open_database(self.db_url)
        try:
            hashed = hash_password(PASSWORD)
            team = await db.users.get_or_create_team("Team A")
            self.users |= await create_agents(db, team.id, AGENTS, hashed)
            lead = await staff.create_lead(
                db.users, team.id, hashed, interface=f"Local/{LEAD_EXT}@phone-sim/n"
            )
            self.users["lead1"] = lead.id
            manager = await db.users.create(
                username="manager1",
                display_name="Manager 1",
                role=Role.MANAGER,
                password_hash=hashed,
            )
            self.users["manager1"] = manager.id
            customer = await db.customers.create(
                name="张三", phones=["13800138000"], company="星河贸易", notes="老客户"
            )
            self.customers["13800138000"] = customer.id
        finally:
            await db.close()

    async def cdrs(self, linkedid: str) -> list[dict[str, Any]]:
        """Asterisk's CDR rows of one call (`cdr_pgsql` writes them into our schema)."""
        import asyncpg

        assert PG_ENABLED, "Asterisk writes CDRs only into PostgreSQL"
        conn = await asyncpg.connect(self.plain_dsn)
        try:
            rows = await conn.fetch(
                f'SELECT * FROM "{self.schema}".cdr WHERE linkedid = $1 ORDER BY calldate',  # noqa: S608 (our schema name)
                linkedid,
            )
        finally:
            await conn.close()
        return [dict(r) for r in rows]

    async def _drop_schema(self) -> None:
        await drop_schema(self.plain_dsn, self.schema)

    # --- looking in -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def service_log(self, chars: int = 6000) -> str:
        path = self.workdir / "service.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def pbx_log(self, chars: int = 6000) -> str:
        path = self.pbx_dir / "log" / "messages.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


# --- the test's own AMI connection ---------------------------------------------------------


@dataclass
class AmiControl:
    """Drives the PBX for a test and records every event it sees."""

    port: int
    events: list[dict[str, str]] = field(default_factory=list)
    # the tests' own AMI user on the real PBX; the simulator knows only the service's
    username: str = TEST_AMI_USER
    secret: str = TEST_AMI_SECRET
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None
    _task: asyncio.Task[None] | None = None
    _pending: dict[str, asyncio.Future[list[dict[str, str]]]] = field(default_factory=dict)
    _lists: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    _grew: asyncio.Condition = field(default_factory=asyncio.Condition)
    _callers: set[asyncio.Task[None]] = field(default_factory=set)
    _ids: int = 0

    async def start(self) -> None:
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        await self._reader.readline()  # banner
        self._task = asyncio.create_task(self._read())
        reply = await self.action("Login", Username=self.username, Secret=self.secret, Events="on")
        assert reply[0].get("Response") == "Success", reply

    async def closed(self, timeout: float = 20.0) -> None:
        """Until Asterisk closes this connection (a restart, a shutdown)."""
        assert self._task is not None
        await asyncio.wait_for(asyncio.shield(self._task), timeout)

    async def stop(self) -> None:
        # a simulated caller's failure is not the test's: its errors are dropped
        await cancel_until_done(self._callers, "simulated callers")
        await hang_up(self._writer, self._task, "the test's AMI reader")

    async def action(self, name: str, **headers: str) -> list[dict[str, str]]:
        """Send an action; the response, followed by its event list when it has one."""
        assert self._writer is not None
        self._ids += 1
        action_id = f"test-{self._ids}"
        future: asyncio.Future[list[dict[str, str]]] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = future
        self._writer.write(action_frame(name, action_id, headers))
        return await asyncio.wait_for(future, 20)

    async def _read(self) -> None:
        assert self._reader is not None
        async for batch in messages(self._reader):
            for msg in batch:
                self._dispatch(msg)
            async with self._grew:  # the waiters check again
                self._grew.notify_all()

    def _dispatch(self, msg: dict[str, str]) -> None:
        action_id = msg.get("ActionID", "")
        future = self._pending.get(action_id)
        if future is not None:
            if "Response" in msg:
                if msg.get("EventList") == "start" or "will follow" in msg.get("Message", ""):
                    self._lists[action_id] = [msg]
                    return
                self._pending.pop(action_id)
                if not future.done():
                    future.set_result([msg])
                return
            if action_id in self._lists:
                self._lists[action_id].append(msg)
                if msg.get("EventList") == "Complete" or msg.get("Event", "").endswith("Complete"):
                    self._pending.pop(action_id)
                    if not future.done():
                        future.set_result(self._lists.pop(action_id))
                return
        if "Event" in msg:
            msg["_t"] = f"{time.time():.3f}"
            self.events.append(msg)

    async def _more_than(self, count: int, timeout: float) -> None:
        """Until there are more than `count` events (or `timeout`): no wake-up is lost,
        the condition is checked under the lock the reader notifies with."""
        async with self._grew:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._grew.wait_for(lambda: len(self.events) > count), timeout
                )

    async def wait_event(
        self, event: str, timeout: float = 30.0, since: int = 0, **match: str
    ) -> dict[str, str]:
        """The first event named `event` (from index `since`) whose headers match."""
        return await self._first(
            lambda msg: (
                msg.get("Event") == event and all(msg.get(k) == v for k, v in match.items())
            ),
            since,
            timeout,
            f"{event} {match}",
        )

    async def _first(
        self, wanted: Callable[[dict[str, str]], bool], since: int, timeout: float, what: str
    ) -> dict[str, str]:
        """The first event (from index `since`) that is `wanted`, waiting up to `timeout`."""
        return await first_in(
            self.events,
            wanted,
            since,
            timeout,
            self._more_than,
            lambda: f"no {what} within {timeout:g} s",
        )

    # --- people ---------------------------------------------------------------------------

    async def set_global(self, name: str, value: str) -> None:
        await self.action("Setvar", Variable=name, Value=value)

    async def phone(self, ext: str, *, answer_after: float | str, talk: float = 0) -> None:
        """How the phone on `ext` behaves: answer after N s ("never": rings on), talk N s."""
        await self.set_global(f"AGENT_{ext}_DELAY", str(answer_after))
        await self.set_global(f"AGENT_{ext}_TALK", str(talk))

    async def call_in(
        self,
        number: str,
        name: str = "",
        *,
        hold: float = 0,
        dtmf: str = "",
        dtmf_wait: float = 2,
        did: str = DID,
        menu: str | None = "0",
        survey: str | None = "hangup",
    ) -> str:
        """A customer dials the DID; returns the Linkedid (the call record's call_id).

        The caller behaves as most do, so a test about something else is not kept in the
        IVR: presses `menu` when the main menu asks (default 0: a person, the default
        queue) and, when the survey asks after the agent hung up, presses `survey` or
        hangs up ("hangup"). None: the test drives that step itself (`press`)."""
        since = len(self.events)
        caller = f'"{name}" <{number}>' if name else number
        variables = [
            f"CALLER_HOLD={hold:g}",
            f"CALLER_DTMF={dtmf}",
            f"CALLER_DTMF_WAIT={dtmf_wait:g}",
        ]
        reply = await self.action(
            "Originate",
            Channel=f"Local/{number}@caller-sim/n",
            Context="inbound",
            Exten=did,
            Priority="1",
            CallerID=caller,
            Async="true",
            Timeout="30000",
            Variable="|".join(variables),
        )
        assert reply[0].get("Response") == "Success", reply
        # the inbound half runs the `inbound` context: its Newchannel names the call
        event = await self.wait_event("Newchannel", since=since, Context="caller-sim", Exten=number)
        call_id = event["Linkedid"]
        if menu is not None or survey is not None:
            caller = asyncio.create_task(self._behave(call_id, since, menu, survey))
            self._callers.add(caller)
            caller.add_done_callback(self._callers.discard)
        return call_id

    async def _behave(self, call_id: str, since: int, menu: str | None, survey: str | None) -> None:
        with contextlib.suppress(AssertionError):  # the call ended before that step
            if menu is not None:
                await self.press(call_id, "cc/main-menu", menu, since=since, timeout=120)
            if survey is None:
                return
            started = await self.wait_agi(
                call_id, "GET DATA cc/rate-1-to-5 ", since=since, timeout=600
            )
            if survey == "hangup":
                await self.action("Hangup", Channel=started["Channel"])
            else:
                for digit in survey:
                    await self.action(
                        "PlayDTMF", Channel=started["Channel"], Digit=digit, Receive="yes"
                    )

    async def press(
        self, call_id: str, prompt: str, digits: str, *, since: int = 0, timeout: float = 30.0
    ) -> dict[str, str]:
        """The caller keys `digits` in while the IVR waits on `prompt` (GET DATA).

        Keys pressed between AGI commands are lost on a real Asterisk, so the caller
        presses once the GET DATA of that prompt has started (AGIExecStart); returns it.
        """
        started = await self.wait_agi(call_id, f"GET DATA {prompt} ", since=since, timeout=timeout)
        for digit in digits:
            reply = await self.action(
                "PlayDTMF", Channel=started["Channel"], Digit=digit, Duration="120", Receive="yes"
            )
            assert reply[0].get("Response") == "Success", reply
        return started

    async def wait_agi(
        self, call_id: str, command: str, *, since: int = 0, timeout: float = 30.0
    ) -> dict[str, str]:
        """The first AGI command of call `call_id` (from index `since`) starting with `command`."""
        return await self._first(
            lambda msg: (
                msg.get("Event") == "AGIExecStart"
                and msg.get("Linkedid") == call_id
                and msg.get("Command", "").startswith(command)
            ),
            since,
            timeout,
            f"AGI {command!r} for call {call_id}",
        )

    def bridge_peers(self, since: int, bridge: str, but: str) -> list[dict[str, str]]:
        """The BridgeEnter events (from index `since`) of channels other than `but`
        entering the bridge `bridge` (a BridgeUniqueid)."""
        return [
            e
            for e in self.events[since:]
            if e.get("Event") == "BridgeEnter"
            and e.get("BridgeUniqueid") == bridge
            and e["Channel"] != but
        ]

    async def queue_status(self) -> list[dict[str, str]]:
        return await self.action("QueueStatus")

    async def hangup_all(self) -> None:
        """End every channel (between tests)."""
        reply = await self.action("CoreShowChannels")
        for msg in reply:
            if msg.get("Event") == "CoreShowChannel":
                with contextlib.suppress(TimeoutError):
                    await self.action("Hangup", Channel=msg["Channel"])


# --- the service, as its users reach it ----------------------------------------------------


@dataclass
class Api:
    """REST as one signed-in user."""

    stack: PbxStack
    session: aiohttp.ClientSession
    username: str
    token: str = ""

    async def login(self) -> Api:
        async with self.session.post(
            f"{self.stack.url}/api/login", json={"username": self.username, "password": PASSWORD}
        ) as res:
            assert res.status == 200, await res.text()
            self.token = str((await res.json())["token"])
        return self

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return await self._send(method, path, json=body)

    async def request_raw(self, method: str, path: str, data: bytes) -> tuple[int, Any]:
        """A request with a raw body (a CSV upload)."""
        return await self._send(method, path, data=data)

    async def _send(self, method: str, path: str, **body: Any) -> tuple[int, Any]:
        """(status, the reply as JSON, or as text when it is none)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.session.request(
            method, f"{self.stack.url}{path}", headers=headers, **body
        ) as res:
            text = await res.text()
            try:
                return res.status, json.loads(text) if text else None
            except json.JSONDecodeError:
                return res.status, text

    async def get(self, path: str) -> Any:
        status, body = await self.request("GET", path)
        assert status == 200, (path, status, body)
        return body

    async def post(self, path: str, body: Any = None, *, expect: int = 200) -> Any:
        status, reply = await self.request("POST", path, body)
        assert status == expect, (path, status, reply)
        return reply

    async def call(self, call_id: str, timeout: float = 20.0) -> dict[str, Any]:
        """The call's record once the CRM has it."""

        async def probe() -> dict[str, Any] | None:
            status, body = await self.request("GET", f"/api/calls/{call_id}")
            return body if status == 200 else None

        return await wait_for(probe, timeout=timeout, what=f"the record of call {call_id}")


@dataclass
class Console:
    """A console's WebSocket, keeping every message it is sent."""

    api: Api
    messages: list[dict[str, Any]] = field(default_factory=list)
    ws: aiohttp.ClientWebSocketResponse | None = None
    _task: asyncio.Task[None] | None = None
    _grew: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def connect(self) -> Console:
        self.ws = await self.api.session.ws_connect(
            f"{self.api.stack.url}/ws?token={self.api.token}"
        )
        self._task = asyncio.create_task(self._run(self.ws))
        await self.wait(lambda m: m["type"] == "snapshot", what="snapshot")
        return self

    async def _run(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for batch in frame_messages(ws):
            for message in batch:
                message["_t"] = time.time()
                self.messages.append(message)
            async with self._grew:
                self._grew.notify_all()

    async def wait(
        self, test: Callable[[dict[str, Any]], bool], *, what: str, timeout: float = 30.0
    ) -> dict[str, Any]:
        def failure() -> str:
            kinds = [m.get("type") for m in self.messages[-20:]]
            return f"console got no {what} within {timeout:g} s; last: {kinds}"

        return await first_in(self.messages, test, 0, timeout, self._more_than, failure)

    async def _more_than(self, count: int, timeout: float) -> None:
        async with self._grew:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._grew.wait_for(lambda: len(self.messages) > count), timeout
                )

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
