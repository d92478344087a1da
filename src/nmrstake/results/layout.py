"""Where a deployment's round files live on the operator's machine.

``<root>/targets/round-<id>.{csv,parquet}`` (one per round), optional
``<root>/meta_models/round-<id>.{csv,parquet}``, the tournament service's submission store
``<root>/service/``, and the published results ``<root>/results/round-<id>/``.

With a store URL (``s3://bucket/prefix``: ``--store-url``, ``$NMRSTAKE_STORE_URL``) the published
results are also pushed to that store and read from it (:mod:`nmrstake.results.stored`), and the
submission store keeps its files there (``submissions/``), so that an oracle and service replicas
on other machines share them; what is downloaded from it is kept in ``<root>/cache/``.

The submission store's metadata is in the database at `database_url` when one is given (the
service's replicas and the oracle share it: ``--database-url``, ``$NMRSTAKE_DATABASE_URL``), else
in SQLite in ``<root>/service/``; its receipts are signed with the key at `receipt_key_file` when
given (``$NMRSTAKE_RECEIPT_KEY_FILE``), else ``<root>/service/receipt-signer.key``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nmrstake.errors import InputError
from nmrstake.results.spec import round_dir
from nmrstake.results.stored import PublishedStore
from nmrstake.storage import DATABASE_URL_ENV, RECEIPT_KEY_FILE_ENV
from nmrstake.storage.blobs import BlobStore, open_blobs

if TYPE_CHECKING:  # the store needs SQLAlchemy, which the participant's install has not
    from nmrstake.submissions import SubmissionStore

DATA_EXTENSIONS = (".csv", ".parquet")
#: The environment variable of `--store-url`; a layout made without one reads it, so that local
#: delivery (`nmrstake stake --data-dir`) puts files where the service and the oracle look.
STORE_URL_ENV = "NMRSTAKE_STORE_URL"


@dataclass(frozen=True)
class DataLayout:
    """Where a deployment's round files live."""

    root: Path
    #: The blob store the published results and the submissions are shared through (None: the
    #: local disk alone).
    store_url: str | None = field(default_factory=lambda: os.environ.get(STORE_URL_ENV) or None)
    database_url: str | None = field(default_factory=lambda: os.environ.get(DATABASE_URL_ENV) or None)
    receipt_key_file: Path | None = field(
        default_factory=lambda: Path(os.environ[RECEIPT_KEY_FILE_ENV]) if os.environ.get(RECEIPT_KEY_FILE_ENV) else None)

    @property
    def targets_dir(self) -> Path:
        return self.root / "targets"

    @property
    def service_dir(self) -> Path:
        return self.root / "service"

    @property
    def meta_models_dir(self) -> Path:
        return self.root / "meta_models"

    @property
    def results_dir(self) -> Path:
        return self.root / "results"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    def blobs(self) -> BlobStore | None:
        """The store at :attr:`store_url` (None without one)."""
        return open_blobs(self.store_url, root=self.root, cache=self.cache_dir) if self.store_url else None

    def published_store(self) -> PublishedStore:
        """The published rounds: :attr:`results_dir`, and the store at :attr:`store_url` if any."""
        return PublishedStore(self.results_dir, self.blobs())

    def has_store(self) -> bool:
        """Whether this machine has a submission store to read (a database URL, or the service's
        SQLite file in :attr:`service_dir`), checked without importing the store (SQLAlchemy),
        which the participant's install does not have."""
        service = self.service_dir
        return (self.database_url is not None or (service / "service.sqlite3").is_file()
                or (service / "uploads.sqlite3").is_file())

    def store(self) -> SubmissionStore:
        """The tournament service's submission store of this deployment: its files in the store at
        :attr:`store_url` if any, else under :attr:`service_dir`."""
        from nmrstake.submissions import SubmissionStore

        return SubmissionStore(self.service_dir, database_url=self.database_url, receipt_key_file=self.receipt_key_file,
                               blobs=self.blobs())

    def _one(self, folder: Path, stem: str) -> Path | None:
        found = [folder / f"{stem}{ext}" for ext in DATA_EXTENSIONS if (folder / f"{stem}{ext}").is_file()]
        if len(found) > 1:
            raise InputError(f"{folder}: both {found[0].name} and {found[1].name} exist; keep one")
        return found[0] if found else None

    def targets_file(self, round_id: int) -> Path | None:
        return self._one(self.targets_dir, f"round-{round_id}")

    def meta_model_file(self, round_id: int) -> Path | None:
        return self._one(self.meta_models_dir, f"round-{round_id}")

    def published(self, round_id: int) -> Path:
        return round_dir(self.results_dir, round_id)


def default_data_root(chain_id: int, tournament: str) -> Path:
    """`$NMRSTAKE_DATA` if set, else `~/.nmrstake/data/<chainid>-<tournament address>`."""
    env = os.environ.get("NMRSTAKE_DATA")
    if env:
        return Path(env)
    home = Path(os.environ.get("NMRSTAKE_HOME", Path.home() / ".nmrstake"))
    return home / "data" / f"{chain_id}-{tournament.lower()}"
