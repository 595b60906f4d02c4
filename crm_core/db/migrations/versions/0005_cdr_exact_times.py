"""Exact CDR times: `start`, `answer`, `end` and `cc_queued` as epoch seconds.

`cdr_pgsql` fills a float column named start/answer/end with the epoch and its
microseconds (calldate, duration and billsec are whole seconds), and any other column
from the CDR variable of that name: the dialplan sets `CDR(cc_queued)` when the caller
enters the queue. Asterisk reads the column list when the module loads: restart it (or
unload and load cdr_pgsql) after this migration. docs/adr/0058.

Revision ID: 0005_cdr_exact_times
Revises: 0004_idempotency
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_cdr_exact_times"
down_revision = "0004_idempotency"
branch_labels = None
depends_on = None

COLUMNS = ("start", "answer", "end", "cc_queued")


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("cdr"):
        return
    have = {c["name"] for c in inspector.get_columns("cdr")}
    for name in COLUMNS:
        if name not in have:
            op.add_column("cdr", sa.Column(name, sa.Float(precision=53), nullable=True))


def downgrade() -> None:
    for name in reversed(COLUMNS):
        op.drop_column("cdr", name)
