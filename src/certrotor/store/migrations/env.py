"""Alembic environment: migrates the connection that :mod:`certrotor.store.migrate` hands over.

There is no alembic.ini: the store builds the Config in code and passes its open connection in
``config.attributes["connection"]``, inside a transaction it already holds a migration lock for.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from certrotor.store.models import Base

_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError("certrotor migrations run from code: use certrotor.store.migrate.upgrade(engine)")

context.configure(
    connection=_connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds tables instead.
    render_as_batch=_connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
