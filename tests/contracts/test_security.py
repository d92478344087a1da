"""Adversarial tests of the tournament (threat model: docs/security.md).

Most attacks of the threat model are already tested in tests/contracts/test_tournament.py and
tests/contracts/test_tournament_claims.py; docs/security.md maps each row to its test. This file holds the
missing ones:

* every privileged function of the ABI (Tournament and NMR), called by every role that lacks the
  privilege (test_tournament.py checks a stranger only);
* permit replay and someone else's permit; a front-run batch claim; re-entrancy through token
  callbacks in the functions not covered yet; NMR sent to the contract by mistake;
* what the bounds on an oracle's posting do not bound (an omitted staker, a leaf paying more than
  its clip, a published folder whose per-stake amounts differ from the chain, which `nmrstake
  verify` must catch), and what a compromised manager, pauser or admin can and cannot do.

Tests marked `xfail(strict=True, reason="BUG: ...")` describe a weakness found by this review: they
fail today and start passing (which then fails the run) once it is fixed.
"""

from __future__ import annotations

import ape
import pytest
from eth_utils import keccak
from helpers.harness import nmr

from nmrstake.permit import sign_token_permit

ZERO32 = b"\x00" * 32
ZERO_ADDRESS = "0x" + "00" * 20
REENTRANT = keccak(b"ReentrancyGuardReentrantCall()")[:4]
ROLE_HOLDERS = ("owner", "oracle", "manager", "pauser")
OTHERS = ("alice", "treasury", "stranger")


@pytest.fixture(scope="module")
def mallory(accounts):
    """An account with no role, no NMR and no approval (accounts[9]: unused by conftest)."""
    return accounts[9]


@pytest.fixture
def who(owner, oracle, manager, pauser, alice, treasury, stranger, mallory):
    return {"owner": owner, "oracle": oracle, "manager": manager, "pauser": pauser, "alice": alice,
            "treasury": treasury, "stranger": stranger, "mallory": mallory}


# ============================================================================ privileges

# Every state-changing function of each contract's ABI is listed here, once: a new function fails
# test_every_state_changing_function_is_classified until someone decides who may call it.
TOURNAMENT_PRIVILEGED = {
    "openRound": "MANAGER_ROLE",
    "allocate": "MANAGER_ROLE",
    "postResult": "ORACLE_ROLE",
    "rejectResult": "DEFAULT_ADMIN_ROLE",
    "withdrawPool": "DEFAULT_ADMIN_ROLE",
    "pause": "PAUSER_ROLE",
    "unpause": "PAUSER_ROLE",
    "grantRole": "DEFAULT_ADMIN_ROLE",
    "revokeRole": "DEFAULT_ADMIN_ROLE",
    "beginDefaultAdminTransfer": "DEFAULT_ADMIN_ROLE",
    "cancelDefaultAdminTransfer": "DEFAULT_ADMIN_ROLE",
    "changeDefaultAdminDelay": "DEFAULT_ADMIN_ROLE",
    "rollbackDefaultAdminDelay": "DEFAULT_ADMIN_ROLE",
    "acceptDefaultAdminTransfer": "pending-admin",
    "renounceRole": "self",
}
TOURNAMENT_PUBLIC = {"stake", "stakeWithPermit", "fund", "fundPool", "finalise", "claim", "claimMany",
                     "emergencyWithdraw", "exitUnclaimed", "restake",
                     "setClaimsBySelfOnly"}
NMR_PRIVILEGED = {
    "mint": "MINTER_ROLE",
    "grantRole": "DEFAULT_ADMIN_ROLE",
    "revokeRole": "DEFAULT_ADMIN_ROLE",
    "renounceRole": "self",
}
NMR_PUBLIC = {"transfer", "approve", "transferFrom", "burn", "burnFrom", "permit"}

# Who holds which role (conftest: owner = the tournament's admin and the token's admin + minter).
TOURNAMENT_HOLDERS = {"DEFAULT_ADMIN_ROLE": "owner", "MANAGER_ROLE": "manager", "ORACLE_ROLE": "oracle",
                      "PAUSER_ROLE": "pauser"}
