"""Follow-up visits (回访): when a customer with a closed delivery or case is due a call.

Rule 7 of the manuals: monthly during the first year after the closing, quarterly after
that. Pure date arithmetic so a campaign generator (and its tests) can ask "who is due
between these two instants" without a clock of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from crm_core.domain.models import Satisfaction

FIRST_YEAR_MONTHS = 12
LATER_EVERY_MONTHS = 3


def add_months(at: datetime, months: int) -> datetime:
    """Same day-of-month `months` later, clamped to the month's last day (Jan 31 -> Feb 28)."""
    total = at.month - 1 + months
    year, month = at.year + total // 12, total % 12 + 1
    for day in (at.day, 30, 29, 28):
        try:
            return at.replace(year=year, month=month, day=min(at.day, day))
        except ValueError:
            continue
    raise ValueError(f"cannot add {months} months to {at.isoformat()}")


def visit_schedule(closed_at: datetime) -> Iterator[datetime]:
    """Endless due dates: +1..+12 months, then every 3 months."""
    for m in range(1, FIRST_YEAR_MONTHS + 1):
        yield add_months(closed_at, m)
    m = FIRST_YEAR_MONTHS
    while True:
        m += LATER_EVERY_MONTHS
        yield add_months(closed_at, m)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClosedMatter:
    customer_id: int
    kind: str  # "delivery" or "case"
    ref: str
    closed_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowUpDue:
    customer_id: int
    kind: str
    ref: str
    due_at: datetime
    visit_number: int  # 1 = first follow-up after the closing


def due_between(
    matters: Iterable[ClosedMatter], start: datetime, end: datetime
) -> list[FollowUpDue]:
    """Follow-ups due in [start, end), one per customer (the earliest), for a campaign run."""
    best: dict[int, FollowUpDue] = {}
    for matter in matters:
        for n, due in enumerate(visit_schedule(matter.closed_at), start=1):
            if due >= end:
                break
            if due >= start:
                current = best.get(matter.customer_id)
                if current is None or due < current.due_at:
                    best[matter.customer_id] = FollowUpDue(
                        customer_id=matter.customer_id,
                        kind=matter.kind,
                        ref=matter.ref,
                        due_at=due,
                        visit_number=n,
                    )
                break
    return sorted(best.values(), key=lambda f: (f.due_at, f.customer_id))


SURVEY_QUESTION = "您对我们的服务满意吗？/ How satisfied are you with our service?"


def parse_satisfaction(answer: str | int) -> Satisfaction:
    """Map a keypad digit (1-5), a label or a Chinese answer onto the five-step scale."""
    labels = {
        "very satisfied": 5,
        "非常满意": 5,
        "satisfied": 4,
        "满意": 4,
        "neutral": 3,
        "一般": 3,
        "dissatisfied": 2,
        "不满意": 2,
        "very dissatisfied": 1,
        "非常不满意": 1,
    }
    if isinstance(answer, int) or (answer.strip().isascii() and answer.strip().isdigit()):
        value = int(answer)
    else:
        key = answer.strip().lower().replace("_", " ")
        if key not in labels:
            raise ValueError(f"not on the five-step scale: {answer!r}")
        value = labels[key]
    return Satisfaction(value)
