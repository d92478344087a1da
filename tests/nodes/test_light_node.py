"""The participant's light node (`nmrstake.chain.node.RpcNode`: JSON-RPC, eth-abi and the
packaged ABIs, no web3.py) against web3.py itself on a real Anvil with a staked round: every value
a contract call returns and every event log are what web3.py gives; a revert's custom error is
named; and the participant's read commands by URL load neither web3.py, ape nor pandas."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers.scenario import make_world, open_funded_round, stake_all, synth_round

from nmrstake.abi import load
from nmrstake.chain.node import NodeError, RpcNode
from nmrstake.client.chain import Chain
from nmrstake.localchain import anvil_provider
from nmrstake.models import model_id

pytestmark = pytest.mark.nodes  # a real Anvil: run after the embedded-EVM tests

ROUND = 5


@pytest.fixture(scope="module")
def staked(project, tmp_path_factory):
    """(world, the node's URL, ape's Web3 on it): round 5 open and funded, two stakers staked."""
    from ape import chain

    tmp = tmp_path_factory.mktemp("light-node")
    with anvil_provider():
        world = make_world(project, tmp, n_stakers=2)
        open_funded_round(world, ROUND)
        stake_all(world, ROUND, synth_round(tmp, ROUND, models=2))
        yield world, os.environ["APE_FOUNDRY_HOST"], chain.provider.web3


def both(staked, name: str, address: str):
    """(web3.py's contract, the light node's) for the packaged ABI `name` at `address`."""
    _, url, w3 = staked
    return w3.eth.contract(address=address, abi=load(name)), RpcNode(url).contract(address, load(name))


def same(a, b) -> bool:
    """Equal as web3.py and the light node give them (several outputs: a list or a tuple)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b and type(a) is type(b) or (isinstance(a, bytes) and isinstance(b, bytes) and bytes(a) == bytes(b))


def test_every_read_the_client_makes__returns_what_web3_returns(staked):
    world = staked[0]
    staker, other = (str(s.address) for s in world.stakers)
    tournament_address = str(world.client.tournament.address)
    web3_t, light_t = both(staked, "Tournament", tournament_address)
    web3_n, light_n = both(staked, "NMR", str(world.client.token.address))
    calls = [
        (web3_t, light_t, "nmr", ()), (web3_t, light_t, "challengePeriod", ()), (web3_t, light_t, "gracePeriod", ()),
        (web3_t, light_t, "lastRoundId", ()), (web3_t, light_t, "pool", ()), (web3_t, light_t, "roundState", (ROUND,)),
        (web3_t, light_t, "getRound", (ROUND,)), (web3_t, light_t, "getRound", (ROUND + 1,)),
        (web3_t, light_t, "getStake", (ROUND, model_id("model_00"), staker)),
        (web3_t, light_t, "getStake", (ROUND, model_id("model_01"), other)),
        (web3_t, light_t, "claimsBySelfOnly", (staker,)), (web3_t, light_t, "exitBurn", (10**18, 500, 3)),
        (web3_n, light_n, "balanceOf", (staker,)), (web3_n, light_n, "allowance", (staker, tournament_address)),
        (web3_n, light_n, "totalSupply", ()), (web3_n, light_n, "name", ()), (web3_n, light_n, "decimals", ()),
        (web3_n, light_n, "eip712Domain", ()), (web3_n, light_n, "nonces", (staker,)),
        (web3_n, light_n, "DOMAIN_SEPARATOR", ()),
    ]
    for web3_c, light_c, name, args in calls:
        expected = getattr(web3_c.functions, name)(*args).call()
        found = getattr(light_c.functions, name)(*args).call()
        assert same(expected, found), (name, args, expected, found)
    # A struct comes back a tuple, its addresses checksummed, as web3.py gives it.
    assert isinstance(light_t.functions.getRound(ROUND).call(), tuple)
    assert light_t.functions.nmr().call() == str(world.client.token.address)


