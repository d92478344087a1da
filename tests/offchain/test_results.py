"""Evaluating, publishing (atomically), reloading and recomputing a round."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nmrstake
from nmrstake.errors import ConfigError, InputError
from nmrstake.hashing import keccak_bytes, keccak_file, to_hex
from nmrstake.merkle import LEAF_ENCODING, leaf_values, verify
from nmrstake.models import model_id
from nmrstake.payouts import RoundParams
from nmrstake.results.evaluate import evaluate_round
from nmrstake.results.publish import publish_round
from nmrstake.results.read import load_published, recompute
from nmrstake.results.spec import CSV_COLUMNS, PredictionKey, RoundInputs, RoundStake, canonical_json, manifest_hash
from nmrstake.scoring import load_predictions, load_targets, score_models

NMR = 10**18
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
PARAMS = RoundParams(corr_multiplier_bps=5_000, mmc_multiplier_bps=20_000, clip_bps=500,
                     stake_threshold=72_000 * NMR, funded=1_000 * NMR)
ROOT = Path(__file__).resolve().parents[2]


def staker(k: int) -> str:
    return f"0x{(k + 1) * 0x1111:040x}"


def make_round(folder: Path, models: int = 6, rows: int = 300, seed: int = 5) -> tuple[RoundInputs, list[RoundStake]]:
    """Targets and one predictions file per model (graded quality), stakes committing to them."""
    rng = np.random.default_rng(seed)
    ids = [f"n{v:015x}" for v in rng.choice(10**12, rows, replace=False)]
    signal = rng.standard_normal(rows)
    target = np.digitize(signal + rng.standard_normal(rows), [-1.6, -0.7, 0.7, 1.6]) / 4
    folder.mkdir(parents=True, exist_ok=True)
    targets = folder / "targets.csv"
    pd.DataFrame({"id": ids, "target": target}).to_csv(targets, index=False)
    predictions: dict[PredictionKey, Path] = {}
    stakes: list[RoundStake] = []
    for k in range(models):
        name = f"model_{k}"
        q = 0.8 - 1.6 * k / max(models - 1, 1)
        raw = q * signal + np.sqrt(1 - q * q) * rng.standard_normal(rows)
        path = folder / "predictions" / f"{name}.csv"
        path.parent.mkdir(exist_ok=True)
        pd.DataFrame({"id": ids, "prediction": pd.Series(raw).rank(pct=True)}).to_csv(path, index=False)
        predictions[name] = path
        stakes.append(RoundStake(name, staker(k), (k + 1) * 1_000 * NMR, keccak_file(path)))
    return RoundInputs(targets=targets, predictions=predictions), stakes


def test_evaluate_round_validity_and_scores(tmp_path):
    inputs, stakes = make_round(tmp_path / "in")
    preds = dict(inputs.predictions)
    # model_6: no file; model_7: file does not match its commitment; model_8: bad values;
    # model_9: misses ids; model_10: constant predictions
    stakes.append(RoundStake("model_6", staker(6), 5 * NMR, b"\x01" * 32))
    bad = tmp_path / "in" / "bad.csv"
    bad.write_text("id,p\nx,2\n")
    preds["model_7"] = inputs.predictions["model_0"]
    stakes.append(RoundStake("model_7", staker(7), 7 * NMR, b"\x02" * 32))
    preds["model_8"] = bad
    stakes.append(RoundStake("model_8", staker(8), 8 * NMR, keccak_file(bad)))
    full = pd.read_csv(inputs.predictions["model_0"])
    short = tmp_path / "in" / "short.csv"
    full.iloc[10:].to_csv(short, index=False)
    preds["model_9"] = short
    stakes.append(RoundStake("model_9", staker(9), 9 * NMR, None))
    flat = tmp_path / "in" / "flat.csv"
    full.assign(prediction=0.5).to_csv(flat, index=False)
    preds["model_10"] = flat
    stakes.append(RoundStake("model_10", staker(10), 10 * NMR, None))
    inputs = RoundInputs(inputs.targets, preds)

    result = evaluate_round(12, PARAMS, stakes[::-1], inputs)
    rows = {r.model: r for r in result.rows}
    assert [r.model for r in result.rows] == sorted(rows)  # sorted by (model, staker)
    assert rows["model_6"].reason == "no predictions file delivered by close"
    assert rows["model_7"].reason.startswith("predictions file keccak 0x")
    assert "does not match the commitment 0x0202" in rows["model_7"].reason
    assert rows["model_8"].reason == (
        "predictions file inputs/predictions/model_8.csv: column 'p': 2.0 is outside [0, 1] at line 2 (id 'x')"
    )
    assert rows["model_9"].reason.startswith("predictions miss 10 of the 300 scored ids")
    assert rows["model_10"].reason == "predictions are all equal (they cannot be ranked)"
    for name in ("model_6", "model_7", "model_8", "model_9", "model_10"):
        assert not rows[name].valid and rows[name].payout == rows[name].burn == 0
        assert rows[name].corr is None and rows[name].mmc is None
    valid = [f"model_{k}" for k in range(6)]
    assert all(rows[m].valid and rows[m].reason == "" for m in valid)
    assert rows["model_0"].payout > 0 and rows["model_5"].burn > 0

    # scores are score_models' on the valid models, meta model weighted by their stakes
    frame = pd.concat({m: load_predictions(inputs.predictions[m]) for m in valid}, axis=1)
    expected = score_models(frame, load_targets(inputs.targets), stakes=pd.Series({m: (k + 1) * 1000 * NMR for k, m in enumerate(valid)}))
    for _, rec in expected.iterrows():
        assert rows[rec["model"]].corr == rec["corr"] and rows[rec["model"]].mmc == rec["mmc"]

    assert result.summary.total_at_risk == sum((k + 1) * 1000 * NMR for k in range(6))
    assert result.summary.total_staked == result.summary.total_at_risk + 39 * NMR
    assert result.leaf_count == len(stakes) == len(result.proofs)
    assert result.tree is not None  # there are stakes
    for k, row in enumerate(result.rows):
        value = leaf_values(12, model_id(row.model), row.staker, row.stake, row.payout, row.burn)
        assert result.tree.at(k) == value
        assert verify(result.root, LEAF_ENCODING, value, result.proofs[k])


def test_evaluate_round_bad_targets_and_empty(tmp_path):
    inputs, stakes = make_round(tmp_path / "in", models=2)
    (tmp_path / "t.csv").write_text("id,target\na,7\n")
    with pytest.raises(InputError, match="targets file"):
        evaluate_round(1, PARAMS, stakes, RoundInputs(tmp_path / "t.csv", inputs.predictions))
    empty = evaluate_round(1, PARAMS, [], inputs)
    assert empty.rows == [] and empty.tree is None and empty.root == "0x" + "00" * 32


def read_csv_rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_publish_layout_manifest_and_idempotence(tmp_path):
    inputs, stakes = make_round(tmp_path / "in")
    result = evaluate_round(3, PARAMS, stakes, inputs)
    out = tmp_path / "results"
    folder = publish_round(out, result, chain_id=31337, contract=CONTRACT.lower(), inputs=inputs)
    assert folder == out / "round-3"
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert names == sorted(
        ["manifest.json", "results.csv", "tree.json", "inputs/targets.csv"]
        + [f"inputs/predictions/model_{k}.csv" for k in range(6)]
    )
    assert [p.name for p in out.iterdir()] == ["round-3"]  # no temporary folder left

    raw = (folder / "manifest.json").read_bytes()
    manifest = json.loads(raw)
    assert canonical_json(manifest) == raw and raw.endswith(b"}\n")
    assert manifest_hash(folder / "manifest.json") == keccak_bytes(raw) == manifest_hash(folder)
    assert manifest["round_id"] == 3 and manifest["chain_id"] == 31337 and manifest["contract"] == CONTRACT
    assert manifest["merkle_root"] == result.root and manifest["leaf_count"] == 6
    assert manifest["leaf_encoding"] == LEAF_ENCODING
    assert manifest["params"] == PARAMS.to_json()
    assert manifest["nmrstake_version"] == nmrstake.__version__
    assert manifest["totals"]["total_payout"] == str(result.summary.total_payout)
    assert manifest["payout_factor"] == "1" and manifest["scale"] == "1"
    assert manifest["targets_keccak"] == to_hex(keccak_file(inputs.targets))
    assert manifest["predictions_keccak"] == {m: to_hex(keccak_file(p)) for m, p in inputs.predictions.items()}
    assert manifest["files"]["results.csv"] == to_hex(keccak_file(folder / "results.csv"))
    assert {i["path"] for i in manifest["inputs"]} == {n for n in names if n.startswith("inputs/")}
    assert (folder / "inputs/targets.csv").read_bytes() == inputs.targets.read_bytes()

    rows = read_csv_rows(folder / "results.csv")
    assert list(rows[0]) == CSV_COLUMNS
    for k, (rec, row) in enumerate(zip(rows, result.rows)):
        assert rec["model"] == row.model and int(rec["payout"]) == row.payout and int(rec["leaf_index"]) == k
        assert float(rec["corr"]) == row.corr and float(rec["mmc"]) == row.mmc  # full precision
        assert rec["proof"].split(";") == result.proofs[k]

    # identical republish: a no-op; different content: refused, existing folder untouched
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert publish_round(out, result, chain_id=31337, contract=CONTRACT, inputs=inputs) == folder
    with pytest.raises(ConfigError, match="already published with different content .*manifest.json"):
        publish_round(out, result, chain_id=1, contract=CONTRACT, inputs=inputs)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert [p.name for p in out.iterdir()] == ["round-3"]


def test_publish_failure_leaves_nothing(tmp_path, monkeypatch):
    inputs, stakes = make_round(tmp_path / "in", models=3)
    result = evaluate_round(4, PARAMS, stakes, inputs)
    calls = {"n": 0}
    real_copy = shutil.copyfile

    def failing_copy(src, dst, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real_copy(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", failing_copy)
    # no hard links (as across devices): every input is copied, and the third copy fails
    monkeypatch.setattr(os, "link", lambda *a, **k: (_ for _ in ()).throw(OSError(18, "Invalid cross-device link")))
    out = tmp_path / "results"
    with pytest.raises(ConfigError, match="cannot publish \\(No space left on device\\)"):
        publish_round(out, result, chain_id=31337, contract=CONTRACT, inputs=inputs)
    assert list(out.iterdir()) == []


def test_load_published_and_recompute(tmp_path):
    inputs, stakes = make_round(tmp_path / "in")
    meta = tmp_path / "in" / "meta.parquet"
    mm = pd.read_csv(inputs.predictions["model_2"])
    mm.to_parquet(meta, index=False)
    predictions = dict(inputs.predictions)
    # invalid stakes must be recomputed identically: a bad file, a missing one, a wrong commitment
    bad = tmp_path / "in" / "bad.csv"
    bad.write_text("id,p\nx,oops\n")
    predictions["bad_one"] = bad
    predictions["gone"] = tmp_path / "in" / "does_not_exist.csv"
    stakes = stakes + [
        RoundStake("bad_one", staker(20), 3 * NMR, keccak_file(bad)),
        RoundStake("gone", staker(21), 4 * NMR, b"\x07" * 32),
        RoundStake("model_0", staker(22), 5 * NMR, b"\x08" * 32),
    ]
    inputs = RoundInputs(inputs.targets, predictions, meta_model=meta)
    # a scale-down and a payout factor < 1
    params = RoundParams(corr_multiplier_bps=5_000, mmc_multiplier_bps=20_000, clip_bps=500,
                         stake_threshold=10_000 * NMR, funded=20 * NMR)
    result = evaluate_round(9, params, stakes, inputs)
    assert result.summary.scale < 1 and result.summary.payout_factor < 1
    folder = publish_round(tmp_path / "results", result, chain_id=1, contract=CONTRACT, inputs=inputs)
    assert (folder / "inputs/meta_model.parquet").is_file()

    pub = load_published(folder)
    assert pub.round_id == 9 and pub.params == params and pub.merkle_root == result.root
    assert pub.scale == result.summary.scale and pub.payout_factor == result.summary.payout_factor
    assert pub.total_payout == result.summary.total_payout <= 20 * NMR
    assert [r.payout for r in pub.rows] == [r.payout for r in result.rows]
    assert pub.results_hash == to_hex(manifest_hash(folder))
    assert pub.commitments[("model_0", stakes[0].staker)] == stakes[0].commitment
    assert pub.integrity_problems() == []
    reasons = {(r.model, r.staker): r.reason for r in pub.rows if not r.valid}
    assert reasons == {
        ("bad_one", staker(20)): "predictions file inputs/predictions/bad_one.csv: column 'p': 'oops' is not a number at line 2 (id 'x')",
        ("gone", staker(21)): "no predictions file delivered by close",
        ("model_0", staker(22)): reasons[("model_0", staker(22))],
    }
    assert "does not match the commitment" in reasons[("model_0", staker(22))]

    again = recompute(folder)
    assert again.ok, again.differences
    assert again.manifest_hash == pub.manifest_hash and again.root == pub.merkle_root

    # tamper with a copied input: the recomputation no longer matches
    copy = folder / "inputs/predictions/model_1.csv"
    df = pd.read_csv(copy)
    df.loc[0, "prediction"] = 1.0 - df.loc[0, "prediction"]
    copy.unlink()  # published inputs are read-only hard links: a tamperer replaces the name
    df.to_csv(copy, index=False)
    tampered = recompute(folder)
    assert not tampered.ok
    assert any("inputs/predictions/model_1.csv: keccak differs" in d for d in tampered.differences)
    assert any("does not match the commitment" in r.reason for r in tampered.result.rows if r.model == "model_1")


def test_load_published_errors(tmp_path):
    with pytest.raises(InputError, match="manifest.json: cannot read"):
        load_published(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(InputError, match="not an nmrstake results manifest"):
        load_published(tmp_path)


def test_published_tree_verifies_in_javascript(tmp_path):
    assert shutil.which("node"), "node is missing: run `make install`"
    inputs, stakes = make_round(tmp_path / "in", models=5)
    folder = publish_round(tmp_path / "r", evaluate_round(2, PARAMS, stakes, inputs), chain_id=5, contract=CONTRACT, inputs=inputs)
    js = r"""
