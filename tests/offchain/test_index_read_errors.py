"""A read of the event index that fails is a problem document naming what failed (docs/service.md):
a database that does not answer is 503 index-unavailable, not a chain that does not answer."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from nmrstake.errors import RequestError, UnknownRoundError
from nmrstake.index import queries
from nmrstake.index.tables import ensure_schema
from nmrstake.service.context import ServiceContext


def test_indexed__a_database_that_cannot_be_opened__is_503_index_unavailable(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'index.db'}")
    with pytest.raises(RequestError) as raised:
        ServiceContext.indexed(queries.status, engine, "1:0xabc")
    assert (raised.value.status, raised.value.kind) == (503, "index-unavailable")


def test_indexed__a_round_the_index_never_saw_opened__stays_unknown_round(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'index.db'}")
    ensure_schema(engine)
    with pytest.raises(UnknownRoundError, match="round 7 does not exist"):
        ServiceContext.indexed(queries.round_info, engine, "1:0xabc", 7, challenge_period=1, grace_period=1)
