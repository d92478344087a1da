"""A round's results: evaluate (score, pay, build the Merkle tree), publish atomically, reload,
and recompute from the published inputs.

Published layout (``RESULTS_DIR/round-<id>/``)::

    manifest.json              canonical JSON; keccak-256 of its bytes is posted on-chain
    results.csv                one row per stake (model, staker, ..., leaf_index, proof)
    tree.json                  the OpenZeppelin StandardMerkleTree dump (absent if no stakes)
    inputs/targets.<ext>       copies of the inputs, byte for byte
    inputs/meta_model.<ext>
    inputs/predictions/<model>.<ext>            one file for every staker of a model, or
    inputs/predictions/<model>/<staker>.<ext>   each staker's own file (stakers sharing a name)

The folder is built in a temporary directory beside it and renamed into place: it is never seen
half-written. Publishing again with identical content is a no-op; with different content it is
refused. :func:`recompute` re-derives everything from the copied inputs, so anyone can check a
round (see docs/payouts.md).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

import nmrstake
from nmrstake.errors import ConfigError, InputError, NmrstakeError
from nmrstake.fsutil import fsync_dir
from nmrstake.hashing import ZERO32, checksum_address, from_hex, keccak_bytes, keccak_file, to_hex
from nmrstake.merkle import LEAF_ENCODING, StandardMerkleTree, leaf_values
from nmrstake.models import check_model_name, model_id
from nmrstake.payouts import PayoutRow, PayoutSummary, RoundParams, StakeEntry, compute_payouts
from nmrstake.scoring import (
    fast_prediction_values,
    load_meta_model,
    load_predictions,
    load_targets,
    prediction_frame,
    score_models,
)

__all__ = [
    "RESULTS_FORMAT",
    "CSV_COLUMNS",
    "RoundStake",
    "RoundInputs",
    "PredictionKey",
    "prediction_label",
    "RoundResult",
    "PublishedRow",
    "PublishedRound",
    "Recomputation",
    "evaluate_round",
    "render_round",
    "publish_round",
    "round_dir",
    "canonical_json",
    "manifest_hash",
    "load_published",
    "recompute",
]

RESULTS_FORMAT = "nmrstake-results-v1"
CSV_COLUMNS = [
    "model", "staker", "stake", "valid", "reason", "corr", "mmc", "score", "fraction",
    "payout", "burn", "leaf_index", "proof",
]  # fmt: skip
_SOFTWARE = ("numerai-tools", "pandas", "numpy", "scipy")


# --------------------------------------------------------------------------------------------
# inputs and evaluation
# --------------------------------------------------------------------------------------------


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
    service stores them so, and stakers who share a model name are then scored apart)."""

    targets: Path
    predictions: Mapping[PredictionKey, Path] = field(default_factory=dict)
    meta_model: Path | None = None


def prediction_label(key: PredictionKey) -> str:
    """A key as text: ``model``, or ``model/Staker`` (never a model name: names have no ``/``)."""
    return key if isinstance(key, str) else f"{key[0]}/{checksum_address(key[1])}"


def _key_model(key: PredictionKey) -> str:
    return key if isinstance(key, str) else key[0]


@dataclass
class RoundResult:
    """Everything derived for a round. ``rows`` are sorted by (model, staker) and are the Merkle
    tree's values in the same order (row ``k`` is leaf index ``k``)."""

    round_id: int
    params: RoundParams
    stakes: list[RoundStake]
    rows: list[PayoutRow]
    summary: PayoutSummary
    tree: StandardMerkleTree | None
    proofs: list[list[str]]
    scores: pd.DataFrame

    @property
    def root(self) -> str:
        """The Merkle root as 0x-hex (32 zero bytes when the round has no stakes)."""
        return self.tree.root if self.tree is not None else to_hex(ZERO32)

    @property
    def leaf_count(self) -> int:
        return len(self.rows)


#: Published reasons of a stake whose file the round did not have (none, or not the committed one).
UNDELIVERED = "no predictions file delivered by close"
NOT_COMMITTED = "does not match the commitment"


