"""The durable outbox keeps call records across a process restart until acked."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from crm_core.domain.models import CallOutcome, CallRecord, Direction, Offer, OfferResult
from crm_core.outbox import Outbox


def _record(n: int) -> CallRecord:
    return CallRecord(
        call_id=f"1700000000.{n}",
        direction=Direction.INBOUND,
        caller_number="13800138000",
        caller_name="张三 <script>",
        queue="support",
        agent="Agent 1001",
        started_at=datetime(2026, 1, 5, 1, 0, tzinfo=UTC),
        ended_at=datetime(2026, 1, 5, 1, 1, tzinfo=UTC),
        offers=(
            Offer(
                agent="Agent 1001",
                interface="Local/1001@agents/n",
                ring_seconds=4.0,
                result=OfferResult.ANSWERED,
            ),
        ),
        outcome=CallOutcome.ANSWERED,
        talk_seconds=50.0,
    )


def test_records_survive_reopen_until_acked(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    box = Outbox(path)
    for n in range(5):
        box.put(_record(n))
    assert box.depth == 5
    box.close()  # the process "dies" before the CRM had them

    box = Outbox(path)
    assert box.depth == 5
    batch = box.peek(3)
    assert [r.call_id for _, r in batch] == ["1700000000.0", "1700000000.1", "1700000000.2"]
    assert batch[0][1] == _record(0)  # round-trips exactly, incl. offers and the name
    box.ack([i for i, _ in batch])
    assert box.depth == 2
    assert [r.call_id for _, r in box.peek()] == ["1700000000.3", "1700000000.4"]
    box.close()
