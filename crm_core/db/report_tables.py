"""The reports' daily pre-aggregate of calls (ADR 0021): one row per local day, queue,
agent and direction, refreshed from the `calls`/`call_offers` rows by
`crm_core.services.reports`. Derived data only: dropping it loses nothing."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, Float, Integer, String, Table

from crm_core.db.tables import UtcDateTime, metadata

report_daily = Table(
    "report_daily",
    metadata,
    Column("day", Date, primary_key=True),
    Column("queue", String(80), primary_key=True),  # "" = no queue
    Column("agent", String(120), primary_key=True),  # "" = nobody answered
    Column("direction", String(10), primary_key=True),
    Column("calls", Integer, nullable=False),
    Column("answered", Integer, nullable=False),
    Column("abandoned", Integer, nullable=False),
    Column("short_abandoned", Integer, nullable=False),
    Column("answered_within_sl", Integer, nullable=False),
    Column("answered_within_rings", Integer, nullable=False),
    Column("wait_answered_sum", Float, nullable=False),
    Column("talk_sum", Float, nullable=False),
    Column("hold_sum", Float, nullable=False),
    Column("missed_rings", Integer, nullable=False),
)

report_days = Table(
    "report_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("refreshed_at", UtcDateTime, nullable=False),
    # the thresholds the day was counted with; other settings force a recount
    Column("thresholds", String(60), nullable=False),
)

report_watermark = Table(
    "report_watermark",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_call_pk", BigInteger, nullable=False),
)
