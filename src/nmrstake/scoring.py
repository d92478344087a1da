"""Loading predictions and targets, and scoring models as numerai-tools scores them.

Scores are numerai-tools' (``numerai_tools.scoring``), computed for every model at once by
:func:`score_matrix` (see the comment above it for why the result is numerai-tools' own, within
1e-12; tests/offchain/test_scoring_exactness.py keeps numerai-tools as the oracle):

* CORR = ``numerai_corr(predictions, targets)``;
* MMC = ``correlation_contribution(predictions, meta_model, targets)``, where the meta model is by
  default ``stake_weight(predictions, stakes)``, the stake-weighted average of the staked models'
  predictions.

Files are CSV (UTF-8, comma-separated, a header line) or Parquet (recognised by its ``PAR1`` magic
bytes, whatever the file name). A predictions file has an ``id`` column and one prediction column
of any name; a wide file (:func:`load_prediction_table`) has an ``id`` column and one column per
model. A targets file has ``id`` and ``target`` columns. Every problem raises an
:class:`~nmrstake.errors.InputError` naming the file and, where it applies, the line/row and id.

Decisions (see docs/payouts.md):

* predictions must be finite numbers in [0, 1], without gaps: numerai-tools only uses their ranks,
  but a NaN would silently drop the row for *every* model of the shared frame;
* targets must be in [0, 1] (Numerai's buckets); NaN targets are allowed (ids whose target is not
  known), as numerai-tools drops them, but at least 80 % of the ids must have a target, the share
  numerai-tools requires to survive its id filtering;
* a model whose predictions are all equal cannot be ranked (its CORR is NaN): see
  :func:`prediction_frame`, which reports such models as invalid.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nmrstake.errors import InputError

__all__ = [
    "MIN_OVERLAP",
    "PlainPredictions",
    "ids_fingerprint",
    "plain_predictions",
    "TooManyRows",
    "load_table",
    "load_predictions",
    "load_prediction_table",
    "load_meta_model",
    "load_targets",
    "prediction_frame",
    "targets_overlap_problem",
    "score_models",
]

#: numerai-tools drops ids missing on either side but refuses to drop more than 20 % of them.
MIN_OVERLAP = 0.8

_PARQUET_MAGIC = b"PAR1"
_SHOW = 3  # how many offending ids/rows to name in a message

PathLike = str | os.PathLike[str]


# --------------------------------------------------------------------------------------------
# reading files
# --------------------------------------------------------------------------------------------


def _names(items: Iterable[object], total: int | None = None) -> str:
    """'a, b, c (and 7 more)'."""
    items = list(items)
    shown = ", ".join(repr(x) if isinstance(x, str) else str(x) for x in items[:_SHOW])
    total = len(items) if total is None else total
    return shown + (f" (and {total - _SHOW} more)" if total > _SHOW else "")


class _Table:
    """A file read into a frame, with what is needed to name its rows in messages."""

    def __init__(self, path: Path, frame: pd.DataFrame, is_csv: bool, label: str) -> None:
        self.path = path
        self.frame = frame
        self.is_csv = is_csv
        self.label = label  # how messages name the file

    def where(self, position: int) -> str:
        """'line 7 (id 'n1')' for a CSV file, 'row 6 (id 'n1')' for a Parquet file."""
        ident = self.frame["id"].iloc[position] if "id" in self.frame.columns else None
        place = f"line {position + 2}" if self.is_csv else f"row {position + 1}"
        return place if ident is None or pd.isna(ident) else f"{place} (id {ident!r})"


#: The most rows a predictions file may have anywhere (the service's check of an upload): Numerai's
#: live files have about 6,000. The oracle allows fewer: 1.25 x the round's targets, as a file of
#: which fewer than 80 % of the ids have a target is invalid anyway. Checked before the file is
#: parsed (Parquet's metadata, a CSV's line count), so that a small file of many rows never costs
#: its parse: a 75 kB Parquet file can hold ten million rows.
MAX_PREDICTION_ROWS = 1_000_000
#: The most columns a predictions file may have before it is parsed (it needs two).
MAX_PREDICTION_COLUMNS = 8


class TooManyRows(InputError):
    """A file of more rows than allowed, refused before it was parsed."""


def _too_large(raw: bytes, what: str, label: str, max_rows: int | None, max_columns: int | None) -> None:
    """Refuse, before parsing, a file of more rows or columns than allowed (InputError)."""
    if max_rows is None and max_columns is None:
        return
    if raw[:4] == _PARQUET_MAGIC:
        import pyarrow.parquet as pq

        try:
            meta = pq.ParquetFile(io.BytesIO(raw)).metadata
        except Exception as exc:  # pyarrow raises many types
            raise InputError(f"{what} file {label}: not a readable Parquet file ({_one_line(exc)})") from None
        rows, columns = int(meta.num_rows), int(meta.num_columns)
    else:
        rows = raw.count(b"\n") + (0 if raw.endswith(b"\n") else 1) - 1  # lines after the header
        first = raw.split(b"\n", 1)[0]
        columns = first.count(b",") + 1
    if max_columns is not None and columns > max_columns:
        raise InputError(f"{what} file {label}: {columns} columns; a predictions file has an id column and one "
                         "prediction column")
    if max_rows is not None and rows > max_rows:
        raise TooManyRows(f"{what} file {label}: {rows} rows, more than the {max_rows} allowed")


def _read(path: PathLike, what: str, name: str | None = None, *, max_rows: int | None = None,
          max_columns: int | None = None) -> _Table:
    """Read a CSV or Parquet file into a frame with a string ``id`` column (checked).
    Messages name the file ``name`` if given, else its path. A file of more than `max_rows` rows
    or `max_columns` columns is refused before it is parsed."""
    path = Path(path)
    label = name if name is not None else str(path)
    if not path.exists():
        raise InputError(f"{what} file {label}: no such file")
    if not path.is_file():
        raise InputError(f"{what} file {label}: not a regular file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{what} file {label}: cannot read ({exc.strerror or exc})") from None
    if not raw.strip():
        raise InputError(f"{what} file {label}: the file is empty")
    _too_large(raw, what, label, max_rows, max_columns)

    if raw[:4] == _PARQUET_MAGIC:
        is_csv = False
        try:
            frame = pd.read_parquet(io.BytesIO(raw))
        except Exception as exc:  # pyarrow raises many types
            raise InputError(f"{what} file {label}: not a readable Parquet file ({_one_line(exc)})") from None
        if "id" not in frame.columns and frame.index.name == "id":
            frame = frame.reset_index()  # Numerai's Parquet files keep the ids as the index
        frame.columns = [str(c) for c in frame.columns]
    else:
        is_csv = True
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{what} file {label}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start});"
                " expected a UTF-8 CSV or a Parquet file"
            ) from None
        text = text.removeprefix("\ufeff")
        header = next(csv.reader([text.partition("\n")[0].rstrip("\r")]), [])
        from collections import Counter

        duplicated = sorted(c for c, n in Counter(header).items() if n > 1)
        if duplicated:
            raise InputError(f"{what} file {label}: duplicate column names in the header: {_names(duplicated)}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(
                    io.StringIO(text),
                    dtype={"id": str},
                    index_col=False,
                    float_precision="round_trip",
                    skip_blank_lines=True,
                )
        except pd.errors.EmptyDataError:
            raise InputError(f"{what} file {label}: no header line (the file is empty)") from None
        except pd.errors.ParserWarning:
            raise InputError(f"{what} file {label}: a line has more fields than the header") from None
        except (pd.errors.ParserError, ValueError) as exc:
            raise InputError(f"{what} file {label}: not a valid CSV file ({_one_line(exc)})") from None

    if "id" not in frame.columns:
        raise InputError(f"{what} file {label}: no 'id' column (columns: {_names(list(frame.columns))})")
    if len(frame) == 0:
        raise InputError(f"{what} file {label}: no rows after the header")
    table = _Table(path, frame, is_csv, label)
    ids = frame["id"]
    missing = ids.isna() | (ids.astype(str).str.strip() == "")
    if missing.any():
        first = int(np.flatnonzero(missing.to_numpy())[0])
        raise InputError(f"{what} file {label}: empty id at {table.where(first)}")
    if ids.dtype != object or not all(isinstance(x, str) for x in ids.iloc[:1]):
        frame["id"] = ids.astype(str)
    dup = frame["id"].duplicated(keep=False)
    if dup.any():
        dup_ids = pd.unique(frame["id"][dup])
        raise InputError(f"{what} file {label}: duplicate ids: {_names(dup_ids)}")
    return table


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _check_values(
    table: _Table,
    columns: list[str],
    what: str,
    *,
    allow_nan: bool,
    low: float = 0.0,
    high: float = 1.0,
) -> pd.DataFrame:
    """Check that ``columns`` hold finite numbers in [low, high] (NaN only if ``allow_nan``).

    Returns the columns as a float64 frame indexed by id. Vectorised: cheap on wide files.
    """
    frame = table.frame
    label = table.label
    out: dict[str, np.ndarray] = {}
    for col in columns:
        series = frame[col]
        if series.dtype == bool or not (pd.api.types.is_numeric_dtype(series.dtype)):
            numeric = pd.to_numeric(series, errors="coerce")
            bad = numeric.isna() & series.notna() | series.map(lambda v: type(v) is bool)
            if bad.any():
                first = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(
                    f"{what} file {label}: column {col!r}: {series.iloc[first]!r} is not a number"
                    f" at {table.where(first)}"
                )
            series = numeric
        out[col] = series.to_numpy(dtype=np.float64, na_value=np.nan)
    if not out:
        return pd.DataFrame(index=pd.Index(frame["id"], name="id"))
    values = np.column_stack(list(out.values())) if len(out) > 1 else next(iter(out.values()))[:, None]

    def first_bad(mask: np.ndarray) -> tuple[int, str]:
        row, colpos = np.argwhere(mask)[0]
        return int(row), columns[int(colpos)]

    nan = np.isnan(values)
    if not allow_nan and nan.any():
        row, col = first_bad(nan)
        count = int(nan.sum())
        raise InputError(
            f"{what} file {label}: column {col!r}: missing or NaN value at {table.where(row)}"
            + (f" ({count} missing values in all)" if count > 1 else "")
        )
    with np.errstate(invalid="ignore"):
        inf = np.isinf(values)
        if inf.any():
            row, col = first_bad(inf)
            raise InputError(f"{what} file {label}: column {col!r}: infinite value at {table.where(row)}")
        outside = (values < low) | (values > high)
    if outside.any():
        row, col = first_bad(outside)
        raise InputError(
            f"{what} file {label}: column {col!r}: {values[row, columns.index(col)]!r} is outside"
            f" [{low:g}, {high:g}] at {table.where(row)}"
        )
    result = pd.DataFrame(values, index=pd.Index(frame["id"].to_numpy(), name="id"), columns=columns)
    return result


def load_table(path: PathLike, *, what: str = "predictions", name: str | None = None) -> pd.DataFrame:
    """Read a CSV/Parquet file into a frame with a string ``id`` column; checks the file's
    readability, encoding, the ``id`` column (present, non-empty, unique) but not the values."""
    return _read(path, what, name).frame


def load_predictions(path: PathLike, *, what: str = "predictions", name: str | None = None,
                     max_rows: int = MAX_PREDICTION_ROWS) -> pd.Series:
    """Load a predictions file: ``id`` and exactly one prediction column (any name), at most
    `max_rows` rows (checked before parsing).

    Returns a float64 Series indexed by id (index name ``id``), named after the column, with
    ``attrs["source"]`` set to the file's path. Values must be finite numbers in [0, 1].
    Error messages name the file ``name`` if given (e.g. its published path), else its path.
    """
    table = _read(path, what, name, max_rows=max_rows, max_columns=MAX_PREDICTION_COLUMNS)
    columns = [c for c in table.frame.columns if c != "id"]
    if not columns:
        raise InputError(f"{what} file {table.label}: no prediction column (only 'id')")
    if len(columns) > 1:
        raise InputError(
            f"{what} file {table.label}: expected one prediction column besides 'id', found"
            f" {len(columns)}: {_names(columns)}"
        )
    frame = _check_values(table, columns, what, allow_nan=False)
    series = frame[columns[0]]
    series.attrs["source"] = str(table.path)
    return series


def load_meta_model(path: PathLike, *, name: str | None = None) -> pd.Series:
    """Load a meta-model file (same format and checks as a predictions file), named ``meta_model``."""
    series = load_predictions(path, what="meta model", name=name).rename("meta_model")
    series.attrs["source"] = str(Path(path))
    return series


def load_prediction_table(path: PathLike, *, what: str = "predictions", name: str | None = None) -> pd.DataFrame:
    """Load a wide predictions file: ``id`` and one column per model.

    Returns a float64 DataFrame indexed by id, one column per model (column names as in the file),
    with ``attrs["source"]`` set. Values must be finite numbers in [0, 1] (checked vectorised).
    """
    table = _read(path, what, name)
    columns = [c for c in table.frame.columns if c != "id"]
    if not columns:
        raise InputError(f"{what} file {table.label}: no prediction column (only 'id')")
    frame = _check_values(table, columns, what, allow_nan=False)
    frame.attrs["source"] = str(table.path)
    return frame


def load_targets(path: PathLike, *, column: str = "target", name: str | None = None) -> pd.Series:
    """Load a targets file: ``id`` and ``target`` (other columns are ignored).

    Targets must be numbers in [0, 1] (Numerai's buckets 0, 0.25, ..., 1). NaN (an empty cell) is
    allowed for ids whose target is unknown, as numerai-tools drops them; but at least 80 % of the
    ids must have a target, and the known targets must not all be equal. Returns a float64 Series
    indexed by id, named ``target``, with ``attrs["source"]`` set.
    """
    table = _read(path, "targets", name)
    if column not in table.frame.columns:
        raise InputError(
            f"targets file {table.label}: no {column!r} column (columns: {_names(list(table.frame.columns))})"
        )
    series = _check_values(table, [column], "targets", allow_nan=True)[column].rename("target")
    known = int(series.notna().sum())
    if known < MIN_OVERLAP * len(series):
        raise InputError(
            f"targets file {table.label}: only {known} of {len(series)} ids have a target;"
            f" numerai-tools needs at least {MIN_OVERLAP:.0%}"
        )
    if series.nunique(dropna=True) < 2:
        raise InputError(f"targets file {table.label}: all targets are equal; no model can be scored against them")
    series.attrs["source"] = str(table.path)
    return series


# --------------------------------------------------------------------------------------------
# the shared frame
# --------------------------------------------------------------------------------------------


def prediction_frame(
    predictions: Mapping[str, pd.Series], ids: pd.Index | Iterable[str]
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Build the shared scoring frame (index ``ids``, one column per model) once.

    ``ids`` are the ids to score on (normally the ids that have a target). A model whose
    predictions miss some of these ids, or whose predictions are all equal on them (they cannot be
    ranked), is left out and reported in the returned ``{model: reason}`` dict; ids a model predicts
    beyond ``ids`` are ignored. Columns keep the mapping's order.
    """
    ids = pd.Index(ids, name="id")
    if not predictions:
        return pd.DataFrame(index=ids, dtype=np.float64), {}
    models = list(predictions)
    # One column at a time into a single (Fortran-ordered) block: no per-model frames, no
    # union of indexes; the common case (a file listing exactly the scored ids) is a plain copy.
    values = np.empty((len(ids), len(models)), dtype=np.float64, order="F")
    invalid: dict[str, str] = {}
    for pos, model in enumerate(models):
        series = predictions[model]
        if series.index.equals(ids):
            values[:, pos] = series.to_numpy(dtype=np.float64)
        elif not series.index.is_unique:
            invalid[model] = "predictions have duplicate ids"
            values[:, pos] = 0.0
        else:
            values[:, pos] = series.reindex(ids).to_numpy(dtype=np.float64)
    missing = np.isnan(values).sum(axis=0)
    for pos in np.flatnonzero(missing):
        model = models[pos]
        absent = ids[np.isnan(values[:, pos])]
        invalid[model] = f"predictions miss {int(missing[pos])} of the {len(ids)} scored ids (e.g. {_names(absent)})"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: already reported
        constant = np.nanmax(values, axis=0) == np.nanmin(values, axis=0) if len(ids) else np.ones(len(models), bool)
    for pos in np.flatnonzero(constant):
        invalid.setdefault(models[pos], "predictions are all equal (they cannot be ranked)")
    keep = [pos for pos, model in enumerate(models) if model not in invalid]
    if len(keep) < len(models):
        values = values[:, keep]
    frame = pd.DataFrame(values, index=ids, columns=pd.Index([models[p] for p in keep], dtype=object), copy=False)
    return frame, invalid


# --------------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------------


def targets_overlap_problem(
    targets_path: Path, scored_ids: pd.Index, predictions: Iterable[pd.Series], *, any_exact: bool = False
) -> str | None:
    """Whether the targets match no predictions file, by numerai-tools' own rule (at least 80 % of
    the ids survive on each side): unless some file shares at least 80 % of the targets' scored ids
    AND at least 80 % of its own ids with them, say so (None when one does, when a file's ids are
    exactly the targets' (`any_exact`), or when there is no file). For `nmrstake score` that is an
    error; for the oracle, an alarm: a round's files are the stakers', and none of them may hold
    the round (docs/oracle.md)."""
    if any_exact or not len(scored_ids):
        return None
    best: tuple[float, int, int, str] | None = None
    for series in predictions:
        shared = len(series.index.intersection(scored_ids))
        fit = min(shared / len(scored_ids), shared / max(len(series), 1))
        if best is None or fit > best[0]:
            best = (fit, shared, len(series), str(series.attrs.get("source", "a predictions file")))
    if best is None or best[0] >= MIN_OVERLAP:
        return None
    _, shared, n_file, source = best
    return (f"targets file {targets_path}: shares only {shared} ids with the best-matching predictions file "
            f"({source}: {n_file} ids; targets: {len(scored_ids)} scored ids); at least {MIN_OVERLAP:.0%} of "
            "each side is needed: are these this round's complete targets?")


def _source(obj: pd.Series | pd.DataFrame, default: str) -> str:
    source = obj.attrs.get("source") if hasattr(obj, "attrs") else None
    return f"{default} file {source}" if source else default


def _filter_check(
    s1_ids: pd.Index, s1_len: int, s1_name: str, s2_ids: pd.Index, s2_len: int, s2_name: str
) -> pd.Index:
    """Mirror numerai-tools' ``filter_sort_index`` on ids: the shared non-NaN ids must be at
    least 80 % of each side; raise an InputError naming both sides if not."""
    ids = s1_ids.intersection(s2_ids)
    for name, length, other in ((s1_name, s1_len, s2_name), (s2_name, s2_len, s1_name)):
        if length == 0 or len(ids) / length < MIN_OVERLAP:
            raise InputError(
                f"{name}: only {len(ids)} of its {length} ids are shared with {other};"
                f" numerai-tools needs at least {MIN_OVERLAP:.0%}"
            )
    return ids


def score_models(
    predictions: pd.DataFrame,
    targets: pd.Series,
    meta_model: pd.Series | None = None,
    stakes: pd.Series | None = None,
) -> pd.DataFrame:
    """Score every model (column of ``predictions``) as numerai-tools does, all at once.

    Arguments:
        predictions: index id, one float column per model, no NaN (see :func:`prediction_frame`).
        targets: index id, values in [0, 1]; NaN allowed (dropped by numerai-tools).
        meta_model: the meta model to compute MMC against; by default
            ``stake_weight(predictions, stakes)``.
        stakes: stake per model (wei as int, or any non-negative number), used as weights of the
            default meta model; models with a zero stake get no weight. If ``stakes`` is None or
            sums to zero, every model gets the same weight.

    Returns:
        A DataFrame with columns ``model``, ``corr``, ``mmc`` (floats), one row per column of
        ``predictions``, in the same order. CORR is NaN for a model whose predictions are constant.

    Raises:
        InputError: NaN/inf predictions, duplicate ids or models, unknown staked models, or too
        few ids shared between predictions, targets and meta model (naming the files).
    """
    if not isinstance(predictions, pd.DataFrame):
        raise InputError("predictions: expected a DataFrame with one column per model")
    if predictions.shape[1] == 0:
        return pd.DataFrame({"model": pd.Series([], dtype=object), "corr": [], "mmc": []}).astype(
            {"corr": np.float64, "mmc": np.float64}
        )
    pred_name = _source(predictions, "predictions")
    tgt_name = _source(targets, "targets")
    if not predictions.columns.is_unique:
        dup = predictions.columns[predictions.columns.duplicated()].unique()
        raise InputError(f"{pred_name}: duplicate models: {_names(list(dup))}")
    if not predictions.index.is_unique:
        dup = predictions.index[predictions.index.duplicated()].unique()
        raise InputError(f"{pred_name}: duplicate ids: {_names(list(dup))}")
    if not targets.index.is_unique:
        dup = targets.index[targets.index.duplicated()].unique()
        raise InputError(f"{tgt_name}: duplicate ids: {_names(list(dup))}")

    values = predictions.to_numpy()  # a view for a single-dtype frame
    if not np.issubdtype(values.dtype, np.number):
        raise InputError(f"{pred_name}: predictions must be numbers")
    finite = np.isfinite(values)
    if not finite.all():
        bad_cols = predictions.columns[~finite.all(axis=0)]
        raise InputError(
            f"{pred_name}: missing, NaN or infinite predictions for models {_names(list(bad_cols))}"
        )
    with np.errstate(invalid="ignore"):
        t_values = targets.to_numpy(dtype=np.float64)
        if np.isinf(t_values).any() or ((t_values < 0) | (t_values > 1)).any():
            raise InputError(f"{tgt_name}: targets must be numbers in [0, 1]")

    # numerai-tools' id filtering, checked up front for a clear message.
    target_ids = targets.index[~np.isnan(t_values)]
    pred_ids = predictions.index
    _filter_check(target_ids, len(targets), tgt_name, pred_ids, len(pred_ids), pred_name)

    if meta_model is not None:
        mm_name = _source(meta_model, "meta model")
        if not meta_model.index.is_unique:
            dup = meta_model.index[meta_model.index.duplicated()].unique()
            raise InputError(f"{mm_name}: duplicate ids: {_names(list(dup))}")
        m_values = meta_model.to_numpy(dtype=np.float64)
        if np.isinf(m_values).any():
            raise InputError(f"{mm_name}: infinite values")
        mm_ids = meta_model.index[~np.isnan(m_values)]
        # the three filterings of correlation_contribution, in its order
        ids = _filter_check(mm_ids, len(meta_model), mm_name, pred_ids, len(pred_ids), pred_name)
        ids = _filter_check(target_ids, len(targets), tgt_name, ids, len(ids), f"{pred_name} and {mm_name}")
        _filter_check(target_ids.intersection(ids), len(ids), tgt_name, mm_ids.intersection(ids), len(ids), mm_name)

    # CORR's ids: those with a target (numerai-tools sorts them; the order only changes sums).
    scored = targets.reindex(pred_ids).notna().to_numpy()
    if scored.all():
        matrix = values.T  # models x ids: C-contiguous when the frame is one block
    else:
        matrix = values[scored].T
        pred_ids = pred_ids[scored]
    corr, mmc = score_values(np.ascontiguousarray(matrix, dtype=np.float64), pred_ids, targets,
                             meta_model=meta_model, weights=_weights(stakes, predictions.columns) if meta_model is None
                             else None, models=predictions.columns)
    return pd.DataFrame({"model": np.asarray(predictions.columns, dtype=object), "corr": corr, "mmc": mmc})


def score_values(
    matrix: np.ndarray,
    ids: pd.Index,
    targets: pd.Series,
    *,
    meta_model: pd.Series | None = None,
    weights: pd.Series | None = None,
    models: pd.Index | None = None,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(CORR, MMC) of every row of ``matrix`` (models x ``ids``, the ids that have a target), as
    numerai-tools' ``numerai_corr`` and ``correlation_contribution`` compute them, with the meta
    model ``meta_model`` or else numerai-tools' ``stake_weight`` of ``weights`` (a weight per
    model of ``models``, the rows' names). Inputs are checked by :func:`score_models`."""
    if meta_model is None:
        assert weights is not None and models is not None
        meta = stake_weighted_meta(matrix, models.get_indexer(weights.index), weights.to_numpy(dtype=np.float64))
        return score_matrix(matrix, _vectors(targets, ids, meta), threads=threads)
    meta_values = meta_model.reindex(ids).to_numpy(dtype=np.float64)
    known = ~np.isnan(meta_values)
    vectors = _vectors(targets, ids, meta_values if known.all() else np.zeros(len(ids)))
    if known.all():
        return score_matrix(matrix, vectors, threads=threads)
    return score_matrix(matrix, vectors, mmc_columns=known, threads=threads,
                        mmc_vectors=_vectors(targets, ids[known], meta_values[known]))


def _weights(stakes: pd.Series | None, models: pd.Index) -> pd.Series:
    """Stake weights (float) for ``stake_weight``: positive stakes of known models, or equal
    weights if there are none."""
    if stakes is not None and len(stakes):
        if not stakes.index.is_unique:
            stakes = stakes.groupby(level=0, sort=False).sum()
        unknown = stakes.index.difference(models)
        if len(unknown):
            raise InputError(f"stakes: models without predictions: {_names(list(unknown))}")
        weights = pd.Series([float(s) for s in stakes.to_numpy()], index=stakes.index, dtype=np.float64)
        if (weights < 0).any() or not np.isfinite(weights.to_numpy()).all():
            raise InputError("stakes: must be finite and non-negative")
        weights = weights[weights > 0]
        if len(weights):
            return weights
    return pd.Series(1.0, index=models, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# the fast path for a round's many files
# --------------------------------------------------------------------------------------------


class IdTemplate:
    """The ids a round's files are expected to list, in order, prepared for
    :func:`fast_prediction_values` (which compares a file's id bytes with them)."""

    def __init__(self, ids: Sequence[str]) -> None:
        import pyarrow as pa

        encoded = [str(i).encode("utf-8") for i in ids]
        self.count = len(encoded)
        lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=self.count)
        self.lengths = lengths
        # An id holding a separator, a quote or nothing cannot be compared byte for byte: such a
        # round always takes the general loader.
        self.usable = (0 < self.count and int(lengths.sum()) < 1 << 31
                       and all(e and not any(b in e for b in (b",", b"\n", b"\r", b'"')) for e in encoded))
        #: the validity bitmap of every other string (string 2k valid, 2k + 1 null)
        self.values_mask = pa.py_buffer(np.packbits(np.arange(2 * self.count) % 2 == 0, bitorder="little"))
        #: the ids as :func:`fast_prediction_values` reads a file's: string 2k is id k, the others null
        bounds = np.zeros(2 * self.count, dtype=np.int32)
        if self.usable:
            bounds[1:] = np.repeat(np.cumsum(lengths), 2)[:-1]
        self.ids = pa.StringArray.from_buffers(max(2 * self.count - 1, 0), pa.py_buffer(bounds),
                                               pa.py_buffer(b"".join(encoded) if self.usable else b""),
                                               self.values_mask)
        #: :func:`ids_fingerprint` of the ids: a prepared file (:mod:`nmrstake.prepared`) with the
        #: same fingerprint lists these ids in this order
        self.fingerprint = ids_fingerprint(lengths, b"".join(encoded))


#: The bytes of a "plain" predictions file (see :func:`plain_predictions_ok`): letters, digits,
#: ``_ . + -``, the comma and the newline. No quote, space, tab, carriage return, BOM or byte
#: above 0x7f, so no id needs stripping and no value is anything but a number's digits.
_PLAIN_BYTES = np.zeros(256, dtype=bool)
_PLAIN_BYTES[list(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.+-,\n")] = True
#: pandas' default missing-value strings that plain bytes can spell: an id that reads as one of
#: them is "missing" to load_predictions, so such a file takes the full check.
_PANDAS_NA_IDS = ("NA", "NULL", "NaN", "None", "nan", "null", "-NaN", "-nan", "-NA", "NAN")


@dataclass(frozen=True)
class PlainPredictions:
    """What :func:`plain_predictions` reads of a plain predictions file: its values in the file's
    row order and the fingerprint of its ids (:func:`ids_fingerprint`: equal iff the file lists
    the same ids in the same order)."""

    values: np.ndarray
    ids: bytes


def ids_fingerprint(lengths: np.ndarray, data: bytes | memoryview) -> bytes:
    """The SHA-256 of a list of ids given as their byte lengths and their bytes run together: the
    lengths as little-endian uint32, then the bytes. Two lists have the same fingerprint iff they
    hold the same ids in the same order (SHA-256 rather than keccak: it is off chain, and three
    times faster here)."""
    import hashlib

    digest = hashlib.sha256(np.ascontiguousarray(lengths, dtype="<u4").tobytes())
    digest.update(data)
    return digest.digest()


def plain_predictions_ok(raw: bytes, *, max_rows: int = MAX_PREDICTION_ROWS) -> bool:
    """True only if :func:`load_predictions` accepts `raw` (see :func:`plain_predictions`)."""
    return plain_predictions(raw, max_rows=max_rows) is not None


def plain_predictions(raw: bytes, *, max_rows: int = MAX_PREDICTION_ROWS) -> PlainPredictions | None:
    """The values and ids' fingerprint of `raw` only if :func:`load_predictions` accepts it,
    decided in about a millisecond for the usual file: a CSV ``id,<name>`` of plain bytes
    (``_PLAIN_BYTES``), one comma on every line, every line (the last included) ended by a
    newline, non-empty unique ids none of which pandas reads as missing, and values that parse
    (Arrow's exact parser) to numbers in [0, 1]. None says nothing: the caller then runs
    load_predictions, which accepts the file or names its problem. The service's intake checks
    each upload this way first (the pandas reader costs 8 to 10 ms of CPU a file) and keeps the
    values (:mod:`nmrstake.prepared`); tests/offchain/test_plain_predictions.py holds that
    whatever this accepts, load_predictions accepts, with the same values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    header, _, _ = raw.partition(b"\n")
    fields = header.split(b",")
    if (len(fields) != 2 or fields[0] != b"id" or not fields[1] or fields[1] == b"id"
            or not raw.endswith(b"\n") or len(raw) >= 1 << 31):
        return None
    data = np.frombuffer(raw, dtype=np.uint8)
    if not _PLAIN_BYTES[data].all():
        return None
    newlines = np.flatnonzero(data == 10)
    commas = np.flatnonzero(data == 44)
    rows = len(newlines) - 1
    if not 1 <= rows <= max_rows or len(commas) != rows + 1:
        return None
    starts = np.empty(rows + 1, dtype=np.int64)
    starts[0] = 0
    starts[1:] = newlines[:-1] + 1
    # One comma on each line, with something before it (the id) and after it (the value).
    if not ((commas > starts) & (commas + 1 < newlines)).all():
        return None
    # The ids and the values as strings over the file's own bytes (string 2k of each array is row
    # k's, the strings between them null): no copy of the text.
    gaps = pa.py_buffer(np.packbits(np.arange(2 * rows - 1) % 2 == 0, bitorder="little"))
    bounds = np.empty(2 * rows, dtype=np.int32)
    bounds[0::2], bounds[1::2] = starts[1:], commas[1:]
    ids = pa.StringArray.from_buffers(2 * rows - 1, pa.py_buffer(bounds), pa.py_buffer(raw), gaps).drop_null()
    if pc.count_distinct(ids).as_py() != rows or pc.any(pc.is_in(ids, pa.array(_PANDAS_NA_IDS))).as_py():
        return None
    # Their fingerprint now: `bounds` is reused below, and a single row's array (no null to drop)
    # still reads its offsets from it.
    _, offsets_buffer, data_buffer = ids.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[ids.offset: ids.offset + rows + 1]
    fingerprint = ids_fingerprint(np.diff(offsets), memoryview(data_buffer)[offsets[0]: offsets[-1]])
    bounds[0::2], bounds[1::2] = commas[1:] + 1, newlines[1:]
    spans = pa.StringArray.from_buffers(2 * rows - 1, pa.py_buffer(bounds), pa.py_buffer(raw), gaps).drop_null()
    try:
        values = pc.cast(spans, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError):
        return None
    if not ((values >= 0) & (values <= 1)).all():  # NaN fails both
        return None
    return PlainPredictions(np.ascontiguousarray(values, dtype=np.float64), fingerprint)


def fast_prediction_values(raw: bytes, template: IdTemplate) -> np.ndarray | None:
    """The prediction column of a plain two-column CSV (``id,<name>``, one row per line, no quotes
    or carriage returns) whose ids are exactly ``template``'s ids in the same order, parsed exactly
    (Arrow's correctly rounded float parser: the same values as ``float_precision="round_trip"``),
    with finite values in [0, 1].

    Returns None whenever the file is anything else; the caller then uses :func:`load_predictions`,
    which gives the exact error message. So this only speeds up files that are valid anyway: the
    lines are split with numpy, the ids compared byte for byte and the values parsed by Arrow over
    the file's own bytes (about a quarter of a millisecond for 5,000 rows).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = template.count
    if not template.usable or len(raw) >= 1 << 31 or b'"' in raw or b"\r" in raw:
        return None
    header, _, _ = raw.partition(b"\n")
    fields = header.split(b",")
    if len(fields) != 2 or fields[0] != b"id" or not fields[1] or fields[1] == b"id":
        return None
    if not raw.endswith(b"\n"):
        raw += b"\n"
    data = np.frombuffer(raw, dtype=np.uint8)
    newlines = np.flatnonzero(data == 10)
    if len(newlines) != n + 1:  # more or fewer lines than ids (never parsed)
        return None
    if np.count_nonzero(data == 44) != n + 1:  # one comma per line
        return None
    starts = newlines[:-1] + 1  # where each row's id begins
    row_commas = starts + template.lengths  # where each row's comma must be, after its id
    if not ((row_commas < newlines[1:]).all() and (data[row_commas] == 44).all()):
        return None
    # The ids and the values as strings over the file's own bytes: string 2k is row k's id
    # (raw[bounds[2k]:bounds[2k + 1]]) or value; the strings between them are null. Arrow compares
    # the ids with the template's (lengths and bytes of the valid strings) and parses the values.
    bounds = np.empty(2 * n, dtype=np.int32)
    bounds[0::2] = starts
    bounds[1::2] = row_commas
    ids = pa.StringArray.from_buffers(2 * n - 1, pa.py_buffer(bounds), pa.py_buffer(raw), template.values_mask)
    if not ids.equals(template.ids):
        return None
    bounds[0::2] = row_commas + 1
    bounds[1::2] = newlines[1:]
    spans = pa.StringArray.from_buffers(2 * n - 1, pa.py_buffer(bounds), pa.py_buffer(raw), template.values_mask)
    try:
        parsed = pc.cast(spans, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError):
        return None
    array = parsed.to_numpy(zero_copy_only=False)[0::2]
    if not ((array >= 0).all() and (array <= 1).all()):  # NaN fails both
        return None
    return np.ascontiguousarray(array, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# the vectorised scorer: numerai-tools' arithmetic over every model at once
# --------------------------------------------------------------------------------------------
#
# numerai-tools ranks each column with ties averaged (pandas ``rank(method="average")``), maps a
# rank r of n rows to ``norm.ppf((r - 0.5) / n)`` ("gaussian"), and for CORR raises that to the
# power 1.5 keeping the sign. An averaged rank is always a half-integer r = (k + 2) / 2 with
# k = 0 .. 2n - 2 (the mean of the integer positions a..b of a group of ties is (a + b) / 2,
# exactly representable), so every value a column can take is one of 2n - 1 numbers, computed
# here once per round with the same numpy/scipy operations numerai-tools applies to each
# element (scipy's norm.ppf is special.ndtri): the gaussianised columns are bit for bit
# numerai-tools' own. The meta model is summed as pandas sums it, so it is the same bits too. What remains per model is
# a sort, a few gathers and dot products; they differ from numerai-tools' pandas/numpy reductions
# only in the order of the sums (a few units in the last place, far below the 1e-6 to which
# payouts quantize scores; tests/offchain/test_scoring_exactness.py compares with numerai-tools).

#: Models ranked per block: bounds the temporaries (about a dozen arrays of block x rows).
_BLOCK = 256


@dataclass(frozen=True)
class _RankTables:
    """For n rows: ``gauss[k]`` and ``gauss_pow[k]`` are numerai-tools' gaussianised value (and its
    signed 1.5 power) of the averaged rank (k + 2) / 2, k = 0 .. 2n - 2."""

    rows: int
    gauss: np.ndarray
    gauss_pow: np.ndarray


def _rank_tables(rows: int) -> _RankTables:
    from scipy.special import ndtri  # scipy.stats.norm.ppf is ndtri(q) * 1.0 + 0.0

    ranks = np.arange(2, 2 * rows + 1, dtype=np.float64) / 2.0  # 1, 1.5, ..., n: rank (k + 2) / 2
    gauss = ndtri((ranks - 0.5) / rows)
    gauss_pow = np.sign(gauss) * np.abs(gauss) ** 1.5  # numerai_tools.scoring.power(df, 1.5)
    return _RankTables(rows, gauss, gauss_pow)


def _tie_ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row of ``values`` (models x ids): the order that sorts it, the table index k of
    each sorted position's averaged rank (rank = (k + 2) / 2) and whether the row is constant.

    Worked on the flattened block: a group of ties is a run of equal sorted values within a row;
    its averaged rank is ((first + 1) + (last + 1)) / 2 for its first and last positions in the
    row, so k = first + last."""
    block, n = values.shape
    order = np.argsort(values, axis=1)
    ordered = np.take_along_axis(values, order, axis=1).ravel()
    starts = np.empty(block * n, dtype=bool)  # where a group of ties begins
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    starts[::n] = True
    group = np.cumsum(starts, dtype=np.int64)
    group -= 1
    first = np.flatnonzero(starts)
    last = np.empty_like(first)
    last[:-1] = first[1:] - 1
    last[-1] = block * n - 1
    row_start = first - first % n
    index = (first + last - 2 * row_start)[group].reshape(block, n)
    constant = ~starts.reshape(block, n)[:, 1:].any(axis=1)
    return order, index, constant


@dataclass(frozen=True)
class _Vectors:
    """The per-id vectors numerai-tools derives from the targets and the meta model (on the scored
    ids, in the matrix's row order), computed as numerai-tools computes them."""

    corr_target: np.ndarray  # targets centred, 1.5-powered, then centred again (Pearson's)
    corr_target_ss: float  # its sum of squares
    mmc_target: np.ndarray  # 4 x targets, centred
    meta_gauss: np.ndarray  # the meta model, ranked and gaussianised


def _score_block(values: np.ndarray, tables: _RankTables, vec: _Vectors) -> tuple[np.ndarray, np.ndarray]:
    """(CORR, MMC) of a block of models (rows of ``values``, ids as columns)."""
    order, index, constant = _tie_ranks(values)
    n = values.shape[1]
    x = tables.gauss_pow[index]  # CORR's transformed predictions, in sorted order
    x -= x.mean(axis=1, keepdims=True)
    sxx = np.einsum("ij,ij->i", x, x)
    sxy = np.einsum("ij,ij->i", x, vec.corr_target[order])
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.clip(sxy / np.sqrt(sxx * vec.corr_target_ss), -1.0, 1.0)
    corr[constant] = np.nan  # all ranks equal: numerai-tools' Pearson is NaN
    del x
    g = tables.gauss[index]
    gt = np.einsum("ij,ij->i", g, vec.mmc_target[order])
    gm = np.einsum("ij,ij->i", g, vec.meta_gauss[order])
    mm = float(vec.meta_gauss @ vec.meta_gauss)
    tm = float(vec.mmc_target @ vec.meta_gauss)
    with np.errstate(invalid="ignore", divide="ignore"):
        mmc = (gt - tm * (gm / mm)) / n
    return corr, mmc


def _gaussianised(values: np.ndarray, tables: _RankTables) -> np.ndarray:
    """One column, ranked with ties averaged and gaussianised (numerai-tools' p or m)."""
    order, index, _ = _tie_ranks(values[None, :])
    out = np.empty(len(values), dtype=np.float64)
    out[order[0]] = tables.gauss[index[0]]
    return out


def stake_weighted_meta(values: np.ndarray, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """numerai-tools' ``stake_weight``: ``(predictions[stakes.index] * stakes).sum(axis=1) /
    stakes.sum()`` for ``values`` of models x ids, ``rows`` the models weighted, in the stakes'
    order. pandas holds that product as ids x models, C-contiguous, so numpy sums each id's row
    pairwise: done here the same way, a slice of ids at a time (the same bits, little memory)."""
    total = np.add.reduce(weights)
    ids = values.shape[1]
    meta = np.empty(ids, dtype=np.float64)
    every = len(rows) == values.shape[0] and bool((rows == np.arange(len(rows))).all())
    step = 16  # ids per slice: a narrow slice transposes within the cache
    for start in range(0, ids, step):
        chunk = values[:, start:start + step] if every else values[rows, start:start + step]
        product = np.ascontiguousarray((chunk * weights[:, None]).T)
        meta[start:start + step] = product.sum(axis=1)
    return meta / total


def score_matrix(
    values: np.ndarray,
    vectors: _Vectors,
    *,
    mmc_columns: np.ndarray | None = None,
    mmc_vectors: _Vectors | None = None,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(CORR, MMC) of every model: ``values`` is models x ids (a C-contiguous row per model, no
    NaN) on CORR's ids; MMC is scored on the same ids, or on ``values[:, mmc_columns]`` with
    ``mmc_vectors`` when the meta model lacks some ids. Blocks of models run on ``threads``
    threads (numpy's sorts and gathers release the GIL)."""
    models = values.shape[0]
    tables = _rank_tables(values.shape[1])
    sub_tables = None if mmc_columns is None else _rank_tables(int(np.count_nonzero(mmc_columns)))
    corr = np.empty(models, dtype=np.float64)
    mmc = np.empty(models, dtype=np.float64)

    def run(start: int) -> None:
        block = values[start:start + _BLOCK]
        c, m = _score_block(block, tables, vectors)
        corr[start:start + len(block)] = c
        if sub_tables is None or mmc_vectors is None:
            mmc[start:start + len(block)] = m
        else:
            _, m = _score_block(np.ascontiguousarray(block[:, mmc_columns]), sub_tables, mmc_vectors)
            mmc[start:start + len(block)] = m

    starts = range(0, models, _BLOCK)
    workers = min(threads or os.cpu_count() or 1, len(starts))
    if workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, starts))
    else:
        for start in starts:
            run(start)
    return corr, mmc


def _vectors(targets: pd.Series, ids: pd.Index, meta: np.ndarray) -> _Vectors:
    """numerai-tools' target and meta-model vectors on ``ids`` (``meta`` given on ``ids``).
    ``targets`` holds every id (NaN where unknown): numerai_corr centres on all known targets
    before it filters ids, correlation_contribution on the filtered ones."""
    centred = (targets - targets.mean()).reindex(ids).to_numpy(dtype=np.float64)
    powered = np.sign(centred) * np.abs(centred) ** 1.5
    corr_target = powered - powered.mean()
    live = targets.reindex(ids).to_numpy(dtype=np.float64)
    if (live >= 0).all() and (live <= 1).all():
        live = live * 4
    live = live - live.mean()
    return _Vectors(corr_target, float(corr_target @ corr_target), live, _gaussianised(meta, _rank_tables(len(ids))))
