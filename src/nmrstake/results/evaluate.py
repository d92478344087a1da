"""Evaluate a round: score every stake's predictions, compute payouts and burns, and build the
Merkle tree the oracle posts (pure: reads the input files, writes nothing)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nmrstake.errors import InputError
from nmrstake.hashing import ZERO32, checksum_address, from_hex, keccak_bytes, to_hex
from nmrstake.merkle import LEAF_ENCODING, StandardMerkleTree, leaf_values
from nmrstake.models import check_model_label, check_model_name, is_model_name, label_model_id
from nmrstake.payouts import PayoutRow, PayoutSummary, RoundParams, StakeEntry, compute_payouts
from nmrstake.prepared import read_beside
from nmrstake.results.spec import (
    NOT_A_NAME,
    NOT_COMMITTED,
    UNDELIVERED,
    InputDigest,
    RoundInputs,
    RoundStake,
    key_model,
    prediction_label,
    published_path,
)
from nmrstake.scoring import (
    MIN_OVERLAP,
    IdTemplate,
    TooManyRows,
    fast_prediction_values,
    load_meta_model,
    load_predictions,
    load_targets,
    prediction_frame,
    score_models,
    targets_overlap_problem,
)


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
    #: What the operator should look at before the round's result is final, though nothing of it
    #: stops the round (e.g. targets that no delivered file matches: wrong targets, or junk files).
    alarms: list[str] = field(default_factory=list)
    #: keccak and size of every input file read, by its path as given (``str(path)``): what the
    #: commitments were checked against, recorded by :mod:`nmrstake.results.publish` without
    #: reading the files a second time.
    digests: dict[str, InputDigest] = field(default_factory=dict)

    @property
    def root(self) -> str:
        """The Merkle root as 0x-hex (32 zero bytes when the round has no stakes)."""
        return self.tree.root if self.tree is not None else to_hex(ZERO32)

    @property
    def leaf_count(self) -> int:
        return len(self.rows)


def _digest_of(path: Path) -> InputDigest:
    raw = path.read_bytes()
    return InputDigest(keccak_bytes(raw), len(raw), raw[:4] == b"PAR1")


def _too_few_scored(shared: int, total: int) -> str:
    return (f"only {shared} of the predictions' {total} ids have a target; numerai-tools scores a file when at "
            f"least {MIN_OVERLAP:.0%} of its ids do")


def _file_reason(commitment: bytes | None, digest: bytes) -> str | None:
    if commitment is not None and digest != commitment:
        return f"predictions file keccak {to_hex(digest)} {NOT_COMMITTED} {to_hex(commitment)}"
    return None


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

    A stake is valid iff its model id is a model name, its model has a predictions file, the
    file's keccak matches the stake's commitment (when one is given), the file loads without error,
    covers every id that has a target, and its predictions are not all equal. Otherwise the stake
    is invalid (returned in full) with the reason recorded: nothing a staker sends can stop the
    round. The meta model is ``inputs.meta_model`` if given, else the stake-weighted average of
    the models with valid stakes.

    Raises InputError only if the operator's own inputs cannot be used: the targets or the meta
    model. Targets that no delivered file matches are an alarm (``RoundResult.alarms``), not an error.
    """
    if isinstance(round_id, bool) or not isinstance(round_id, int) or round_id < 0:
        raise InputError(f"round id: expected a non-negative integer, got {round_id!r}")
    files: dict[str, Path] = {}  # unit label -> file; a unit is a model, or one staker's model
    for key, path in inputs.predictions.items():
        check_model_name(key_model(key), argument=f"predictions file {path}: model")
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
        check_model_label(stake.model, argument="stake model")
        own = prediction_label((stake.model, stake.staker))
        unit = own if own in files else stake.model
        unit_of[(stake.model, stake.staker)] = unit
        by_model.setdefault(unit, []).append(stake)

    reasons: dict[tuple[str, str], str] = {  # (model, staker) -> why invalid
        (s.model, s.staker): NOT_A_NAME for s in ordered if not is_model_name(s.model)}
    loaded: dict[str, pd.Series] = {}  # files that needed the general loader
    too_many_rows = 0  # files refused before parsing for their size
    scored_mask = targets.notna().to_numpy()
    scored_ids = targets.index[scored_mask]
    every_id_scored = bool(scored_mask.all())
    template = IdTemplate(list(targets.index))
    digests: dict[str, InputDigest] = {str(Path(inputs.targets)): _digest_of(Path(inputs.targets))}
    if inputs.meta_model is not None:
        digests[str(Path(inputs.meta_model))] = _digest_of(Path(inputs.meta_model))
    # A file of which fewer than 80 % of the ids could have a target is invalid anyway: one of more
    # rows than that is refused before it is parsed, so that no file costs more than an honest one.
    max_rows = int(len(targets) / MIN_OVERLAP) + 1
    clock = _Stages(on_stage)
    models = list(by_model)
    # One row per model, filled as the files are read (no file's bytes are kept): the plain files
    # whose ids are the targets' ids, in order, go straight in; the others are loaded below.
    matrix = np.empty((len(models), len(scored_ids)), dtype=np.float64)
    in_matrix = np.zeros(len(models), dtype=bool)

    def read(pos: int) -> InputDigest | OSError | None:
        """What is learnt of a model's file's bytes, its values put in row ``pos`` when the fast path
        takes it; runs in worker threads (the hash, numpy and Arrow release the GIL), so a
        round's files load on every core."""
        path = files.get(models[pos])
        if path is None or not Path(path).is_file():
            return None
        if inputs.prepared and (prepared := read_beside(Path(path))) is not None:
            # Parsed and hashed by the service at upload: its values go straight in when the file
            # lists the targets' ids in their order; any other file is loaded below.
            if prepared.ids == template.fingerprint and len(prepared.values) == template.count:
                matrix[pos] = prepared.values if every_id_scored else prepared.values[scored_mask]
                in_matrix[pos] = True
            return InputDigest(prepared.keccak, prepared.size, False)
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            return exc
        try:
            values = fast_prediction_values(raw, template)
        except Exception:  # noqa: BLE001 - a staker's bytes: the general loader below names the problem
            values = None
        if values is not None:
            matrix[pos] = values if every_id_scored else values[scored_mask]
            in_matrix[pos] = True
        return InputDigest(keccak_bytes(raw), len(raw), raw[:4] == b"PAR1")

    if len(models) > 64:
        from concurrent.futures import ThreadPoolExecutor

        chunks = [range(k, min(k + 64, len(models))) for k in range(0, len(models), 64)]
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # a task per 64 files
            read_results = [got for chunk in pool.map(lambda c: [read(p) for p in c], chunks) for got in chunk]
    else:
        read_results = [read(pos) for pos in range(len(models))]
    for pos, (model, got) in enumerate(zip(models, read_results)):
        model_stakes = by_model[model]
        model_path = files.get(model)
        if got is None:
            for s in model_stakes:
                reasons.setdefault((s.model, s.staker), UNDELIVERED)
            continue
        if isinstance(got, OSError):
            published_name = published_path("predictions", model, Path(str(model_path)))
            for s in model_stakes:
                reasons[(s.model, s.staker)] = f"predictions file {published_name}: cannot read ({got.strerror or got})"
            continue
        published_name = published_path("predictions", model, Path(str(model_path)), got.parquet)
        digest = got.keccak
        digests[str(Path(str(model_path)))] = got
        matching = []
        for s in model_stakes:
            why = _file_reason(s.commitment, digest)
            if why:
                reasons[(s.model, s.staker)] = why
            else:
                matching.append(s)
        if not matching:
            in_matrix[pos] = False
            continue
        if in_matrix[pos]:
            continue
        try:
            # named by its published path, so that the reason is the same when recomputed
            loaded[model] = load_predictions(Path(str(model_path)), name=published_name, max_rows=max_rows)
        except TooManyRows as exc:
            too_many_rows += 1
            for s in matching:
                reasons[(s.model, s.staker)] = exc.message
        except InputError as exc:
            for s in matching:
                reasons[(s.model, s.staker)] = exc.message
        except Exception as exc:  # noqa: BLE001 - a staker's file must never stop the round
            for s in matching:
                reasons[(s.model, s.staker)] = (f"predictions file {published_name}: cannot be read as predictions "
                                                f"({type(exc).__name__})")
    clock("load_and_hash")

    fast_count = int(in_matrix.sum())
    alarm = targets_overlap_problem(inputs.targets, scored_ids, loaded.values(), any_exact=bool(fast_count))
    if alarm is None and too_many_rows and not fast_count and not loaded:
        alarm = (f"targets file {inputs.targets}: every delivered predictions file ({too_many_rows}) has more rows than "
                 f"{max_rows}, 1.25 x the targets' {len(targets)} ids: are these this round's complete targets?")
    slow_frame, frame_problems = prediction_frame(loaded, scored_ids)
    # numerai-tools scores a file only if at least 80 % of its ids survive: a file of the targets'
    # ids (the fast path) passes unless most targets are NaN; any other file is counted.
    if fast_count and len(scored_ids) < MIN_OVERLAP * len(targets):
        for pos in np.flatnonzero(in_matrix):
            frame_problems.setdefault(models[pos], _too_few_scored(len(scored_ids), len(targets)))
    for model, series in loaded.items():
        shared = len(series.index.intersection(scored_ids))
        if shared < MIN_OVERLAP * len(series):
            frame_problems.setdefault(model, _too_few_scored(shared, len(series)))
    for pos in np.flatnonzero(in_matrix):
        row = matrix[pos]
        if len(row) and row.max() == row.min():
            frame_problems[models[pos]] = "predictions are all equal (they cannot be ranked)"
    for pos, model in enumerate(models):
        if model in slow_frame.columns:
            matrix[pos] = slow_frame[model].to_numpy(dtype=np.float64)
            in_matrix[pos] = True
    for model, why in frame_problems.items():
        for s in by_model[model]:
            reasons.setdefault((s.model, s.staker), why)

    valid_stake: dict[str, int] = {}
    for s in ordered:
        if (s.model, s.staker) not in reasons:
            unit = unit_of[(s.model, s.staker)]
            valid_stake[unit] = valid_stake.get(unit, 0) + s.stake
    # Score only the models with at least one valid stake; they alone make the meta model. Their
    # rows are moved up in place (no second copy of the matrix).
    kept: list[str] = []
    for pos, model in enumerate(models):
        if in_matrix[pos] and model in valid_stake:
            if pos != len(kept):
                matrix[len(kept)] = matrix[pos]
            kept.append(model)
    matrix = matrix[: len(kept)]
    if kept:
        frame = pd.DataFrame(matrix.T, index=pd.Index(scored_ids, name="id"), columns=pd.Index(kept, dtype=object),
                             copy=False)
        weights = pd.Series([valid_stake[m] for m in kept], index=frame.columns, dtype=object)
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
            [leaf_values(round_id, label_model_id(r.model), r.staker, r.stake, r.payout, r.burn) for r in rows],
            LEAF_ENCODING,
        )
        proofs = tree.all_proofs()
    clock("tree")
    alarms = [] if alarm is None else [f"{alarm} Every stake whose file misses them is refunded; if the targets are "
                                       "wrong, correct them and have the guardian reject this posting"]
    return RoundResult(round_id, params, list(ordered), rows, summary, tree, proofs, scores, alarms, digests)
