"""The submission store's files in the blob store (issue 21): on the local disk without a store
URL, as objects ``submissions/...`` of an S3 bucket with one (`blob_url`: local and a real
SeaweedFS), the rows in SQLite or PostgreSQL (`database_url`). An upload through the intake lands
in the store before its row; a writer killed between the two (the crash hook, in a real process)
leaves an orphan that the sweep deletes only once older than its grace period and never while its
key is held; an oracle on another machine (its own data folder, no local files) scores a round
from the bucket as the first machine did, and a service on a third serves a staker's file once
the round is published."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.object_store import blob_url, object_store, s3_bucket, s3_env  # noqa: F401
from helpers.scenario import synth_round
from helpers.uploads import intake_upload, open_intake

from nmrstake.hashing import keccak_bytes, to_hex
from nmrstake.intake import UploadLimits
from nmrstake.results.layout import DataLayout
from nmrstake.storage.holds import Holds
from nmrstake.submissions import CRASH_ENV, ORPHAN_GRACE, SubmissionStore, SweepReport

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def predictions(tmp_path) -> Path:
    return synth_round(tmp_path, 7, models=2) / "predictions"


def test_an_upload_through_the_intake__lands_in_the_store_and_its_row_points_to_it(
        tmp_path, blob_url, database_url, predictions):  # noqa: F811
    layout = DataLayout(tmp_path / "data", store_url=blob_url, database_url=database_url)
    store = layout.store().open_for_writing(clean=True)
    stored = intake_upload(open_intake(store), predictions / "model_00.csv")
    content = (predictions / "model_00.csv").read_bytes()

    prefix = "submissions/" if blob_url else "files/"
    assert stored.key == f"{prefix}round-7/model_00/{stored.staker}/{to_hex(keccak_bytes(content))}.csv"
    assert store.blobs.get_bytes(stored.key) == content
    [row] = store.uploads(7, "model_00", stored.staker)
    assert (row.key, row.size, row.receipt) == (stored.key, len(content), stored.receipt)
    assert store.local_path(row).read_bytes() == content
    assert list(store.tmp_dir.iterdir()) == []  # the staged file was given up
    if blob_url:  # nothing of it on this machine's disk but the copy fetched for the reader
        assert not store.files_dir.exists()
        assert store.local_path(row) == store.blobs.local_path(row.key)
        assert store.local_path(row).is_relative_to(layout.cache_dir)
    else:  # the single-host layout, as before
        assert row.path == store.files_dir / "round-7" / "model_00" / row.staker / f"{to_hex(row.file_hash)}.csv"
        assert store.local_path(row) == row.path


def test_an_acknowledged_upload_whose_object_is_gone_from_the_bucket__stops_the_reader_naming_the_key(
        tmp_path, s3_env, s3_bucket, database_url, predictions):  # noqa: F811
    """A row is committed only after its object was written, so a missing object is the store's
    failure: the oracle must stop, not score the stake as undelivered and post that on chain."""
    from nmrstake.errors import ConfigError

    layout = DataLayout(tmp_path / "data", store_url=f"s3://{s3_bucket}/nmrstake", database_url=database_url)
    store = layout.store().open_for_writing(clean=True)
    stored = intake_upload(open_intake(store), predictions / "model_00.csv")
    store.blobs.delete(stored.key)
    [row] = store.uploads(7, "model_00", stored.staker)
    with pytest.raises(ConfigError, match=f"{stored.key}.*acknowledged but its object is missing"):
        store.local_path(row)


def test_with_a_bucket__the_disk_kept_free_for_unstaked_models_does_not_apply__the_reserve_does(
        tmp_path, s3_env, s3_bucket, predictions):  # noqa: F811
    """A bucket has no disk to fill: `min_free_disk` (store-full) is the local disk's alone; the
    room kept for any upload (`reserved_disk`) is still checked on the disk uploads arrive on."""
    from nmrstake.errors import RequestError
    from nmrstake.intake import Standing

    free = SubmissionStore(tmp_path).open_for_writing()._free_bytes()
    huge = UploadLimits(min_free_disk=free * 4)
    unstaked = Standing(staked=False, may_stake=True)
    for url, refused in ((None, "store-full"), (f"s3://{s3_bucket}/t", None)):
        store = DataLayout(tmp_path / ("s3" if url else "local"), store_url=url).store().open_for_writing()
        intake = open_intake(store, huge)
        intake.standing = lambda r, m, s: unstaked
        if refused:
            with pytest.raises(RequestError, match="store is full"):
                intake_upload(intake, predictions / "model_00.csv")
        else:
            assert intake_upload(intake, predictions / "model_00.csv").size > 0
        intake.limits = UploadLimits(reserved_disk=free * 4)
        with pytest.raises(RequestError, match="disk is full"):
            intake_upload(intake, predictions / "model_01.csv")


CRASHING_WRITER = """
import sys
from pathlib import Path
from nmrstake.hashing import keccak_bytes
from nmrstake.results.layout import DataLayout
from nmrstake.signing import DeliveryReceipt
root, url, db, staker = sys.argv[1], sys.argv[2] or None, sys.argv[3], sys.argv[4]
store = DataLayout(Path(root), store_url=url, database_url=db).store().open_for_writing()
content = b"id,prediction\\nn1,0.5\\n"
digest = keccak_bytes(content)
with store.staging() as staged:
    staged.write_bytes(content)
    store.store(staged, round_id=7, model="model_01", staker=staker, file_hash=digest, extension=".csv",
                received_at=1, authorisation=b"\\x05" * 32, signature="0x",
                receipt=DeliveryReceipt(staker, 7, "model_01", digest, 1))
