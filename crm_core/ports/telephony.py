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

    async def hangup(self, channel: str, cause: int = 16) -> None: ...

    async def redirect(
        self,
        channel: str,
        context: str,
        exten: str,
        priority: int = 1,
        extra_channel: str | None = None,
        extra_exten: str | None = None,
    ) -> None: ...

    async def blind_transfer(self, channel: str, context: str, exten: str) -> None: ...

    async def attended_transfer(self, channel: str, exten: str) -> None: ...

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

    async def spy(
        self,
        spyer_channel: str,
        target_interface: str,
        mode: SpyMode,
        *,
        channel_id: str | None = None,
    ) -> OriginateResult: ...

    async def start_recording(self, channel: str, filename: str) -> None: ...

    async def stop_recording(self, channel: str) -> None: ...

    async def hold(self, call_id: str, hold: bool) -> None:
        """Put the customer of an answered call on music on hold, or back to the agent."""
        ...
