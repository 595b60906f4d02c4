"""Agent state on the seat board: set by the console right after its own command,
confirmed (or changed) by the PBX's events, one `agent_state` message per change."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agent_console.live.hub import Hub
from agent_console.web.serializers import iso
from crm_core.domain.events import AgentStateChanged
from crm_core.domain.membership import follow_membership
from crm_core.domain.models import AgentStatus
from crm_core.ports.clock import Clock

if TYPE_CHECKING:
    from agent_console.live.seats import Seat


@dataclass(slots=True)
class AgentState:
    status: AgentStatus = AgentStatus.LOGGED_OUT
    paused: bool = False
    reason: str = ""
    queues: set[str] = field(default_factory=set)
    since: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "paused": self.paused,
            "reason": self.reason,
            "queues": sorted(self.queues),
            "since": iso(self.since),
        }


class AgentStates:
    """The agent-state half of `SeatBoard` (which supplies the seats and the hub)."""

    _seats: dict[str, Seat]
    _hub: Hub
    _commands: set[str]  # users whose own state command is running
    _clock: Clock

    def username_for(self, agent: str | None, interface: str | None) -> str | None:
        raise NotImplementedError

    # --- agent state (set by the console right after a command; AMI confirms) -----------
    # (`crm_core.ports.agent_state.AgentStateProjection`: the agent-sessions use case)

    def queues_of(self, username: str) -> set[str]:
        seat = self._seats.get(username)
        return set(seat.state.queues) if seat is not None else set()

    def set_state(
        self,
        username: str,
        *,
        status: AgentStatus,
        paused: bool = False,
        reason: str = "",
        queues: set[str] | None = None,
    ) -> None:
        seat = self._seats.get(username)
        if seat is None:
            return
        state = seat.state
        before = state.to_json()
        state.status, state.paused, state.reason = status, paused, reason
        if queues is not None:
            state.queues = set(queues)
        self._state_changed(username, state, before, self._clock.now())

    def _state_changed(
        self, username: str, state: AgentState, before: dict[str, Any], at: datetime
    ) -> None:
        """One `agent_state` message per change: the console's own command sets the
        state, and the PBX confirms it with an event per queue (QueueMemberAdded,
        QueueMemberPause ...) that says the same again."""
        now = state.to_json()
        if {**now, "since": None} == {**before, "since": None}:
            return
        state.since = at
        if username not in self._commands:
            self._hub.send_to_user(username, {"type": "agent_state", **state.to_json()})

    @contextlib.contextmanager
    def command(self, username: str) -> Iterator[None]:
        """A state command of the agent's own (sign in to each queue, pause ...): the
        PBX's events while it runs describe its steps; the console hears the outcome,
        once, when it is done."""
        seat = self._seats.get(username)
        if seat is None or username in self._commands:
            yield
            return
        before = seat.state.to_json()
        self._commands.add(username)
        try:
            yield
        finally:
            self._commands.discard(username)
            state = seat.state
            if {**state.to_json(), "since": None} != {**before, "since": None}:
                self._hub.send_to_user(username, {"type": "agent_state", **state.to_json()})

    def _agent_state(self, event: AgentStateChanged) -> None:
        username = self.username_for(event.agent, event.interface)
        if username is None:
            return
        state = self._seats[username].state
        before = state.to_json()
        if not follow_membership(state.queues, event):  # still a member elsewhere
            self._state_changed(username, state, before, event.at)
            return
        out = event.status is AgentStatus.LOGGED_OUT
        state.status = event.status
        # a member removed while paused is reported Paused: 1; out is out
        state.paused = event.paused and not out
        state.reason = event.pause_reason if state.paused else ""
        self._state_changed(username, state, before, event.at)
