"""Reconciliation finds calls the PBX saw but the CRM missed, and repairs them once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from crm_core.db import open_database
from crm_core.db.cdr_tables import cdr
from crm_core.domain.models import CallOutcome, CallRecord, Direction
from crm_core.services.reconcile import pbx_calls_ended_since, pbx_legs, reconcile

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def _cdr(
    linkedid: str, uniqueid: str, at: datetime, disposition: str, billsec: int
) -> dict[str, object]:
    return {
        "calldate": at,
        "clid": '"张三" <13800138000>',
        "src": "13800138000",
        "dst": "4008001234",
        "dcontext": "inbound",
        "channel": "PJSIP/trunk-1",
        "dstchannel": "Local/1001@agents-1;1",
        "lastapp": "Queue",
        "lastdata": "support",
        "duration": billsec + 5,
        "billsec": billsec,
        "disposition": disposition,
        "amaflags": 3,
        "accountcode": "",
        "uniqueid": uniqueid,
        "linkedid": linkedid,
        "userfield": "",
    }


async def test_missing_call_is_found_and_repaired_once(database_url: str) -> None:
    db = await open_database(database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                insert(cdr),
                [
                    _cdr("1.1", "1.1", T0, "ANSWERED", 40),
                    _cdr("1.1", "1.2", T0, "ANSWERED", 40),  # the agent's leg of the same call
                    _cdr("2.1", "2.1", T0 + timedelta(minutes=1), "ANSWERED", 60),
                    _cdr("3.1", "3.1", T0 + timedelta(minutes=2), "NO ANSWER", 0),
                ],
            )
        for call_id in ("1.1", "3.1"):
            await db.calls.save_many(
                [
                    CallRecord(
                        call_id=call_id,
                        direction=Direction.INBOUND,
                        caller_number="13800138000",
                        caller_name="张三",
                        started_at=T0,
                        ended_at=T0,
                        outcome=CallOutcome.ANSWERED,
                    )
                ]
            )
        window = (T0 - timedelta(hours=1), T0 + timedelta(hours=1))
        report = await reconcile(db, *window)
        assert report.pbx_calls == 3
        assert report.missing == ["2.1"]
        assert await db.calls.count() == 2  # reporting alone changes nothing

        repaired = await reconcile(db, *window, repair=True)
        assert repaired.repaired == 1
        record = await db.calls.get("2.1")
        assert record.outcome == CallOutcome.ANSWERED
        assert record.talk_seconds == 60
        assert record.caller_name == "张三"
        assert "reconciliation" in (record.wrapup_notes or "")
        again = await reconcile(db, *window, repair=True)
        assert again.missing == []
        assert await db.calls.count() == 3
    finally:
        await db.close()


async def test_cdr_legs_with_and_without_exact_times(database_url: str) -> None:
    """The CDRs the AMI client reads at a reconnect (pbx_legs) and the calls only the
    PBX saw (pbx_calls_ended_since), exact epoch times used where the table has them."""
    db = await open_database(database_url)
    exact = T0 + timedelta(seconds=0.25)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                insert(cdr),
                {
                    **_cdr("4.1", "4.1", T0, "ANSWERED", 40),
                    "start": exact.timestamp(),
                    "answer": exact.timestamp() + 5.5,
                    "end": exact.timestamp() + 45.5,
                    "cc_queued": exact.timestamp() + 1.0,
                },
            )
            await conn.execute(insert(cdr), _cdr("5.1", "5.1", T0, "NO ANSWER", 0))
        legs = await pbx_legs(db, ["4.1", "5.1", "6.1"])
        assert sorted(legs) == ["4.1", "5.1"]
        (leg,) = legs["4.1"]
        assert leg.started_at == exact
        assert leg.answered_at == exact + timedelta(seconds=5.5)
        assert leg.ended_at == exact + timedelta(seconds=45.5)
        assert leg.queued_at == exact + timedelta(seconds=1)
        assert (leg.src, leg.clid, leg.lastapp) == ("13800138000", '"张三" <13800138000>', "Queue")
        (plain,) = legs["5.1"]
        assert plain.started_at == T0
        assert plain.answered_at is None
        assert plain.ended_at == T0 + timedelta(seconds=5)  # calldate + duration
        assert plain.queued_at is None

        await db.calls.save_many(
            [
                CallRecord(
                    call_id="5.1",
                    direction=Direction.INBOUND,
                    caller_number="13800138000",
                    caller_name="张三",
                    started_at=T0,
                    ended_at=T0,
                    outcome=CallOutcome.NO_ANSWER,
                )
            ]
        )
        unknown = await pbx_calls_ended_since(db, T0)
        assert sorted(unknown) == ["4.1"]  # 5.1 is known to the CRM
        assert await pbx_calls_ended_since(db, T0 + timedelta(minutes=5)) == {}
    finally:
        await db.close()
