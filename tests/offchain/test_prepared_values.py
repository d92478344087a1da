"""Prepared values (nmrstake.prepared): the service keeps a plain CSV's values beside it at upload,
and the oracle reading its own store scores from them without parsing or hashing the CSV again.
The round must be exactly the round the CSV files give; a torn, foreign or mismatched prepared
file is never used; prepared values are used only for inputs that say they are the store's; the
intake writes them beside the file (local disk and a real S3 store) and the sweep treats them as
part of their file."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from helpers.object_store import blob_url, object_store, s3_bucket, s3_env  # noqa: F401
from helpers.scenario import synth_round
from helpers.uploads import intake_upload, open_intake

from nmrstake.hashing import keccak_bytes, keccak_file, to_hex
from nmrstake.payouts import RoundParams
from nmrstake.prepared import SUFFIX, Prepared, decode, encode, prepare, read_beside
from nmrstake.results.evaluate import evaluate_round
from nmrstake.results.layout import DataLayout
from nmrstake.results.spec import PredictionKey, RoundInputs, RoundStake
from nmrstake.submissions import ORPHAN_GRACE, SubmissionStore
from nmrstake.synth import generate, write

PARAMS = RoundParams(corr_multiplier_bps=5000, mmc_multiplier_bps=20000, clip_bps=500,
                     stake_threshold=72_000 * 10**18, funded=10**21)


def stored_as_the_service_stores(source: Path, folder: Path) -> Path:
    """`source` as ``<folder>/<keccak>.csv`` with its prepared values beside it, as the intake writes them."""
    raw = source.read_bytes()
    digest = keccak_bytes(raw)
    target = folder / f"{to_hex(digest)}.csv"
    target.write_bytes(raw)
    prepared = prepare(raw, digest)
    if prepared is not None:
        Path(f"{target}{SUFFIX}").write_bytes(encode(prepared))
    return target


def outcome(result):
    return (result.root, [(r.model, r.staker, r.corr, r.mmc, r.payout, r.burn, r.valid, r.reason) for r in result.rows],
            {Path(k).name: (v.keccak, v.size) for k, v in result.digests.items()})


def test_encode_then_decode__gives_the_same_and_a_torn_altered_or_foreign_file_is_refused():
    prepared = Prepared(b"\x01" * 32, 1234, b"\x02" * 32, np.array([0.0, 0.25, 1.0, 0.1 + 0.2]))
    data = encode(prepared)
    back = decode(data)
    assert back is not None and (back.keccak, back.size, back.ids) == (prepared.keccak, prepared.size, prepared.ids)
    assert np.array_equal(back.values, prepared.values)
    assert decode(data[:-1]) is None  # torn
    assert decode(data + b"\x00") is None
    altered = bytearray(data)
    altered[90] ^= 1  # a bit of a value
    assert decode(bytes(altered)) is None
    assert decode(b"NMRPREP2" + data[8:]) is None
    assert decode(b"") is None and decode(b"id,prediction\n") is None


def test_read_beside__only_a_whole_file_stating_its_csvs_size_and_the_keccak_of_its_name(tmp_path):
    folder = synth_round(tmp_path, 3, models=1)
    source = folder / "predictions" / "model_00.csv"
    (tmp_path / "store").mkdir()
    target = stored_as_the_service_stores(source, tmp_path / "store")
    got = read_beside(target)
    assert got is not None and got.keccak == keccak_file(target) and got.size == target.stat().st_size

    renamed = tmp_path / "store" / "model_00.csv"  # the same file and values under a name that is no keccak
    renamed.write_bytes(target.read_bytes())
    Path(f"{renamed}{SUFFIX}").write_bytes(Path(f"{target}{SUFFIX}").read_bytes())
    assert read_beside(renamed) is None
    other = tmp_path / "store" / (to_hex(bytes(32)) + ".csv")  # another keccak's name
    other.write_bytes(target.read_bytes())
    Path(f"{other}{SUFFIX}").write_bytes(Path(f"{target}{SUFFIX}").read_bytes())
    assert read_beside(other) is None
    with open(target, "ab") as fh:  # the file beside is no longer the size stated
        fh.write(b"x,0.5\n")
    assert read_beside(target) is None
    assert read_beside(tmp_path / "store" / "missing.csv") is None


def test_evaluate_round__from_prepared_values__is_the_round_the_csv_files_give(tmp_path):
    """Files whose ids are the targets' in order (values straight in), one shuffled (the general
    loader, its keccak still from its prepared file), one not the committed file, one Parquet (no
    prepared file), one missing."""
    data = generate(rows=300, models=6, seed=11)
    folder = write(data, tmp_path / "round")
    names = data.model_names
    plain: dict[PredictionKey, Path] = {m: folder / "predictions" / f"{m}.csv" for m in names}
    lines = plain[names[1]].read_text().splitlines()
    body = lines[1:]
    np.random.default_rng(2).shuffle(body)
    plain[names[1]].write_text("\n".join([lines[0], *body]) + "\n")
    frame = data.predictions[[names[2]]].rename(columns={names[2]: "prediction"})
    parquet = tmp_path / "m2.parquet"
    frame.reset_index().to_parquet(parquet, index=False)
    plain[names[2]] = parquet
    stakes = [RoundStake(m, "0x" + f"{k + 1:040x}", 10**19 * (k + 1),
                         keccak_file(plain[m]) if k != 3 else b"\x09" * 32) for k, m in enumerate(names)]
    del plain[names[4]]

    store = tmp_path / "store"
    store.mkdir()
    prepared: dict[PredictionKey, Path] = {}
    for m, p in plain.items():
        prepared[m] = stored_as_the_service_stores(p, store) if p.suffix == ".csv" else p
    assert not Path(f"{prepared[names[2]]}{SUFFIX}").exists()

    from_csv = evaluate_round(1, PARAMS, stakes, RoundInputs(folder / "targets.csv", dict(plain)))
    from_store = evaluate_round(1, PARAMS, stakes, RoundInputs(folder / "targets.csv", prepared, prepared=True))
    mine, theirs = outcome(from_csv), outcome(from_store)
    assert mine[:2] == theirs[:2]
    assert sorted(mine[2].values()) == sorted(theirs[2].values())
    assert [r.valid for r in from_store.rows] == [True, True, True, False, False, True]


def test_evaluate_round__uses_prepared_values_only_for_inputs_that_say_they_are_the_stores(tmp_path):
    """A prepared file is the operator's own cache: trusted when the inputs are the store's
    (RoundInputs.prepared, set by the oracle), never read otherwise."""
    data = generate(rows=300, models=3, seed=12)
    folder = write(data, tmp_path / "round")
    store = tmp_path / "store"
    store.mkdir()
    files: dict[PredictionKey, Path] = {}
    for m in data.model_names:
        files[m] = stored_as_the_service_stores(folder / "predictions" / f"{m}.csv", store)
    stakes = [RoundStake(m, "0x" + f"{k + 1:040x}", 10**19, keccak_file(files[m])) for k, m in enumerate(data.model_names)]
    sidecar = Path(f"{files[data.model_names[0]]}{SUFFIX}")
    honest = decode(sidecar.read_bytes())
    assert honest is not None
    sidecar.write_bytes(encode(Prepared(honest.keccak, honest.size, honest.ids, honest.values[::-1].copy())))

    plain = evaluate_round(1, PARAMS, stakes, RoundInputs(folder / "targets.csv", files))
    csv_only = evaluate_round(1, PARAMS, stakes, RoundInputs(folder / "targets.csv",
                                                              {m: folder / "predictions" / f"{m}.csv" for m in files}))
    trusted = evaluate_round(1, PARAMS, stakes, RoundInputs(folder / "targets.csv", files, prepared=True))
    assert outcome(plain)[:2] == outcome(csv_only)[:2]
    assert trusted.rows[0].corr != plain.rows[0].corr  # the prepared values were what was scored


@pytest.fixture
def intake_store(tmp_path, blob_url, database_url):  # noqa: F811
    layout = DataLayout(tmp_path / "data", store_url=blob_url, database_url=database_url)
    store = layout.store().open_for_writing(clean=True)
    return store, open_intake(store)


def test_an_upload_of_a_plain_csv__has_its_prepared_values_beside_it_on_the_local_disk_and_none_in_a_shared_store(
        tmp_path, intake_store):
    """On the local disk the oracle reads the values beside the file for free; from a shared store
    it fetches the CSV anyway, so a second object would cost a PUT and a GET for a parse it saves."""
    store, intake = intake_store
    source = synth_round(tmp_path, 7, models=1) / "predictions" / "model_00.csv"
    stored = intake_upload(intake, source)
    raw = source.read_bytes()
    path = store.local_path(stored)
    assert path.read_bytes() == raw
    if store.shared:
        assert store.blobs.stat(stored.key + SUFFIX) is None and read_beside(path) is None
        return
    got = decode(store.blobs.get_bytes(stored.key + SUFFIX))
    expected = prepare(raw, keccak_bytes(raw))
    assert got is not None and expected is not None
    assert (got.keccak, got.size, got.ids) == (expected.keccak, expected.size, expected.ids)
    assert np.array_equal(got.values, expected.values)
    beside = read_beside(path)
    assert beside is not None and np.array_equal(beside.values, expected.values)


def test_an_upload_of_a_parquet_file__has_no_prepared_values_and_is_read_as_before(tmp_path, intake_store):
    store, intake = intake_store
    data = generate(rows=50, models=1, seed=3)
    path = tmp_path / "p.parquet"
    data.predictions[[data.model_names[0]]].rename(columns={data.model_names[0]: "prediction"}).reset_index().to_parquet(
        path, index=False)
    stored = intake_upload(intake, path)
    assert stored.key.endswith(".parquet") and store.blobs.stat(stored.key + SUFFIX) is None
    local = store.local_path(stored)
    assert local.read_bytes() == path.read_bytes() and read_beside(local) is None


def test_sweep__deletes_prepared_values_whose_file_no_row_refers_to_and_keeps_a_stored_files(tmp_path, intake_store):
    store, intake = intake_store
    source = synth_round(tmp_path, 7, models=1) / "predictions" / "model_00.csv"
    stored = intake_upload(intake, source)
    orphan = store.file_key(7, "model_01", stored.staker, b"\x05" * 32, ".csv") + SUFFIX  # a writer killed after it
    store.blobs.put_bytes(orphan, b"left behind")
    if store.shared:  # the service writes none there now; an older one did, beside a stored file
        store.blobs.put_bytes(stored.key + SUFFIX, b"an older writer's")
    later = time.time() + ORPHAN_GRACE + 60
    swept = store.sweep_orphans(now=later)
    assert swept.deleted == (orphan,)
    assert store.blobs.stat(orphan) is None
    assert store.blobs.stat(stored.key + SUFFIX) is not None and store.blobs.stat(stored.key) is not None


def test_store__without_prepared_values__stores_as_before(tmp_path, database_url):
    """A caller that has none (a Parquet file, an older writer) stores the file alone."""
    from nmrstake.signing import DeliveryReceipt

    store = SubmissionStore(tmp_path / "service", database_url=database_url).open_for_writing(clean=True)
    content = b"id,prediction\nn1,0.5\nn2,0.25\n"
    digest = keccak_bytes(content)
    with store.staging() as staged:
        staged.write_bytes(content)
        row = store.store(staged, round_id=7, model="m", staker="0x" + "a1" * 20, file_hash=digest, extension=".csv",
                          received_at=1, authorisation=b"\x01" * 32, signature="0x",
                          receipt=DeliveryReceipt("0x" + "a1" * 20, 7, "m", digest, 1))
    assert store.blobs.get_bytes(row.key) == content and store.blobs.stat(row.key + SUFFIX) is None