print("stored and logged")
"""


def test_a_writer_killed_between_the_object_and_its_row__leaves_an_orphan_the_sweep_deletes_after_the_grace_period(
        tmp_path, blob_url, database_url, predictions):  # noqa: F811
    layout = DataLayout(tmp_path / "data", store_url=blob_url, database_url=database_url)
    store = layout.store().open_for_writing(clean=True)
    kept = intake_upload(open_intake(store), predictions / "model_00.csv")
    staker = kept.staker

    writer = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(layout.root), blob_url or "", database_url,
                             staker], env={**os.environ, CRASH_ENV: "stored", "PYTHONPATH": os.pathsep.join(
                                 [str(TESTS.parent / "src"), str(TESTS)])}, capture_output=True, text=True,
                            timeout=120)
    assert writer.returncode == 86, writer.stderr  # killed by the hook, after the object, before the row
    orphan = store.file_key(7, "model_01", staker, keccak_bytes(b"id,prediction\nn1,0.5\n"), ".csv")
    assert store.blobs.stat(orphan) is not None and store.uploads(7, "model_01", staker) == []
    assert not store.authorisation_used(b"\x05" * 32)

    young = store.sweep_orphans()  # just written: within the grace period
    assert young.deleted == () and young.kept == (orphan,)
    assert store.blobs.stat(orphan) is not None

    later = time.time() + ORPHAN_GRACE + 60
    holds = Holds(store.database)  # an upload of that key in flight on another replica
    assert holds.hold_key((7, "model_01", staker))
    try:
        assert store.sweep_orphans(now=later).deleted == ()
    finally:
        holds.release_key((7, "model_01", staker))
    assert store.blobs.stat(orphan) is not None

    swept = store.sweep_orphans(now=later)
    assert swept.deleted == (orphan,) and swept.kept == ()
    assert store.blobs.stat(orphan) is None
    assert store.blobs.get_bytes(kept.key) == (predictions / "model_00.csv").read_bytes()  # referenced: kept
    assert store.sweep_orphans(now=later) == SweepReport((), ())


def test_an_oracle_on_another_machine__scores_the_round_from_the_bucket_as_the_first_one_and_a_third_serves_the_file(
        cli_world, s3_env, s3_bucket, monkeypatch):  # noqa: F811
    from ape import accounts
    from fastapi.testclient import TestClient
    from helpers.cli_runner import js
    from helpers.scenario import advance_to

    from nmrstake.oracle import Oracle
    from nmrstake.results.read import load_published
    from nmrstake.service.app import create_app
    from nmrstake.service.server import service_context

    client, common, data, _alice, tmp = cli_world
    url = f"s3://{s3_bucket}/tournament"
    here = tmp / "data"
    database = f"sqlite:///{here / 'service' / 'service.sqlite3'}"  # one database, as replicas share one
    monkeypatch.setenv("NMRSTAKE_STORE_URL", url)  # local delivery puts the file where the service would
    js("round", "open", "43", "--close", "1h", "--resolve", "1h", "--cap", "50", "--min-stake", "1", *common)
    inputs = synth_round(tmp, 43, models=1)
    predictions = inputs / "predictions" / "model_00.csv"
    js("stake", "--round", "43", "--model", "model_00", "--amount", "12.5", "--predictions", str(predictions),
       "--wallet", "alice", *common, *data)
    monkeypatch.delenv("NMRSTAKE_STORE_URL")
    first = DataLayout(here, store_url=url, database_url=database)
    [row] = first.store().uploads(43)
    assert row.key.startswith("submissions/round-43/")
    assert not [p for p in first.store().files_dir.rglob("*") if p.is_file()]  # made by the first start: empty
    assert first.store().blobs.get_bytes(row.key) == predictions.read_bytes()
    advance_to(client.round(43).resolve_time)

    def oracle_at(layout: DataLayout) -> Path:
        layout.targets_dir.mkdir(parents=True, exist_ok=True)
        (layout.targets_dir / "round-43.csv").write_bytes((inputs / "targets.csv").read_bytes())
        folder = Oracle(client, accounts.test_accounts[1], layout).compute(client.round(43))
        assert folder is not None
        return folder

    elsewhere = DataLayout(tmp / "machine-b", store_url=url, database_url=database)
    there = load_published(oracle_at(elsewhere))  # first: nothing of the round on machine b but the cache
    mine = load_published(oracle_at(first))
    assert there.manifest_hash == mine.manifest_hash
    assert [(r.model, r.valid) for r in there.rows] == [("model_00", True)]  # scored with the fetched file
    published = there.inputs.predictions.get(("model_00", row.staker)) or there.inputs.predictions["model_00"]
    assert Path(published).read_bytes() == predictions.read_bytes()
    assert not (elsewhere.service_dir / "files").exists()

    served = DataLayout(tmp / "machine-c", store_url=url, database_url=database,
                        receipt_key_file=here / "service" / "receipt-signer.key")
    with TestClient(create_app(service_context(client, served))) as http:
        got = http.get(f"/v1/rounds/43/submissions/model_00/{row.staker}/file")
        assert got.status_code == 200, got.text
        assert got.content == predictions.read_bytes()