def undelivered(reason: str) -> bool:
    """True if a published reason says the stake's committed file was not there to score."""
    return reason == UNDELIVERED or NOT_COMMITTED in reason


def _file_reason(commitment: bytes | None, digest: bytes) -> str | None:
    if commitment is not None and digest != commitment:
        return f"predictions file keccak {to_hex(digest)} {NOT_COMMITTED} {to_hex(commitment)}"
    return None


def check_targets_overlap(
    targets_path: Path, scored_ids: pd.Index, predictions: Iterable[pd.Series], *, any_exact: bool = False
) -> None:
    """Refuse targets that do not match the submissions, by numerai-tools' own rule (at least
    80 % of the ids survive on each side): unless some predictions file shares at least 80 % of
    the targets' scored ids AND at least 80 % of its own ids with them, the targets are what is
    wrong (another round's, or truncated), not every participant's file, and nothing is posted.
    A file whose ids are exactly the targets' (`any_exact`) settles it."""
    from nmrstake.scoring import MIN_OVERLAP

    if any_exact or not len(scored_ids):
        return
    best: tuple[float, int, int, str] | None = None
    for series in predictions:
        shared = len(series.index.intersection(scored_ids))
        fit = min(shared / len(scored_ids), shared / max(len(series), 1))
        if best is None or fit > best[0]:
            best = (fit, shared, len(series), str(series.attrs.get("source", "a predictions file")))
    if best is not None and best[0] < MIN_OVERLAP:
        _, shared, n_file, source = best
        raise InputError(
            f"targets file {targets_path}: shares only {shared} ids with the best-matching predictions file "
            f"({source}: {n_file} ids; targets: {len(scored_ids)} scored ids); at least {MIN_OVERLAP:.0%} of "
            "each side is needed: are these this round's complete targets?"
        )


class _Stages:
    """Reports the seconds each stage took to an optional callback (the benchmark's)."""

    def __init__(self, report: Callable[[str, float], None] | None) -> None:
        self.report = report
        self.last = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        if self.report is not None:
            self.report(stage, now - self.last)
        self.last = now


