"""Writing files so that a reader never sees a partial one (temp file, fsync, rename), and the
one way the service opens its SQLite databases."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry (after a rename into it); a no-op where unsupported."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def make_dirs(folder: Path) -> None:
    """`mkdir -p` whose new entries are durable: the parent of each folder created is fsynced
    (fsyncing only a file's own folder would not make a newly created folder's name durable, and a
    committed row could then point to a file lost with its folder)."""
    folder = Path(folder)
    missing: list[Path] = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir(exist_ok=True)
        fsync_dir(created.parent)


def write_atomic(path: Path, data: bytes | str, *, mode: int = 0o644) -> None:
    """Write `data` to `path` through a temporary file beside it, fsync and rename: the file is
    either the old one or the whole new one, never partial."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def thread_connection(local: threading.local, path: Path) -> sqlite3.Connection:
    """This thread's connection to the SQLite database at `path`, made on first use and kept in
    `local`: autocommit (transactions are explicit), a 30 s busy timeout, write-ahead logging,
    and `synchronous=FULL`, so that a committed row survives a power cut. The service's stores
    (submissions, attestations, the faucet's ledger) all open their databases so."""
    db: sqlite3.Connection | None = getattr(local, "db", None)
    if db is None:
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        local.db = db
    return db
