"""`nmrstake score`: CORR and MMC for prediction files, with numerai-tools."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nmrstake.amounts import parse_nmr
from nmrstake.errors import InputError
from nmrstake.scoring import (
    load_meta_model,
    load_prediction_table,
    load_predictions,
    load_targets,
    prediction_frame,
    score_models,
    targets_overlap_problem,
)


def load_stakes(path: Path) -> pd.Series:
    """A CSV with columns model,stake (NMR, up to 18 decimals) -> stake per model in wei."""
    import csv

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"stakes file {path}: cannot read ({exc})") from None
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or not {"model", "stake"} <= set(reader.fieldnames):
        raise InputError(f"stakes file {path}: needs columns 'model' and 'stake' (found {reader.fieldnames})")
    out: dict[str, int] = {}
    for line, row in enumerate(reader, start=2):
        model = (row.get("model") or "").strip()
        if not model:
            raise InputError(f"stakes file {path} line {line}: empty model")
        if model in out:
            raise InputError(f"stakes file {path} line {line}: model {model!r} given twice")
        out[model] = parse_nmr((row.get("stake") or "").strip(), argument=f"stakes file {path} line {line}")
    if not out:
        raise InputError(f"stakes file {path}: no rows")
    return pd.Series(out, dtype=object)


def score_files(
    predictions: list[Path], targets: Path, meta_model: Path | None = None, stakes: Path | None = None
) -> pd.DataFrame:
    """Score one file per model (model = file stem), or one wide file with a column per model."""
    loaded: dict[str, pd.Series] = {}
    sources: dict[str, Path] = {}
    if len(predictions) == 1:
        table = load_prediction_table(predictions[0])
        if table.shape[1] > 1:
            loaded = {str(c): table[c] for c in table.columns}
            sources = {m: predictions[0] for m in loaded}
    if not loaded:
        for path in predictions:
            name = path.stem
            if name in loaded:
                raise InputError(f"{path}: model '{name}' given twice ({sources[name]} and {path})")
            loaded[name] = load_predictions(path)
            sources[name] = path
    target = load_targets(targets)
    meta = load_meta_model(meta_model) if meta_model else None
    scored_ids = target.index[target.notna().to_numpy()]
    problem = targets_overlap_problem(targets, scored_ids, loaded.values())
    if problem:
        raise InputError(problem)
    frame, problems = prediction_frame(loaded, scored_ids)
    if problems:
        model, why = next(iter(problems.items()))
        raise InputError(f"predictions file {sources[model]} (model {model}): {why}")
    weights = None
    if stakes is not None:
        weights = load_stakes(stakes)
        unknown = sorted(set(weights.index) - set(frame.columns))
        if unknown:
            raise InputError(f"stakes file {stakes}: models without predictions: {', '.join(unknown[:3])}")
        weights = weights.reindex(frame.columns).fillna(0)
    return score_models(frame, target, meta, weights)
