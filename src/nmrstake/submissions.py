"""The submission store: files on disk by content hash, their log in SQLite. The tournament
service writes it (:mod:`nmrstake.intake`); the oracle reads the files it scores from it
(:mod:`nmrstake.results.layout`), so it sits below both.

Layout under the store's root (``<data>/service/``)::

    uploads.sqlite3                                    the upload log (WAL, synchronous=FULL)
    files/round-<id>/<model>/<staker>/<keccak>.<ext>   every accepted file, by its keccak-256
    tmp/                                               files being received (never read by anyone)
    receipt-signer.key                                 the key that signs delivery receipts (0600)

Durability: a file is received into ``tmp/``, fsynced, renamed to its content-addressed name and
the folder fsynced; only then is its row committed to SQLite, and only after the commit is the
upload acknowledged. So a ``kill -9`` at any moment leaves either no row (the upload was not
acknowledged; an orphan file at most, never referenced) or a row whose file is complete. A
restart empties ``tmp/`` and needs nothing else.

Stakers who share a model name never touch each other's files: the path and every query carry
(round, model, staker).
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nmrstake.errors import ConfigError
from nmrstake.fsutil import fsync_dir, thread_connection
from nmrstake.hashing import bytes32_from_hex, checksum_address, to_hex
from nmrstake.signing import DeliveryReceipt

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    round_id TEXT NOT NULL,
    model TEXT NOT NULL,
    staker TEXT NOT NULL,
    file_hash TEXT NOT NULL,
    extension TEXT NOT NULL,
    size INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    authorisation TEXT NOT NULL UNIQUE,
    signature TEXT NOT NULL,
    receipt_signature TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (round_id, model, staker, id);
"""

#: Test hook: `NMRSTAKE_SERVICE_CRASH_AT=received|stored|signed` kills the process at that point
#: of an upload (os._exit: no cleanup, as a kill -9 would).
CRASH_ENV = "NMRSTAKE_SERVICE_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os._exit(86)


@dataclass(frozen=True)
class StoredUpload:
    """One accepted upload, as the log holds it."""

    upload_id: int
    round_id: int
    model: str
    staker: str
    file_hash: bytes
    size: int
    received_at: int
    path: Path
    receipt: DeliveryReceipt


@dataclass(frozen=True)
class StoreUsage:
    """What one (round, model, staker) key, its staker in that round and the whole store hold."""

    key_uploads: int
    staker_round_bytes: int
    total_bytes: int
    free_disk_bytes: int


