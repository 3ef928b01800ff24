"""Alembic environment: runs online against the engine passed in the config attributes.

On PostgreSQL the migration takes a transaction-level advisory lock, so that several server
processes starting together do not race to create the schema.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gigawatt.store.models import Base

_MIGRATION_LOCK = 7_345_112_001


def _run() -> None:
    engine: Engine | None = context.config.attributes.get("engine")
    if engine is None:
        raise RuntimeError("gigawatt migrations run through gigawatt.store.migrate.upgrade()")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            transaction_per_migration=False,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
            context.run_migrations()


_run()
