"""The PBX simulator: a real asyncio TCP server speaking AMI, with a small call model.

Its events have the headers, header order and ordering of the recordings in
shared/ami-captures/ (Local channel pairs `;1`/`;2`, `AgentCalled` → `DialBegin` →
`AgentConnect`/`AgentRingNoAnswer`, duplicate `DialEnd`s, `QueueMemberStatus` 1/2 with
`InCall`), minus the dialplan noise (`Newexten`, most `VarSet`, `Cdr`). Time comes from
a `Clock`: real time in the demo, a `FakeClock` in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import re
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from crm_core.clock import SystemClock
from crm_core.phones import try_normalize
from crm_core.ports.clock import Clock
from telephony.ami.framing import AmiFrameParser, AmiMessage

log = logging.getLogger(__name__)

STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
DID = "4008001234"
_QUEUE_TIMEOUT = "!queue-timeout"  # _queue's answer when Queue()'s own timeout ran out
DIALER_SORRY_SECONDS = 3.0  # the apology an unconnected dialer call hears


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


@dataclass
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    state: int = 0
    cid_num: str = "<unknown>"
    cid_name: str = "<unknown>"
    conn_num: str = "<unknown>"
    conn_name: str = "<unknown>"
    priority: int = 1
    application: str = ""
    appdata: str = ""
    created: float = 0.0
    bridge: str = ""

    def snapshot(self, prefix: str = "") -> list[tuple[str, str]]:
        return [
            (f"{prefix}Channel", self.name),
            (f"{prefix}ChannelState", str(self.state)),
            (f"{prefix}ChannelStateDesc", STATE_DESC.get(self.state, "Unknown")),
            (f"{prefix}CallerIDNum", self.cid_num),
            (f"{prefix}CallerIDName", self.cid_name),
            (f"{prefix}ConnectedLineNum", self.conn_num),
            (f"{prefix}ConnectedLineName", self.conn_name),
            (f"{prefix}Language", "en"),
            (f"{prefix}AccountCode", ""),
            (f"{prefix}Context", self.context),
            (f"{prefix}Exten", self.exten),
            (f"{prefix}Priority", str(self.priority)),
            (f"{prefix}Uniqueid", self.uniqueid),
            (f"{prefix}Linkedid", self.linkedid),
        ]


@dataclass
class Member:
    queue: str
    name: str
    interface: str
    paused: bool = False
    reason: str = ""
    penalty: int = 0
    calls_taken: int = 0
    last_call: int = 0
    login_time: int = 0
    busy: bool = False  # ringing or talking
    in_call: bool = False

    @property
    def state_interface(self) -> str:
        return self.interface[:-2] if self.interface.endswith("/n") else self.interface

    def fields(self) -> list[tuple[str, str]]:
        return [
            ("Queue", self.queue),
            ("MemberName", self.name),
            ("Interface", self.interface),
            ("StateInterface", self.state_interface),
            ("Membership", "dynamic"),
            ("Penalty", str(self.penalty)),
            ("CallsTaken", str(self.calls_taken)),
            ("LastCall", str(self.last_call)),
            ("LastPause", "0"),
            ("LoginTime", str(self.login_time)),
            ("InCall", "1" if self.in_call else "0"),
            ("Status", "2" if self.busy else "1"),
            ("Paused", "1" if self.paused else "0"),
            ("PausedReason", self.reason),
            ("Ringinuse", "0"),
            ("Wrapuptime", "0"),
        ]


@dataclass
class AgentPhone:
    """How a simulated agent's phone behaves: answers after N s, or never (None)."""

    answer_after: float | None = 3.0
    talk_seconds: float | None = None  # None: the caller's talk time


@dataclass
class CustomerPhone:
    mode: str = "answer"  # answer | busy | noanswer | congestion
    answer_after: float = 3.0
    talk_seconds: float = 60.0


@dataclass
class QueueConfig:
    name: str
    strategy: str = "linear"  # linear | ringall | rrmemory
    member_timeout: float = 15.0
    retry: float = 2.0
    members: list[Member] = field(default_factory=list)
    waiting: list[SimCall] = field(default_factory=list)
    completed: int = 0
    abandoned: int = 0
    rr_next: int = 0


@dataclass
class SimCall:
    linkedid: str
    caller_number: str
    caller_name: str
    queue: str | None
    talk_seconds: float
    abandon_after: float | None
    ivr_route: str | None = None
    dtmf: str = ""
    # what the caller does when the survey asks: keys to press, "hangup", or "" (silence)
    survey: str = ""
    legs: list[Channel] = field(default_factory=list)
    state: str = "new"  # new | ivr | waiting | ringing | talking | ended
    agent: str | None = None
    joined_at: float = 0.0
    created_at: float = 0.0
    hangup: asyncio.Event = field(default_factory=asyncio.Event)
    redirect: str | None = None
    agent_hung_up: bool = False  # the queue returned alive (option c): the survey runs
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def caller(self) -> Channel:
        return self.legs[0]


class _Client:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.authed = False
        self.events = True
        self.frozen = False
        self.username = ""


Send = Callable[[list[tuple[str, str]]], None]


