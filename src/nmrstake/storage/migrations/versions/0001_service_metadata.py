"""The service's metadata: the upload log, the per-key holds and the in-flight ledger, the upload
signatures seen, the faucet's grants, the committee's attestations, the service's identity.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("round_id", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("staker", sa.Text, nullable=False),
        sa.Column("file_hash", sa.Text, nullable=False),
        sa.Column("extension", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.Column("authorisation", sa.Text, nullable=False, unique=True),
        sa.Column("signature", sa.Text, nullable=False),
        sa.Column("receipt_signature", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("uploads_by_key", "uploads", ["round_id", "model", "staker", "id"])
    op.create_table(
        "key_holds",
        sa.Column("round_id", sa.Text, primary_key=True),
        sa.Column("model", sa.Text, primary_key=True),
        sa.Column("staker", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_table(
        "admissions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("round_id", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("staker", sa.Text, nullable=False),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("admissions_by_holder", "admissions", ["holder"])
    op.create_table(
        "seen_signatures",
        sa.Column("authorisation", sa.Text, primary_key=True),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("seen_signatures_by_expiry", "seen_signatures", ["expires_at"])
    op.create_table(
        "faucet_grants",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("granted_at", sa.BigInteger, nullable=False),
        sa.Column("nmr", sa.Text, nullable=False),
        sa.Column("ether", sa.Text, nullable=False),
        sa.Column("nmr_txn", sa.Text, nullable=True),
        sa.Column("ether_txn", sa.Text, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("faucet_grants_by_address", "faucet_grants", ["address", "granted_at"])
    op.create_index("faucet_grants_by_time", "faucet_grants", ["granted_at"])
    op.create_table(
        "attestations",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("round_id", sa.Text, nullable=False),
        sa.Column("signer", sa.Text, nullable=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("epoch", sa.Text, nullable=False),
        sa.Column("root", sa.Text, nullable=False),
        sa.Column("total_payout", sa.Text, nullable=False),
        sa.Column("total_burn", sa.Text, nullable=False),
        sa.Column("leaf_count", sa.Text, nullable=False),
        sa.Column("results_hash", sa.Text, nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("round_id", "signer", "digest", name="attestations_once"),
        sqlite_autoincrement=True,
    )
    op.create_index("attestations_by_round", "attestations", ["round_id", "id"])
    op.create_table(
        "service_identity",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("service_identity", "attestations", "faucet_grants", "seen_signatures", "admissions", "key_holds",
                  "uploads"):
        op.drop_table(table)
