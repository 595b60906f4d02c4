"""The periodic CDR reconciliation the runtime owns (docs/adr/0030)."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from crm_core.db import Database
from crm_core.ports.clock import Clock
from crm_core.services.reconcile import reconcile

log = logging.getLogger(__name__)


async def reconcile_every(db: Database, clock: Clock, *, interval: float) -> None:
    """Every `interval` seconds, compare Asterisk's CDRs of the last two hours with our
    records and repair gaps; a database outage skips one round."""
    while True:
        await clock.sleep(interval)
        now = clock.now()
        try:
            report = await reconcile(
                db, now - timedelta(hours=2), now - timedelta(minutes=1), repair=True
            )
        except (SQLAlchemyError, OSError) as exc:
            log.error("reconcile: skipped, database unreachable: %s", exc)
            continue
        if report.missing:
            log.error(
                "reconcile: repaired %d call records missing from the CRM: %s",
                report.repaired,
                ", ".join(report.missing[:20]),
            )
