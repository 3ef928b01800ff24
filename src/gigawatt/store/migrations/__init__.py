"""Alembic migrations shipped inside the package (run by :mod:`gigawatt.store.migrate`)."""
