"""`ape run deploy`'s logic (nmrstake.deploy) on the embedded EVM, Anvil and Ganache."""

from __future__ import annotations

import json

import pytest
from helpers.chains import backend  # noqa: F401

from nmrstake.deploy import Deployment, deploy, load_deployment
from nmrstake.errors import ConfigError
from nmrstake.localchain import anvil_provider

pytestmark = pytest.mark.nodes  # real Anvil/Ganache: run after the embedded-EVM tests


def test_deploy_writes_file_and_second_run_reuses(backend, project, owner, tmp_path):  # noqa: F811
    name, provider = backend
    messages: list[str] = []
    first, path = deploy(project, owner, directory=tmp_path, log=messages.append)
    assert path.name == f"ethereum-local-{provider.chain_id}.json"
    record = json.loads(path.read_text())
    assert record["chain_id"] == provider.chain_id
    assert record["deployer"] == owner.address
    assert record["compiler"].startswith("solc 0.8.28")
    nmr_address = record["contracts"]["NMR"]["address"]
    assert project.NMR.at(nmr_address).symbol() == "NMR"
    assert record["contracts"]["NMR"]["block"] >= 0

    before = path.read_bytes()
    messages.clear()
    second, _ = deploy(project, owner, directory=tmp_path, log=messages.append)
    assert second.contracts == first.contracts
    assert any("reusing" in m for m in messages), messages
    assert path.read_bytes() == before  # untouched

    third, _ = deploy(project, owner, directory=tmp_path, force=True, log=messages.append)
    assert third.address("NMR") != first.address("NMR")


def test_existing_token_address_is_used(backend, project, owner, tmp_path):  # noqa: F811
    token = owner.deploy(project.NMR, owner)
    dep, _ = deploy(project, owner, directory=tmp_path, nmr_address=token.address, log=lambda m: None)
    assert dep.address("NMR") == token.address
    with pytest.raises(ConfigError, match="no contract at that address"):
        deploy(project, owner, directory=tmp_path, force=True, nmr_address="0x" + "12" * 20, log=lambda m: None)


def test_restarted_anvil_redeploys(project, owner, tmp_path):
    with anvil_provider():
        first, path = deploy(project, owner, directory=tmp_path, log=lambda m: None)
    messages: list[str] = []
    with anvil_provider():  # a new Anvil: same chain id, empty state
        second, _ = deploy(project, owner, directory=tmp_path, log=messages.append)
        assert any("has no code" in m and "deploying it again" in m for m in messages), messages
        assert project.NMR.at(second.address("NMR")).symbol() == "NMR"
    assert load_deployment(path).contracts["NMR"].codehash == second.contracts["NMR"].codehash


def test_corrupt_deployments_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "ethereum-local-1.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="ethereum-local-1.json is not a valid"):
        load_deployment(bad)
    with pytest.raises(ConfigError, match="run `ape run deploy"):
        load_deployment(tmp_path / "missing.json")
    assert Deployment.from_json(Deployment("ethereum", "local", 1, "0x0", "solc").to_json()).chain_id == 1


def test_tournament_is_wired_to_the_token_and_roles(backend, project, owner, oracle, manager, tmp_path):  # noqa: F811
    dep, path = deploy(project, owner, directory=tmp_path, oracle=oracle.address, manager=manager.address,
                       log=lambda m: None)
    tournament = project.Tournament.at(dep.address("Tournament"))
    assert tournament.nmr() == dep.address("NMR")
    assert tournament.hasRole(tournament.ORACLE_ROLE(), oracle)
    assert tournament.hasRole(tournament.MANAGER_ROLE(), manager)
    assert not tournament.hasRole(tournament.ORACLE_ROLE(), owner)
    assert tournament.defaultAdmin() == owner.address
    record = json.loads(path.read_text())
    assert record["roles"]["ORACLE_ROLE"] == [oracle.address]
    assert record["settings"]["challenge_period"] == int(tournament.challengePeriod())


