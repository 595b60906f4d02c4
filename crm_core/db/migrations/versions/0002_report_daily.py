"""reports: daily pre-aggregate of calls (ADR 0021)

Revision ID: 0002_reports
Revises: 0001
Create Date: 2026-11-23 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm_core.db.tables

revision = "0002_reports"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("queue", sa.String(length=80), nullable=False),
        sa.Column("agent", sa.String(length=120), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("abandoned", sa.Integer(), nullable=False),
        sa.Column("short_abandoned", sa.Integer(), nullable=False),
        sa.Column("answered_within_sl", sa.Integer(), nullable=False),
        sa.Column("answered_within_rings", sa.Integer(), nullable=False),
        sa.Column("wait_answered_sum", sa.Float(), nullable=False),
        sa.Column("talk_sum", sa.Float(), nullable=False),
        sa.Column("hold_sum", sa.Float(), nullable=False),
        sa.Column("missed_rings", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "queue", "agent", "direction", name="pk_report_daily"),
    )
    op.create_table(
        "report_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("refreshed_at", crm_core.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("thresholds", sa.String(length=60), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_report_days"),
    )
    op.create_table(
        "report_watermark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_call_pk", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_report_watermark"),
    )
    # the callback/complaint/survey figures are range scans on their own time columns
    op.create_index("ix_callbacks_created", "callbacks", ["created_at"])
    op.create_index("ix_cases_kind_created", "cases", ["kind", "created_at"])
    op.create_index("ix_cases_kind_closed", "cases", ["kind", "closed_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_kind_closed", table_name="cases")
    op.drop_index("ix_cases_kind_created", table_name="cases")
    op.drop_index("ix_callbacks_created", table_name="callbacks")
    op.drop_table("report_watermark")
    op.drop_table("report_days")
    op.drop_table("report_daily")
