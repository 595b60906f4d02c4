"""The in-process event bus: the zero-setup default.

Handlers run in subscription order, synchronously with `publish`. A handler must
therefore be quick (push onto its own queue, update memory); slow work such as
database writes belongs behind the handler's own queue. A failing handler is
logged and never stops delivery to the others.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence

from crm_core.domain.events import DomainEvent
from crm_core.ports.bus import EventHandler

log = logging.getLogger(__name__)


class _Subscription:
    def __init__(self, bus: InProcessBus, handler: EventHandler) -> None:
        self._bus = bus
        self.handler = handler

    def close(self) -> None:
        self._bus._remove(self)


class InProcessBus:
    def __init__(self) -> None:
        self._subs: list[_Subscription] = []
        self.published = 0

    async def publish(self, event: DomainEvent) -> None:
        self.published += 1
        for sub in tuple(self._subs):
            try:
                result = sub.handler(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("event handler %r failed on %s", sub.handler, type(event).__name__)

    async def publish_all(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            await self.publish(event)

    def subscribe(self, handler: EventHandler) -> _Subscription:
        sub = _Subscription(self, handler)
        self._subs.append(sub)
        return sub

    def _remove(self, sub: _Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
