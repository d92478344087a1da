"""Self-service test NMR (`POST /v1/faucet`) against a real Anvil and real `nmrstake serve`
processes: a service started without a faucet account answers `faucet-off`; one started with
`--faucet-account TEST::0` gives a fresh key test NMR and ether (`nmrstake faucet --api`, read
back from the chain), refuses a second request from the same address with a 429 that says when to
come back (after a restart too: the grant is recorded on disk) and sends nothing more, and names
`address` in a 422 for a bad one; the participant's Python API then stakes with the NMR it got."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import requests
from eth_account import Account
from helpers.scenario import WEI, make_world, open_funded_round, synth_round
from helpers.service_process import running_service

from nmrstake.client import Participant
from nmrstake.errors import RequestError
from nmrstake.localchain import anvil_provider

pytestmark = pytest.mark.nodes  # real Anvil and processes: run after the embedded-EVM tests

ROUND = 451
FAUCET = ("--faucet-account", "TEST::0")


def test_faucet__gives_a_fresh_key_nmr_and_gas_once_a_day__and_it_stakes_with_them(project, tmp_path):
    with anvil_provider():
        world = make_world(project, tmp_path / "operator")
        rpc = os.environ["APE_FOUNDRY_HOST"]
        open_funded_round(world, ROUND)
        inputs = synth_round(tmp_path, ROUND, models=2)
        token, provider = world.client.token, world.client.provider
        key = Account.create()
        logs = tmp_path / "logs"
        logs.mkdir()

        # Without --faucet-account the route exists and says the faucet is off.
        with running_service(world.deployments, world.layout.root, logs / "off.log") as service:
            off = requests.post(f"{service.url}/v1/faucet", json={"address": key.address}, timeout=60)
            assert off.status_code == 404, off.text
            assert off.headers["content-type"].startswith("application/problem+json")
            assert off.json()["type"] == "urn:nmrstake:problem:faucet-off"
        assert int(token.balanceOf(key.address)) == 0 and int(provider.get_balance(key.address)) == 0

        with running_service(world.deployments, world.layout.root, logs / "on.log", *FAUCET) as service:
            # A bad address is a 422 naming `address`; nothing is sent for it.
            for bad in ({"address": "0x1234"}, {"address": "0x" + "zz" * 20}, {}):
                answer = requests.post(f"{service.url}/v1/faucet", json=bad, timeout=60)
                assert answer.status_code == 422, (bad, answer.text)
                assert answer.json()["field"] == "address", answer.text

            # The participant's command asks the service (lowercase address: checksummed by it).
            out = subprocess.run([sys.executable, "-m", "nmrstake.cli", "faucet", "--api", service.url,
                                  key.address.lower(), "--json"], capture_output=True, text=True, timeout=120,
                                 env=os.environ.copy())
            assert out.returncode == 0, out.stdout + out.stderr
            grant = json.loads(out.stdout)
            assert grant["address"] == key.address
            assert int(token.balanceOf(key.address)) == int(grant["nmr"]) == 100 * WEI
            assert int(provider.get_balance(key.address)) == int(grant["ether"]) == WEI // 10
            for txn in (grant["nmr_txn"], grant["ether_txn"]):
                assert provider.web3.eth.get_transaction_receipt(txn)["status"] == 1
            head = provider.web3.eth.block_number

        # The grant is recorded in the data folder: a restarted service still refuses the address.
        with running_service(world.deployments, world.layout.root, logs / "again.log", *FAUCET) as service:
            me = Participant(service.url, rpc, key, home=tmp_path / "home")
            with pytest.raises(RequestError) as refused:
                me.faucet()
            assert refused.value.status == 429 and refused.value.kind == "faucet-limit", refused.value
            assert "come back at" in refused.value.message
            again = requests.post(f"{service.url}/v1/faucet", json={"address": key.address}, timeout=60)
            assert again.status_code == 429 and int(again.headers["Retry-After"]) > 0, again.text
            assert provider.web3.eth.block_number == head  # nothing more was sent
            assert me.balances().nmr == 100 * WEI and me.balances().ether == WEI // 10

            # Another fresh key, through the Python API, gets its own grant.
            other = Account.create()
            given = Participant(service.url, rpc, other, home=tmp_path / "home2").faucet()
            assert given.address == other.address and given.nmr == 100 * WEI and given.ether == WEI // 10
            assert int(token.balanceOf(other.address)) == 100 * WEI

            # The NMR and gas the faucet gave are enough to take part: upload and stake.
            predictions = pd.read_csv(inputs / "predictions" / "model_01.csv")
            staked = me.stake("faucet_model", "2.5", predictions)
            assert staked.stake == 25 * WEI // 10 and staked.txn is not None
            assert me.balances().nmr == 100 * WEI - 25 * WEI // 10
        assert "Traceback" not in (logs / "on.log").read_text() + (logs / "again.log").read_text()
