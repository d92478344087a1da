"""The tables of the service's metadata database, as SQLAlchemy Core Table objects: the one
description every query of :mod:`nmrstake.submissions`, :mod:`nmrstake.storage.holds`, the faucet
and the attestations is written against. The schema itself is made by the Alembic migrations in
``migrations/versions/`` (a migration is frozen once released; this module is the current shape,
and ``tests/offchain/test_database.py`` holds that the two agree).

Round ids are TEXT: a uint256 does not fit a BIGINT. Hashes and addresses are 0x-hex TEXT, as the
SQLite files before the database held them, so that old logs import unchanged.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

#: An autoincrementing id: BIGINT (a sequence) on PostgreSQL, SQLite's INTEGER rowid alias.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: Every accepted upload (the upload log). `authorisation` (the EIP-712 digest of the upload's
#: signature) is UNIQUE: a signature is stored once, whichever replica receives it.
uploads = sa.Table(
    "uploads", metadata,
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
    sa.Index("uploads_by_key", "round_id", "model", "staker", "id"),
    sa.Index("uploads_by_staker", "round_id", "staker"),  # a staker's uploads of a round: its quota
    sqlite_autoincrement=True,
)

#: The per-key hold: one row per (round, model, staker) whose upload is being received, a lease
#: (`expires_at`, seconds on the database's clock) its holder renews; an expired row is free.
key_holds = sa.Table(
    "key_holds", metadata,
    sa.Column("round_id", sa.Text, primary_key=True),
    sa.Column("model", sa.Text, primary_key=True),
    sa.Column("staker", sa.Text, primary_key=True),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

#: Uploads admitted under the limits and not yet stored or refused (the in-flight ledger), each
#: with the size it may reach, leased as the holds are: a killed replica's entries expire.
admissions = sa.Table(
    "admissions", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("round_id", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("staker", sa.Text, nullable=False),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Index("admissions_by_holder", "holder"),
)

#: Upload signatures that asked to hold a key once: an INSERT that conflicts means seen. Rows go
#: once the signature has expired (`expires_at`: the signature's own expiry, unix seconds).
seen_signatures = sa.Table(
    "seen_signatures", metadata,
    sa.Column("authorisation", sa.Text, primary_key=True),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Index("seen_signatures_by_expiry", "expires_at"),
)

#: The faucet's grants. A grant is reserved (its transactions NULL) before anything is sent, so
#: that the limits hold across replicas, and completed once both transactions are mined.
faucet_grants = sa.Table(
    "faucet_grants", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("granted_at", sa.BigInteger, nullable=False),
    sa.Column("nmr", sa.Text, nullable=False),
    sa.Column("ether", sa.Text, nullable=False),
    sa.Column("nmr_txn", sa.Text, nullable=True),
    sa.Column("ether_txn", sa.Text, nullable=True),
    sa.Index("faucet_grants_by_address", "address", "granted_at"),
    sa.Index("faucet_grants_by_time", "granted_at"),
    sqlite_autoincrement=True,
)

#: The oracle committee's attestations (nmrstake.service.attestations).
attestations = sa.Table(
    "attestations", metadata,
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
    sa.Index("attestations_by_round", "round_id", "id"),
    sqlite_autoincrement=True,
)

#: What every replica of the service must agree on, by name: `receipt_signer` (the address that
#: signs delivery receipts), written by the first replica to start.
service_identity = sa.Table(
    "service_identity", metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

#: The webhooks participants registered for their own address's alerts (nmrstake.storage.webhooks):
#: one row per (address, url); `models`, the labels of the models it wants, comma-separated ("": all of
#: the address's); `since_block`, the event index's cursor when it was registered (the
#: chain's events up to it are older than the hook: never sent to it).
webhooks = sa.Table(
    "webhooks", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("models", sa.Text, nullable=False),
    sa.Column("since_block", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("address", "url", name="webhooks_once"),
    sqlite_autoincrement=True,
)

#: The outbox: one row per (hook, event), UNIQUE, so that however many replicas see an event it is
#: queued once. A replica sends a row only while it holds its lease (`holder`, `lease_until`, unix
#: seconds); a failed attempt puts it back `pending` until `next_at` (exponential backoff, capped),
#: and after the last attempt it is `failed`.
webhook_deliveries = sa.Table(
    "webhook_deliveries", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("hook_id", sa.BigInteger, nullable=False),
    sa.Column("event_key", sa.Text, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_at", sa.Float, nullable=False),
    sa.Column("holder", sa.Text, nullable=True),
    sa.Column("lease_until", sa.Float, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("delivered_at", sa.Float, nullable=True),
    sa.UniqueConstraint("hook_id", "event_key", name="webhook_deliveries_once"),
    sa.Index("webhook_deliveries_due", "status", "next_at"),
    sqlite_autoincrement=True,
)
