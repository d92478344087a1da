"""Tournament: results (posting, rejection, finality), settlement, claims, emergency exits,
re-entrancy. Fixtures and the `harness` helper: conftest.py."""

from __future__ import annotations

import ape
import pytest
from eth_abi import encode
from eth_utils import keccak
from helpers.harness import nmr  # noqa: E402

ZERO32 = b"\x00" * 32
ZERO20 = b"\x00" * 20
STATES = ["None", "Scheduled", "Open", "Closed", "Posted", "Final", "Expired"]
REENTRANT_SELECTOR = keccak(b"ReentrancyGuardReentrantCall()")[:4]


def state(tour, rnd) -> str:
    return STATES[tour.roundState(rnd.id)]


def ts(h, tx) -> int:
    return h.chain.blocks[tx.block_number].timestamp


@pytest.fixture
def game(tournament, harness, alice, bob, carol, treasury):
    """A round with three stakes (alice 100, bob 50, carol 20 NMR), 10 NMR of funding, closed.
    Result: alice wins 3 NMR, bob loses 2 NMR, carol breaks even."""
    h = harness
    rnd = h.open_round()
    h.stake(alice, rnd, "amodel", nmr(100))
    h.stake(bob, rnd, "bmodel", nmr(50))
    h.stake(carol, rnd, "cmodel", nmr(20))
    h.fund(treasury, rnd, nmr(10))
    res = h.result(rnd, [
        ("amodel", alice, nmr(3), 0),
        ("bmodel", bob, 0, nmr(2)),
        ("cmodel", carol, 0, 0),
    ])
    return rnd, res


# ============================================================================ posting


def test_post_result_records_and_emits(tournament, harness, game, oracle):
    t, h = tournament, harness
    rnd, res = game
    tx = h.post(rnd, res, at=rnd.resolve + 7, results_hash=keccak(b"manifest"))
    posted = ts(h, tx)
    ev = tx.events.filter(t.ResultPosted)[0]
    assert ev.roundId == rnd.id and ev.root == res.root
    assert (ev.totalPayout, ev.totalBurn, ev.leafCount) == (nmr(3), nmr(2), 3)
    assert ev.resultsHash == keccak(b"manifest") and ev.finalAt == posted + h.CHALLENGE
    r = t.getRound(rnd.id)
    assert r.root == res.root and r.resultsHash == keccak(b"manifest")
    assert (r.totalPayout, r.totalBurn, r.postedAt) == (nmr(3), nmr(2), posted)
    assert r.claimable == nmr(170) - nmr(2) + nmr(3)
    assert state(t, rnd) == "Posted"


def test_post_time_boundaries(tournament, harness, game):
    t, h = tournament, harness
    rnd, res = game
    h.at(rnd.resolve - 1)
    with ape.reverts(t.PostingTooEarly, roundId=rnd.id, resolveTime=rnd.resolve):
        h.post(rnd, res, at=rnd.resolve - 1)
    h.post(rnd, res, at=rnd.resolve)


def test_post_last_second(tournament, harness, alice):
    t, h = tournament, harness
    rnd = h.open_round()
    h.stake(alice, rnd, "amodel", nmr(10))
    res = h.result(rnd, [("amodel", alice, 0, 0)])
    assert rnd.last_post == rnd.resolve + h.GRACE - h.CHALLENGE
    h.post(rnd, res, at=rnd.last_post)
    # Final exactly when the round would otherwise expire.
    h.view_at(rnd.expiry - 1)
    assert state(t, rnd) == "Posted"
    h.view_at(rnd.expiry)
    assert state(t, rnd) == "Final"


def test_post_too_late(tournament, harness, alice):
    t, h = tournament, harness
    rnd = h.open_round()
    h.stake(alice, rnd, "amodel", nmr(10))
    res = h.result(rnd, [("amodel", alice, 0, 0)])
    with ape.reverts(t.PostingTooLate, roundId=rnd.id, lastPostTime=rnd.last_post):
        h.post(rnd, res, at=rnd.last_post + 1)


