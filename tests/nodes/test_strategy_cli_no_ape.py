"""A strategy owner's every command, as a separate process against a real Anvil by its URL and a
real `nmrstake serve`, never imports ape (`python -X importtime` lists each module a process
imports): create, deposit, set, submit through the service, status, operator, withdraw."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from eth_account import Account
from helpers.scenario import WEI, make_world, open_funded_round, synth_round
from helpers.service_process import running_service

from nmrstake.localchain import anvil_provider
from nmrstake.models import model_id

pytestmark = pytest.mark.nodes

PASS = "owner pass phrase"
ROUND = 77


def ape_modules(importtime_log: str) -> list[str]:
    """The ape modules (ape, ape.*, ape_*) a `-X importtime` log shows imported."""
    names = [line.rsplit("|", 1)[-1].strip() for line in importtime_log.splitlines() if line.startswith("import time:")]
    return sorted({n for n in names if n == "ape" or n.startswith(("ape.", "ape_"))})


def test_owner_commands_by_node_url__import_no_ape_and_do_what_they_say(project, tmp_path):
    key = Account.create()
    with anvil_provider():
        world = make_world(project, tmp_path / "operator", n_stakers=0)
        rpc = os.environ["APE_FOUNDRY_HOST"]
        world.client.token.mint(key.address, 100 * WEI, sender=world.owner)
        world.owner.transfer(key.address, 10**18)
        open_funded_round(world, ROUND)
        predictions = synth_round(tmp_path, ROUND, models=1) / "predictions" / "model_00.csv"
        home = tmp_path / "owner"
        (home / "no-deployments").mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if k not in ("NMRSTAKE_API", "APE_FOUNDRY_HOST")}
        env.update(NMRSTAKE_HOME=str(home), NMRSTAKE_PASSPHRASE=PASS, NMRSTAKE_DEPLOYMENTS=str(home / "no-deployments"))

        with running_service(world.deployments, world.layout.root, tmp_path / "service.log") as service:
            def nmrstake(*args: str, stdin: str | None = None) -> dict:
                out = subprocess.run([sys.executable, "-X", "importtime", "-m", "nmrstake.cli", *args, "--json"],
                                     input=stdin, capture_output=True, text=True, env=env, cwd=home, timeout=300)
                assert out.returncode == 0, out.stdout + out.stderr[-3000:]
                assert ape_modules(out.stderr) == [], (args, ape_modules(out.stderr)[:10])
                return json.loads(out.stdout[out.stdout.index("{"):])

            nmrstake("wallet", "import", "me", stdin=key.key.hex() + "\n")
            me = ["--wallet", "me", "--network", rpc, "--api", service.url]
            created = nmrstake("strategy", "create", *me)
            strategy = created["strategy"]
            assert created["owner"] == key.address
            assert created["operator"] == world.client.deployment.address("StrategyInvoker")
            assert nmrstake("strategy", "deposit", "30", *me)["idle"] == str(30 * WEI)
            assert int(world.client.token.balanceOf(strategy)) == 30 * WEI
            assert nmrstake("strategy", "set", "model_00", "--per-round", "10", "--mode", "fixed",
                            *me)["next_stake"] == str(10 * WEI)
            up = nmrstake("strategy", "submit", "--round", str(ROUND), "--model", "model_00", "--predictions",
                          str(predictions), *me)
            assert up["staker"] == up["strategy"] == strategy
            status = nmrstake("strategy", "status", *me)
            assert (status["owner"], status["idle"], status["open_stakes"]) == (key.address, str(30 * WEI), [])
            assert nmrstake("strategy", "operator", "--revoke", *me)["operator"] is None
            assert nmrstake("strategy", "withdraw", "all", *me)["withdrawn"] == str(30 * WEI)
        assert int(world.client.token.balanceOf(key.address)) == 100 * WEI
        assert int(world.client.tournament.getStake(ROUND, model_id("model_00"), strategy)[0]) == 0