const { StandardMerkleTree } = require(process.argv[1]);
const fs = require("fs");
const tree = StandardMerkleTree.load(JSON.parse(fs.readFileSync(process.argv[2], "utf8")));
const lines = fs.readFileSync(process.argv[3], "utf8").trim().split("\n").slice(1);
const ok = lines.every((line, i) => {
  const proof = line.split(",").pop().split(";");
  return StandardMerkleTree.verify(tree.root, tree.leafEncoding, tree.at(i), proof);
});
process.stdout.write(JSON.stringify({ root: tree.root, ok }));
"""
    out = subprocess.run(
        ["node", "-e", js, str(ROOT / "node_modules/@openzeppelin/merkle-tree"), str(folder / "tree.json"), str(folder / "results.csv")],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    answer = json.loads(out.stdout)
    assert answer == {"root": json.loads((folder / "manifest.json").read_text())["merkle_root"], "ok": True}


def test_published_predictions_are_read_only_links_that_keep_the_committed_bytes(tmp_path):
    inputs, stakes = make_round(tmp_path / "in", models=2)
    result = evaluate_round(5, PARAMS, stakes, inputs)
    folder = publish_round(tmp_path / "results", result, chain_id=31337, contract=CONTRACT, inputs=inputs)
    src = inputs.predictions["model_0"]
    published = next((folder / "inputs" / "predictions").glob("model_0.*"))
    assert published.read_bytes() == src.read_bytes()
    assert published.stat().st_mode & 0o777 == 0o444
    # A new submission replaces the file by rename (as `nmrstake stake` does): the published bytes stay.
    before = published.read_bytes()
    replacement = src.with_suffix(".new")
    replacement.write_bytes(before.replace(b"0.", b"0.0", 1))
    os.replace(replacement, src)
    assert published.read_bytes() == before
    assert recompute(folder).ok
