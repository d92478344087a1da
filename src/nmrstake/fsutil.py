"""Writing files so that a reader never sees a partial one (temp file, fsync, rename). The
service's databases open through :mod:`nmrstake.storage.database`."""

from __future__ import annotations

import os
import tempfile
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
