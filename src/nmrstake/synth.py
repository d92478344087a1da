"""A Numerai-shaped synthetic data set, deterministic for a seed.

The data imitates one tournament round:

* ``ids``: unique strings like Numerai's (``"n"`` + 15 hex digits);
* ``eras``: ``era0001``, ``era0002``, ... (contiguous blocks of rows);
* ``features``: integers 0..4, binned from Gaussians with Numerai's bucket
  proportions 5 % / 20 % / 50 % / 20 % / 5 %;
* ``target``: Numerai's five buckets {0, 0.25, 0.5, 0.75, 1.0}, binned per era with the same
  proportions from a *planted signal* (a fixed linear combination of some features, standardised)
  plus noise;
* ``predictions``: one column per model (``model_00``, ``model_01``, ...), of graded quality.
  Model ``k`` gets ``quality * signal + sqrt(1 - quality**2) * noise`` then ranked to (0, 1];
  qualities run linearly from ``+MAX_QUALITY`` (``model_00``, best) through 0 (random) to
  ``-MAX_QUALITY`` (last, anti-correlated), so every round has winners and losers.

Rounds: :func:`generate` takes ``round_index``; the random stream is seeded from
``numpy.random.SeedSequence([seed, round_index])``, so each round of one seed gets its own ids,
features, targets and predictions, while a model keeps its quality (``model_00`` is always the
best). :func:`generate_round` re-generates a data set for another round with the same settings.

Files (see :func:`write`)::

    features.parquet        id, era, feature_00 .. feature_NN (int8)
    targets.csv             id, target
    predictions/<model>.csv id, prediction   (ranks in (0, 1], full float precision)
    models.csv              model, quality

Floats are written with Python's shortest round-trip repr; read them back exactly with
``pd.read_csv(..., float_precision="round_trip")`` (pandas' default parser may be 1 ulp off).
CSV files use ``\\n`` line endings and are byte-identical for the same seed (and the same
pandas / pyarrow versions for the parquet file), since a predictions file's keccak-256 is its
on-chain commitment.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nmrstake.errors import ConfigError, InputError
from nmrstake.fsutil import write_atomic

__all__ = [
    "SynthData",
    "generate",
    "generate_round",
    "generate_predictions_matrix",
    "write",
    "load",
    "model_names",
    "model_qualities",
    "BUCKETS",
    "PROPORTIONS",
    "MAX_QUALITY",
]

#: Numerai's target (and feature) buckets, and the share of rows in each.
BUCKETS = (0.0, 0.25, 0.5, 0.75, 1.0)
PROPORTIONS = (0.05, 0.20, 0.50, 0.20, 0.05)
_CUM = np.cumsum(PROPORTIONS)[:-1]  # 0.05, 0.25, 0.75, 0.95
# Standard-normal quantiles of the cumulative proportions (features are binned Gaussians).
_NORMAL_CUTS = np.array([-1.6448536269514729, -0.6744897501960817, 0.6744897501960817,
                         1.6448536269514729])

#: Correlation of the best model's raw predictions with the planted signal.
MAX_QUALITY = 0.9
#: Correlation of the (latent) target with the planted signal.
SIGNAL_STRENGTH = 0.2
#: Number of features that carry the signal (the first ones).
SIGNAL_FEATURES = 8

_MODEL_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_CHUNK = 256  # models per block when generating predictions (bounds peak memory)


@dataclass(frozen=True)
class SynthData:
    """One round of synthetic data.

    ``features``: DataFrame with columns ``id``, ``era``, ``feature_*`` (int8), one row per id.
    ``targets``: Series of floats in :data:`BUCKETS`, indexed by id, named ``"target"``.
    ``predictions``: DataFrame indexed by id (index name ``"id"``), one float column per model.
    ``models``: DataFrame with columns ``model``, ``quality`` (best first).
    """

    features: pd.DataFrame
    targets: pd.Series
    predictions: pd.DataFrame
    models: pd.DataFrame
    seed: int
    round_index: int
    n_eras: int

    @property
    def ids(self) -> pd.Index:
        return self.predictions.index

    @property
    def model_names(self) -> list[str]:
        return list(self.models["model"])

    @property
    def rows(self) -> int:
        return len(self.targets)

    def prediction(self, model: str) -> pd.DataFrame:
        """The predictions file of one model as a DataFrame (columns ``id``, ``prediction``)."""
        if model not in self.predictions.columns:
            raise InputError(f"no model '{model}' in this data set")
        return pd.DataFrame({"id": self.predictions.index.to_numpy(),
                             "prediction": self.predictions[model].to_numpy()})


# --------------------------------------------------------------------------- generation


def _check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise InputError(f"{name} must be {bound}, got {value}")
    return value


def model_names(models: int) -> list[str]:
    """``model_00`` .. ``model_NN`` (zero-padded to the width of the largest index, min 2)."""
    models = _check_int("models", models, 1)
    width = max(2, len(str(models - 1)))
    return [f"model_{k:0{width}d}" for k in range(models)]


def model_qualities(models: int) -> np.ndarray:
    """Planted quality of each model: linear from +MAX_QUALITY (first) to -MAX_QUALITY (last)."""
    models = _check_int("models", models, 1)
    if models == 1:
        return np.array([MAX_QUALITY])
    return np.linspace(MAX_QUALITY, -MAX_QUALITY, models)


def _rng(seed: int, round_index: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, round_index])))


def _unique_ids(rng: np.random.Generator, rows: int) -> np.ndarray:
    """``rows`` distinct Numerai-like ids: ``n`` + 15 hex digits (60 random bits)."""
    values = rng.integers(0, 1 << 60, size=rows, dtype=np.int64)
    while True:
        _, first = np.unique(values, return_index=True)
        if len(first) == rows:
            break
        dup = np.ones(rows, dtype=bool)
        dup[first] = False  # redraw every later occurrence of a repeated value
        values[dup] = rng.integers(0, 1 << 60, size=int(dup.sum()), dtype=np.int64)
    return np.array([f"n{v:015x}" for v in values.tolist()], dtype=object)


def _era_sizes(rows: int, n_eras: int) -> np.ndarray:
    base, extra = divmod(rows, n_eras)
    return np.array([base + (1 if e < extra else 0) for e in range(n_eras)])


def _bucket_by_rank(values: np.ndarray, era_sizes: np.ndarray) -> np.ndarray:
    """Bin ``values`` per era into BUCKETS by rank, with PROPORTIONS (exact up to rounding)."""
    out = np.empty(len(values), dtype=np.float64)
    start = 0
    buckets = np.asarray(BUCKETS)
    for size in era_sizes.tolist():
        block = values[start:start + size]
        ranks = np.empty(size, dtype=np.float64)
        ranks[np.argsort(block, kind="stable")] = np.arange(size)
        pct = (ranks + 0.5) / size
        out[start:start + size] = buckets[np.searchsorted(_CUM, pct, side="right")]
        start += size
    return out


def _rank_columns(matrix: np.ndarray) -> np.ndarray:
    """Rank each column to (0, 1]: (rank + 1) / rows, ties broken by position (stable)."""
    rows = matrix.shape[0]
    order = np.argsort(matrix, axis=0, kind="stable")
    ranks = np.empty(matrix.shape, dtype=np.float64)
    positions = np.broadcast_to(((np.arange(rows, dtype=np.float64) + 1.0) / rows)[:, None],
                                matrix.shape)
    np.put_along_axis(ranks, order, positions, axis=0)
    return ranks


def generate(rows: int = 5000, models: int = 20, seed: int = 1, n_features: int = 20,
             n_eras: int | None = None, round_index: int = 0) -> SynthData:
    """Generate one round of synthetic data (deterministic for ``(seed, round_index)``).

    ``n_eras`` defaults to ``max(1, rows // 1000)``. Rows are split into contiguous, nearly
    equal eras. Predictions are computed vectorised in blocks of models, so 10,000 models x
    5,000 rows take a few seconds (and ~0.4 GB for the float64 matrix).
    """
    rows = _check_int("rows", rows, 10)
    models = _check_int("models", models, 1)
    seed = _check_int("seed", seed, 0)
    round_index = _check_int("round_index", round_index, 0)
    n_features = _check_int("n_features", n_features, 1, 999)
    if n_eras is None:
        n_eras = max(1, rows // 1000)
    n_eras = _check_int("n_eras", n_eras, 1, min(rows, 9999))

    rng = _rng(seed, round_index)
    ids = _unique_ids(rng, rows)
    sizes = _era_sizes(rows, n_eras)
    eras = np.repeat([f"era{e + 1:04d}" for e in range(n_eras)], sizes)

    # Features: binned standard normals, 0..4 with Numerai's proportions.
    features = np.searchsorted(_NORMAL_CUTS, rng.standard_normal((rows, n_features)),
                               side="right").astype(np.int8)

    # Planted signal: fixed weights (from the seed, not the round) on the first features.
    k = min(SIGNAL_FEATURES, n_features)
    weights = _rng(seed, 1 << 31).normal(size=k)
    signal = (features[:, :k].astype(np.float64) - 2.0) @ weights
    signal = (signal - signal.mean()) / (signal.std() or 1.0)

    latent = SIGNAL_STRENGTH * signal + np.sqrt(1 - SIGNAL_STRENGTH**2) * rng.standard_normal(rows)
    targets = pd.Series(_bucket_by_rank(latent, sizes), index=pd.Index(ids, name="id"),
                        name="target")

    names = model_names(models)
    qualities = model_qualities(models)
    preds = np.empty((rows, models), dtype=np.float64)
    for start in range(0, models, _CHUNK):
        q = qualities[start:start + _CHUNK]
        noise = rng.standard_normal((rows, len(q)))
        noise *= np.sqrt(1.0 - q**2)
        noise += signal[:, None] * q
        preds[:, start:start + len(q)] = _rank_columns(noise)
    predictions = pd.DataFrame(preds, index=pd.Index(ids, name="id"), columns=names, copy=False)

    width = max(2, len(str(n_features - 1)))
    feature_df = pd.DataFrame(features, columns=[f"feature_{i:0{width}d}" for i in range(n_features)])
    feature_df.insert(0, "era", eras)
    feature_df.insert(0, "id", ids)

    model_df = pd.DataFrame({"model": names, "quality": qualities})
    return SynthData(features=feature_df, targets=targets, predictions=predictions,
                     models=model_df, seed=seed, round_index=round_index, n_eras=n_eras)


def generate_round(data: SynthData, round_index: int, rows: int | None = None) -> SynthData:
    """The data set of another round: same seed, models, features count and eras as ``data``
    (``rows`` defaults to ``data.rows``), new ids / features / targets / predictions.

    ``generate_round(generate(seed=s), r)`` equals ``generate(seed=s, round_index=r)``.
    """
    return generate(rows=data.rows if rows is None else rows, models=len(data.models),
                    seed=data.seed, n_features=data.features.shape[1] - 2,
                    n_eras=data.n_eras, round_index=round_index)


def generate_predictions_matrix(rows: int, models: int, seed: int,
                                round_index: int = 0) -> tuple[pd.Series, pd.DataFrame]:
    """``(targets, predictions)`` of :func:`generate`: a Series indexed by id and a wide
    DataFrame (one column per model) on the same index, e.g. for 10,000 models x 5,000 rows."""
    data = generate(rows=rows, models=models, seed=seed, round_index=round_index)
    return data.targets, data.predictions


# --------------------------------------------------------------------------- files


def _csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ConfigError(f"cannot write features.parquet: pyarrow is unusable ({exc})") from None

    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), sink)
    return sink.getvalue().to_pybytes()


def write(data: SynthData, out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``data`` to ``out_dir`` (created if missing); return its path.

    Refuses (InputError) a directory that is not empty unless ``overwrite=True``. Each file is
    written atomically. With ``overwrite``, stale ``predictions/<model>.csv`` files of models
    not in ``data`` are removed, so ``predictions/`` always matches ``models.csv``.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise InputError(f"{out} is not empty; pass overwrite=True (--overwrite) to replace it")
    for name in data.model_names:
        if not _MODEL_RE.match(name):
            raise InputError(f"invalid model name {name!r} (must match {_MODEL_RE.pattern})")
    pred_dir = out / "predictions"
    pred_dir.mkdir(parents=True, exist_ok=True)

    write_atomic(out / "features.parquet", _parquet_bytes(data.features))
    write_atomic(out / "targets.csv",
                        _csv_bytes(data.targets.rename_axis("id").reset_index()))
    for name in data.model_names:
        write_atomic(pred_dir / f"{name}.csv", _csv_bytes(data.prediction(name)))
    write_atomic(out / "models.csv", _csv_bytes(data.models))

    current = set(data.model_names)
    for stale in pred_dir.glob("*.csv"):
        if stale.stem not in current and _MODEL_RE.match(stale.stem):
            stale.unlink()
    return out


def load(in_dir: str | os.PathLike) -> SynthData:
    """Read a directory written by :func:`write` back (``seed``/``round_index`` are unknown: -1)."""
    src = Path(in_dir)
    for required in ("features.parquet", "targets.csv", "models.csv"):
        if not (src / required).is_file():
            raise InputError(f"not a synthetic data directory: missing {src / required}")
    try:
        features = pd.read_parquet(src / "features.parquet")
        targets = pd.read_csv(src / "targets.csv", dtype={"id": str},
                              float_precision="round_trip").set_index("id")["target"]
        models = pd.read_csv(src / "models.csv", dtype={"model": str},
                             float_precision="round_trip")
        columns = {}
        for name in models["model"]:
            df = pd.read_csv(src / "predictions" / f"{name}.csv", dtype={"id": str},
                             float_precision="round_trip")
            columns[name] = df.set_index("id")["prediction"]
    except FileNotFoundError as exc:
        raise InputError(f"not a synthetic data directory: missing {exc.filename}") from None
    predictions = pd.DataFrame(columns).reindex(targets.index)
    predictions.index.name = "id"
    return SynthData(features=features, targets=targets, predictions=predictions, models=models,
                     seed=-1, round_index=-1, n_eras=int(features["era"].nunique()))