NMR_HOLDERS = {"DEFAULT_ADMIN_ROLE": "owner", "MINTER_ROLE": "owner"}


def _mutating(contract):
    return [m for m in contract.contract_type.abi
            if m.type == "function" and m.stateMutability in ("nonpayable", "payable")]


def _dummy(abi_type, components, address):
    if abi_type.endswith("[]"):
        return []
    if abi_type == "tuple":
        return tuple(_dummy(c.type, getattr(c, "components", None), address) for c in components)
    if abi_type.startswith(("uint", "int")):
        return 1
    if abi_type == "address":
        return address
    if abi_type == "bool":
        return True
    if abi_type == "string":
        return "x"
    if abi_type.startswith("bytes"):
        return b"\x01" * int(abi_type[5:] or 32)
    raise AssertionError(f"unhandled ABI type {abi_type}")


@pytest.mark.parametrize("contract_name", ["tournament", "token"])
def test_every_state_changing_function_is_classified(tournament, token, contract_name):
    contract = tournament if contract_name == "tournament" else token
    privileged, public = ((TOURNAMENT_PRIVILEGED, TOURNAMENT_PUBLIC) if contract_name == "tournament"
                          else (NMR_PRIVILEGED, NMR_PUBLIC))
    names = [m.name for m in _mutating(contract)]
    assert len(names) == len(set(names)), "overloaded functions: classify them by signature"
    assert not (privileged.keys() & public)
    assert set(names) == set(privileged) | public, (
        f"unclassified: {set(names) - set(privileged) - public}; stale: {(set(privileged) | public) - set(names)}"
    )


def _check_privileges(contract, privileged, holders, caller_name, caller, other):
    """Calls every privileged function of `contract` as `caller`, who must be refused each one it
    does not hold; returns the number of refused calls."""
    refused = 0
    for m in _mutating(contract):
        role = privileged.get(m.name)
        if role is None or holders.get(role) == caller_name:
            continue
        # Address arguments point at someone else (renounceRole: another account's role).
        args = [_dummy(i.type, getattr(i, "components", None), other.address) for i in m.inputs]
        fn = getattr(contract, m.name)
        if role == "pending-admin":
            with ape.reverts(contract.AccessControlInvalidDefaultAdmin, defaultAdmin=caller.address):
                fn.call(*args, sender=caller)
        elif role == "self":
            with ape.reverts(contract.AccessControlBadConfirmation):
                fn.call(*args, sender=caller)
        else:
            role_id = getattr(contract, role)()
            with ape.reverts(contract.AccessControlUnauthorizedAccount, account=caller.address, neededRole=role_id):
                fn.call(*args, sender=caller)
        refused += 1
    return refused


@pytest.mark.parametrize("caller_name", ROLE_HOLDERS + OTHERS)
def test_every_privileged_function_refuses_every_role_without_it(tournament, token, who, caller_name, bob):
    """The ABI-wide check of test_tournament.py::test_every_privileged_function_rejects_a_stranger,
    for each role holder (who must be refused every other role's functions) and for participants."""
    caller = who[caller_name]
    refused = _check_privileges(tournament, TOURNAMENT_PRIVILEGED, TOURNAMENT_HOLDERS, caller_name, caller, bob)
    held = sum(1 for r in TOURNAMENT_PRIVILEGED.values() if TOURNAMENT_HOLDERS.get(r) == caller_name)
    assert refused == len(TOURNAMENT_PRIVILEGED) - held
    refused = _check_privileges(token, NMR_PRIVILEGED, NMR_HOLDERS, caller_name, caller, bob)
    held = sum(1 for r in NMR_PRIVILEGED.values() if NMR_HOLDERS.get(r) == caller_name)
    assert refused == len(NMR_PRIVILEGED) - held


def test_role_holders_hold_nothing_else(tournament, token, who):
    """Least privilege as deployed by the fixtures: each operator holds exactly its own role; the
    tournament itself can neither mint NMR nor administer anything."""
    t = tournament
    roles = {name: getattr(t, name)() for name in TOURNAMENT_HOLDERS}
    for name, acct in who.items():
        held = {r for r, rid in roles.items() if t.hasRole(rid, acct)}
        expected = {r for r, holder in TOURNAMENT_HOLDERS.items() if holder == name}
        assert held == expected, name
    assert not token.hasRole(token.MINTER_ROLE(), t)
    assert not token.hasRole(token.DEFAULT_ADMIN_ROLE(), t)


