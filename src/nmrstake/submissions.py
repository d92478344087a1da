"""The submission store: files in a blob store by content hash (:mod:`nmrstake.storage.blobs`:
the local disk by default, an S3 bucket when a store URL is given), their log in the service's
metadata database (:mod:`nmrstake.storage.database`: SQLite in the data folder by default,
PostgreSQL when a database URL is given). The tournament service writes it
(:mod:`nmrstake.intake`); the oracle reads the files it scores from it
(:mod:`nmrstake.results.layout`), so it sits below both.

Layout under the store's root (``<data>/service/``)::

    service.sqlite3                                    the default database (WAL, synchronous=FULL)
    files/round-<id>/<model>/<staker>/<keccak>.<ext>   every accepted file, by its keccak-256 (no store URL)
    files/round-<id>/<model>/<staker>/<keccak>.csv.values
                                                       a plain CSV's values for the oracle (nmrstake.prepared)
    tmp/                                               files being received (never read by anyone)
    receipt-signer.key                                 the key that signs delivery receipts (0600)

With a store URL the files are the objects ``submissions/round-<id>/<model>/<staker>/<keccak>.<ext>``
of the bucket (beside the published ``results/``), shared by every replica and by an oracle on
another machine; a reader gets a local copy with :meth:`SubmissionStore.local_path` (kept in the
data folder's ``cache/``). Uploads are still received into the local ``tmp/``.

Durability: a file is received into ``tmp/`` and fsynced, then made an object under its
content-addressed key (:meth:`~nmrstake.storage.blobs.BlobStore.move_file`: locally a rename with
the new folders and the folder fsynced; on S3 a PUT, complete when it returns); only then is its
row committed, and only after the commit is the upload acknowledged. So a ``kill -9`` at any
moment leaves either no row (the upload was not acknowledged; an orphan object at most, never
referenced) or a row whose object is complete. A restart empties ``tmp/``; orphans are deleted by
:meth:`SubmissionStore.sweep_orphans` once older than a grace period (the service runs it at start
and every hour), under the key's hold, so it never deletes an upload in flight on any replica. The
authorisation's UNIQUE constraint makes a signature stored once across every replica sharing the
database.

Every replica signs receipts with one key: ``receipt-signer.key`` in the store's folder, or the
file given explicitly (``--receipt-key-file``, ``$NMRSTAKE_RECEIPT_KEY_FILE``; never created). The
first to start records its address in the database (``service_identity``); a replica with another
key is refused (:meth:`SubmissionStore.claim_receipt_signer`).

Stakers who share a model name never touch each other's files: the path and every query carry
(round, model, staker).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nmrstake.errors import ConfigError
from nmrstake.fsutil import fsync_dir
from nmrstake.hashing import bytes32_from_hex, checksum_address, to_hex
from nmrstake.prepared import SUFFIX as PREPARED_SUFFIX
from nmrstake.prepared import Prepared
from nmrstake.prepared import encode as encode_prepared
from nmrstake.signing import DeliveryReceipt
from nmrstake.storage import RECEIPT_KEY_FILE_ENV, tables
from nmrstake.storage.blobs import BlobNotFound, BlobStore, LocalBlobs
from nmrstake.storage.database import DEFAULT_FILE, Database, import_sqlite_file, open_database
from nmrstake.storage.holds import Holds

#: The environment variable of `--receipt-key-file`.
#: The log before the database (one SQLite file of its own), imported once if found.
LEGACY_LOG = "uploads.sqlite3"
#: The service's SQLite files before the database: (file, its table, the database's table).
LEGACY_FILES = ((LEGACY_LOG, "uploads", tables.uploads), ("faucet.sqlite3", "grants", tables.faucet_grants),
                ("attestations.sqlite3", "attestations", tables.attestations))

#: Test hook: `NMRSTAKE_SERVICE_CRASH_AT=received|stored|signed` kills the process at that point
#: of an upload (os._exit: no cleanup, as a kill -9 would).
CRASH_ENV = "NMRSTAKE_SERVICE_CRASH_AT"


#: The submissions' key prefix: under the store's folder on the local disk (``<data>/service/files/``),
#: in a shared store beside the published results (``s3://bucket/prefix/submissions/``).
LOCAL_PREFIX = "files"
SHARED_PREFIX = "submissions"
#: Seconds an object with no row is left alone before :meth:`SubmissionStore.sweep_orphans`
#: deletes it: far longer than any upload takes from its object's write to its row's commit.
ORPHAN_GRACE = 3600.0
_FILE_KEY = re.compile(r"round-([0-9]+)/([a-z0-9_]{1,32})/(0x[0-9a-fA-F]{40})/(0x[0-9a-f]{64})(\.csv|\.parquet)"
                       r"(?:\.values)?")  # a file, or its prepared values (nmrstake.prepared), which go with it


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os._exit(86)


@dataclass(frozen=True)
class StoredUpload:
    """One accepted upload, as the log holds it. `key` names its file in the store; `path` is
    where it is on this machine: the file itself on the local disk, else where
    :meth:`SubmissionStore.local_path` keeps the copy it fetches (read through that: the copy may
    not be there yet)."""

    upload_id: int
    round_id: int
    model: str
    staker: str
    file_hash: bytes
    size: int
    received_at: int
    path: Path
    receipt: DeliveryReceipt
    key: str = ""


@dataclass(frozen=True)
class StoreUsage:
    """What one (round, model, staker) key, its staker in that round and the whole store hold
    (`total_bytes`: None when not counted, as no limit asked for it). `free_disk_bytes` is the free
    space of the disk uploads are received on (``tmp/``); `store_on_disk` whether the files are
    kept on that disk too (the local store) rather than in a bucket, which has no disk to fill."""

    key_uploads: int
    staker_round_bytes: int
    total_bytes: int | None
    free_disk_bytes: int
    store_on_disk: bool = True


@dataclass(frozen=True)
class SweepReport:
    """What :meth:`SubmissionStore.sweep_orphans` found: the orphans it deleted, and those it left
    (younger than the grace period, or their key held by an upload in flight)."""

    deleted: tuple[str, ...]
    kept: tuple[str, ...]


class SubmissionStore:
    """Uploads of one deployment. Readers (the oracle) and the writer (the service) may be
    different processes, and the writers several replicas sharing `database_url`'s database.
    `blobs`: the shared store the files are kept in (an S3 bucket: ``submissions/...``); None,
    the local disk under `root` (``files/...``), as on a single host."""

    def __init__(self, root: Path, *, database_url: str | None = None, receipt_key_file: Path | None = None,
                 blobs: BlobStore | None = None) -> None:
        self.root = Path(root)
        self.database_url = database_url or None
        self.receipt_key_file = Path(receipt_key_file) if receipt_key_file else None
        self.shared = blobs is not None
        self.blobs: BlobStore = blobs if blobs is not None else LocalBlobs(self.root)
        self.prefix = SHARED_PREFIX if self.shared else LOCAL_PREFIX
        self._database: Database | None = None

    # ------------------------------------------------------------------ locations

    @property
    def db_path(self) -> Path:
        """The default database's file (used when no database URL is given)."""
        return self.root / DEFAULT_FILE

    @property
    def receipt_key_path(self) -> Path:
        return self.receipt_key_file or self.root / "receipt-signer.key"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    @property
    def files_dir(self) -> Path:
        return self.root / "files"

    def file_key(self, round_id: int, model: str, staker: str, file_hash: bytes, extension: str) -> str:
        """The key of an upload's file in the blob store (content-addressed by its keccak-256)."""
        return f"{self.prefix}/round-{round_id}/{model}/{checksum_address(staker)}/{to_hex(file_hash)}{extension}"

    def file_path(self, round_id: int, model: str, staker: str, file_hash: bytes, extension: str) -> Path:
        """Where the file is on this machine (see :attr:`StoredUpload.path`)."""
        return self.blobs.local_path(self.file_key(round_id, model, staker, file_hash, extension))

    def local_path(self, upload: StoredUpload) -> Path:
        """A local file holding `upload`'s bytes: the file itself on the local disk (with its
        prepared values beside it, if the service wrote some); a copy fetched from the shared
        store (kept in the cache, fetched again only if the object changed), which the oracle
        parses and hashes itself (a shared store keeps no prepared values: :meth:`store`). An
        acknowledged upload's object missing from the shared store is the store's failure, never
        the participant's (its row is committed only after the object was written): a ConfigError
        naming the URL and the key, so that the oracle stops rather than score a delivered file as
        missing and post that on chain; any other failure of the store is a ConfigError too."""
        if not self.shared:
            return upload.path
        try:
            path = self.blobs.fetch(upload.key)
        except BlobNotFound:
            raise ConfigError(f"{self.blobs.where(upload.key)}: upload {upload.upload_id} (round {upload.round_id}, "
                              f"model {upload.model}, staker {upload.staker}) was acknowledged but its object is "
                              "missing from the store; restore it (the receipt's hash names its bytes) before "
                              "the round is scored") from None
        if path.stat().st_size != upload.size:
            raise ConfigError(f"{self.blobs.where(upload.key)}: {path.stat().st_size} bytes, but upload "
                              f"{upload.upload_id} stored {upload.size}")
        return path

    def exists(self) -> bool:
        """Whether the service made this store (a database URL: the database is the store)."""
        return self.database_url is not None or self.db_path.is_file() or (self.root / LEGACY_LOG).is_file()

    # ------------------------------------------------------------------ setup

    @property
    def database(self) -> Database:
        """The metadata database, its schema migrated (on first use in this process)."""
        if self._database is None:
            if self.database_url is None and not self.root.is_dir():
                raise ConfigError(f"no submission store at {self.root} (is `nmrstake serve` using this data folder?)")
            self._database = open_database(self.database_url, self.root).migrate()
            if any((self.root / name).is_file() for name, _, _ in LEGACY_FILES):
                self._import_legacy()
        return self._database

    def open_for_writing(self, *, clean: bool = False) -> SubmissionStore:
        """Create the folders and the schema; with `clean` (the service, at start), empty `tmp/`
        of what a killed writer left (never referenced by the log, so never visible)."""
        self._prepare_files(clean=clean)
        self.database  # noqa: B018 - migrated now, at start, not on the first upload
        return self

    def _prepare_files(self, *, clean: bool) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if clean and self.tmp_dir.exists():
                shutil.rmtree(self.tmp_dir)
            self.tmp_dir.mkdir(exist_ok=True)
            if not self.shared:
                self.files_dir.mkdir(exist_ok=True)
            fsync_dir(self.root)  # files/ must be durable before any row refers to a file in it
        except OSError as exc:
            raise ConfigError(f"service data folder {self.root}: cannot write ({exc.strerror or exc})") from None

    def _import_legacy(self) -> None:
        """The SQLite files of the versions before the database (the upload log, the faucet's
        grants, the attestations), each copied in once (ids kept), then renamed `<name>.imported`:
        an operator's data folder keeps working as it was."""
        assert self._database is not None
        for name, source, table in LEGACY_FILES:
            conflict = [c for c in table.primary_key.columns]
            import_sqlite_file(self._database, self.root / name, source, table, [c.name for c in table.columns],
                               conflict=conflict)

    def receipt_key(self) -> bytes:
        """The service's receipt-signing key: the explicit key file if given (it must exist), else
        `receipt-signer.key`, created (0600) on first use.

        A raw key because it is the service's own machine identity, which it generates and uses
        unattended, with no passphrase to ask anyone for; it signs only through
        :meth:`receipt_account` (an ape account)."""
        path = self.receipt_key_path
        if self.receipt_key_file is not None and not path.is_file():
            raise ConfigError(f"--receipt-key-file: {path} does not exist (the key every replica of the service "
                              "signs receipts with: 0x and 64 hex digits)")
        if not path.exists():
            key = secrets.token_bytes(32)
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.root / f".receipt-signer.{secrets.token_hex(4)}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(to_hex(key) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)  # never replaces a key another process created meanwhile
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
            fsync_dir(self.root)
        try:
            return bytes32_from_hex(path.read_text().strip(), argument=str(path))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the receipt key ({exc.strerror or exc})") from None

    def receipt_account(self) -> Any:
        """The ape account that signs the service's delivery receipts (see :meth:`receipt_key`)."""
        from nmrstake.chain.signers import key_account

        return key_account(self.receipt_key())

    def receipt_signer(self, *, create: bool = True) -> str | None:
        """The address that signs receipts; without `create`, None if the service never made its
        key (the oracle names the signer in a manifest, but never invents one): then the address
        the replicas recorded in the database, if any (an oracle on another host has no key)."""
        if not create and not self.receipt_key_path.is_file():
            return self.recorded_receipt_signer() if self.exists() else None
        from eth_account import Account  # here: reading the store needs no key

        return str(Account.from_key(self.receipt_key()).address)

    def recorded_receipt_signer(self) -> str | None:
        """The receipt signer's address recorded by the first replica to start, if any."""
        i = tables.service_identity
        with self.database.read() as conn:
            value = conn.execute(sa.select(i.c.value).where(i.c.name == "receipt_signer")).scalar_one_or_none()
        return str(value) if value is not None else None

    def claim_receipt_signer(self) -> str:
        """This process's receipt signer, recorded in the database if it is the first; a
        ConfigError naming both addresses if the replicas recorded another one."""
        mine = self.receipt_signer()
        assert mine is not None
        i = tables.service_identity
        with self.database.write() as conn:
            conn.execute(self.database.insert(i).values(name="receipt_signer", value=mine)
                         .on_conflict_do_nothing(index_elements=[i.c.name]))
            recorded: str = conn.execute(sa.select(i.c.value).where(i.c.name == "receipt_signer")).scalar_one()
        if recorded != mine:
            raise ConfigError(f"receipt key {self.receipt_key_path}: signs as {mine}, but the service's database "
                              f"{self.database.url} records {recorded} as the receipt signer of every replica; give "
                              f"this replica the same key (--receipt-key-file or ${RECEIPT_KEY_FILE_ENV})")
        return mine

    # ------------------------------------------------------------------ writing

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh file name in `tmp/` for a file being received; removed unless it was stored."""
        path = self.tmp_dir / f"upload-{secrets.token_hex(8)}.part"
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def _put_file(self, staged: Path, key: str) -> int:
        """Make a fully received file durable under its content-addressed key, the staged file
        given up (locally renamed, no copy; same bytes if the key existed); its size."""
        return self.blobs.move_file(key, staged, content_addressed=True).size

    def _free_bytes(self) -> int:
        """Free space on the disk uploads are received on (``tmp/``)."""
        return shutil.disk_usage(self.root).free

    def usage(self, round_id: int, model: str, staker: str, *, conn: Connection | None = None,
              with_total: bool = False) -> StoreUsage:
        """What the store holds that upload limits count (docs/service.md, "Limits"); read in
        `conn`'s transaction if given (an admission's check, after its own entry committed), else in one of its own.
        The staker's uploads of the round are found by index (``uploads_by_staker``), whatever the
        store holds of other rounds and stakers; the whole store's bytes (`with_total`, for the
        store's cap) are a sum over every upload, asked for only when that cap is set."""
        u = tables.uploads
        query = sa.select(  # one round trip for what an admission's check counts
            sa.func.coalesce(sa.func.sum(sa.case((u.c.model == model, 1), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(u.c.size), 0),
        ).where(u.c.round_id == str(round_id), u.c.staker == checksum_address(staker))
        if with_total:
            query = query.add_columns(sa.select(sa.func.coalesce(sa.func.sum(u.c.size), 0)).scalar_subquery())
        if conn is None:
            with self.database.read() as own:
                row: tuple[Any, ...] = tuple(own.execute(query).one())
        else:
            row = tuple(conn.execute(query).one())
        total = int(row[2]) if with_total else None
        return StoreUsage(int(row[0]), int(row[1]), total, int(self._free_bytes()), store_on_disk=not self.shared)

    def authorisation_used(self, digest: bytes, *, conn: Connection | None = None) -> bool:
        """Whether an upload with this authorisation (an upload signature's EIP-712 digest) is
        stored; read in `conn`'s transaction if given."""
        u = tables.uploads
        query = sa.select(u.c.id).where(u.c.authorisation == to_hex(digest))
        if conn is None:
            with self.database.read() as own:
                return own.execute(query).first() is not None
        return conn.execute(query).first() is not None

    def store(self, staged: Path, *, round_id: int, model: str, staker: str, file_hash: bytes, extension: str,
              received_at: int, authorisation: bytes, signature: str, receipt: DeliveryReceipt,
              prepared: Prepared | None = None, also: Callable[[Connection], object] | None = None) -> StoredUpload:
        """Move a fully received, checked file to its content-addressed key and log it. Returns
        once both are durable (the object first: a row never refers to a missing object); raises
        sqlalchemy.exc.IntegrityError if the authorisation was used (by any process sharing the
        database), leaving the object, which a row of the same bytes may share. `prepared`: the
        file's values for the oracle (:mod:`nmrstake.prepared`), written beside it first on the
        local disk. A shared store keeps none: the oracle fetches the CSV itself in any case, and
        a second object (its PUT here, its GET there) costs the service and the store more than
        the oracle's parse and hash of the CSV it has fetched (about a millisecond). `also`: more
        statements for the row's transaction (the end of the upload's hold, in one commit with it)."""
        key = self.file_key(round_id, model, staker, file_hash, extension)
        if prepared is not None and not self.shared:
            self.blobs.put_bytes(key + PREPARED_SUFFIX, encode_prepared(prepared))
        size = self._put_file(staged, key)
        crash_point("stored")
        with self.database.write() as conn:
            upload_id: int = conn.execute(sa.insert(tables.uploads).values(
                round_id=str(round_id), model=model, staker=checksum_address(staker), file_hash=to_hex(file_hash),
                extension=extension, size=size, received_at=received_at, authorisation=to_hex(authorisation),
                signature=signature, receipt_signature=receipt.signature).returning(tables.uploads.c.id)).scalar_one()
            if also is not None:
                also(conn)
            crash_point("signed")
        receipt = replace(receipt, staker=checksum_address(receipt.staker))
        return StoredUpload(int(upload_id), round_id, model, checksum_address(staker), file_hash, size,
                            received_at, self.blobs.local_path(key), receipt, key)

    # ------------------------------------------------------------------ reading

    def _rows(self, *where: sa.ColumnElement[bool]) -> list[StoredUpload]:
        u = tables.uploads
        query = sa.select(u.c.id, u.c.round_id, u.c.model, u.c.staker, u.c.file_hash, u.c.extension, u.c.size,
                          u.c.received_at, u.c.receipt_signature).where(*where).order_by(u.c.id)
        out = []
        with self.database.read() as conn:
            rows: list[tuple[Any, ...]] = [tuple(r) for r in conn.execute(query)]
        for uid, rid, model, staker, fhash, ext, size, received, rsig in rows:
            digest = bytes32_from_hex(fhash)
            receipt = DeliveryReceipt(staker, int(rid), model, digest, int(received), rsig)
            key = self.file_key(int(rid), model, staker, digest, ext)
            out.append(StoredUpload(int(uid), int(rid), model, staker, digest, int(size), int(received),
                                    self.blobs.local_path(key), receipt, key))
        return out

    def uploads(self, round_id: int, model: str | None = None, staker: str | None = None) -> list[StoredUpload]:
        """Every upload of a round (or of one key), oldest first."""
        u = tables.uploads
        if model is None:
            return self._rows(u.c.round_id == str(round_id))
        return self._rows(u.c.round_id == str(round_id), u.c.model == model,
                          u.c.staker == checksum_address(staker or ""))
    def latest(self, round_id: int, model: str, staker: str) -> StoredUpload | None:
        found = self.uploads(round_id, model, staker)
        return found[-1] if found else None

    def delivered(self, round_id: int, model: str, staker: str, commitment: bytes, close_time: int) -> StoredUpload | None:
        """The file a stake is scored with: an upload received before close hashing to the stake's
        commitment; failing that, the latest upload before close (whose hash then shows the stake
        invalid, with the reason); None if nothing was received by close."""
        before = [u for u in self.uploads(round_id, model, staker) if u.received_at < close_time]
        matching = [u for u in before if u.file_hash == commitment]
        if matching:
            return matching[-1]
        return before[-1] if before else None

    # ------------------------------------------------------------------ orphans

    def sweep_orphans(self, *, grace: float = ORPHAN_GRACE, now: float | None = None) -> SweepReport:
        """Delete the files no row refers to (left by a writer killed between its object's write
        and its row's commit), once older than `grace` seconds at `now` (the wall clock; S3 dates
        its objects on its own clock). Each is deleted under its key's hold (the one an upload
        takes: :class:`~nmrstake.storage.holds.Holds`) after its row is looked for again, so an
        upload in flight on any replica, which holds its key until its row is committed, never
        loses its object; the grace period covers a writer whose lease lapsed. Keys that are not
        an upload's file name are left alone."""
        now = time.time() if now is None else now
        found: dict[str, list[tuple[str, tuple[int, str, str], str, str]]] = {}
        for key in self.blobs.list(f"{self.prefix}/"):
            match = _FILE_KEY.fullmatch(key[len(self.prefix) + 1:])
            if match is not None:
                rid, model, staker, digest, ext = match.groups()
                found.setdefault(rid, []).append((key, (int(rid), model, staker), digest, ext))
        u = tables.uploads
        deleted: list[str] = []
        kept: list[str] = []
        holds: Holds | None = None
        for rid, files in sorted(found.items()):
            with self.database.read() as conn:
                rows: list[tuple[Any, ...]] = [tuple(r) for r in conn.execute(
                    sa.select(u.c.model, u.c.staker, u.c.file_hash, u.c.extension).where(u.c.round_id == rid))]
            referenced = {self.file_key(int(rid), str(m), str(who), bytes32_from_hex(str(h)), str(e))
                          for m, who, h, e in rows}
            for key, hold_key, digest, ext in files:
                if key.removesuffix(PREPARED_SUFFIX) in referenced:
                    continue
                st = self.blobs.stat(key)
                if st is None:
                    continue
                if st.modified is None or now - st.modified < grace:
                    kept.append(key)
                    continue
                holds = holds or Holds(self.database)
                if not holds.hold_key(hold_key):
                    kept.append(key)  # an upload of this key is in flight
                    continue
                try:
                    if self._referenced(hold_key, digest, ext):
                        continue  # committed meanwhile
                    self.blobs.delete(key)
                    deleted.append(key)
                finally:
                    holds.release_key(hold_key)
        return SweepReport(tuple(deleted), tuple(kept))

    def _referenced(self, key: tuple[int, str, str], digest: str, extension: str) -> bool:
        u = tables.uploads
        with self.database.read() as conn:
            return conn.execute(sa.select(u.c.id).where(
                u.c.round_id == str(key[0]), u.c.model == key[1], u.c.staker == key[2], u.c.file_hash == digest,
                u.c.extension == extension).limit(1)).first() is not None
