"""The CLI as separate processes against a real Anvil: import a wallet, get test NMR, stake with a
permit, let the oracle resolve, claim; every `--json` output parses."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers.scenario import WEI, advance_to, advance_to_final, deliver_targets, make_world, open_funded_round, synth_round

from nmrstake.localchain import anvil_provider
from nmrstake.models import model_id
from nmrstake.results.layout import DataLayout
from nmrstake.submissions import SubmissionStore

pytestmark = pytest.mark.nodes  # real Anvil/Ganache: run after the embedded-EVM tests

KEY = "0x" + "42" * 32
PASS = "pass phrase for tests"


def cli(*args: str, input: str | None = None, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "nmrstake.cli", *args], input=input, capture_output=True, text=True,
                         env=env, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


# `nmrstake ARGS` in a fresh interpreter that, on exit, names which of these modules it loaded.
WATCHED = ("ape", "eth", "IPython", "ape_test.provider")
WATCHING = ("import atexit, json, runpy, sys\n"
            f"atexit.register(lambda: print('LOADED ' + json.dumps({{m: m in sys.modules for m in {WATCHED!r}}}), file=sys.stderr))\n"
            "sys.argv = ['nmrstake', *sys.argv[1:]]\n"
            "runpy.run_module('nmrstake.cli', run_name='__main__')\n")


def cli_loading(*args: str, env: dict[str, str]) -> tuple[str, dict[str, bool]]:
    out = subprocess.run([sys.executable, "-c", WATCHING, *args], capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    [loaded] = [line.removeprefix("LOADED ") for line in out.stderr.splitlines() if line.startswith("LOADED ")]
    return out.stdout, json.loads(loaded)


def test_cli_processes_on_anvil(project, tmp_path):
    env = dict(os.environ, NMRSTAKE_HOME=str(tmp_path / "home"), NMRSTAKE_PASSPHRASE=PASS)
    net = ["--network", "ethereum:local:foundry"]
    with anvil_provider():
        env["APE_FOUNDRY_HOST"] = os.environ["APE_FOUNDRY_HOST"]
        world = make_world(project, tmp_path, n_stakers=0)
        common = [*net, "--deployments-dir", str(world.deployments)]
        data = ["--data-dir", str(tmp_path / "data")]
        SubmissionStore(tmp_path / "data" / "service").open_for_writing(clean=True).receipt_key()  # as serve would
        out = cli("wallet", "import", "dora", "--json", input=KEY + "\n", env=env).stdout
        dora = json.loads(out)["address"]
        # The faucet sends from test account 0: ape's test accounts stay without its embedded chain.
        out, loaded = cli_loading("faucet", dora, "50", "--json", *common, env=env)
        assert json.loads(out)["balance"] == str(50 * WEI)
        assert loaded["ape"] and not loaded["eth"] and not loaded["ape_test.provider"]
        open_funded_round(world, 51)
        inputs = synth_round(tmp_path, 51, models=1)
        out, loaded = cli_loading("stake", "--round", "51", "--model", "model_00", "--amount", "20",
                                  "--predictions", str(inputs / "predictions" / "model_00.csv"), "--wallet", "dora",
                                  "--json", *common, *data, env=env)
        staked = json.loads(out)
        assert staked["stake"] == str(20 * WEI)
        # A stake from a wallet on a node leaves ape's embedded chain (py-evm) and IPython unloaded.
        assert loaded == {"ape": True, "eth": False, "IPython": False, "ape_test.provider": False}
        amount, _ = world.client.tournament.getStake(51, model_id("model_00"), dora)
        assert int(amount) == 20 * WEI
        assert int(world.client.token.allowance(dora, world.client.tournament.address)) == 0  # permit, no approve left over

        world.layout = DataLayout(tmp_path / "data")
        advance_to(world.client.round(51).resolve_time)
        deliver_targets(world, 51, inputs)
        cli("oracle", "run", "--once", "--account", "TEST::1", *common, *data, env=env)
        assert "FAIL" not in cli("verify", "51", *common, *data, env=env).stdout
        advance_to_final(world.client.round(51))
        cli("oracle", "run", "--once", "--account", "TEST::1", *common, *data, env=env)
        status = json.loads(cli("status", "--wallet", "dora", "--json", *common, *data, env=env).stdout)
        assert status["stakes"][0]["claim"] == "claimable"
        claimed = json.loads(cli("claim", "--round", "51", "--wallet", "dora", "--json", *common, *data, env=env).stdout)
        [c] = claimed["claims"]
        assert int(world.client.token.balanceOf(dora)) == 30 * WEI + int(c["amount"])
        rounds = json.loads(cli("rounds", "--json", *common, env=env).stdout)
        assert rounds[0]["state"] == "final" and rounds[0]["settled"] is True


def test_chain_session_on_a_local_node__warns_when_chain_time_lags_the_clock(project, tmp_path, capsys, monkeypatch):
    import time

    from nmrstake.cli.session import chain_session

    with anvil_provider():
        world = make_world(project, tmp_path, n_stakers=0)
        with chain_session("ethereum:local:foundry", world.deployments):
            pass
        assert capsys.readouterr().err == ""  # a node that just mined: nothing to say
        later = time.time() + 3600  # as if the node had stood idle for an hour
        monkeypatch.setattr(time, "time", lambda: later)
        with chain_session("ethereum:local:foundry", world.deployments) as client:
            assert client.tournament.address == world.client.tournament.address
        err = capsys.readouterr().err
        assert "behind the clock" in err and "nmrstake node" in err


def test_an_operator_command_on_a_local_node__ape_starts_itself__gets_the_test_settings_and_a_one_line_error(tmp_path):
    """No node at the address: for an operator's command (on ape), ape-foundry starts an Anvil of
    its own with the `test:` settings (mnemonic, accounts), which a process without ape's embedded
    chain still has; with no deployment recorded for it, the command says so in one line."""
    from nmrstake.localchain import free_port

    env = dict(os.environ, NMRSTAKE_HOME=str(tmp_path / "home"), APE_FOUNDRY_HOST=f"http://127.0.0.1:{free_port()}")
    out = subprocess.run([sys.executable, "-m", "nmrstake.cli", "oracle", "status", "--network", "ethereum:local:foundry",
                          "--deployments-dir", str(tmp_path / "none")], capture_output=True, text=True, env=env,
                         timeout=180)
    assert out.returncode == 4, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: no deployment recorded in ")


def test_a_participant_command_on_a_dead_node__says_so_in_one_line_and_starts_nothing(tmp_path):
    """A participant's command reaches the node by its URL (web3.py, no ape): nothing answers
    there, so it says which --network it could not reach, in one line, and starts no node."""
    from nmrstake.localchain import free_port

    port = free_port()
    env = dict(os.environ, NMRSTAKE_HOME=str(tmp_path / "home"))
    for network in (f"http://127.0.0.1:{port}", "ethereum:local:foundry"):
        env["APE_FOUNDRY_HOST"] = f"http://127.0.0.1:{port}"
        out = subprocess.run([sys.executable, "-m", "nmrstake.cli", "rounds", "--network", network,
                              "--deployments-dir", str(tmp_path / "none")], capture_output=True, text=True, env=env,
                             timeout=180)
        assert out.returncode == 4, out.stdout + out.stderr
        assert "Traceback" not in out.stderr
        assert out.stderr.strip().splitlines()[-1].startswith(f"error: --network {network}: cannot reach the node")
