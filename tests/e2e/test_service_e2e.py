"""End to end over the network, with real processes sharing nothing but URLs: a real Anvil,
`nmrstake serve` on a free port, the oracle daemon, three participants each with a home of its
own (wallet, receipts), staking through the service, one replacing its predictions, two sharing a
model name; the round resolves, a fourth home verifies it from the service alone, everyone claims.

The participants are given no deployments file: they learn the deployment from the service and
check it on chain, so a participant's machine needs only its wallet, the RPC and the service URL.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from helpers.scenario import WEI, advance_to, advance_to_final, deliver_targets, make_world, open_funded_round, synth_round
from helpers.service_process import running_service

from nmrstake.hashing import keccak_file
from nmrstake.localchain import anvil_provider
from nmrstake.models import model_id
from nmrstake.tournament import RoundState

pytestmark = pytest.mark.nodes  # real Anvil and processes: run after the embedded-EVM tests

PASS = "participant pass phrase"
KEYS = ["0x" + f"{n:02x}" * 32 for n in (0xA1, 0xB2, 0xC3)]
NET = ["--network", "ethereum:local:foundry"]


def cli(home: Path, *args: str, input: str | None = None, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """`nmrstake ...` as a separate process with its own home; it reaches the chain through the
    test's Anvil (APE_FOUNDRY_HOST) and has no deployments file of its own."""
    (home / "no-deployments").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, NMRSTAKE_HOME=str(home), NMRSTAKE_PASSPHRASE=PASS,
               NMRSTAKE_DEPLOYMENTS=str(home / "no-deployments"))
    env.pop("NMRSTAKE_API", None)
    out = subprocess.run([sys.executable, "-m", "nmrstake.cli", *args], input=input, capture_output=True, text=True,
                         env=env, cwd=home, timeout=300)
    if ok:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def js(home: Path, *args: str) -> dict:
    return json.loads(cli(home, *args, "--json").stdout)


def wait_for(predicate, timeout: float, what: str, daemon: subprocess.Popen[bytes], log: Path) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        assert daemon.poll() is None, f"the oracle daemon exited: {log.read_text()[-2000:]}"
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: {log.read_text()[-2000:]}")


