"""Alembic migrations of the store, run in code by :func:`certrotor.store.migrate.upgrade`."""
