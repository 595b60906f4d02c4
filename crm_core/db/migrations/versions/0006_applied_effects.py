"""Side effects of calls applied exactly once across instances (docs/adr/0060).

`applied_effects` holds one key per (call, effect): inserted in the same transaction as
the callback or violation it guards, so the instances that all hear the same call
cannot both apply it, and the periodic sweep re-applies what is missing after an outage.
Calls of the last day are marked as applied here, so the first sweep after the upgrade
does not open callbacks a second time for calls handled before it.

Revision ID: 0006_applied_effects
Revises: 0005_cdr_exact_times
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import crm_core.db.tables

revision = "0006_applied_effects"
down_revision = "0005_cdr_exact_times"
branch_labels = None
depends_on = None

BACKFILL = timedelta(days=1)


def upgrade() -> None:
    op.create_table(
        "applied_effects",
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("effect", sa.String(300), nullable=False),
        sa.Column("applied_at", crm_core.db.tables.UtcDateTime(), nullable=False),
        sa.Column("applied_by", sa.String(120), nullable=False),
        sa.PrimaryKeyConstraint("call_id", "effect", name="pk_applied_effects"),
    )
    op.create_index("ix_applied_effects_applied_at", "applied_effects", ["applied_at"])
    effects = sa.table(
        "applied_effects",
        sa.column("call_id", sa.String),
        sa.column("effect", sa.String),
        sa.column("applied_at", crm_core.db.tables.UtcDateTime()),
        sa.column("applied_by", sa.String),
    )
    calls = sa.table(
        "calls",
        sa.column("call_id", sa.String),
        sa.column("started_at", crm_core.db.tables.UtcDateTime()),
    )
    now = datetime.now(UTC)
    for effect in ("callback", "ring-rule"):
        op.execute(
            effects.insert().from_select(
                ["call_id", "effect", "applied_at", "applied_by"],
                sa.select(
                    calls.c.call_id,
                    sa.literal(effect, sa.String),
                    sa.literal(now, crm_core.db.tables.UtcDateTime()),
                    sa.literal("migration 0006", sa.String),
                ).where(calls.c.started_at >= now - BACKFILL),
            )
        )


def downgrade() -> None:
    op.drop_index("ix_applied_effects_applied_at", table_name="applied_effects")
    op.drop_table("applied_effects")