# ============================================================================ permits


def test_replayed_permit_is_refused(tournament, harness, token, owner, mallory):
    """A permit is single-use (its nonce): replaying it for a second stake fails with PermitFailed
    once the allowance it granted has been spent."""
    t, h = tournament, harness
    rnd = h.open_round()
    token.mint(mallory, nmr(20), sender=owner)
    deadline = h.now() + 3_600
    p = sign_token_permit(token, mallory, mallory.address, t.address, nmr(8), deadline)
    m = h.model_id("mmodel")
    t.stakeWithPermit(rnd.id, m, nmr(8), keccak(b"c"), deadline, p.v, p.r, p.s, sender=mallory)
    assert token.allowance(mallory, t) == 0
    with ape.reverts(t.PermitFailed):
        t.stakeWithPermit(rnd.id, m, nmr(8), keccak(b"c"), deadline, p.v, p.r, p.s, sender=mallory)
    # Replaying it on the token directly fails too (nonce used).
    with ape.reverts(token.ERC2612InvalidSigner):
        token.permit(mallory, t, nmr(8), deadline, p.v, p.r, p.s, sender=mallory)
    assert t.getStake(rnd.id, m, mallory)[0] == nmr(8)
    assert token.balanceOf(mallory) == nmr(12)


def test_a_permit_signed_by_a_wallet_account_stakes(tournament, harness, token, owner, tmp_path):
    """The CLI's path: an nmrstake wallet, decrypted once and held by ape's signer, signs the
    EIP-2612 permit itself, and stakeWithPermit accepts it in one transaction, no approval first."""
    from nmrstake.chain.signers import wallet_account
    from nmrstake.wallet import Keystore

    t, h = tournament, harness
    rnd = h.open_round()
    store = Keystore(tmp_path / "wallets", kdf="scrypt", iterations=2**4)
    address = store.create("walt", "pass")
    walt = wallet_account("walt", "pass", store=store)
    owner.transfer(address, 10**18)
    token.mint(address, nmr(20), sender=owner)
    deadline = h.now() + 3_600
    p = sign_token_permit(token, walt, address, t.address, nmr(8), deadline)
    m = h.model_id("wmodel")
    t.stakeWithPermit(rnd.id, m, nmr(8), keccak(b"c"), deadline, p.v, p.r, p.s, sender=walt)
    assert walt.address == address
    assert t.getStake(rnd.id, m, address)[0] == nmr(8) and token.balanceOf(address) == nmr(12)


def test_someone_elses_permit_cannot_move_their_tokens(tournament, harness, token, owner, stranger, mallory):
    """Mallory holds stranger's signed permit: submitting it through stakeWithPermit stakes nothing
    of stranger's (the permit is checked for the caller), and even after she front-runs it on the
    token, the tournament pulls only from the caller; stranger's tokens stay put."""
    t, h = tournament, harness
    rnd = h.open_round()
    token.mint(stranger, nmr(20), sender=owner)
    before = token.balanceOf(stranger)
    deadline = h.now() + 3_600
    p = sign_token_permit(token, stranger, stranger.address, t.address, nmr(8), deadline)
    m = h.model_id("mmodel")
    with ape.reverts(t.PermitFailed):
        t.stakeWithPermit(rnd.id, m, nmr(8), keccak(b"c"), deadline, p.v, p.r, p.s, sender=mallory)
    token.permit(stranger, t, nmr(8), deadline, p.v, p.r, p.s, sender=mallory)  # front-run
    assert token.allowance(stranger, t) == nmr(8)
    with ape.reverts():
        t.stake(rnd.id, m, nmr(8), keccak(b"c"), sender=mallory)  # pulls from mallory: no tokens
    assert token.balanceOf(stranger) == before
    assert t.getStake(rnd.id, m, mallory) == (0, bytes(20))
    # Stranger's own stake still goes through (test_tournament.py::test_stake_with_permit_front_run).
    t.stakeWithPermit(rnd.id, m, nmr(8), keccak(b"c"), deadline, p.v, p.r, p.s, sender=stranger)
    assert token.balanceOf(stranger) == before - nmr(8)