def test_post_result_validation(tournament, harness, game, oracle, alice):
    t, h = tournament, harness
    rnd, res = game
    h.at(rnd.resolve)
    root, hsh = res.root, keccak(b"m")
    staked = nmr(170)
    clipped = staked * 500 // 10_000  # 8.5 NMR
    with ape.reverts(t.ZeroRoot):
        t.postResult(rnd.id, ZERO32, 0, 0, 3, hsh, sender=oracle)
    with ape.reverts(t.LeafCountMismatch, leafCount=2, stakeCount=3):
        t.postResult(rnd.id, root, 0, 0, 2, hsh, sender=oracle)
    with ape.reverts(t.LeafCountMismatch, leafCount=4, stakeCount=3):
        t.postResult(rnd.id, root, 0, 0, 4, hsh, sender=oracle)
    with ape.reverts(t.PayoutExceedsFunding, totalPayout=nmr(10) + 1, funded=nmr(10)):
        t.postResult(rnd.id, root, nmr(10) + 1, 0, 3, hsh, sender=oracle)
    with ape.reverts(t.BurnExceedsTotalStake, totalBurn=staked + 1, totalStaked=staked):
        t.postResult(rnd.id, root, 0, staked + 1, 3, hsh, sender=oracle)
    with ape.reverts(t.PayoutExceedsClip, totalPayout=clipped + 1, maxPayout=clipped):
        t.postResult(rnd.id, root, clipped + 1, 0, 3, hsh, sender=oracle)
    with ape.reverts(t.BurnExceedsClip, totalBurn=clipped + 4, maxBurn=clipped + 3):
        t.postResult(rnd.id, root, 0, clipped + 4, 3, hsh, sender=oracle)
    with ape.reverts(t.UnknownRound, roundId=rnd.id + 1):
        t.postResult(rnd.id + 1, root, 0, 0, 0, hsh, sender=oracle)
    # Exactly at the bounds: accepted (burns may round up by 1 wei per stake).
    t.postResult(rnd.id, root, clipped, clipped + 3, 3, hsh, sender=oracle)
    with ape.reverts(t.ResultAlreadyPosted, roundId=rnd.id):
        t.postResult(rnd.id, root, 0, 0, 3, hsh, sender=oracle)


def test_post_empty_round_then_finalise_returns_funding(tournament, harness, treasury, oracle):
    t, h = tournament, harness
    rnd = h.open_round()
    h.fund(treasury, rnd, nmr(4))
    h.at(rnd.resolve)
    with ape.reverts(t.PayoutExceedsClip):
        t.postResult(rnd.id, b"\x01" * 32, 1, 0, 0, ZERO32, sender=oracle)
    tx = t.postResult(rnd.id, b"\x01" * 32, 0, 0, 0, ZERO32, sender=oracle)
    h.at(ts(h, tx) + h.CHALLENGE)
    tx = t.finalise(rnd.id, sender=treasury)
    ev = tx.events.filter(t.Settled)[0]
    assert (ev.burned, ev.returnedToPool, ev.expired) == (0, nmr(4), False)
    assert t.pool() == nmr(4)


def test_reject_then_repost(tournament, harness, game, owner, alice, bob):
    t, h = tournament, harness
    rnd, res = game
    bad = h.result(rnd, [("amodel", alice, nmr(8), 0), ("bmodel", bob, 0, 0), ("cmodel", h.oracle, 0, 0)])
    # (the third leaf is bogus: a wrong staker; the guardian notices)
    tx = h.post(rnd, bad)
    posted = ts(h, tx)
    h.at(posted + h.CHALLENGE - 1)
    tx = t.rejectResult(rnd.id, "alice's payout is wrong", sender=owner)
    ev = tx.events.filter(t.ResultRejected)[0]
    assert (ev.roundId, ev.root, ev.reason) == (rnd.id, bad.root, "alice's payout is wrong")
    r = t.getRound(rnd.id)
    assert r.root == ZERO32 and r.postedAt == 0 and r.totalPayout == 0 and r.totalBurn == 0
    assert r.claimable == 0 and r.resultsHash == ZERO32
    assert state(t, rnd) == "Closed"
    # The corrected result: posted, final after a fresh challenge period, claimable.
    tx = h.post(rnd, res, at=posted + h.CHALLENGE)
    reposted = ts(h, tx)
    h.at(reposted + h.CHALLENGE)
    h.claim(res, res.find(h.model_id("amodel"), alice), alice)
    i = res.find(h.model_id("bmodel"), bob)
    with ape.reverts(t.InvalidProof):
        t.claim(rnd.id, h.model_id("bmodel"), bob, 0, 0, bad.tree.proof(1), sender=bob)
    h.claim(res, i, bob)


