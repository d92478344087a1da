"""The participant's allocation strategy on web3.py and eth-account alone
(`nmrstake.client.strategy.Strategies`), on the embedded EVM: what the owner's actions move on
chain, what they refuse before sending, how a revert is named, and that its code is checked."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from eth_account import Account
from helpers.scenario import WEI, make_world, open_funded_round, synth_round

from nmrstake.client.chain import Chain
from nmrstake.client.strategy import Mode, Strategies
from nmrstake.errors import ChainError, ConfigError, InputError
from nmrstake.hashing import keccak_file
from nmrstake.models import model_id


@pytest.fixture
def world(project, tmp_path):
    """A deployed world; stakers[0] and [1] hold 10,000 NMR each."""
    return make_world(project, tmp_path, n_stakers=2)


def web3_chain(world) -> Chain:
    return Chain(world.client.provider.web3, world.client.deployment)


def owner_of(world, acct) -> Strategies:
    return Strategies(web3_chain(world), Account.from_key(acct.private_key))


def nmr(world, address: str) -> int:
    return int(world.client.token.balanceOf(address))


def test_create__the_owner_s_strategy_is_found_where_predicted_and_operated_by_the_invoker(world):
    alice = world.stakers[0]
    mine = owner_of(world, alice)
    predicted = mine.predict(alice.address)
    assert mine.strategy_of(alice.address) is None

    created = mine.create()
    assert created.strategy == predicted == mine.strategy_of(alice.address) == mine.mine()
    assert created.operator == world.client.deployment.address("StrategyInvoker") == mine.operator(predicted)
    assert mine.is_strategy(predicted) and (predicted, alice.address) in mine.strategies()
    view = mine.view(predicted)
    assert (view.owner, view.idle, view.models) == (alice.address, 0, ())

    with pytest.raises(InputError, match="already has a strategy at " + predicted):
        mine.create()


def test_create__without_an_operator__and_with_one_named(world):
    alice, bob = world.stakers
    assert owner_of(world, alice).create(None).operator is None
    assert owner_of(world, alice).operator(owner_of(world, alice).mine()) is None
    chosen = world.oracle.address
    made = owner_of(world, bob).create(chosen)
    assert made.operator == chosen == owner_of(world, bob).operator(made.strategy)


def test_an_account_without_a_strategy__is_told_which_option_named_it_and_how_to_create_one(world):
    bob = owner_of(world, world.stakers[1])
    with pytest.raises(ConfigError, match=r"^--wallet bob: 0x[0-9a-fA-F]{40} has no strategy yet: create one with "
                                          r"`nmrstake strategy create`"):
        bob.mine(argument="--wallet bob")
    for action in (lambda: bob.deposit("1"), lambda: bob.withdraw(), lambda: bob.set_model("m", "1", "fixed"),
                   lambda: bob.revoke_operator()):
        with pytest.raises(ConfigError, match="has no strategy yet"):
            action()
    reader = Strategies(web3_chain(world))
    with pytest.raises(ConfigError, match="no account to act as"):
        reader.create()


def test_deposit__moves_the_owner_s_nmr_into_the_strategy__and_refuses_more_than_the_wallet_holds(world):
    alice = world.stakers[0]
    mine = owner_of(world, alice)
    strategy = mine.create().strategy
    before = nmr(world, alice.address)
    said: list[str] = []

    moved = mine.deposit("40", say=said.append)
    assert (moved.amount, moved.idle) == (40 * WEI, 40 * WEI) and len(moved.approvals) == 1
    assert nmr(world, alice.address) == before - 40 * WEI and nmr(world, strategy) == 40 * WEI
    assert any("approving 40 NMR for your strategy" in line for line in said)
    assert int(world.client.token.allowance(alice.address, strategy)) == 0  # exactly what was deposited

    assert mine.deposit(2 * WEI).idle == 42 * WEI  # an int is wei
    with pytest.raises(InputError, match=r"^AMOUNT: 0x[0-9a-fA-F]{40} holds 9958 NMR, less than 10000"):
        mine.deposit("10000", argument="AMOUNT")
    with pytest.raises(InputError, match="amount"):
        mine.deposit(0)
    assert nmr(world, strategy) == 42 * WEI


def test_set_model__the_view_shows_it__and_a_mode_change_resets_nothing_else(world):
    mine = owner_of(world, world.stakers[0])
    strategy = mine.create().strategy
    mine.deposit("40")

    done = mine.set_model("my_model", "10", "compound")
    assert done.setting == mine.setting(strategy, "my_model")
    assert (done.setting.mode, done.setting.per_round, done.setting.next_stake) == (Mode.COMPOUND, 10 * WEI, 10 * WEI)
    mine.set_model("other_model", 3 * WEI, Mode.FIXED)
    mine.set_model("my_model", "0", "off")
    view = mine.view(strategy)
    assert [(m.model, m.mode, m.per_round, m.next_stake) for m in view.models] == [
        ("my_model", Mode.OFF, 0, 0), ("other_model", Mode.FIXED, 3 * WEI, 3 * WEI)]
    assert view.to_json()["models"][1] == {"model": "other_model", "per_round": str(3 * WEI), "mode": "fixed",
                                           "net": "0", "last_round": None, "next_stake": str(3 * WEI)}

    with pytest.raises(InputError, match="per_round"):
        mine.set_model("my_model", "0", "fixed")
    with pytest.raises(InputError, match="^mode 'sometimes': choose fixed, compound or off"):
        mine.set_model("my_model", "1", "sometimes")
    with pytest.raises(InputError, match="model"):
        mine.set_model("Bad Model", "1", "fixed")


def test_a_revert_is_named_by_its_custom_error_and_nothing_is_sent(world):
    alice, bob = world.stakers
    mine = owner_of(world, alice)
    strategy = mine.create().strategy
    mine.deposit("10")
    nonce = world.client.provider.web3.eth.get_transaction_count(alice.address)

    with pytest.raises(ChainError, match=r"^setting my_model would revert: AmountTooLarge\(amount="
                                         + str(2**96) + r"\); nothing was sent"):
        mine.set_model("my_model", 2**96, "fixed")
    with pytest.raises(ChainError, match=r"NothingToSettle\(roundId=7, modelId="):
        mine.exit_unclaimed(7, "my_model")
    assert world.client.provider.web3.eth.get_transaction_count(alice.address) == nonce

    # Another account cannot take the strategy's NMR: the contract refuses it by name.
    stranger = owner_of(world, bob)
    thief = Account.from_key(bob.private_key)
    with pytest.raises(ChainError, match=r"NotOwner\(caller=" + bob.address):
        stranger.chain.send(stranger.contract(strategy).functions.withdraw(WEI), thief, what="withdrawing")
    assert nmr(world, strategy) == 10 * WEI


def test_withdraw__goes_to_the_owner_only__and_never_more_than_the_idle_nmr(world):
    alice = world.stakers[0]
    mine = owner_of(world, alice)
    strategy = mine.create().strategy
    mine.deposit("40")
    before = nmr(world, alice.address)

    out = mine.withdraw("15")
    assert (out.amount, out.idle) == (15 * WEI, 25 * WEI)
    assert nmr(world, alice.address) == before + 15 * WEI and nmr(world, strategy) == 25 * WEI
    with pytest.raises(InputError, match=r"^AMOUNT: the strategy holds 25 idle NMR, less than 26"):
        mine.withdraw("26", argument="AMOUNT")
    everything = mine.withdraw()
    assert (everything.amount, everything.idle) == (25 * WEI, 0) and nmr(world, alice.address) == before + 40 * WEI
    with pytest.raises(InputError, match="holds no idle NMR"):
        mine.withdraw()


def test_operator__set_and_revoked_at_once(world):
    mine = owner_of(world, world.stakers[0])
    strategy = mine.create().strategy
    mine.set_operator(world.oracle.address)
    assert mine.operator(strategy) == world.oracle.address
    mine.revoke_operator()
    assert mine.operator(strategy) is None and mine.view(strategy).operator is None


def test_submit__uploads_for_the_strategy_signed_by_its_owner__and_open_stakes_show_its_stake(world, tmp_path):
    from nmrstake.participant import LocalDelivery

    alice = world.stakers[0]
    mine = owner_of(world, alice)
    strategy = mine.create(None).strategy
    mine.deposit("20")
    mine.set_model("model_00", "10", "fixed")
    open_funded_round(world, 61)
    path = synth_round(tmp_path, 61, models=1) / "predictions" / "model_00.csv"

    answer = mine.submit(LocalDelivery(world.client, world.layout), 61, "model_00", path)
    assert answer["staker"] == strategy and answer["commitment"] == "0x" + keccak_file(path).hex()
    with pytest.raises(InputError, match="no such file"):
        mine.submit(LocalDelivery(world.client, world.layout), 61, "model_00", tmp_path / "missing.csv")

    # The owner may stake through the strategy too (without an operator, only the owner can).
    mine.chain.send(mine.contract(strategy).functions.stake(61, model_id("model_00"), keccak_file(path)),
                    Account.from_key(alice.private_key), what="staking")
    [stake] = mine.open_stakes(strategy)
    assert (stake.round_id, stake.model, stake.amount) == (61, "model_00", 10 * WEI)
    assert mine.setting(strategy, "model_00").last_round == 61 and mine.idle(strategy) == 10 * WEI


def test_code_is_checked__an_address_that_is_not_a_clone_of_the_implementation_is_refused(world):
    mine = owner_of(world, world.stakers[0])
    for address in (world.client.token.address, mine.implementation, world.stakers[1].address):
        with pytest.raises(ConfigError, match="is not an allocation strategy of this deployment"):
            mine.contract(address)
    dep = world.client.deployment
    without = dataclasses.replace(dep, contracts={k: v for k, v in dep.contracts.items() if k != "StrategyFactory"})
    with pytest.raises(ConfigError, match="no StrategyFactory"):
        Strategies(Chain(world.client.provider.web3, without))
    wrong = dataclasses.replace(dep, contracts={**dep.contracts, "StrategyFactory": dep.contracts["Tournament"]})
    with pytest.raises(ConfigError, match="does not hold the StrategyFactory code"):
        Strategies(Chain(world.client.provider.web3, wrong))


def test_importing_the_module_loads_no_ape():
    code = ("import sys, nmrstake.client.strategy, nmrstake.cli.strategy; "
            "print(sorted(m for m in sys.modules if m == 'ape' or m.startswith(('ape.', 'ape_'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
