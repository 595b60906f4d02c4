"""In-memory fakes of the ports the agent-sessions use case depends on: the PBX's queue
commands and the console's agent-state projection (the audit log and the user directory
are `FakeAudit` and `FakeUsers` of `tests.fakes.repos`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from crm_core.domain.models import AgentStatus
from crm_core.ports.telephony import (
    OriginateRequest,
    OriginateResult,
    SpyMode,
    TelephonyError,
)


@dataclass(slots=True)
class FakeQueues:
    """A PBX's queue membership: `members[queue]` = interfaces; `paused` interfaces.

    `refuse[(verb, queue)]` makes that step answer an error (`action-failed` unless the
    value names another error_id); `unreachable` makes every command fail as if the AMI
    connection were down."""

    queues: set[str] = field(default_factory=lambda: {"sales", "support"})
    members: dict[str, set[str]] = field(default_factory=dict)
    paused: dict[str, str] = field(default_factory=dict)  # interface -> reason
    refuse: dict[tuple[str, str], str] = field(default_factory=dict)
    unreachable: str | None = None  # an error_id, e.g. "ami-unavailable"
    log: list[tuple[str, ...]] = field(default_factory=list)

    def _check(self, verb: str, queue: str = "*") -> None:
        if self.unreachable is not None:
            raise TelephonyError(self.unreachable, f"{verb}: the AMI is down")
        error_id = self.refuse.get((verb, queue))
        if error_id is not None:
            raise TelephonyError(error_id, f"{verb} {queue}: refused")

    def member_of(self, interface: str) -> set[str]:
        return {q for q, ifaces in self.members.items() if interface in ifaces}

    async def queue_add(
        self,
        queue: str,
        interface: str,
        member_name: str,
        state_interface: str | None = None,
        penalty: int = 0,
        paused: bool = False,
    ) -> None:
        self._check("add", queue)
        if queue not in self.queues:
            raise TelephonyError("action-failed", f"queue add: no such queue {queue}")
        self.log.append(("add", queue, interface, member_name))
        self.members.setdefault(queue, set()).add(interface)

    async def queue_remove(self, queue: str, interface: str) -> None:
        self._check("remove", queue)
        self.log.append(("remove", queue, interface))
        # as the adapter does: "not there" is done, not an error
        self.members.get(queue, set()).discard(interface)

    async def queue_pause(
        self, interface: str, paused: bool, reason: str = "", queue: str | None = None
    ) -> None:
        self._check("pause" if paused else "resume")
        if not self.member_of(interface):
            raise TelephonyError("action-failed", "queue pause: Interface not found")
        self.log.append(("pause" if paused else "resume", interface, reason))
        if paused:
            self.paused[interface] = reason
        else:
            self.paused.pop(interface, None)

    # --- the rest of TelephonyCommands: not used by agent sessions -------------------------

    async def originate(self, request: OriginateRequest) -> OriginateResult:
        raise NotImplementedError

    async def end_spy(self, channel_id: str) -> bool:
        raise NotImplementedError

    async def redirect(
        self,
        channel: str,
        context: str,
        exten: str,
        priority: int = 1,
        extra_channel: str | None = None,
        extra_exten: str | None = None,
    ) -> None:
        raise NotImplementedError

    async def blind_transfer(self, channel: str, context: str, exten: str) -> None:
        raise NotImplementedError

    async def attended_transfer(self, channel: str, exten: str) -> None:
        raise NotImplementedError

    async def spy(
        self,
        spyer_interface: str,
        target_interface: str,
        mode: SpyMode,
        *,
        channel_id: str | None = None,
    ) -> OriginateResult:
        raise NotImplementedError

    async def start_recording(self, channel: str, filename: str) -> None:
        raise NotImplementedError

    async def stop_recording(self, channel: str) -> None:
        raise NotImplementedError

    async def hold(self, call_id: str, hold: bool) -> None:
        raise NotImplementedError

    async def transfer_to_queue(self, call_id: str, queue: str) -> None:
        raise NotImplementedError

    async def transfer_to_agent(self, call_id: str, interface: str) -> None:
        raise NotImplementedError

    async def hangup_call(self, call_id: str) -> None:
        raise NotImplementedError

    async def spy_call(
        self,
        call_id: str,
        spyer_interface: str,
        mode: SpyMode,
        *,
        channel_id: str | None = None,
    ) -> OriginateResult:
        raise NotImplementedError


@dataclass(slots=True)
class SeatState:
    status: AgentStatus = AgentStatus.LOGGED_OUT
    paused: bool = False
    reason: str = ""
    queues: set[str] = field(default_factory=set)


@dataclass(slots=True)
class FakeSeats:
    """The projection: a state per username, and the messages the agent would hear (one
    per command, as the seat board sends them)."""

    states: dict[str, SeatState] = field(default_factory=dict)
    heard: dict[str, list[SeatState]] = field(default_factory=dict)
    _running: set[str] = field(default_factory=set)

    def state(self, username: str) -> SeatState:
        return self.states.setdefault(username, SeatState())

    @contextlib.contextmanager
    def command(self, username: str) -> Iterator[None]:
        before = _copy(self.state(username))
        self._running.add(username)
        try:
            yield
        finally:
            self._running.discard(username)
            after = self.state(username)
            if after != before:
                self.heard.setdefault(username, []).append(_copy(after))

    def set_state(
        self,
        username: str,
        *,
        status: AgentStatus,
        paused: bool = False,
        reason: str = "",
        queues: set[str] | None = None,
    ) -> None:
        state = self.state(username)
        state.status, state.paused, state.reason = status, paused, reason
        if queues is not None:
            state.queues = set(queues)
        if username not in self._running:
            self.heard.setdefault(username, []).append(_copy(state))

    def queues_of(self, username: str) -> set[str]:
        return set(self.state(username).queues)


def _copy(state: SeatState) -> SeatState:
    return SeatState(state.status, state.paused, state.reason, set(state.queues))
