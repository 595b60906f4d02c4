"""What the board reads to rebuild today after a restart (`LiveBoard.load_today`): the
CRM's call records and open callbacks."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Protocol

from crm_core.domain.models import Callback, CallbackStatus, CallRecord
from crm_core.ports.repositories import CallFilter


class CallsSource(Protocol):
    async def list(self, flt: CallFilter) -> builtins.list[CallRecord]: ...


class CallbacksSource(Protocol):
    async def list(
        self,
        *,
        status: Sequence[CallbackStatus] | None = None,
        owner_user_id: int | None = None,
        limit: int = 500,
    ) -> builtins.list[Callback]: ...


class BoardSources(Protocol):
    @property
    def calls(self) -> CallsSource: ...
    @property
    def callbacks(self) -> CallbacksSource: ...
