"""Alembic's entry point, run by store.migrate with an open connection (no alembic.ini)."""

from __future__ import annotations

from alembic import context

from store.migrate import migration_options

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through store.migrate (dealdesk migrate), not alembic")

context.configure(
    connection=connection,
    # SQLite cannot ALTER most things in place; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    **migration_options(),
)
with context.begin_transaction():
    context.run_migrations()
