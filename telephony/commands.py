"""Telephony commands over AMI: the `TelephonyCommands` port's adapter.

Every command returns or raises `TelephonyError` with a stable `error_id`:
`no-such-channel`, `ami-unavailable`, `ami-timeout`, `originate-failed` (with
Asterisk's reason code), `action-failed`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from crm_core.domain.channels import channel_interface, extension_of, interface_device
from crm_core.domain.models import pbx_call_id
from crm_core.ports.telephony import (
    OriginateRequest,
    OriginateResult,
    SpyMode,
    TelephonyError,
)
from telephony.ami.client import AmiClient
from telephony.ami.framing import AmiMessage
from telephony.live_calls import AnsweredLegs
from telephony.tracker import CallTracker

SPY_OPTIONS = {SpyMode.LISTEN: "qE", SpyMode.WHISPER: "qwE", SpyMode.BARGE: "qBE"}
REASONS = {0: "failed", 1: "hung up", 3: "no answer", 4: "answered", 5: "busy", 8: "congestion"}

log = logging.getLogger(__name__)


def _check(response: AmiMessage, what: str) -> AmiMessage:
    if response.get("Response") == "Success":
        return response
    message = response.get("Message") or "failed"
    lowered = message.lower()
    if "no such channel" in lowered or "does not exist" in lowered:
        raise TelephonyError("no-such-channel", f"{what}: {message}")
    raise TelephonyError("action-failed", f"{what}: {message}")


class AmiCommands:
    def __init__(
        self,
        client: AmiClient,
        tracker: CallTracker,
        *,
        outbound_context: str = "campaign-dial",
        hold_context: str = "hold",
        transfer_context: str = "transfer",
    ) -> None:
        self.client = client
        # the live calls' channels: callers name calls by id (ADR 0072)
        self.tracker = tracker
        self.outbound_context = outbound_context
        self.hold_context = hold_context
        self.transfer_context = transfer_context
        self._originated: dict[str, asyncio.Future[OriginateResult]] = {}
        # listen-ins by the id the console gave them → the lead's leg once Asterisk named it
        self._spies: dict[str, str] = {}

    async def originate(self, request: OriginateRequest) -> OriginateResult:
        """Idempotent by `request_id`: a second call with the same id never dials again."""
        request_id = request.request_id or uuid.uuid4().hex
        known = self._originated.get(request_id)
        if known is not None:
            return await asyncio.shield(known)
        future: asyncio.Future[OriginateResult] = asyncio.get_running_loop().create_future()
        self._originated[request_id] = future
        try:
            result = await self._originate(request, request_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a later duplicate re-raises it
            raise
        future.set_result(result)
        return result

    async def _originate(self, request: OriginateRequest, request_id: str) -> OriginateResult:
        action_id = f"cc-orig-{request_id}"
        headers: list[tuple[str, str]] = [
            ("Action", "Originate"),
            ("ActionID", action_id),
            ("Channel", request.channel),
            ("Timeout", str(int(request.timeout_seconds * 1000))),
        ]
        if request.application:
            headers += [("Application", request.application), ("Data", request.data or "")]
        else:
            headers += [
                ("Context", request.context or self.outbound_context),
                ("Exten", request.exten or "s"),
                ("Priority", str(request.priority)),
            ]
        if request.caller_id:
            headers.append(("CallerID", request.caller_id))
        if request.channel_id:
            headers.append(("ChannelId", request.channel_id))
        for key, value in {**request.variables, "CC_REQUEST_ID": request_id}.items():
            headers.append(("Variable", f"{key}={value}"))
        waiter = self.client.expect_originate(action_id)
        try:
            _check(await self.client.send_action(headers), "originate")
            try:
                event = await asyncio.wait_for(waiter, request.timeout_seconds + 15.0)
            except TimeoutError as exc:
                raise TelephonyError("ami-timeout", "no OriginateResponse from Asterisk") from exc
        finally:
            self.client.forget_originate(action_id)
        reason = int(event.get("Reason", "0") or 0)
        uniqueid = event.get("Uniqueid")
        result = OriginateResult(
            request_id=request_id,
            success=event.get("Response") == "Success",
            reason=reason,
            call_id=pbx_call_id(self.client.endpoint.name, uniqueid)
            if uniqueid and uniqueid != "<unknown>"
            else None,
            channel=event.get("Channel"),
        )
        if not result.success:
            raise TelephonyError(
                "originate-failed",
                f"originate to {request.channel} failed: {REASONS.get(reason, reason)}",
                reason=reason,
            )
        return result

    async def hangup(self, channel: str, cause: int = 16) -> None:
        _check(
            await self.client.send_action(
                {"Action": "Hangup", "Channel": channel, "Cause": str(cause)}
            ),
            "hangup",
        )

    async def redirect(
        self,
        channel: str,
        context: str,
        exten: str,
        priority: int = 1,
        extra_channel: str | None = None,
        extra_exten: str | None = None,
    ) -> None:
        headers = {
            "Action": "Redirect",
            "Channel": channel,
            "Context": context,
            "Exten": exten,
            "Priority": str(priority),
        }
        if extra_channel:
            headers.update(
                ExtraChannel=extra_channel,
                ExtraContext=context,
                ExtraExten=extra_exten or exten,
                ExtraPriority=str(priority),
            )
        _check(await self.client.send_action(headers), "redirect")

    async def blind_transfer(self, channel: str, context: str, exten: str) -> None:
        _check(
            await self.client.send_action(
                {"Action": "BlindTransfer", "Channel": channel, "Context": context, "Exten": exten}
            ),
            "blind transfer",
        )

    async def attended_transfer(self, channel: str, exten: str) -> None:
        _check(
            await self.client.send_action({"Action": "Atxfer", "Channel": channel, "Exten": exten}),
            "attended transfer",
        )

    async def queue_add(
        self,
        queue: str,
        interface: str,
        member_name: str,
        state_interface: str | None = None,
        penalty: int = 0,
        paused: bool = False,
    ) -> None:
        headers = {
            "Action": "QueueAdd",
            "Queue": queue,
            "Interface": interface,
            "MemberName": member_name,
            "Penalty": str(penalty),
            "Paused": "true" if paused else "false",
        }
        if state_interface:
            headers["StateInterface"] = state_interface
        response = await self.client.send_action(headers)
        if (
            response.get("Response") != "Success"
            and "already there" in response.get("Message").lower()
        ):
            return  # signing in twice is not an error
        _check(response, f"queue add {interface} to {queue}")

    async def queue_remove(self, queue: str, interface: str) -> None:
        response = await self.client.send_action(
            {"Action": "QueueRemove", "Queue": queue, "Interface": interface}
        )
        if response.get("Response") != "Success" and "not there" in response.get("Message").lower():
            return
        _check(response, f"queue remove {interface} from {queue}")

    async def queue_pause(
        self, interface: str, paused: bool, reason: str = "", queue: str | None = None
    ) -> None:
        headers = {
            "Action": "QueuePause",
            "Interface": interface,
            "Paused": "true" if paused else "false",
        }
        if reason:
            headers["Reason"] = reason
        if queue:
            headers["Queue"] = queue
        _check(await self.client.send_action(headers), f"queue pause {interface}")

    async def spy(
        self,
        spyer_interface: str,
        target_interface: str,
        mode: SpyMode,
        *,
        channel_id: str | None = None,
    ) -> OriginateResult:
        target = interface_device(target_interface)
        result = await self.originate(
            OriginateRequest(
                channel=spyer_interface,
                application="ChanSpy",
                data=f"{target},{SPY_OPTIONS[SpyMode(mode)]}",
                caller_id=f'"{SpyMode(mode).value}" <spy>',
                timeout_seconds=30.0,
                channel_id=channel_id,
            )
        )
        if channel_id and result.success and result.channel:
            self._spies[channel_id] = result.channel
        return result

    async def end_spy(self, channel_id: str) -> bool:
        # by the name Asterisk gave the lead's leg once answered; while it still rings the
        # lead's phone only the Uniqueid we gave it (Originate ChannelId) names it
        named = self._spies.pop(channel_id, None)
        for channel in dict.fromkeys((named, channel_id)):
            if not channel:
                continue
            try:
                await self.hangup(channel)
                return True
            except TelephonyError as exc:  # already gone: the lead or the call hung up
                log.debug("end spy %s: %s", channel, exc)
        return False

    async def start_recording(self, channel: str, filename: str) -> None:
        _check(
            await self.client.send_action(
                {"Action": "MixMonitor", "Channel": channel, "File": filename, "Options": "b"}
            ),
            "start recording",
        )

    async def stop_recording(self, channel: str) -> None:
        _check(
            await self.client.send_action({"Action": "StopMixMonitor", "Channel": channel}),
            "stop recording",
        )

    async def hold(self, call_id: str, hold: bool) -> None:
        """Music on hold for the customer of an answered call, and back (ADR 0051).

        Hold: one Redirect sends the customer to `hold,moh` (MusicOnHold) and the agent's
        leg to `hold,wait` (silence), so both stay up out of the queue's bridge; Asterisk
        ends the queue call only at the final hang-up. Unhold: Bridge joins the two again.
        """
        customer, agent, _ = self._answered(call_id, "hold" if hold else "unhold")
        if hold:
            await self.redirect(
                customer, self.hold_context, "moh", extra_channel=agent, extra_exten="wait"
            )
            return
        # the customer hears music until the Bridge, so no ring-back tone on the way back
        _check(
            await self.client.send_action(
                {"Action": "Bridge", "Channel1": customer, "Channel2": agent, "Tone": "no"}
            ),
            "unhold",
        )

    # --- by call id: the tracker's live state names the channels (ADR 0072) -----------------
    def _answered(self, call_id: str, what: str) -> AnsweredLegs:
        legs = self.tracker.answered_legs(call_id)
        if legs is None:
            raise TelephonyError("no-such-channel", f"{what}: call {call_id} is not up")
        return legs

    async def transfer_to_queue(self, call_id: str, queue: str) -> None:
        await self._transfer(call_id, queue)

    async def transfer_to_agent(self, call_id: str, interface: str) -> None:
        exten = extension_of(interface)
        if not exten:
            raise TelephonyError("action-failed", f"transfer: no extension in {interface!r}")
        await self._transfer(call_id, exten)

    async def _transfer(self, call_id: str, exten: str) -> None:
        # BlindTransfer's Channel is the *transferer*: the agent's own leg. Asterisk
        # releases it and sends its bridge peer, the customer, on to the target (ADR 0046).
        legs = self._answered(call_id, "transfer")
        await self.blind_transfer(legs.agent_leg, self.transfer_context, exten)

    async def hangup_call(self, call_id: str) -> None:
        channel = self.tracker.customer_channel(call_id)
        if channel is None:
            raise TelephonyError("no-such-channel", f"hang up: no live call {call_id}")
        await self.hangup(channel)

    async def spy_call(
        self,
        call_id: str,
        spyer_interface: str,
        mode: SpyMode,
        *,
        channel_id: str | None = None,
    ) -> OriginateResult:
        legs = self._answered(call_id, "spy")
        target = legs.agent_interface or channel_interface(legs.agent_leg)
        return await self.spy(spyer_interface, target, mode, channel_id=channel_id)
