"""Nothing a staker sends stops a round or changes what honest stakers get (docs/security.md,
"Nothing a participant sends stops anyone else"), as a property of the oracle's evaluation: any mix
of honest stakes and hostile ones (model ids that are not names, files that share no id with the
targets, garbage bytes, constant predictions, a file other than the committed one, no file at
all) evaluates without an error; every hostile stake is refunded in full; and every honest stake
gets, to the wei, what it gets in the same round without the hostile ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nmrstake.hashing import keccak_file
from nmrstake.models import label_model_id, model_label
from nmrstake.payouts import RoundParams
from nmrstake.results.evaluate import evaluate_round
from nmrstake.results.spec import NOT_A_NAME, RoundInputs, RoundStake
from nmrstake.synth import generate, write

WEI = 10**18
PARAMS = RoundParams(corr_multiplier_bps=5_000, mmc_multiplier_bps=20_000, clip_bps=500,
                     stake_threshold=72_000 * WEI, funded=50 * WEI)
HONEST = 4
HOSTILE_KINDS = ("junk_id", "disjoint_ids", "garbage", "constant", "not_committed", "undelivered", "few_ids")
JUNK_IDS = [
    b"<img src=x onerror=alert(1)>".ljust(32, b"\0"),
    b"\xff" * 32,
    b"Model".ljust(32, b"\0"),
    "modèle".encode().ljust(32, b"\0"),
    b"a\0b".ljust(32, b"\0"),
]


@pytest.fixture(scope="module")
def round_files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    write(generate(rows=300, models=HONEST, seed=5), folder)
    (folder / "hostile").mkdir()  # the hostile files: whichever test of this module runs first on a worker
    return folder


def _hostile_file(folder: Path, kind: str, k: int) -> Path:
    """A staker's file of the given hostile kind (None: no file)."""
    ids = pd.read_csv(folder / "targets.csv")["id"].astype(str)
    path = folder / "hostile" / f"{kind}_{k}.csv"
    rng = np.random.default_rng(k)
    if kind == "disjoint_ids":
        frame = pd.DataFrame({"id": [f"other{i}" for i in range(len(ids))], "prediction": rng.random(len(ids))})
        frame.to_csv(path, index=False)
    elif kind == "few_ids":  # the targets' ids, and ten times as many others
        others = [f"x{i}" for i in range(10 * len(ids))]
        frame = pd.DataFrame({"id": [*ids, *others], "prediction": rng.random(11 * len(ids))})
        frame.to_csv(path, index=False)
    elif kind == "garbage":
        path.write_bytes(bytes(rng.integers(0, 256, 4096, dtype=np.uint8)))
    elif kind == "constant":
        pd.DataFrame({"id": ids, "prediction": 0.5}).to_csv(path, index=False)
    else:
        pd.DataFrame({"id": ids, "prediction": rng.random(len(ids))}).to_csv(path, index=False)
    return path


def _honest(folder: Path) -> tuple[list[RoundStake], dict]:
    stakes, files = [], {}
    for i in range(HONEST):
        model, staker = f"model_{i:02d}", f"0x{i + 1:040x}"
        path = folder / "predictions" / f"{model}.csv"
        stakes.append(RoundStake(model, staker, (i + 1) * 10 * WEI, keccak_file(path)))
        files[(model, staker)] = path
    return stakes, files


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hostile=st.lists(st.tuples(st.sampled_from(HOSTILE_KINDS), st.integers(1, 1000)), min_size=1, max_size=6),
       shared_name=st.booleans())
