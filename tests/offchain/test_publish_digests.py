"""Publishing records the digests evaluation computed (it does not hash the inputs again), and
they are the inputs' own: a Parquet file, a CSV file, a file that misses its commitment, one the
fast path refuses (other id order) and the targets."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from nmrstake.hashing import keccak_file, to_hex
from nmrstake.payouts import RoundParams
from nmrstake.results.evaluate import evaluate_round
from nmrstake.results.publish import publish_round
from nmrstake.results.read import recompute
from nmrstake.results.spec import PredictionKey, RoundInputs, RoundStake

NMR = 10**18
PARAMS = RoundParams(corr_multiplier_bps=5_000, mmc_multiplier_bps=20_000, clip_bps=500,
                     stake_threshold=72_000 * NMR, funded=1_000 * NMR)
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def make_round(folder: Path) -> tuple[RoundInputs, list[RoundStake]]:
    rng = np.random.default_rng(7)
    ids = [f"n{v:06d}" for v in range(200)]
    folder.mkdir(parents=True)
    targets = folder / "targets.csv"
    pd.DataFrame({"id": ids, "target": rng.integers(0, 5, len(ids)) / 4}).to_csv(targets, index=False)
    files: dict[PredictionKey, Path] = {}
    for k, kind in enumerate(["csv", "parquet", "shuffled", "uncommitted"]):
        frame = pd.DataFrame({"id": ids, "prediction": np.round(rng.random(len(ids)), 3)})
        if kind == "shuffled":
            frame = frame.sample(frac=1.0, random_state=1)  # the general loader's path
        path = folder / f"model_{k}.{'parquet' if kind == 'parquet' else 'csv'}"
        if kind == "parquet":
            buffer = io.BytesIO()
            frame.to_parquet(buffer, index=False)
            path.write_bytes(buffer.getvalue())
        else:
            frame.to_csv(path, index=False)
        files[f"model_{k}"] = path
    stakes = [RoundStake(f"model_{k}", f"0x{k + 1:040x}", (k + 1) * 100 * NMR,
                         b"\x01" * 32 if k == 3 else keccak_file(files[f"model_{k}"])) for k in range(4)]
    return RoundInputs(targets, files), stakes


def test_evaluation_digests_are_each_input_files_keccak_size_and_kind(tmp_path):
    inputs, stakes = make_round(tmp_path / "in")
    result = evaluate_round(3, PARAMS, stakes, inputs)
    sources = [inputs.targets, *inputs.predictions.values()]
    assert set(result.digests) == {str(p) for p in sources}
    for path in sources:
        known = result.digests[str(path)]
        assert (known.keccak, known.size, known.parquet) == (keccak_file(path), path.stat().st_size,
                                                             path.suffix == ".parquet")
    assert [r.valid for r in result.rows] == [True, True, True, False]


def test_published_manifest_records_evaluations_digests_and_recomputes(tmp_path):
    inputs, stakes = make_round(tmp_path / "in")
    result = evaluate_round(3, PARAMS, stakes, inputs)
    folder = publish_round(tmp_path / "out", result, chain_id=31337, contract=CONTRACT, inputs=inputs)
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = {item["path"]: item for item in manifest["inputs"]}
    assert set(listed) == {"inputs/targets.csv", "inputs/predictions/model_0.csv", "inputs/predictions/model_1.parquet",
                           "inputs/predictions/model_2.csv", "inputs/predictions/model_3.csv"}
    for rel, item in listed.items():
        assert item["keccak"] == to_hex(keccak_file(folder / rel))
        assert item["size"] == (folder / rel).stat().st_size
    assert manifest["predictions_keccak"]["model_1"] == to_hex(keccak_file(inputs.predictions["model_1"]))
    check = recompute(folder)  # a verifier, from the published copies alone
    assert check.ok, check.differences