class SubmissionStore:
    """Uploads of one deployment. Readers (the oracle) and the writer (the service) may be
    different processes; SQLite's WAL lets them read while it writes."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._local = threading.local()
        self._write_lock = threading.Lock()

    # ------------------------------------------------------------------ locations

    @property
    def db_path(self) -> Path:
        return self.root / "uploads.sqlite3"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    @property
    def files_dir(self) -> Path:
        return self.root / "files"

    def file_path(self, round_id: int, model: str, staker: str, file_hash: bytes, extension: str) -> Path:
        return (self.files_dir / f"round-{round_id}" / model / checksum_address(staker)
                / f"{to_hex(file_hash)}{extension}")

    # ------------------------------------------------------------------ setup

    def open_for_writing(self, *, clean: bool = False) -> SubmissionStore:
        """Create the folders and the schema; with `clean` (the service, at start), empty `tmp/`
        of what a killed writer left (never referenced by the log, so never visible)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if clean and self.tmp_dir.exists():
                shutil.rmtree(self.tmp_dir)
            self.tmp_dir.mkdir(exist_ok=True)
            self.files_dir.mkdir(exist_ok=True)
            fsync_dir(self.root)  # files/ must be durable before any row refers to a file in it
        except OSError as exc:
            raise ConfigError(f"service data folder {self.root}: cannot write ({exc.strerror or exc})") from None
        with self._connection() as db:
            db.executescript(SCHEMA)
        return self

    def _connection(self) -> sqlite3.Connection:
        if getattr(self._local, "db", None) is None and not self.db_path.parent.is_dir():
            raise ConfigError(f"no submission store at {self.root} (is `nmrstake serve` using this data folder?)")
        return thread_connection(self._local, self.db_path)

    def receipt_key(self) -> bytes:
        """The service's receipt-signing key: `receipt-signer.key`, created (0600) on first use.

        A raw key because it is the service's own machine identity, which it generates and uses
        unattended, with no passphrase to ask anyone for; it signs only through
        :meth:`receipt_account` (an ape account)."""
        path = self.root / "receipt-signer.key"
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
        key (the oracle names the signer in a manifest, but never invents one)."""
        if not create and not (self.root / "receipt-signer.key").is_file():
            return None
        from eth_account import Account  # here: reading the store needs no key

        return str(Account.from_key(self.receipt_key()).address)

    # ------------------------------------------------------------------ writing

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh file name in `tmp/` for a file being received; removed unless it was stored."""
        path = self.tmp_dir / f"upload-{secrets.token_hex(8)}.part"
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def _make_dirs(self, folder: Path) -> None:
        """`mkdir -p` whose new entries are durable: the parent of each folder created is fsynced
        (fsyncing only the file's own folder would not make a newly created folder's name durable,
        and a committed row could then point to a file lost with its folder)."""
        missing: list[Path] = []
        while not folder.is_dir():
            missing.append(folder)
            folder = folder.parent
        for created in reversed(missing):
            created.mkdir(exist_ok=True)
            fsync_dir(created.parent)

    def usage(self, round_id: int, model: str, staker: str) -> StoreUsage:
        """What the store holds that upload limits count (docs/service.md, "Limits")."""
        db = self._connection()
        who = checksum_address(staker)
        key_uploads, = db.execute("SELECT COUNT(*) FROM uploads WHERE round_id = ? AND model = ? AND staker = ?",
                                  (str(round_id), model, who)).fetchone()
        staker_bytes, = db.execute("SELECT COALESCE(SUM(size), 0) FROM uploads WHERE round_id = ? AND staker = ?",
                                   (str(round_id), who)).fetchone()
        total_bytes, = db.execute("SELECT COALESCE(SUM(size), 0) FROM uploads").fetchone()
        free = shutil.disk_usage(self.root).free
        return StoreUsage(int(key_uploads), int(staker_bytes), int(total_bytes), int(free))

    def authorisation_used(self, digest: bytes) -> bool:
        row = self._connection().execute("SELECT 1 FROM uploads WHERE authorisation = ?", (to_hex(digest),)).fetchone()
        return row is not None

    def store(self, staged: Path, *, round_id: int, model: str, staker: str, file_hash: bytes, extension: str,
              received_at: int, authorisation: bytes, signature: str, receipt: DeliveryReceipt) -> StoredUpload:
        """Move a fully received, checked file to its content-addressed name and log it. Returns
        once both are durable; raises sqlite3.IntegrityError if the authorisation was used."""
        with open(staged, "rb+") as fh:
            os.fsync(fh.fileno())
        target = self.file_path(round_id, model, staker, file_hash, extension)
        self._make_dirs(target.parent)
        os.replace(staged, target)  # same bytes if it existed: content-addressed
        fsync_dir(target.parent)
        crash_point("stored")
        size = target.stat().st_size
        with self._write_lock:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                cur = db.execute(
                    "INSERT INTO uploads (round_id, model, staker, file_hash, extension, size, received_at,"
                    " authorisation, signature, receipt_signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (str(round_id), model, checksum_address(staker), to_hex(file_hash), extension, size, received_at,
                     to_hex(authorisation), signature, receipt.signature),
                )
                crash_point("signed")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        receipt = replace(receipt, staker=checksum_address(receipt.staker))
        return StoredUpload(int(cur.lastrowid or 0), round_id, model, checksum_address(staker), file_hash, size,
                            received_at, target, receipt)

    # ------------------------------------------------------------------ reading

    def _rows(self, where: str, args: tuple[object, ...]) -> list[StoredUpload]:
        query = ("SELECT id, round_id, model, staker, file_hash, extension, size, received_at, receipt_signature"
                 f" FROM uploads WHERE {where} ORDER BY id")
        out = []
        for uid, rid, model, staker, fhash, ext, size, received, rsig in self._connection().execute(query, args):
            digest = bytes32_from_hex(fhash)
            receipt = DeliveryReceipt(staker, int(rid), model, digest, int(received), rsig)
            out.append(StoredUpload(int(uid), int(rid), model, staker, digest, int(size), int(received),
                                    self.file_path(int(rid), model, staker, digest, ext), receipt))
        return out

    def uploads(self, round_id: int, model: str | None = None, staker: str | None = None) -> list[StoredUpload]:
        """Every upload of a round (or of one key), oldest first."""
        if model is None:
            return self._rows("round_id = ?", (str(round_id),))
        return self._rows("round_id = ? AND model = ? AND staker = ?", (str(round_id), model, checksum_address(staker or "")))

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