def test_event_logs__with_and_without_filters__decode_as_web3_decodes_them(staked):
    world = staked[0]
    staker = str(world.stakers[1].address)
    web3_t, light_t = both(staked, "Tournament", str(world.client.tournament.address))
    start = world.client.deployment.contracts["Tournament"].block

    def shaped(logs):
        return [(log["event"], dict(log["args"]), int(log["blockNumber"]), int(log["logIndex"])) for log in logs]

    for event, filters in [("Staked", None), ("Staked", {"roundId": ROUND}), ("Staked", {"staker": staker}),
                           ("Staked", {"roundId": ROUND + 1}), ("RoundOpened", None), ("Funded", None),
                           # one key's logs (its last commitment: Chain.logged_commitment)
                           ("Staked", {"roundId": ROUND, "modelId": model_id("model_01"), "staker": staker}),
                           ("CommitmentChanged", {"staker": staker})]:
        expected = shaped(getattr(web3_t.events, event)().get_logs(from_block=start, argument_filters=filters))
        found = shaped(getattr(light_t.events, event)().get_logs(from_block=start, argument_filters=filters))
        assert found == expected, (event, filters)
    assert len(shaped(light_t.events.Staked().get_logs(from_block=start, argument_filters={"staker": staker}))) == 1


def test_a_reverting_call__raises_the_node_error__and_the_client_names_the_custom_error(staked):
    world, url, _ = staked
    chain = Chain(url, world.client.deployment)
    call = chain.tournament.functions.stake(ROUND + 40, model_id("model_00"), 10**18, b"\x01" * 32)
    with pytest.raises(NodeError) as raised:
        call.call({"from": str(world.stakers[0].address)})
    assert "UnknownRound" in chain.describe_revert(raised.value), chain.describe_revert(raised.value)


# `nmrstake ARGS` in a fresh interpreter that, on exit, names which of these modules it loaded.
WATCHED = ("ape", "web3", "pandas")
WATCHING = ("import atexit, json, runpy, sys\n"
            f"atexit.register(lambda: print('LOADED ' + json.dumps({{m: m in sys.modules for m in {WATCHED!r}}}), file=sys.stderr))\n"
            "sys.argv = ['nmrstake', *sys.argv[1:]]\n"
            "runpy.run_module('nmrstake.cli', run_name='__main__')\n")


def test_the_read_commands_by_node_url__load_neither_web3_ape_nor_pandas(staked, tmp_path):
    world, url, _ = staked
    env = dict(os.environ, NMRSTAKE_HOME=str(tmp_path / "home"), NMRSTAKE_DEPLOYMENTS=str(world.deployments))
    staker = str(world.stakers[0].address)
    for args in (["rounds"], ["round", "show", str(ROUND)], ["balance", staker]):
        out = subprocess.run([sys.executable, "-c", WATCHING, *args, "--network", url, "--json"], capture_output=True,
                             text=True, env=env, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        [loaded] = [line.removeprefix("LOADED ") for line in out.stderr.splitlines() if line.startswith("LOADED ")]
        assert json.loads(loaded) == {"ape": False, "web3": False, "pandas": False}, (args, loaded)
        assert json.loads(out.stdout), args


def test_a_batch__answers_each_call_as_its_own_request_would__and_a_refused_call_with_its_error(staked):
    world, url, _ = staked
    node = RpcNode(url)
    staker = str(world.stakers[0].address)
    found = node.batch([("eth_getBalance", [staker, "latest"]), ("eth_chainId", []), ("nmrstake_no_such_method", [])])
    assert found[:2] == [node.request("eth_getBalance", [staker, "latest"]), node.request("eth_chainId")]
    assert isinstance(found[2], NodeError) and "nmrstake_no_such_method" in str(found[2])


def test_the_services_reads_of_an_upload__in_one_request__are_the_reads_one_by_one(staked):
    """A stake and its staker's NMR in one request (TournamentClient.stake_and_balance), and the
    chain time from the pending and latest blocks in one: what the service asks for each upload."""
    world = staked[0]
    client = world.client
    assert hasattr(client.node, "batch")  # a node by URL: the batched reads are the ones tested
    for staker in world.stakers:
        for model in ("model_00", "model_01", "model_99"):
            mid = model_id(model)
            assert client.stake_and_balance(ROUND, mid, str(staker.address)) == (
                client.stake_amount(ROUND, mid, str(staker.address)), client.nmr_balance(str(staker.address)))
    assert client.chain_time() >= client.node.block_timestamp("latest")
