"""The event index's tables, in SQLAlchemy Core on their own :data:`metadata` (the service's
database gets them from its migrations; :func:`ensure_schema` creates them on a bare engine, for tests).

One database may index several deployments: every row carries its ``stream``, the deployment's
key (``<chain id>:<tournament address>``, :func:`nmrstake.index.indexer.stream_key`).

- :data:`events`: one row per log, as the chain holds it (block number and hash, log index,
  transaction, the emitting contract, the event's name, its decoded arguments as JSON: integers
  as decimal strings, bytes as 0x-hex) and the typed columns the queries filter and read (round id,
  model id, staker, amount, total, commitment). Unique on (stream, block hash, log index): a log
  is stored once whatever several indexers do.
- :data:`blocks`: the hashes of the last blocks indexed (``keep_blocks`` of them), which the
  indexer compares with the chain's to find where a reorganisation forked.
- :data:`cursors`: per stream, the last block indexed (number and hash; every log at or below it
  is in :data:`events`) and the chain's head and its time when it was read. Moved only by a
  compare-and-set on (number, hash), in the transaction that writes the logs: see the indexer.

Amounts are uint96 and uint256 on chain, beyond a BIGINT: they are stored as decimal strings
(sums are made in Python, per round). Round ids are BIGINTs: a log whose round id does not fit
keeps it in ``args`` and NULL in ``round_id`` (no round the contract opens in practice).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

#: Widths: an address "0x" + 40 hex, a 32-byte hash "0x" + 64 hex, a uint256 in decimal.
ADDRESS, HASH, UINT = 42, 66, 78
#: The largest round id the ``round_id`` column holds.
BIGINT_MAX = 2**63 - 1

events = sa.Table(
    "index_events", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("stream", sa.String(120), nullable=False),
    sa.Column("block_number", sa.BigInteger, nullable=False),
    sa.Column("block_hash", sa.String(HASH), nullable=False),
    sa.Column("log_index", sa.Integer, nullable=False),
    sa.Column("tx_hash", sa.String(HASH), nullable=False),
    sa.Column("contract", sa.String(ADDRESS), nullable=False),
    sa.Column("contract_name", sa.String(64), nullable=False),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("args", sa.JSON, nullable=False),
    sa.Column("round_id", sa.BigInteger, nullable=True),
    sa.Column("model_id", sa.String(HASH), nullable=True),
    sa.Column("staker", sa.String(ADDRESS), nullable=True),
    sa.Column("amount", sa.String(UINT), nullable=True),
    sa.Column("total", sa.String(UINT), nullable=True),
    sa.Column("commitment", sa.String(HASH), nullable=True),
    sa.UniqueConstraint("stream", "block_hash", "log_index", name="uq_index_events_log"),
    sa.Index("ix_index_events_round", "stream", "event", "round_id"),
    sa.Index("ix_index_events_block", "stream", "block_number"),
    # a staker's and a model's history (the dashboard's pages; revision 0003)
    sa.Index("ix_index_events_staker", "stream", "staker"),
    sa.Index("ix_index_events_model", "stream", "model_id"),
)

blocks = sa.Table(
    "index_blocks", metadata,
    sa.Column("stream", sa.String(120), primary_key=True),
    sa.Column("number", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.String(HASH), nullable=False),
)

cursors = sa.Table(
    "index_cursors", metadata,
    sa.Column("stream", sa.String(120), primary_key=True),
    sa.Column("block_number", sa.BigInteger, nullable=False),
    sa.Column("block_hash", sa.String(HASH), nullable=False),
    sa.Column("head", sa.BigInteger, nullable=False),
    sa.Column("head_time", sa.BigInteger, nullable=False),
)


def ensure_schema(engine: sa.Engine) -> None:
    """Create the index's tables where they are missing, on an engine the service's migrations
    never ran on (the tests'); an existing table is left as it is."""
    metadata.create_all(engine)


__all__ = ["BIGINT_MAX", "blocks", "cursors", "ensure_schema", "events", "metadata"]
