"""The PBX simulator: a real asyncio TCP server speaking AMI, with a small call model.

Its events have the headers, header order and ordering of the recordings in
shared/ami-captures/ (Local channel pairs `;1`/`;2`, `AgentCalled` → `DialBegin` →
`AgentConnect`/`AgentRingNoAnswer`, duplicate `DialEnd`s, `QueueMemberStatus` 1/2 with
`InCall`), minus the dialplan noise (`Newexten`, most `VarSet`, `Cdr`). Time comes from
a `Clock`: real time in the demo, a `FakeClock` in tests.
"""

from __future__ import annotations

import math

from crm_core.ports.clock import Clock
from telephony.sim.actions import AmiActions
from telephony.sim.model import (
    DIALER_SORRY_SECONDS,
    DID,
    STATE_DESC,
    AgentPhone,
    Channel,
    CustomerPhone,
    Member,
    QueueConfig,
    SimCall,
)


class Simulator(AmiActions):
    """The PBX simulator (see the module docstring); built in layers: core, queues,
    inbound, outbound calls, AMI actions."""


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


__all__ = [
    "DIALER_SORRY_SECONDS",
    "DID",
    "STATE_DESC",
    "AgentPhone",
    "Channel",
    "CustomerPhone",
    "Member",
    "QueueConfig",
    "SimCall",
    "Simulator",
    "demo_simulator",
]
