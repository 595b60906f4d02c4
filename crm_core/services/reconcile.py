"""Reconciliation: Asterisk's CDRs against our call records.

Asterisk writes a CDR for every call into the same PostgreSQL (`cdr_pgsql`). A
periodic job groups the CDRs of a time window by Linkedid and looks for calls the
CRM does not have — a record missed during any outage. It reports them, and with
`repair=True` writes a minimal call record built from the CDRs (marked in the
wrap-up notes), idempotently by call id like every other write.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select

from crm_core.db import Database
from crm_core.db.cdr_tables import cdr
from crm_core.db.tables import calls
from crm_core.domain.models import CallOutcome, CallRecord, Direction, PbxLeg, pbx_call_id

log = logging.getLogger(__name__)

_CLID = re.compile(r'^\s*"?([^"<]*)"?\s*<([^>]*)>')
_OUTCOME = {
    "ANSWERED": CallOutcome.ANSWERED,
    "BUSY": CallOutcome.BUSY,
    "NO ANSWER": CallOutcome.NO_ANSWER,
    "FAILED": CallOutcome.FAILED,
    "CONGESTION": CallOutcome.FAILED,
}


@dataclass
class ReconcileReport:
    since: datetime
    until: datetime
    pbx_calls: int = 0
    missing: list[str] = field(default_factory=list)
    repaired: int = 0


async def reconcile(
    db: Database, since: datetime, until: datetime, *, repair: bool = False
) -> ReconcileReport:
    report = ReconcileReport(since, until)
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(cdr)
                .where(cdr.c.calldate >= since, cdr.c.calldate < until)
                .order_by(cdr.c.calldate)
            )
        ).all()
        ids = {r.linkedid or r.uniqueid for r in rows}
        report.pbx_calls = len(ids)
        known: set[str] = set()
        id_list = sorted(ids)
        for start in range(0, len(id_list), 1000):
            chunk = id_list[start : start + 1000]
            known.update(
                (
                    await conn.execute(select(calls.c.call_id).where(calls.c.call_id.in_(chunk)))
                ).scalars()
            )
    by_call: dict[str, list[object]] = {}
    for r in rows:
        call_id = r.linkedid or r.uniqueid
        if call_id not in known:
            by_call.setdefault(call_id, []).append(r)
    report.missing = sorted(by_call)
    if report.missing:
        log.error(
            "reconcile: %d of %d PBX calls between %s and %s are missing from the CRM",
            len(report.missing),
            report.pbx_calls,
            since,
            until,
        )
    if repair and by_call:
        records = [_record(call_id, legs) for call_id, legs in by_call.items()]
        report.repaired = await db.calls.save_many(records)
    return report


def _record(call_id: str, legs: list[object]) -> CallRecord:
    first = legs[0]
    start: datetime = first.calldate  # type: ignore[attr-defined]
    end = max(leg.calldate + timedelta(seconds=leg.duration) for leg in legs)  # type: ignore[attr-defined]
    answered = [leg for leg in legs if leg.disposition == "ANSWERED"]  # type: ignore[attr-defined]
    billsec = max((leg.billsec for leg in answered), default=0)  # type: ignore[attr-defined]
    match = _CLID.match(first.clid or "")  # type: ignore[attr-defined]
    name = match.group(1).strip() if match else ""
    number = first.src or (match.group(2) if match else "")  # type: ignore[attr-defined]
    disposition = (answered[0] if answered else first).disposition  # type: ignore[attr-defined]
    inbound = first.dcontext not in ("campaign-dial", "callback")  # type: ignore[attr-defined]
    return CallRecord(
        call_id=call_id,
        direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
        caller_number=number,
        caller_name=name,
        dialed_number=first.dst or None,  # type: ignore[attr-defined]
        started_at=start,
        answered_at=end - timedelta(seconds=billsec) if answered else None,
        ended_at=end,
        talk_seconds=float(billsec),
        outcome=_OUTCOME.get(disposition, CallOutcome.FAILED),
        wrapup_notes="repaired from Asterisk CDR by reconciliation",
    )


def _epoch(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value and value > 0 else None


def pbx_leg(r: Any) -> PbxLeg:
    """One CDR row as a leg, with the exact times where the table has them (0004)."""
    begun: datetime = _epoch(getattr(r, "start", None)) or r.calldate
    ended = _epoch(getattr(r, "end", None)) or r.calldate + timedelta(seconds=r.duration)
    answered = None
    if r.disposition == "ANSWERED":
        answered = _epoch(getattr(r, "answer", None)) or ended - timedelta(seconds=r.billsec)
    return PbxLeg(
        linkedid=r.linkedid,
        channel=r.channel,
        dstchannel=r.dstchannel,
        started_at=begun,
        answered_at=answered,
        ended_at=ended,
        disposition=r.disposition,
        lastapp=r.lastapp,
        uniqueid=r.uniqueid,
        clid=r.clid,
        src=r.src,
        dst=r.dst,
        dcontext=r.dcontext,
        lastdata=r.lastdata,
        queued_at=_epoch(getattr(r, "cc_queued", None)),
    )


async def pbx_legs(db: Database, linkedids: list[str]) -> dict[str, list[PbxLeg]]:
    """Asterisk's CDRs of these calls, by Linkedid: how calls that ended while the AMI
    link was down really ended (answered by whom, when). Read at reconnect by the AMI
    client (docs/adr/0043); {} when Asterisk does not write CDRs here."""
    found: dict[str, list[PbxLeg]] = {}
    async with db.engine.connect() as conn:
        for start in range(0, len(linkedids), 1000):
            chunk = linkedids[start : start + 1000]
            rows = (await conn.execute(select(cdr).where(cdr.c.linkedid.in_(chunk)))).all()
            for r in rows:
                found.setdefault(r.linkedid, []).append(pbx_leg(r))
    return found


async def pbx_calls_ended_since(
    db: Database, since: datetime, *, pbx: str = "default", longest: timedelta = timedelta(hours=2)
) -> dict[str, list[PbxLeg]]:
    """Calls whose last CDR ended at or after `since` and that the CRM has no record of.

    Calls that started and ended while nobody read the PBX's events (an AMI gap, a
    failover) are known only to the PBX: the AMI client reads them at the reconnect or
    takeover (docs/adr/0058). `longest` bounds how long before `since` a call began.
    """
    async with db.engine.connect() as conn:
        # the exact end (0004) narrows the read; CDRs without it fall back to the window
        recent = (
            await conn.execute(
                select(cdr.c.linkedid)
                .where(
                    cdr.c.calldate >= since - longest,
                    or_(cdr.c.end.is_(None), cdr.c.end >= since.timestamp()),
                )
                .distinct()
            )
        ).scalars()
        candidates = [lid for lid in recent if lid]
    by_call = await pbx_legs(db, candidates)
    ended = {lid: legs for lid, legs in by_call.items() if max(x.ended_at for x in legs) >= since}
    ids = {pbx_call_id(pbx, lid): lid for lid in ended}
    known: set[str] = set()
    id_list = sorted(ids)
    async with db.engine.connect() as conn:
        for start in range(0, len(id_list), 1000):
            chunk = id_list[start : start + 1000]
            known.update(
                (
                    await conn.execute(select(calls.c.call_id).where(calls.c.call_id.in_(chunk)))
                ).scalars()
            )
    return {lid: ended[lid] for call_id, lid in ids.items() if call_id not in known}
