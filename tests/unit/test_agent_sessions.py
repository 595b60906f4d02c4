"""The agent-sessions use case against in-memory fakes of its ports (ADR 0081)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from crm_core.clock import FakeClock
from crm_core.domain.models import AgentStatus, Role, User
from crm_core.services.agent_sessions import (
    Actor,
    AgentSessions,
    BadPauseReason,
    NoPhone,
    NoSuchAgent,
    NotSupervisor,
    OtherTeam,
    PbxRefused,
    PbxUnavailable,
    SessionAction,
    SignOutFailed,
)
from tests.fakes.agent_sessions import FakeQueues, FakeSeats
from tests.fakes.repos import FakeAudit, FakeUsers

IFACE = "Local/1001@agents/n"
AGENT = User(
    id=1,
    username="agent1",
    display_name="Agent 1",
    role=Role.AGENT,
    team_id=1,
    member_name="Agent 1001",
    interface=IFACE,
    queues=("support", "sales"),
)
OTHER = User(
    id=3,
    username="agent3",
    display_name="Agent 3",
    role=Role.AGENT,
    team_id=2,
    member_name="Agent 1003",
    interface="Local/1003@agents/n",
    queues=("support",),
)
LEAD = User(id=10, username="lead1", display_name="Lead", role=Role.LEAD, team_id=1)
MANAGER = User(id=11, username="manager1", display_name="Manager", role=Role.MANAGER)


@dataclass
class World:
    pbx: FakeQueues = field(default_factory=FakeQueues)
    seats: FakeSeats = field(default_factory=FakeSeats)
    audit: FakeAudit = field(default_factory=FakeAudit)
    directory: FakeUsers = field(default_factory=lambda: FakeUsers(AGENT, OTHER))

    @property
    def sessions(self) -> AgentSessions:
        return AgentSessions(
            commands=self.pbx,
            seats=self.seats,
            audit=self.audit,
            directory=self.directory,
            clock=FakeClock(),
            pause_reasons=("break", "meal"),
        )

    def audited(self) -> list[tuple[str, str, str, str]]:
        return [(e.actor, e.action, e.subject, e.detail) for e in self.audit.entries]


async def test_sign_in_joins_each_queue_and_sets_the_seat_once() -> None:
    w = World()
    outcome = await w.sessions.change(Actor(AGENT, "10.0.0.1"), SessionAction.SIGN_IN)
    assert outcome.queues == ("sales", "support")
    assert w.pbx.log == [
        ("add", "sales", IFACE, "Agent 1001"),
        ("add", "support", IFACE, "Agent 1001"),
    ]
    assert w.pbx.member_of(IFACE) == {"sales", "support"}
    state = w.seats.state("agent1")
    assert (state.status, state.queues) == (AgentStatus.AVAILABLE, {"sales", "support"})
    assert len(w.seats.heard["agent1"]) == 1  # one message for the whole command
    assert w.audited() == [("agent1", "agent.sign_in", "user:agent1", "")]
    assert w.audit.entries[0].remote == "10.0.0.1"


async def test_sign_in_skips_a_refusing_queue_but_not_all() -> None:
    w = World()
    w.pbx.queues = {"sales"}  # support does not exist on this PBX
    outcome = await w.sessions.change(Actor(AGENT), SessionAction.SIGN_IN)
    assert outcome.queues == ("sales",)
    assert w.seats.state("agent1").queues == {"sales"}
    w.pbx.queues = set()
    with pytest.raises(PbxRefused):
        await w.sessions.change(Actor(AGENT), SessionAction.SIGN_IN)


async def test_pause_needs_a_configured_reason_and_resume_clears_it() -> None:
    w = World()
    s = w.sessions
    await s.change(Actor(AGENT), SessionAction.SIGN_IN)
    for bad in ("", "nap", "supervisor"):
        with pytest.raises(BadPauseReason):
            await s.change(Actor(AGENT), SessionAction.PAUSE, bad)
    assert w.pbx.paused == {}
    await s.change(Actor(AGENT), SessionAction.PAUSE, "meal")
    assert w.pbx.paused == {IFACE: "meal"}
    state = w.seats.state("agent1")
    assert (state.status, state.paused, state.reason) == (AgentStatus.PAUSED, True, "meal")
    await s.change(Actor(AGENT), SessionAction.RESUME)
    state = w.seats.state("agent1")
    assert (state.status, state.paused, state.reason) == (AgentStatus.AVAILABLE, False, "")
    assert w.pbx.paused == {}
    assert [a for _, a, _, _ in w.audited()] == ["agent.sign_in", "agent.pause", "agent.resume"]


async def test_sign_out_leaves_configured_and_projected_queues() -> None:
    w = World()
    await w.sessions.change(Actor(AGENT), SessionAction.SIGN_IN)
    # the dialer (or someone at the PBX) put the agent in a queue outside their skills
    w.pbx.queues.add("outbound")
    w.pbx.members.setdefault("outbound", set()).add(IFACE)
    w.seats.state("agent1").queues.add("outbound")
    outcome = await w.sessions.change(Actor(AGENT), SessionAction.SIGN_OUT)
    assert outcome.queues == ("outbound", "sales", "support")
    assert w.pbx.member_of(IFACE) == set()
    state = w.seats.state("agent1")
    assert (state.status, state.queues) == (AgentStatus.LOGGED_OUT, set())


async def test_sign_out_tolerates_a_refusing_queue() -> None:
    w = World()
    await w.sessions.change(Actor(AGENT), SessionAction.SIGN_IN)
    w.pbx.refuse[("remove", "sales")] = "action-failed"
    outcome = await w.sessions.change(Actor(AGENT), SessionAction.SIGN_OUT)
    assert outcome.queues == ("support",)
    assert w.seats.state("agent1").status is AgentStatus.LOGGED_OUT
    # every queue refusing is a failure, and the seat keeps its state
    w.seats.set_state("agent1", status=AgentStatus.AVAILABLE, queues={"sales"})
    w.pbx.refuse[("remove", "support")] = "action-failed"
    with pytest.raises(SignOutFailed) as failed:
        await w.sessions.change(Actor(AGENT), SessionAction.SIGN_OUT)
    assert len(failed.value.refusals) == 2
    assert w.seats.state("agent1").status is AgentStatus.AVAILABLE


async def test_signing_out_when_not_signed_in_is_fine() -> None:
    w = World()
    outcome = await w.sessions.change(Actor(AGENT), SessionAction.SIGN_OUT)
    assert outcome.status is AgentStatus.LOGGED_OUT


async def test_a_user_without_a_phone_cannot_sign_in() -> None:
    w = World()
    with pytest.raises(NoPhone):
        await w.sessions.change(Actor(LEAD), SessionAction.SIGN_IN)
    assert w.audit.entries == []
    assert w.pbx.log == []


async def test_pbx_refusing_or_unreachable_are_different_errors() -> None:
    w = World()
    with pytest.raises(PbxRefused) as refused:  # resume while in no queue
        await w.sessions.change(Actor(AGENT), SessionAction.RESUME)
    assert refused.value.action is SessionAction.RESUME
    await w.sessions.change(Actor(AGENT), SessionAction.SIGN_IN)
    for error_id in ("ami-unavailable", "ami-timeout"):
        w.pbx.unreachable = error_id
        with pytest.raises(PbxUnavailable) as down:
            await w.sessions.change(Actor(AGENT), SessionAction.PAUSE, "break")
        assert down.value.error_id == error_id
        # an unreachable PBX is not tolerated queue by queue
        with pytest.raises(PbxUnavailable):
            await w.sessions.change(Actor(AGENT), SessionAction.SIGN_OUT)
    assert w.seats.state("agent1").status is AgentStatus.AVAILABLE


async def test_connection_errors_are_pbx_unavailable() -> None:
    class Down(FakeQueues):
        async def queue_pause(
            self, interface: str, paused: bool, reason: str = "", queue: str | None = None
        ) -> None:
            raise ConnectionResetError("gone")

    w = World(pbx=Down())
    with pytest.raises(PbxUnavailable) as down:
        await w.sessions.force(Actor(MANAGER), "Agent 1001", SessionAction.PAUSE)
    assert down.value.error_id == "pbx-unavailable"


async def test_a_lead_forces_a_pause_on_their_team_with_a_default_reason() -> None:
    w = World()
    await w.sessions.change(Actor(AGENT), SessionAction.SIGN_IN)
    await w.sessions.force(Actor(LEAD), "Agent 1001", SessionAction.PAUSE)
    assert w.pbx.paused == {IFACE: "supervisor"}
    state = w.seats.state("agent1")
    assert (state.status, state.reason) == (AgentStatus.PAUSED, "supervisor")
    # any short reason of the lead's own
    await w.sessions.force(Actor(LEAD), "Agent 1001", SessionAction.PAUSE, "coaching")
    assert w.pbx.paused == {IFACE: "coaching"}
    with pytest.raises(BadPauseReason):
        await w.sessions.force(Actor(LEAD), "Agent 1001", SessionAction.PAUSE, "x" * 201)
    await w.sessions.force(Actor(LEAD), "Agent 1001", SessionAction.RESUME)
    assert w.pbx.paused == {}
    assert w.audited()[1:] == [
        ("lead1", "lead.pause", "agent:Agent 1001", "supervisor"),
        ("lead1", "lead.pause", "agent:Agent 1001", "coaching"),
        ("lead1", "lead.resume", "agent:Agent 1001", ""),
    ]


async def test_a_lead_logs_out_with_the_same_sign_out() -> None:
    w = World()
    await w.sessions.change(Actor(AGENT), SessionAction.SIGN_IN)
    await w.sessions.change(Actor(AGENT), SessionAction.PAUSE, "break")
    w.pbx.refuse[("remove", "support")] = "action-failed"
    outcome = await w.sessions.force(Actor(LEAD), "Agent 1001", SessionAction.SIGN_OUT)
    assert outcome.queues == ("sales",)
    state = w.seats.state("agent1")
    assert (state.status, state.paused) == (AgentStatus.LOGGED_OUT, False)
    assert w.audited()[-1] == ("lead1", "lead.logout", "agent:Agent 1001", "")


async def test_forcing_is_for_supervisors_in_scope() -> None:
    w = World()
    with pytest.raises(NotSupervisor):
        await w.sessions.force(Actor(AGENT), "Agent 1003", SessionAction.PAUSE)
    with pytest.raises(OtherTeam):
        await w.sessions.force(Actor(LEAD), "Agent 1003", SessionAction.PAUSE)
    with pytest.raises(NoSuchAgent):
        await w.sessions.force(Actor(LEAD), "Nobody", SessionAction.PAUSE)
    assert w.pbx.log == []
    assert w.audit.entries == []
    # a manager acts on everyone
    w.pbx.members["support"] = {"Local/1003@agents/n"}
    await w.sessions.force(Actor(MANAGER), "Agent 1003", SessionAction.PAUSE)
    assert w.pbx.paused == {"Local/1003@agents/n": "supervisor"}
