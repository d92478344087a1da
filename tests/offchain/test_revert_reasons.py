"""Every refusal through the one sender (`nmrstake.chain.transactions.send`) names the custom
error with its arguments, on the embedded EVM: a simulation that reverts, a transaction that
passed its simulation but lost a race and failed when mined, an error raised by another contract
of the project than the one called, and a batch entry that fails inside the operator's invoker.
(tests/e2e/test_oracle_daemon.py does the same on Anvil, where ape keeps no revert data.)"""

from __future__ import annotations

from typing import Any

import pytest
from helpers.races import LosesTheRace
from helpers.scenario import WEI, advance_to, make_world, open_funded_round

from nmrstake.chain.reverts import describe_revert, project_errors
from nmrstake.chain.transactions import send
from nmrstake.errors import ChainError
from nmrstake.strategies.chain import StrategyClient


@pytest.fixture
def world(project, tmp_path):
    return make_world(project, tmp_path)


def settle_expired(world, round_id: int) -> None:
    """A funded round without stakes, past its grace period: anyone's `finalise` settles it."""
    open_funded_round(world, round_id)
    advance_to(world.client.round(round_id).expires_at)
    send(world.client.tournament.finalise, round_id, sender=world.stakers[2], what="settling")
    assert world.client.round(round_id).settled


def test_send__finalising_a_settled_round__would_revert_with_AlreadySettled_and_its_round(world):
    settle_expired(world, 11)
    with pytest.raises(ChainError) as refused:
        send(world.client.tournament.finalise, 11, sender=world.oracle, what="finalising round 11")
    assert str(refused.value) == "finalising round 11 would revert: AlreadySettled(roundId=11); nothing was sent"


def test_send__a_race_lost_after_the_simulation__names_the_error_the_mined_transaction_met(world):
    open_funded_round(world, 12)
    advance_to(world.client.round(12).expires_at)
    tournament = world.client.tournament

    def someone_else_settles() -> None:
        send(tournament.finalise, 12, sender=world.stakers[2], what="settling first")

    with pytest.raises(ChainError) as refused:
        send(tournament.finalise, 12, sender=LosesTheRace(world.oracle, someone_else_settles),
             what="finalising round 12")
    message = str(refused.value)
    assert message.startswith("finalising round 12 reverted: AlreadySettled(roundId=12)"), message
    assert "custom error" not in message and "0x8fec535e" not in message


def test_send__an_error_of_the_token_under_the_tournament__is_named_with_its_arguments(world):
    open_funded_round(world, 13, fund=0)
    funder = world.stakers[0]  # holds NMR, approved nothing: the token refuses the tournament's transferFrom
    with pytest.raises(ChainError) as refused:
        send(world.client.tournament.fund, 13, 5 * WEI, sender=funder, what="funding round 13")
    spender = world.client.tournament.address
    assert str(refused.value) == (f"funding round 13 would revert: ERC20InsufficientAllowance(spender={spender}, "
                                  f"allowance=0, needed={5 * WEI}); nothing was sent")


def test_send__an_unauthorised_caller__is_named_with_the_account_and_the_role_in_hex(world):
    with pytest.raises(ChainError) as refused:
        send(world.client.tournament.pause, sender=world.stakers[1], what="pausing")
    message = str(refused.value)
    assert message.startswith(f"pausing would revert: AccessControlUnauthorizedAccount(account={world.stakers[1].address}, "
                              "neededRole=0x"), message
    assert "b'" not in message  # a bytes32 argument reads as hex


def test_describe_revert__any_project_contracts_error_by_selector_with_its_arguments():
    from eth_abi import encode
    from eth_utils import keccak

    def data(signature: str, types: list[str], values: list[Any]) -> bytes:
        return keccak(text=signature)[:4] + encode(types, values)

    assert describe_revert(data("AlreadySettled(uint256)", ["uint256"], [1001])) == "AlreadySettled(roundId=1001)"
    # Errors of the strategy contracts, of the token and of OpenZeppelin's libraries are there too.
    assert describe_revert(data("InsufficientIdle(uint256,uint256)", ["uint256", "uint256"], [5, 3])) == \
        "InsufficientIdle(needed=5, idle=3)"
    assert describe_revert(data("SafeCastOverflowedUintDowncast(uint8,uint256)", ["uint8", "uint256"], [96, 2**96])) == \
        f"SafeCastOverflowedUintDowncast(bits=96, value={2**96})"
    assert describe_revert(data("Error(string)", ["string"], ["not allowed"])) == "not allowed"
    assert describe_revert(data("Panic(uint256)", ["uint256"], [0x11])) == "Panic(0x11: arithmetic overflow or underflow)"
    assert describe_revert(bytes.fromhex("deadbeef")) is None
    assert keccak(text="AlreadySettled(uint256)")[:4] in project_errors()


def test_operator__a_failed_batch_entry__is_logged_with_its_error_and_arguments(project, tmp_path):
    from nmrstake.client.results import LocalResults
    from nmrstake.models import model_id
    from nmrstake.strategy_operator import StrategyOperator

    world = make_world(project, tmp_path)
    strategies = StrategyClient(world.client)
    owner = world.stakers[0]
    strategies.factory.create(strategies.invoker_address, sender=owner)
    strategy = strategies.strategy_of(owner.address)
    open_funded_round(world, 14)
    lines: list[tuple[str, dict]] = []
    operator = StrategyOperator(world.client, LocalResults(world.layout), world.owner,
                                log=lambda event, **fields: lines.append((event, fields)))
    batch = [(strategy, 14, model_id("never_set"), b"\x01" * 32)]  # a model its owner never enabled
    invoker = strategies.invoker
    assert invoker is not None  # the deployment has one
    sent = send(invoker.stakeMany, batch, sender=world.owner, what="stake batch")
    assert operator._failures(sent, batch) == [0]
    [(event, fields)] = lines
    assert event == "invocation_failed" and fields["round"] == 14
    assert fields["error"] == f"ModelNotEnabled(modelId=0x{model_id('never_set').hex()})"
