"""The console's projection of agent state, as the agent-sessions use case updates it.

The seat board (`agent_console.live`) implements it: the use case sets the state right
after its own PBX command, and the PBX's events confirm it (ADR 0081, 0082)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from crm_core.domain.models import AgentStatus, User


class AgentStateProjection(Protocol):
    def command(self, username: str) -> AbstractContextManager[None]:
        """Around a state change of `username`: the PBX's events while it runs describe
        its steps; the agent's console hears the outcome once, when it is done."""
        ...

    def set_state(
        self,
        username: str,
        *,
        status: AgentStatus,
        paused: bool = False,
        reason: str = "",
        queues: set[str] | None = None,
    ) -> None:
        """The state after a command (None: the queues stay as they are)."""
        ...

    def queues_of(self, username: str) -> set[str]:
        """The queues the projection last saw the agent a member of."""
        ...


class AgentDirectory(Protocol):
    """Finding the agent a lead acts on (a `UserRepository` is one)."""

    async def get_by_member_name(self, member_name: str) -> User | None: ...
