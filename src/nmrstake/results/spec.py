"""What a round's published results folder is: its layout, its format, and the inputs it records.

Published layout (``RESULTS_DIR/round-<id>/``)::

    manifest.json              canonical JSON; keccak-256 of its bytes is posted on-chain
    results.csv                one row per stake (model, staker, ..., leaf_index, proof)
    tree.json                  the OpenZeppelin StandardMerkleTree dump (absent if no stakes)
    inputs/targets.<ext>       copies of the inputs, byte for byte
    inputs/meta_model.<ext>
    inputs/predictions/<model>.<ext>            one file for every staker of a model, or
    inputs/predictions/<model>/<staker>.<ext>   each staker's own file (stakers sharing a name)

A round is evaluated (:mod:`nmrstake.results.evaluate`), published atomically
(:mod:`nmrstake.results.publish`) and read back and recomputed by anyone
(:mod:`nmrstake.results.read`; see docs/payouts.md). Where an operator keeps each round's
files is :mod:`nmrstake.results.layout`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nmrstake.hashing import checksum_address, keccak_file

RESULTS_FORMAT = "nmrstake-results-v1"
CSV_COLUMNS = [
    "model", "staker", "stake", "valid", "reason", "corr", "mmc", "score", "fraction",
    "payout", "burn", "leaf_index", "proof",
]  # fmt: skip


@dataclass(frozen=True)
class RoundStake:
    """A stake as recorded on-chain at the round's close.

    ``commitment`` is the keccak-256 the staker committed to for the predictions file; if given,
    the stake is valid only if the file's keccak matches it. None skips the check.
    """

    model: str
    staker: str
    stake: int
    commitment: bytes | None = None


#: Whose predictions a file holds: a model name (every staker of that model), or (model, staker).
PredictionKey = str | tuple[str, str]


@dataclass(frozen=True)
class RoundInputs:
    """The files a round is scored from: targets, optional meta model, and predictions keyed by
    model (one file for every staker of it) or by (model, staker) (each staker's own file; the
    service stores them so, and stakers who share a model name are then scored apart).
    `prepared`: the predictions are the submission store's files, whose prepared values
    (:mod:`nmrstake.prepared`, written by the service at upload) may be used instead of parsing
    and hashing them again; only the oracle reading its own store sets it."""

    targets: Path
    predictions: Mapping[PredictionKey, Path] = field(default_factory=dict)
    meta_model: Path | None = None
    prepared: bool = False


def prediction_label(key: PredictionKey) -> str:
    """A key as text: ``model``, or ``model/Staker`` (never a model name: names have no ``/``)."""
    return key if isinstance(key, str) else f"{key[0]}/{checksum_address(key[1])}"


def key_model(key: PredictionKey) -> str:
    return key if isinstance(key, str) else key[0]


#: Published reasons of a stake whose file the round did not have (none, or not the committed one).
UNDELIVERED = "no predictions file delivered by close"
NOT_COMMITTED = "does not match the commitment"
#: Published reason of a stake whose on-chain model id is not a model name (refunded in full).
NOT_A_NAME = "the model id is not a model name, so no predictions file can be delivered for it"


def undelivered(reason: str) -> bool:
    """True if a published reason says the stake's committed file was not there to score."""
    return reason == UNDELIVERED or NOT_COMMITTED in reason


def round_dir(results_dir: str | os.PathLike[str], round_id: int) -> Path:
    """``results_dir/round-<id>``."""
    return Path(results_dir) / f"round-{round_id}"


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, ``,``/``:`` separators, ASCII, no NaN, trailing newline."""
    return (json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False) + "\n").encode(
        "ascii"
    )


def manifest_hash(path: str | os.PathLike[str]) -> bytes:
    """keccak-256 of a ``manifest.json`` file's bytes (or of ``<dir>/manifest.json`` for a
    round folder): the ``resultsHash`` posted on-chain."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    return keccak_file(path)


@dataclass(frozen=True)
class InputDigest:
    """What evaluating a round learnt of an input file's bytes: their keccak-256 and size, and
    whether they are Parquet (else CSV). Publishing records these instead of reading every file
    again."""

    keccak: bytes
    size: int
    parquet: bool


def _ext(path: Path, parquet: bool | None = None) -> str:
    if parquet is None:
        with open(path, "rb") as handle:
            parquet = handle.read(4) == b"PAR1"
    return ".parquet" if parquet else ".csv"


def published_path(role: str, label: str | None, source: Path, parquet: bool | None = None) -> str:
    """Where an input file is copied in the published folder: ``inputs/targets.csv``,
    ``inputs/meta_model.parquet``, ``inputs/predictions/<model>.csv`` or
    ``inputs/predictions/<model>/<staker>.csv`` (see :func:`prediction_label`; extension from
    content: ``parquet`` when known, else the file's first bytes)."""
    if role == "predictions":
        return f"inputs/predictions/{label}{_ext(source, parquet)}"
    return f"inputs/{role}{_ext(source, parquet)}"


