"""The simulator's core: configuration, the AMI server, event output, channels, views."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Collection
from typing import Any

from crm_core.clock import SystemClock
from crm_core.phones import try_normalize
from crm_core.ports.clock import Clock
from telephony.ami.framing import AmiFrameParser, AmiMessage
from telephony.sim.model import (
    AgentPhone,
    Channel,
    Client,
    CustomerPhone,
    Member,
    QueueConfig,
    SimCall,
    log,
)


class SimCore:
    def __init__(
        self,
        *,
        clock: Clock | None = None,
        ami_username: str = "callcenter",
        ami_secret: str = "",
        agi_address: tuple[str, int] | None = None,
        prompts: Collection[str] | None = None,
        agents_dial_phones: bool = False,
    ) -> None:
        self.clock = clock or SystemClock()
        # the prompt files installed (None: every one): a missing one ends the AGI session
        self.prompts = prompts
        self._booted = self.clock.monotonic()
        self.username = ami_username
        self.secret = ami_secret
        self.agi_address = agi_address
        self.agi_secret = ""  # passed as the AGI's first argument, as the rendered dialplan does
        # the dialplan of `callcenter pbx-config`: an agent's Local channel (`[agents]`)
        # Dial()s the agent's phone, so an originate to an agent shows that inner dial and
        # `[outbound]` sets the DID as caller id (ADR 0009, "what the real PBX showed").
        # False: the recordings' dialplan, where the `;2` half is the phone itself.
        self.agents_dial_phones = agents_dial_phones
        self.queues: dict[str, QueueConfig] = {}
        self.agents: dict[str, AgentPhone] = {}  # by member name
        self.interfaces: dict[str, str] = {}  # interface -> member name (known phones)
        self.customers: dict[str, CustomerPhone] = {}
        self.default_customer = CustomerPhone()
        self.calls: dict[str, SimCall] = {}
        self.channels: dict[str, Channel] = {}  # by name
        self._held: set[str] = set()  # channels on music on hold (the console's hold)
        self.actions: list[AmiMessage] = []
        self._clients: list[Client] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._seq = itertools.count(1)
        self._chan_seq = itertools.count(1)
        self._epoch = 1_790_000_000
        self.port = 0
        self.originated: set[str] = set()  # our own request ids seen (to spot duplicates)
        self._spy_stops: dict[str, asyncio.Event] = {}
        self.variables: dict[tuple[str, str], str] = {}  # (channel or '', name)

    # --- configuration -----------------------------------------------------------------
    def add_queue(
        self,
        name: str,
        *,
        strategy: str = "linear",
        member_timeout: float = 15.0,
        retry: float = 2.0,
    ) -> QueueConfig:
        q = QueueConfig(name, strategy, member_timeout, retry)
        self.queues[name] = q
        return q

    def add_agent_phone(
        self, member_name: str, interface: str, answer_after: float | None = 3.0
    ) -> None:
        self.agents[member_name] = AgentPhone(answer_after=answer_after)
        self.interfaces[interface] = member_name

    def add_member(
        self, queue: str, member_name: str, interface: str, *, paused: bool = False
    ) -> Member:
        q = self.queues[queue]
        for m in q.members:
            if m.interface == interface:
                return m
        m = Member(queue, member_name, interface, paused=paused, login_time=int(self._now_epoch()))
        q.members.append(m)
        self.interfaces.setdefault(interface, member_name)
        self.agents.setdefault(member_name, AgentPhone())
        return m

    def set_agent(self, member_name: str, answer_after: float | None) -> None:
        self.agents.setdefault(member_name, AgentPhone()).answer_after = answer_after

    def customer_phone(self, dialled: str) -> CustomerPhone:
        """The simulated customer a dial reaches, whatever form the number is dialled in
        (the carrier's national form, E.164 with or without +): keys compare as E.164."""
        found = self.customers.get(dialled)
        if found is not None:
            return found
        wanted = try_normalize(dialled)
        for key, phone in self.customers.items():
            if wanted is not None and try_normalize(key) == wanted:
                return phone
        return self.default_customer

    # --- server -------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._serve, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for client in list(self._clients):
            client.writer.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=5)
            if pending:
                log.error("simulator stop: %d call tasks ignored cancellation", len(pending))
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    def drop_clients(self) -> None:
        """The network drops every AMI connection (the PBX keeps running its calls)."""
        for client in list(self._clients):
            client.writer.transport.abort()
        self._clients.clear()

    def kick_sessions(self, username: str | None = None) -> int:
        """`manager kick session`: Asterisk closes the session's socket, saying nothing.

        The calls go on; a client that logs in again gets the banner, its login reply
        and `FullyBooted`, and nothing of what happened meanwhile. Returns how many
        sessions were closed.
        """
        kicked = 0
        for client in list(self._clients):
            if not client.authed or (username is not None and client.username != username):
                continue
            client.authed = False  # no event may slip out between now and the close
            client.writer.close()
            self._clients.remove(client)
            kicked += 1
        return kicked

    def freeze_clients(self) -> None:
        """Half-open sockets: the PBX stops writing (no events, no replies) without closing."""
        for client in self._clients:
            client.frozen = True

    def inject_raw(self, data: bytes) -> None:
        for client in self._clients:
            if client.authed and not client.frozen:
                client.writer.write(data)

    def spawn(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("simulator task %s failed", task.get_name(), exc_info=task.exception())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = Client(writer)
        self._clients.append(client)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        parser = AmiFrameParser(expect_banner=False)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for msg in parser.feed(data):
                    if not await self._action(client, msg):
                        return
        except (ConnectionError, OSError):
            pass
        finally:
            if client in self._clients:
                self._clients.remove(client)
            writer.close()

    async def _action(self, client: Client, msg: AmiMessage) -> bool:
        """Answer one AMI action (AmiActions); False ends the session."""
        raise NotImplementedError

    def _write(self, client: Client, fields: list[tuple[str, str]]) -> None:
        if client.frozen or client.writer.is_closing():
            return
        data = "".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n"
        client.writer.write(data.encode("utf-8"))

    def _list_complete(
        self, client: Client, event: str, aid: str, items: int, *extra: tuple[str, str]
    ) -> None:
        """The event that ends an action's event list (QueueStatusComplete, ...)."""
        self._write(
            client,
            [
                ("Event", event),
                ("ActionID", aid),
                ("EventList", "Complete"),
                ("ListItems", str(items)),
                *extra,
            ],
        )

    def _emit_agent(
        self,
        event: str,
        caller: Channel,
        agent: Channel,
        q: QueueConfig,
        m: Member,
        *fields: tuple[str, str],
    ) -> None:
        """A queue's Agent* event: the caller's and the agent leg's channel, the member."""
        self.emit(
            event,
            [
                *caller.snapshot(),
                *agent.snapshot("Dest"),
                ("Queue", q.name),
                ("Interface", m.interface),
                ("MemberName", m.name),
                *fields,
            ],
            "agent,all",
        )

    def _new_bridge(self, linkedid: str) -> tuple[str, list[tuple[str, str]]]:
        """A new basic bridge's id and the header fields of its Bridge* events."""
        bridge = f"sim-bridge-{linkedid}-{next(self._seq)}"
        return bridge, [
            ("BridgeUniqueid", bridge),
            ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"),
            ("BridgeCreator", "<unknown>"),
            ("BridgeName", "<unknown>"),
        ]

    def emit(self, event: str, fields: list[tuple[str, str]], privilege: str = "call,all") -> None:
        frame = [("Event", event), ("Privilege", privilege), *fields]
        for client in self._clients:
            if client.authed and client.events:
                self._write(client, frame)

    # --- channels ---------------------------------------------------------------------------------
    def _now_epoch(self) -> float:
        return self._epoch + self.clock.monotonic()

    def _new_linkedid(self) -> str:
        return f"{int(self._now_epoch())}.{next(self._seq)}"

    def _local_pair(
        self,
        resource: str,
        context: str,
        exten: str,
        linkedid: str | None,
        *,
        first_uniqueid: str | None = None,
    ) -> tuple[Channel, Channel]:
        seq = f"{next(self._chan_seq):08x}"
        base_id = int(self._now_epoch())
        n = next(self._seq)
        lid = linkedid or f"{base_id}.{n}"
        one = Channel(
            f"Local/{resource}@{context}-{seq};1",
            first_uniqueid or f"{base_id}.{n}",
            lid,
            context,
            exten,
            created=self.clock.monotonic(),
        )
        two = Channel(
            f"Local/{resource}@{context}-{seq};2",
            f"{base_id}.{next(self._seq)}",
            lid,
            context,
            exten,
            created=self.clock.monotonic(),
        )
        for ch in (one, two):
            self.channels[ch.name] = ch
            self.emit("Newchannel", ch.snapshot())
        return one, two

    def _set_cid(self, ch: Channel, num: str, name: str) -> None:
        ch.cid_num, ch.cid_name = num, name
        self.emit(
            "NewCallerid",
            [*ch.snapshot(), ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")],
        )

    def _local_bridge(self, one: Channel, two: Channel) -> None:
        self.emit(
            "LocalBridge",
            [
                *one.snapshot("LocalOne"),
                *two.snapshot("LocalTwo"),
                ("Context", one.context),
                ("Exten", one.exten),
                ("LocalOptimization", "No"),
            ],
        )

    def _state(self, ch: Channel, state: int) -> None:
        ch.state = state
        self.emit("Newstate", ch.snapshot())

    def _hangup(self, ch: Channel, cause: int = 16) -> None:
        if self.channels.pop(ch.name, None) is None:
            return
        text = {
            16: "Normal Clearing",
            0: "Unknown",
            17: "User busy",
            19: "No answer",
            34: "Circuit/channel congestion",
        }.get(cause, "Normal Clearing")
        self.emit("Hangup", [*ch.snapshot(), ("Cause", str(cause)), ("Cause-txt", text)])

    def _hangup_channel(self, name: str) -> None:
        call = self._call_of_channel(name)
        if call is not None:
            call.hangup.set()
            return
        ch = self.channels.get(name)
        if ch is not None:
            ch.appdata = "hangup-requested"
            ev = self._spy_stops.get(name)
            if ev is not None:
                ev.set()
            else:
                self._hangup(ch)

    def _call_of_channel(self, name: str) -> SimCall | None:
        for call in self.calls.values():
            if any(leg.name == name for leg in call.legs):
                return call
        return None

    def pause_member(self, queue: str, interface: str, paused: bool, reason: str = "") -> None:
        """An agent pauses or resumes from their phone (not through our AMI session)."""
        for m in self.queues[queue].members:
            if m.interface == interface:
                m.paused, m.reason = paused, reason if paused else ""
                self.emit("QueueMemberPause", m.fields(), "agent,all")

    def _member_event(self, member: Member) -> None:
        # a device state change reaches every queue the agent is in: Asterisk sends one
        # QueueMemberStatus per queue
        for m in self._members_named(member.name) or [member]:
            self.emit("QueueMemberStatus", m.fields(), "agent,all")

    def _members_named(self, name: str) -> list[Member]:
        return [m for q in self.queues.values() for m in q.members if m.name == name]

    async def _wait(self, seconds: float | None, event: asyncio.Event) -> bool:
        """Sleep `seconds` (None: forever) unless `event` fires first; True when it fired."""
        if event.is_set():
            return True
        waiter = asyncio.ensure_future(event.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds)) if seconds is not None else None
        tasks = {waiter} | ({sleeper} if sleeper else set())
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            # asyncio.wait never raises the children's CancelledError but does let our own
            # cancellation through (suppressing it here kept calls alive past stop()).
            await asyncio.wait(tasks)
        return event.is_set()

    # --- views -----------
    def state(self) -> dict[str, Any]:
        return {
            "calls": [
                {
                    "call_id": c.linkedid,
                    "from": c.caller_number,
                    "name": c.caller_name,
                    "queue": c.queue,
                    "state": c.state,
                    "agent": c.agent,
                }
                for c in self.calls.values()
            ],
            "agents": [
                {
                    "member_name": name,
                    "answer_after": phone.answer_after,
                    "queues": [m.queue for m in self._members_named(name)],
                    "paused": any(m.paused for m in self._members_named(name)),
                    "busy": any(m.busy for m in self._members_named(name)),
                }
                for name, phone in sorted(self.agents.items())
            ],
            "queues": [
                {
                    "name": q.name,
                    "waiting": len(q.waiting),
                    "members": len(q.members),
                    "strategy": q.strategy,
                    "member_timeout": q.member_timeout,
                }
                for q in self.queues.values()
            ],
            "ami_clients": len(self._clients),
        }