def evaluate_round(
    round_id: int,
    params: RoundParams,
    stakes: Sequence[RoundStake],
    inputs: RoundInputs,
    *,
    on_stage: Callable[[str, float], None] | None = None,
) -> RoundResult:
    """Score a round and compute its payouts and Merkle tree (pure: reads files, writes nothing).

    A stake is valid iff its model has a predictions file, the file's keccak matches the stake's
    commitment (when one is given), the file loads without error, covers every id that has a
    target, and its predictions are not all equal. Otherwise the stake is invalid (returned in
    full) with the reason recorded. The meta model is ``inputs.meta_model`` if given, else the
    stake-weighted average of the models with valid stakes.

    Raises InputError if the targets (or the meta model) cannot be used: then no stake can be scored.
    """
    if isinstance(round_id, bool) or not isinstance(round_id, int) or round_id < 0:
        raise InputError(f"round id: expected a non-negative integer, got {round_id!r}")
    files: dict[str, Path] = {}  # unit label -> file; a unit is a model, or one staker's model
    for key, path in inputs.predictions.items():
        check_model_name(_key_model(key), argument=f"predictions file {path}: model")
        files[prediction_label(key)] = Path(path)
    targets = load_targets(inputs.targets)
    meta = load_meta_model(inputs.meta_model) if inputs.meta_model is not None else None

    normalised = [
        RoundStake(
            s.model,
            checksum_address(s.staker, argument=f"stake of model {s.model}: staker"),
            s.stake,
            None if s.commitment is None else from_hex(s.commitment, length=32, argument=f"commitment of model {s.model}"),
        )
        for s in stakes
    ]
    ordered = sorted(normalised, key=lambda s: (s.model, s.staker.lower()))
    unit_of: dict[tuple[str, str], str] = {}
    by_model: dict[str, list[RoundStake]] = {}  # by unit: a model, or one staker's own file of it
    for stake in ordered:
        check_model_name(stake.model, argument="stake model")
        own = prediction_label((stake.model, stake.staker))
        unit = own if own in files else stake.model
        unit_of[(stake.model, stake.staker)] = unit
        by_model.setdefault(unit, []).append(stake)

    reasons: dict[tuple[str, str], str] = {}  # (model, staker) -> why invalid
    loaded: dict[str, pd.Series] = {}  # files that needed the general loader
    fast: dict[str, np.ndarray] = {}  # plain files whose ids are the targets' ids, in order
    reference_ids = pa.array(targets.index.astype(str).tolist(), type=pa.string())
    clock = _Stages(on_stage)
    def read(model: str) -> tuple[bytes, bytes, np.ndarray | None] | OSError | None:
        """(raw bytes, keccak, fast-path values) of a model's file; runs in worker threads
        (pyarrow's parser and the hash release the GIL), so a round's files load on every core."""
        path = files.get(model)
        if path is None or not Path(path).is_file():
            return None
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            return exc
        return raw, keccak_bytes(raw), fast_prediction_values(raw, reference_ids)

    models = list(by_model)
    if len(models) > 64:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            read_results = list(pool.map(read, models, chunksize=32))
    else:
        read_results = [read(m) for m in models]
    for model, got in zip(models, read_results):
        model_stakes = by_model[model]
        path = files.get(model)
        if got is None:
            for s in model_stakes:
                reasons[(s.model, s.staker)] = UNDELIVERED
            continue
        published_name = _published_path("predictions", model, Path(path))
        if isinstance(got, OSError):
            for s in model_stakes:
                reasons[(s.model, s.staker)] = f"predictions file {published_name}: cannot read ({got.strerror or got})"
            continue
        raw, digest, values = got
        matching = []
        for s in model_stakes:
            why = _file_reason(s.commitment, digest)
            if why:
                reasons[(s.model, s.staker)] = why
            else:
                matching.append(s)
        if not matching:
            continue
        if values is not None:
            fast[model] = values
            continue
        try:
            # named by its published path, so that the reason is the same when recomputed
            loaded[model] = load_predictions(path, name=published_name)
        except InputError as exc:
            for s in matching:
                reasons[(s.model, s.staker)] = exc.message
    clock("load_and_hash")

    scored_mask = targets.notna().to_numpy()
    scored_ids = targets.index[scored_mask]
    check_targets_overlap(inputs.targets, scored_ids, loaded.values(), any_exact=bool(fast))
    slow_frame, frame_problems = prediction_frame(loaded, scored_ids)
    columns: dict[str, np.ndarray] = {}
    for model in by_model:
        if model in fast:
            column = fast[model][scored_mask]
            if len(column) and column.max() == column.min():
                frame_problems[model] = "predictions are all equal (they cannot be ranked)"
            else:
                columns[model] = column
        elif model in slow_frame.columns:
            columns[model] = slow_frame[model].to_numpy(dtype=np.float64)
    for model, why in frame_problems.items():
        for s in by_model[model]:
            reasons.setdefault((s.model, s.staker), why)
    matrix = np.empty((len(scored_ids), len(columns)), dtype=np.float64)
    for k, column in enumerate(columns.values()):
        matrix[:, k] = column
    frame = pd.DataFrame(matrix, index=pd.Index(scored_ids, name="id"), columns=list(columns))

    valid_stake: dict[str, int] = {}
    for s in ordered:
        if (s.model, s.staker) not in reasons:
            unit = unit_of[(s.model, s.staker)]
            valid_stake[unit] = valid_stake.get(unit, 0) + s.stake
    # Score only the models with at least one valid stake; they alone make the meta model.
    frame = frame[[m for m in frame.columns if m in valid_stake]]
    if frame.shape[1]:
        weights = pd.Series([valid_stake[m] for m in frame.columns], index=frame.columns, dtype=object)
        scores = score_models(frame, targets, meta, weights)
    else:
        scores = pd.DataFrame({"model": pd.Series([], dtype=object), "corr": [], "mmc": []})
    clock("score")
    corr = dict(zip(scores["model"], scores["corr"]))
    mmc = dict(zip(scores["model"], scores["mmc"]))

    entries = [
        StakeEntry(
            model=s.model,
            staker=s.staker,
            stake=s.stake,
            valid=(s.model, s.staker) not in reasons,
            reason=reasons.get((s.model, s.staker), ""),
            corr=corr.get(unit_of[(s.model, s.staker)]),
            mmc=mmc.get(unit_of[(s.model, s.staker)]),
        )
        for s in ordered
    ]
    rows, summary = compute_payouts(entries, params)
    clock("payouts")
    tree: StandardMerkleTree | None = None
    proofs: list[list[str]] = []
    if rows:
        tree = StandardMerkleTree.of(
            [leaf_values(round_id, model_id(r.model), r.staker, r.stake, r.payout, r.burn) for r in rows],
            LEAF_ENCODING,
        )
        proofs = tree.all_proofs()
    clock("tree")
    return RoundResult(round_id, params, list(ordered), rows, summary, tree, proofs, scores)