class Simulator:
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
        self._clients: list[_Client] = []
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
        client = _Client(writer)
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

    def _write(self, client: _Client, fields: list[tuple[str, str]]) -> None:
        if client.frozen or client.writer.is_closing():
            return
        data = "".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n"
        client.writer.write(data.encode("utf-8"))

    def _list_complete(
        self, client: _Client, event: str, aid: str, items: int, *extra: tuple[str, str]
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

    # --- actions ------------------------------------------------------------------------------
    async def _action(self, client: _Client, msg: AmiMessage) -> bool:
        name = msg.get("Action").lower()
        aid = msg.get("ActionID")
        self.actions.append(msg)

        def reply(
            response: str = "Success",
            message: str | None = None,
            extra: list[tuple[str, str]] | None = None,
        ) -> None:
            fields = [("Response", response), ("ActionID", aid)]
            if message is not None:
                fields.append(("Message", message))
            self._write(client, fields + (extra or []))

        if name == "login":
            if msg.get("Username") == self.username and msg.get("Secret") == self.secret:
                client.authed = True
                client.username = msg.get("Username")
                client.events = msg.get("Events", "on").lower() not in ("off", "no")
                reply("Success", "Authentication accepted")
                if client.events:
                    # what Asterisk sends every new session, a kicked one's return too
                    uptime = str(int(self.clock.monotonic() - self._booted))
                    self._write(
                        client,
                        [
                            ("Event", "FullyBooted"),
                            ("Privilege", "system,all"),
                            ("Uptime", uptime),
                            ("LastReload", uptime),
                            ("Status", "Fully Booted"),
                        ],
                    )
            else:
                reply("Error", "Authentication failed")
            return True
        if name == "logoff":
            reply("Goodbye", "Thanks for all the fish.")
            await client.writer.drain()
            return False
        if not client.authed:
            reply("Error", "Permission denied")
            return True
        handler = getattr(self, f"_act_{name}", None)
        if handler is None:
            reply("Error", "Invalid/unknown command: " + msg.get("Action"))
            return True
        try:
            await handler(client, msg, reply)
        except Exception as exc:  # a simulator bug must not kill the AMI session
            log.exception("simulator action %s failed", name)
            reply("Error", f"simulator error: {exc}")
        return True

    async def _act_ping(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        reply("Success", None, [("Ping", "Pong"), ("Timestamp", f"{self._now_epoch():.6f}")])

    async def _act_events(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        client.events = msg.get("EventMask", "on").lower() not in ("off", "no")
        reply("Success", None, [("Events", "On" if client.events else "Off")])

    async def _act_setvar(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        name, value, target = msg.get("Variable"), msg.get("Value"), msg.get("Channel")
        ch = self.channels.get(target) if target else None
        if target and ch is None:
            reply("Error", "Channel not found")
            return
        self.variables[(target, name)] = value
        reply("Success", "Variable Set")

    async def _act_getvar(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        name, target = msg.get("Variable"), msg.get("Channel")
        if target and target not in self.channels:
            reply("Error", "Channel not found")
            return
        value = self.variables.get((target, name), "")
        reply("Success", None, [("Variable", name), ("Value", value)])

    async def _act_atxfer(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        # Modelled as the consultation being completed at once: the call moves to Exten.
        call = self._call_of_channel(msg.get("Channel"))
        if call is None:
            reply("Error", "No such channel")
            return
        call.redirect = msg.get("Exten")
        call.hangup.set()
        reply("Success", "Atxfer successfully queued")

    async def _act_queueadd(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        queue, interface = msg.get("Queue"), msg.get("Interface")
        q = self.queues.get(queue)
        if q is None:
            reply("Error", "Unable to add interface to queue: No such queue")
            return
        if any(m.interface == interface for m in q.members):
            reply("Error", "Unable to add interface: Already there")
            return
        member = self.add_member(
            queue,
            msg.get("MemberName") or interface,
            interface,
            paused=msg.get("Paused", "false").lower() in ("1", "true", "yes"),
        )
        reply("Success", "Added interface to queue")
        self.emit("QueueMemberAdded", member.fields(), "agent,all")

    async def _act_queueremove(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        q = self.queues.get(msg.get("Queue"))
        member = (
            next((m for m in q.members if m.interface == msg.get("Interface")), None) if q else None
        )
        if q is None or member is None:
            reply("Error", "Unable to remove interface: Not there")
            return
        q.members.remove(member)
        reply("Success", "Removed interface from queue")
        self.emit("QueueMemberRemoved", member.fields(), "agent,all")

    async def _act_queuepause(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        paused = msg.get("Paused", "true").lower() in ("1", "true", "yes")
        queue = msg.get("Queue") or None
        found = [
            m
            for q in self.queues.values()
            if queue in (None, q.name)
            for m in q.members
            if m.interface == msg.get("Interface")
        ]
        if not found:
            reply("Error", "Interface not found")
            return
        for m in found:
            m.paused = paused
            m.reason = msg.get("Reason") if paused else ""
        reply(
            "Success",
            "Interface paused successfully" if paused else "Interface unpaused successfully",
        )
        for m in found:
            self.emit("QueueMemberPause", m.fields(), "agent,all")

    async def _act_queuepenalty(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        for q in self.queues.values():
            for m in q.members:
                if m.interface == msg.get("Interface"):
                    m.penalty = int(msg.get("Penalty", "0") or 0)
        reply("Success", "Interface penalty set successfully")

    async def _act_queuestatus(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        aid = msg.get("ActionID")
        reply("Success", "Queue status will follow", [("EventList", "start")])
        items = 0
        now = self.clock.monotonic()
        for q in self.queues.values():
            if msg.get("Queue") and msg.get("Queue") != q.name:
                continue
            self._write(
                client,
                [
                    ("Event", "QueueParams"),
                    ("Queue", q.name),
                    ("Max", "0"),
                    ("Strategy", q.strategy),
                    ("Calls", str(len(q.waiting))),
                    ("Holdtime", "0"),
                    ("TalkTime", "0"),
                    ("Completed", str(q.completed)),
                    ("Abandoned", str(q.abandoned)),
                    ("ServiceLevel", "0"),
                    ("ServicelevelPerf", "0.0"),
                    ("ServicelevelPerf2", "0.0"),
                    ("Weight", "0"),
                    ("Timeout", str(int(q.member_timeout))),
                    ("ActionID", aid),
                ],
            )
            items += 1
            for m in q.members:
                if msg.get("Member") and msg.get("Member") != m.interface:
                    continue
                f = dict(m.fields())
                self._write(
                    client,
                    [
                        ("Event", "QueueMember"),
                        ("Queue", q.name),
                        ("Name", m.name),
                        ("Location", m.interface),
                        ("StateInterface", m.state_interface),
                        ("Membership", "dynamic"),
                        ("Penalty", f["Penalty"]),
                        ("CallsTaken", f["CallsTaken"]),
                        ("LastCall", f["LastCall"]),
                        ("LastPause", "0"),
                        ("LoginTime", f["LoginTime"]),
                        ("InCall", f["InCall"]),
                        ("Status", f["Status"]),
                        ("Paused", f["Paused"]),
                        ("PausedReason", f["PausedReason"]),
                        ("Wrapuptime", "0"),
                        ("ActionID", aid),
                    ],
                )
                items += 1
            for pos, call in enumerate(q.waiting, 1):
                ch = call.caller
                self._write(
                    client,
                    [
                        ("Event", "QueueEntry"),
                        ("Queue", q.name),
                        ("Position", str(pos)),
                        ("Channel", ch.name),
                        ("Uniqueid", ch.uniqueid),
                        ("CallerIDNum", ch.cid_num),
                        ("CallerIDName", ch.cid_name),
                        ("ConnectedLineNum", "<unknown>"),
                        ("ConnectedLineName", "<unknown>"),
                        ("Wait", str(int(now - call.joined_at))),
                        ("Priority", "0"),
                        ("ActionID", aid),
                    ],
                )
                items += 1
        self._list_complete(client, "QueueStatusComplete", aid, items)

    async def _act_queuesummary(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        aid = msg.get("ActionID")
        reply("Success", "Queue summary will follow", [("EventList", "start")])
        for q in self.queues.values():
            avail = sum(1 for m in q.members if not m.paused and not m.busy)
            self._write(
                client,
                [
                    ("Event", "QueueSummary"),
                    ("Queue", q.name),
                    ("LoggedIn", str(len(q.members))),
                    ("Available", str(avail)),
                    ("Callers", str(len(q.waiting))),
                    ("HoldTime", "0"),
                    ("TalkTime", "0"),
                    ("LongestHoldTime", "0"),
                    ("ActionID", aid),
                ],
            )
        self._list_complete(client, "QueueSummaryComplete", aid, len(self.queues))

    async def _act_coreshowchannels(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        aid = msg.get("ActionID")
        reply("Success", "Channels will follow", [("EventList", "start")])
        now = self.clock.monotonic()
        for ch in self.channels.values():
            secs = int(now - ch.created)
            self._write(
                client,
                [
                    ("Event", "CoreShowChannel"),
                    ("ActionID", aid),
                    *ch.snapshot(),
                    ("Application", ch.application),
                    ("ApplicationData", ch.appdata),
                    ("Duration", f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"),
                    ("BridgeId", ch.bridge),
                ],
            )
        self._list_complete(client, "CoreShowChannelsComplete", aid, len(self.channels))

    async def _act_status(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        aid = msg.get("ActionID")
        wanted = msg.get("Channel")
        chans = [c for c in self.channels.values() if not wanted or c.name == wanted]
        if wanted and not chans:
            reply("Error", "No such channel")
            return
        reply("Success", "Channel status will follow", [("EventList", "start")])
        now = self.clock.monotonic()
        for ch in chans:
            self._write(
                client,
                [
                    ("Event", "Status"),
                    ("Privilege", "Call"),
                    *ch.snapshot(),
                    ("Type", ch.name.split("/")[0]),
                    ("DNID", ""),
                    ("BridgeID", ch.bridge),
                    ("Application", ch.application),
                    ("Data", ch.appdata),
                    ("Seconds", str(int(now - ch.created))),
                    ("ActionID", aid),
                ],
            )
        self._list_complete(client, "StatusComplete", aid, len(chans), ("Items", str(len(chans))))

    async def _act_hangup(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        target = msg.get("Channel")
        if target.startswith("/") and target.endswith("/") and len(target) > 1:
            pattern = re.compile(target[1:-1])
            names = [n for n in self.channels if pattern.search(n)]
        else:
            names = [target] if target in self.channels else []
        if not names:
            reply("Error", "No such channel")
            return
        reply("Success", "Channel Hungup")
        for name in names:
            self._hangup_channel(name)

    async def _act_redirect(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        call = self._call_of_channel(msg.get("Channel"))
        if call is None:
            reply("Error", "Channel specified does not exist")
            return
        if msg.get("Context") == "hold":
            # the console's hold, as Asterisk does it (ADR 0051): the customer leaves the
            # queue's bridge for MusicOnHold, the agent's leg (ExtraChannel) for a wait;
            # both stay up, and the queue call ends only at the final hang-up
            ch = self.channels[msg.get("Channel")]
            self._held.add(ch.name)
            reply(
                "Success",
                "Dual Redirect successful" if msg.get("ExtraChannel") else "Redirect successful",
            )
            self.emit("MusicOnHoldStart", [*ch.snapshot(), ("Class", "default")])
            return
        call.redirect = msg.get("Exten")
        call.hangup.set()  # wake the call's task; it moves to the new target
        reply("Success", "Redirect successful")

    async def _act_bridge(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        """Bridge two channels: our unhold joins a held customer and the agent again."""
        one, two = msg.get("Channel1"), msg.get("Channel2")
        if one not in self.channels or two not in self.channels:
            reply("Error", f"Channel1 does not exist: {one}")
            return
        reply("Success", "Channels have been bridged")
        if one in self._held:
            self._held.discard(one)
            self.emit("MusicOnHoldStop", self.channels[one].snapshot())

    async def _act_blindtransfer(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        """Asterisk's semantics: `Channel` is the *transferer*. It leaves; its bridge peer
        (the transferee) goes on to Context/Exten. Naming the customer's channel thus
        hangs up the customer, as a real Asterisk does (ADR 0009)."""
        name = msg.get("Channel")
        call = self._call_of_channel(name)
        if call is None:
            reply("Error", "No such channel")
            return
        transferer = next(leg for leg in call.legs if leg.name == name)
        talking = call.state == "talking" and len(call.legs) >= 3
        if not talking or not transferer.bridge:
            reply("Error", "Transfer failed")
            return
        peer = call.legs[2] if transferer is call.caller else call.caller
        reply("Success", "Transfer succeeded")
        self.emit(
            "BlindTransfer",
            [
                ("Result", "Success"),
                *transferer.snapshot("Transferer"),
                *peer.snapshot("Transferee"),
                ("BridgeUniqueid", transferer.bridge),
                ("BridgeType", "basic"),
                ("IsExternal", "Yes"),
                ("Context", msg.get("Context")),
                ("Extension", msg.get("Exten")),
            ],
        )
        if transferer is not call.caller:
            call.redirect = msg.get("Exten")
        call.hangup.set()  # the customer as transferer: hung up (their call ends)

    async def _act_mixmonitor(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        ch = self.channels.get(msg.get("Channel"))
        if ch is None:
            reply("Error", "No such channel")
            return
        reply("Success")
        filename = msg.get("File") or f"/var/spool/asterisk/monitor/{ch.uniqueid}.wav"
        self.emit(
            "VarSet",
            [*ch.snapshot(), ("Variable", "MIXMONITOR_FILENAME"), ("Value", filename)],
            "dialplan,all",
        )
        self.emit("MixMonitorStart", ch.snapshot())

    async def _act_stopmixmonitor(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        ch = self.channels.get(msg.get("Channel"))
        if ch is None:
            reply("Error", "No such channel")
            return
        reply("Success")
        self.emit("MixMonitorStop", ch.snapshot())

    async def _act_originate(self, client: _Client, msg: AmiMessage, reply: Any) -> None:
        is_async = msg.get("Async", "false").lower() in ("true", "1", "yes")
        request = next(
            (v.split("=", 1)[1] for v in msg.getall("Variable") if v.startswith("CC_REQUEST_ID=")),
            None,
        )
        if request:
            self.originated.add(request)
        if is_async:
            reply("Success", "Originate successfully queued")
        aid = msg.get("ActionID")

        async def run() -> None:
            ok = await self._originate(msg, aid, is_async)
            if not is_async:
                reply(
                    "Success" if ok else "Error",
                    "Originate successfully queued" if ok else "Originate failed",
                )

        self.spawn(run(), f"originate-{aid}")

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

    # --- inbound calls -----------
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

    def place_call(
        self,
        from_number: str,
        name: str = "",
        queue: str | None = "support",
        *,
        abandon_after: float | None = None,
        talk_seconds: float = 30.0,
        ivr_route: str | None = None,
        dtmf: str = "",
        survey: str = "",
    ) -> str:
        linkedid = self._new_linkedid()
        call = SimCall(
            linkedid,
            from_number,
            name,
            queue,
            talk_seconds,
            abandon_after,
            ivr_route=ivr_route,
            dtmf=dtmf,
            survey=survey,
            created_at=self.clock.monotonic(),
        )
        self.calls[linkedid] = call
        self.spawn(self._run_inbound(call), f"call-{linkedid}")
        return linkedid

    async def _run_inbound(self, call: SimCall) -> None:
        try:
            one, two = self._local_pair(
                call.caller_number,
                "caller-sim",
                call.caller_number,
                call.linkedid,
                first_uniqueid=call.linkedid,
            )
            call.legs = [one, two]
            self._set_cid(one, call.caller_number, call.caller_name)
            self._set_cid(two, call.caller_number, call.caller_name)
            self._local_bridge(one, two)
            self._state(two, 6)
            one.context, one.exten = "inbound", DID
            self._state(one, 6)
            if call.ivr_route and self.agi_address:
                await self._run_ivr(call)
            target = call.queue
            if target and not call.hangup.is_set():
                # `[inbound]`'s queue step: Set(CC_QUEUE=…), then Goto(queue-call,…)
                call.variables["CC_QUEUE"] = target
                self.emit(
                    "VarSet",
                    [*one.snapshot(), ("Variable", "CC_QUEUE"), ("Value", target)],
                    "dialplan,all",
                )
            while (target and not call.hangup.is_set()) or call.redirect:
                if call.redirect:
                    target, call.redirect = call.redirect, None
                    call.hangup.clear()
                if target not in self.queues:
                    if target and self._is_agent(f"Local/{target}@agents/n"):
                        # blind transfer to a colleague's extension (`[transfer]` Dial)
                        await self._dial_second_leg(call, call.caller, target, "transfer")
                    break
                # Queue() runs in `[queue-call]` (a transfer reaches it through
                # `[transfer]`): the caller's events carry that context and the queue
                one.context, one.exten = "queue-call", target
                target = await self._queue(call, target)
            if call.agent_hung_up and self.agi_address and call.variables.get("MEMBERNAME"):
                # `[queue-call]`: Queue(…,c) returns when the agent hangs up; the caller
                # goes on, alive, to the satisfaction survey
                call.state = "survey"
                if call.survey == "hangup":  # hangs up while the question plays
                    await self._agi(call, "survey", [], hangup_after=1)
                else:
                    await self._agi(call, "survey", [call.survey] if call.survey else [])
        finally:
            if len(call.legs) > 1:
                self._hangup(call.legs[1])  # the caller's own half goes first, as in Asterisk
            self._end_call(call)

    async def _run_ivr(self, call: SimCall) -> None:
        """Walk the call through the IVR as the rendered `[inbound]` dialplan does."""
        assert self.agi_address is not None
        call.state = "ivr"
        inputs = call.dtmf.split(",") if call.dtmf else []
        start = call.ivr_route or "welcome"

        def route() -> str:
            return call.variables.get("CC_ROUTE", "")

        if start == "welcome":
            await self._agi(call, "welcome", inputs)
            if route() == "hangup":
                call.queue = None
                return
            if route() == "callback":
                await self._agi(call, "callback", inputs)
                call.queue = None
                return
            start = "menu"
        if start == "menu":
            await self._agi(call, "menu", inputs)
            if route() == "selfservice":
                start = "selfservice"
            elif route() in ("callback", "hangup"):
                start = route()
        if start == "selfservice":
            await self._agi(call, "selfservice", inputs)
            if route() != "queue":
                call.queue = None
                return
        elif start == "callback":
            await self._agi(call, "callback", inputs)
            call.queue = None
            return
        elif start == "hangup":
            call.queue = None
            return
        if call.variables.get("CC_QUEUE"):
            call.queue = call.variables["CC_QUEUE"]

    async def _agi(
        self, call: SimCall, route: str, inputs: list[str], *, hangup_after: int | None = None
    ) -> None:
        """One `AGI(agi://…/route)` step; AGISTATUS as Asterisk sets it."""
        from telephony.sim.agi_caller import run_agi

        assert self.agi_address is not None
        one = call.caller
        one.application, one.appdata = "AGI", f"agi://{self.agi_address[0]}/{route}"
        status = "FAILURE"
        try:
            result = await run_agi(
                self.agi_address[0],
                self.agi_address[1],
                route,
                channel=one.name,
                uniqueid=one.uniqueid,
                linkedid=call.linkedid,
                caller_number=call.caller_number,
                caller_name=call.caller_name,
                dtmf=",".join(inputs),
                variables=call.variables,
                prompts=self.prompts,
                context=one.context,
                extension=one.exten,
                args=(self.agi_secret,) if self.agi_secret else (),
                hangup_after=hangup_after,
            )
        except (OSError, TimeoutError, ValueError) as exc:
            log.warning("simulated IVR for %s failed: %s", call.linkedid, exc)
        else:
            status = result.status
            for key, value in result.sets:  # one VarSet per SET VARIABLE, as they came
                call.variables[key] = value
                if key.startswith("CC_"):
                    self.emit(
                        "VarSet",
                        [*one.snapshot(), ("Variable", key), ("Value", value)],
                        "dialplan,all",
                    )
            if result.missing_prompts:
                log.warning(
                    "simulated IVR %s: prompt %s is not installed; Asterisk ends the AGI",
                    route,
                    result.missing_prompts[0],
                )
        if inputs:
            del inputs[0]
        self.emit(
            "VarSet",
            [*one.snapshot(), ("Variable", "AGISTATUS"), ("Value", status)],
            "dialplan,all",
        )

    def _pick(self, q: QueueConfig, tried: set[str]) -> list[Member]:
        free = [m for m in q.members if not m.paused and not m.busy]
        if not free:
            return []
        if q.strategy == "ringall":
            return free
        untried = [m for m in free if m.interface not in tried] or free
        if q.strategy == "rrmemory":
            untried.sort(key=lambda m: (q.members.index(m) - q.rr_next) % max(len(q.members), 1))
            q.rr_next = q.members.index(untried[0]) + 1
        return [untried[0]]

    async def _queue(self, call: SimCall, queue_name: str) -> str | None:
        q = self.queues[queue_name]
        one = call.caller
        call.state = "waiting"
        call.joined_at = self.clock.monotonic()
        one.application, one.appdata = "Queue", queue_name
        q.waiting.append(call)
        self.emit(
            "QueueCallerJoin",
            [
                *one.snapshot(),
                ("Queue", q.name),
                ("Position", str(q.waiting.index(call) + 1)),
                ("Count", str(len(q.waiting))),
            ],
        )
        self.emit("MusicOnHoldStart", [*one.snapshot(), ("Class", "default")])
        tried: set[str] = set()
        deadline = (call.joined_at + call.abandon_after) if call.abandon_after is not None else None
        # Queue()'s timeout argument, as the campaign-dial context passes CC_QUEUE_TIMEOUT
        limit = _float_or_none(call.variables.get("CC_QUEUE_TIMEOUT"))
        timeout_at = call.joined_at + limit if limit is not None else None
        try:
            while True:
                now = self.clock.monotonic()
                if deadline is not None and now >= deadline:
                    self._abandon(call, q)
                    return None
                members = self._pick(q, tried) if q.waiting and q.waiting[0] is call else []
                if not members and timeout_at is not None and now >= timeout_at:
                    self._leave(call, q)  # Queue(...,timeout) returns; the dialplan goes on
                    return _QUEUE_TIMEOUT
                if not members:
                    left = None if deadline is None else deadline - now
                    if timeout_at is not None:
                        left = min(left, timeout_at - now) if left is not None else timeout_at - now
                    if await self._wait(min(0.5, left) if left is not None else 0.5, call.hangup):
                        if call.redirect:
                            self._leave(call, q)
                            return call.redirect
                        self._abandon(call, q)
                        return None
                    continue
                result = await self._ring(call, q, members, deadline)
                if result in ("answered", "gone"):
                    return call.redirect if call.redirect else None
                tried.update(m.interface for m in members)
                if result == "abandoned":
                    return None
                if await self._wait(q.retry, call.hangup):
                    if call.redirect:
                        self._leave(call, q)
                        return call.redirect
                    self._abandon(call, q)
                    return None
        finally:
            if call in q.waiting:
                q.waiting.remove(call)

    async def _dialer_abandon(self, call: SimCall, one: Channel) -> None:
        """The campaign-dial context after a queue timeout: mark, apologise, hang up."""
        self.emit("VarSet", [*one.snapshot(), ("Variable", "CC_DIALER_ABANDON"), ("Value", "1")])
        one.application, one.appdata = "Playback", "callcenter/dialer-sorry"
        await self._wait(DIALER_SORRY_SECONDS, call.hangup)

    def _leave(self, call: SimCall, q: QueueConfig) -> None:
        one = call.caller
        self.emit("MusicOnHoldStop", one.snapshot())
        self.emit(
            "QueueCallerLeave",
            [
                *one.snapshot(),
                ("Queue", q.name),
                ("Position", str(q.waiting.index(call) + 1) if call in q.waiting else "1"),
                ("Count", str(max(len(q.waiting) - 1, 0))),
            ],
        )
        if call in q.waiting:
            q.waiting.remove(call)

    def _abandon(self, call: SimCall, q: QueueConfig) -> None:
        one, two = call.legs[0], call.legs[1]
        self._hangup(two)
        hold = int(self.clock.monotonic() - call.joined_at)
        pos = str(q.waiting.index(call) + 1) if call in q.waiting else "1"
        self.emit(
            "QueueCallerAbandon",
            [
                *one.snapshot(),
                ("Queue", q.name),
                ("Position", pos),
                ("OriginalPosition", pos),
                ("HoldTime", str(hold)),
            ],
        )
        self.emit(
            "QueueCallerLeave",
            [
                *one.snapshot(),
                ("Queue", q.name),
                ("Position", pos),
                ("Count", str(max(len(q.waiting) - 1, 0))),
            ],
        )
        q.abandoned += 1
        if call in q.waiting:
            q.waiting.remove(call)
        call.state = "ended"

    async def _ring(
        self, call: SimCall, q: QueueConfig, members: list[Member], deadline: float | None
    ) -> str:
        """Ring one member (or all, ringall). Result: answered | noanswer | abandoned | gone."""
        one = call.caller
        call.state = "ringing"
        rung: list[tuple[Member, Channel, Channel, float]] = []
        start = self.clock.monotonic()
        for m in members:
            ext = m.state_interface.split("/", 1)[-1].split("@", 1)[0]
            ctx = m.state_interface.split("@", 1)[-1] if "@" in m.state_interface else "agents"
            a1, a2 = self._local_pair(ext, ctx, ext, call.linkedid)
            self._set_cid(a1, call.caller_number, call.caller_name)
            self._set_cid(a2, call.caller_number, call.caller_name)
            self._local_bridge(a1, a2)
            self._emit_agent("AgentCalled", one, a1, q, m)
            self.emit(
                "DialBegin", [*one.snapshot(), *a1.snapshot("Dest"), ("DialString", m.interface)]
            )
            self._state(a1, 5)  # Asterisk: the queue's half of the agent leg goes Ringing
            m.busy = True
            for mm in self._members_named(m.name):
                mm.busy = True
            self._member_event(m)
            self.emit(
                "DialState", [*one.snapshot(), *a1.snapshot("Dest"), ("DialStatus", "RINGING")]
            )
            phone = self.agents.get(m.name, AgentPhone(answer_after=None))
            rung.append(
                (m, a1, a2, phone.answer_after if phone.answer_after is not None else float("inf"))
            )
        first_answer = min(r[3] for r in rung)
        timeout = q.member_timeout
        abandon_in = (deadline - start) if deadline is not None else float("inf")
        step = min(first_answer, timeout, abandon_in)
        interrupted = await self._wait(None if step == float("inf") else step, call.hangup)
        elapsed = self.clock.monotonic() - start

        def release(m: Member) -> None:
            for mm in self._members_named(m.name):
                mm.busy = False
            self._member_event(m)

        if interrupted or (abandon_in <= min(first_answer, timeout)):
            # caller gone (or redirected away) while the phones ring: no AgentRingNoAnswer
            if not call.redirect:
                self._hangup(call.legs[1])
            for _m, a1, _a2, _ in rung:
                for _ in range(2):
                    self.emit(
                        "DialEnd", [*one.snapshot(), *a1.snapshot("Dest"), ("DialStatus", "CANCEL")]
                    )
                self._hangup(a1, 0)
            if call.redirect:
                self._leave(call, q)
            else:
                self._abandon(call, q)
            for m, _a1, a2, _ in rung:
                self._hangup(a2, 0)
                release(m)
            return "gone" if call.redirect else "abandoned"
        if first_answer <= timeout and first_answer <= elapsed + 1e-9:
            winner = min(rung, key=lambda r: r[3])
            for m, a1, a2, _ in rung:
                if (m, a1, a2) == winner[:3]:
                    continue
                self.emit(
                    "DialEnd", [*one.snapshot(), *a1.snapshot("Dest"), ("DialStatus", "CANCEL")]
                )
                self._hangup(a1, 0)
                self._hangup(a2, 0)
                release(m)
            await self._connect(call, q, winner[0], winner[1], winner[2], elapsed)
            return "answered"
        for m, a1, a2, _ in rung:
            self._emit_agent(
                "AgentRingNoAnswer", one, a1, q, m, ("RingTime", str(round(elapsed * 1000)))
            )
            self.emit(
                "DialEnd", [*one.snapshot(), *a1.snapshot("Dest"), ("DialStatus", "NOANSWER")]
            )
            self.emit("DialEnd", [*one.snapshot(), *a1.snapshot("Dest"), ("DialStatus", "CANCEL")])
            self._hangup(a1, 0)
            self._hangup(a2, 0)
            release(m)
        call.state = "waiting"
        return "noanswer"

    async def _connect(
        self, call: SimCall, q: QueueConfig, m: Member, a1: Channel, a2: Channel, ring: float
    ) -> None:
        one, _two = call.legs[0], call.legs[1]
        self._state(a2, 6)
        self._state(a1, 6)
        self.emit("DialEnd", [*one.snapshot(), *a1.snapshot("Dest"), ("DialStatus", "ANSWER")])
        hold = int(self.clock.monotonic() - call.joined_at)
        self._leave(call, q)
        self._emit_agent(
            "AgentConnect", one, a1, q, m, ("HoldTime", str(hold)), ("RingTime", str(int(ring)))
        )
        bridge, base = self._new_bridge(call.linkedid)
        self.emit(
            "BridgeCreate", [*base, ("BridgeNumChannels", "0"), ("BridgeVideoSourceMode", "none")]
        )
        for n, ch in enumerate((a1, one), 1):
            ch.bridge = bridge
            self.emit(
                "BridgeEnter",
                [
                    *base,
                    ("BridgeNumChannels", str(n)),
                    ("BridgeVideoSourceMode", "none"),
                    *ch.snapshot(),
                ],
            )
        call.state, call.agent = "talking", m.name
        call.legs += [a1, a2]
        m.in_call = True
        m.busy = True  # still "in use" (2) from the ringing: Asterisk sends nothing here
        start = self.clock.monotonic()
        phone = self.agents.get(m.name)
        talk = phone.talk_seconds if phone and phone.talk_seconds else call.talk_seconds
        interrupted = await self._wait(talk, call.hangup)
        talked = int(self.clock.monotonic() - start)
        redirected = call.redirect is not None
        reason = "transfer" if redirected else ("caller" if interrupted else "agent")
        call.agent_hung_up = reason == "agent"
        call.variables["MEMBERNAME"] = m.name  # the queues' setinterfacevar
        self._hangup(a2)
        # Asterisk races here: AgentComplete comes before or after the agent's leg leaves
        # the bridge (both recorded); the simulator keeps the order of the captures
        self.emit(
            "BridgeLeave",
            [*base, ("BridgeNumChannels", "1"), ("BridgeVideoSourceMode", "none"), *a1.snapshot()],
        )
        self._hangup(a1)
        self._emit_agent(
            "AgentComplete",
            one,
            a1,
            q,
            m,
            ("HoldTime", str(hold)),
            ("TalkTime", str(talked)),
            ("Reason", reason),
        )
        self.emit(
            "BridgeLeave",
            [*base, ("BridgeNumChannels", "0"), ("BridgeVideoSourceMode", "none"), *one.snapshot()],
        )
        self.emit(
            "BridgeDestroy", [*base, ("BridgeNumChannels", "0"), ("BridgeVideoSourceMode", "none")]
        )
        one.bridge = ""
        call.legs = call.legs[:2]
        m.in_call = False
        m.calls_taken += 1
        m.last_call = int(self._now_epoch())
        for mm in self._members_named(m.name):
            mm.busy = False
        self._member_event(m)
        q.completed += 1
        if not redirected:
            call.hangup.set()

    def _end_call(self, call: SimCall) -> None:
        for ch in list(call.legs):
            self._hangup(ch)
        call.state = "ended"
        self.calls.pop(call.linkedid, None)

    # --- outbound (Originate) -----------
    def _is_agent(self, interface: str) -> str | None:
        if interface in self.interfaces:
            return self.interfaces[interface]
        base = interface[:-2] if interface.endswith("/n") else interface
        for iface, name in self.interfaces.items():
            if iface.startswith(base):
                return name
        return None

    async def _originate(self, msg: AmiMessage, aid: str, is_async: bool) -> bool:
        channel = msg.get("Channel")
        context, exten = msg.get("Context"), msg.get("Exten")
        app, data = msg.get("Application"), msg.get("Data")
        timeout = float(msg.get("Timeout", "30000") or 30000) / 1000.0
        cid = msg.get("CallerID")
        match = re.match(r'\s*"?([^"<]*)"?\s*<([^>]*)>', cid) if cid else None
        cid_name, cid_num = (match.group(1).strip(), match.group(2)) if match else ("", cid or "")
        resource = channel.split("/", 1)[-1]
        number = resource.split("@", 1)[0]
        ctx = resource.split("@", 1)[1].split("/", 1)[0] if "@" in resource else "default"
        one, two = self._local_pair(number, ctx, number, None)
        for ch in (one, two):
            self._set_cid(ch, cid_num or "<unknown>", cid_name or "<unknown>")
        self._local_bridge(one, two)
        variables = dict(v.split("=", 1) for v in msg.getall("Variable") if "=" in v)
        for half in (one, two) if self.agents_dial_phones else (one,):
            for key, value in variables.items():  # Originate's Variable → VarSet
                self.emit("VarSet", [*half.snapshot(), ("Variable", key), ("Value", value)])
        self.emit("DialBegin", [*one.snapshot("Dest"), ("DialString", resource)])
        agent = self._is_agent(channel)
        handset: tuple[Channel, Channel] | None = None
        if agent is not None and self.agents_dial_phones and ctx == "agents":
            # `[agents]`: the `;2` half Dial()s the agent's phone
            p1, p2 = self._local_pair(number, "phone-sim", number, one.linkedid)
            self._set_cid(p1, number, cid_name or "<unknown>")
            self._set_cid(p2, "<unknown>", cid_name or "<unknown>")
            self._local_bridge(p1, p2)
            self.emit(
                "DialBegin",
                [*two.snapshot(), *p1.snapshot("Dest"), ("DialString", f"{number}@phone-sim/n")],
            )
            self._state(p1, 5)
            handset = (p1, p2)
        call = SimCall(
            one.linkedid, cid_num, cid_name, None, 60.0, None, created_at=self.clock.monotonic()
        )
        call.variables.update(variables)
        call.legs = [one, two, *(handset or ())]
        self.calls[call.linkedid] = call

        def respond(ok: bool, reason: int) -> None:
            fields: list[tuple[str, str]] = [
                ("ActionID", aid),
                ("Response", "Success" if ok else "Failure"),
                ("Channel", one.name if ok else channel),
            ]
            if app:
                fields += [("Application", app), ("Data", data)]
            else:
                fields += [("Context", context), ("Exten", exten)]
            fields += [
                ("Reason", str(reason)),
                ("Uniqueid", one.uniqueid if ok else "<unknown>"),
                ("CallerIDNum", cid_num or "<unknown>"),
                ("CallerIDName", cid_name or "<unknown>"),
            ]
            if is_async:
                self.emit("OriginateResponse", fields)

        # ring the first leg
        if agent is not None:
            members = self._members_named(agent)
            for m in members:
                m.busy = True
            if members:
                self._member_event(members[0])
            phone = self.agents.get(agent, AgentPhone())
            answer, mode = (
                phone.answer_after,
                "answer" if phone.answer_after is not None else "noanswer",
            )
        elif ctx == "no-such-context" or (context and context.startswith("no-such")):
            self._hangup(two, 0)
            respond(False, 0)
            self._hangup(one, 0)
            self.calls.pop(call.linkedid, None)
            return False
        else:
            cust = self.customer_phone(number)
            answer, mode = cust.answer_after, cust.mode
            call.talk_seconds = cust.talk_seconds
        self._state(two, 5)
        if mode not in ("busy", "congestion"):
            self.emit("DialState", [*one.snapshot("Dest"), ("DialStatus", "RINGING")])
        try:
            if mode == "busy" or mode == "congestion":
                await self._wait(0.5, call.hangup)
                status, reason = ("BUSY", 5) if mode == "busy" else ("CONGESTION", 8)
                self.emit("DialEnd", [*one.snapshot("Dest"), ("DialStatus", status)])
                respond(False, reason)
                return False
            wait_for = min(answer if answer is not None else timeout, timeout)
            if await self._wait(wait_for, call.hangup) or answer is None or answer > timeout:
                self.emit("DialEnd", [*one.snapshot("Dest"), ("DialStatus", "NOANSWER")])
                respond(False, 3)
                return False
            if handset is not None:
                p1, p2 = handset
                self._state(p2, 6)
                self._state(p1, 6)
                self.emit(
                    "DialEnd", [*two.snapshot(), *p1.snapshot("Dest"), ("DialStatus", "ANSWER")]
                )
            self._state(two, 6)
            self._state(one, 6)
            self.emit("DialEnd", [*one.snapshot("Dest"), ("DialStatus", "ANSWER")])
            if handset is not None and exten and exten not in self.queues and not app:
                # `[outbound]`: the customer sees the DID; Asterisk answers the Originate
                # once the customer is being dialled
                one.context, one.exten = context, exten
                self.emit("VarSet", [*one.snapshot(), ("Variable", "CC_SHOWN"), ("Value", DID)])
                self._set_cid(one, DID, "<unknown>")
                await self._dial_second_leg(
                    call, one, exten, context, dialling=lambda: respond(True, 4)
                )
                return True
            respond(True, 4)
            if app.lower() == "chanspy":
                await self._spy(call, one, data)
            elif exten in self.queues:
                call.caller_number, call.caller_name = number, ""
                one.context, one.exten = context, exten
                if await self._queue(call, exten) == _QUEUE_TIMEOUT:
                    await self._dialer_abandon(call, one)
            elif exten:
                await self._dial_second_leg(call, one, exten, context)
            return True
        finally:
            if agent is not None:
                for m in self._members_named(agent):
                    m.busy = False
                members = self._members_named(agent)
                if members:
                    self._member_event(members[0])
            self._end_call(call)

    async def _dial_second_leg(
        self,
        call: SimCall,
        one: Channel,
        exten: str,
        context: str,
        *,
        dialling: Callable[[], None] | None = None,
    ) -> None:
        agent = self._is_agent(f"Local/{exten}@agents/n")
        ctx = "agents" if agent else "customer-sim"
        b1, b2 = self._local_pair(exten, ctx, exten, call.linkedid)
        self._set_cid(b1, exten, "")
        self._set_cid(b2, one.cid_num, one.cid_name)
        self._local_bridge(b1, b2)
        call.legs += [b1, b2]
        self.emit(
            "DialBegin", [*one.snapshot(), *b1.snapshot("Dest"), ("DialString", f"{exten}@{ctx}/n")]
        )
        if agent:
            phone = self.agents.get(agent, AgentPhone())
            mode, answer, talk = (
                "answer" if phone.answer_after is not None else "noanswer",
                phone.answer_after,
                call.talk_seconds,
            )
        else:
            cust = self.customer_phone(exten)
            mode, answer, talk = cust.mode, cust.answer_after, cust.talk_seconds
        self._state(b2, 5)
        if mode not in ("busy", "congestion"):
            self.emit(
                "DialState",
                [*one.snapshot(), *b1.snapshot("Dest"), ("DialStatus", "RINGING")],
            )
        if dialling is not None:
            dialling()
        if mode in ("busy", "congestion"):
            await self._wait(0.5, call.hangup)
            self.emit(
                "DialEnd",
                [
                    *one.snapshot(),
                    *b1.snapshot("Dest"),
                    ("DialStatus", "BUSY" if mode == "busy" else "CONGESTION"),
                ],
            )
            return
        limit = 30.0
        if mode == "noanswer" or answer is None or answer > limit:
            await self._wait(limit, call.hangup)
            self.emit(
                "DialEnd", [*one.snapshot(), *b1.snapshot("Dest"), ("DialStatus", "NOANSWER")]
            )
            return
        if await self._wait(answer, call.hangup):
            self.emit("DialEnd", [*one.snapshot(), *b1.snapshot("Dest"), ("DialStatus", "CANCEL")])
            return
        self._state(b2, 6)
        self._state(b1, 6)
        self.emit("DialEnd", [*one.snapshot(), *b1.snapshot("Dest"), ("DialStatus", "ANSWER")])
        # Same bridge lifecycle as the recorded outbound calls: the far end hangs up first.
        bridge, base = self._new_bridge(call.linkedid)
        tail = [("BridgeVideoSourceMode", "none")]
        self.emit("BridgeCreate", [*base, ("BridgeNumChannels", "0"), *tail])
        for n, ch in enumerate((b1, one), 1):
            ch.bridge = bridge
            self.emit("BridgeEnter", [*base, ("BridgeNumChannels", str(n)), *tail, *ch.snapshot()])
        call.state = "talking"
        await self._wait(talk, call.hangup)
        self._hangup(b2)
        self.emit("BridgeLeave", [*base, ("BridgeNumChannels", "1"), *tail, *b1.snapshot()])
        self._hangup(b1)
        self.emit("BridgeLeave", [*base, ("BridgeNumChannels", "0"), *tail, *one.snapshot()])
        self.emit("BridgeDestroy", [*base, ("BridgeNumChannels", "0"), *tail])
        for ch in (one, b1):
            ch.bridge = ""

    async def _spy(self, call: SimCall, spyer: Channel, data: str) -> None:
        target = data.split(",", 1)[0]
        spyee = next(
            (
                c
                for c in self.channels.values()
                if c.name.startswith(target + "-") and c.name.endswith(";1") and c.bridge
            ),
            None,
        )
        if spyee is None:
            return
        fields = [*spyer.snapshot("Spyer"), *spyee.snapshot("Spyee")]
        self.emit("ChanSpyStart", fields)
        spyer.application, spyer.appdata = "ChanSpy", data
        while spyee.name in self.channels and not call.hangup.is_set():
            await self._wait(0.5, call.hangup)
        self.emit("ChanSpyStop", fields)

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


def demo_simulator(
    *,
    clock: Clock | None = None,
    ami_secret: str = "",
    agents: int = 6,
    preload_members: bool = False,
    answer_after: float | None = 4.0,
    ring_limit_seconds: float = 15.0,
) -> Simulator:
    """The demo PBX: queues support, sales, vip; Agent 1001..100N on Local/100N@agents/n.

    The queues are the ones `callcenter pbx-config` renders: a member rings for the ring
    limit rounded up to whole seconds (Asterisk's `timeout`), then `retry = 2`.
    """
    sim = Simulator(clock=clock, ami_secret=ami_secret)
    timeout = float(max(1, math.ceil(ring_limit_seconds)))
    for name in ("support", "sales", "vip"):
        sim.add_queue(
            name,
            strategy="rrmemory" if name != "vip" else "ringall",
            member_timeout=timeout,
            retry=2.0,
        )
    for n in range(1, agents + 1):
        member, iface = f"Agent {1000 + n}", f"Local/{1000 + n}@agents/n"
        sim.add_agent_phone(member, iface, answer_after)
        if preload_members:
            for q in ("support", "sales"):
                sim.add_member(q, member, iface)
    return sim
