"""Call records the rule and effect tests feed their services."""

from __future__ import annotations

from datetime import datetime, timedelta

from crm_core.domain.models import CallOutcome, CallRecord, Direction, Offer


def queue_call(
    call_id: str,
    outcome: CallOutcome,
    at: datetime,
    *,
    wait: float = 0.0,
    number: str = "13800138000",
    customer_id: int | None = None,
    offers: tuple[Offer, ...] = (),
) -> CallRecord:
    """An inbound call of 张三 from `number` through the support queue, ended at `at`
    after `wait` seconds in the queue."""
    return CallRecord(
        call_id=call_id,
        direction=Direction.INBOUND,
        caller_number=number,
        caller_name="张三",
        queue="support",
        started_at=at - timedelta(seconds=wait),
        ended_at=at,
        wait_seconds=wait,
        outcome=outcome,
        customer_id=customer_id,
        offers=offers,
    )
