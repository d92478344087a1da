"""Loading predictions/targets (every error names the file and the row) and scoring as
numerai-tools scores (within 1e-12 of calling the library directly; see also
test_scoring_exactness.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numerai_tools.scoring import correlation_contribution, numerai_corr, stake_weight

from nmrstake.errors import InputError
from nmrstake.scoring import (
    load_meta_model,
    load_prediction_table,
    load_predictions,
    load_table,
    load_targets,
    prediction_frame,
    score_models,
)


def make_data(rows: int = 400, models: int = 6, seed: int = 3) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"n{i:015x}" for i in rng.choice(10**9, rows, replace=False)], name="id")
    signal = rng.standard_normal(rows)
    target = pd.Series(
        np.digitize(signal + rng.standard_normal(rows), [-1.6, -0.7, 0.7, 1.6]) / 4, index=ids, name="target"
    )
    cols = {}
    for k in range(models):
        q = 0.8 - 1.6 * k / max(models - 1, 1)
        raw = q * signal + np.sqrt(1 - q * q) * rng.standard_normal(rows)
        cols[f"model_{k}"] = pd.Series(raw).rank(pct=True).to_numpy()
    return pd.DataFrame(cols, index=ids), target


def write_csv(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- loading


def test_load_predictions_csv_and_parquet(tmp_path):
    preds, _ = make_data()
    one = preds[["model_0"]].rename(columns={"model_0": "prediction"})
    csv_path = tmp_path / "p.csv"
    one.to_csv(csv_path)
    series = load_predictions(csv_path)
    assert series.name == "prediction" and series.index.name == "id"
    assert series.dtype == np.float64
    assert series.attrs["source"] == str(csv_path)
    pd.testing.assert_series_equal(series, one["prediction"], check_names=False, check_index_type=False)
    # exact float round trip through CSV (the file's hash is its commitment: no silent rounding)
    assert (series.to_numpy() == one["prediction"].to_numpy()).all()

    pq_index = tmp_path / "idx.parquet"
    one.to_parquet(pq_index)  # ids as the index, as Numerai's files
    pq_col = tmp_path / "col.bin"  # recognised by content, not by name
    one.reset_index().to_parquet(pq_col)
    for path in (pq_index, pq_col):
        loaded = load_predictions(path)
        assert list(loaded.index) == list(one.index) and (loaded.to_numpy() == series.to_numpy()).all()


def test_parquet_integer_ids_become_strings(tmp_path):
    path = tmp_path / "p.parquet"
    pd.DataFrame({"id": [1, 2, 3], "p": [0.1, 0.2, 0.3]}).to_parquet(path)
    assert list(load_predictions(path).index) == ["1", "2", "3"]


def test_load_prediction_table(tmp_path):
    preds, _ = make_data()
    path = tmp_path / "wide.csv"
    preds.to_csv(path)
    table = load_prediction_table(path)
    assert list(table.columns) == list(preds.columns)
    assert (table.to_numpy() == preds.to_numpy()).all()
    with pytest.raises(InputError, match="expected one prediction column besides 'id', found 6"):
        load_predictions(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "the file is empty"),
        ("   \n\n", "the file is empty"),
        ("id,prediction\n", "no rows after the header"),
        ("prediction\n0.5\n", "no 'id' column"),
        ("id\na\n", "no prediction column"),
        ("id,p\na,0.1\nb,0.2\na,0.3\nc,0.4\nc,0.5\n", "duplicate ids: 'a', 'c'"),
        ("id,p\na,0.1\nb,abc\n", "column 'p': 'abc' is not a number at line 3 \\(id 'b'\\)"),
        ("id,p\na,0.1\nb,True\n", "'True' is not a number at line 3"),
        ("id,p\na,0.1\nb,\n", "missing or NaN value at line 3 \\(id 'b'\\)"),
        ("id,p\na,0.1\nb,nan\nc,NaN\n", "missing or NaN value at line 3 \\(id 'b'\\) \\(2 missing values in all\\)"),
        ("id,p\na,0.1\nb,inf\n", "infinite value at line 3"),
        ("id,p\na,0.1\nb,1.5\n", "1.5 is outside \\[0, 1\\] at line 3 \\(id 'b'\\)"),
        ("id,p\na,-0.1\n", "outside \\[0, 1\\] at line 2"),
        ("id,p\na,0.1,9\n", "more fields than the header"),
        ("id,p\na,0.1\nb,0.2,9\n", "not a valid CSV file"),
        ("id,p,p\na,0.1,0.2\n", "duplicate column names in the header: 'p'"),
        ("id,p\n,0.1\n", "empty id at line 2"),
        ("id,p\na\n", "missing or NaN value at line 2"),
    ],
)
def test_load_predictions_errors(tmp_path, text, message):
    path = write_csv(tmp_path / "preds.csv", text)
    with pytest.raises(InputError, match=message) as info:
        load_predictions(path)
    assert str(path) in info.value.message and "\n" not in info.value.message


def test_load_errors_encoding_missing_and_corrupt(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,p\né,0.5\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8 text \\(byte 0xe9 at offset 5\\)"):
        load_predictions(latin)
    with pytest.raises(InputError, match="no such file"):
        load_predictions(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="not a regular file"):
        load_predictions(tmp_path)
    corrupt = tmp_path / "bad.parquet"
    corrupt.write_bytes(b"PAR1" + b"\x00" * 50)
    with pytest.raises(InputError, match="not a readable Parquet file"):
        load_predictions(corrupt)
    bom = write_csv(tmp_path / "bom.csv", "\ufeffid,p\na,0.5\n")
    assert load_predictions(bom).index[0] == "a"
    assert list(load_table(bom).columns) == ["id", "p"]


def test_load_targets(tmp_path):
    text = "id,target,other\n" + "".join(f"i{k},{[0, 0.25, 0.5, 0.75, 1][k % 5]},x\n" for k in range(9)) + "i9,\n"
    targets = load_targets(write_csv(tmp_path / "t.csv", text))
    assert targets.name == "target" and len(targets) == 10 and targets.isna().sum() == 1
    with pytest.raises(InputError, match="only 7 of 10 ids have a target"):
        load_targets(write_csv(tmp_path / "t2.csv", "id,target\n" + "".join(f"i{k},{'' if k < 3 else k % 2}\n" for k in range(10))))
    with pytest.raises(InputError, match="all targets are equal"):
        load_targets(write_csv(tmp_path / "t3.csv", "id,target\na,0.5\nb,0.5\n"))
    with pytest.raises(InputError, match="no 'target' column"):
        load_targets(write_csv(tmp_path / "t4.csv", "id,prediction\na,0.5\n"))
    with pytest.raises(InputError, match="targets file .*t5.csv: column 'target': 2.0 is outside"):
        load_targets(write_csv(tmp_path / "t5.csv", "id,target\na,0.5\nb,2\n"))


def test_load_meta_model(tmp_path):
    path = write_csv(tmp_path / "mm.csv", "id,whatever\na,0.5\nb,0.25\n")
    mm = load_meta_model(path)
    assert mm.name == "meta_model" and mm.attrs["source"] == str(path)
    with pytest.raises(InputError, match="meta model file"):
        load_meta_model(write_csv(tmp_path / "mm2.csv", "id,p\na,x\n"))


# ---------------------------------------------------------------- the frame


def test_prediction_frame_reports_gaps_and_constants():
    preds, target = make_data(rows=50, models=3)
    series = {m: preds[m] for m in preds.columns}
    series["short"] = preds["model_0"].iloc[5:]
    series["flat"] = pd.Series(0.5, index=preds.index)
    series["extra"] = pd.concat([preds["model_1"], pd.Series([0.3], index=["zzz"])])
    frame, invalid = prediction_frame(series, target.index)
    assert list(frame.columns) == ["model_0", "model_1", "model_2", "extra"]
    assert list(frame.index) == list(target.index)
    assert invalid["short"].startswith("predictions miss 5 of the 50 scored ids")
    assert invalid["flat"] == "predictions are all equal (they cannot be ranked)"
    empty, none = prediction_frame({}, target.index)
    assert empty.shape == (50, 0) and none == {}


# ---------------------------------------------------------------- scoring


def test_score_models_equals_numerai_tools():
    preds, target = make_data()
    stakes = pd.Series([10**18 * (k + 1) for k in range(preds.shape[1])], index=preds.columns, dtype=object)
    scores = score_models(preds, target, stakes=stakes)
    assert list(scores.columns) == ["model", "corr", "mmc"]
    assert list(scores["model"]) == list(preds.columns)
    expected_corr = numerai_corr(preds, target)
    mm = stake_weight(preds, pd.Series([float(s) for s in stakes], index=stakes.index)).rename("mm")
    expected_mmc = correlation_contribution(preds, mm, target)
    np.testing.assert_allclose(scores["corr"].to_numpy(), expected_corr.to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(scores["mmc"].to_numpy(), expected_mmc.to_numpy(), rtol=0, atol=1e-12)
    # graded models: the best has the highest CORR
    assert scores["corr"].iloc[0] > 0 > scores["corr"].iloc[-1]


def test_score_models_with_given_meta_model_and_weights():
    preds, target = make_data()
    mm = preds.mean(axis=1).rename("some_name")
    scores = score_models(preds, target, meta_model=mm)
    expected = correlation_contribution(preds, mm.rename("x"), target)
    np.testing.assert_allclose(scores["mmc"].to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)
    # no stakes -> equal weights; zero-stake models get no weight
    equal = score_models(preds, target)
    np.testing.assert_allclose(
        equal["mmc"].to_numpy(),
        correlation_contribution(preds, stake_weight(preds, pd.Series(1.0, index=preds.columns)).rename("m"), target),
        rtol=0, atol=1e-12,
    )
    only_first = score_models(preds, target, stakes=pd.Series({"model_0": 5, "model_1": 0}))
    mm0 = preds["model_0"].rename("m")
    np.testing.assert_allclose(only_first["mmc"].to_numpy(), correlation_contribution(preds, mm0, target).to_numpy(),
                               rtol=0, atol=1e-12)
    assert abs(only_first["mmc"].iloc[0]) < 1e-12  # a model is orthogonal to itself as the meta model


def test_score_models_nan_targets_are_dropped():
    preds, target = make_data()
    target = target.copy()
    target.iloc[:20] = np.nan
    scores = score_models(preds, target)
    np.testing.assert_allclose(scores["corr"].to_numpy(), numerai_corr(preds, target).to_numpy(), rtol=0, atol=1e-12)


def test_score_models_errors(tmp_path):
    preds, target = make_data()
    target.attrs["source"] = "round/targets.csv"
    # too few shared ids
    other = target.copy()
    other.index = pd.Index([f"x{k}" for k in range(len(other))], name="id")
    other.attrs["source"] = "round/targets.csv"
    with pytest.raises(InputError, match="targets file round/targets.csv: only 0 of its 400 ids are shared"):
        score_models(preds, other)
    half = target.iloc[: len(target) // 2]
    with pytest.raises(InputError, match="predictions: only 200 of its 400 ids are shared with targets file"):
        score_models(preds, half)
    mm = preds.mean(axis=1).iloc[:100]
    mm.attrs["source"] = "mm.csv"
    with pytest.raises(InputError, match="meta model file mm.csv: only 100 of its 100|only 100 of its 400"):
        score_models(preds, target, meta_model=mm)
    bad = preds.copy()
    bad.iloc[3, 2] = np.nan
    with pytest.raises(InputError, match="missing, NaN or infinite predictions for models 'model_2'"):
        score_models(bad, target)
    with pytest.raises(InputError, match="stakes: models without predictions: 'ghost'"):
        score_models(preds, target, stakes=pd.Series({"ghost": 1}))
    with pytest.raises(InputError, match="targets must be numbers in \\[0, 1\\]"):
        score_models(preds, target * 2)
    dup = pd.concat([preds, preds.iloc[:1]])
    with pytest.raises(InputError, match="duplicate ids"):
        score_models(dup, target)
    empty = score_models(preds.iloc[:, :0], target)
    assert list(empty.columns) == ["model", "corr", "mmc"] and len(empty) == 0
