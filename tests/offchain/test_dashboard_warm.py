"""The service reads published rounds before their first visitor: when it starts, and whenever a
round's files appear or change (Dashboard.warm, run by a thread that lives as long as the app)."""

from __future__ import annotations

import os
import random
import threading
from pathlib import Path

from fastapi.testclient import TestClient
from helpers.scenario import WEI, deployed_with_open_round

from nmrstake.hashing import checksum_address, keccak_file
from nmrstake.payouts import RoundParams
from nmrstake.results.evaluate import evaluate_round
from nmrstake.results.layout import DataLayout
from nmrstake.results.publish import publish_round
from nmrstake.results.spec import PredictionKey, RoundInputs, RoundStake
from nmrstake.service.app import create_app
from nmrstake.service.server import service_context

ROUND = 7
PARAMS = RoundParams(corr_multiplier_bps=5_000, mmc_multiplier_bps=0, clip_bps=500, stake_threshold=0, funded=0)


def service(project, owner, tmp_path: Path) -> tuple[DataLayout, TestClient]:
    client = deployed_with_open_round(project, owner, tmp_path, ROUND)
    layout = DataLayout(tmp_path / "data")
    return layout, TestClient(create_app(service_context(client, layout)))


def publish(layout: DataLayout, tmp_path: Path, round_id: int, models: int = 3) -> Path:
    """A round evaluated from small files and published where the service reads it."""
    rng = random.Random(round_id)
    folder = tmp_path / f"in-{round_id}"
    folder.mkdir()
    ids = [f"id{i}" for i in range(40)]
    targets = folder / "targets.csv"
    targets.write_text("id,target\n" + "".join(f"{i},{rng.choice([0, 0.5, 1])}\n" for i in ids))
    predictions: dict[PredictionKey, Path] = {}
    stakes = []
    for k in range(models):
        path = folder / f"model_{k}.csv"
        path.write_text("id,prediction\n" + "".join(f"{i},{rng.random()}\n" for i in ids))
        predictions[f"model_{k}"] = path
        stakes.append(RoundStake(f"model_{k}", checksum_address(f"0x{k + 1:040x}"), WEI, keccak_file(path)))
    inputs = RoundInputs(targets=targets, predictions=predictions)
    return publish_round(layout.results_dir, evaluate_round(round_id, PARAMS, stakes, inputs), chain_id=31337,
                         contract="0x" + "11" * 20, inputs=inputs)


def replace_file(path: Path, data: bytes) -> None:
    spare = path.with_name(path.name + ".new")
    spare.write_bytes(data)
    os.replace(spare, path)


def test_warm__reads_each_round_published_or_changed_since_it_last_looked__newest_first(project, owner, tmp_path):
    layout, http = service(project, owner, tmp_path)
    dash = http.app.state.dashboard  # type: ignore[attr-defined]
    assert dash.warm() == []  # nothing published yet
    folder = publish(layout, tmp_path, ROUND)
    publish(layout, tmp_path, 3)
    publish(layout, tmp_path, 12)
    assert dash.warm() == [12, ROUND, 3]
    assert dash.warm() == []  # the files are as they were: nothing is read again

    results = folder / "results.csv"
    original = results.read_bytes()
    replace_file(results, original)  # the same bytes in a new file: another identity
    assert dash.warm() == [ROUND]
    verification = http.get(f"/v1/rounds/{ROUND}/verification").json()
    assert verification["published"] is True and verification["status"] == "pending"  # nothing posted yet
    assert verification["rows_root"] == http.get(f"/v1/rounds/{ROUND}/leaderboard").json()["merkle_root"]

    replace_file(results, original + b"model_9,0x00,1\n")  # a row of 3 fields
    assert dash.warm() == []  # nothing readable to prepare: a request says what is wrong
    verification = http.get(f"/v1/rounds/{ROUND}/verification").json()
    assert verification["status"] == "pending" and verification["verified"] is None
    assert [(c["check"], c["ok"]) for c in verification["checks"]] == [
        ("manifest", False), ("merkle-root", False), ("stake-count", False)]
    assert "results.csv" in verification["detail"] and "malformed row" in verification["detail"]
    page = http.get(f"/rounds/{ROUND}")
    assert page.status_code == 200 and "cannot be read" in page.text

    replace_file(results, original)
    assert dash.warm() == [ROUND]
    assert "rows_root" in http.get(f"/v1/rounds/{ROUND}/verification").json()


def test_the_warming_thread_starts_with_the_app_and_stops_with_it(project, owner, tmp_path):
    layout, http = service(project, owner, tmp_path)
    publish(layout, tmp_path, ROUND)
    before = set(threading.enumerate())
    with http:
        started = [t for t in threading.enumerate() if t not in before and t.name == "dashboard-watch"]
        assert len(started) == 1 and started[0].is_alive()
        assert http.get(f"/rounds/{ROUND}").status_code == 200
    started[0].join(timeout=30)
    assert not started[0].is_alive()
