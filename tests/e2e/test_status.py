"""`nmrstake status --api URL` (issue 19, deliverable 7) against a real Anvil and a real `nmrstake
serve` process, the oracle a process too: read through the service alone, it says of an open stake
whether the service holds the committed file (also when a later upload is another file) or only
another file, of such a stake after resolution why it is invalid, of a posted round what will be
claimable and from when, and the owner of an allocation strategy sees the strategy's stake."""

from __future__ import annotations

import os

import pytest
from eth_account import Account
from helpers.cli_runner import js, run
from helpers.scenario import WEI, advance_to, deliver_targets, make_world, open_funded_round, oracle_once, synth_round
from helpers.service_process import running_service

from nmrstake.amounts import format_nmr
from nmrstake.client import Participant
from nmrstake.client.positions import utc
from nmrstake.hashing import keccak_file
from nmrstake.localchain import anvil_provider
from nmrstake.models import model_id
from nmrstake.participant import LocalDelivery, deliver, stake_predictions

pytestmark = pytest.mark.nodes  # real Anvil and processes: run after the embedded-EVM tests

ROUND = 471
PASS = "pass phrase for tests"


def _line(output: str, *parts: str) -> str:
    found = [line for line in output.splitlines() if all(p in line for p in parts)]
    assert len(found) == 1, (parts, output)
    return found[0]


def _phases(status: dict) -> dict[str, tuple[int, str, int | None]]:
    """`status --json`'s phases: stakes, NMR (wei) and next change, by phase."""
    return {t["phase"]: (t["stakes"], t["amount"], t["next_change"]) for t in status["phases"]}


