"""Inbound calls: the DID, the IVR over FastAGI, then the queue."""

from __future__ import annotations

from telephony.sim.model import DID, SimCall, log
from telephony.sim.outbound import OutboundCalls


class InboundCalls(OutboundCalls):
    # --- inbound calls -----------
    def place_call(
        self,
        from_number: str,
        name: str = "",
        queue: str | None = "support",
        *,
        abandon_after: float | None = None,
        talk_seconds: float = 30.0,
        ivr_route: str | None = None,
        dtmf: str = "",
        survey: str = "",
    ) -> str:
        linkedid = self._new_linkedid()
        call = SimCall(
            linkedid,
            from_number,
            name,
            queue,
            talk_seconds,
            abandon_after,
            ivr_route=ivr_route,
            dtmf=dtmf,
            survey=survey,
            created_at=self.clock.monotonic(),
        )
        self.calls[linkedid] = call
        self.spawn(self._run_inbound(call), f"call-{linkedid}")
        return linkedid

    async def _run_inbound(self, call: SimCall) -> None:
        try:
            one, two = self._local_pair(
                call.caller_number,
                "caller-sim",
                call.caller_number,
                call.linkedid,
                first_uniqueid=call.linkedid,
            )
            call.legs = [one, two]
            self._set_cid(one, call.caller_number, call.caller_name)
            self._set_cid(two, call.caller_number, call.caller_name)
            self._local_bridge(one, two)
            self._state(two, 6)
            one.context, one.exten = "inbound", DID
            self._state(one, 6)
            if call.ivr_route and self.agi_address:
                await self._run_ivr(call)
            target = call.queue
            if target and not call.hangup.is_set():
                # `[inbound]`'s queue step: Set(CC_QUEUE=…), then Goto(queue-call,…)
                call.variables["CC_QUEUE"] = target
                self.emit(
                    "VarSet",
                    [*one.snapshot(), ("Variable", "CC_QUEUE"), ("Value", target)],
                    "dialplan,all",
                )
            while (target and not call.hangup.is_set()) or call.redirect:
                if call.redirect:
                    target, call.redirect = call.redirect, None
                    call.hangup.clear()
                if target not in self.queues:
                    if target and self._is_agent(f"Local/{target}@agents/n"):
                        # blind transfer to a colleague's extension (`[transfer]` Dial)
                        await self._dial_second_leg(call, call.caller, target, "transfer")
                    break
                # Queue() runs in `[queue-call]` (a transfer reaches it through
                # `[transfer]`): the caller's events carry that context and the queue
                one.context, one.exten = "queue-call", target
                target = await self._queue(call, target)
            if call.agent_hung_up and self.agi_address and call.variables.get("MEMBERNAME"):
                # `[queue-call]`: Queue(…,c) returns when the agent hangs up; the caller
                # goes on, alive, to the satisfaction survey
                call.state = "survey"
                if call.survey == "hangup":  # hangs up while the question plays
                    await self._agi(call, "survey", [], hangup_after=1)
                else:
                    await self._agi(call, "survey", [call.survey] if call.survey else [])
        finally:
            if len(call.legs) > 1:
                self._hangup(call.legs[1])  # the caller's own half goes first, as in Asterisk
            self._end_call(call)

    async def _run_ivr(self, call: SimCall) -> None:
        """Walk the call through the IVR as the rendered `[inbound]` dialplan does."""
        assert self.agi_address is not None
        call.state = "ivr"
        inputs = call.dtmf.split(",") if call.dtmf else []
        start = call.ivr_route or "welcome"

        def route() -> str:
            return call.variables.get("CC_ROUTE", "")

        if start == "welcome":
            await self._agi(call, "welcome", inputs)
            if route() == "hangup":
                call.queue = None
                return
            if route() == "callback":
                await self._agi(call, "callback", inputs)
                call.queue = None
                return
            start = "menu"
        if start == "menu":
            await self._agi(call, "menu", inputs)
            if route() == "selfservice":
                start = "selfservice"
            elif route() in ("callback", "hangup"):
                start = route()
        if start == "selfservice":
            await self._agi(call, "selfservice", inputs)
            if route() != "queue":
                call.queue = None
                return
        elif start == "callback":
            await self._agi(call, "callback", inputs)
            call.queue = None
            return
        elif start == "hangup":
            call.queue = None
            return
        if call.variables.get("CC_QUEUE"):
            call.queue = call.variables["CC_QUEUE"]

    async def _agi(
        self, call: SimCall, route: str, inputs: list[str], *, hangup_after: int | None = None
    ) -> None:
        """One `AGI(agi://…/route)` step; AGISTATUS as Asterisk sets it."""
        from telephony.sim.agi_caller import run_agi

        assert self.agi_address is not None
        one = call.caller
        one.application, one.appdata = "AGI", f"agi://{self.agi_address[0]}/{route}"
        status = "FAILURE"
        try:
            result = await run_agi(
                self.agi_address[0],
                self.agi_address[1],
                route,
                channel=one.name,
                uniqueid=one.uniqueid,
                linkedid=call.linkedid,
                caller_number=call.caller_number,
                caller_name=call.caller_name,
                dtmf=",".join(inputs),
                variables=call.variables,
                prompts=self.prompts,
                context=one.context,
                extension=one.exten,
                args=(self.agi_secret,) if self.agi_secret else (),
                hangup_after=hangup_after,
            )
        except (OSError, TimeoutError, ValueError) as exc:
            log.warning("simulated IVR for %s failed: %s", call.linkedid, exc)
        else:
            status = result.status
            for key, value in result.sets:  # one VarSet per SET VARIABLE, as they came
                call.variables[key] = value
                if key.startswith("CC_"):
                    self.emit(
                        "VarSet",
                        [*one.snapshot(), ("Variable", key), ("Value", value)],
                        "dialplan,all",
                    )
            if result.missing_prompts:
                log.warning(
                    "simulated IVR %s: prompt %s is not installed; Asterisk ends the AGI",
                    route,
                    result.missing_prompts[0],
                )
        if inputs:
            del inputs[0]
        self.emit(
            "VarSet",
            [*one.snapshot(), ("Variable", "AGISTATUS"), ("Value", status)],
            "dialplan,all",
        )
