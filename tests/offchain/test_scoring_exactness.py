"""The vectorised scorer gives numerai-tools' own CORR and MMC (within 1e-12), on data built to
be awkward: ties, constant columns, models a single row apart, sign-flipped models, unsorted ids,
targets with gaps, and a given meta model that lacks some ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numerai_tools.scoring import correlation_contribution, gaussian, numerai_corr, stake_weight, tie_kept_rank

from nmrstake.scoring import _gaussianised, _rank_tables, score_models, stake_weighted_meta

TOLERANCE = 1e-12


@st.composite
def rounds(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """(predictions, targets, stakes): few distinct values so that ties are common, and columns
    derived from others (constant, one row changed, sign-flipped)."""
    rows = draw(st.integers(5, 60))
    levels = draw(st.sampled_from([3, 10, 1000, 10**9]))  # how many distinct values a column can take
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    columns: list[np.ndarray] = []
    for _ in range(draw(st.integers(1, 4))):
        columns.append(rng.integers(0, levels + 1, rows) / levels)
    for kind in draw(st.lists(st.sampled_from(["constant", "one_row", "flipped", "copy"]), max_size=4)):
        base = columns[draw(st.integers(0, len(columns) - 1))]
        if kind == "constant":
            columns.append(np.full(rows, draw(st.sampled_from([0.0, 0.5, 1.0]))))
        elif kind == "one_row":
            changed = base.copy()
            changed[draw(st.integers(0, rows - 1))] = draw(st.sampled_from([0.0, 0.3, 1.0]))
            columns.append(changed)
        elif kind == "flipped":
            columns.append(1.0 - base)
        else:
            columns.append(base.copy())
    ids = pd.Index([f"id{v}" for v in rng.permutation(10 * rows)[:rows]], name="id")  # unsorted
    names = [f"model_{k}" for k in range(len(columns))]
    predictions = pd.DataFrame(np.column_stack(columns), index=ids, columns=names)
    targets = pd.Series(rng.integers(0, 5, rows) / 4, index=ids, name="target")
    targets.iloc[: draw(st.integers(0, rows // 5))] = np.nan  # numerai-tools drops up to 20 %
    known = targets.dropna()
    if known.nunique() < 2:  # the loader refuses targets that are all equal
        targets.loc[known.index[0]] = 0.0 if known.iloc[0] != 0.0 else 1.0
        targets.loc[known.index[-1]] = 1.0 if known.iloc[0] != 1.0 else 0.5
    stakes = pd.Series([int(rng.integers(1, 10**6)) * 10**15 for _ in names], index=names, dtype=object)
    return predictions, targets, stakes


def assert_close(mine: np.ndarray, theirs: pd.Series) -> None:
    theirs_values = theirs.to_numpy(dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(mine), np.isnan(theirs_values))
    finite = ~np.isnan(mine)
    assert np.all(np.abs(mine[finite] - theirs_values[finite]) <= TOLERANCE), np.abs(mine - theirs_values).max()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds())
def test_corr_and_mmc_equal_numerai_tools_within_1e12(data):
    predictions, targets, stakes = data
    scores = score_models(predictions, targets, stakes=stakes)
    weights = pd.Series([float(s) for s in stakes], index=stakes.index)
    with np.errstate(all="ignore"):
        corr = numerai_corr(predictions, targets)
        meta = stake_weight(predictions, weights).rename("meta_model")
        mmc = correlation_contribution(predictions, meta, targets)
    assert list(scores["model"]) == list(predictions.columns)
    assert_close(scores["corr"].to_numpy(), corr)
    assert_close(scores["mmc"].to_numpy(), mmc)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds(), st.integers(0, 2**32 - 1))
def test_mmc_against_a_given_meta_model_lacking_ids_equals_numerai_tools(data, seed):
    predictions, targets, _ = data
    targets = targets.fillna(0.5)  # numerai-tools would refuse to lose 20 % of the ids on both sides
    rng = np.random.default_rng(seed)
    meta = pd.Series(np.round(rng.random(len(predictions)), 2), index=predictions.index, name="meta_model")
    meta.iloc[rng.permutation(len(meta))[: len(meta) // 10]] = np.nan  # scored on fewer ids than CORR
    scores = score_models(predictions, targets, meta_model=meta)
    with np.errstate(all="ignore"):
        mmc = correlation_contribution(predictions, meta, targets)
    assert_close(scores["mmc"].to_numpy(), mmc)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9, 1.0]), min_size=1, max_size=80)
       | st.lists(st.floats(0, 1), min_size=1, max_size=80))
def test_ranks_gaussianised_bit_for_bit_as_numerai_tools(values):
    column = np.array(values, dtype=np.float64)
    theirs = gaussian(tie_kept_rank(pd.DataFrame({"p": column}))).to_numpy()[:, 0]
    mine = _gaussianised(column, _rank_tables(len(column)))
    assert np.array_equal(mine, theirs)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 30), st.integers(0, 2**32 - 1))
def test_stake_weighted_meta_bit_for_bit_as_numerai_tools(rows, models, seed):
    rng = np.random.default_rng(seed)
    values = rng.random((models, rows))
    names = [f"m{k}" for k in range(models)]
    weights = pd.Series(rng.integers(1, 10**6, models).astype(np.float64) * 1e18, index=names)
    # numerai-tools' sum follows the frame's memory layout: an ids x models C-ordered frame, as
    # the scorer has always built it (a model-major one is summed in another order, an ulp apart)
    frame = pd.DataFrame(np.ascontiguousarray(values.T), columns=names)
    theirs = stake_weight(frame, weights).to_numpy()
    assert np.array_equal(stake_weighted_meta(values, np.arange(models), weights.to_numpy()), theirs)
    # a subset of the models, in another order
    picked = weights.iloc[::-2]
    theirs = stake_weight(frame, picked).to_numpy()
    rows_of = np.array([names.index(m) for m in picked.index])
    assert np.array_equal(stake_weighted_meta(values, rows_of, picked.to_numpy()), theirs)
