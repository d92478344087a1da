"""Indexes for a staker's and a model's history across rounds (the dashboard's staker and model
pages filter the event index by `staker` or `model_id`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_index_events_staker", "index_events", ["stream", "staker"], unique=False)
    op.create_index("ix_index_events_model", "index_events", ["stream", "model_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_index_events_model", table_name="index_events")
    op.drop_index("ix_index_events_staker", table_name="index_events")
