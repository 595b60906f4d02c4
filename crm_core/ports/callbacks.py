"""What a use case may ask of the callback rules (implemented over
`crm_core.services.callbacks.CallbackService` by `callcenter.adapters`)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from crm_core.domain.models import Callback


class CallbackPromiser(Protocol):
    """Records a callback the agent promised (the rules service owns deadlines, the
    one-open-callback-per-number merge and the `promise-too-late` refusal)."""

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
    ) -> Callback: ...
