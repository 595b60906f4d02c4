"""The event bus port: in-process by default, Redis across instances."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from crm_core.domain.events import DomainEvent

EventHandler = Callable[[DomainEvent], Awaitable[None] | None]


class Subscription(Protocol):
    def close(self) -> None: ...


class EventBus(Protocol):
    async def publish(self, event: DomainEvent) -> None:
        """Deliver `event` to every subscriber (of every instance, for shared buses)."""
        ...

    async def publish_all(self, events: Sequence[DomainEvent]) -> None:
        """Publish `events` in order (a reader's batch: the AMI client's event sink)."""
        ...

    def subscribe(self, handler: EventHandler) -> Subscription:
        """Call `handler` for every event published from now on, in publish order."""
        ...