def test_evaluate__any_hostile_stakes__round_resolves_and_honest_stakes_get_the_same_to_the_wei(
        round_files, hostile, shared_name):
    honest, honest_files = _honest(round_files)
    alone = evaluate_round(7, PARAMS, honest, RoundInputs(round_files / "targets.csv", honest_files))

    stakes, files = list(honest), dict(honest_files)
    hostile_keys = set()
    for k, (kind, amount) in enumerate(hostile):
        staker = f"0x{0xbad000 + k:040x}"
        model = "model_00" if shared_name else f"attacker_{k}"  # a name an honest staker uses, or its own
        if kind == "junk_id":
            model = model_label(JUNK_IDS[k % len(JUNK_IDS)])
        path = _hostile_file(round_files, kind, k)
        commitment = keccak_file(path) if kind != "not_committed" else b"\x11" * 32
        stakes.append(RoundStake(model, staker, amount * WEI // 100, commitment))
        if kind not in ("undelivered", "junk_id"):
            files[(model, staker)] = path
        hostile_keys.add((model, staker.lower()))

    mixed = evaluate_round(7, PARAMS, stakes, RoundInputs(round_files / "targets.csv", files))

    by_key = {(r.model, r.staker.lower()): r for r in mixed.rows}
    for key in hostile_keys:
        row = by_key[key]
        assert not row.valid and row.payout == 0 and row.burn == 0, row
        if key[0].startswith("0x"):
            assert row.reason == NOT_A_NAME
    for row in alone.rows:
        got = by_key[(row.model, row.staker.lower())]
        assert (got.valid, got.payout, got.burn, got.corr, got.mmc) == (row.valid, row.payout, row.burn, row.corr,
                                                                         row.mmc)
    assert mixed.summary.total_payout == alone.summary.total_payout
    assert mixed.summary.total_burn == alone.summary.total_burn
    assert mixed.leaf_count == len(stakes) and mixed.tree is not None


def test_model_label__junk_ids__round_trip_and_never_pass_for_a_name():
    for raw in JUNK_IDS:
        label = model_label(raw)
        assert label == "0x" + raw.hex() and label_model_id(label) == raw
    assert model_label(b"model_00".ljust(32, b"\0")) == "model_00"
    with pytest.raises(Exception, match="name's id is written as the name"):
        label_model_id("0x" + b"model_00".ljust(32, b"\0").hex())


def _parquet_of_rows(path: Path, rows: int) -> Path:
    """A Parquet file of `rows` rows that is small on disk: one id repeated, one value."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"id": pa.array(["same"] * rows), "prediction": pa.array([0.5] * rows)})
    pq.write_table(table, path, compression="zstd")
    return path


def test_load_predictions__a_small_parquet_of_ten_million_rows__refused_from_its_metadata(tmp_path):
    from nmrstake.errors import InputError
    from nmrstake.scoring import MAX_PREDICTION_ROWS, load_predictions

    bomb = _parquet_of_rows(tmp_path / "bomb.parquet", 10_000_000)
    assert bomb.stat().st_size < 1_000_000  # small on disk, ten million rows once parsed
    with pytest.raises(InputError, match=f"10000000 rows, more than the {MAX_PREDICTION_ROWS} allowed"):
        load_predictions(bomb)


def test_load_predictions__too_many_csv_lines_or_header_fields__refused_before_parsing(tmp_path):
    from nmrstake.errors import InputError
    from nmrstake.scoring import load_predictions

    lines = tmp_path / "lines.csv"
    lines.write_text("id,prediction\n" + "".join(f"x{i},0.5\n" for i in range(101)))
    with pytest.raises(InputError, match="101 rows, more than the 100 allowed"):
        load_predictions(lines, max_rows=100)
    wide = tmp_path / "wide.csv"
    wide.write_text("id," + ",".join(f"c{i}" for i in range(50_000)) + "\nx,0.5\n")
    with pytest.raises(InputError, match="50001 columns"):
        load_predictions(wide)


def test_evaluate__a_file_of_more_rows_than_the_targets_allow__refunded_without_parsing(round_files):
    honest, files = _honest(round_files)
    bomb = _parquet_of_rows(round_files / "hostile" / "bomb.parquet", 2_000_000)
    attacker = RoundStake("bomb", f"0x{0xb0b:040x}", WEI, keccak_file(bomb))
    mixed = evaluate_round(7, PARAMS, [*honest, attacker],
                           RoundInputs(round_files / "targets.csv", {**files, ("bomb", attacker.staker): bomb}))
    row = next(r for r in mixed.rows if r.model == "bomb")
    assert not row.valid and "2000000 rows" in row.reason and row.payout == row.burn == 0
