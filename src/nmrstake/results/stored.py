"""Where a deployment's published rounds are read from: the operator's results folder, or a blob
store (an S3 bucket) that an oracle on one machine pushes to and every service replica reads.

Without a store (the single-host default) nothing changes: a round is published atomically into
``<data>/results/round-<id>/`` (:mod:`nmrstake.results.publish`) and read from there, its files'
identity the folder's (device, inode, times: :func:`~nmrstake.results.read.published_stamp`).

With a store, the oracle still publishes into its own folder first (atomic, restart-safe, as
before), then :meth:`PublishedStore.push` copies the folder to ``results/round-<id>/<name>``: every
file, then ``manifest.json`` last, whose presence is what "published" means to a reader (an
object store has no atomic folder rename; a reader that finds the manifest finds every file it
lists). Pushing a round already there with the same manifest does nothing; with another one it is
refused, as the folder's publishing is. Readers take the round's identity from its objects'
sizes and ETags (:meth:`PublishedStore.stamp`), read it from local copies kept in the store's
cache (:meth:`PublishedStore.folder`, :meth:`PublishedStore.file`), and an oracle on a machine
without the folder copies the whole round down (:meth:`PublishedStore.pull`).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from nmrstake.errors import ConfigError, InputError
from nmrstake.fsutil import fsync_dir
from nmrstake.hashing import keccak_bytes, to_hex
from nmrstake.results.read import PUBLISHED_READ, published_stamp
from nmrstake.results.spec import round_dir
from nmrstake.storage.blobs import BlobNotFound, BlobStore, check_key

#: The key prefix of the published rounds in a store: ``results/round-<id>/<name>``.
RESULTS_PREFIX = "results"
_ROUND = re.compile(r"round-([0-9]+)")

#: A round's identity as :meth:`PublishedStore.stamp` gives it (None: nothing published).
Stamp = tuple[object, ...]


@dataclass(frozen=True)
class PublishedStore:
    """The published rounds of one deployment: `results_dir` (the folder the oracle publishes
    into), and `blobs`, the store they are pushed to and read from (None: the folder alone)."""

    results_dir: Path
    blobs: BlobStore | None = None

    def key(self, round_id: int, name: str) -> str:
        """The key of a round's published file (`name` relative to its folder)."""
        return check_key(f"{RESULTS_PREFIX}/round-{round_id}/{name}", where=self.where())

    def where(self) -> str:
        return self.blobs.url if self.blobs is not None else str(self.results_dir)

    # ------------------------------------------------------------------ reading

    def stamp(self, round_id: int) -> Stamp | None:
        """The identity of the files a reading of the round takes (manifest.json, results.csv,
        tree.json), or None if its manifest is not published. A reading is good for as long as
        the stamp is the same."""
        if self.blobs is None:
            return published_stamp(round_dir(self.results_dir, round_id))
        stats: list[object] = []
        for name in PUBLISHED_READ:
            st = self.blobs.stat(self.key(round_id, name))
            if st is None and name == "manifest.json":
                return None
            stats.append(None if st is None else (st.size, st.identity))
        return tuple(stats)

    def is_published(self, round_id: int) -> bool:
        if self.blobs is None:
            return (round_dir(self.results_dir, round_id) / "manifest.json").is_file()
        return self.blobs.stat(self.key(round_id, "manifest.json")) is not None

    def folder(self, round_id: int) -> Path:
        """A local folder holding the round's manifest.json, results.csv and tree.json as
        published (:func:`~nmrstake.results.read.load_published` reads it): the results folder's,
        or the store's copies in its cache. Its inputs are there only once :meth:`file` fetched
        them. BlobNotFound (an InputError) if the round is not published."""
        if self.blobs is None:
            return round_dir(self.results_dir, round_id)
        folder = self.blobs.fetch(self.key(round_id, "manifest.json")).parent
        for name in PUBLISHED_READ[1:]:
            try:
                self.blobs.fetch(self.key(round_id, name))
            except BlobNotFound:
                (folder / name).unlink(missing_ok=True)  # none published (tree.json of a round without stakes)
        return folder

    def file(self, round_id: int, name: str) -> Path | None:
        """A local file of the round's published `name` (e.g. ``inputs/targets.csv``), or None if
        there is none."""
        if self.blobs is None:
            path = round_dir(self.results_dir, round_id) / name
            return path if path.is_file() else None
        try:
            return self.blobs.fetch(self.key(round_id, name))
        except BlobNotFound:
            return None

    def rounds(self) -> list[int]:
        """The ids of the rounds with a published manifest, newest first."""
        found: set[int] = set()
        if self.blobs is None:
            try:
                entries = list(os.scandir(self.results_dir))
            except FileNotFoundError:
                return []
            for entry in entries:
                match = _ROUND.fullmatch(entry.name)
                if match and os.path.isfile(os.path.join(entry.path, "manifest.json")):
                    found.add(int(match.group(1)))
        else:
            for key in self.blobs.list(f"{RESULTS_PREFIX}/round-"):
                parts = key.split("/")
                match = _ROUND.fullmatch(parts[1])
                if match and parts[2:] == ["manifest.json"]:
                    found.add(int(match.group(1)))
        return sorted(found, reverse=True)

    # ------------------------------------------------------------------ the oracle's side

    def push(self, round_id: int) -> bool:
        """Copy the round's published folder to the store, manifest.json last; whether anything
        was written. Nothing without a store, or when the store holds this very manifest;
        ConfigError (nothing written) when it holds another."""
        if self.blobs is None:
            return False
        local = round_dir(self.results_dir, round_id)
        try:
            manifest = (local / "manifest.json").read_bytes()
        except OSError as exc:
            raise InputError(f"{local / 'manifest.json'}: cannot read ({exc.strerror or exc})") from None
        manifest_key = self.key(round_id, "manifest.json")
        if self.blobs.stat(manifest_key) is not None:
            if self.blobs.get_bytes(manifest_key) == manifest:
                return False
            raise ConfigError(f"{self.blobs.where(manifest_key)}: already published with another manifest than "
                              f"{local}; refusing to overwrite")
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            rel = path.relative_to(local).as_posix()
            if rel != "manifest.json":
                self.blobs.put_file(self.key(round_id, rel), path)
        self.blobs.put_bytes(manifest_key, manifest)
        return True

    def withdraw(self, round_id: int, manifest_hash: bytes) -> None:
        """Remove a round that can no longer be posted (a rejected or superseded result) from the
        store, manifest.json first so that no reader takes it for published; only if the store's
        manifest is the one of `manifest_hash` (the oracle's own folder's). Nothing without a store."""
        if self.blobs is None:
            return
        manifest_key = self.key(round_id, "manifest.json")
        try:
            there = self.blobs.get_bytes(manifest_key)
        except BlobNotFound:
            return
        if keccak_bytes(there) != manifest_hash:
            raise ConfigError(f"{self.blobs.where(manifest_key)}: another result than the one being retired "
                              f"({to_hex(manifest_hash)}); left as it is")
        self.blobs.delete(manifest_key)
        for key in self.blobs.list(f"{RESULTS_PREFIX}/round-{round_id}/"):
            self.blobs.delete(key)

    def pull(self, round_id: int) -> Path | None:
        """The round's published folder on this machine: the results folder's if there is one,
        else every file of the round copied from the store into it (built beside it and renamed
        into place, as publishing does). None if the round is published nowhere."""
        local = round_dir(self.results_dir, round_id)
        if local.is_dir() or self.blobs is None or not self.is_published(round_id):
            return local if local.is_dir() else None
        prefix = f"{RESULTS_PREFIX}/round-{round_id}/"
        keys = self.blobs.list(prefix)
        tmp = self.results_dir / f".round-{round_id}-pulled.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            for key in keys:
                target = tmp / key[len(prefix):]
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.blobs.fetch(key), target)
            os.sync()
            os.rename(tmp, local)
            fsync_dir(self.results_dir)
        except OSError as exc:
            raise ConfigError(f"{local}: cannot copy round {round_id} from {self.blobs.url} "
                              f"({exc.strerror or exc})") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return local
