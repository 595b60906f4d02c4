"""Adapters between ports of one package and services of another, used by the wiring."""

from __future__ import annotations

from datetime import datetime

from callcenter.settings import Settings
from crm_core.db import Database
from crm_core.domain.models import Callback, CallbackReason
from crm_core.ports.bus import EventBus
from crm_core.ports.clock import Clock
from crm_core.services.callbacks import CallbackService


class CallbackPromiserAdapter:
    """The console's `CallbackPromiser` port over the rules' `CallbackService`."""

    def __init__(self, service: CallbackService) -> None:
        self._service = service

    async def promise(
        self,
        *,
        phone: str,
        due_at: datetime,
        customer_id: int | None,
        owner_user_id: int | None,
        call_id: str | None,
        question: str,
        queue: str | None,
    ) -> Callback:
        return await self._service.request_callback(
            phone=phone,
            reason=CallbackReason.PROMISED,
            due_at=due_at,
            customer_id=customer_id,
            owner_user_id=owner_user_id,
            call_id=call_id,
            question=question,
            queue=queue,
        )


def rules_promiser(
    db: Database, bus: EventBus, clock: Clock, settings: Settings | None = None
) -> CallbackPromiserAdapter:
    """A promiser over its own `CallbackService` (a console without the rest of the
    product: the benchmark, tests); the settings default to the product's."""
    return CallbackPromiserAdapter(
        CallbackService(db=db, bus=bus, clock=clock, settings=settings or Settings())
    )