# ============================================================================ front-running claims


def test_front_run_claim_in_a_batch_pays_the_staker(tournament, harness, token, alice, bob, carol, treasury, mallory):
    """Mallory front-runs one entry of alice's claimMany: the batch reverts (all or nothing) but the
    front-run claim paid the staker, not mallory; alice resubmits the rest."""
    t, h = tournament, harness
    rnd = h.open_round()
    h.stake(alice, rnd, "amodel", nmr(10))
    h.stake(bob, rnd, "bmodel", nmr(10))
    h.fund(treasury, rnd, nmr(1))
    res = h.result(rnd, [("amodel", alice, nmr("0.2"), 0), ("bmodel", bob, 0, nmr("0.1"))])
    h.post_final(rnd, res)
    ia, ib = res.find(h.model_id("amodel"), alice), res.find(h.model_id("bmodel"), bob)
    bal_a, bal_b, bal_m = token.balanceOf(alice), token.balanceOf(bob), token.balanceOf(mallory)
    h.claim(res, ib, mallory)  # the front-runner
    with ape.reverts(t.NoStake):
        t.claimMany([res.claim_args(ia), res.claim_args(ib)], sender=alice)
    t.claimMany([res.claim_args(ia)], sender=alice)
    assert token.balanceOf(alice) == bal_a + nmr("10.2")
    assert token.balanceOf(bob) == bal_b + nmr("9.9")
    assert token.balanceOf(mallory) == bal_m


# ============================================================================ re-entrancy


@pytest.fixture
def evil(project, owner, alice, bob, oracle, manager, harness):
    """A tournament on ReentrantToken, whose every balance update calls back into the tournament."""
    tok = owner.deploy(project.ReentrantToken)
    t = owner.deploy(project.Tournament, tok, owner, 0, harness.CHALLENGE, harness.GRACE, harness.MAX_PAUSE)
    t.grantRole(t.MANAGER_ROLE(), manager, sender=owner)
    t.grantRole(t.ORACLE_ROLE(), oracle, sender=owner)
    for a in (alice, bob, owner):
        tok.mint(a, nmr(1_000), sender=a)
        tok.approve(t, 2**256 - 1, sender=a)
    return tok, t


def _reentry_failed(tok, calls_before):
    assert tok.hookCalls() > calls_before, "the hook did not run"
    assert not tok.lastHookOk(), "the re-entrant call succeeded"
    assert bytes(tok.lastHookResult())[:4] == REENTRANT, bytes(tok.lastHookResult()).hex()


