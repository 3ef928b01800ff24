"""Alembic environment: runs online against the engine passed in the config attributes.

On PostgreSQL the migration takes a transaction-level advisory lock, so that several server
processes starting together do not race to create the schema. On SQLite, foreign keys are
off while migrations rebuild tables (batch mode) and checked before the commit.
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
        sqlite = connection.dialect.name == "sqlite"
        raw = connection.connection.driver_connection if sqlite else None
        if raw is not None:  # batch mode rebuilds tables: foreign keys off (outside a transaction)
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=sqlite,
                transaction_per_migration=False,
            )
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    lock = text("SELECT pg_advisory_xact_lock(:k)")
                    connection.execute(lock, {"k": _MIGRATION_LOCK})
                context.run_migrations()
                if raw is not None:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


_run()
