"""Deploying a tournament with an oracle committee (`nmrstake.deploy.deploy(committee=...,
threshold=...)`, `ape run deploy --committee ... --threshold M`): the committee variant is chosen
as the token needs, the committee and threshold are recorded, both clients' code checks accept it,
and bad input is refused in one line naming the option with nothing sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nmrstake.client.chain import Chain
from nmrstake.deploy import committee_arguments, deploy
from nmrstake.errors import InputError
from nmrstake.localchain import anvil_provider
from nmrstake.tournament import TournamentClient

pytestmark = pytest.mark.nodes  # the script's test starts an Anvil

A = "0x" + "11" * 20
B = "0x" + "22" * 20
C = "0x" + "0a" * 20


def _ascending(addresses):
    return sorted(addresses, key=lambda a: int(a, 16))


def test_deploy_with_committee__deploys_the_committee_variant_and_records_it(project, owner, alice, bob, tmp_path):
    members = [str(bob.address), str(alice.address), str(owner.address)]
    messages: list[str] = []
    dep, path = deploy(project, owner, directory=tmp_path, committee=members, threshold=2, log=messages.append)
    assert dep.settings["tournament_contract"] == "CommitteeTournament"
    assert dep.settings["committee"] == _ascending(members) and dep.settings["threshold"] == 2
    assert "ORACLE_ROLE" not in dep.roles  # the committee alone posts
    tournament = project.CommitteeTournament.at(dep.address("Tournament"))
    on_chain, threshold = tournament.committee()
    assert [str(m) for m in on_chain] == _ascending(members) and threshold == 2
    assert json.loads(path.read_text())["settings"]["committee"] == _ascending(members)
    # Both clients accept the deployment's code.
    client = TournamentClient(project, dep)
    assert client.tournament.committeeEpoch() == 1
    light = Chain(client.provider.web3, dep)
    assert light.tournament.functions.isCommitteeMember(str(alice.address)).call()
    # Again: reused, the committee it was deployed with kept.
    again, _ = deploy(project, owner, directory=tmp_path, committee=members, threshold=2, log=messages.append)
    assert again.contracts == dep.contracts


def test_deploy_with_committee__a_burn_by_mint_token_gets_the_numeraire_committee_variant(project, owner, alice,
                                                                                          tmp_path):
    legacy = owner.deploy(project.LegacyNMR)
    dep, _ = deploy(project, owner, directory=tmp_path, nmr_address=legacy.address, committee=[str(alice.address)],
                    threshold=1, oracle=str(owner.address), log=lambda m: None)
    assert dep.settings["tournament_contract"] == "NumeraireCommitteeTournament"
    assert dep.roles["ORACLE_ROLE"] == [owner.address]  # an --oracle named is still granted
    client = TournamentClient(project, dep)
    assert client.tournament.isCommitteeMember(alice.address)
    Chain(client.provider.web3, dep)  # the packaged code check passes


@pytest.mark.parametrize(("committee", "threshold", "option", "fragment"), [
    ([A, B, A], 2, "--committee", "is listed twice"),
    ([A, "0x" + "00" * 20], 1, "--committee", "the zero address cannot be a member"),
    ([A, "0x1234"], 1, "--committee", "'0x1234' is not an address"),
    ([A, ""], 1, "--committee", "an empty entry"),
    ([A, B], 3, "--threshold", "3 is out of range (1 to the committee's 2 members)"),
    ([A, B], 0, "--threshold", "0 is out of range"),
    ([A, B], None, "--threshold", "required with --committee"),
    (None, 2, "--threshold", "only with --committee"),
    ([f"0x{i + 1:040x}" for i in range(32)], 1, "--committee", "32 members, the contract takes at most 31"),
])
def test_committee_arguments__bad_input__is_one_line_naming_the_option(committee, threshold, option, fragment):
    with pytest.raises(InputError) as caught:
        committee_arguments(committee, threshold)
    text = str(caught.value)
    assert "\n" not in text and text.startswith(f"{option}: ") and fragment in text, text


def _checksum(address: str) -> str:
    from nmrstake.hashing import checksum_address

    return checksum_address(address)


def test_committee_arguments__sorted_and_checksummed():
    assert committee_arguments([C, A, B], 3) == ([_checksum(C), _checksum(A), _checksum(B)], 3)
    assert committee_arguments(None, None) is None


def test_ape_run_deploy__committee_options__deploy_or_refuse_in_one_line(tmp_path):
    from ape import accounts, chain

    ape = str(Path(sys.executable).with_name("ape"))
    base = [ape, "run", "deploy", "--network", "ethereum:local:foundry", "--deployments-dir", str(tmp_path)]
    members = [str(accounts.test_accounts[i].address) for i in (1, 2, 3)]
    with anvil_provider() as provider:
        env = os.environ.copy()
        deployer = accounts.test_accounts[0].address
        before = (provider.get_nonce(deployer), chain.blocks.head.number)
        refused = subprocess.run([*base, "--committee", f"{members[0]},{members[0]}", "--threshold", "1"],
                                 capture_output=True, text=True, env=env, timeout=300)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert refused.stderr.strip().splitlines() == [f"Error: --committee: {members[0]} is listed twice"]
        assert refused.stdout == ""
        assert (provider.get_nonce(deployer), chain.blocks.head.number) == before
        assert list(tmp_path.iterdir()) == []

        done = subprocess.run([*base, "--committee", ",".join(members), "--threshold", "2"],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "(CommitteeTournament)" in done.stdout and "committee of 3, 2 to post" in done.stdout
        [path] = list(tmp_path.glob("ethereum-local-31337.json"))
        record = json.loads(path.read_text())
        assert record["settings"]["committee"] == _ascending(members)
        assert record["settings"]["threshold"] == 2
