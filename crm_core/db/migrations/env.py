"""Alembic environment: always handed an open connection by crm_core.db.migrate."""

from __future__ import annotations

from alembic import context

from crm_core.db.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `callcenter migrate` (crm_core.db.migrate)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
