"""The tournament on a token that behaves like the mainnet NMR (contracts/test/LegacyNMR.sol).

The mainnet NMR (NumeraireBackend + NumeraireDelegateV3) has no EIP-2612 `permit` and no
`burn(uint256)`; it burns the caller's own tokens with the repurposed `mint(uint256)` (false, not a
revert, on failure), changes allowances only from or to zero, always spends allowances, and has a
payable fallback that accepts any unknown call. A burn that "succeeds" there proves nothing, so
every settlement checks `totalSupply` (`SupplyCheckedBurn`):

* `Tournament` (ERC20Burnable `burn`) on LegacyNMR: staking with an approval works, `stakeWithPermit`
  without an allowance reverts `PermitFailed` (the "successful" permit grants nothing); settling a round
  with a burn reverts `BurnNotEffective` (never a silent no-op); a round without burns settles.
* `NumeraireTournament` (burns through `mint(uint256)`) on LegacyNMR: the whole lifecycle, with the
  supply falling by exactly the burns.
* On the standard NMR (tests/conftest.py `token`): `Tournament` burns exactly;
  `NumeraireTournament` cannot burn (no `mint(uint256)`, no fallback) and settlement reverts.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import ape
import pytest
from ape.exceptions import CustomError, TransactionError
from eth_utils import keccak
from helpers.harness import T_ADMIN_DELAY, T_CHALLENGE, T_GRACE, T_MAX_PAUSE, THarness, nmr  # noqa: E402

ZERO32 = b"\x00" * 32
MAX = 2**256 - 1


@contextmanager
def reverts(error=None, **inputs):
    """`ape.reverts`, strict about the error: ape lets any revert that is not a custom error (a
    require string, a panic, empty data) pass for an expected custom error; this does not."""
    with ape.reverts(error, **inputs) as info:
        yield info
    if error is not None and not isinstance(error, (str, re.Pattern)):
        assert type(info.value).__name__ == error.__name__, f"expected {error.__name__}, got {info.value!r}"


def raw_call(chain, to, data: bytes, sender) -> bytes:
    """eth_call with raw calldata; the raw return data."""
    tx = {"from": str(sender), "to": str(to), "data": "0x" + data.hex()}
    return bytes(chain.provider.web3.eth.call(tx))


@pytest.fixture(scope="module")
def legacy(project, owner, alice, bob, carol, treasury):
    """A LegacyNMR with 10,000 NMR for alice, bob, carol and treasury (no approvals yet)."""
    tok = owner.deploy(project.LegacyNMR)
    for a in (alice, bob, carol, treasury):
        tok.issue(a, nmr(10_000), sender=owner)
    return tok


def _deploy(project, container, tok, owner, oracle, manager, pauser):
    t = owner.deploy(container, tok, owner, T_ADMIN_DELAY, T_CHALLENGE, T_GRACE, T_MAX_PAUSE)
    t.grantRole(t.MANAGER_ROLE(), manager, sender=owner)
    t.grantRole(t.ORACLE_ROLE(), oracle, sender=owner)
    t.grantRole(t.PAUSER_ROLE(), pauser, sender=owner)
    return t


@pytest.fixture(scope="module")
def plain_on_legacy(project, legacy, owner, oracle, manager, pauser, alice, bob, carol, treasury, chain):
    """`Tournament` (burns with burn(uint256)) on LegacyNMR; everyone approved (from zero)."""
    t = _deploy(project, project.Tournament, legacy, owner, oracle, manager, pauser)
    for a in (alice, bob, carol, treasury):
        legacy.approve(t, MAX, sender=a)
    return t, THarness(chain, t, legacy, owner, oracle, manager, pauser)


@pytest.fixture(scope="module")
def numeraire_on_legacy(project, legacy, owner, oracle, manager, pauser, alice, bob, carol, treasury, chain):
    """`NumeraireTournament` (burns with mint(uint256)) on LegacyNMR; everyone approved."""
    t = _deploy(project, project.NumeraireTournament, legacy, owner, oracle, manager, pauser)
    for a in (alice, bob, carol, treasury):
        legacy.approve(t, MAX, sender=a)
    return t, THarness(chain, t, legacy, owner, oracle, manager, pauser)


@pytest.fixture(scope="module")
def numeraire_on_standard(project, token, owner, oracle, manager, pauser, alice, bob, treasury, chain):
    """`NumeraireTournament` on the standard (OpenZeppelin) NMR of conftest."""
    t = _deploy(project, project.NumeraireTournament, token, owner, oracle, manager, pauser)
    for a in (alice, bob, treasury):
        token.mint(a, nmr(10_000), sender=owner)
        token.approve(t, MAX, sender=a)
    return t, THarness(chain, t, token, owner, oracle, manager, pauser)


@pytest.fixture(scope="module", autouse=True)
def _deployed_first(legacy, plain_on_legacy, numeraire_on_legacy, numeraire_on_standard, tournament):
    """Every module-scoped deployment before the first test (ape's per-test snapshots then isolate
    the tests without rebasing fixtures)."""


def _game(h, alice, bob, carol, treasury, burns=True):
    """A closed round: alice 100, bob 50, carol 20 NMR, 10 NMR funding. With burns: alice +3,
    bob -2, carol -1 (totalBurn 3 NMR); without: alice +3, others even."""
    rnd = h.open_round()
    h.stake(alice, rnd, "amodel", nmr(100))
    h.stake(bob, rnd, "bmodel", nmr(50))
    h.stake(carol, rnd, "cmodel", nmr(20))
    h.fund(treasury, rnd, nmr(10))
    res = h.result(rnd, [
        ("amodel", alice, nmr(3), 0),
        ("bmodel", bob, 0, nmr(2) if burns else 0),
        ("cmodel", carol, 0, nmr(1) if burns else 0),
    ])
    return rnd, res


# ============================================================================ the token itself


def test_legacy_has_no_permit_and_no_burn_but_accepts_the_calls(project, chain, legacy, alice, bob, stranger):
    """`permit`, `burn` and `nonces` reach the payable fallback: they succeed and change nothing."""
    as_std = project.NMR.at(legacy.address)  # the standard NMR's ABI at the legacy token's address
    supply, bal = legacy.totalSupply(), legacy.balanceOf(alice)
    tx = as_std.burn(nmr(5), sender=alice)
    assert not tx.failed
    assert legacy.totalSupply() == supply and legacy.balanceOf(alice) == bal
    tx = as_std.permit(alice, bob, nmr(7), 2**64, 27, b"\x01" * 32, b"\x02" * 32, sender=stranger)
    assert not tx.failed
    assert legacy.allowance(alice, bob) == 0
    assert raw_call(chain, legacy, as_std.nonces.encode_input(alice), alice) == b""
    assert raw_call(chain, legacy, as_std.burn.encode_input(1), alice) == b""
    assert raw_call(chain, legacy, keccak(b"anything()")[:4], alice) == b""
    # Ether is accepted too (with and without data).
    stranger.transfer(legacy, 3)
    stranger.transfer(legacy, 4, data=keccak(b"anything()")[:4])
    assert chain.provider.get_balance(legacy.address) == 7
    assert legacy.totalSupply() == supply and legacy.balanceOf(alice) == bal


def test_legacy_approve_only_from_or_to_zero(legacy, alice, bob):
    legacy.approve(bob, 5, sender=alice)
    assert legacy.allowance(alice, bob) == 5
    with reverts("approve from or to zero"):
        legacy.approve(bob, 7, sender=alice)
    assert legacy.allowance(alice, bob) == 5
    legacy.approve(bob, 0, sender=alice)
    legacy.approve(bob, 0, sender=alice)  # zero to zero
    legacy.approve(bob, 9, sender=alice)
    assert legacy.allowance(alice, bob) == 9


def test_legacy_change_approval(legacy, alice, bob):
    legacy.approve(bob, 5, sender=alice)
    with reverts("old value"):
        legacy.changeApproval(bob, 4, 8, sender=alice)
    tx = legacy.changeApproval(bob, 5, 8, sender=alice)
    ev = tx.events.filter(legacy.Approval)[0]
    assert (ev.owner, ev.spender, ev.value) == (alice.address, bob.address, 8)
    assert legacy.allowance(alice, bob) == 8
    legacy.changeApproval(bob, 8, 0, sender=alice)
    assert legacy.allowance(alice, bob) == 0


def test_legacy_transfer_from_always_spends_the_allowance(legacy, alice, bob, carol):
    legacy.approve(bob, MAX, sender=alice)
    a, c = legacy.balanceOf(alice), legacy.balanceOf(carol)
    legacy.transferFrom(alice, carol, nmr(4), sender=bob)
    assert legacy.allowance(alice, bob) == MAX - nmr(4)  # no infinite approval
    assert (legacy.balanceOf(alice), legacy.balanceOf(carol)) == (a - nmr(4), c + nmr(4))
    legacy.changeApproval(bob, MAX - nmr(4), 3, sender=alice)
    with reverts("allowance"):
        legacy.transferFrom(alice, carol, 4, sender=bob)
    with reverts("to zero"):
        legacy.transfer("0x" + "00" * 20, 1, sender=alice)
    with reverts("balance"):
        legacy.transfer(carol, legacy.balanceOf(alice) + 1, sender=alice)


def test_legacy_mint_burns_the_callers_tokens(legacy, alice):
    supply, bal = legacy.totalSupply(), legacy.balanceOf(alice)
    assert legacy.mint.call(nmr(3), sender=alice) is True
    tx = legacy.mint(nmr(3), sender=alice)
    ev = tx.events.filter(legacy.Transfer)[0]
    assert (ev.event_arguments["from"], ev.to, ev.value) == (alice.address, "0x" + "00" * 20, nmr(3))
    assert legacy.totalSupply() == supply - nmr(3)
    assert legacy.balanceOf(alice) == bal - nmr(3)
    # Failure: false, not a revert, and nothing changes.
    too_much = legacy.balanceOf(alice) + 1
    assert legacy.mint.call(too_much, sender=alice) is False
    tx = legacy.mint(too_much, sender=alice)
    assert not tx.failed and not tx.events.filter(legacy.Transfer)
    assert legacy.totalSupply() == supply - nmr(3)
    assert legacy.balanceOf(alice) == bal - nmr(3)


def test_legacy_numerai_transfer_burns_approved_tokens(legacy, alice, bob):
    legacy.approve(bob, nmr(10), sender=alice)
    supply, bal = legacy.totalSupply(), legacy.balanceOf(alice)
    assert legacy.numeraiTransfer.call(alice, nmr(4), sender=bob) is True
    legacy.numeraiTransfer(alice, nmr(4), sender=bob)
    assert legacy.balanceOf(alice) == bal - nmr(4)
    assert legacy.totalSupply() == supply - nmr(4)
    assert legacy.allowance(alice, bob) == nmr(6)
    # Beyond the allowance, or without one: false and nothing changes.
    assert legacy.numeraiTransfer.call(alice, nmr(7), sender=bob) is False
    legacy.numeraiTransfer(alice, nmr(7), sender=bob)
    assert legacy.numeraiTransfer.call(bob, 1, sender=alice) is False
    assert (legacy.balanceOf(alice), legacy.totalSupply()) == (bal - nmr(4), supply - nmr(4))
    assert legacy.allowance(alice, bob) == nmr(6)
    # Beyond the balance (with allowance enough): false.
    legacy.changeApproval(bob, nmr(6), MAX, sender=alice)
    assert legacy.numeraiTransfer.call(alice, legacy.balanceOf(alice) + 1, sender=bob) is False


# ============================================================================ Tournament on LegacyNMR


def test_tournament_on_legacy_stakes_with_approve(plain_on_legacy, legacy, alice):
    t, h = plain_on_legacy
    rnd = h.open_round()
    bal = legacy.balanceOf(alice)
    h.stake(alice, rnd, "amodel", nmr(40))
    assert t.getStake(rnd.id, h.model_id("amodel"), alice)[0] == nmr(40)
    assert legacy.balanceOf(alice) == bal - nmr(40)
    assert legacy.balanceOf(t) == nmr(40)
    assert legacy.allowance(alice, t) == MAX - nmr(40)


def _stake_with_permit(t, h, rnd, who, amount):
    """stakeWithPermit with a made-up signature (LegacyNMR checks none: it has no permit)."""
    return t.stakeWithPermit(rnd.id, h.model_id("smodel"), amount, keccak(b"c"), 2**64, 27, b"\x01" * 32,
                             b"\x02" * 32, sender=who)


def test_tournament_on_legacy_stake_with_permit_fails(plain_on_legacy, legacy, stranger):
    """The permit "succeeds" (fallback) but grants nothing: without an allowance it is PermitFailed
    and nothing moves; with an approval (the permit a no-op) it works like `stake`."""
    t, h = plain_on_legacy
    rnd = h.open_round()
    legacy.issue(stranger, nmr(50), sender=stranger)
    assert legacy.allowance(stranger, t) == 0
    with reverts(t.PermitFailed):
        _stake_with_permit(t, h, rnd, stranger, nmr(10))
    assert legacy.balanceOf(stranger) == nmr(50) and legacy.balanceOf(t) == 0
    assert t.getStake(rnd.id, h.model_id("smodel"), stranger) == (0, bytes(20))
    # An allowance short by one wei: still PermitFailed.
    legacy.approve(t, nmr(10) - 1, sender=stranger)
    with reverts(t.PermitFailed):
        _stake_with_permit(t, h, rnd, stranger, nmr(10))
    legacy.changeApproval(t, nmr(10) - 1, nmr(10), sender=stranger)
    _stake_with_permit(t, h, rnd, stranger, nmr(10))
    assert t.getStake(rnd.id, h.model_id("smodel"), stranger)[0] == nmr(10)
    assert legacy.allowance(stranger, t) == 0


def test_tournament_on_legacy_burn_reverts_in_finalise(plain_on_legacy, legacy, alice, bob, carol, treasury,
                                                       stranger):
    t, h = plain_on_legacy
    rnd, res = _game(h, alice, bob, carol, treasury)
    h.post_final(rnd, res)
    supply, held = legacy.totalSupply(), legacy.balanceOf(t)
    with reverts(t.BurnNotEffective, expectedDrop=nmr(3), actualDrop=0):
        t.finalise(rnd.id, sender=stranger)
    assert not t.getRound(rnd.id).settled
    assert (legacy.totalSupply(), legacy.balanceOf(t)) == (supply, held)


def test_tournament_on_legacy_burn_reverts_in_the_first_claim(plain_on_legacy, legacy, alice, bob, carol,
                                                              treasury, stranger):
    t, h = plain_on_legacy
    rnd, res = _game(h, alice, bob, carol, treasury)
    h.post_final(rnd, res)
    bal, supply = legacy.balanceOf(alice), legacy.totalSupply()
    with reverts(t.BurnNotEffective, expectedDrop=nmr(3), actualDrop=0):
        h.claim(res, 0, stranger)
    with reverts(t.BurnNotEffective, expectedDrop=nmr(3), actualDrop=0):
        t.claimMany([res.claim_args(i) for i in range(3)], sender=stranger)
    # The exit settles lazily as well: the same refusal.
    h.at(t.getRound(rnd.id).postedAt + h.CHALLENGE + h.GRACE)
    with reverts(t.BurnNotEffective, expectedDrop=nmr(3), actualDrop=0):
        t.exitUnclaimed(rnd.id, h.model_id("amodel"), sender=alice)
    assert legacy.balanceOf(alice) == bal and legacy.totalSupply() == supply
    assert t.getStake(rnd.id, h.model_id("amodel"), alice)[0] == nmr(100)
    r = t.getRound(rnd.id)
    assert not r.settled and r.claimed == 0


def test_tournament_on_legacy_round_without_burn_settles(plain_on_legacy, legacy, alice, bob, carol, treasury,
                                                         stranger):
    t, h = plain_on_legacy
    rnd, res = _game(h, alice, bob, carol, treasury, burns=False)
    h.post_final(rnd, res)
    supply = legacy.totalSupply()
    tx = t.finalise(rnd.id, sender=stranger)
    ev = tx.events.filter(t.Settled)[0]
    assert (ev.burned, ev.returnedToPool, ev.expired) == (0, nmr(7), False)
    for i, acct, want in ((0, alice, nmr(103)), (1, bob, nmr(50)), (2, carol, nmr(20))):
        bal = legacy.balanceOf(acct)
        h.claim(res, i, acct)
        assert legacy.balanceOf(acct) == bal + want
    assert legacy.totalSupply() == supply
    assert legacy.balanceOf(t) == t.pool() == nmr(7)


# ============================================================================ NumeraireTournament on LegacyNMR


def test_numeraire_tournament_lifecycle_on_legacy(numeraire_on_legacy, legacy, alice, bob, carol, treasury,
                                                  stranger, manager, owner):
    t, h = numeraire_on_legacy
    people = (alice, bob, carol, treasury)
    start = {a.address: legacy.balanceOf(a) for a in people}
    supply0 = legacy.totalSupply()

    def moved(a):
        return legacy.balanceOf(a) - start[a.address]

    # A shared pool, allocated to the round below.
    t.fundPool(nmr(6), sender=treasury)
    rnd, res = _game(h, alice, bob, carol, treasury)  # 10 NMR funded directly
    t.allocate(rnd.id, nmr(2), sender=manager)
    assert legacy.balanceOf(t) == nmr(170) + nmr(10) + nmr(6)
    # A second round nobody posts: it expires.
    late = h.open_round()
    h.stake(alice, late, "lmodel", nmr(30))
    h.fund(treasury, late, nmr(1))
    # Post (burns 3, pays 3) and finalise: the supply falls by exactly the burns.
    h.post_final(rnd, res)
    tx = t.finalise(rnd.id, sender=stranger)
    ev = tx.events.filter(t.Settled)[0]
    assert (ev.burned, ev.returnedToPool) == (nmr(3), nmr(12) - nmr(3))
    assert legacy.totalSupply() == supply0 - nmr(3)
    assert t.pool() == nmr(6) - nmr(2) + nmr(9)
    # Claims: alice and bob (bob's by a stranger).
    h.claim(res, 0, alice)
    h.claim(res, 1, stranger)
    with reverts(t.NoStake):
        h.claim(res, 1, bob)
    # carol never claims: after the window she exits (keeps back min(ceil(20 * 5 %), 3) = 1 NMR).
    h.at(t.getRound(rnd.id).postedAt + h.CHALLENGE + h.GRACE)
    tx = t.exitUnclaimed(rnd.id, h.model_id("cmodel"), sender=carol)
    assert tx.events.filter(t.StakeExited)[0].amountOut == nmr(19)
    # The expired round: its stake back in full, its funding back to the pool.
    h.at(max(h.now(), late.expiry))
    t.emergencyWithdraw(late.id, h.model_id("lmodel"), sender=alice)
    with reverts(t.NoStake):
        t.emergencyWithdraw(late.id, h.model_id("lmodel"), sender=alice)
    tx = t.finalise(late.id, sender=stranger)
    assert tx.events.filter(t.Settled)[0].expired
    assert t.pool() == nmr(13) + nmr(1)
    # The pool leaves through the admin.
    t.withdrawPool(treasury, nmr(14), sender=owner)
    # Balances: exactly the results, the supply exactly the burns.
    assert moved(alice) == -nmr(100) + nmr(103)
    assert moved(bob) == -nmr(50) + nmr(48)
    assert moved(carol) == -nmr(20) + nmr(19)
    assert moved(treasury) == -nmr(6) - nmr(10) - nmr(1) + nmr(14)
    assert legacy.totalSupply() == supply0 - nmr(3)
    r = t.getRound(rnd.id)
    assert r.claimed == nmr(103 + 48 + 19) and r.claimable == nmr(170 - 3 + 3)
    # carol's exit kept back 1 NMR = her leaf's burn: the exit paid exactly her leaf, nothing is left.
    assert legacy.balanceOf(t) == r.claimable - r.claimed == 0
    assert t.pool() == 0


def test_numeraire_tournament_first_claim_burns_on_legacy(numeraire_on_legacy, legacy, alice, bob, carol,
                                                          treasury, stranger):
    t, h = numeraire_on_legacy
    rnd, res = _game(h, alice, bob, carol, treasury)
    h.post_final(rnd, res)
    supply = legacy.totalSupply()
    tx = h.claim(res, 2, stranger)
    ev = tx.events.filter(t.Settled)[0]
    assert ev.burned == nmr(3)
    assert legacy.totalSupply() == supply - nmr(3)
    with reverts(t.AlreadySettled):
        t.finalise(rnd.id, sender=stranger)


def test_numeraire_tournament_stake_with_permit_on_legacy(numeraire_on_legacy, legacy, stranger):
    t, h = numeraire_on_legacy
    rnd = h.open_round()
    legacy.issue(stranger, nmr(50), sender=stranger)
    with reverts(t.PermitFailed):
        _stake_with_permit(t, h, rnd, stranger, nmr(10))
    assert legacy.balanceOf(stranger) == nmr(50)
    # With a plain approval, `stake` is the way.
    legacy.approve(t, nmr(10), sender=stranger)
    t.stake(rnd.id, h.model_id("smodel"), nmr(10), keccak(b"c"), sender=stranger)
    assert legacy.balanceOf(t) == nmr(10)


# ============================================================================ the standard NMR


def test_numeraire_tournament_on_standard_nmr_cannot_burn(numeraire_on_standard, token, alice, bob, treasury,
                                                          stranger):
    """The standard NMR has no mint(uint256) and no fallback: settlement with a burn reverts."""
    t, h = numeraire_on_standard
    rnd = h.open_round()
    h.stake(alice, rnd, "amodel", nmr(100))
    h.stake(bob, rnd, "bmodel", nmr(50))
    h.fund(treasury, rnd, nmr(10))
    res = h.result(rnd, [("amodel", alice, nmr(3), 0), ("bmodel", bob, 0, nmr(2))])
    h.post_final(rnd, res)
    supply = token.totalSupply()
    with reverts() as info:
        t.finalise(rnd.id, sender=stranger)
    # A plain revert without data (the call found neither the function nor a fallback).
    assert not isinstance(info.value, CustomError)
    assert info.value.revert_message == TransactionError.DEFAULT_MESSAGE
    with reverts() as info:
        h.claim(res, 0, stranger)
    assert not isinstance(info.value, CustomError)
    assert token.totalSupply() == supply
    assert not t.getRound(rnd.id).settled and t.getRound(rnd.id).claimed == 0


def test_numeraire_tournament_on_standard_nmr_settles_without_burn(numeraire_on_standard, token, alice,
                                                                   treasury, stranger):
    t, h = numeraire_on_standard
    rnd = h.open_round()
    h.stake(alice, rnd, "amodel", nmr(100))
    h.fund(treasury, rnd, nmr(10))
    res = h.result(rnd, [("amodel", alice, nmr(3), 0)])
    h.post_final(rnd, res)
    bal = token.balanceOf(alice)
    h.claim(res, 0, stranger)
    assert token.balanceOf(alice) == bal + nmr(103)


def test_tournament_on_standard_nmr_burns_exactly(tournament, harness, token, alice, bob, carol, treasury,
                                                   stranger):
    t, h = tournament, harness
    rnd, res = _game(h, alice, bob, carol, treasury)
    h.post_final(rnd, res)
    supply, held = token.totalSupply(), token.balanceOf(t)
    tx = t.finalise(rnd.id, sender=stranger)
    assert tx.events.filter(t.Settled)[0].burned == nmr(3)
    assert token.totalSupply() == supply - nmr(3)
    assert token.balanceOf(t) == held - nmr(3)
    for i in range(3):
        h.claim(res, i, stranger)
    assert token.balanceOf(t) == t.pool() == nmr(7)