def test_reentry_from_every_token_callback_fails(evil, harness, alice, bob, owner, oracle, manager):
    """Covers the entry points that test_tournament_claims.py::test_reentrant_* leave out:
    stakeWithPermit, fund, fundPool, finalise (the burn), claimMany, withdrawPool. In each, the
    token calls back into a nonReentrant function of the tournament and is refused
    (ReentrancyGuardReentrantCall) while the outer call completes with the right accounting."""
    tok, t = evil
    h = harness
    now = h.now()
    rid = t.lastRoundId() + 1
    t.openRound(rid, (now, now + 1_000, now + 2_000, 5_000, 20_000, 500, 0, nmr(1_000), nmr(1)), sender=manager)
    ma, mb = h.model_id("amodel"), h.model_id("bmodel")

    def hook(call):
        tok.setHook(t, call, sender=bob)
        return tok.hookCalls()

    n = hook(t.stake.encode_input(rid, ma, nmr(1), keccak(b"x")))
    t.stakeWithPermit(rid, ma, nmr(100), keccak(b"a"), 0, 27, ZERO32, ZERO32, sender=alice)  # allowance path
    _reentry_failed(tok, n)
    n = hook(t.fund.encode_input(rid, nmr(1)))
    t.fund(rid, nmr(10), sender=bob)
    _reentry_failed(tok, n)
    n = hook(t.fundPool.encode_input(nmr(1)))
    t.fundPool(nmr(20), sender=owner)
    _reentry_failed(tok, n)
    tok.setHook(ZERO_ADDRESS, b"", sender=bob)
    t.stake(rid, mb, nmr(100), keccak(b"b"), sender=bob)
    res = h.Result(rid, [(ma, alice.address, nmr(100), nmr(5), 0), (mb, bob.address, nmr(100), 0, nmr(5))])
    h.at(now + 2_000)
    t.postResult(rid, res.root, nmr(5), nmr(5), 2, ZERO32, sender=oracle)
    h.at(now + 2_000 + h.CHALLENGE)
    # finalise: the burn calls back into claim.
    n = hook(t.claim.encode_input(*res.claim_args(0)))
    t.finalise(rid, sender=bob)
    _reentry_failed(tok, n)
    assert t.getRound(rid).settled and t.getStake(rid, ma, alice)[0] == nmr(100)
    # claimMany: the transfer calls back into claimMany with the other leaf.
    n = hook(t.claimMany.encode_input([res.claim_args(1)]))
    bal = tok.balanceOf(alice)
    t.claimMany([res.claim_args(0)], sender=bob)
    _reentry_failed(tok, n)
    assert tok.balanceOf(alice) == bal + nmr(105)
    assert t.getStake(rid, mb, bob)[0] == nmr(100)  # bob's leaf was not claimed by the re-entry
    # withdrawPool: the transfer calls back into fundPool.
    n = hook(t.fundPool.encode_input(nmr(1)))
    pool = t.pool()
    t.withdrawPool(owner, nmr(1), sender=owner)
    _reentry_failed(tok, n)
    assert t.pool() == pool - nmr(1)
    # Books: stakes 200 - alice's 100 claimed... bob's 100 left, pool, nothing else.
    tok.setHook(ZERO_ADDRESS, b"", sender=bob)
    assert tok.balanceOf(t) == nmr(100) - nmr(5) + t.pool()


# ============================================================================ NMR sent by mistake


def test_nmr_sent_directly_is_locked_not_claimable(tournament, token, owner, treasury):
    """A plain transfer to the contract is not accounted for: it is not in the pool, nobody (the
    admin included) can withdraw it, and it never backs anyone's claim."""
    t = tournament
    pool = t.pool()
    held = token.balanceOf(t)
    token.transfer(t, nmr(5), sender=treasury)
    assert t.pool() == pool and token.balanceOf(t) == held + nmr(5)
    with ape.reverts(t.InsufficientPool):
        t.withdrawPool(owner, pool + 1, sender=owner)


# ============================================================================ a malicious or buggy oracle


def _two_stakers(h, alice, bob, treasury, clip=500):
    rnd = h.open_round(clip=clip)
    h.stake(alice, rnd, "amodel", nmr(100))
    h.stake(bob, rnd, "bmodel", nmr(10))
    h.fund(treasury, rnd, nmr(10))
    return rnd


def test_omitted_staker__locked_until_the_claim_window_ends__then_exits_with_no_more_than_its_leaf(
        tournament, harness, alice, bob, treasury, oracle):
    """What leafCount does not bound: a tree that leaves out bob (a bogus leaf keeps the count
    right). Posting succeeds; if nobody rejects it during the challenge period, bob's stake can be
    neither claimed (no leaf) nor withdrawn (the round is Final, not Expired). The guardian's
    rejection (`nmrstake verify` compares the published stakes with the chain) is the first line:
    test_tournament_claims.py::test_reject_then_repost. The second (N2): once the claim window
    (`gracePeriod` after finality) is over, bob exits with his stake less what an honest leaf could
    at most have burned (here the round burned nothing, so all of it), and alice's claim is intact."""
    t, h = tournament, harness
    rnd = _two_stakers(h, alice, bob, treasury)
    ma, mb = h.model_id("amodel"), h.model_id("bmodel")
    res = h.Result(rnd.id, [(ma, alice.address, nmr(100), nmr(1), 0),
                            (mb, oracle.address, nmr(10), 0, 0)])  # bob's leaf replaced
    h.at(rnd.resolve)
    t.postResult(rnd.id, res.root, nmr(1), 0, 2, ZERO32, sender=oracle)
    h.at(rnd.resolve + h.CHALLENGE)
    h.claim(res, 0, alice)
    with ape.reverts(t.InvalidProof):
        t.claim(rnd.id, mb, bob, 0, 0, res.tree.proof(1), sender=bob)
    h.at(rnd.expiry + 1)
    with ape.reverts(t.RoundNotExpired):
        t.emergencyWithdraw(rnd.id, mb, sender=bob)
    opens = rnd.resolve + h.CHALLENGE + h.GRACE
    with ape.reverts(t.ExitNotOpen):
        t.exitUnclaimed(rnd.id, mb, sender=bob)
    assert t.getStake(rnd.id, mb, bob)[0] == nmr(10)
    h.at(opens)
    before = h.token.balanceOf(bob)
    tx = t.exitUnclaimed(rnd.id, mb, sender=bob)
    assert h.token.balanceOf(bob) - before == nmr(10)
    assert tx.events.filter(t.StakeExited)[0].amountOut == nmr(10)
    info = t.getRound(rnd.id)
    assert info.claimed == info.claimable == nmr(111)
    with ape.reverts(t.NoStake):
        t.exitUnclaimed(rnd.id, mb, sender=bob)