# --------------------------------------------------------------------------------------------
# rendering the published files
# --------------------------------------------------------------------------------------------


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


def _float_text(value: float | None) -> str:
    return "" if value is None or value != value else repr(float(value))


def _results_csv(result: RoundResult) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for k, row in enumerate(result.rows):
        writer.writerow(
            [
                row.model,
                row.staker,
                str(row.stake),
                "true" if row.valid else "false",
                row.reason,
                _float_text(row.corr),
                _float_text(row.mmc),
                _float_text(row.score),
                _float_text(row.fraction),
                str(row.payout),
                str(row.burn),
                str(k),
                ";".join(result.proofs[k]),
            ]
        )
    return buffer.getvalue().encode("utf-8")


def _ext(path: Path) -> str:
    with open(path, "rb") as handle:
        return ".parquet" if handle.read(4) == b"PAR1" else ".csv"


def _published_path(role: str, label: str | None, source: Path) -> str:
    """Where an input file is copied in the published folder: ``inputs/targets.csv``,
    ``inputs/meta_model.parquet``, ``inputs/predictions/<model>.csv`` or
    ``inputs/predictions/<model>/<staker>.csv`` (see :func:`prediction_label`; extension from content)."""
    if role == "predictions":
        return f"inputs/predictions/{label}{_ext(source)}"
    return f"inputs/{role}{_ext(source)}"


def _input_files(inputs: RoundInputs) -> list[tuple[str, PredictionKey | None, str, Path]]:
    """(role, key, relative path in the folder, source) of every input file, in a fixed order."""
    targets = Path(inputs.targets)
    files: list[tuple[str, PredictionKey | None, str, Path]] = [
        ("targets", None, _published_path("targets", None, targets), targets)
    ]
    if inputs.meta_model is not None:
        meta = Path(inputs.meta_model)
        files.append(("meta_model", None, _published_path("meta_model", None, meta), meta))
    for key in sorted(inputs.predictions, key=prediction_label):
        source = Path(inputs.predictions[key])
        if source.is_file():
            files.append(("predictions", key, _published_path("predictions", prediction_label(key), source), source))
    return files


def _software() -> dict[str, str]:
    versions = {}
    for name in _SOFTWARE:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover
            versions[name] = "unknown"
    return versions


