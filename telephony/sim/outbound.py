"""Outbound calls (Originate): agents, customers, the dialer's calls, spying."""

from __future__ import annotations

import re
from collections.abc import Callable

from telephony.ami.framing import AmiMessage
from telephony.sim.model import DID, QUEUE_TIMEOUT, AgentPhone, Channel, SimCall
from telephony.sim.queues import QueueCalls


class OutboundCalls(QueueCalls):
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
                if await self._queue(call, exten) == QUEUE_TIMEOUT:
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
