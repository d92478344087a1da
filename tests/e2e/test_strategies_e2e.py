"""End to end on a real Anvil with the service: three rounds with Numerai's 2026 payout settings,
a Fixed strategy, a Compound strategy and a manual staker, each on a machine (home) of its own.
The owners only set their strategies up and upload predictions; the operator (`nmrstake
operator run --once`, a fresh process each pass, so every pass is also a restart) stakes them,
claims every final round for everybody and restakes. Nobody sends a claim by hand, and the
Compound stake grows by exactly its model's results.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import requests
from helpers.scenario import HOUR, WEI, advance_to, advance_to_final, deliver_targets, make_world, open_funded_round, synth_round
from helpers.service_process import running_service
from test_service_e2e import KEYS, NET, cli, js, wait_for

from nmrstake.hashing import keccak_file
from nmrstake.localchain import anvil_provider
from nmrstake.models import model_id
from nmrstake.tournament import RoundState

pytestmark = pytest.mark.nodes

ROUNDS = (71, 72, 73)
PER_ROUND = 10 * WEI
MANUAL = 5 * WEI


def test_strategies__three_rounds__operator_stakes_claims_and_restakes_and_compound_grows_by_its_results(
        project, tmp_path):
    with anvil_provider():
        world = make_world(project, tmp_path / "operator", n_stakers=0)
        client, token, tour = world.client, world.client.token, world.client.tournament
        data = tmp_path / "operator" / "data"
        names = ("fixed", "compound", "manual")
        homes = {n: tmp_path / n for n in names}
        address = {}
        for name, key in zip(names, KEYS):
            out = cli(homes[name], "wallet", "import", "me", "--json", input=key + "\n").stdout
            address[name] = json.loads(out)["address"]
            token.mint(address[name], 100 * WEI, sender=world.owner)
            world.owner.transfer(address[name], 10**18)

        oracle_log = tmp_path / "oracle.log"
        with running_service(world.deployments, data, tmp_path / "service.log") as service, \
                open(oracle_log, "wb") as log:
            oracle = subprocess.Popen(
                [sys.executable, "-m", "nmrstake.cli", "oracle", "run", *NET, "--account", "TEST::1",
                 "--data-dir", str(data), "--deployments-dir", str(world.deployments), "--interval", "0.5",
                 "--log-json"], stdout=log, stderr=subprocess.STDOUT)
            api = ["--api", service.url, *NET]
            me = ["--wallet", "me", *api]
            operator_home = tmp_path / "operator-home"

            def operator_pass() -> list[dict]:
                out = cli(operator_home, "operator", "run", "--once", "--account", "TEST::0", "--log-json",
                          "--deployments-dir", str(world.deployments), *api)
                return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]

            try:
                # The owners set up their strategies once.
                strategy = {}
                for name, mode in (("fixed", "fixed"), ("compound", "compound")):
                    created = js(homes[name], "strategy", "create", *me)
                    strategy[name] = created["strategy"]
                    assert created["operator"] == str(client.deployment.address("StrategyInvoker"))
                    js(homes[name], "strategy", "deposit", "60", *me)
                    js(homes[name], "strategy", "set", f"model_{name}", "--per-round", "10", "--mode", mode, *me)
                model = {n: model_id(f"model_{n}") for n in names}

                def stake_of(name: str, rid: int) -> int:
                    who = strategy.get(name, address[name])
                    return int(tour.getStake(rid, model[name], who)[0])

                results: dict[tuple[str, int], int] = {}  # (name, round) -> payout - burn
                stakes: dict[tuple[str, int], int] = {}
                manual_start = int(token.balanceOf(address["manual"]))
                for k, rid in enumerate(ROUNDS):
                    open_funded_round(world, rid, close_after=3 * HOUR, payouts="numerai-2026")
                    inputs = synth_round(tmp_path, rid, models=3, seed=rid)
                    files = {n: inputs / "predictions" / f"model_{i:02d}.csv" for i, n in enumerate(names)}
                    for name in ("fixed", "compound"):
                        up = js(homes[name], "strategy", "submit", "--round", str(rid), "--model", f"model_{name}",
                                "--predictions", str(files[name]), *me)
                        assert up["staker"] == strategy[name] and up["commitment"] == "0x" + keccak_file(files[name]).hex()
                    js(homes["manual"], "stake", "--round", str(rid), "--model", "model_manual", "--amount", "5",
                       "--predictions", str(files["manual"]), *me)
                    if k:  # the previous round becomes final while this one is open: claim and restake at once
                        prev = client.round(ROUNDS[k - 1])
                        advance_to_final(prev)
                    operator_pass()
                    # Staked by the operator with the owners' own files; the second pass changes nothing.
                    for name in ("fixed", "compound"):
                        stakes[(name, rid)] = stake_of(name, rid)
                        assert client.stake(rid, model[name], strategy[name]).commitment == keccak_file(files[name])
                    if not k:  # a second pass (a restart) finds nothing left to do
                        again = operator_pass()
                        assert not [e for e in again if e.get("event") in ("stake", "settle_and_stake", "claimed")], again
                    assert stake_of("fixed", rid) == stakes[("fixed", rid)] == PER_ROUND
                    expected_compound = PER_ROUND + sum(results[("compound", r)] for r in ROUNDS[:k])
                    assert stakes[("compound", rid)] == expected_compound
                    if k:  # the previous round was claimed for everybody in the same passes
                        for name in names:
                            assert stake_of(name, ROUNDS[k - 1]) == 0, name

                    info = client.round(rid)
                    advance_to(info.resolve_time)
                    deliver_targets(world, rid, inputs)
                    wait_for(lambda rid=rid: client.round(rid).state is RoundState.POSTED, 120, f"round {rid} posted", oracle,
                             oracle_log)
                    rows = requests.get(f"{service.url}/v1/rounds/{rid}/leaderboard", timeout=10).json()["rows"]
                    for name in names:
                        who = strategy.get(name, address[name])
                        [row] = [r for r in rows if r["model"] == f"model_{name}" and r["staker"] == who]
                        assert row["valid"], row
                        results[(name, rid)] = int(row["payout"]) - int(row["burn"])
                advance_to_final(client.round(ROUNDS[-1]))
                operator_pass()
                for name in names:
                    assert stake_of(name, ROUNDS[-1]) == 0, name

                # Nobody claimed by hand: every claim was sent by the operator or by a strategy.
                claims = list(tour.Claimed.range(client.start_block, client.head() + 1))
                assert len(claims) == 3 * len(ROUNDS)
                senders = {str(c.caller) for c in claims}
                assert senders <= {world.owner.address, *strategy.values()}, senders
                # The books: each strategy holds its deposit plus its results; the manual staker
                # was paid its results without sending a claim.
                for name in ("fixed", "compound"):
                    total = sum(results[(name, r)] for r in ROUNDS)
                    assert int(token.balanceOf(strategy[name])) == 60 * WEI + total, name
                status = js(homes["compound"], "strategy", "status", *me)
                [m] = status["models"]
                assert int(m["net"]) == sum(results[("compound", r)] for r in ROUNDS)
                assert int(m["next_stake"]) == PER_ROUND + int(m["net"])
                assert status["open_stakes"] == []
                manual_total = sum(results[("manual", r)] for r in ROUNDS)
                assert int(token.balanceOf(address["manual"])) == manual_start + manual_total
                for rid in ROUNDS:
                    info = client.round(rid)
                    assert info.claimed == info.claimable == info.total_staked - info.total_burn + info.total_payout
            except BaseException:
                oracle.kill()
                oracle.wait(60)
                raise
            oracle.send_signal(signal.SIGTERM)
            assert oracle.wait(60) == 0, oracle_log.read_text()[-2000:]