def test_ape_run_deploy_script_on_anvil(tmp_path):
    """The operator's command itself, as a process against a real Anvil: deploys, then reuses."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    ape = str(Path(sys.executable).with_name("ape"))
    cmd = [ape, "run", "deploy", "--network", "ethereum:local:foundry", "--deployments-dir", str(tmp_path)]
    with anvil_provider():
        env = os.environ.copy()  # APE_FOUNDRY_HOST: the script joins this test's Anvil
        first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "Tournament: deployed at" in first.stdout
        second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "nothing to deploy" in second.stdout and "reusing" in second.stdout
        [path] = list(tmp_path.glob("ethereum-local-31337.json"))
        assert json.loads(path.read_text())["contracts"]["Tournament"]["address"]
        # ape's own --account option: a test account by number deploys anew from that account.
        from ape import accounts

        third = subprocess.run([*cmd, "--force", "--account", "TEST::3"], capture_output=True, text=True, env=env,
                               timeout=300)
        assert third.returncode == 0, third.stdout + third.stderr
        assert f"as {accounts.test_accounts[3].address}" in third.stdout
        unknown = subprocess.run([*cmd, "--account", "nobody-here"], capture_output=True, text=True, env=env,
                                 timeout=300)
        assert unknown.returncode == 2 and "--account" in unknown.stderr and "Traceback" not in unknown.stderr


def test_ape_run_deploy_refuses_bad_settings_in_one_line_and_sends_nothing(tmp_path):
    """A --max-pause longer than the posting window: one `Error:` line naming the flag and the
    rule, exit status 2 (InputError), no traceback, and the Anvil it points at is untouched."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from ape import accounts, chain

    ape = str(Path(sys.executable).with_name("ape"))
    cmd = [ape, "run", "deploy", "--network", "ethereum:local:foundry", "--deployments-dir", str(tmp_path),
           "--challenge-period", "1d", "--grace-period", "2d", "--max-pause", "7d"]
    with anvil_provider() as provider:
        deployer = accounts.test_accounts[0].address  # the script's deployer on a local network
        before = (provider.get_nonce(deployer), chain.blocks.head.number)
        run = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy(), timeout=300)
        after = (provider.get_nonce(deployer), chain.blocks.head.number)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert run.stdout == ""
    assert run.stderr.strip().splitlines() == [
        "Error: --max-pause: 7d must be at most the posting window, "
        "--grace-period - --challenge-period = 2d - 1d = 1d"
    ]
    assert after == before
    assert list(tmp_path.iterdir()) == []


def test_ape_run_deploy_inspects_the_token_and_refuses_one_that_cannot_burn(project, owner, tmp_path):
    """`ape run deploy --nmr`: the capability report comes first; a contract that cannot burn is
    refused in one `Error:` line naming --nmr (no traceback, nothing sent, no file); the mainnet
    NMR's behaviour (LegacyNMR) gets a NumeraireTournament, stakes by approve."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from ape import chain

    ape = str(Path(sys.executable).with_name("ape"))
    base = [ape, "run", "deploy", "--network", "ethereum:local:foundry", "--deployments-dir", str(tmp_path)]
    with anvil_provider() as provider:
        env = os.environ.copy()
        not_a_token = owner.deploy(project.StrategyInvoker, owner)
        legacy = owner.deploy(project.LegacyNMR)
        deployer = owner.address  # the script's deployer on a local network: test account 0
        before = (provider.get_nonce(deployer), chain.blocks.head.number)
        refused = subprocess.run([*base, "--nmr", not_a_token.address], capture_output=True, text=True, env=env,
                                 timeout=300)
        after = (provider.get_nonce(deployer), chain.blocks.head.number)
        assert refused.returncode == 4, refused.stdout + refused.stderr  # ConfigError
        assert "Traceback" not in refused.stdout + refused.stderr
        assert "burns: NONE" in refused.stdout  # the report, before the refusal
        [line] = refused.stderr.strip().splitlines()
        assert line.startswith(f"Error: --nmr {not_a_token.address}: the token at {not_a_token.address} cannot burn")
        assert after == before
        assert list(tmp_path.iterdir()) == []

        done = subprocess.run([*base, "--nmr", legacy.address, "--operator", owner.address], capture_output=True,
                              text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        out = done.stdout
        report = "permit: no, stakes use approve; burns: mint(uint256) (NMR's repurposed burn), checked against totalSupply"
        assert report in out
        assert out.index(report) < out.index("Tournament: deployed at")
        assert "(NumeraireTournament)" in out and "StrategyInvoker: deployed at" in out
        [path] = list(tmp_path.glob("ethereum-local-31337.json"))
        record = json.loads(path.read_text())
        assert record["settings"]["tournament_contract"] == "NumeraireTournament"
        assert set(record["contracts"]) == {"NMR", "Tournament", "StrategyFactory", "StrategyInvoker"}
