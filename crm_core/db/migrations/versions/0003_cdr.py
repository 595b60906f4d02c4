"""Asterisk CDR table for reconciliation (created only where Asterisk has not).

Revision ID: 0003_cdr
Revises: 0002_reports
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm_core.db.tables

revision = "0003_cdr"
down_revision = "0002_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("cdr"):
        return  # Asterisk's cdr_pgsql made it already: it owns the layout
    op.create_table(
        "cdr",
        sa.Column("calldate", crm_core.db.tables.UtcDateTime(), nullable=False),
        sa.Column("clid", sa.String(80), nullable=False, server_default=""),
        sa.Column("src", sa.String(80), nullable=False, server_default=""),
        sa.Column("dst", sa.String(80), nullable=False, server_default=""),
        sa.Column("dcontext", sa.String(80), nullable=False, server_default=""),
        sa.Column("channel", sa.String(80), nullable=False, server_default=""),
        sa.Column("dstchannel", sa.String(80), nullable=False, server_default=""),
        sa.Column("lastapp", sa.String(80), nullable=False, server_default=""),
        sa.Column("lastdata", sa.String(80), nullable=False, server_default=""),
        sa.Column("duration", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("billsec", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("disposition", sa.String(45), nullable=False, server_default=""),
        sa.Column("amaflags", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("accountcode", sa.String(20), nullable=False, server_default=""),
        sa.Column("uniqueid", sa.String(150), nullable=False, server_default=""),
        sa.Column("linkedid", sa.String(150), nullable=False, server_default=""),
        sa.Column("userfield", sa.String(255), nullable=False, server_default=""),
    )
    op.create_index("ix_cdr_calldate", "cdr", ["calldate"])
    op.create_index("ix_cdr_uniqueid", "cdr", ["uniqueid"])
    op.create_index("ix_cdr_linkedid", "cdr", ["linkedid"])


def downgrade() -> None:
    op.drop_table("cdr")
