"""Allocation strategies: StrategyFactory, AllocationStrategy and StrategyInvoker on the in-process EVM.

Covers the factory (one clone per owner, deterministic address, one-time initialisation), the
owner's powers (deposit, withdraw, models, operator), staking (Fixed, Compound, Off, once per model
and round), settling (settle, settleAndStake, third-party claims, expiry, exitUnclaimed), what a
malicious operator can and cannot do, the batch invoker, and the mainnet-like NMR
(`LegacyNMR` + `NumeraireTournament`). Fixtures and `THarness`: conftest.py.

Errors: `ape.reverts(SomeError)` only checks errors that ape decodes with the ABI of the contract
called; an error bubbled up from the tournament or the token (through the strategy) would pass any
expectation. `reverts_exactly` compares the raw revert data (selector and every argument) instead.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import cast

import ape
import pytest
from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from helpers.harness import THarness, nmr, t_model_id  # noqa: E402

OFF, FIXED, COMPOUND = 0, 1, 2
ZERO_ADDRESS = "0x" + "00" * 20
MAX_UINT = 2**256 - 1
A = t_model_id("amodel")
B = t_model_id("bmodel")
C = t_model_id("cmodel")
ZERO32 = b"\x00" * 32


# ============================================================================ helpers


def _norm(value):
    """Accounts and contracts to checksum addresses; everything else as is."""
    if hasattr(value, "address"):
        return to_checksum_address(str(value.address))
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    return value


def error_data(error_cls, *args) -> bytes:
    """The revert data of custom error `error_cls` (an ape error class) with `args`."""
    abi = error_cls.abi
    types = [i.canonical_type for i in abi.inputs]
    assert len(types) == len(args), f"{abi.selector} takes {len(types)} arguments"
    return keccak(text=abi.selector)[:4] + encode(types, [_norm(a) for a in args])


@contextmanager
def reverts_exactly(error_cls, *args):
    """The block reverts with exactly `error_cls(*args)`, whichever contract raised it."""
    from ape.exceptions import CustomError

    with ape.reverts() as info:
        yield info
    exc = info.value
    expected = error_data(error_cls, *args)
    if isinstance(exc, CustomError):
        types = [i.canonical_type for i in exc.abi.inputs]
        values = [_norm(exc.inputs[cast(str, i.name)]) for i in exc.abi.inputs]  # our errors name every input
        actual = keccak(text=exc.abi.selector)[:4] + encode(types, values)
        got = f"{exc.abi.selector} {exc.inputs}"
    else:
        # An error another contract raised (the tournament, under a strategy's call) is decoded by
        # ape only when it happens to know that contract's type; else the raw data is in the
        # message, as hex or (eth-tester's TransactionFailed) as a bytes literal.
        from nmrstake.chain.reverts import revert_data

        found = revert_data(exc)
        assert found is not None, f"undecodable revert: {exc.revert_message!r}"
        actual = found
        got = "0x" + found.hex()
    assert actual == expected, f"expected {error_cls.abi.selector}{args}, got {got}"


def commit(tag: str) -> bytes:
    return keccak(text=tag)


def settle_args(res, i: int) -> tuple:
    """`res.claim_args(i)` without the staker: the arguments of `strategy.settle`."""
    round_id, model, _staker, payout, burn, proof = res.claim_args(i)
    return (round_id, model, payout, burn, proof)


def deposit(token, strategy, owner_acct, amount):
    token.approve(strategy, amount, sender=owner_acct)
    return strategy.deposit(amount, sender=owner_acct)


def cfg(strategy, model_id) -> tuple:
    m = strategy.model(model_id)
    return (int(m.perRound), int(m.mode), int(m.net), int(m.lastRound))


def staked(tour, rnd, model_id, staker) -> int:
    return tour.getStake(rnd.id if hasattr(rnd, "id") else rnd, model_id, staker)[0]


def finish(h, funder, rnd, rows, funding=10 * 10**18):
    """Funds round `rnd`, posts `rows` [(name, staker, payout, burn)] and waits until Final
    (mining a block then, so that calls, which run on the latest block, see the round Final)."""
    h.fund(funder, rnd, funding)
    res = h.result(rnd, rows)
    h.post_final(rnd, res)
    h.view_at(rnd.resolve + h.CHALLENGE)
    return res


class Books:
    """What an owner can always check: nothing reached the operator, the owner's wallet moved only
    by what the owner did, the strategy's settings are the owner's, and the strategy's NMR (idle
    plus open stakes on the tournament) equals deposits plus the net of settled results."""

    def __init__(self, token, tour, strategy, owner_acct, op, models=(A, B, C)):
        self.token, self.tour, self.strategy = token, tour, strategy
        self.owner_acct, self.op, self.models = owner_acct, op, models
        self.deposits = 0
        self.net = 0
        self.owner_balance = token.balanceOf(owner_acct)
        self.snapshot_config()

    def snapshot_config(self):
        self.settings = {m: cfg(self.strategy, m)[:2] for m in self.models}
        self.operator = self.strategy.operator()

    def deposit(self, amount):
        deposit(self.token, self.strategy, self.owner_acct, amount)
        self.deposits += amount
        self.owner_balance -= amount

    def open_stakes(self) -> int:
        last = self.tour.lastRoundId()
        return sum(
            staked(self.tour, r, m, self.strategy) for r in range(1, last + 1) for m in self.models
        )

    def check(self):
        s = self.strategy
        assert self.token.balanceOf(self.op) == 0
        assert self.token.balanceOf(self.owner_acct) == self.owner_balance
        assert self.token.balanceOf(s) + self.open_stakes() == self.deposits + self.net
        assert s.owner() == self.owner_acct.address
        assert s.operator() == self.operator
        assert {m: cfg(s, m)[:2] for m in self.models} == self.settings


# ============================================================================ fixtures


@pytest.fixture(scope="module")
def operator(accounts):
    """The account behind the invoker (the operator's daemon); used nowhere else."""
    return accounts[9]


@pytest.fixture(scope="module")
def factory(project, owner, tournament):
    return owner.deploy(project.StrategyFactory, tournament)


@pytest.fixture(scope="module")
def invoker(project, owner, operator):
    return owner.deploy(project.StrategyInvoker, operator)


@pytest.fixture(scope="module")
def strat(project, factory, invoker, alice):
    """Alice's strategy, operated by the invoker."""
    factory.create(invoker, sender=alice)
    return project.AllocationStrategy.at(factory.strategyOf(alice))


@pytest.fixture(scope="module")
def strat_bob(project, factory, invoker, bob):
    """Bob's strategy, operated by the invoker."""
    factory.create(invoker, sender=bob)
    return project.AllocationStrategy.at(factory.strategyOf(bob))


@pytest.fixture(scope="module")
def mallory(accounts, owner):
    """A fresh EOA with gas money and no NMR: the malicious operator."""
    acct = accounts.generate_test_account()
    owner.transfer(acct, 10**18)
    return acct


@pytest.fixture
def hostile(strat, token, tournament, alice, mallory):
    """Alice's strategy with `mallory` as its operator, 400 NMR deposited, A Fixed 100,
    B Compound 50, C Off (with a per-round amount set); and the books to check it against."""
    strat.setOperator(mallory, sender=alice)
    strat.setModel(A, nmr(100), FIXED, sender=alice)
    strat.setModel(B, nmr(50), COMPOUND, sender=alice)
    strat.setModel(C, nmr(10), OFF, sender=alice)
    books = Books(token, tournament, strat, alice, mallory)
    books.deposit(nmr(400))
    books.check()
    return books


# ============================================================================ factory


def test_create__clone_at_predicted_address_registered_initialised_and_announced(
    project, factory, invoker, tournament, token, carol
):
    predicted = factory.predict(carol)
    assert factory.strategyOf(carol) == ZERO_ADDRESS
    assert not factory.isStrategy(predicted)
    assert factory.create.call(invoker, sender=carol) == predicted
    tx = factory.create(invoker, sender=carol)
    assert factory.strategyOf(carol) == predicted
    assert factory.isStrategy(predicted)
    ev = tx.events.filter(factory.StrategyCreated)
    assert len(ev) == 1
    assert (ev[0].owner, ev[0].strategy, ev[0].operator) == (carol.address, predicted, invoker.address)
    s = project.AllocationStrategy.at(predicted)
    op_ev = s.OperatorSet.from_receipt(tx)  # the clone was unknown to ape when the tx ran
    assert len(op_ev) == 1
    assert (op_ev[0].previousOperator, op_ev[0].newOperator) == (ZERO_ADDRESS, invoker.address)
    assert s.owner() == carol.address
    assert s.operator() == invoker.address
    assert s.tournament() == tournament.address
    assert s.nmr() == token.address
    assert token.allowance(s, tournament) == MAX_UINT
    assert token.balanceOf(s) == 0


def test_create__second_strategy_for_the_same_owner_reverts_strategy_exists(factory, strat, alice, stranger):
    with reverts_exactly(factory.StrategyExists, alice, strat):
        factory.create(stranger, sender=alice)
    with reverts_exactly(factory.StrategyExists, alice, strat):
        factory.create(ZERO_ADDRESS, sender=alice)
    assert factory.strategyOf(alice) == strat.address
    assert strat.operator() != stranger.address


def test_predict__depends_only_on_the_owner_and_differs_per_owner(factory, strat, strat_bob, alice, bob, carol):
    assert factory.predict(alice) == strat.address
    assert factory.predict(bob) == strat_bob.address
    assert len({factory.predict(a) for a in (alice, bob, carol)}) == 3
    assert factory.predict(alice, sender=carol) == factory.predict(alice)


def test_is_strategy__true_for_clones_false_for_implementation_owners_and_uncreated(
    factory, strat, strat_bob, invoker, tournament, alice, carol
):
    assert factory.isStrategy(strat)
    assert factory.isStrategy(strat_bob)
    for other in (factory.implementation(), alice.address, invoker.address, tournament.address,
                  factory.predict(carol), ZERO_ADDRESS):
        assert not factory.isStrategy(other)


def test_implementation__cannot_be_initialized(project, factory, tournament, stranger):
    impl = project.AllocationStrategy.at(factory.implementation())
    assert impl.tournament() == tournament.address
    with reverts_exactly(impl.InvalidInitialization):
        impl.initialize(stranger, stranger, sender=stranger)
    assert impl.owner() == ZERO_ADDRESS
    assert impl.operator() == ZERO_ADDRESS


def test_clone__cannot_be_initialized_twice(strat, invoker, alice, stranger):
    for who in (stranger, alice):
        with reverts_exactly(strat.InvalidInitialization):
            strat.initialize(who, who, sender=who)
    assert strat.owner() == alice.address
    assert strat.operator() == invoker.address


def test_create__with_zero_operator_only_the_owner_stakes(project, factory, token, harness, carol, stranger):
    factory.create(ZERO_ADDRESS, sender=carol)
    s = project.AllocationStrategy.at(factory.strategyOf(carol))
    assert s.operator() == ZERO_ADDRESS
    deposit(token, s, carol, nmr(100))
    s.setModel(A, nmr(10), FIXED, sender=carol)
    rnd = harness.open_round()
    with reverts_exactly(s.NotOwnerOrOperator, stranger):
        s.stake(rnd.id, A, commit("x"), sender=stranger)
    s.stake(rnd.id, A, commit("x"), sender=carol)
    assert staked(harness.tour, rnd, A, s) == nmr(10)


# ============================================================================ owner


def test_deposit__pulls_from_owner_with_approval_and_emits_deposited(strat, token, alice):
    before = token.balanceOf(alice)
    token.approve(strat, nmr(250), sender=alice)
    tx = strat.deposit(nmr(250), sender=alice)
    ev = tx.events.filter(strat.Deposited)
    assert len(ev) == 1 and ev[0].owner == alice.address and ev[0].amount == nmr(250)
    assert token.balanceOf(strat) == nmr(250)
    assert token.balanceOf(alice) == before - nmr(250)
    assert token.allowance(alice, strat) == 0


def test_deposit__without_enough_approval_reverts_and_moves_nothing(strat, token, alice):
    before = token.balanceOf(alice)
    with reverts_exactly(token.ERC20InsufficientAllowance, strat, 0, nmr(1)):
        strat.deposit(nmr(1), sender=alice)
    token.approve(strat, nmr(5), sender=alice)
    with reverts_exactly(token.ERC20InsufficientAllowance, strat, nmr(5), nmr(5) + 1):
        strat.deposit(nmr(5) + 1, sender=alice)
    assert token.balanceOf(strat) == 0
    assert token.balanceOf(alice) == before


def test_deposit__by_anyone_but_the_owner_reverts_not_owner(strat, token, bob, stranger):
    token.approve(strat, nmr(10), sender=bob)
    for who in (bob, stranger):
        with reverts_exactly(strat.NotOwner, who):
            strat.deposit(nmr(10), sender=who)
    assert token.balanceOf(strat) == 0
    assert token.balanceOf(bob) == nmr(10_000)


def test_withdraw__sends_idle_nmr_only_to_the_owner_and_emits_withdrawn(strat, token, alice, bob):
    deposit(token, strat, alice, nmr(100))
    token.transfer(strat, nmr(7), sender=bob)  # a plain transfer is idle NMR too
    alice_before = token.balanceOf(alice)
    tx = strat.withdraw(nmr(60), sender=alice)
    ev = tx.events.filter(strat.Withdrawn)
    assert len(ev) == 1 and ev[0].owner == alice.address and ev[0].amount == nmr(60)
    assert token.balanceOf(alice) == alice_before + nmr(60)
    strat.withdraw(nmr(47), sender=alice)
    assert token.balanceOf(strat) == 0
    assert token.balanceOf(alice) == alice_before + nmr(107)
    assert token.balanceOf(bob) == nmr(10_000) - nmr(7)


def test_withdraw__above_idle_reverts_insufficient_idle_and_staked_nmr_is_not_idle(strat, token, harness, alice):
    deposit(token, strat, alice, nmr(100))
    with reverts_exactly(strat.InsufficientIdle, nmr(100) + 1, nmr(100)):
        strat.withdraw(nmr(100) + 1, sender=alice)
    strat.setModel(A, nmr(30), FIXED, sender=alice)
    rnd = harness.open_round()
    strat.stake(rnd.id, A, commit("a"), sender=alice)
    with reverts_exactly(strat.InsufficientIdle, nmr(100), nmr(70)):
        strat.withdraw(nmr(100), sender=alice)
    before = token.balanceOf(alice)
    strat.withdraw(nmr(70), sender=alice)
    assert token.balanceOf(alice) == before + nmr(70)
    assert token.balanceOf(strat) == 0
    assert staked(harness.tour, rnd, A, strat) == nmr(30)


def test_withdraw__by_operator_or_stranger_reverts_not_owner(strat, token, alice, bob, stranger, mallory):
    deposit(token, strat, alice, nmr(100))
    strat.setOperator(mallory, sender=alice)
    for who in (mallory, bob, stranger):
        with reverts_exactly(strat.NotOwner, who):
            strat.withdraw(nmr(1), sender=who)
        with reverts_exactly(strat.NotOwner, who):
            strat.withdraw(0, sender=who)
    assert token.balanceOf(strat) == nmr(100)


def test_set_model__enabled_with_zero_per_round_reverts_zero_per_round(strat, alice):
    for mode in (FIXED, COMPOUND):
        with reverts_exactly(strat.ZeroPerRound, A):
            strat.setModel(A, 0, mode, sender=alice)
    assert cfg(strat, A) == (0, OFF, 0, 0)
    strat.setModel(A, 0, OFF, sender=alice)  # Off with 0 is fine
    assert cfg(strat, A) == (0, OFF, 0, 0)


def test_set_model__per_round_above_uint96_reverts_amount_too_large(strat, alice):
    with reverts_exactly(strat.AmountTooLarge, 2**96):
        strat.setModel(A, 2**96, FIXED, sender=alice)
    strat.setModel(A, 2**96 - 1, FIXED, sender=alice)
    assert cfg(strat, A) == (2**96 - 1, FIXED, 0, 0)


def test_set_model__only_owner_and_emits_model_set(strat, alice, bob, stranger, mallory):
    strat.setOperator(mallory, sender=alice)
    for who in (mallory, bob, stranger):
        with reverts_exactly(strat.NotOwner, who):
            strat.setModel(A, nmr(1), FIXED, sender=who)
    tx = strat.setModel(A, nmr(12), COMPOUND, sender=alice)
    ev = tx.events.filter(strat.ModelSet)
    assert len(ev) == 1
    assert (ev[0].modelId, ev[0].perRound, int(ev[0].mode)) == (A, nmr(12), COMPOUND)
    assert cfg(strat, A) == (nmr(12), COMPOUND, 0, 0)
    assert strat.nextStake(A) == nmr(12)
    assert cfg(strat, B) == (0, OFF, 0, 0)


def test_set_model__mode_change_resets_net_and_per_round_change_keeps_it(strat, token, harness, alice, bob):
    h = harness
    deposit(token, strat, alice, nmr(1000))
    strat.setModel(A, nmr(100), COMPOUND, sender=alice)
    r1 = h.open_round()
    strat.stake(r1.id, A, commit("1"), sender=alice)
    res = finish(h, bob, r1, [("amodel", strat, nmr(4), 0)])
    strat.settle(*settle_args(res, 0), sender=alice)
    assert cfg(strat, A) == (nmr(100), COMPOUND, nmr(4), r1.id)
    strat.setModel(A, nmr(200), COMPOUND, sender=alice)  # same mode: net kept
    assert cfg(strat, A) == (nmr(200), COMPOUND, nmr(4), r1.id)
    assert strat.nextStake(A) == nmr(204)
    strat.setModel(A, nmr(200), FIXED, sender=alice)  # mode change: net reset
    assert cfg(strat, A) == (nmr(200), FIXED, 0, r1.id)
    strat.setModel(A, nmr(200), COMPOUND, sender=alice)
    assert cfg(strat, A) == (nmr(200), COMPOUND, 0, r1.id)
    assert strat.nextStake(A) == nmr(200)
    strat.setModel(A, nmr(200), OFF, sender=alice)
    assert strat.nextStake(A) == 0
    assert cfg(strat, A)[3] == r1.id  # lastRound survives every change


def test_set_operator__replaces_operator_emits_operator_set_only_owner(strat, invoker, alice, bob, stranger, mallory):
    for who in (mallory, bob, stranger):
        with reverts_exactly(strat.NotOwner, who):
            strat.setOperator(who, sender=who)
    tx = strat.setOperator(mallory, sender=alice)
    ev = tx.events.filter(strat.OperatorSet)
    assert len(ev) == 1
    assert (ev[0].previousOperator, ev[0].newOperator) == (invoker.address, mallory.address)
    assert strat.operator() == mallory.address
    with reverts_exactly(strat.NotOwner, mallory):
        strat.setOperator(ZERO_ADDRESS, sender=mallory)
    tx = strat.setOperator(ZERO_ADDRESS, sender=alice)
    ev = tx.events.filter(strat.OperatorSet)
    assert (ev[0].previousOperator, ev[0].newOperator) == (mallory.address, ZERO_ADDRESS)
    assert strat.operator() == ZERO_ADDRESS


def test_revoke_operator__invoker_calls_fail_with_invocation_failed_and_strategy_unchanged(
    strat, invoker, operator, token, harness, alice
):
    deposit(token, strat, alice, nmr(100))
    strat.setModel(A, nmr(10), FIXED, sender=alice)
    strat.setOperator(ZERO_ADDRESS, sender=alice)
    rnd = harness.open_round()
    calls = [(strat.address, rnd.id, A, commit("a"))]
    assert invoker.stakeMany.call(calls, sender=operator) == 0
    tx = invoker.stakeMany(calls, sender=operator)
    ev = tx.events.filter(invoker.InvocationFailed)
    assert len(ev) == 1
    assert (ev[0].index, ev[0].strategy) == (0, strat.address)
    assert bytes(ev[0].reason) == error_data(strat.NotOwnerOrOperator, invoker)
    assert not tx.events.filter(strat.StrategyStaked)
    assert cfg(strat, A) == (nmr(10), FIXED, 0, 0)
    assert token.balanceOf(strat) == nmr(100)
    assert harness.tour.getStake(rnd.id, A, strat) == (0, bytes(20))
    # settleAndStake through the invoker fails the same way (settle alone is open to anyone)
    sas: list[tuple] = [(strat.address, rnd.id, A, 0, 0, [], rnd.id, commit("a"))]
    tx = invoker.settleAndStakeMany(sas, sender=operator)
    ev = tx.events.filter(invoker.InvocationFailed)
    assert len(ev) == 1 and bytes(ev[0].reason) == error_data(strat.NotOwnerOrOperator, invoker)
    # the owner can hand it back
    strat.setOperator(invoker, sender=alice)
    assert invoker.stakeMany.call(calls, sender=operator) == 1


# ============================================================================ staking


def test_stake__fixed__stakes_per_round_from_idle_and_emits_strategy_staked(strat, token, harness, alice):
    t = harness.tour
    deposit(token, strat, alice, nmr(100))
    strat.setModel(A, nmr(30), FIXED, sender=alice)
    rnd = harness.open_round()
    assert strat.stake.call(rnd.id, A, commit("a"), sender=alice) == nmr(30)
    tx = strat.stake(rnd.id, A, commit("a"), sender=alice)
    ev = tx.events.filter(strat.StrategyStaked)
    assert len(ev) == 1
    assert (ev[0].roundId, ev[0].modelId, ev[0].amount, ev[0].commitment) == (rnd.id, A, nmr(30), commit("a"))
    assert t.getStake(rnd.id, A, strat) == (nmr(30), commit("a")[:20])
    assert token.balanceOf(strat) == nmr(70)
    assert cfg(strat, A) == (nmr(30), FIXED, 0, rnd.id)


def test_stake__fixed__ignores_net_results(strat, token, harness, alice, bob):
    h = harness
    deposit(token, strat, alice, nmr(500))
    strat.setModel(A, nmr(100), FIXED, sender=alice)
    r1 = h.open_round()
    strat.stake(r1.id, A, commit("1"), sender=alice)
    res = finish(h, bob, r1, [("amodel", strat, nmr(5), 0)])
    strat.settle(*settle_args(res, 0), sender=alice)
    assert cfg(strat, A)[2] == nmr(5)
    assert strat.nextStake(A) == nmr(100)
    r2 = h.open_round()
    strat.stake(r2.id, A, commit("2"), sender=alice)
    assert staked(h.tour, r2, A, strat) == nmr(100)


def test_stake__compound__stakes_per_round_plus_net_after_a_payout(strat, token, harness, alice, bob):
    h = harness
    deposit(token, strat, alice, nmr(500))
    strat.setModel(A, nmr(100), COMPOUND, sender=alice)
    assert strat.nextStake(A) == nmr(100)
    r1 = h.open_round()
    strat.stake(r1.id, A, commit("1"), sender=alice)
    res = finish(h, bob, r1, [("amodel", strat, nmr(5), 0)])
    strat.settle(*settle_args(res, 0), sender=alice)
    assert strat.nextStake(A) == nmr(105)
    r2 = h.open_round()
    assert strat.stake.call(r2.id, A, commit("2"), sender=alice) == nmr(105)
    strat.stake(r2.id, A, commit("2"), sender=alice)
    assert staked(h.tour, r2, A, strat) == nmr(105)
    assert token.balanceOf(strat) == nmr(500) + nmr(5) - nmr(105)


def test_stake__compound__stakes_per_round_minus_net_after_a_burn(strat, token, harness, alice, bob):
    h = harness
    deposit(token, strat, alice, nmr(500))
    strat.setModel(A, nmr(100), COMPOUND, sender=alice)
    r1 = h.open_round()
    strat.stake(r1.id, A, commit("1"), sender=alice)
    res = finish(h, bob, r1, [("amodel", strat, 0, nmr("3.5"))])
    strat.settle(*settle_args(res, 0), sender=alice)
    assert cfg(strat, A)[2] == -nmr("3.5")
    r2 = h.open_round()
    strat.stake(r2.id, A, commit("2"), sender=alice)
    assert staked(h.tour, r2, A, strat) == nmr("96.5")
    res2 = finish(h, bob, r2, [("amodel", strat, nmr(2), nmr(1))])
    r3 = h.open_round()
    strat.settleAndStake(*settle_args(res2, 0), r3.id, commit("3"), sender=alice)
    assert cfg(strat, A)[2] == -nmr("2.5")
    assert staked(h.tour, r3, A, strat) == nmr("97.5")


def test_stake__compound__losses_reaching_per_round_revert_nothing_to_stake(strat, token, harness, alice, bob):
    h = harness
    deposit(token, strat, alice, nmr(500))
    strat.setModel(A, nmr(100), COMPOUND, sender=alice)
    r1 = h.open_round()
    strat.stake(r1.id, A, commit("1"), sender=alice)
    res = finish(h, bob, r1, [("amodel", strat, 0, nmr(5))])
    strat.settle(*settle_args(res, 0), sender=alice)
    r2 = h.open_round()
    for per_round in (nmr(5), nmr(4)):  # net -5: per round 5 -> 0, per round 4 -> below 0 -> 0
        strat.setModel(A, per_round, COMPOUND, sender=alice)
        assert cfg(strat, A)[2] == -nmr(5)
        assert strat.nextStake(A) == 0
        with reverts_exactly(strat.NothingToStake, A):
            strat.stake(r2.id, A, commit("2"), sender=alice)
    strat.setModel(A, nmr(5) + nmr(1), COMPOUND, sender=alice)
    strat.stake(r2.id, A, commit("2"), sender=alice)
    assert staked(h.tour, r2, A, strat) == nmr(1)


def test_stake__off_model_reverts_model_not_enabled(strat, token, harness, alice):
    deposit(token, strat, alice, nmr(100))
    rnd = harness.open_round()
    with reverts_exactly(strat.ModelNotEnabled, A):  # never configured
        strat.stake(rnd.id, A, commit("a"), sender=alice)
    strat.setModel(A, nmr(10), FIXED, sender=alice)
    strat.setModel(A, nmr(10), OFF, sender=alice)
    with reverts_exactly(strat.ModelNotEnabled, A):
        strat.stake(rnd.id, A, commit("a"), sender=alice)
    assert token.balanceOf(strat) == nmr(100)
    assert staked(harness.tour, rnd, A, strat) == 0


def test_stake__once_per_model_and_round_else_round_not_after_last(strat, token, harness, alice):
    t = harness.tour
    deposit(token, strat, alice, nmr(500))
    strat.setModel(A, nmr(10), FIXED, sender=alice)
    strat.setModel(B, nmr(20), FIXED, sender=alice)
    r1 = harness.open_round()
    r2 = harness.open_round()
    strat.stake(r1.id, A, commit("a1"), sender=alice)
    with reverts_exactly(strat.RoundNotAfterLast, r1.id, r1.id):
        strat.stake(r1.id, A, commit("a1-again"), sender=alice)
    strat.stake(r1.id, B, commit("b1"), sender=alice)  # other model, same round: fine
    strat.stake(r2.id, A, commit("a2"), sender=alice)
    with reverts_exactly(strat.RoundNotAfterLast, r1.id, r2.id):  # an earlier round
        strat.stake(r1.id, A, commit("a1"), sender=alice)
    with reverts_exactly(strat.RoundNotAfterLast, r1.id, r1.id):
        strat.stake(r1.id, B, commit("b1-again"), sender=alice)
    assert t.getStake(r1.id, A, strat) == (nmr(10), commit("a1")[:20])
    assert staked(t, r1, B, strat) == nmr(20)
    assert staked(t, r2, A, strat) == nmr(10)
    assert token.balanceOf(strat) == nmr(460)


def test_stake__round_zero_and_rounds_beyond_uint64_are_refused(strat, token, alice):
    deposit(token, strat, alice, nmr(100))
    strat.setModel(A, nmr(10), FIXED, sender=alice)
    with reverts_exactly(strat.RoundNotAfterLast, 0, 0):
        strat.stake(0, A, commit("a"), sender=alice)
    with reverts_exactly(strat.SafeCastOverflowedUintDowncast, 64, 2**64):
        strat.stake(2**64, A, commit("a"), sender=alice)
    assert cfg(strat, A)[3] == 0
    assert token.balanceOf(strat) == nmr(100)


def test_stake__above_idle_reverts_insufficient_idle(strat, token, harness, alice):
    deposit(token, strat, alice, nmr(25))
    strat.setModel(A, nmr(20), FIXED, sender=alice)
    r1 = harness.open_round()
    r2 = harness.open_round()
    strat.stake(r1.id, A, commit("1"), sender=alice)
    with reverts_exactly(strat.InsufficientIdle, nmr(20), nmr(5)):
        strat.stake(r2.id, A, commit("2"), sender=alice)
    assert cfg(strat, A)[3] == r1.id
    deposit(token, strat, alice, nmr(15))
    strat.stake(r2.id, A, commit("2"), sender=alice)
    assert staked(harness.tour, r2, A, strat) == nmr(20)
    assert token.balanceOf(strat) == 0


def test_stake__owner_operator_and_invoker_may_stake_but_a_stranger_may_not(
    strat, invoker, operator, token, harness, alice, bob, stranger, mallory
):
    deposit(token, strat, alice, nmr(100))
    strat.setModel(A, nmr(10), FIXED, sender=alice)
    r1, r2, r3 = harness.open_round(), harness.open_round(), harness.open_round()
    for who in (stranger, bob, operator):  # the invoker's own account is not the operator
        with reverts_exactly(strat.NotOwnerOrOperator, who):
            strat.stake(r1.id, A, commit("1"), sender=who)
        with reverts_exactly(strat.NotOwnerOrOperator, who):
            strat.settleAndStake(r1.id, A, 0, 0, [], r1.id, commit("1"), sender=who)
    assert token.balanceOf(strat) == nmr(100)
    strat.stake(r1.id, A, commit("1"), sender=alice)  # the owner directly
    assert invoker.stakeMany([(strat.address, r2.id, A, commit("2"))], sender=operator).events.filter(
        strat.StrategyStaked
    )
    strat.setOperator(mallory, sender=alice)  # an EOA operator directly
    strat.stake(r3.id, A, commit("3"), sender=mallory)
    assert [staked(harness.tour, r, A, strat) for r in (r1, r2, r3)] == [nmr(10)] * 3
    assert token.balanceOf(strat) == nmr(70)


def test_recommit__replaces_the_commitment_of_the_last_stake_while_open_and_moves_no_nmr(
    strat, token, harness, alice, stranger
):
    t = harness.tour
    deposit(token, strat, alice, nmr(100))
    strat.setModel(A, nmr(30), FIXED, sender=alice)
    r1 = harness.open_round()
    with reverts_exactly(strat.NotStakedInRound, r1.id, A):
        strat.recommit(r1.id, A, commit("new"), sender=alice)
    with reverts_exactly(t.UnknownRound, 0):  # lastRound 0 matches round 0, which never exists
        strat.recommit(0, A, commit("new"), sender=alice)
    strat.stake(r1.id, A, commit("old"), sender=alice)
    with reverts_exactly(strat.NotOwnerOrOperator, stranger):
        strat.recommit(r1.id, A, commit("new"), sender=stranger)
    tx = strat.recommit(r1.id, A, commit("new"), sender=alice)
    ev = tx.events.filter(strat.StrategyRecommitted)
    assert len(ev) == 1 and (ev[0].roundId, ev[0].modelId, ev[0].commitment) == (r1.id, A, commit("new"))
    assert t.getStake(r1.id, A, strat) == (nmr(30), commit("new")[:20])
    assert token.balanceOf(strat) == nmr(70)
    assert cfg(strat, A) == (nmr(30), FIXED, 0, r1.id)
    r2 = harness.open_round()
    strat.stake(r2.id, A, commit("r2"), sender=alice)
    with reverts_exactly(strat.NotStakedInRound, r1.id, A):  # only the model's last round
        strat.recommit(r1.id, A, commit("newer"), sender=alice)
    harness.at(r2.close)
    with reverts_exactly(t.RoundNotOpen, r2.id):
        strat.recommit(r2.id, A, commit("late"), sender=alice)
    assert t.getStake(r2.id, A, strat) == (nmr(30), commit("r2")[:20])
    assert token.balanceOf(strat) == nmr(40)


# ============================================================================ settling


def test_settle__by_anyone_pays_the_strategy_records_net_and_emits_strategy_settled(
    strat, token, harness, alice, bob, stranger
):
    h = harness
    deposit(token, strat, alice, nmr(200))
    strat.setModel(A, nmr(100), COMPOUND, sender=alice)
    r1 = h.open_round()
    strat.stake(r1.id, A, commit("1"), sender=alice)
    h.stake(bob, r1, "bmodel", nmr(100))
    res = finish(h, bob, r1, [("amodel", strat, nmr(5), 0), ("bmodel", bob, 0, nmr(2))])
    stranger_before, bob_before = token.balanceOf(stranger), token.balanceOf(bob)
    tx = strat.settle(*settle_args(res, 0), sender=stranger)
    ev = tx.events.filter(strat.StrategySettled)
    assert len(ev) == 1
    assert (ev[0].roundId, ev[0].modelId, ev[0].payout, ev[0].burn, ev[0].net) == (r1.id, A, nmr(5), 0, nmr(5))
    assert tx.events.filter(h.tour.Claimed)[0].amountSent == nmr(105)
    assert token.balanceOf(strat) == nmr(205)
    assert token.balanceOf(stranger) == stranger_before
    assert token.balanceOf(bob) == bob_before
    assert cfg(strat, A)[2] == nmr(5)
    assert staked(h.tour, r1, A, strat) == 0
    with reverts_exactly(h.tour.NoStake, r1.id, A, strat.address):
        strat.settle(*settle_args(res, 0), sender=stranger)


def test_settle_and_stake__compound__restakes_stake_plus_payout(strat, token, harness, alice, bob):
    h = harness
    deposit(token, strat, alice, nmr(100))
    strat.setModel(A, nmr(100), COMPOUND, sender=alice)
    r1 = h.open_round()
    strat.stake(r1.id, A, commit("1"), sender=alice)
    assert token.balanceOf(strat) == 0
    res = finish(h, bob, r1, [("amodel", strat, nmr(5), 0)])
    r2 = h.open_round()
    args = (*settle_args(res, 0), r2.id, commit("2"))
    assert strat.settleAndStake.call(*args, sender=alice) == nmr(105)
    tx = strat.settleAndStake(*args, sender=alice)
    st = tx.events.filter(strat.StrategyRestaked)
    assert len(st) == 1 and (st[0].settleRoundId, st[0].stakeRoundId, st[0].amount, st[0].net) == (
        r1.id, r2.id, nmr(105), nmr(5))
    assert not tx.events.filter(token.Transfer)  # the claim paid exactly the new stake: nothing moved
    assert h.tour.getStake(r2.id, A, strat) == (nmr(105), commit("2")[:20])
    assert token.balanceOf(strat) == 0  # the whole stake plus payout went back in
    assert cfg(strat, A) == (nmr(100), COMPOUND, nmr(5), r2.id)


def test_settle_and_stake__through_the_invoker_restakes_fixed_amount(
    strat, invoker, operator, token, harness, alice, bob
):
    h = harness
    deposit(token, strat, alice, nmr(150))
    strat.setModel(A, nmr(100), FIXED, sender=alice)
    r1 = h.open_round()
    invoker.stakeMany([(strat.address, r1.id, A, commit("1"))], sender=operator)
    res = finish(h, bob, r1, [("amodel", strat, nmr(3), nmr(1))])
    r2 = h.open_round()
    call = (strat.address, *settle_args(res, 0), r2.id, commit("2"))
    tx = invoker.settleAndStakeMany([call], sender=operator)
    assert not tx.events.filter(invoker.InvocationFailed)
    assert staked(h.tour, r2, A, strat) == nmr(100)
    assert token.balanceOf(strat) == nmr(150) + nmr(2) - nmr(100)
    assert cfg(strat, A)[2] == nmr(2)


def test_settle__with_a_bad_proof_reverts_and_changes_nothing(strat, token, harness, alice, bob, stranger):
    h = harness
    t = h.tour
    deposit(token, strat, alice, nmr(100))
    strat.setModel(A, nmr(100), COMPOUND, sender=alice)
    r1 = h.open_round()
    strat.stake(r1.id, A, commit("1"), sender=alice)
    h.stake(bob, r1, "bmodel", nmr(100))
    res = finish(h, bob, r1, [("amodel", strat, nmr(3), nmr(1)), ("bmodel", bob, nmr(1), 0)])
    rid, m, payout, burn, proof = settle_args(res, 0)
    r2 = h.open_round()
    bad = [
        (rid, m, payout + 1, burn, proof),         # a larger payout
        (rid, m, payout, 0, proof),                 # hide the burn
        (rid, m, payout, burn, []),                 # no proof
        (rid, m, payout, burn, res.claim_args(1)[5]),  # another leaf's proof
        (rid, m, payout, burn, [b"\x01" * 32]),     # garbage
    ]
    for args in bad:
        with reverts_exactly(t.InvalidProof):
            strat.settle(*args, sender=stranger)
        with reverts_exactly(t.InvalidProof):
            strat.settleAndStake(*args, r2.id, commit("2"), sender=alice)
    with reverts_exactly(t.LeafExceedsClip, nmr(5) + 1, burn, nmr(100)):  # above the 5 % clip
        strat.settle(rid, m, nmr(5) + 1, burn, proof, sender=stranger)
    assert cfg(strat, A) == (nmr(100), COMPOUND, 0, r1.id)
    assert token.balanceOf(strat) == 0
    assert staked(t, r1, A, strat) == nmr(100)
    assert staked(t, r2, A, strat) == 0
    strat.settle(rid, m, payout, burn, proof, sender=stranger)  # the honest one still works
    assert token.balanceOf(strat) == nmr(102)


def test_claim_around_the_strategy__refused__anyone_settles_through_it_and_compound_sees_the_result(
    strat, token, harness, alice, bob, carol
):
    """A claim made straight on the tournament for a strategy's stake would leave its model's
    record without the result (a front-runner could keep a Compound stake from shrinking after a
    loss): strategies claim only by themselves, and anyone may settle through the strategy."""
    h = harness
    assert h.tour.claimsBySelfOnly(strat)
    deposit(token, strat, alice, nmr(100))
    strat.setModel(A, nmr(100), COMPOUND, sender=alice)
    r1 = h.open_round()
    strat.stake(r1.id, A, commit("1"), sender=alice)
    res = finish(h, bob, r1, [("amodel", strat, 0, nmr(5))])
    carol_before = token.balanceOf(carol)
    with reverts_exactly(h.tour.ClaimOnlyByStaker, strat):
        h.tour.claim(*res.claim_args(0), sender=carol)
    with reverts_exactly(h.tour.ClaimOnlyByStaker, strat):
        h.tour.claimMany([res.claim_args(0)], sender=carol)
    assert staked(h.tour, r1, A, strat) == nmr(100)
    strat.settle(*settle_args(res, 0), sender=carol)
    assert token.balanceOf(strat) == nmr(95) and token.balanceOf(carol) == carol_before
    assert cfg(strat, A)[2] == -nmr(5) and strat.nextStake(A) == nmr(95)
    with reverts_exactly(h.tour.NoStake, r1.id, A, strat.address):
        strat.settle(*settle_args(res, 0), sender=alice)


def test_withdraw_expired__after_expiry_returns_the_full_stake_and_keeps_net(
    strat, token, harness, alice, stranger
):
    h = harness
    t = h.tour
    deposit(token, strat, alice, nmr(100))
    strat.setModel(A, nmr(60), COMPOUND, sender=alice)
    r1 = h.open_round()
    strat.stake(r1.id, A, commit("1"), sender=alice)
    h.at(r1.expiry - 1)
    with reverts_exactly(t.RoundNotExpired, r1.id):
        strat.withdrawExpired(r1.id, A, sender=stranger)
    h.at(r1.expiry)
    with reverts_exactly(strat.NothingToSettle, r1.id, B):
        strat.withdrawExpired(r1.id, B, sender=stranger)
    stranger_before = token.balanceOf(stranger)
    tx = strat.withdrawExpired(r1.id, A, sender=stranger)
    ev = tx.events.filter(strat.StrategyExpiredWithdrawn)
    assert len(ev) == 1 and (ev[0].roundId, ev[0].modelId, ev[0].amount) == (r1.id, A, nmr(60))
    assert token.balanceOf(strat) == nmr(100)
    assert token.balanceOf(stranger) == stranger_before
    assert staked(t, r1, A, strat) == 0
    assert cfg(strat, A) == (nmr(60), COMPOUND, 0, r1.id)
    with reverts_exactly(strat.NothingToSettle, r1.id, A):
        strat.withdrawExpired(r1.id, A, sender=stranger)


def test_exit_unclaimed__only_owner_after_claim_window_returns_stake_minus_exit_burn(
    strat, token, harness, alice, bob, stranger, mallory
):
    h = harness
    t = h.tour
    deposit(token, strat, alice, nmr(100))
    strat.setModel(A, nmr(100), COMPOUND, sender=alice)
    strat.setOperator(mallory, sender=alice)
    r1 = h.open_round()
    strat.stake(r1.id, A, commit("1"), sender=mallory)
    h.stake(bob, r1, "bmodel", nmr(100))
    res = finish(h, bob, r1, [("amodel", strat, 0, nmr(1)), ("bmodel", bob, 0, nmr(5))])
    total_burn = res.total_burn
    assert total_burn == nmr(6)
    opens_at = r1.resolve + h.CHALLENGE + h.GRACE
    h.at(opens_at - 1)
    with reverts_exactly(t.ExitNotOpen, r1.id, opens_at):
        strat.exitUnclaimed(r1.id, A, sender=alice)
    h.at(opens_at)
    for who in (mallory, stranger, bob):
        with reverts_exactly(strat.NotOwner, who):
            strat.exitUnclaimed(r1.id, A, sender=who)
    with reverts_exactly(strat.NothingToSettle, r1.id, B):
        strat.exitUnclaimed(r1.id, B, sender=alice)
    expected_out = nmr(100) - t.exitBurn(nmr(100), 500, total_burn)
    assert expected_out == nmr(95)  # min(ceil(5 % of 100), 6) = 5 kept back
    tx = strat.exitUnclaimed(r1.id, A, sender=alice)
    ev = tx.events.filter(strat.StrategyExited)
    assert len(ev) == 1
    assert (ev[0].roundId, ev[0].modelId, ev[0].stake, ev[0].amountOut, ev[0].net) == (
        r1.id, A, nmr(100), expected_out, -nmr(5)
    )
    assert token.balanceOf(strat) == expected_out
    assert token.balanceOf(mallory) == 0
    assert cfg(strat, A)[2] == -nmr(5)
    assert strat.nextStake(A) == nmr(95)
    with reverts_exactly(strat.NothingToSettle, r1.id, A):
        strat.exitUnclaimed(r1.id, A, sender=alice)
    with reverts_exactly(t.ClaimOnlyByStaker, strat):
        t.claim(*res.claim_args(0), sender=bob)


# ============================================================================ malicious operator


def test_malicious_operator__cannot_withdraw_deposit_configure_reassign_or_reinitialise(
    strat, hostile, token, mallory, bob
):
    books = hostile
    attempts = [
        (strat.NotOwner, (mallory,), strat.withdraw, (nmr(1),)),
        (strat.NotOwner, (mallory,), strat.withdraw, (0,)),
        (strat.NotOwner, (mallory,), strat.withdraw, (nmr(400),)),
        (strat.NotOwner, (mallory,), strat.deposit, (0,)),
        (strat.NotOwner, (mallory,), strat.setModel, (A, nmr(400), FIXED)),
        (strat.NotOwner, (mallory,), strat.setModel, (C, nmr(10), FIXED)),
        (strat.NotOwner, (mallory,), strat.setModel, (B, nmr(50), FIXED)),  # would reset net
        (strat.NotOwner, (mallory,), strat.setOperator, (mallory,)),
        (strat.NotOwner, (mallory,), strat.setOperator, (bob,)),
        (strat.NotOwner, (mallory,), strat.setOperator, (ZERO_ADDRESS,)),
        (strat.NotOwner, (mallory,), strat.exitUnclaimed, (1, A)),
        (strat.InvalidInitialization, (), strat.initialize, (mallory, mallory)),
        (token.ERC20InsufficientAllowance, (mallory, 0, 1), token.transferFrom, (strat, mallory, 1)),
    ]
    for error, error_args, fn, args in attempts:
        with reverts_exactly(error, *error_args):
            fn(*args, sender=mallory)
        books.check()
    assert token.allowance(strat, mallory) == 0


def test_malicious_operator__stakes_only_the_configured_amount_once_per_model_and_round(
    strat, hostile, token, harness, mallory
):
    books, h, t = hostile, harness, harness.tour
    rounds = [h.open_round() for _ in range(4)]
    r1, r2, r3, r4 = rounds

    def ok(rnd, model, expected):
        assert strat.stake(rnd.id, model, commit(f"{rnd.id}{model!r}"), sender=mallory).events.filter(
            strat.StrategyStaked
        )[0].amount == expected
        assert staked(t, rnd, model, strat) == expected
        books.check()

    def refused(error, args, rnd_id, model):
        with reverts_exactly(error, *args):
            strat.stake(rnd_id, model, commit("again"), sender=mallory)
        books.check()

    ok(r1, A, nmr(100))
    refused(strat.RoundNotAfterLast, (r1.id, r1.id), r1.id, A)
    # a round that does not exist (yet) does not move lastRound: the tournament refuses it
    refused(t.UnknownRound, (r4.id + 1_000,), r4.id + 1_000, A)
    refused(strat.SafeCastOverflowedUintDowncast, (64, 2**64), 2**64, A)
    assert cfg(strat, A)[3] == r1.id
    ok(r3, A, nmr(100))
    refused(strat.RoundNotAfterLast, (r2.id, r3.id), r2.id, A)  # skipped rounds stay skipped
    refused(strat.RoundNotAfterLast, (r3.id, r3.id), r3.id, A)
    for rnd in (r1, r2):  # recommit reaches only the last stake, and never moves NMR
        with reverts_exactly(strat.NotStakedInRound, rnd.id, A):
            strat.recommit(rnd.id, A, commit("swap"), sender=mallory)
        books.check()
    strat.recommit(r3.id, A, commit("swap"), sender=mallory)
    assert t.getStake(r3.id, A, strat) == (nmr(100), commit("swap")[:20])
    books.check()
    ok(r1, B, nmr(50))
    ok(r2, B, nmr(50))
    refused(strat.RoundNotAfterLast, (r1.id, r2.id), r1.id, B)
    ok(r4, A, nmr(100))
    assert token.balanceOf(strat) == 0  # 400 - 3 * 100 - 2 * 50
    refused(strat.InsufficientIdle, (nmr(50), 0), r3.id, B)
    refused(strat.InsufficientIdle, (nmr(50), 0), r4.id, B)
    # every stake is exactly the configured amount, and nothing else is staked
    for rnd in rounds:
        assert staked(t, rnd, A, strat) in (0, nmr(100))
        assert staked(t, rnd, B, strat) in (0, nmr(50))
        assert staked(t, rnd, C, strat) == 0
    assert books.open_stakes() == nmr(400)


def test_malicious_operator__cannot_stake_disabled_or_unconfigured_models(
    strat, hostile, token, harness, alice, mallory
):
    books = hostile
    rnd = harness.open_round()
    for model in (C, ZERO32, t_model_id("unknown"), b"\xff" * 32):
        with reverts_exactly(strat.ModelNotEnabled, model):
            strat.stake(rnd.id, model, commit("c"), sender=mallory)
        books.check()
    strat.setModel(A, nmr(100), OFF, sender=alice)  # the owner turns A off
    books.snapshot_config()
    with reverts_exactly(strat.ModelNotEnabled, A):
        strat.stake(rnd.id, A, commit("a"), sender=mallory)
    books.check()
    assert books.open_stakes() == 0
    assert token.balanceOf(strat) == nmr(400)


def test_malicious_operator__crafted_settlements_revert_and_honest_ones_pay_only_the_strategy(
    strat, hostile, token, harness, bob, mallory
):
    books, h, t = hostile, harness, harness.tour
    r1 = h.open_round()
    strat.stake(r1.id, A, commit("a"), sender=mallory)
    strat.stake(r1.id, B, commit("b"), sender=mallory)
    books.check()
    res = finish(h, bob, r1, [("amodel", strat, nmr(5), 0), ("bmodel", strat, 0, nmr("2.5"))])
    ia, ib = res.find(A, strat), res.find(B, strat)
    rid, _, pa, ba, proof_a = settle_args(res, ia)
    _, _, pb, bb, proof_b = settle_args(res, ib)
    r2 = h.open_round()
    crafted = [
        (t.LeafExceedsClip, (nmr(5) + 1, 0, nmr(100)), (rid, A, nmr(5) + 1, 0, proof_a)),
        (t.LeafExceedsClip, (nmr(50), 0, nmr(100)), (rid, A, nmr(50), 0, proof_a)),
        (t.InvalidProof, (), (rid, A, nmr(4), 0, proof_a)),
        (t.InvalidProof, (), (rid, A, pa, ba, proof_b)),
        (t.InvalidProof, (), (rid, B, 0, 0, proof_b)),  # hide the burn
        (t.InvalidProof, (), (rid, B, nmr(1), 0, proof_a)),  # A's proof for B
        (t.LeafExceedsClip, (nmr(5), 0, nmr(50)), (rid, B, pa, ba, proof_a)),  # A's leaf for B
        (t.RoundNotFinal, (r2.id,), (r2.id, A, 0, 0, [])),
        (t.NoStake, (rid, C, strat.address), (rid, C, 0, 0, [])),
    ]
    for error, error_args, args in crafted:
        with reverts_exactly(error, *error_args):
            strat.settle(*args, sender=mallory)
        books.check()
        if args[1] == C:  # a model that is Off never reaches the tournament
            error, error_args = strat.ModelNotEnabled, (C,)
        with reverts_exactly(error, *error_args):
            strat.settleAndStake(*args, r2.id, commit("x"), sender=mallory)
        books.check()
    with reverts_exactly(t.RoundNotExpired, rid):
        strat.withdrawExpired(rid, A, sender=mallory)
    with reverts_exactly(t.RoundNotExpired, rid):
        t.emergencyWithdraw(rid, A, sender=mallory)
    with reverts_exactly(t.NoStake, rid, A, mallory):
        t.claim(rid, A, mallory, pa, ba, proof_a, sender=mallory)
    books.check()
    assert cfg(strat, A)[2:] == (0, r1.id) and cfg(strat, B)[2:] == (0, r1.id)

    strat.settle(rid, A, pa, ba, proof_a, sender=mallory)  # the honest settlement
    books.net += nmr(5)
    books.check()
    with reverts_exactly(t.NoStake, rid, A, strat.address):
        strat.settleAndStake(rid, A, pa, ba, proof_a, r2.id, commit("x"), sender=mallory)
    tx = strat.settleAndStake(rid, B, pb, bb, proof_b, r2.id, commit("b2"), sender=mallory)
    books.net -= nmr("2.5")
    books.check()
    assert tx.events.filter(strat.StrategyRestaked)[0].amount == nmr("47.5")  # Compound: 50 - 2.5
    with reverts_exactly(strat.RoundNotAfterLast, r2.id, r2.id):
        strat.stake(r2.id, B, commit("b2-again"), sender=mallory)
    books.check()
    assert cfg(strat, A)[2] + cfg(strat, B)[2] == books.net
    assert token.balanceOf(mallory) == 0


def test_malicious_operator__bogus_commitments_move_no_nmr_and_the_owner_can_revoke_and_recommit(
    strat, hostile, token, harness, alice, bob, mallory
):
    books, h, t = hostile, harness, harness.tour
    r1 = h.open_round()
    bogus, bogus2, good = b"\xde\xad" * 16, b"\xbe\xef" * 16, commit("good")
    strat.stake(r1.id, A, bogus, sender=mallory)
    assert t.getStake(r1.id, A, strat) == (nmr(100), bogus[:20])
    books.check()
    strat.recommit(r1.id, A, bogus2, sender=mallory)  # only the commitment changes
    assert t.getStake(r1.id, A, strat) == (nmr(100), bogus2[:20])
    books.check()
    with reverts_exactly(strat.RoundNotAfterLast, r1.id, r1.id):  # no second stake, not even the owner's
        strat.stake(r1.id, A, good, sender=alice)
    with reverts_exactly(t.ZeroCommitment):
        strat.stake(r1.id, B, ZERO32, sender=mallory)
    with reverts_exactly(t.ZeroCommitment):
        strat.recommit(r1.id, A, ZERO32, sender=mallory)
    with reverts_exactly(strat.NotStakedInRound, r1.id, B):  # recommit never stakes
        strat.recommit(r1.id, B, bogus, sender=mallory)
    books.check()
    strat.setOperator(ZERO_ADDRESS, sender=alice)
    books.snapshot_config()
    strat.recommit(r1.id, A, good, sender=alice)  # the owner repairs the commitment
    assert t.getStake(r1.id, A, strat) == (nmr(100), good[:20])
    r2 = h.open_round()
    for fn, args in ((strat.stake, (r2.id, A, bogus)), (strat.stake, (r2.id, B, bogus)),
                     (strat.recommit, (r1.id, A, bogus)),
                     (strat.settleAndStake, (r1.id, A, 0, 0, [], r2.id, bogus))):
        with reverts_exactly(strat.NotOwnerOrOperator, mallory):
            fn(*args, sender=mallory)
        books.check()
    assert t.getStake(r1.id, A, strat) == (nmr(100), good[:20])
    # settling stays open to anyone and still pays only the strategy
    res = finish(h, bob, r1, [("amodel", strat, 0, nmr(5))])
    strat.settle(*settle_args(res, 0), sender=mallory)
    books.net -= nmr(5)
    books.check()
    before = token.balanceOf(alice)
    strat.withdraw(nmr(395), sender=alice)
    assert token.balanceOf(alice) == before + nmr(395)
    assert token.balanceOf(strat) == 0
    assert token.balanceOf(mallory) == 0


# ============================================================================ invoker


def test_invoker__only_its_owner_may_batch(invoker, operator, owner, alice, stranger):
    assert invoker.owner() == operator.address
    for who in (alice, stranger, owner):
        with reverts_exactly(invoker.OwnableUnauthorizedAccount, who):
            invoker.stakeMany([], sender=who)
        with reverts_exactly(invoker.OwnableUnauthorizedAccount, who):
            invoker.settleMany([], sender=who)
        with reverts_exactly(invoker.OwnableUnauthorizedAccount, who):
            invoker.settleAndStakeMany([], sender=who)
        with reverts_exactly(invoker.OwnableUnauthorizedAccount, who):
            invoker.recommitMany([], sender=who)
    assert invoker.stakeMany.call([], sender=operator) == 0
    assert invoker.recommitMany.call([], sender=operator) == 0
    assert invoker.settleMany.call([], sender=operator) == 0
    assert invoker.settleAndStakeMany.call([], sender=operator) == 0


def test_invoker__ownership_handover_is_two_step(invoker, operator, stranger):
    invoker.transferOwnership(stranger, sender=operator)
    assert invoker.owner() == operator.address
    assert invoker.pendingOwner() == stranger.address
    with reverts_exactly(invoker.OwnableUnauthorizedAccount, stranger):
        invoker.stakeMany([], sender=stranger)
    invoker.acceptOwnership(sender=stranger)
    assert invoker.owner() == stranger.address
    with reverts_exactly(invoker.OwnableUnauthorizedAccount, operator):
        invoker.stakeMany([], sender=operator)


def test_invoker__stake_many__failing_entry_is_reported_with_its_reason_and_others_succeed(
    strat, strat_bob, invoker, operator, token, harness, alice, bob
):
    t = harness.tour
    deposit(token, strat, alice, nmr(200))
    deposit(token, strat_bob, bob, nmr(200))
    strat.setModel(A, nmr(100), FIXED, sender=alice)
    strat.setModel(B, nmr(20), FIXED, sender=alice)
    strat_bob.setModel(B, nmr(10), FIXED, sender=bob)  # bob's A is Off
    rnd = harness.open_round()
    calls = [
        (strat.address, rnd.id, A, commit("aa")),
        (strat_bob.address, rnd.id, A, commit("ba")),
        (strat.address, rnd.id, B, commit("ab")),
        (strat_bob.address, rnd.id, B, commit("bb")),
    ]
    assert invoker.stakeMany.call(calls, sender=operator) == 3
    tx = invoker.stakeMany(calls, sender=operator)
    ev = tx.events.filter(invoker.InvocationFailed)
    assert len(ev) == 1
    assert (ev[0].index, ev[0].strategy) == (1, strat_bob.address)
    assert bytes(ev[0].reason)[:4] == keccak(text="ModelNotEnabled(bytes32)")[:4]
    assert bytes(ev[0].reason) == error_data(strat.ModelNotEnabled, A)
    assert len(tx.events.filter(strat.StrategyStaked)) == 2
    assert len(tx.events.filter(strat_bob.StrategyStaked)) == 1
    assert staked(t, rnd, A, strat) == nmr(100)
    assert staked(t, rnd, B, strat) == nmr(20)
    assert staked(t, rnd, A, strat_bob) == 0
    assert staked(t, rnd, B, strat_bob) == nmr(10)
    assert token.balanceOf(strat) == nmr(80) and token.balanceOf(strat_bob) == nmr(190)
    assert token.balanceOf(invoker) == 0
    # the same batch again: everything already staked; one more round with too little idle
    r2 = harness.open_round()
    again = [calls[0], calls[3], (strat.address, r2.id, A, commit("a2")), (strat.address, r2.id, B, commit("b2"))]
    assert invoker.stakeMany.call(again, sender=operator) == 1
    tx = invoker.stakeMany(again, sender=operator)
    reasons = {int(e.index): bytes(e.reason) for e in tx.events.filter(invoker.InvocationFailed)}
    assert reasons == {
        0: error_data(strat.RoundNotAfterLast, rnd.id, rnd.id),
        1: error_data(strat.RoundNotAfterLast, rnd.id, rnd.id),
        2: error_data(strat.InsufficientIdle, nmr(100), nmr(80)),
    }
    assert staked(t, r2, B, strat) == nmr(20)


def test_invoker__recommit_many__failing_entry_is_reported_and_others_recommit(
    strat, strat_bob, invoker, operator, token, harness, alice, bob
):
    t = harness.tour
    deposit(token, strat, alice, nmr(100))
    deposit(token, strat_bob, bob, nmr(100))
    strat.setModel(A, nmr(10), FIXED, sender=alice)
    strat_bob.setModel(A, nmr(10), FIXED, sender=bob)
    rnd = harness.open_round()
    invoker.stakeMany([(strat.address, rnd.id, A, commit("a")), (strat_bob.address, rnd.id, A, commit("b"))],
                      sender=operator)
    calls = [
        (strat.address, rnd.id, B, commit("x")),      # B never staked
        (strat.address, rnd.id, A, commit("a2")),
        (strat_bob.address, rnd.id, A, ZERO32),        # refused by the tournament
        (strat_bob.address, rnd.id, A, commit("b2")),
    ]
    assert invoker.recommitMany.call(calls, sender=operator) == 2
    tx = invoker.recommitMany(calls, sender=operator)
    reasons = {int(e.index): (e.strategy, bytes(e.reason)) for e in tx.events.filter(invoker.InvocationFailed)}
    assert reasons == {
        0: (strat.address, error_data(strat.NotStakedInRound, rnd.id, B)),
        2: (strat_bob.address, error_data(t.ZeroCommitment)),
    }
    assert t.getStake(rnd.id, A, strat) == (nmr(10), commit("a2")[:20])
    assert t.getStake(rnd.id, A, strat_bob) == (nmr(10), commit("b2")[:20])
    assert token.balanceOf(strat) == nmr(90) and token.balanceOf(strat_bob) == nmr(90)


def test_invoker__settle_many_and_settle_and_stake_many_report_failures_and_count_successes(
    strat, strat_bob, invoker, operator, token, harness, alice, bob
):
    h, t = harness, harness.tour
    deposit(token, strat, alice, nmr(100))
    deposit(token, strat_bob, bob, nmr(100))
    strat.setModel(A, nmr(100), FIXED, sender=alice)
    strat_bob.setModel(A, nmr(100), COMPOUND, sender=bob)
    r1 = h.open_round()
    stakes = [(s.address, r1.id, A, commit(s.address)) for s in (strat, strat_bob)]
    assert invoker.stakeMany.call(stakes, sender=operator) == 2
    invoker.stakeMany(stakes, sender=operator)
    res = finish(h, bob, r1, [("amodel", strat, nmr(5), 0), ("amodel", strat_bob, 0, nmr(5))])
    ia, ib = res.find(A, strat), res.find(A, strat_bob)
    good_a = (strat.address, *settle_args(res, ia))
    rid, m, pb, bb, proof_b = settle_args(res, ib)
    bad_b = (strat_bob.address, rid, m, pb + 1, bb, proof_b)
    assert invoker.settleMany.call([good_a, bad_b], sender=operator) == 1
    tx = invoker.settleMany([good_a, bad_b], sender=operator)
    ev = tx.events.filter(invoker.InvocationFailed)
    assert len(ev) == 1 and (ev[0].index, ev[0].strategy) == (1, strat_bob.address)
    assert bytes(ev[0].reason) == error_data(t.InvalidProof)
    assert token.balanceOf(strat) == nmr(105)
    assert staked(t, r1, A, strat_bob) == nmr(100)
    assert cfg(strat_bob, A)[2] == 0

    r2 = h.open_round()
    batch = [
        (strat_bob.address, rid, m, pb, bb, proof_b, r2.id, commit("b2")),
        (good_a[0], *good_a[1:], r2.id, commit("a2")),  # already settled above
    ]
    assert invoker.settleAndStakeMany.call(batch, sender=operator) == 1
    tx = invoker.settleAndStakeMany(batch, sender=operator)
    ev = tx.events.filter(invoker.InvocationFailed)
    assert len(ev) == 1 and (ev[0].index, ev[0].strategy) == (1, strat.address)
    assert bytes(ev[0].reason) == error_data(t.NoStake, r1.id, A, strat.address)
    assert staked(t, r2, A, strat_bob) == nmr(95)  # Compound: 100 - 5
    assert staked(t, r2, A, strat) == 0
    assert token.balanceOf(strat_bob) == 0
    assert cfg(strat, A)[3] == r1.id


# ============================================================================ mainnet-like NMR


@pytest.fixture(scope="module")
def legacy(project, chain, owner, oracle, manager, pauser, alice, bob):
    """LegacyNMR + NumeraireTournament + a factory on it, with a harness; bob funds rounds."""
    from helpers.harness import T_ADMIN_DELAY, T_CHALLENGE, T_GRACE, T_MAX_PAUSE

    tok = owner.deploy(project.LegacyNMR)
    tour = owner.deploy(project.NumeraireTournament, tok, owner, T_ADMIN_DELAY, T_CHALLENGE, T_GRACE, T_MAX_PAUSE)
    tour.grantRole(tour.MANAGER_ROLE(), manager, sender=owner)
    tour.grantRole(tour.ORACLE_ROLE(), oracle, sender=owner)
    tour.grantRole(tour.PAUSER_ROLE(), pauser, sender=owner)
    for a in (alice, bob):
        tok.issue(a, nmr(10_000), sender=owner)
    tok.approve(tour, nmr(1_000), sender=bob)
    fac = owner.deploy(project.StrategyFactory, tour)
    return tok, tour, fac, THarness(chain, tour, tok, owner, oracle, manager, pauser)


def test_legacy_nmr__deposit_stake_post_with_burn_settle_and_stake_burns_exactly(
    project, legacy, alice, bob, mallory
):
    tok, tour, fac, h = legacy
    fac.create(mallory, sender=alice)
    s = project.AllocationStrategy.at(fac.strategyOf(alice))
    assert s.nmr() == tok.address
    assert tok.allowance(s, tour) == MAX_UINT
    tok.approve(s, nmr(300), sender=alice)  # from zero: the only approve LegacyNMR allows
    s.deposit(nmr(300), sender=alice)
    assert tok.balanceOf(s) == nmr(300) and tok.allowance(alice, s) == 0
    s.setModel(A, nmr(100), COMPOUND, sender=alice)
    r1 = h.open_round()
    s.stake(r1.id, A, commit("l1"), sender=mallory)
    h.stake(bob, r1, "bmodel", nmr(100))
    res = finish(h, bob, r1, [("amodel", s, nmr(2), nmr(5)), ("bmodel", bob, nmr(3), nmr(1))])
    supply = tok.totalSupply()
    r2 = h.open_round()
    tx = s.settleAndStake(*settle_args(res, res.find(A, s)), r2.id, commit("l2"), sender=mallory)
    assert tok.totalSupply() == supply - res.total_burn  # the round's burns, lazily, exactly
    assert res.total_burn == nmr(6)
    assert tour.getRound(r1.id).settled
    assert tx.events.filter(s.StrategyRestaked)[0].amount == nmr(97)  # Compound: 100 + 2 - 5
    assert staked(tour, r2, A, s) == nmr(97)
    assert tok.balanceOf(s) == nmr(300) - nmr(100) + nmr(97) - nmr(97)
    assert cfg(s, A)[2] == -nmr(3)
    assert tok.balanceOf(mallory) == 0
    # LegacyNMR spends even an unlimited allowance: the first stake came out of it; the restake
    # moved nothing (its claim paid exactly the new Compound stake)
    assert tok.allowance(s, tour) == MAX_UINT - nmr(100)
    before = tok.balanceOf(alice)
    s.withdraw(nmr(200), sender=alice)
    assert tok.balanceOf(alice) == before + nmr(200)


def test_invoker__entry_out_of_gas__reverts_the_whole_batch_never_skips_silently(
    strat, strat_bob, invoker, operator, token, harness, alice, bob
):
    """try/catch also catches out-of-gas: with a gas limit that would starve the second entry (as
    a low estimate would), the batch must revert with BatchOutOfGas rather than skip the entry;
    with the estimate itself, every entry goes through."""
    deposit(token, strat, alice, nmr(100))
    deposit(token, strat_bob, bob, nmr(100))
    strat.setModel(A, nmr(10), FIXED, sender=alice)
    strat_bob.setModel(A, nmr(10), FIXED, sender=bob)
    rnd = harness.open_round()
    one = [(strat.address, rnd.id, A, commit("x1"))]
    both = [*one, (strat_bob.address, rnd.id, A, commit("x2"))]
    cost_one = invoker.stakeMany(one, sender=operator).gas_used
    with reverts_exactly(invoker.BatchOutOfGas, 1):
        invoker.stakeMany([(strat.address, harness.open_round().id, A, commit("x3")), both[1]],
                          sender=operator, gas=cost_one + 250_000)
    assert staked(harness.tour, rnd, A, strat_bob) == 0
    r3 = harness.open_round()
    batch = [(strat.address, r3.id, A, commit("y1")), (strat_bob.address, r3.id, A, commit("y2"))]
    estimate = invoker.stakeMany.estimate_gas_cost(batch, sender=operator)
    tx = invoker.stakeMany(batch, sender=operator, gas=estimate)
    assert not tx.events.filter(invoker.InvocationFailed)
    assert staked(harness.tour, r3, A, strat) == staked(harness.tour, r3, A, strat_bob) == nmr(10)
