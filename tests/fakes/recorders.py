"""Recorders of what a service under test does: the queue pauses it orders (the
`QueuePauser` port) and the domain events it publishes."""

from __future__ import annotations

from dataclasses import dataclass, field

from crm_core.bus import InProcessBus
from crm_core.domain.events import DomainEvent


@dataclass
class PauseRecorder:
    """The `QueuePauser` port, recording `(interface, paused, reason)` per call."""

    pauses: list[tuple[str, bool, str]] = field(default_factory=list)

    async def queue_pause(
        self, interface: str, paused: bool, reason: str = "", queue: str | None = None
    ) -> None:
        self.pauses.append((interface, paused, reason))


def collect(bus: InProcessBus) -> list[DomainEvent]:
    """Every event published on `bus` from now on, in order."""
    seen: list[DomainEvent] = []
    bus.subscribe(seen.append)
    return seen
