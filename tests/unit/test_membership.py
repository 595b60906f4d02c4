"""The queue-membership rule the seat board and the wallboard share (ADR 0082)."""

from __future__ import annotations

from datetime import UTC, datetime

from crm_core.domain.events import AgentStateChanged
from crm_core.domain.membership import follow_membership
from crm_core.domain.models import AgentStatus

T = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def event(status: AgentStatus, queue: str | None) -> AgentStateChanged:
    return AgentStateChanged(
        at=T, agent="Agent 1001", interface="Local/1001@agents/n", queue=queue, status=status
    )


def test_joining_applies_and_adds_the_queue() -> None:
    queues: set[str] = set()
    assert follow_membership(queues, event(AgentStatus.AVAILABLE, "sales"))
    assert follow_membership(queues, event(AgentStatus.PAUSED, "support"))
    assert queues == {"sales", "support"}


def test_leaving_one_of_two_keeps_the_agent_signed_in() -> None:
    queues = {"sales", "support"}
    assert not follow_membership(queues, event(AgentStatus.LOGGED_OUT, "sales"))
    assert queues == {"support"}
    assert follow_membership(queues, event(AgentStatus.LOGGED_OUT, "support"))
    assert queues == set()


def test_leaving_everything_at_once() -> None:
    queues = {"sales", "support"}
    assert follow_membership(queues, event(AgentStatus.LOGGED_OUT, None))
    assert queues == set()
