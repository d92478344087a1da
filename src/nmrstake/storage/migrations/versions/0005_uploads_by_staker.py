"""A staker's uploads of a round found by index: an upload's admission sums them for the staker's
quota, which read every upload the store ever took (a full scan under the admissions lock, the
longer the more rounds the store holds).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("uploads_by_staker", "uploads", ["round_id", "staker"])


def downgrade() -> None:
    op.drop_index("uploads_by_staker", table_name="uploads")