def test_reject_boundaries_and_finality(tournament, harness, game, owner):
    t, h = tournament, harness
    rnd, res = game
    with ape.reverts(t.NotInChallengePeriod, roundId=rnd.id):
        t.rejectResult(rnd.id, "nothing posted", sender=owner)
    tx = h.post(rnd, res)
    posted = ts(h, tx)
    h.at(posted + h.CHALLENGE)
    with ape.reverts(t.NotInChallengePeriod, roundId=rnd.id):
        t.rejectResult(rnd.id, "too late", sender=owner)
    # A final result can never change.
    with ape.reverts(t.ResultAlreadyPosted, roundId=rnd.id):
        h.post(rnd, res, at=posted + h.CHALLENGE + 1)
    assert t.getRound(rnd.id).root == res.root


def test_reject_works_while_paused(tournament, harness, game, owner, pauser):
    t, h = tournament, harness
    rnd, res = game
    h.post(rnd, res)
    t.pause(sender=pauser)
    t.rejectResult(rnd.id, "paused, still rejectable", sender=owner)
    assert state(t, rnd) == "Closed"


def test_rejected_round_expires_and_stakers_exit(tournament, harness, game, owner, alice, token):
    t, h = tournament, harness
    rnd, res = game
    h.post(rnd, res, at=rnd.last_post - 1)
    h.at(rnd.last_post)
    t.rejectResult(rnd.id, "wrong", sender=owner)
    with ape.reverts(t.PostingTooLate):
        h.post(rnd, res, at=rnd.last_post + 1)
    h.view_at(rnd.expiry)
    assert state(t, rnd) == "Expired"
    bal = token.balanceOf(alice)
    t.emergencyWithdraw(rnd.id, h.model_id("amodel"), sender=alice)
    assert token.balanceOf(alice) == bal + nmr(100)


# ============================================================================ settlement


def test_finalise_burns_and_returns_unused_funding(tournament, harness, game, token, stranger):
    t, h = tournament, harness
    rnd, res = game
    tx = h.post(rnd, res)
    posted = ts(h, tx)
    h.at(posted + h.CHALLENGE - 1)
    with ape.reverts(t.RoundNotFinal, roundId=rnd.id):
        t.finalise(rnd.id, sender=stranger)
    supply, held = token.totalSupply(), token.balanceOf(t)
    h.at(posted + h.CHALLENGE)
    tx = t.finalise(rnd.id, sender=stranger)  # anyone
    ev = tx.events.filter(t.Settled)[0]
    assert (ev.roundId, ev.burned, ev.returnedToPool, ev.expired) == (rnd.id, nmr(2), nmr(7), False)
    assert token.totalSupply() == supply - nmr(2)
    assert token.balanceOf(t) == held - nmr(2)
    assert t.pool() == nmr(7)
    r = t.getRound(rnd.id)
    assert r.settled and r.funded == nmr(10)
    with ape.reverts(t.AlreadySettled, roundId=rnd.id):
        t.finalise(rnd.id, sender=stranger)
    # What remains for the round is exactly what its claims will pay.
    assert token.balanceOf(t) - t.pool() == nmr(170) - nmr(2) + nmr(3)


def test_finalise_needs_final_or_expired(tournament, game, stranger):
    t = tournament
    rnd, res = game
    with ape.reverts(t.RoundNotFinal, roundId=rnd.id):
        t.finalise(rnd.id, sender=stranger)  # Closed
    with ape.reverts(t.RoundNotFinal, roundId=rnd.id + 1):
        t.finalise(rnd.id + 1, sender=stranger)  # None


def test_finalise_expired_round_returns_all_funding(tournament, harness, game, alice, token, stranger):
    t, h = tournament, harness
    rnd, _res = game
    h.at(rnd.expiry - 1)
    with ape.reverts(t.RoundNotFinal):
        t.finalise(rnd.id, sender=stranger)
    h.at(rnd.expiry)
    supply = token.totalSupply()
    tx = t.finalise(rnd.id, sender=stranger)
    ev = tx.events.filter(t.Settled)[0]
    assert (ev.burned, ev.returnedToPool, ev.expired) == (0, nmr(10), True)
    assert t.pool() == nmr(10) and token.totalSupply() == supply
    assert t.getRound(rnd.id).settled
    # Stakes are still there for their owners.
    t.emergencyWithdraw(rnd.id, h.model_id("amodel"), sender=alice)
    assert token.balanceOf(t) == nmr(10) + nmr(70)


def test_first_claim_settles_lazily(tournament, harness, game, token, alice, carol):
    t, h = tournament, harness
    rnd, res = game
    h.post_final(rnd, res)
    supply = token.totalSupply()
    tx = h.claim(res, res.find(h.model_id("cmodel"), carol), carol)
    ev = tx.events.filter(t.Settled)[0]
    assert (ev.burned, ev.returnedToPool) == (nmr(2), nmr(7))
    assert token.totalSupply() == supply - nmr(2)
    assert t.getRound(rnd.id).settled
    # The next claim does not settle again.
    tx = h.claim(res, res.find(h.model_id("amodel"), alice), carol)
    assert not tx.events.filter(t.Settled)