def _manifest(
    result: RoundResult,
    *,
    chain_id: int,
    contract: str,
    files: list[tuple[str, PredictionKey | None, str, Path]],
    generated: Mapping[str, bytes],
    software: Mapping[str, str] | None = None,
    version: str | None = None,
    service: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    summary = result.summary
    input_list = []
    predictions_keccak: dict[str, str] = {}
    targets_keccak = meta_keccak = None
    for role, key, rel, source in files:
        digest = to_hex(keccak_file(source))
        item: dict[str, Any] = {"role": role, "model": None if key is None else _key_model(key), "path": rel,
                                "keccak": digest, "size": source.stat().st_size}
        if isinstance(key, tuple):
            item["staker"] = checksum_address(key[1])
        input_list.append(item)
        if role == "targets":
            targets_keccak = digest
        elif role == "meta_model":
            meta_keccak = digest
        else:
            predictions_keccak[prediction_label(key or "")] = digest
    manifest = {
        "format": RESULTS_FORMAT,
        "round_id": result.round_id,
        "chain_id": chain_id,
        "contract": contract,
        "params": result.params.to_json(),
        "payout_factor": summary.payout_factor_text,
        "payout_factor_float": float(summary.payout_factor),
        "scale": summary.scale_text,
        "scale_float": summary.scale_float,
        "totals": {
            "total_staked": str(summary.total_staked),
            "total_at_risk": str(summary.total_at_risk),
            "total_payout": str(summary.total_payout),
            "total_burn": str(summary.total_burn),
            "raw_total_payout": str(summary.raw_total_payout),
            "stake_count": summary.stake_count,
            "valid_count": summary.valid_count,
        },
        "merkle_root": result.root,
        "leaf_encoding": list(LEAF_ENCODING),
        "leaf_count": result.leaf_count,
        "targets_keccak": targets_keccak,
        "meta_model_keccak": meta_keccak,
        "predictions_keccak": predictions_keccak,
        "commitments": [
            {"model": s.model, "staker": checksum_address(s.staker), "commitment": to_hex(s.commitment)}
            for s in result.stakes
            if s.commitment is not None
        ],
        "inputs": input_list,
        "files": {name: to_hex(keccak_bytes(data)) for name, data in sorted(generated.items())},
        "nmrstake_version": version if version is not None else nmrstake.__version__,
        "software": dict(software) if software is not None else _software(),
    }
    if service:  # the tournament service whose receipts vouch for deliveries (its signer's address)
        manifest["service"] = dict(service)
    return manifest


def render_round(
    result: RoundResult,
    *,
    chain_id: int,
    contract: str,
    inputs: RoundInputs,
    software: Mapping[str, str] | None = None,
    version: str | None = None,
    service: Mapping[str, Any] | None = None,
) -> tuple[dict[str, bytes], list[tuple[str, Path]]]:
    """The published folder's content, without writing it.

    Returns ``(generated, copies)``: ``generated`` maps ``manifest.json``, ``results.csv`` and
    ``tree.json`` to their bytes; ``copies`` lists ``(relative path, source file)`` for ``inputs/``.
    ``software``/``version`` override the recorded versions (used by :func:`recompute`);
    ``service`` (``{"receipt_signer": address}``) names the service whose delivery receipts count.
    """
    if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0:
        raise InputError(f"chain id: expected a positive integer, got {chain_id!r}")
    contract = checksum_address(contract, argument="contract address")
    files = _input_files(inputs)
    generated: dict[str, bytes] = {"results.csv": _results_csv(result)}
    if result.tree is not None:
        generated["tree.json"] = (json.dumps(result.tree.dump(), indent=2) + "\n").encode("ascii")
    manifest = _manifest(
        result, chain_id=chain_id, contract=contract, files=files, generated=generated,
        software=software, version=version, service=service,
    )  # fmt: skip
    generated["manifest.json"] = canonical_json(manifest)
    return generated, [(rel, source) for _, _, rel, source in files]


# --------------------------------------------------------------------------------------------
# publishing
# --------------------------------------------------------------------------------------------


def round_dir(results_dir: str | os.PathLike[str], round_id: int) -> Path:
    """``results_dir/round-<id>``."""
    return Path(results_dir) / f"round-{round_id}"


def _tree_files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def _differences(a: Path, b: Path) -> list[str]:
    """Relative paths whose presence or bytes differ between two folders."""
    fa, fb = _tree_files(a), _tree_files(b)
    diff = sorted(set(fa) ^ set(fb))
    for rel in sorted(set(fa) & set(fb)):
        if fa[rel].stat().st_size != fb[rel].stat().st_size or fa[rel].read_bytes() != fb[rel].read_bytes():
            diff.append(rel)
    return diff


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _link_read_only(source: Path, target: Path) -> bool:
    """Hard-link a predictions file into the published folder and make it read-only, instead of
    copying it (a round's 10,000 files are 1.4 GB). Safe because submissions are never edited in
    place: the submission store writes each file once, by rename, under its own hash, so the
    published name keeps the committed bytes, which the manifest pins by hash. Falls back to a copy across devices."""
    try:
        os.link(source, target)
    except OSError:
        return False
    os.chmod(target, 0o444)
    return True


def publish_round(
    results_dir: str | os.PathLike[str],
    result: RoundResult,
    *,
    chain_id: int,
    contract: str,
    inputs: RoundInputs,
    service: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``results_dir/round-<id>/`` atomically and return its path.

    The folder is built in a temporary directory inside ``results_dir`` and renamed into place.
    If the folder already exists with identical content, nothing is written (idempotent); with
    different content, ConfigError is raised and the existing folder is left untouched.
    """
    generated, copies = render_round(result, chain_id=chain_id, contract=contract, inputs=inputs, service=service)
    results_dir = Path(results_dir)
    final = round_dir(results_dir, result.round_id)
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=results_dir))
    except OSError as exc:
        raise ConfigError(f"results directory {results_dir}: cannot write ({exc.strerror or exc})") from None
    try:
        for name, data in generated.items():
            _write(tmp / name, data)
        for rel, source in copies:
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if Path(rel).parts[:2] == ("inputs", "predictions") and _link_read_only(Path(source), target):
                continue
            shutil.copyfile(source, target)
        for directory in [tmp, *sorted(p for p in tmp.rglob("*") if p.is_dir())]:
            os.chmod(directory, 0o755)
        # One flush of everything written (a round can have 10,000 input copies: one fsync each
        # would dominate), before the rename that makes the folder visible.
        os.sync()
        for _ in range(2):
            if final.exists():
                diff = _differences(final, tmp)
                if not diff:
                    return final  # already published, identical
                raise ConfigError(
                    f"{final}: already published with different content ({', '.join(diff[:3])}"
                    f"{' ...' if len(diff) > 3 else ''}); refusing to overwrite"
                )
            try:
                os.rename(tmp, final)  # atomic; fails if another publisher got there first
            except OSError:
                if final.exists():
                    continue  # lost a race: compare with the winner's folder
                raise
            fsync_dir(results_dir)
            return final
        raise ConfigError(f"{final}: could not be published")  # pragma: no cover
    except OSError as exc:
        raise ConfigError(f"{final}: cannot publish ({exc.strerror or exc})") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# reading back and recomputing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedRow:
    """One row of ``results.csv``."""

    model: str
    staker: str
    stake: int
    valid: bool
    reason: str
    corr: float | None
    mmc: float | None
    score: float | None
    fraction: float
    payout: int
    burn: int
    leaf_index: int
    proof: list[str]


@dataclass
class PublishedRound:
    """A published round folder, parsed."""

    path: Path
    manifest: dict[str, Any]
    manifest_hash: bytes
    round_id: int
    chain_id: int
    contract: str
    params: RoundParams
    payout_factor: Fraction
    scale: Fraction
    total_staked: int
    total_at_risk: int
    total_payout: int
    total_burn: int
    merkle_root: str
    leaf_count: int
    rows: list[PublishedRow]
    tree: StandardMerkleTree | None
    inputs: RoundInputs
    commitments: dict[tuple[str, str], bytes]

    @property
    def results_hash(self) -> str:
        """0x-hex of :attr:`manifest_hash` (the on-chain ``resultsHash``)."""
        return to_hex(self.manifest_hash)

    def integrity_problems(self) -> list[str]:
        """Files that do not match the manifest's hashes, and tree/rows inconsistencies."""
        problems: list[str] = []
        for name, digest in sorted(self.manifest.get("files", {}).items()):
            path = self.path / name
            if not path.is_file():
                problems.append(f"{name}: missing")
            elif to_hex(keccak_file(path)) != digest:
                problems.append(f"{name}: keccak differs from the manifest")
        for item in self.manifest.get("inputs", []):
            path = self.path / item["path"]
            if not path.is_file():
                problems.append(f"{item['path']}: missing")
            elif to_hex(keccak_file(path)) != item["keccak"]:
                problems.append(f"{item['path']}: keccak differs from the manifest")
        if len(self.rows) != self.leaf_count:
            problems.append(f"results.csv: {len(self.rows)} rows, manifest says {self.leaf_count} leaves")
        if self.tree is not None:
            if self.tree.root != self.merkle_root:
                problems.append("tree.json: root differs from the manifest's merkle_root")
            for row in self.rows:
                if not 0 <= row.leaf_index < len(self.tree):
                    problems.append(f"results.csv: model {row.model}: leaf_index out of range")
                    continue
                value = leaf_values(self.round_id, model_id(row.model), row.staker, row.stake, row.payout, row.burn)
                if self.tree.at(row.leaf_index) != value or row.proof != self.tree.get_proof(row.leaf_index):
                    problems.append(f"results.csv: model {row.model}: leaf or proof differs from tree.json")
        elif self.leaf_count:
            problems.append("tree.json: missing")
        return problems


def _opt_float(text: str) -> float | None:
    return float(text) if text != "" else None


def _read_rows(path: Path) -> list[PublishedRow]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames != CSV_COLUMNS:
        raise InputError(f"{path}: unexpected columns {reader.fieldnames}")
    rows = []
    for line, rec in enumerate(reader, start=2):
        try:
            rows.append(
                PublishedRow(
                    model=rec["model"],
                    staker=rec["staker"],
                    stake=int(rec["stake"]),
                    valid={"true": True, "false": False}[rec["valid"]],
                    reason=rec["reason"],
                    corr=_opt_float(rec["corr"]),
                    mmc=_opt_float(rec["mmc"]),
                    score=_opt_float(rec["score"]),
                    fraction=float(rec["fraction"]),
                    payout=int(rec["payout"]),
                    burn=int(rec["burn"]),
                    leaf_index=int(rec["leaf_index"]),
                    proof=rec["proof"].split(";") if rec["proof"] else [],
                )
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise InputError(f"{path}: line {line}: malformed row ({exc})") from None
    return rows


def load_published(path: str | os.PathLike[str]) -> PublishedRound:
    """Parse a published round folder (``round-<id>/``). Raises InputError if it is malformed;
    see :meth:`PublishedRound.integrity_problems` for hash checks."""
    folder = Path(path)
    manifest_path = folder / "manifest.json"
    try:
        raw = manifest_path.read_bytes()
        manifest = json.loads(raw)
    except OSError as exc:
        raise InputError(f"{manifest_path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise InputError(f"{manifest_path}: not JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != RESULTS_FORMAT:
        raise InputError(f"{manifest_path}: not an nmrstake results manifest ({RESULTS_FORMAT})")
    try:
        totals = manifest["totals"]
        inputs_list = manifest["inputs"]
        targets_rel = next(i["path"] for i in inputs_list if i["role"] == "targets")
        meta_rel = next((i["path"] for i in inputs_list if i["role"] == "meta_model"), None)
        inputs = RoundInputs(
            targets=folder / targets_rel,
            predictions={
                ((i["model"], i["staker"]) if i.get("staker") else i["model"]): folder / i["path"]
                for i in inputs_list if i["role"] == "predictions"
            },
            meta_model=folder / meta_rel if meta_rel else None,
        )
        tree_path = folder / "tree.json"
        tree = StandardMerkleTree.load(json.loads(tree_path.read_text())) if tree_path.is_file() else None
        published = PublishedRound(
            path=folder,
            manifest=manifest,
            manifest_hash=keccak_bytes(raw),
            round_id=int(manifest["round_id"]),
            chain_id=int(manifest["chain_id"]),
            contract=str(manifest["contract"]),
            params=RoundParams.from_json(manifest["params"]),
            payout_factor=Fraction(manifest["payout_factor"]),
            scale=Fraction(manifest["scale"]),
            total_staked=int(totals["total_staked"]),
            total_at_risk=int(totals["total_at_risk"]),
            total_payout=int(totals["total_payout"]),
            total_burn=int(totals["total_burn"]),
            merkle_root=str(manifest["merkle_root"]),
            leaf_count=int(manifest["leaf_count"]),
            rows=_read_rows(folder / "results.csv"),
            tree=tree,
            inputs=inputs,
            commitments={
                (c["model"], c["staker"]): from_hex(c["commitment"], length=32, argument="commitment")
                for c in manifest.get("commitments", [])
            },
        )
    except NmrstakeError:
        raise
    except (KeyError, TypeError, ValueError, StopIteration, OSError) as exc:
        raise InputError(f"{manifest_path}: malformed manifest ({type(exc).__name__}: {exc})") from None
    return published


@dataclass
class Recomputation:
    """The result of :func:`recompute`: the re-derived round and how it compares."""

    published: PublishedRound
    result: RoundResult
    manifest_hash: bytes
    differences: list[str]
    notes: list[str]

    @property
    def ok(self) -> bool:
        """True if every published file and hash was reproduced exactly."""
        return not self.differences

    @property
    def root(self) -> str:
        return self.result.root


def recompute(published_dir: str | os.PathLike[str]) -> Recomputation:
    """Re-derive scores, payouts, the Merkle tree and the manifest from a published folder's
    copied inputs, and compare with what was published.

    Stakes (model, staker, stake) come from ``results.csv``, commitments from the manifest;
    validity, scores, payouts, burns, the root and every published file are recomputed. The
    versions recorded in the manifest are reused when re-rendering it (so its hash can match);
    if the installed versions differ, a note says so (floating-point scores can then differ).
    """
    published = load_published(published_dir)
    differences = published.integrity_problems()
    stakes = [
        RoundStake(r.model, r.staker, r.stake, published.commitments.get((r.model, r.staker)))
        for r in published.rows
    ]
    result = evaluate_round(published.round_id, published.params, stakes, published.inputs)
    generated, _ = render_round(
        result,
        chain_id=published.chain_id,
        contract=published.contract,
        inputs=published.inputs,
        software=published.manifest.get("software", {}),
        version=published.manifest.get("nmrstake_version"),
        service=published.manifest.get("service"),
    )
    notes = []
    local = _software() | {"nmrstake": nmrstake.__version__}
    recorded = dict(published.manifest.get("software", {})) | {"nmrstake": published.manifest.get("nmrstake_version")}
    for name in sorted(local):
        if recorded.get(name) != local[name]:
            notes.append(f"{name}: published with {recorded.get(name)}, recomputed with {local[name]}")

    if result.root != published.merkle_root:
        differences.append(f"merkle root: published {published.merkle_root}, recomputed {result.root}")
    s = result.summary
    for name, mine, theirs in (
        ("total_payout", s.total_payout, published.total_payout),
        ("total_burn", s.total_burn, published.total_burn),
        ("total_staked", s.total_staked, published.total_staked),
        ("total_at_risk", s.total_at_risk, published.total_at_risk),
    ):
        if mine != theirs:
            differences.append(f"{name}: published {theirs}, recomputed {mine}")
    by_key = {(r.model, r.staker): r for r in result.rows}
    for row in published.rows:
        mine_row = by_key.get((row.model, checksum_address(row.staker)))
        if mine_row is None:
            differences.append(f"model {row.model} staker {row.staker}: not recomputed")
            continue
        for attr in ("valid", "payout", "burn"):
            if getattr(mine_row, attr) != getattr(row, attr):
                differences.append(
                    f"model {row.model} staker {row.staker}: {attr} published {getattr(row, attr)},"
                    f" recomputed {getattr(mine_row, attr)}"
                )
    for name in sorted(generated):
        path = published.path / name
        if not path.is_file() or path.read_bytes() != generated[name]:
            differences.append(f"{name}: differs from the recomputed file")
    return Recomputation(
        published=published,
        result=result,
        manifest_hash=keccak_bytes(generated["manifest.json"]),
        differences=_dedupe(differences),
        notes=notes,
    )


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
