"""Alembic's environment for the service's database, run by
:meth:`nmrstake.storage.database.Database.migrate` on the connection it passes (in
``config.attributes["connection"]``, inside its transaction and its migration lock); never run
from an ``alembic.ini``."""

from __future__ import annotations

from alembic import context

from nmrstake.index.tables import metadata as index_metadata
from nmrstake.storage.tables import metadata

#: Every MetaData the migrations cover (autogenerate compares them with the database): the
#: service's own tables (0001) and the event index's (0002).
target_metadata = [metadata, index_metadata]

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=target_metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
