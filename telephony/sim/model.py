"""The simulator's call model: channels, queue members, phones, queues, calls."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("telephony.sim.pbx")

STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
DID = "4008001234"
QUEUE_TIMEOUT = "!queue-timeout"  # _queue's answer when Queue()'s own timeout ran out
DIALER_SORRY_SECONDS = 3.0  # the apology an unconnected dialer call hears


def float_or_none(text: str | None) -> float | None:
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


class Client:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.authed = False
        self.events = True
        self.frozen = False
        self.username = ""


Send = Callable[[list[tuple[str, str]]], None]