# ============================================================================ claims


def test_claims_pay_stake_minus_burn_plus_payout(tournament, harness, game, token, alice, bob, carol, stranger):
    t, h = tournament, harness
    rnd, res = game
    h.post_final(rnd, res)
    expected = {"amodel": (alice, nmr(103)), "bmodel": (bob, nmr(48)), "cmodel": (carol, nmr(20))}
    for name, (acct, amount) in expected.items():
        i = res.find(h.model_id(name), acct)
        bal = token.balanceOf(acct)
        tx = h.claim(res, i, stranger)  # anyone submits, the staker is paid
        ev = tx.events.filter(t.Claimed)[0]
        assert (ev.roundId, ev.modelId, ev.staker) == (rnd.id, h.model_id(name), acct.address)
        assert (ev.payout, ev.burn) == res.entries[i][3:]
        assert ev.amountSent == amount and ev.caller == stranger.address
        assert token.balanceOf(acct) == bal + amount
        # The claim clears the stake's one slot, commitment prefix included (its refund).
        assert t.getStake(rnd.id, h.model_id(name), acct) == (0, ZERO20)
    r = t.getRound(rnd.id)
    assert r.claimed == r.claimable == nmr(171)
    assert token.balanceOf(t) == t.pool() == nmr(7)


def test_claim_only_when_final(tournament, harness, game, alice):
    t, h = tournament, harness
    rnd, res = game
    i = res.find(h.model_id("amodel"), alice)
    with ape.reverts(t.RoundNotFinal, roundId=rnd.id):
        h.claim(res, i, alice)  # Closed
    tx = h.post(rnd, res)
    posted = ts(h, tx)
    h.at(posted + h.CHALLENGE - 1)
    with ape.reverts(t.RoundNotFinal, roundId=rnd.id):
        h.claim(res, i, alice)  # Posted, last second
    h.at(posted + h.CHALLENGE)
    h.claim(res, i, alice)


def test_double_claim_and_never_staked_both_revert_no_stake(tournament, harness, game, alice, stranger):
    """A claimed stake's slot is cleared, so a second claim and the claim of a key that never
    staked revert alike (`NoStake`); the key's `Claimed` event is what tells them apart."""
    t, h = tournament, harness
    rnd, res = game
    h.post_final(rnd, res)
    m = h.model_id("amodel")
    i = res.find(m, alice)
    tx = h.claim(res, i, alice)
    assert t.getStake(rnd.id, m, alice) == t.getStake(rnd.id, m, stranger) == (0, ZERO20)
    with ape.reverts(t.NoStake, roundId=rnd.id, modelId=m, staker=alice.address):
        h.claim(res, i, alice)
    with ape.reverts(t.NoStake, roundId=rnd.id, modelId=m, staker=stranger.address):
        t.claim(rnd.id, m, stranger, 0, 0, [], sender=stranger)
    claimed = t.Claimed.range(tx.block_number, ape.chain.blocks.height + 1)
    assert [(ev.modelId, ev.staker) for ev in claimed] == [(m, alice.address)]


def test_forged_proofs_fail(tournament, harness, game, alice, bob):
    t, h = tournament, harness
    rnd, res = game
    h.post_final(rnd, res)
    ia, ib = res.find(h.model_id("amodel"), alice), res.find(h.model_id("bmodel"), bob)
    m = h.model_id("amodel")
    proof = res.tree.proof(ia)
    for payout, burn, prf in (
        (nmr(3) + 1, 0, proof),  # inflated payout
        (nmr(3), 0, proof[:-1]),  # truncated proof
        (nmr(3), 0, []),  # no proof
        (nmr(3), 0, proof + [b"\x01" * 32]),  # extra element
        (nmr(3), 0, res.tree.proof(ib)),  # someone else's proof
        (0, nmr(2), res.tree.proof(ib)),  # bob's payout/burn and proof, alice's key
    ):
        with ape.reverts(t.InvalidProof):
            t.claim(rnd.id, m, alice, payout, burn, prf, sender=alice)
    # Bob's leaf for a key alice never staked.
    with ape.reverts(t.NoStake):
        t.claim(rnd.id, h.model_id("bmodel"), alice, 0, nmr(2), res.tree.proof(ib), sender=bob)
    h.claim(res, ia, alice)


