"""Databases for the event index's tests (`nmrstake.index`): a fresh SQLite file with the index's
tables. (PostgreSQL joins when `helpers.postgres` lands on main.)"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from nmrstake.index.tables import ensure_schema


def sqlite_engine(folder: Path, name: str = "index.db") -> sa.Engine:
    """A SQLite database file in `folder` with the index's tables; connections wait up to 30 s for
    another writer (two indexers on one file) instead of failing at once."""
    engine = sa.create_engine(f"sqlite:///{folder / name}", connect_args={"timeout": 30})
    ensure_schema(engine)
    return engine


def log_keys(engine: sa.Engine) -> list[tuple[str, int]]:
    """(block hash, log index) of every indexed event, duplicates kept, in chain order."""
    from nmrstake.index.tables import events

    with engine.connect() as conn:
        rows = conn.execute(sa.select(events.c.block_hash, events.c.log_index)
                            .order_by(events.c.block_number, events.c.log_index)).all()
    return [(str(r[0]), int(r[1])) for r in rows]
