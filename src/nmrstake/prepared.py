"""Prepared predictions: a plain CSV's values, parsed once when the service accepts the file and
kept beside it, so that the oracle scores a round without reading, parsing and hashing ten
thousand CSV files again (issue 22: most of a round's resolution was that).

A prepared file is the object ``<file's key>.values`` in the submission store (beside
``<keccak>.csv``), written by the service before the file itself, only for a file that
:func:`nmrstake.scoring.plain_predictions` accepted. Its bytes, all little-endian::

    magic "NMRPREP1" | keccak-256 of the CSV (32) | CSV size (u64) | ids' fingerprint (32)
    | rows (u64) | rows float64 values, in the file's row order | CRC-32 of everything before (u32)

Trust: a prepared file is the operator's own cache, written by the service from bytes it has just
hashed; the oracle uses one only for inputs it reads from its submission store
(``RoundInputs.prepared``), and only if it is whole (magic, length, CRC), states the size of the
file beside it and the keccak of that file's name. The fingerprint tells whether the file lists
the targets' ids in their order (else the file takes the general loader). Anyone verifying a
round recomputes it from the published CSV files, which are the inputs; no prepared file is
published.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["SUFFIX", "Prepared", "decode", "encode", "prepare", "read_beside"]

#: The suffix of a prepared file's key (and local name), after its CSV's.
SUFFIX = ".values"
MAGIC = b"NMRPREP1"
_HEAD = struct.Struct("<8s32sQ32sQ")
_TAIL = struct.Struct("<I")


@dataclass(frozen=True)
class Prepared:
    """A CSV's keccak and size, the fingerprint of its ids (:func:`nmrstake.scoring.ids_fingerprint`)
    and its values in its row order."""

    keccak: bytes
    size: int
    ids: bytes
    values: np.ndarray


def encode(prepared: Prepared) -> bytes:
    """The prepared file's bytes."""
    values = np.ascontiguousarray(prepared.values, dtype="<f8")
    body = _HEAD.pack(MAGIC, prepared.keccak, prepared.size, prepared.ids, len(values)) + values.tobytes()
    return body + _TAIL.pack(zlib.crc32(body))


def decode(data: bytes) -> Prepared | None:
    """The prepared file in `data`, or None if it is not one whole (a foreign or torn file is
    never used: the caller reads the CSV instead)."""
    if len(data) < _HEAD.size + _TAIL.size:
        return None
    magic, keccak, size, ids, rows = _HEAD.unpack_from(data)
    if magic != MAGIC or len(data) != _HEAD.size + 8 * rows + _TAIL.size:
        return None
    body = memoryview(data)[: -_TAIL.size]
    if _TAIL.unpack_from(data, len(data) - _TAIL.size)[0] != zlib.crc32(body):
        return None
    values = np.frombuffer(data, dtype="<f8", count=rows, offset=_HEAD.size)
    return Prepared(keccak, size, ids, values)


def prepare(raw: bytes, keccak: bytes) -> Prepared | None:
    """The prepared form of the CSV `raw` whose keccak-256 is `keccak`, if it is a plain
    predictions file (:func:`nmrstake.scoring.plain_predictions`); else None."""
    from nmrstake.scoring import plain_predictions

    plain = plain_predictions(raw)
    if plain is None:
        return None
    return Prepared(keccak, len(raw), plain.ids, plain.values)


def _name_keccak(path: Path) -> bytes | None:
    stem = path.name.split(".", 1)[0]
    if len(stem) != 66 or not stem.startswith("0x"):
        return None
    try:
        return bytes.fromhex(stem[2:])
    except ValueError:
        return None


def read_beside(path: Path) -> Prepared | None:
    """The prepared file beside the store's file `path` (``<path>.values``), if there is a whole
    one that states `path`'s size and the keccak its name carries; else None."""
    try:
        data = Path(f"{path}{SUFFIX}").read_bytes()
        size = path.stat().st_size
    except OSError:
        return None
    prepared = decode(data)
    if prepared is None or prepared.size != size or prepared.keccak != _name_keccak(path):
        return None
    return prepared