def test_proof_for_another_stakers_leaf_fails(tournament, harness, alice, bob, treasury):
    """Alice and bob stake the same amount on the same model: bob's (winning) leaf and proof
    cannot be claimed for alice, nor alice's for bob."""
    t, h = tournament, harness
    rnd = h.open_round()
    h.stake(alice, rnd, "shared", nmr(10))
    h.stake(bob, rnd, "shared", nmr(10))
    h.fund(treasury, rnd, nmr(1))
    res = h.result(rnd, [("shared", alice, 0, nmr("0.5")), ("shared", bob, nmr("0.5"), 0)])
    h.post_final(rnd, res)
    m = h.model_id("shared")
    ia, ib = res.find(m, alice), res.find(m, bob)
    with ape.reverts(t.InvalidProof):
        t.claim(rnd.id, m, alice, nmr("0.5"), 0, res.tree.proof(ib), sender=alice)
    with ape.reverts(t.InvalidProof):
        t.claim(rnd.id, m, bob, 0, nmr("0.5"), res.tree.proof(ia), sender=bob)
    h.claim(res, ia, alice)
    h.claim(res, ib, bob)


def test_leaf_of_another_round_fails(tournament, harness, game, alice, bob, carol, oracle):
    t, h = tournament, harness
    rnd, res = game
    # A second round with the same stakers, models and stakes ...
    rnd2 = h.open_round()
    for name, acct, amount in (("amodel", alice, 100), ("bmodel", bob, 50), ("cmodel", carol, 20)):
        h.stake(acct, rnd2, name, nmr(amount))
    h.fund(carol, rnd2, nmr(10))
    # ... posted (by mistake or malice) with round 1's root: no leaf of round 1 claims in round 2.
    h.at(max(rnd.resolve, rnd2.resolve))
    t.postResult(rnd.id, res.root, res.total_payout, res.total_burn, 3, ZERO32, sender=oracle)
    tx = t.postResult(rnd2.id, res.root, res.total_payout, res.total_burn, 3, ZERO32, sender=oracle)
    h.at(ts(h, tx) + h.CHALLENGE)
    i = res.find(h.model_id("amodel"), alice)
    _rid, m, s, payout, burn, proof = res.claim_args(i)
    with ape.reverts(t.InvalidProof):
        t.claim(rnd2.id, m, s, payout, burn, proof, sender=alice)
    h.claim(res, i, alice)  # in its own round it works


def test_leaf_hash_matches_standard_merkle_tree(tournament, harness, alice):
    t, h = tournament, harness
    m = h.model_id("amodel")
    values = [5, m, alice.address, nmr(100), nmr(3), 7]
    inner = encode(["uint256", "bytes32", "address", "uint256", "uint256", "uint256"], values)
    assert t.leafHash(*values) == keccak(keccak(inner)) == h.leaf(*values)
    assert t.leafHash(*values) != keccak(inner)


