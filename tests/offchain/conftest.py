"""Fixtures of the off-chain tests that drive the CLI: a home of its own, and a deployed world
with a funded wallet `alice` (tests/offchain/test_cli.py, test_cli_strategy.py)."""

from __future__ import annotations

import pytest
from helpers.cli_runner import PASS, js, operator_store, run
from helpers.scenario import SETTINGS

from nmrstake.deploy import deploy
from nmrstake.tournament import TournamentClient


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("NMRSTAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NMRSTAKE_PASSPHRASE", PASS)
    return tmp_path


@pytest.fixture
def cli_world(project, home, tmp_path):
    from ape import accounts

    owner = accounts.test_accounts[0]
    deployments = tmp_path / "deployments"
    dep, _ = deploy(project, owner, directory=deployments, force=True, oracle=accounts.test_accounts[1].address,
                    settings=SETTINGS, log=lambda m: None)
    client = TournamentClient(project, dep)
    common = ["--deployments-dir", str(deployments)]
    data = ["--data-dir", str(tmp_path / "data")]
    operator_store(tmp_path / "data")
    alice = js("wallet", "new", "alice")["address"]
    run("faucet", alice, "100", *common)
    run("faucet", accounts.test_accounts[2].address, "1000", *common)
    return client, common, data, alice, tmp_path
