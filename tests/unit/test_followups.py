"""Follow-up visits: monthly in the first year, quarterly after; five-step answers."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from crm_core.domain.models import Satisfaction
from crm_core.services.followups import (
    ClosedMatter,
    add_months,
    due_between,
    parse_satisfaction,
    visit_schedule,
)


def test_monthly_first_year_then_quarterly() -> None:
    closed = datetime(2026, 1, 31, 10, tzinfo=UTC)
    dates = list(itertools.islice(visit_schedule(closed), 15))
    assert dates[0] == datetime(2026, 2, 28, 10, tzinfo=UTC)  # clamped to month end
    assert dates[11] == datetime(2027, 1, 31, 10, tzinfo=UTC)
    assert dates[12] == datetime(2027, 4, 30, 10, tzinfo=UTC)
    assert dates[13] == datetime(2027, 7, 31, 10, tzinfo=UTC)
    assert add_months(datetime(2024, 1, 31, tzinfo=UTC), 1).day == 29  # leap year


def test_due_between_picks_one_visit_per_customer() -> None:
    matters = [
        ClosedMatter(
            customer_id=1, kind="delivery", ref="D1", closed_at=datetime(2026, 1, 5, tzinfo=UTC)
        ),
        ClosedMatter(
            customer_id=1, kind="case", ref="C9", closed_at=datetime(2026, 1, 3, tzinfo=UTC)
        ),
        ClosedMatter(
            customer_id=2, kind="case", ref="C2", closed_at=datetime(2024, 1, 10, tzinfo=UTC)
        ),
        ClosedMatter(
            customer_id=3, kind="case", ref="C3", closed_at=datetime(2024, 2, 10, tzinfo=UTC)
        ),
    ]
    due = due_between(matters, datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))
    assert [(d.customer_id, d.ref, d.visit_number) for d in due] == [
        (1, "C9", 3),
        (2, "C2", 17),  # 2024-01-10 + 27 months = 12 monthly + 5 quarterly visits
    ]


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ("5", Satisfaction.VERY_SATISFIED),
        ("满意", Satisfaction.SATISFIED),
        ("very_dissatisfied", Satisfaction.VERY_DISSATISFIED),
        (3, Satisfaction.NEUTRAL),
    ],
)
def test_five_step_answers(answer: str | int, score: Satisfaction) -> None:
    assert parse_satisfaction(answer) is score


def test_answer_off_the_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="five-step"):
        parse_satisfaction("maybe")
    with pytest.raises(ValueError, match="not a valid"):
        parse_satisfaction("7")
