"""Queue() as the simulator plays it: picking, ringing, connecting, abandoning."""

from __future__ import annotations

from telephony.sim.core import SimCore
from telephony.sim.model import (
    DIALER_SORRY_SECONDS,
    QUEUE_TIMEOUT,
    AgentPhone,
    Channel,
    Member,
    QueueConfig,
    SimCall,
    float_or_none,
)


class QueueCalls(SimCore):
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
        limit = float_or_none(call.variables.get("CC_QUEUE_TIMEOUT"))
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
                    return QUEUE_TIMEOUT
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
