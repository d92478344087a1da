"""The fast reader for a round's many prediction files gives exactly what the general loader gives,
and steps aside (None) for every file it is not sure about."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nmrstake.payouts import RoundParams
from nmrstake.results.evaluate import evaluate_round
from nmrstake.results.spec import PredictionKey, RoundInputs, RoundStake
from nmrstake.scoring import IdTemplate, fast_prediction_values, load_predictions
from nmrstake.synth import generate, write

IDS = [f"n{i:05d}" for i in range(200)]
REF = IdTemplate(IDS)
UNEVEN = [f"n{i}" for i in range(200)]  # ids of several lengths


def csv(values, ids=IDS, header="id,prediction") -> bytes:
    return (header + "\n" + "\n".join(f"{i},{v if isinstance(v, str) else repr(v)}" for i, v in zip(ids, values)) + "\n").encode()


@pytest.mark.parametrize("ids", [IDS, UNEVEN])
def test_same_values_as_the_general_loader(tmp_path, ids):
    values = np.random.default_rng(3).random(len(ids))
    values[:3] = [0.0, 1.0, 0.5]
    path = tmp_path / "m.csv"
    path.write_bytes(csv(values, ids=ids))
    fast = fast_prediction_values(path.read_bytes(), IdTemplate(ids))
    slow = load_predictions(path).reindex(ids).to_numpy()
    assert fast is not None and np.array_equal(fast, slow) and np.array_equal(fast, values)


@pytest.mark.parametrize(
    "raw",
    [
        csv([1] * 100 + [0] * 100),                                       # integers
        csv(["1e-1", ".5", "+0.25", "1.", "0.12345678901234567890123"] * 40),  # other spellings
        csv([0.25] * 200).rstrip(b"\n"),                                   # no final newline
    ],
)
def test_other_spellings_of_numbers_read_as_the_general_loader_reads_them(tmp_path, raw):
    path = tmp_path / "m.csv"
    path.write_bytes(raw)
    fast = fast_prediction_values(raw, REF)
    assert fast is not None and np.array_equal(fast, load_predictions(path).reindex(IDS).to_numpy())


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
        csv([0.5] * 200, ids=UNEVEN),                            # other ids of the same count
        csv([0.5] * 200, ids=IDS[:199] + ["n00199x"]),           # one id a byte longer
        csv([0.5] * 200, ids=IDS[:199] + ["n00198"]),            # one id a byte different
        csv([0.5] * 200).replace(b"\n", b"\r\n"),                # CRLF: general loader decides
        csv([0.5] * 199 + [""]),                                 # an empty value
        csv([0.5] * 199 + ["0.5,0.5"]),                          # a line with two commas
        csv([0.5] * 199 + ['"0.5"']),                            # quoted value
        csv([0.5] * 199 + ["0.5 "]),                             # a trailing space
        csv([0.5] * 199 + ["1_0"]),                              # Python's float() would take it
        csv([0.5] * 200).replace(b"\n", b"\n\n", 1),             # a blank line
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
