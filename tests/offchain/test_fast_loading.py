"""The fast reader for a round's many prediction files gives exactly what the general loader gives,
and steps aside (None) for every file it is not sure about."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from nmrstake.payouts import RoundParams
from nmrstake.results.evaluate import evaluate_round
from nmrstake.results.spec import PredictionKey, RoundInputs, RoundStake
from nmrstake.scoring import fast_prediction_values, load_predictions
from nmrstake.synth import generate, write

IDS = [f"n{i:05d}" for i in range(200)]
REF = pa.array(IDS, type=pa.string())


def csv(values, ids=IDS, header="id,prediction") -> bytes:
    return (header + "\n" + "\n".join(f"{i},{v!r}" for i, v in zip(ids, values)) + "\n").encode()


def test_same_values_as_the_general_loader(tmp_path):
    values = np.random.default_rng(3).random(len(IDS))
    path = tmp_path / "m.csv"
    path.write_bytes(csv(values))
    fast = fast_prediction_values(path.read_bytes(), REF)
    slow = load_predictions(path).reindex(IDS).to_numpy()
    assert fast is not None and np.array_equal(fast, slow) and np.array_equal(fast, values)


@pytest.mark.parametrize(
    "raw",
    [
        csv([0.5] * 199 + [float("nan")]),                       # NaN
        csv([0.5] * 199 + [1.5]),                                # out of range
        csv([0.5] * 200, ids=list(reversed(IDS))),               # other order
        csv([0.5] * 199, ids=IDS[:199]),                         # fewer ids
        csv([0.5] * 200, header="id,a,b"),                       # three columns in the header
        csv([0.5] * 200, header='"id",prediction'),              # quoted header
        csv([0.5] * 200, header="ID,prediction"),                # no id column
        b"PAR1 not really parquet",
        csv([1] * 200),                                          # integers: general loader decides
        b"id,prediction\n" + "\n".join(f"{i},x" for i in IDS).encode(),  # text
    ],
)
def test_steps_aside(raw):
    assert fast_prediction_values(raw, REF) is None


def test_round_result_is_the_same_whichever_path(tmp_path):
    data = generate(rows=300, models=4, seed=5)
    folder = write(data, tmp_path / "a")
    stakes = [RoundStake(m, "0x" + f"{k + 1:040x}", 10**19) for k, m in enumerate(data.model_names)]
    params = RoundParams(corr_multiplier_bps=5000, mmc_multiplier_bps=20000, clip_bps=500,
                         stake_threshold=72_000 * 10**18, funded=10**21)
    preds: dict[PredictionKey, Path] = {m: folder / "predictions" / f"{m}.csv" for m in data.model_names}
    fast = evaluate_round(1, params, stakes, RoundInputs(folder / "targets.csv", preds))
    # Shuffle the rows of every file: the ids no longer match the targets' order -> general loader.
    shuffled: dict[PredictionKey, Path] = {}
    for m, p in preds.items():
        lines = p.read_text().splitlines()
        body = lines[1:]
        np.random.default_rng(1).shuffle(body)
        q = tmp_path / "b" / f"{m}.csv"
        q.parent.mkdir(exist_ok=True)
        q.write_text("\n".join([lines[0], *body]) + "\n")
        shuffled[m] = q
    slow = evaluate_round(1, params, stakes, RoundInputs(folder / "targets.csv", shuffled))
    assert fast.root == slow.root
    assert [(r.corr, r.mmc, r.payout, r.burn) for r in fast.rows] == [(r.corr, r.mmc, r.payout, r.burn) for r in slow.rows]
