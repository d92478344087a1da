"""Published results shared through a store (src/nmrstake/results/stored.py): an oracle pushes a
round from its data folder to an S3 bucket (a real SeaweedFS server), and a service or another
oracle with another data folder reads the same round from it."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers.object_store import blob_url, object_store, s3_bucket, s3_env  # noqa: F401
from helpers.scenario import WEI, deployed_with_open_round

from nmrstake.errors import ConfigError
from nmrstake.hashing import checksum_address, keccak_file
from nmrstake.payouts import RoundParams
from nmrstake.results.evaluate import evaluate_round
from nmrstake.results.layout import DataLayout
from nmrstake.results.publish import publish_round
from nmrstake.results.read import load_published
from nmrstake.results.spec import PredictionKey, RoundInputs, RoundStake
from nmrstake.service.app import create_app
from nmrstake.service.server import service_context

ROUND = 7
PARAMS = RoundParams(corr_multiplier_bps=5_000, mmc_multiplier_bps=0, clip_bps=500, stake_threshold=0, funded=0)


def publish(layout: DataLayout, inputs_dir: Path, round_id: int = ROUND, seed: int = 1, models: int = 3) -> Path:
    """A round evaluated from small files, published into the layout's results folder."""
    rng = random.Random(seed)
    inputs_dir.mkdir(parents=True)
    ids = [f"id{i}" for i in range(40)]
    targets = inputs_dir / "targets.csv"
    targets.write_text("id,target\n" + "".join(f"{i},{rng.choice([0, 0.5, 1])}\n" for i in ids))
    predictions: dict[PredictionKey, Path] = {}
    stakes = []
    for k in range(models):
        path = inputs_dir / f"model_{k}.csv"
        path.write_text("id,prediction\n" + "".join(f"{i},{rng.random()}\n" for i in ids))
        predictions[f"model_{k}"] = path
        stakes.append(RoundStake(f"model_{k}", checksum_address(f"0x{k + 1:040x}"), WEI, keccak_file(path)))
    inputs = RoundInputs(targets=targets, predictions=predictions)
    return publish_round(layout.results_dir, evaluate_round(round_id, PARAMS, stakes, inputs), chain_id=31337,
                         contract="0x" + "11" * 20, inputs=inputs)


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_push__then_another_data_folder__reads_pulls_and_lists_the_same_round(s3_env, s3_bucket, tmp_path):  # noqa: F811
    url = f"s3://{s3_bucket}/shared"
    oracle = DataLayout(tmp_path / "oracle-data", store_url=url)
    folder = publish(oracle, tmp_path / "in")
    assert oracle.published_store().push(ROUND) is True
    assert oracle.published_store().push(ROUND) is False  # the same manifest is there: nothing to do

    elsewhere = DataLayout(tmp_path / "other-machine", store_url=url).published_store()
    assert elsewhere.rounds() == [ROUND]
    assert elsewhere.is_published(ROUND)
    read = load_published(elsewhere.folder(ROUND))
    assert read.manifest_hash == load_published(folder).manifest_hash
    assert read.rows == load_published(folder).rows
    assert elsewhere.stamp(ROUND) == elsewhere.stamp(ROUND)
    pulled = elsewhere.pull(ROUND)
    assert pulled == tmp_path / "other-machine" / "results" / f"round-{ROUND}"
    assert files_of(pulled) == files_of(folder)
    assert load_published(pulled).integrity_problems() == []


def test_push__of_another_result_for_a_round_already_in_the_store__is_refused_and_writes_nothing(
        s3_env, s3_bucket, tmp_path):  # noqa: F811
    url = f"s3://{s3_bucket}/shared"
    first = DataLayout(tmp_path / "a", store_url=url)
    publish(first, tmp_path / "in-a", seed=1)
    first.published_store().push(ROUND)
    before = {key: first.blobs().stat(key) for key in first.blobs().list()}  # type: ignore[union-attr]
    second = DataLayout(tmp_path / "b", store_url=url)
    publish(second, tmp_path / "in-b", seed=2)
    with pytest.raises(ConfigError, match=f"round-{ROUND}/manifest.json: already published with another manifest"):
        second.published_store().push(ROUND)
    assert {key: first.blobs().stat(key) for key in first.blobs().list()} == before  # type: ignore[union-attr]


def test_withdraw__removes_the_round_from_the_store__manifest_first(s3_env, s3_bucket, tmp_path):  # noqa: F811
    layout = DataLayout(tmp_path / "a", store_url=f"s3://{s3_bucket}/shared")
    folder = publish(layout, tmp_path / "in")
    store = layout.published_store()
    store.push(ROUND)
    store.withdraw(ROUND, load_published(folder).manifest_hash)
    assert not store.is_published(ROUND)
    assert store.rounds() == []
    assert layout.blobs().list() == []  # type: ignore[union-attr]


def test_without_a_store_url__the_published_rounds_are_the_results_folder_alone(tmp_path):
    layout = DataLayout(tmp_path / "data")
    folder = publish(layout, tmp_path / "in")
    store = layout.published_store()
    assert store.blobs is None
    assert store.push(ROUND) is False
    assert store.folder(ROUND) == folder
    assert store.rounds() == [ROUND]
    assert store.file(ROUND, "results.csv") == folder / "results.csv"
    assert store.file(ROUND, "nothing.csv") is None


def test_a_service_with_another_data_folder__serves_the_round_an_oracle_pushed(
        project, owner, blob_url, tmp_path):  # noqa: F811
    """The oracle's machine publishes and pushes; the service's machine (its own data folder) reads
    the store: the listing, every file byte for byte, the leaderboard, a staker's file and the
    dashboard's read-ahead. On the local disk (no store URL) both share one data folder, as today."""
    client = deployed_with_open_round(project, owner, tmp_path, ROUND)
    oracle = DataLayout(tmp_path / "oracle-data", store_url=blob_url)
    served = DataLayout(tmp_path / ("service-data" if blob_url else "oracle-data"), store_url=blob_url)
    http = TestClient(create_app(service_context(client, served)))
    with http:
        assert http.get(f"/v1/rounds/{ROUND}/files").status_code == 404
        assert http.get(f"/v1/rounds/{ROUND}").json()["published"] is False
        folder = publish(oracle, tmp_path / "in")
        oracle.published_store().push(ROUND)

        assert http.get(f"/v1/rounds/{ROUND}").json()["published"] is True
        listing = http.get(f"/v1/rounds/{ROUND}/files")
        assert listing.status_code == 200, listing.text
        expected = files_of(folder)
        assert sorted(f["path"] for f in listing.json()["files"]) == sorted(expected)
        for item in listing.json()["files"]:
            got = http.get(f"/v1/rounds/{ROUND}/files/{item['path']}")
            assert got.status_code == 200, (item, got.text)
            assert got.content == expected[item["path"]]
            assert item["size"] == len(expected[item["path"]])
        board = http.get(f"/v1/rounds/{ROUND}/leaderboard").json()
        assert board["total"] == 3
        staker = checksum_address(f"0x{1:040x}")
        own = http.get(f"/v1/rounds/{ROUND}/submissions/model_0/{staker}/file")
        assert own.status_code == 200, own.text
        assert own.content == expected["inputs/predictions/model_0.csv"]
        assert http.get(f"/v1/rounds/{ROUND}/verification").json()["published"] is True
