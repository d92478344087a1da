"""The event index the replicas share (nmrstake.index.tables): the deployment's logs, the hashes of
the last blocks indexed (to undo a reorganisation) and each stream's cursor.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "index_blocks",
        sa.Column("stream", sa.String(length=120), nullable=False),
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("stream", "number"),
    )
    op.create_table(
        "index_cursors",
        sa.Column("stream", sa.String(length=120), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("head", sa.BigInteger(), nullable=False),
        sa.Column("head_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("stream"),
    )
    op.create_table(
        "index_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("stream", sa.String(length=120), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("contract_name", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("round_id", sa.BigInteger(), nullable=True),
        sa.Column("model_id", sa.String(length=66), nullable=True),
        sa.Column("staker", sa.String(length=42), nullable=True),
        sa.Column("amount", sa.String(length=78), nullable=True),
        sa.Column("total", sa.String(length=78), nullable=True),
        sa.Column("commitment", sa.String(length=66), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stream", "block_hash", "log_index", name="uq_index_events_log"),
    )
    op.create_index("ix_index_events_block", "index_events", ["stream", "block_number"], unique=False)
    op.create_index("ix_index_events_round", "index_events", ["stream", "event", "round_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_index_events_round", table_name="index_events")
    op.drop_index("ix_index_events_block", table_name="index_events")
    op.drop_table("index_events")
    op.drop_table("index_cursors")
    op.drop_table("index_blocks")