def test_leaf_cannot_pay_more_than_its_clip(tournament, harness, alice, bob, treasury, oracle):
    t, h = tournament, harness
    rnd = _two_stakers(h, alice, bob, treasury)  # clip 5 %: bob (10 NMR) may win at most 0.5 NMR
    ma, mb = h.model_id("amodel"), h.model_id("bmodel")
    # Totals within every bound (0 payout, 0 burn); bob's leaf takes alice's 100 NMR.
    res = h.Result(rnd.id, [(ma, alice.address, nmr(100), 0, 0), (mb, bob.address, nmr(10), nmr(100), 0)])
    h.at(rnd.resolve)
    t.postResult(rnd.id, res.root, 0, 0, 2, ZERO32, sender=oracle)
    h.at(rnd.resolve + h.CHALLENGE)
    with ape.reverts(t.LeafExceedsClip):
        h.claim(res, 1, bob)  # found in this review: it paid bob 110 NMR and alice's claim failed
    h.claim(res, 0, alice)


def test_leaf_clip_bound_is_exact(tournament, harness, alice, bob, treasury, oracle):
    """An honest tree's extremes pass (payout = floor(stake*clip), burn = ceil(stake*clip)); one wei
    more payout, or one wei more burn, fails."""
    t, h = tournament, harness
    rnd = _two_stakers(h, alice, bob, treasury)
    ma, mb = h.model_id("amodel"), h.model_id("bmodel")
    a, b = t.getStake(rnd.id, ma, alice)[0], t.getStake(rnd.id, mb, bob)[0]
    clip = t.getRound(rnd.id).clipBps
    pay, burn = a * clip // 10_000, -(-b * clip // 10_000)
    cases = [(pay + 1, burn, False), (pay, burn + 1, False), (pay, burn, True)]
    for payout, burned, ok in cases:
        snap = ape.chain.snapshot()
        res = h.Result(rnd.id, [(ma, alice.address, a, payout, 0), (mb, bob.address, b, 0, burned)])
        h.at(rnd.resolve)
        t.postResult(rnd.id, res.root, min(payout, pay), min(burned, burn + 1), 2, ZERO32, sender=oracle)
        h.at(rnd.resolve + h.CHALLENGE)
        if ok:
            h.claim(res, 0, alice)
            h.claim(res, 1, bob)
            assert t.getStake(rnd.id, ma, alice)[0] == t.getStake(rnd.id, mb, bob)[0] == 0
        else:
            with ape.reverts(t.LeafExceedsClip):
                h.claim(res, 0 if payout > pay else 1, alice if payout > pay else bob)
        ape.chain.restore(snap)


