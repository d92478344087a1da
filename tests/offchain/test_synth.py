"""nmrstake.synth: the synthetic Numerai-shaped data set."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numerai_tools.scoring import numerai_corr

from nmrstake import synth
from nmrstake.errors import InputError


@pytest.fixture(scope="module")
def data() -> synth.SynthData:
    return synth.generate(rows=5000, models=20, seed=1)


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_shapes_ids_and_eras(data):
    assert data.features.shape == (5000, 2 + 20)
    assert list(data.features.columns[:3]) == ["id", "era", "feature_00"]
    assert data.targets.shape == (5000,) and data.targets.name == "target"
    assert data.predictions.shape == (5000, 20)
    assert list(data.models.columns) == ["model", "quality"] and len(data.models) == 20
    ids = data.features["id"]
    assert ids.is_unique
    assert all(re.fullmatch(r"n[0-9a-f]{15}", i) for i in ids)
    assert list(data.targets.index) == list(ids) == list(data.predictions.index)
    # default eras: rows // 1000, contiguous, named era0001...
    assert list(pd.unique(data.features["era"])) == [f"era{e:04d}" for e in range(1, 6)]
    assert data.features["era"].value_counts().eq(1000).all()


def test_features_are_numerai_bins(data):
    values = data.features.filter(like="feature_")
    assert (values.dtypes == np.int8).all()
    assert set(np.unique(values.to_numpy())) == {0, 1, 2, 3, 4}
    share = pd.Series(values.to_numpy().ravel()).value_counts(normalize=True).sort_index()
    np.testing.assert_allclose(share.to_numpy(), synth.PROPORTIONS, atol=0.01)


def test_targets_buckets_and_proportions(data):
    assert set(data.targets.unique()) == set(synth.BUCKETS)
    share = data.targets.value_counts(normalize=True).sort_index()
    np.testing.assert_allclose(share.to_numpy(), synth.PROPORTIONS, atol=0.005)
    # binned per era
    per_era = data.targets.groupby(data.features.set_index("id")["era"]).value_counts(normalize=True)
    np.testing.assert_allclose(per_era.unstack().to_numpy(),
                               np.tile(synth.PROPORTIONS, (5, 1)), atol=0.005)


def test_models_names_and_graded_quality(data):
    names = list(data.models["model"])
    assert names == [f"model_{k:02d}" for k in range(20)] == list(data.predictions.columns)
    assert all(re.fullmatch(r"^[a-z0-9_]{1,32}$", n) for n in names)
    quality = data.models["quality"].to_numpy()
    assert quality[0] > 0 > quality[-1] and np.all(np.diff(quality) < 0)

    corr = numerai_corr(data.predictions, data.targets)
    assert corr["model_00"] > 0.02
    assert corr[names[-1]] < -0.02
    assert corr.max() > 0.02 and corr.min() < -0.02
    # the spread follows the planted quality
    assert np.corrcoef(corr.to_numpy(), quality)[0, 1] > 0.9


def test_predictions_are_ranks(data):
    p = data.predictions.to_numpy()
    assert p.min() > 0 and p.max() <= 1.0
    for column in data.predictions.columns[:3]:
        assert data.predictions[column].is_unique
        np.testing.assert_allclose(np.sort(data.predictions[column].to_numpy()),
                                   np.arange(1, 5001) / 5000)


def test_model_names_width():
    assert synth.model_names(1) == ["model_00"]
    names = synth.model_names(10_000)
    assert names[0] == "model_0000" and names[-1] == "model_9999" and len(set(names)) == 10_000


def test_same_seed_same_bytes_different_seed_differs(tmp_path):
    a = synth.write(synth.generate(rows=400, models=4, seed=7), tmp_path / "a")
    b = synth.write(synth.generate(rows=400, models=4, seed=7), tmp_path / "b")
    c = synth.write(synth.generate(rows=400, models=4, seed=8), tmp_path / "c")
    files_a, files_b, files_c = _tree_bytes(a), _tree_bytes(b), _tree_bytes(c)
    assert sorted(files_a) == ["features.parquet", "models.csv", "predictions/model_00.csv",
                               "predictions/model_01.csv", "predictions/model_02.csv",
                               "predictions/model_03.csv", "targets.csv"]
    assert files_a == files_b
    for name in files_a:
        if name != "models.csv":  # qualities depend only on the number of models
            assert files_a[name] != files_c[name], name
    assert b"\r\n" not in files_a["targets.csv"]
    assert files_a["predictions/model_00.csv"].startswith(b"id,prediction\n")
    assert files_a["targets.csv"].startswith(b"id,target\n")


def test_written_files_round_trip_exactly(tmp_path):
    data = synth.generate(rows=600, models=3, seed=3, n_features=5, n_eras=2)
    out = synth.write(data, tmp_path / "d")
    preds = pd.read_csv(out / "predictions" / "model_01.csv", dtype={"id": str},
                        float_precision="round_trip")
    assert list(preds.columns) == ["id", "prediction"]
    np.testing.assert_array_equal(preds["prediction"].to_numpy(),
                                  data.predictions["model_01"].to_numpy())  # full precision
    targets = pd.read_csv(out / "targets.csv", dtype={"id": str})
    assert list(targets.columns) == ["id", "target"]
    features = pd.read_parquet(out / "features.parquet")
    pd.testing.assert_frame_equal(features, data.features)

    loaded = synth.load(out)
    pd.testing.assert_frame_equal(loaded.predictions, data.predictions, check_exact=True)
    pd.testing.assert_series_equal(loaded.targets, data.targets, check_exact=True)
    pd.testing.assert_frame_equal(loaded.models, data.models, check_exact=True)
    assert loaded.n_eras == 2


def test_write_refuses_non_empty_dir_unless_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        synth.write(synth.generate(rows=100, models=3), out)
    assert sorted(os.listdir(out)) == ["keep.txt"]

    synth.write(synth.generate(rows=100, models=3), out, overwrite=True)
    synth.write(synth.generate(rows=100, models=2, seed=2), out, overwrite=True)
    # stale predictions of models no longer present are gone; other files are kept
    assert sorted(os.listdir(out / "predictions")) == ["model_00.csv", "model_01.csv"]
    assert (out / "keep.txt").read_text() == "mine"
    with pytest.raises(InputError, match="not empty"):
        synth.write(synth.generate(rows=100, models=3), out)

    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        synth.write(synth.generate(rows=100, models=1), a_file, overwrite=True)


def test_write_is_atomic(tmp_path, monkeypatch):
    out = synth.write(synth.generate(rows=100, models=2, seed=1), tmp_path / "out")
    before = _tree_bytes(out)

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(synth.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        synth.write(synth.generate(rows=100, models=2, seed=2), out, overwrite=True)
    monkeypatch.undo()
    # nothing half-written, no temporary files left behind
    assert _tree_bytes(out) == before


def test_rounds_differ_but_models_stay(data):
    r1 = synth.generate_round(data, 1)
    r2 = synth.generate_round(data, 2, rows=3000)
    assert r1.round_index == 1 and r1.seed == data.seed and r2.rows == 3000
    assert not set(r1.ids) & set(data.ids) and not set(r1.ids) & set(r2.ids)
    pd.testing.assert_frame_equal(r1.models, data.models)
    assert r1.n_eras == data.n_eras
    # same as generate(seed, round_index)
    again = synth.generate(rows=5000, models=20, seed=1, round_index=1)
    pd.testing.assert_frame_equal(again.predictions, r1.predictions, check_exact=True)
    pd.testing.assert_series_equal(again.targets, r1.targets, check_exact=True)
    # quality holds in every round
    corr = numerai_corr(r1.predictions, r1.targets)
    assert corr.iloc[0] > 0.02 and corr.iloc[-1] < -0.02


def test_generate_predictions_matrix_matches_generate():
    targets, preds = synth.generate_predictions_matrix(1000, 300, 5)  # > one block of models
    assert preds.shape == (1000, 300) and targets.shape == (1000,)
    assert preds.index.equals(targets.index)
    assert preds.columns[0] == "model_000" and preds.columns[-1] == "model_299"
    assert preds.to_numpy().min() > 0 and preds.to_numpy().max() <= 1
    data = synth.generate(rows=1000, models=300, seed=5)
    pd.testing.assert_frame_equal(preds, data.predictions, check_exact=True)
    corr = numerai_corr(preds.iloc[:, [0, 150, 299]], targets)
    assert corr.iloc[0] > 0.02 and corr.iloc[2] < -0.02


@pytest.mark.parametrize("kwargs", [
    {"rows": 0}, {"rows": 5}, {"models": 0}, {"seed": -1}, {"n_features": 0},
    {"n_eras": 0}, {"rows": "100"}, {"models": 2.5}, {"round_index": -1}, {"rows": True},
])
def test_bad_arguments(kwargs):
    with pytest.raises(InputError):
        synth.generate(**kwargs)


def test_load_missing_dir(tmp_path):
    with pytest.raises(InputError, match="not a synthetic data directory"):
        synth.load(tmp_path)