def test_inner_node_cannot_pass_as_leaf(tournament, harness, alice, bob, carol, treasury):
    """The 64-byte confusion: in a tree of single-hashed 64-byte leaves, an inner node (hash of its
    two 32-byte children) could pass as a leaf. Here leaves are double-hashed 192-byte encodings,
    so (1) an inner node with the rest of the path never verifies as a leaf, and (2) claiming with
    values whose single hash is the leaf fails too."""
    t, h = tournament, harness
    rnd = h.open_round(clip=10_000)
    names = [("amodel", alice), ("bmodel", bob), ("cmodel", carol), ("dmodel", alice)]
    for name, acct in names:
        h.stake(acct, rnd, name, nmr(10))
    h.fund(treasury, rnd, nmr(10))
    res = h.result(rnd, [(n, a, nmr(1), 0) for n, a in names])
    h.post_final(rnd, res)
    i = res.find(h.model_id("amodel"), alice)
    proof = res.tree.proof(i)
    assert res.tree.nodes[res.tree.index[i]] == h.leaf(rnd.id, h.model_id("amodel"), alice.address, nmr(10), nmr(1), 0)
    # The sibling pair of the leaf is an inner node one level up; its two children as 64 bytes.
    j = res.tree.index[i]
    a, b = res.tree.nodes[j], res.tree.nodes[j + 1 if j % 2 == 1 else j - 1]
    pair = min(a, b) + max(a, b)
    parent = keccak(pair)
    assert parent == res.tree.nodes[(j - 1) // 2]
    # (1) the parent with the rest of the proof is a valid path to the root, but the contract
    #     only ever hashes typed values into a leaf, so no claim can present `parent` as a leaf:
    #     any values give keccak(keccak(192 bytes)) and the shortened proof fails.
    with ape.reverts(t.InvalidProof):
        t.claim(rnd.id, h.model_id("amodel"), alice, nmr(1), 0, proof[1:], sender=alice)
    # (2) a leaf is keccak(keccak(192 bytes)): the outer hash input is 32 bytes, never the
    #     64-byte pair of an inner node.
    assert t.leafHash(rnd.id, h.model_id("amodel"), alice, nmr(10), nmr(1), 0) == a
    assert keccak(keccak(pair)) != parent
    h.claim(res, i, alice)


def test_burn_above_stake_rejected(tournament, harness, alice, bob, treasury, oracle):
    """A buggy tree with a leaf burning more than the stake cannot be claimed."""
    t, h = tournament, harness
    rnd = h.open_round(clip=10_000)
    h.stake(alice, rnd, "amodel", nmr(10))
    h.stake(bob, rnd, "bmodel", nmr(10))
    entries = [(h.model_id("amodel"), alice.address, nmr(10), 0, nmr(11)),
               (h.model_id("bmodel"), bob.address, nmr(10), 0, 0)]
    res = h.Result(rnd.id, entries)
    h.at(rnd.resolve)
    t.postResult(rnd.id, res.root, 0, nmr(11), 2, ZERO32, sender=oracle)
    h.at(rnd.resolve + h.CHALLENGE)
    with ape.reverts(t.BurnExceedsStake, burn=nmr(11), stake=nmr(10)):
        h.claim(res, 0, alice)


def test_zero_out_claim_sends_nothing(tournament, harness, alice, bob, token):
    t, h = tournament, harness
    rnd = h.open_round(clip=10_000)
    h.stake(alice, rnd, "amodel", nmr(10))
    res = h.result(rnd, [("amodel", alice, 0, nmr(10))])
    h.post_final(rnd, res)
    bal = token.balanceOf(alice)
    tx = h.claim(res, 0, bob)
    assert tx.events.filter(t.Claimed)[0].amountSent == 0
    assert token.balanceOf(alice) == bal
    assert t.getStake(rnd.id, h.model_id("amodel"), alice)[0] == 0
    with ape.reverts(t.NoStake):
        h.claim(res, 0, bob)


def test_buggy_tree_cannot_take_other_rounds_money(tournament, harness, alice, bob, carol, treasury, oracle, token):
    """The tree's leaves pay more than the posted totals allow: claims stop at the round's own
    `claimable`; another round's stakes and funding stay intact."""
    t, h = tournament, harness
    other = h.open_round()
    h.stake(carol, other, "cmodel", nmr(50))
    h.fund(treasury, other, nmr(5))
    rnd = h.open_round(clip=1000)  # 10 %: each leaf below is within its own clip
    h.stake(alice, rnd, "amodel", nmr(10))
    h.stake(bob, rnd, "bmodel", nmr(10))
    h.fund(treasury, rnd, nmr(1))
    # Leaves: each pays 1 NMR (2 in total) but the posted totalPayout is 1 NMR.
    entries = [(h.model_id("amodel"), alice.address, nmr(10), nmr(1), 0),
               (h.model_id("bmodel"), bob.address, nmr(10), nmr(1), 0)]
    res = h.Result(rnd.id, entries)
    h.at(max(rnd.resolve, other.resolve))
    t.postResult(rnd.id, res.root, nmr(1), 0, 2, ZERO32, sender=oracle)
    h.at(max(rnd.resolve, other.resolve) + h.CHALLENGE)
    h.claim(res, 0, alice)
    with ape.reverts(t.ClaimExceedsRound, roundId=rnd.id, claimed=nmr(22), claimable=nmr(21)):
        h.claim(res, 1, bob)
    assert t.getRound(rnd.id).claimed == nmr(11)
    # The other round: still fully backed.
    assert token.balanceOf(t) == nmr(10) + nmr(50) + nmr(5)
    ores = h.result(other, [("cmodel", carol, nmr(2), 0)])
    h.post(other, ores, at=h.now())
    h.at(h.now() + h.CHALLENGE)
    bal = token.balanceOf(carol)
    h.claim(ores, 0, carol)
    assert token.balanceOf(carol) == bal + nmr(52)


def test_claim_many(tournament, harness, game, token, alice, bob, carol, treasury, stranger):
    t, h = tournament, harness
    rnd, res = game
    rnd2 = h.open_round()
    h.stake(alice, rnd2, "amodel", nmr(40))
    h.stake(alice, rnd2, "zmodel", nmr(30))
    h.fund(treasury, rnd2, nmr(5))
    res2 = h.result(rnd2, [("amodel", alice, nmr(1), 0), ("zmodel", alice, 0, nmr(1))])
    h.at(max(rnd.resolve, rnd2.resolve))
    for r, x in ((rnd, res), (rnd2, res2)):
        tx = t.postResult(r.id, x.root, x.total_payout, x.total_burn, len(x.entries), ZERO32, sender=h.oracle)
    h.at(ts(h, tx) + h.CHALLENGE)
    claims = [res.claim_args(i) for i in range(3)] + [res2.claim_args(i) for i in range(2)]
    before = {a.address: token.balanceOf(a) for a in (alice, bob, carol)}
    # One bad entry spoils the batch.
    bad = list(claims)
    bad[4] = (rnd2.id, res2.entries[1][0], alice.address, 0, 0, res2.tree.proof(1))
    with ape.reverts(t.InvalidProof):
        t.claimMany(bad, sender=stranger)
    tx = t.claimMany(claims, sender=stranger)
    assert len(tx.events.filter(t.Claimed)) == 5
    assert len(tx.events.filter(t.Settled)) == 2
    assert token.balanceOf(alice) == before[alice.address] + nmr(103) + nmr(41) + nmr(29)
    assert token.balanceOf(bob) == before[bob.address] + nmr(48)
    assert token.balanceOf(carol) == before[carol.address] + nmr(20)
    with ape.reverts(t.NoStake):
        t.claimMany(claims[:1], sender=stranger)
    t.claimMany([], sender=stranger)


# ============================================================================ emergency exit


def test_emergency_withdraw_boundaries(tournament, harness, game, token, alice, bob, stranger, pauser):
    t, h = tournament, harness
    rnd, _res = game
    m = h.model_id("amodel")
    t.pause(sender=pauser)  # exits work even while paused (the pause outlasts the test)
    h.at(rnd.expiry - 1)
    with ape.reverts(t.RoundNotExpired, roundId=rnd.id):
        t.emergencyWithdraw(rnd.id, m, sender=alice)
    h.at(rnd.expiry)
    bal = token.balanceOf(alice)
    tx = t.emergencyWithdraw(rnd.id, m, sender=alice)
    ev = tx.events.filter(t.EmergencyWithdrawal)[0]
    assert (ev.roundId, ev.modelId, ev.staker, ev.amount) == (rnd.id, m, alice.address, nmr(100))
    assert token.balanceOf(alice) == bal + nmr(100)
    assert t.getStake(rnd.id, m, alice)[0] == 0
    assert t.getRound(rnd.id).claimed == nmr(100)
    with ape.reverts(t.NoStake):
        t.emergencyWithdraw(rnd.id, m, sender=alice)
    with ape.reverts(t.NoStake):
        t.emergencyWithdraw(rnd.id, m, sender=stranger)
    t.emergencyWithdraw(rnd.id, h.model_id("bmodel"), sender=bob)


def test_emergency_withdraw_not_for_final_rounds(tournament, harness, game, alice):
    t, h = tournament, harness
    rnd, res = game
    h.post_final(rnd, res)
    h.at(rnd.expiry + 1)
    with ape.reverts(t.RoundNotExpired, roundId=rnd.id):
        t.emergencyWithdraw(rnd.id, h.model_id("amodel"), sender=alice)


# ============================================================================ re-entrancy


@pytest.fixture
def evil(project, owner, alice, bob, oracle, manager, harness):
    """A tournament on ReentrantToken, whose balance updates call back into the tournament."""
    tok = owner.deploy(project.ReentrantToken)
    t = owner.deploy(project.Tournament, tok, owner, 0, harness.CHALLENGE, harness.GRACE, harness.MAX_PAUSE)
    t.grantRole(t.MANAGER_ROLE(), manager, sender=owner)
    t.grantRole(t.ORACLE_ROLE(), oracle, sender=owner)
    for a in (alice, bob):
        tok.mint(a, nmr(1_000), sender=a)
        tok.approve(t, 2**256 - 1, sender=a)
    return tok, t


def _open(t, h, manager, clip=500):
    now = h.now()
    rid = t.lastRoundId() + 1
    p = (now, now + 1_000, now + 2_000, 5_000, 20_000, clip, 0, nmr(1_000), nmr(1))
    t.openRound(rid, p, sender=manager)
    return rid, now + 1_000, now + 2_000


def test_reentrant_claim_gains_nothing(evil, harness, alice, bob, oracle, manager):
    tok, t = evil
    h = harness
    rid, _close, resolve = _open(t, h, manager)
    m = h.model_id("amodel")
    t.stake(rid, m, nmr(100), keccak(b"a"), sender=alice)
    t.stake(rid, h.model_id("bmodel"), nmr(100), keccak(b"b"), sender=bob)
    t.fund(rid, nmr(10), sender=bob)
    res = h.Result(rid, [(m, alice.address, nmr(100), nmr(5), 0),
                         (h.model_id("bmodel"), bob.address, nmr(100), 0, nmr(5))])
    h.at(resolve)
    t.postResult(rid, res.root, nmr(5), nmr(5), 2, ZERO32, sender=oracle)
    h.at(resolve + h.CHALLENGE)
    args = res.claim_args(0)
    tok.setHook(t, t.claim.encode_input(*args), sender=bob)
    bal = tok.balanceOf(alice)
    tx = t.claim(*args, sender=bob)
    # The hook ran on the burn (settlement) and on the payout transfer; each re-entry failed.
    assert tok.hookCalls() == 2
    assert not tok.lastHookOk()
    assert bytes(tok.lastHookResult())[:4] == REENTRANT_SELECTOR
    assert len(tx.events.filter(t.Claimed)) == 1
    assert tok.balanceOf(alice) == bal + nmr(105)
    assert t.getRound(rid).claimed == nmr(105)
    # Without the hook, a second claim is simply NoStake.
    tok.setHook("0x" + "00" * 20, b"", sender=bob)
    with ape.reverts(t.NoStake):
        t.claim(*args, sender=bob)


def test_reentrant_stake_and_exit_fail(evil, harness, alice, manager):
    tok, t = evil
    h = harness
    rid, _close, resolve = _open(t, h, manager)
    m = h.model_id("amodel")
    # Re-entering stake from inside the transferFrom of a stake.
    tok.setHook(t, t.fundPool.encode_input(nmr(1)), sender=alice)
    t.stake(rid, m, nmr(100), keccak(b"a"), sender=alice)
    assert not tok.lastHookOk() and bytes(tok.lastHookResult())[:4] == REENTRANT_SELECTOR
    assert t.pool() == 0 and t.getRound(rid).totalStaked == nmr(100)
    # Re-entering the emergency exit from inside its own transfer.
    h.at(resolve + h.GRACE)
    tok.setHook(t, t.emergencyWithdraw.encode_input(rid, m), sender=alice)
    bal = tok.balanceOf(alice)
    t.emergencyWithdraw(rid, m, sender=alice)
    assert not tok.lastHookOk() and bytes(tok.lastHookResult())[:4] == REENTRANT_SELECTOR
    assert tok.balanceOf(alice) == bal + nmr(100)
    assert tok.balanceOf(t) == 0


def test_claims_by_self_only__others_refused_the_staker_claims_and_the_choice_can_be_undone(
        tournament, harness, token, alice, bob, treasury):
    t, h = tournament, harness
    assert not t.claimsBySelfOnly(alice)
    tx = t.setClaimsBySelfOnly(True, sender=alice)
    assert [(e.staker, e.selfOnly) for e in tx.events.filter(t.ClaimsBySelfOnlySet)] == [(alice.address, True)]
    rnd = h.open_round()
    h.stake(alice, rnd, "amodel", nmr(10))
    h.stake(bob, rnd, "bmodel", nmr(10))
    h.fund(treasury, rnd, nmr(1))
    res = h.result(rnd, [("amodel", alice, nmr("0.2"), 0), ("bmodel", bob, 0, 0)])
    h.post_final(rnd, res)
    ia, ib = res.find(h.model_id("amodel"), alice), res.find(h.model_id("bmodel"), bob)
    with ape.reverts(t.ClaimOnlyByStaker):
        t.claim(*res.claim_args(ia), sender=bob)
    with ape.reverts(t.ClaimOnlyByStaker):  # all or nothing: bob's own claim in the batch is undone too
        t.claimMany([res.claim_args(ib), res.claim_args(ia)], sender=bob)
    assert t.getStake(rnd.id, h.model_id("bmodel"), bob)[0] == nmr(10)
    t.claim(*res.claim_args(ib), sender=alice)  # bob has not opted in: anyone claims for him
    t.setClaimsBySelfOnly(False, sender=alice)
    before = token.balanceOf(alice)
    t.claim(*res.claim_args(ia), sender=bob)  # undone: anyone again, paid to alice
    assert token.balanceOf(alice) - before == nmr("10.2")
