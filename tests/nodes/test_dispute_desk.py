"""Deploying a dispute desk (`nmrstake.deploy.deploy(dispute_bond=...)`, `ape run deploy
--dispute-bond NMR`) and disputing from the participant's side (`nmrstake verify ROUND --dispute`):
the desk holds the tournament's REJECTER_ROLE and is recorded; bad input is refused in one line
naming the option with nothing sent; a participant whose recomputation disagrees with the chain
files a dispute with the first difference as evidence, and the disputed result never becomes
final."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers.scenario import WEI, advance_to, deliver_targets, make_world, open_funded_round, stake_all, synth_round

from nmrstake.client.chain import Chain
from nmrstake.client.disputes import dispute_desk, file_dispute
from nmrstake.deploy import deploy, dispute_arguments
from nmrstake.errors import ChainError, ConfigError, InputError
from nmrstake.localchain import anvil_provider
from nmrstake.tournament import RoundState

pytestmark = pytest.mark.nodes  # a real Anvil and CLI processes

BOND = 5 * WEI


def test_deploy_with_a_dispute_bond__deploys_a_desk_holding_the_rejecter_role(project, owner, alice, tmp_path):
    dep, path = deploy(project, owner, directory=tmp_path, dispute_bond=BOND, dispute_reward=WEI,
                       arbiter=str(alice.address), log=lambda m: None)
    desk = project.DisputeDesk.at(dep.address("DisputeDesk"))
    tournament = project.Tournament.at(dep.address("Tournament"))
    assert tournament.hasRole(tournament.REJECTER_ROLE(), desk.address)
    assert (int(desk.bond()), int(desk.reward())) == (BOND, WEI)
    assert desk.hasRole(desk.ARBITER_ROLE(), alice.address) and str(desk.tournament()) == str(tournament.address)
    assert dep.roles["REJECTER_ROLE"] == [desk.address] and dep.roles["ARBITER_ROLE"] == [alice.address]
    assert json.loads(path.read_text())["settings"]["dispute_bond"] == str(BOND)
    # The participant's client finds it and checks its code.
    chain = Chain(_web3(), dep)
    assert str(dispute_desk(chain).address) == desk.address


def _web3():
    from ape import chain

    return chain.provider.web3


@pytest.mark.parametrize(("bond", "reward", "arbiter", "named"), [
    (0, 0, None, "--dispute-bond"), (2**96, 0, None, "--dispute-bond"), (WEI, -1, None, "--dispute-reward"),
    (WEI, 0, "nobody", "--arbiter"), (None, WEI, None, "--dispute-reward"), (None, 0, "0x" + "11" * 20, "--arbiter"),
])
def test_dispute_arguments__bad_input__is_one_line_naming_the_option(bond, reward, arbiter, named):
    with pytest.raises(InputError, match=named):
        dispute_arguments(bond, reward, arbiter)


def test_a_deployment_without_a_desk__is_a_clear_config_error(project, owner, tmp_path):
    dep, _ = deploy(project, owner, directory=tmp_path, log=lambda m: None)
    with pytest.raises(ConfigError, match="no dispute desk"):
        dispute_desk(Chain(_web3(), dep))


def cli(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "nmrstake.cli", *args], capture_output=True, text=True, env=env,
                         timeout=300)
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def test_verify_dispute__a_wrong_root_on_chain__files_a_dispute_with_the_first_difference(project, tmp_path):
    """The oracle posts the right result; the guardian rejects it and a wrong root is posted in
    its place (a lying oracle). A participant's `verify --dispute` recomputes the published round,
    finds the chain's root differs, and disputes it: the bond leaves the wallet, the result is
    rejected (never final), and the dispute's evidence is the first difference."""
    from ape import accounts

    env = dict(os.environ, NMRSTAKE_HOME=str(tmp_path / "home"), NMRSTAKE_PASSPHRASE="pass phrase")
    with anvil_provider():
        url = env["APE_FOUNDRY_HOST"] = os.environ["APE_FOUNDRY_HOST"]
        world = make_world(project, tmp_path, n_stakers=2)
        dep, _ = deploy(project, world.owner, directory=world.deployments, dispute_bond=BOND, log=lambda m: None)
        assert dep.address("Tournament") == str(world.client.tournament.address)  # the tournament was reused
        common = ["--network", "ethereum:local:foundry", "--deployments-dir", str(world.deployments), "--data-dir", str(tmp_path / "data")]
        open_funded_round(world, 8)
        inputs = synth_round(tmp_path, 8, models=2)
        stake_all(world, 8, inputs)
        advance_to(world.client.round(8).resolve_time)
        deliver_targets(world, 8, inputs)
        cli("oracle", "run", "--once", "--account", "TEST::1", *common, env=env)
        info = world.client.round(8)
        assert info.state is RoundState.POSTED
        # A lying oracle: the right result is rejected and a wrong one posted in its place.
        tournament = world.client.tournament
        tournament.rejectResult(8, "replaced by a lie", sender=world.owner)
        tournament.postResult(8, b"\x66" * 32, info.total_payout, info.total_burn, info.stake_count,
                              info.results_hash, sender=world.oracle)
        dora = accounts.test_accounts[2]  # holds test NMR (make_world), signs as TEST::2
        before = int(world.client.token.balanceOf(dora))
        found = cli("verify", "8", "--dispute", "--account", "TEST::2", "--json", *common, env=env, check=False)
        assert found.returncode != 0, found.stdout + found.stderr  # the round does not verify
        report = json.loads(found.stdout)
        assert report["ok"] is False and report["dispute"]["round_id"] == 8
        assert report["dispute"]["evidence"] == report["differences"][0]
        desk = project.DisputeDesk.at(dep.address("DisputeDesk"))
        filed = desk.disputeOf(8)
        assert filed.disputer == dora.address and bytes(filed.disputedRoot) == b"\x66" * 32
        assert int(world.client.token.balanceOf(dora)) == before - BOND
        assert world.client.round(8).state is RoundState.CLOSED  # rejected: the lie never becomes final
        # A second dispute of the same round is refused before anything is sent.
        chain = Chain(url, dep)
        with pytest.raises(ChainError, match="only a posted result"):
            file_dispute(chain, _test_key(2), 8, "again")


def _test_key(index: int):
    from nmrstake.client.signer import from_test_mnemonic

    return from_test_mnemonic(index, 31337)


def test_evidence_of__prefers_the_first_differing_leaf__else_the_first_difference(tmp_path):
    from nmrstake.client.disputes import evidence_of
    from nmrstake.verify import VerifyReport

    staker = "0x" + "ab" * 20
    leaf = f"recomputed from the published inputs: model alpha staker {staker}: payout published 5, recomputed 3"
    report = VerifyReport(1, tmp_path, differences=["recomputed from the published inputs: merkle root: published "
                                                    "0x01, recomputed 0x02", leaf, "root differs: chain 0x03"])
    assert evidence_of(report) == leaf
    only_root = VerifyReport(1, tmp_path, differences=["root differs: chain 0x66, published 0x01"])
    assert evidence_of(only_root) == "root differs: chain 0x66, published 0x01"
    with pytest.raises(ValueError, match="verifies"):
        evidence_of(VerifyReport(1, tmp_path))