def test_verify_catches_published_stakes_that_differ_from_the_chain(project, tmp_path):
    """What the contract cannot see: a folder that moves 5 NMR of stake from one staker to another
    (same count, same total, same commitments, so the contract and the daemon's own pre-posting
    checks accept it). Its leaves do not match the on-chain stakes, so once final those two
    stakers could never claim. `nmrstake verify` must flag it during the challenge period (it
    compares every stake's amount at close with results.csv; found in this review, since fixed)."""
    from pathlib import Path

    from helpers.scenario import (
        advance_to,
        deliver_targets,
        make_world,
        open_funded_round,
        stake_all,
        synth_round,
    )

    from nmrstake.daemon import EventLog
    from nmrstake.hashing import bytes32_from_hex
    from nmrstake.oracle import Oracle
    from nmrstake.results.evaluate import evaluate_round
    from nmrstake.results.publish import publish_round
    from nmrstake.results.read import load_published
    from nmrstake.results.spec import PredictionKey, RoundInputs, RoundStake
    from nmrstake.verify import verify_round

    world = make_world(project, tmp_path)
    rid = 31
    open_funded_round(world, rid)
    inputs = synth_round(tmp_path, rid, models=len(world.stakers))
    stake_all(world, rid, inputs)  # 10, 20 and 30 NMR
    info = world.client.round(rid)
    advance_to(info.resolve_time)
    deliver_targets(world, rid, inputs)
    layout, client = world.layout, world.client
    # A malicious (or buggy) oracle: 5 NMR of the first stake published as the second's.
    chain = sorted(client.stakes(rid), key=lambda s: s.amount)
    moved = {chain[0].staker: -5 * 10**18, chain[1].staker: 5 * 10**18}
    stakes = [RoundStake(s.model, s.staker, s.amount + moved.get(s.staker, 0), s.commitment) for s in chain]
    store = layout.store()
    predictions: dict[PredictionKey, Path] = {}
    for s in chain:
        upload = store.delivered(rid, s.model, s.staker, s.commitment, info.close_time)
        assert upload is not None  # stake_all delivered every stake's file
        predictions[(s.model, s.staker)] = upload.path
    targets = layout.targets_file(rid)
    assert targets is not None  # deliver_targets put it there
    round_inputs = RoundInputs(targets=targets, predictions=predictions)
    result = evaluate_round(rid, info.payout_params(), stakes, round_inputs)
    folder = publish_round(layout.results_dir, result, chain_id=client.provider.chain_id,
                           contract=client.tournament.address, inputs=round_inputs)
    # The daemon's own pre-posting checks (count, total, parameters) let it through.
    Oracle(client, world.oracle, layout, log=EventLog(out=lambda line: None)).post(client.round(rid))
    assert client.round(rid).root == bytes32_from_hex(load_published(folder).merkle_root), "not posted"
    # The folder's stakes differ from the chain's (its leaves would be unclaimable once final).
    by_staker = {r.staker.lower(): r for r in load_published(folder).rows}
    assert by_staker[chain[0].staker.lower()].stake != chain[0].amount, "the folder was not tampered with"
    # The guardian's tool must flag it during the challenge period.
    report = verify_round(client, rid, folder)
    assert not report.ok, "verify_round accepted stakes that differ from the chain"
    assert any("stake amounts differ" in d for d in report.differences), report.differences


# ============================================================================ compromised operators


def test_compromised_manager_cannot_touch_stakes_or_the_pool(tournament, harness, token, manager, alice, treasury):
    """The manager opens rounds and moves pool money into rounds (before their posting). It cannot
    take anything out: every exit path is the admin's (pool) or the stakers' (claims, exits)."""
    t, h = tournament, harness
    t.fundPool(nmr(5), sender=treasury)
    rnd = h.open_round()
    h.stake(alice, rnd, "amodel", nmr(10))
    bal = token.balanceOf(manager)
    t.allocate(rnd.id, t.pool(), sender=manager)
    for call in (
        lambda: t.withdrawPool(manager, 1, sender=manager),
        lambda: t.claim(rnd.id, h.model_id("amodel"), alice, 0, 0, [], sender=manager),
        lambda: t.emergencyWithdraw(rnd.id, h.model_id("amodel"), sender=manager),
        lambda: t.postResult(rnd.id, b"\x01" * 32, 0, 0, 1, ZERO32, sender=manager),
        lambda: t.rejectResult(rnd.id, "x", sender=manager),
        lambda: t.grantRole(t.ORACLE_ROLE(), manager, sender=manager),
    ):
        with ape.reverts():
            call()
    assert token.balanceOf(manager) == bal


