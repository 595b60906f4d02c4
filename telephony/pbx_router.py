"""Several PBXs in one deployment: one AMI client and tracker per PBX, and one
`TelephonyCommands` for the rest of the service that sends each command to the PBX
that owns what it acts on (ADR 0038).

- An interface (an agent's phone, a queue member) belongs to the PBX whose `agents`
  prefixes match it (settings `ami_endpoints`: `name=user:secret@host:port;agents=PJSIP/2`);
  without a match, to the first PBX.
- A channel belongs to the PBX whose tracker has seen it (a live call); otherwise it
  is routed like an interface (channel names start with the technology/resource).
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_core.ports.telephony import (
    OriginateRequest,
    OriginateResult,
    SpyMode,
    TelephonyCommands,
)
from telephony.tracker import CallTracker


@dataclass(frozen=True, slots=True)
class Pbx:
    name: str
    commands: TelephonyCommands
    tracker: CallTracker
    agent_prefixes: tuple[str, ...] = ()


class PbxRouter:
    def __init__(self, pbxs: list[Pbx]) -> None:
        if not pbxs:
            raise ValueError("at least one PBX")
        self.pbxs = pbxs
        self._spies: dict[str, Pbx] = {}  # listen-ins by id → the PBX that runs them

    def for_interface(self, interface: str) -> Pbx:
        for pbx in self.pbxs:
            if any(interface.startswith(p) for p in pbx.agent_prefixes):
                return pbx
        return self.pbxs[0]

    # --- TelephonyCommands ------------------------------------------------------------------

    async def originate(self, request: OriginateRequest) -> OriginateResult:
        return await self.for_interface(request.channel).commands.originate(request)

    async def queue_add(
        self,
        queue: str,
        interface: str,
        member_name: str,
        state_interface: str | None = None,
        penalty: int = 0,
        paused: bool = False,
    ) -> None:
        await self.for_interface(interface).commands.queue_add(
            queue, interface, member_name, state_interface, penalty, paused
        )

    async def queue_remove(self, queue: str, interface: str) -> None:
        await self.for_interface(interface).commands.queue_remove(queue, interface)

    async def queue_pause(
        self, interface: str, paused: bool, reason: str = "", queue: str | None = None
    ) -> None:
        await self.for_interface(interface).commands.queue_pause(interface, paused, reason, queue)

    async def spy(
        self,
        spyer_interface: str,
        target_interface: str,
        mode: SpyMode,
        *,
        channel_id: str | None = None,
    ) -> OriginateResult:
        # ChanSpy runs where the agent's call is; the lead's phone must reach that PBX
        pbx = self.for_interface(target_interface)
        if not channel_id:
            return await pbx.commands.spy(spyer_interface, target_interface, mode)
        # known before the lead answers: a listen-in may be ended while it still rings
        self._spies[channel_id] = pbx
        try:
            result = await pbx.commands.spy(
                spyer_interface, target_interface, mode, channel_id=channel_id
            )
        except BaseException:
            self._spies.pop(channel_id, None)
            raise
        if not result.success:
            self._spies.pop(channel_id, None)
        return result

    async def end_spy(self, channel_id: str) -> bool:
        pbx = self._spies.pop(channel_id, None)
        for candidate in [pbx] if pbx is not None else self.pbxs:
            if await candidate.commands.end_spy(channel_id):
                return True
        return False

    def for_call(self, call_id: str) -> Pbx:
        """The PBX whose tracker follows the live call `call_id`."""
        for pbx in self.pbxs:
            if pbx.tracker.customer_channel(call_id) is not None:
                return pbx
        return self.pbxs[0]

    async def hold(self, call_id: str, hold: bool) -> None:
        await self.for_call(call_id).commands.hold(call_id, hold)

    async def transfer_to_queue(self, call_id: str, queue: str) -> None:
        await self.for_call(call_id).commands.transfer_to_queue(call_id, queue)

    async def transfer_to_agent(self, call_id: str, interface: str) -> None:
        await self.for_call(call_id).commands.transfer_to_agent(call_id, interface)

    async def hangup_call(self, call_id: str) -> None:
        await self.for_call(call_id).commands.hangup_call(call_id)

    async def spy_call(
        self,
        call_id: str,
        spyer_interface: str,
        mode: SpyMode,
        *,
        channel_id: str | None = None,
    ) -> OriginateResult:
        return await self.for_call(call_id).commands.spy_call(
            call_id, spyer_interface, mode, channel_id=channel_id
        )


def _is_commands(router: PbxRouter) -> TelephonyCommands:
    return router  # mypy: the router is a full TelephonyCommands