def test_status_through_the_service(project, tmp_path, monkeypatch):
    from ape import accounts

    monkeypatch.setenv("NMRSTAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NMRSTAKE_PASSPHRASE", PASS)
    with anvil_provider():
        world = make_world(project, tmp_path / "operator", n_stakers=2)
        client = world.client
        ann, ben = world.stakers
        owner = accounts.test_accounts[7]
        client.token.mint(owner, 100 * WEI, sender=world.owner)
        factory = project.StrategyFactory.at(client.deployment.address("StrategyFactory"))
        factory.create("0x" + "00" * 20, sender=owner)
        strategy = project.AllocationStrategy.at(factory.strategyOf(owner))
        client.token.approve(strategy.address, 50 * WEI, sender=owner)
        strategy.deposit(50 * WEI, sender=owner)
        strategy.setModel(model_id("strat_model"), 10 * WEI, 1, sender=owner)  # fixed, 10 NMR a round
        for name, acct in (("ann", ann), ("ben", ben), ("own", owner)):
            run("wallet", "import", name, input=acct.private_key + "\n")

        open_funded_round(world, ROUND)
        inputs = synth_round(tmp_path, ROUND, models=3)
        delivery = LocalDelivery(client, world.layout)
        stake_predictions(client, ann, delivery, ROUND, "model_00", 10 * WEI, inputs / "predictions" / "model_00.csv")
        stake_predictions(client, ben, None, ROUND, "model_01", 5 * WEI, inputs / "predictions" / "model_01.csv")
        path = inputs / "predictions" / "model_02.csv"
        deliver(delivery, client.domain, owner, ROUND, "strat_model", path, keccak_file(path),
                staker=str(strategy.address))
        strategy.stake(ROUND, model_id("strat_model"), keccak_file(path), sender=owner)

        with running_service(world.deployments, world.layout.root, tmp_path / "service.log") as service:
            api = ["--api", service.url]
            close_time = client.round(ROUND).close_time
            ann_status = js("status", "--wallet", "ann", *api)
            [a] = ann_status["stakes"]
            assert (a["upload"], a["claim"]) == ("matches", "pending") and a["uploaded_at_iso"]
            # Stake and pending apart: the open round's 10 NMR are at stake until the round closes.
            assert (a["phase"]["phase"], a["phase"]["amount"], a["phase"]["changes_at"], a["phase"]["event"]) == (
                "at stake now", str(10 * WEI), close_time, "closes")
            assert _phases(ann_status) == {"at stake now": (1, str(10 * WEI), close_time), "awaiting results": (0, "0", None),
                                           "claimable": (0, "0", None), "claimed": (0, "0", None)}
            assert f"closes {utc(close_time)}" in _line(run("status", "--wallet", "ann", *api).output, "at stake now")
            assert f"uploaded {a['uploaded_at_iso']}" in _line(run("status", "--wallet", "ann", *api).output, "model_00")
            [b] = js("status", "--wallet", "ben", *api)["stakes"]
            assert (b["upload"], b["uploaded_at"]) == ("none", None)
            assert "no upload yet" in _line(run("status", "--wallet", "ben", *api).output, "model_01")
            mine = js("status", "--wallet", "own", *api)
            assert mine["strategy"] == strategy.address
            [s] = mine["stakes"]
            assert (s["staker"], s["through_strategy"], s["stake"], s["upload"]) == (
                strategy.address, True, str(10 * WEI), "matches")
            out = run("status", "--wallet", "own", *api).output
            _, _, through = out.partition(f"stakes through your allocation strategy {strategy.address} (the strategy's):")
            assert "strat_model" in _line(through, "uploaded ")

            # Ann uploads another file after staking, without moving her commitment: the service's
            # latest upload is not the committed file, an earlier one is, and that one is scored:
            # "matches". Ben's key gets a file that is not the one his stake commits to: "differs".
            # Both through the service (status --api) and from the chain with the service's upload
            # history (the Python API, which the chain-side commands share).
            other = inputs / "predictions" / "model_02.csv"
            deliver(delivery, client.domain, ann, ROUND, "model_00", other, keccak_file(other))
            deliver(delivery, client.domain, ben, ROUND, "model_01", other, keccak_file(other))
            [a] = js("status", "--wallet", "ann", *api)["stakes"]
            [b] = js("status", "--wallet", "ben", *api)["stakes"]
            assert (a["upload"], b["upload"]) == ("matches", "differs"), (a, b)
            assert "upload differs from the commitment" in _line(run("status", "--wallet", "ben", *api).output,
                                                                  "model_01")
            rpc = os.environ["APE_FOUNDRY_HOST"]
            for who, expected_upload in ((ann, "matches"), (ben, "differs")):
                me = Participant(service.url, rpc, Account.from_key(who.private_key), home=tmp_path / "home")
                [p] = me.positions()
                assert p.upload == expected_upload, p

            resolve_time = client.round(ROUND).resolve_time
            advance_to(close_time + 1)
            [a] = js("status", "--wallet", "ann", *api)["stakes"]
            assert (a["phase"]["phase"], a["phase"]["amount"], a["phase"]["changes_at"], a["phase"]["event"],
                    a["phase"]["late"]) == ("awaiting results", str(10 * WEI), resolve_time, "results due", False)
            advance_to(resolve_time)
            deliver_targets(world, ROUND, inputs)
            oracle_once(world)
            info = client.round(ROUND)
            assert info.state.label == "posted"

            [b] = js("status", "--wallet", "ben", *api)["stakes"]
            assert b["valid"] is False and b["upload"] is None
            # Ben's key holds an upload, but not of the committed file: the reason says so.
            assert "invalid: file differs from the commitment" in _line(run("status", "--wallet", "ben", *api).output,
                                                                         "model_01")
            [a] = js("status", "--wallet", "ann", *api)["stakes"]
            expected = int(a["stake"]) - int(a["burn"]) + int(a["payout"])
            assert a["valid"] is True and int(a["expected"]) == expected and a["final_at"] == info.final_at
            assert a["claimable"] == "0"
            assert (f"{format_nmr(expected)} NMR claimable from {a['final_at_iso']}"
                    in _line(run("status", "--wallet", "ann", *api).output, "model_00"))
            # Posted, not final: awaiting results, at the result's expected return, final at final_at.
            assert _phases(js("status", "--wallet", "ann", *api))["awaiting results"] == (1, str(expected), info.final_at)
            assert (a["phase"]["expected"], a["phase"]["event"]) == (True, "final")
            assert f"{format_nmr(expected)} (expected)" in _line(run("status", "--wallet", "ann", *api).output,
                                                                 "awaiting results")

            advance_to(info.final_at)
            [a] = js("status", "--wallet", "ann", *api)["stakes"]
            assert (a["claim"], int(a["claimable"]), a["expected"]) == ("claimable", expected, None)
            assert f"claimable now: {format_nmr(expected)} NMR" in _line(
                run("status", "--wallet", "ann", *api).output, "model_00")
            assert _phases(js("status", "--wallet", "ann", *api))["claimable"] == (1, str(expected), None)
            paid = Participant(service.url, os.environ["APE_FOUNDRY_HOST"], Account.from_key(ann.private_key),
                               home=tmp_path / "home").claim(ROUND)
            assert sum(c.amount for c in paid.claims) == expected and paid.txn
            phases = _phases(js("status", "--wallet", "ann", *api))
            assert (phases["claimable"], phases["claimed"]) == ((0, "0", None), (1, str(expected), None))
            assert client.round(ROUND).claimed == expected  # the chain paid what the claimed phase says
        assert "Traceback" not in service.log_text(), service.log_text()