def test_compromised_manager_can_exhaust_round_ids(project, owner, token, harness, manager):
    """Documented limit (docs/security.md, finding F3): round ids only have to increase, so a
    compromised manager can open round 2**256 - 1, after which no round can ever be opened on this
    deployment. Stakes and funds are not at risk; the remedy is a new deployment."""
    h = harness
    t = owner.deploy(project.Tournament, token, owner, 0, h.CHALLENGE, h.GRACE, h.MAX_PAUSE)
    t.grantRole(t.MANAGER_ROLE(), manager, sender=owner)
    now = h.now()
    params = (now, now + 10, now + 20, 0, 0, 500, 0, nmr(1), nmr(1))
    t.openRound(2**256 - 1, params, sender=manager)
    with ape.reverts(t.RoundIdNotIncreasing):
        t.openRound(2**256 - 1, params, sender=manager)


def test_pauser_cannot_block_the_posting_window(tournament, harness, pauser, alice, oracle):
    """With the deployed shape of parameters (maxPauseDuration <= gracePeriod - challengePeriod),
    a pauser pausing at resolveTime cannot make the round expire: the pause ends by itself, the
    cool-down forbids a new one, and the oracle posts before the last posting second."""
    t, h = tournament, harness
    assert h.MAX_PAUSE <= h.GRACE - h.CHALLENGE
    rnd = h.open_round()
    h.stake(alice, rnd, "amodel", nmr(10))
    res = h.result(rnd, [("amodel", alice, 0, 0)])
    h.at(rnd.resolve)
    t.pause(sender=pauser)
    with ape.reverts(t.EnforcedPause):
        h.post(rnd, res, at=rnd.resolve + h.MAX_PAUSE - 1)
    h.at(rnd.resolve + h.MAX_PAUSE)
    with ape.reverts(t.PauseCooldown):
        t.pause(sender=pauser)
    # (a reverted transaction is mined on the embedded chain: the next one is a second later)
    h.post(rnd, res, at=rnd.resolve + h.MAX_PAUSE + 1)
    assert rnd.resolve + h.MAX_PAUSE + 1 < rnd.last_post
    assert t.roundState(rnd.id) == 4  # Posted


def test_a_pause_can_never_cover_the_posting_window(project, owner, token):
    """Finding F4, fixed: the constructor refuses maxPauseDuration > gracePeriod - challengePeriod,
    so one pause (and the cool-down forbids chaining them) cannot make a round expire."""
    with ape.reverts():
        owner.deploy(project.Tournament, token, owner, 0, 100, 1_000, 901)  # window: 900 s
    t = owner.deploy(project.Tournament, token, owner, 0, 100, 1_000, 900)
    assert t.maxPauseDuration() == 900


def test_compromised_admin_is_bounded(tournament, harness, token, owner, alice, treasury):
    """The admin (guardian) can grant itself any role, so a compromised admin is also a
    compromised oracle, manager and pauser (docs/security.md). Its own powers stop at the pool:
    it cannot withdraw stakes or round funding, and it cannot reject a final result."""
    t, h = tournament, harness
    rnd = h.open_round()
    h.stake(alice, rnd, "amodel", nmr(10))
    h.fund(treasury, rnd, nmr(2))
    with ape.reverts(t.InsufficientPool):
        t.withdrawPool(owner, t.pool() + 1, sender=owner)
    t.grantRole(t.ORACLE_ROLE(), owner, sender=owner)
    res = h.result(rnd, [("amodel", alice, 0, 0)])
    h.at(rnd.resolve)
    # As oracle it is bound by the same checks: at most clip x stake paid out.
    with ape.reverts(t.PayoutExceedsClip):
        t.postResult(rnd.id, res.root, nmr("0.5") + 1, 0, 1, ZERO32, sender=owner)
    tx = t.postResult(rnd.id, res.root, 0, 0, 1, ZERO32, sender=owner)
    h.at(h.chain.blocks[tx.block_number].timestamp + h.CHALLENGE)
    with ape.reverts(t.NotInChallengePeriod):
        t.rejectResult(rnd.id, "too late", sender=owner)
    t.revokeRole(t.ORACLE_ROLE(), owner, sender=owner)
