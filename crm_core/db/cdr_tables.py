"""Asterisk's own CDR table (the `cdr_pgsql` / `cdr_adaptive_odbc` layout).

In production Asterisk writes it into the same PostgreSQL; migration 0003 creates
it when absent, so the reconciliation job and its tests run anywhere.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, String, Table

from crm_core.db.tables import UtcDateTime, metadata

cdr = Table(
    "cdr",
    metadata,
    Column("calldate", UtcDateTime, nullable=False, index=True),
    Column("clid", String(80), nullable=False, default=""),
    Column("src", String(80), nullable=False, default=""),
    Column("dst", String(80), nullable=False, default=""),
    Column("dcontext", String(80), nullable=False, default=""),
    Column("channel", String(80), nullable=False, default=""),
    Column("dstchannel", String(80), nullable=False, default=""),
    Column("lastapp", String(80), nullable=False, default=""),
    Column("lastdata", String(80), nullable=False, default=""),
    Column("duration", Integer, nullable=False, default=0),
    Column("billsec", Integer, nullable=False, default=0),
    Column("disposition", String(45), nullable=False, default=""),
    Column("amaflags", Integer, nullable=False, default=0),
    Column("accountcode", String(20), nullable=False, default=""),
    Column("uniqueid", String(150), nullable=False, default="", index=True),
    Column("linkedid", String(150), nullable=False, default="", index=True),
    Column("userfield", String(255), nullable=False, default=""),
    # epoch seconds with microseconds (cdr_pgsql fills float columns of these names;
    # cc_queued is the CDR variable the dialplan sets on entering the queue): 0004
    Column("start", Float(precision=53), nullable=True),
    Column("answer", Float(precision=53), nullable=True),
    Column("end", Float(precision=53), nullable=True),
    Column("cc_queued", Float(precision=53), nullable=True),
)
