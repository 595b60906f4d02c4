"""Queue membership from `AgentStateChanged`: the rule every projection of agent state
applies (the seat board, the wallboard; ADR 0082)."""

from __future__ import annotations

from crm_core.domain.events import AgentStateChanged
from crm_core.domain.models import AgentStatus


def follow_membership(queues: set[str], event: AgentStateChanged) -> bool:
    """Apply the event's membership change to `queues` (the queues the agent is in now)
    and tell whether its status applies to the agent: removed from one queue while still
    a member of another, the agent stays signed in and keeps their state (False); removed
    from the last one (or from all: `queue` None) they are logged out (True)."""
    if event.status is AgentStatus.LOGGED_OUT:
        if event.queue is None:
            queues.clear()
        else:
            queues.discard(event.queue)
        return not queues
    if event.queue:
        queues.add(event.queue)
    return True
