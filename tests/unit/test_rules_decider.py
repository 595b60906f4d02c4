"""The one decider of the working rules (crm_core.domain.rules, ADR 0070)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_core.domain.models import (
    CallbackReason,
    CallOutcome,
    CallRecord,
    Direction,
    Offer,
    OfferResult,
    ViolationKind,
)
from crm_core.domain.rules import (
    call_rule_violations,
    callback_due,
    callback_in_time,
    callback_owed,
    ring_violation,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("result", "ring", "expected"),
    [
        (OfferResult.ANSWERED, 15.0, None),  # exactly at the limit: in time
        (OfferResult.ANSWERED, 15.2, ViolationKind.LATE_ANSWER),
        (OfferResult.NO_ANSWER, 15.0, ViolationKind.MISSED_CALL),
        (OfferResult.NO_ANSWER, 9.0, None),  # taken back before the third ring ended
        (OfferResult.CALLER_HUNG_UP, 20.0, None),
    ],
)
def test_ring_violation(result: OfferResult, ring: float, expected: ViolationKind | None) -> None:
    assert ring_violation(result, ring, 15.0) == expected


def test_call_flag_from_offers() -> None:
    def offer(result: OfferResult, ring: float) -> Offer:
        return Offer(agent="A", interface="PJSIP/1", queue="q", ring_seconds=ring, result=result)

    assert call_rule_violations([offer(OfferResult.ANSWERED, 3.0)], 15.0) == ()
    flagged = [offer(OfferResult.NO_ANSWER, 15.0), offer(OfferResult.ANSWERED, 2.0)]
    assert call_rule_violations(flagged, 15.0) == ("ring_limit",)


def _record(**kw: object) -> CallRecord:
    base: dict[str, object] = {
        "call_id": "1.1",
        "direction": Direction.INBOUND,
        "outcome": CallOutcome.ABANDONED,
        "wait_seconds": 8.0,
        "caller_number": "13800138000",
        "caller_name": "",
    }
    return CallRecord(**{**base, **kw})  # type: ignore[arg-type]


def test_callback_owed() -> None:
    assert callback_owed(_record(), 5.0) is CallbackReason.ABANDONED
    assert callback_owed(_record(wait_seconds=5.0), 5.0) is None  # exactly the threshold
    assert callback_owed(_record(outcome=CallOutcome.NO_ANSWER), 5.0) is None
    dialer = _record(direction=Direction.OUTBOUND, campaign_id=3, wait_seconds=0.0)
    assert callback_owed(dialer, 5.0) is CallbackReason.DIALER_ABANDON
    assert callback_owed(_record(direction=Direction.OUTBOUND), 5.0) is None


def test_callback_window() -> None:
    due = callback_due(T0, timedelta(minutes=30))
    assert due == T0 + timedelta(minutes=30)
    assert callback_in_time(due, due)
    assert not callback_in_time(due + timedelta(seconds=1), due)
