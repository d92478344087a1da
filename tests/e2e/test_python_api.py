"""The participant's Python API (`nmrstake.client.Participant`) against a real Anvil and a real
`nmrstake serve`: a participant with only a key, the RPC URL and the service URL uploads a
DataFrame and stakes, adds, replaces, reads its positions, and claims once the oracle daemon has
resolved the round; and importing the API loads neither ape nor pandas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from eth_account import Account
from helpers.scenario import WEI, advance_to, advance_to_final, deliver_targets, make_world, open_funded_round, oracle_once, synth_round
from helpers.service_process import running_service

from nmrstake.client import Participant
from nmrstake.errors import ChainError, InputError
from nmrstake.localchain import anvil_provider
from nmrstake.models import model_id
from nmrstake.tournament import RoundState

pytestmark = pytest.mark.nodes  # real Anvil and processes: run after the embedded-EVM tests

ROUND = 401


def test_import__the_participants_api__loads_neither_ape_nor_pandas():
    code = ("import sys, nmrstake.client; "
            "bad = sorted(m for m in sys.modules if m in ('ape', 'pandas', 'scipy') or m.startswith('ape.')); "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd="/", env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert out.returncode == 0, out.stdout + out.stderr


def test_participant__with_a_key_and_two_urls__stakes_a_dataframe_and_claims_its_result(project, tmp_path):
    with anvil_provider():
        world = make_world(project, tmp_path / "operator")
        rpc = os.environ["APE_FOUNDRY_HOST"]
        open_funded_round(world, ROUND)
        inputs = synth_round(tmp_path, ROUND, models=len(world.stakers) + 1)
        key = Account.create()
        world.client.token.mint(key.address, 50 * WEI, sender=world.owner)
        world.owner.transfer(key.address, WEI)  # ether for gas, as a participant holds
        predictions = pd.read_csv(inputs / "predictions" / "model_03.csv")
        with running_service(world.deployments, world.layout.root, tmp_path / "service.log") as service:
            me = Participant(service.url, rpc, key, home=tmp_path / "home")
            assert me.round().round_id == ROUND
            assert me.balances().nmr == 50 * WEI
            with pytest.raises(InputError, match="no stake"):
                me.add("api_model", "1")  # nothing to add to yet: a clear error, nothing sent
            staked = me.stake("api_model", "2.5", predictions)
            assert staked.stake == 25 * WEI // 10 and staked.upload is not None and staked.txn is not None
            assert staked.upload.receipt.signer(me.chain.domain) == service_signer(me)
            added = me.add("api_model", 1)  # 1 wei more, same file
            assert added.stake == staked.stake + 1 and added.commitment == staked.commitment
            flipped = predictions.assign(**{predictions.columns[1]: 1 - predictions.iloc[:, 1]})
            replaced = me.replace("api_model", flipped)
            assert replaced.stake == added.stake and replaced.commitment != staked.commitment
            assert [p.model for p in me.positions()] == ["api_model"]
            # The round resolves (the oracle daemon, a process), becomes final, and the API claims.
            info = world.client.round(ROUND)
            advance_to(info.resolve_time)
            deliver_targets(world, ROUND, inputs)
            oracle_once(world)
            advance_to_final(world.client.round(ROUND))
            assert me.round(ROUND).state is RoundState.FINAL
            position = me.positions()[0]
            owed = position.claimable
            assert owed > 0 and position.valid is True, position
            before = me.balances().nmr
            claimed = me.claim()
            assert [c.round_id for c in claimed.claims] == [ROUND] and me.balances().nmr - before == owed
            assert me.claim().claims == []  # nothing left: claims nothing twice
            with pytest.raises(ChainError, match="no round is open"):
                me.round()


def service_signer(me: Participant) -> str:
    assert me.service is not None
    return me.service.receipt_signer


def test_example_notebook__executes_against_a_live_service_and_stakes(project, tmp_path):
    """examples/participant.ipynb, executed by nbclient in a real kernel against a real Anvil and
    service: it stakes, replaces its predictions and shows its positions."""
    import nbclient
    import nbformat

    notebook = nbformat.read(Path(__file__).parents[2] / "examples" / "participant.ipynb", as_version=4)
    with anvil_provider():
        world = make_world(project, tmp_path / "operator")
        open_funded_round(world, ROUND)
        inputs = synth_round(tmp_path, ROUND, models=2)
        key = Account.create()
        world.client.token.mint(key.address, 10 * WEI, sender=world.owner)
        world.owner.transfer(key.address, WEI)
        with running_service(world.deployments, world.layout.root, tmp_path / "service.log") as service:
            env = {"NMRSTAKE_API": service.url, "NMRSTAKE_RPC": os.environ["APE_FOUNDRY_HOST"],
                   "NMRSTAKE_PRIVATE_KEY": key.key.hex(), "NMRSTAKE_HOME": str(tmp_path / "home"),
                   "NMRSTAKE_EXAMPLE_PREDICTIONS": str(inputs / "predictions" / "model_01.csv")}
            saved = {k: os.environ.get(k) for k in env}
            os.environ.update(env)  # the kernel inherits the environment
            try:
                nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                        resources={"metadata": {"path": str(tmp_path)}}).execute()
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
            stake = world.client.stake(ROUND, model_id("notebook_model"), key.address)
            assert stake.amount == 15 * WEI // 10
            outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
            assert not [o for o in outputs if o.get("output_type") == "error"]
            assert "notebook_model" in json.dumps(outputs[-1])
