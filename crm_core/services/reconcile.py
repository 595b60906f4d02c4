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

from sqlalchemy import RowMapping, or_, select

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


@dataclass(frozen=True, slots=True, kw_only=True)
class CdrLeg:
    """One row of Asterisk's CDR table, as far as reconciliation reads it."""

    calldate: datetime
    clid: str
    src: str
    dst: str
    dcontext: str
    channel: str
    dstchannel: str
    lastapp: str
    lastdata: str
    duration: int
    billsec: int
    disposition: str
    uniqueid: str
    linkedid: str
    # exact epoch times where the table has them (0004)
    start: float | None = None
    answer: float | None = None
    end: float | None = None
    cc_queued: float | None = None

    @classmethod
    def of(cls, m: RowMapping) -> CdrLeg:
        return cls(
            calldate=m["calldate"],
            clid=m["clid"] or "",
            src=m["src"] or "",
            dst=m["dst"] or "",
            dcontext=m["dcontext"] or "",
            channel=m["channel"] or "",
            dstchannel=m["dstchannel"] or "",
            lastapp=m["lastapp"] or "",
            lastdata=m["lastdata"] or "",
            duration=m["duration"] or 0,
            billsec=m["billsec"] or 0,
            disposition=m["disposition"] or "",
            uniqueid=m["uniqueid"] or "",
            linkedid=m["linkedid"] or "",
            start=m.get("start"),
            answer=m.get("answer"),
            end=m.get("end"),
            cc_queued=m.get("cc_queued"),
        )


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
        rows = [
            CdrLeg.of(r._mapping)
            for r in await conn.execute(
                select(cdr)
                .where(cdr.c.calldate >= since, cdr.c.calldate < until)
                .order_by(cdr.c.calldate)
            )
        ]
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
    by_call: dict[str, list[CdrLeg]] = {}
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


def _record(call_id: str, legs: list[CdrLeg]) -> CallRecord:
    first = legs[0]
    start = first.calldate
    end = max(leg.calldate + timedelta(seconds=leg.duration) for leg in legs)
    answered = [leg for leg in legs if leg.disposition == "ANSWERED"]
    billsec = max((leg.billsec for leg in answered), default=0)
    match = _CLID.match(first.clid)
    name = match.group(1).strip() if match else ""
    number = first.src or (match.group(2) if match else "")
    disposition = (answered[0] if answered else first).disposition
    inbound = first.dcontext not in ("campaign-dial", "callback")
    return CallRecord(
        call_id=call_id,
        direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
        caller_number=number,
        caller_name=name,
        dialed_number=first.dst or None,
        started_at=start,
        answered_at=end - timedelta(seconds=billsec) if answered else None,
        ended_at=end,
        talk_seconds=float(billsec),
        outcome=_OUTCOME.get(disposition, CallOutcome.FAILED),
        wrapup_notes="repaired from Asterisk CDR by reconciliation",
    )


def _epoch(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value and value > 0 else None


def pbx_leg(r: CdrLeg) -> PbxLeg:
    """One CDR row as a leg, with the exact times where the table has them (0004)."""
    begun = _epoch(r.start) or r.calldate
    ended = _epoch(r.end) or r.calldate + timedelta(seconds=r.duration)
    answered = None
    if r.disposition == "ANSWERED":
        answered = _epoch(r.answer) or ended - timedelta(seconds=r.billsec)
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
        queued_at=_epoch(r.cc_queued),
    )


async def pbx_legs(db: Database, linkedids: list[str]) -> dict[str, list[PbxLeg]]:
    """Asterisk's CDRs of these calls, by Linkedid: how calls that ended while the AMI
    link was down really ended (answered by whom, when). Read at reconnect by the AMI
    client (docs/adr/0043); {} when Asterisk does not write CDRs here."""
    found: dict[str, list[PbxLeg]] = {}
    async with db.engine.connect() as conn:
        for start in range(0, len(linkedids), 1000):
            chunk = linkedids[start : start + 1000]
            rows = await conn.execute(select(cdr).where(cdr.c.linkedid.in_(chunk)))
            for r in rows:
                leg = CdrLeg.of(r._mapping)
                found.setdefault(leg.linkedid, []).append(pbx_leg(leg))
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
