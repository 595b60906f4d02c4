"""What the IVR flows need, as ports: no socket, no database driver, no settings module."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from crm_core.domain.models import Callback, Case, Customer, SurveyAnswer
from crm_core.ports.clock import Clock


class CustomerLookup(Protocol):
    async def find_by_phone(self, phone: str) -> Customer | None: ...


class CaseLookup(Protocol):
    async def list(
        self,
        *,
        customer_id: int | None = None,
        owner_user_id: int | None = None,
        open_only: bool = False,
        limit: int = 200,
    ) -> list[Case]: ...


class SurveyStore(Protocol):
    async def add(self, answer: SurveyAnswer) -> SurveyAnswer: ...


CallbackRequester = Callable[..., Awaitable[Callback]]


@dataclass(frozen=True, slots=True, kw_only=True)
class BusinessHours:
    opens: time = time(8, 0)
    closes: time = time(20, 0)
    days: frozenset[int] = frozenset(range(1, 8))  # ISO weekdays
    holidays: frozenset[date] = frozenset()
    timezone: str = "Asia/Shanghai"

    def open_at(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.timezone))
        if local.date() in self.holidays or local.isoweekday() not in self.days:
            return False
        return self.opens <= local.time() < self.closes

    @classmethod
    def parse(
        cls, hours: str, days: str, holidays: tuple[str, ...], timezone: str
    ) -> BusinessHours:
        start, end = hours.split("-")
        day_set: set[int] = set()
        for part in days.split(","):
            if "-" in part:
                a, b = part.split("-")
                day_set.update(range(int(a), int(b) + 1))
            elif part.strip():
                day_set.add(int(part))
        return cls(
            opens=time.fromisoformat(start),
            # "24:00" (open until midnight) is valid in the settings; time() stops at 23:59
            closes=time.max if end.strip() in ("24:00", "24:00:00") else time.fromisoformat(end),
            days=frozenset(day_set),
            holidays=frozenset(date.fromisoformat(d) for d in holidays),
            timezone=timezone,
        )


@dataclass(kw_only=True)
class IvrContext:
    customers: CustomerLookup
    cases: CaseLookup
    surveys: SurveyStore
    request_callback: CallbackRequester
    clock: Clock
    hours: BusinessHours = field(default_factory=BusinessHours)
    company: str = "示例科技"
    callback_window_minutes: float = 30.0
    vip_queue: str = "vip"
    default_queue: str = "support"
    menu_queues: dict[str, str] = field(default_factory=lambda: {"1": "support", "2": "sales"})
    # Asterisk sound languages (ivr_scripts.prompts.LANGUAGES): the default, and per DID
    language: str = "zh"
    did_languages: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
