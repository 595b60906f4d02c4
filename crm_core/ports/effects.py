"""Claims of effects applied once across instances (docs/adr/0060; `crm_core.db.effects`)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol


class ClaimTransaction(Protocol):
    async def claim(self, call_id: str, effect: str) -> bool:
        """True when this transaction is the first to apply `effect` of `call_id`."""
        ...


class EffectClaims(Protocol):
    def transaction(self, now: datetime) -> AbstractAsyncContextManager[ClaimTransaction]: ...
