"""What the rest of the product may ask of the PBX (implemented in telephony.commands)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol


class TelephonyError(Exception):
    """A PBX command failed. `error_id` is stable: no-such-channel, ami-unavailable,
    originate-failed, ami-timeout, action-failed."""

    def __init__(self, error_id: str, message: str, *, reason: int | None = None) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message
        self.reason = reason


class SpyMode(enum.StrEnum):
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


@dataclass(frozen=True, slots=True, kw_only=True)
class OriginateRequest:
    """Place a call: ring `channel` first; when it answers run `context/exten`
    (or `application`/`data`)."""

    channel: str
    context: str | None = None
    exten: str | None = None
    priority: int = 1
    application: str | None = None
    data: str | None = None
    caller_id: str | None = None
    timeout_seconds: float = 30.0
    variables: dict[str, str] = field(default_factory=dict)
    # our idempotency key: the same key is never originated twice
    request_id: str | None = None
    # the Uniqueid Asterisk gives the first channel (Originate ChannelId): a call still
    # ringing can be hung up by it before its OriginateResponse names the channel
    channel_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OriginateResult:
    request_id: str
    success: bool
    reason: int
    call_id: str | None = None
    channel: str | None = None


class TelephonyCommands(Protocol):
    async def originate(self, request: OriginateRequest) -> OriginateResult:
        """Resolves when Asterisk reports the outcome (OriginateResponse)."""
        ...

    async def queue_add(
        self,
        queue: str,
        interface: str,
        member_name: str,
        state_interface: str | None = None,
        penalty: int = 0,
        paused: bool = False,
    ) -> None: ...

    async def queue_remove(self, queue: str, interface: str) -> None: ...

    async def queue_pause(
        self,
        interface: str,
        paused: bool,
        reason: str = "",
        queue: str | None = None,
    ) -> None: ...

    # --- a lead's listen-in: phones by interface, the session by the id we gave it ---------
    async def spy(
        self,
        spyer_interface: str,
        target_interface: str,
        mode: SpyMode,
        *,
        channel_id: str | None = None,
    ) -> OriginateResult:
        """Ring the lead's phone `spyer_interface`; answered, it listens to / whispers
        to / barges into whatever the agent at `target_interface` is talking on.
        `channel_id` names the lead's leg for `end_spy`."""
        ...

    async def end_spy(self, channel_id: str) -> bool:
        """Hang up the lead's leg of the listen-in started with `channel_id`, even while it
        still rings the lead's phone; False when it was gone already."""
        ...

    # --- by call id (docs/adr/0072): the adapter knows the call's channels -------------------
    # The console names calls, never channels (docs/adr/0083): transfers, hold, hang-up
    # and recording by channel live only in the adapter (docs/adr/0096).

    async def hold(self, call_id: str, hold: bool) -> None:
        """Put the customer of an answered call on music on hold, or back to the agent."""
        ...

    async def transfer_to_queue(self, call_id: str, queue: str) -> None:
        """Blind-transfer the customer of an answered call into `queue`; the agent who
        answered it is released (no-such-channel when the call is not up)."""
        ...

    async def transfer_to_agent(self, call_id: str, interface: str) -> None:
        """Blind-transfer the customer of an answered call to the colleague whose phone is
        `interface` (their extension rings; the record shows the offer)."""
        ...

    async def hangup_call(self, call_id: str) -> None:
        """Hang up the customer's channel of a live call: the call ends for everyone."""
        ...

    async def spy_call(
        self,
        call_id: str,
        spyer_interface: str,
        mode: SpyMode,
        *,
        channel_id: str | None = None,
    ) -> OriginateResult:
        """Ring `spyer_interface` and, when answered, listen to / whisper to / barge into
        the call on the side of the agent who answered it."""
        ...


class QueuePauser(Protocol):
    """The one command the ring rule gives: pause an agent in the queues
    (`TelephonyCommands` satisfies it; docs/adr/0090)."""

    async def queue_pause(
        self,
        interface: str,
        paused: bool,
        reason: str = "",
        queue: str | None = None,
    ) -> None: ...
