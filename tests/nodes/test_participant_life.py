"""A participant's whole life with nothing but `pip install nmrstake`: the wheel built from the
repository, installed into a fresh virtualenv outside it (tests/helpers/installed.py: no ape, no
Node, nothing of the repository on PATH), against a real Anvil and a real `nmrstake serve` started
from the repository with its faucet on. The participant imports a key, gets test NMR, uploads and
stakes, submits better predictions, reads its status and the round, and, once the operator's oracle (from the repository) has resolved the
round and it is final, verifies the round and claims; and runs an allocation strategy.

Only the operator's side (deploying, the service, the oracle, moving chain time) uses the
repository's own ape; every participant command runs from the installed wheel, where ape cannot
even be imported.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from eth_account import Account
from helpers.installed import installed  # noqa: F401  (module-scoped: one build and install for this file)
from helpers.scenario import WEI, advance_to, advance_to_final, deliver_targets, make_world, open_funded_round, oracle_once, synth_round
from helpers.service_process import running_service

from nmrstake.localchain import anvil_provider
from nmrstake.models import model_id

pytestmark = pytest.mark.nodes

ROUND = 601
PASS = "participant pass phrase"


def test_participant_life__from_the_installed_wheel__faucet_stake_status_verify_claim(project, tmp_path, installed):  # noqa: F811
    key = Account.create()
    with anvil_provider():
        world = make_world(project, tmp_path / "operator")
        rpc = os.environ["APE_FOUNDRY_HOST"]
        open_funded_round(world, ROUND)
        inputs = synth_round(tmp_path, ROUND, models=2)
        predictions = installed.home / "predictions.csv"
        shutil.copy(inputs / "predictions" / "model_01.csv", predictions)
        with running_service(world.deployments, world.layout.root, tmp_path / "service.log",
                             "--faucet-account", "TEST::0") as service:
            env = {"NMRSTAKE_API": service.url, "NMRSTAKE_NETWORK": rpc, "NMRSTAKE_PASSPHRASE": PASS}

            def nmrstake(*args: str, stdin: str | None = None) -> dict:
                text = installed.run(["nmrstake", *args, "--json"], env=env, input=stdin).stdout
                return json.loads(text[text.index("{"):])  # `wallet import` prompts for the key first

            imported = nmrstake("wallet", "import", "me", stdin=key.key.hex() + "\n")
            assert imported["address"] == key.address
            grant = nmrstake("faucet", "--wallet", "me")
            assert int(grant["nmr"]) > 0 and int(grant["ether"]) > 0

            rounds = json.loads(installed.run(["nmrstake", "rounds", "--json"], env=env).stdout)
            assert [r["round"] for r in rounds] == [ROUND]

            staked = nmrstake("stake", "--round", str(ROUND), "--model", "life_model", "--amount", "2",
                              "--predictions", str(predictions), "--wallet", "me")
            assert staked["stake"] == str(2 * WEI) and staked["txn"] and staked["upload"]["receipt"]
            amount, _ = world.client.tournament.getStake(ROUND, model_id("life_model"), key.address)
            assert int(amount) == 2 * WEI
            # Better predictions: submit uploads them and moves the stake's commitment, no NMR moves.
            better = installed.home / "better.csv"
            shutil.copy(inputs / "predictions" / "model_00.csv", better)
            submitted = nmrstake("submit", "--round", str(ROUND), "--model", "life_model", "--predictions", str(better),
                                 "--wallet", "me")
            s = world.client.stake(ROUND, model_id("life_model"), key.address)
            assert s.amount == 2 * WEI and "0x" + s.commitment.hex() == submitted["commitment"] != staked["commitment"]
            for extra in ((), ("--api", service.url)):  # the round from the chain (the pinned deployment) and the service
                shown = json.loads(installed.run(["nmrstake", "round", "show", str(ROUND), "--json", *extra],
                                                 env={k: v for k, v in env.items() if k != "NMRSTAKE_API"}).stdout)
                assert (shown["round"], shown["stake_count"], shown["total_staked"]) == (ROUND, 1, str(2 * WEI)), shown

            # status through the service, and from the chain alone (the deployment pinned by the stake),
            # which cannot know the service's uploads
            for extra, upload in ((("--api", service.url), "matches"), ((), None)):
                status = json.loads(installed.run(["nmrstake", "status", "--wallet", "me", "--json", *extra],
                                                  env={k: v for k, v in env.items() if k != "NMRSTAKE_API"}).stdout)
                [position] = status["stakes"]
                assert position["model"] == "life_model" and position["stake"] == str(2 * WEI)
                assert position["upload"] == upload, (extra, position)

            # An allocation strategy: created, funded, a model set, predictions uploaded for it.
            created = nmrstake("strategy", "create", "--wallet", "me")
            strategy = created["strategy"]
            assert world.client.provider.get_code(strategy), created
            nmrstake("strategy", "deposit", "5", "--wallet", "me")
            nmrstake("strategy", "set", "life_auto", "--per-round", "1", "--mode", "fixed", "--wallet", "me")
            submitted = nmrstake("strategy", "submit", "--round", str(ROUND), "--model", "life_auto",
                                 "--predictions", str(predictions), "--wallet", "me")
            assert submitted["strategy"] == strategy and submitted["receipt"]["staker"] == strategy, submitted
            mine = nmrstake("strategy", "status", "--wallet", "me")
            assert int(mine["idle"]) == 5 * WEI, mine
            assert [m["model"] for m in mine["models"]] == ["life_auto"], mine
            nmrstake("strategy", "withdraw", "1", "--wallet", "me")
            nmrstake("strategy", "operator", "--revoke", "--wallet", "me")
            mine = nmrstake("strategy", "status", "--wallet", "me")
            assert (int(mine["idle"]), mine["operator"]) == (4 * WEI, None), mine

            # The operator's side: the round resolves, the oracle (the repository's, on ape) posts, it becomes final.
            advance_to(world.client.round(ROUND).resolve_time)
            deliver_targets(world, ROUND, inputs)
            oracle_once(world)
            advance_to_final(world.client.round(ROUND))

            report = nmrstake("verify", str(ROUND))
            assert report["ok"] is True, report
            before = int(world.client.token.balanceOf(key.address))
            claimed = nmrstake("claim", "--all", "--wallet", "me")
            [paid] = claimed["claims"]
            assert paid["round"] == ROUND and paid["model"] == "life_model"
            assert int(world.client.token.balanceOf(key.address)) - before == int(paid["amount"]) > 0
            again = nmrstake("claim", "--all", "--wallet", "me")
            assert again["claims"] == [] and again["txn"] is None  # nothing is claimed twice
            balance = nmrstake("balance", "--wallet", "me")
            assert int(balance["nmr"]) == int(world.client.token.balanceOf(key.address))
        assert "Traceback" not in (tmp_path / "service.log").read_text()