def test_participants_on_their_own_machines__stake_resolve_verify_and_claim_through_the_service(project, tmp_path):
    with anvil_provider():
        world = make_world(project, tmp_path / "operator", n_stakers=0)
        data = tmp_path / "operator" / "data"
        open_funded_round(world, 61)
        inputs = synth_round(tmp_path, 61, models=4)
        files = [inputs / "predictions" / f"model_{i:02d}.csv" for i in range(4)]
        homes = [tmp_path / f"participant{i}" for i in range(3)]
        addresses = []
        for home, key in zip(homes, KEYS):
            out = cli(home, "wallet", "import", "me", "--json", input=key + "\n").stdout
            addresses.append(json.loads(out)["address"])
            world.client.token.mint(addresses[-1], 100 * WEI, sender=world.owner)
            world.owner.transfer(addresses[-1], 10**18)

        daemon_log = tmp_path / "oracle.log"
        with running_service(world.deployments, data, tmp_path / "service.log") as service, \
                open(daemon_log, "wb") as log:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "nmrstake.cli", "oracle", "run", *NET, "--account", "TEST::1",
                 "--data-dir", str(data), "--deployments-dir", str(world.deployments), "--interval", "0.5",
                 "--log-json"], stdout=log, stderr=subprocess.STDOUT)
            try:
                api = ["--api", service.url, *NET]
                # participant0 and participant2 both call their model "model_00", each with its own file.
                plan = [(homes[0], "model_00", "10", files[0]), (homes[1], "model_01", "20", files[1]),
                        (homes[2], "model_00", "30", files[2])]
                for home, model, amount, f in plan:
                    staked = js(home, "stake", "--round", "61", "--model", model, "--amount", amount,
                                "--predictions", str(f), "--wallet", "me", *api)
                    assert staked["stake"] == str(int(amount) * WEI)
                    assert staked["upload"]["commitment"] == staked["commitment"] == "0x" + keccak_file(f).hex()
                    assert Path(staked["upload"]["receipt_path"]).is_file()
                    assert Path(staked["upload"]["receipt_path"]).is_relative_to(home)
                    # The deployment the service served the first time is pinned in the home.
                    [pin] = (home / "deployments").glob("*.json")
                    assert json.loads(pin.read_text())["contracts"]["Tournament"]["address"] == \
                        str(world.client.tournament.address)
                # participant1 replaces its predictions: upload and a new commitment, same stake.
                replaced = js(homes[1], "submit", "--round", "61", "--model", "model_01", "--predictions", str(files[3]),
                              "--wallet", "me", *api)
                assert replaced["txn"] and replaced["stake"] == str(20 * WEI)
                s = world.client.stake(61, model_id("model_01"), addresses[1])
                assert s.amount == 20 * WEI and s.commitment == keccak_file(files[3])
                # Re-submitting the same file uploads again and sends nothing on chain.
                again = js(homes[1], "submit", "--round", "61", "--model", "model_01", "--predictions", str(files[3]),
                           "--wallet", "me", *api)
                assert again["txn"] is None and again["upload"]["upload_id"] > replaced["upload"]["upload_id"]
                # Nobody, the staker included, can download a submission before publication.
                private = requests.get(f"{service.url}/v1/rounds/61/submissions/model_00/{addresses[0]}/file", timeout=10)
                assert private.status_code == 403
                assert private.headers["content-type"].startswith("application/problem+json")

                info = world.client.round(61)
                advance_to(info.resolve_time)
                deliver_targets(world, 61, inputs)  # the targets arrive on the operator's machine
                wait_for(lambda: world.client.round(61).state is RoundState.POSTED, 120, "the posting", daemon, daemon_log)

                # A verifier with nothing but the service's URL and the RPC.
                verifier = tmp_path / "verifier"
                report = js(verifier, "verify", "61", *api)
                assert report["ok"], report["differences"]
                assert any("manifest.json matches the on-chain resultsHash" in c for c in report["checks"])
                # Each participant's verify also checks the receipts it holds.
                for home in homes:
                    mine = js(home, "verify", "61", *api)
                    assert mine["ok"] and any("delivery receipt" in c for c in mine["checks"]), mine

                # Read commands through the service alone: no chain connection, no deployments file.
                listed = js(verifier, "rounds", "--api", service.url)
                assert listed == requests.get(f"{service.url}/v1/rounds", timeout=10).json()
                assert [r["round"] for r in listed] == [61] and listed[0]["state"] == "posted"
                shown = cli(verifier, "round", "show", "61", "--api", service.url).stdout
                assert re.search(r"^  state +posted$", shown, re.M) and listed[0]["root"] in shown
                unknown = cli(verifier, "round", "show", "999", "--api", service.url, ok=False)
                assert unknown.returncode == 2 and unknown.stderr.strip().startswith("error: the service refused: ")

                board = requests.get(f"{service.url}/v1/rounds/61/leaderboard", timeout=10).json()
                rows = {(r["model"], r["staker"]): r for r in board["rows"]}
                assert set(rows) == {("model_00", addresses[0]), ("model_01", addresses[1]), ("model_00", addresses[2])}
                assert all(r["valid"] for r in rows.values())
                assert rows[("model_00", addresses[0])]["corr"] != rows[("model_00", addresses[2])]["corr"]
                published = requests.get(f"{service.url}/v1/rounds/61/submissions/model_01/{addresses[1]}/file", timeout=10)
                assert published.status_code == 200 and published.content == files[3].read_bytes()

                advance_to_final(world.client.round(61))
                wait_for(lambda: world.client.round(61).settled, 120, "the settlement", daemon, daemon_log)
                paid = 0
                for home, address, (_, model, amount, _) in zip(homes, addresses, plan):
                    status = js(home, "status", "--wallet", "me", *api)
                    [position] = status["stakes"]
                    assert position["claim"] == "claimable" and position["model"] == model
                    before = int(world.client.token.balanceOf(address))
                    claimed = js(home, "claim", "--round", "61", "--wallet", "me", *api)
                    [c] = claimed["claims"]
                    got = int(world.client.token.balanceOf(address)) - before
                    assert got == int(c["amount"]) == int(amount) * WEI - int(c["burn"]) + int(c["payout"])
                    paid += got
                info = world.client.round(61)
                assert paid == info.total_staked - info.total_burn + info.total_payout == info.claimed
            finally:
                daemon.send_signal(signal.SIGTERM)
                assert daemon.wait(60) == 0, daemon_log.read_text()[-2000:]
