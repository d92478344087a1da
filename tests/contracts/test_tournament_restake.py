"""Tournament.restake: claim a Final round's stake and stake the same model in an open round in
one call, moving only the difference; every rule of `claim` and `stake` still holds, and a
failure of either half changes nothing."""

from __future__ import annotations

import ape
import pytest
from helpers.harness import nmr

COMMIT = b"\x42" * 32


@pytest.fixture
def resolved(harness, alice, bob, treasury):
    """Round 1: alice 100 NMR on amodel (payout 2), bob 10 NMR on bmodel (burn 0.5), final;
    round 2 open."""
    h = harness
    r1 = h.open_round()
    h.stake(alice, r1, "amodel", nmr(100))
    h.stake(bob, r1, "bmodel", nmr(10))
    h.fund(treasury, r1, nmr(10))
    res = h.result(r1, [("amodel", alice, nmr(2), 0), ("bmodel", bob, 0, nmr("0.5"))])
    h.post_final(r1, res)
    h.tour.finalise(r1.id, sender=treasury)  # bob's burn happens here, not inside the restake
    r2 = h.open_round()
    return r1, r2, res


@pytest.mark.parametrize("amount, moved", [(nmr(120), nmr(18)), (nmr(50), -nmr(52)), (nmr(102), 0)])
def test_restake__moves_only_the_difference_between_the_new_stake_and_the_claim(
        harness, tournament, token, alice, resolved, amount, moved):
    r1, r2, res = resolved
    t, h = tournament, harness
    before_alice, before_t = token.balanceOf(alice), token.balanceOf(t)
    args = res.claim_args(res.find(h.model_id("amodel"), alice))
    tx = t.restake(r1.id, h.model_id("amodel"), args[3], args[4], args[5], r2.id, amount, COMMIT, sender=alice)
    assert token.balanceOf(t) - before_t == moved
    assert before_alice - token.balanceOf(alice) == moved
    assert t.getStake(r1.id, h.model_id("amodel"), alice)[0] == 0
    assert t.getStake(r2.id, h.model_id("amodel"), alice) == (amount, COMMIT[:20])
    assert t.getRound(r1.id).claimed == nmr(102) and t.getRound(r2.id).totalStaked == amount
    [claimed] = tx.events.filter(t.Claimed)
    [staked] = tx.events.filter(t.Staked)
    assert (claimed.amountSent, claimed.caller) == (nmr(102), alice.address)
    assert (staked.amount, staked.staker) == (amount, alice.address)
    transfers = tx.events.filter(token.Transfer)
    assert len(transfers) == (0 if moved == 0 else 1)


def test_restake__only_the_callers_own_stake_and_both_halves_or_nothing(
        harness, tournament, token, alice, bob, resolved):
    r1, r2, res = resolved
    t, h = tournament, harness
    a = res.claim_args(res.find(h.model_id("amodel"), alice))
    # bob cannot restake alice's stake (the claim half is of the caller's own key)
    with ape.reverts(t.NoStake):
        t.restake(r1.id, h.model_id("amodel"), a[3], a[4], a[5], r2.id, nmr(10), COMMIT, sender=bob)
    # a stake above the new round's cap reverts, and the claim half is undone with it
    with ape.reverts(t.StakeAboveCap):
        t.restake(r1.id, h.model_id("amodel"), a[3], a[4], a[5], r2.id, nmr(1_001), COMMIT, sender=alice)
    assert t.getStake(r1.id, h.model_id("amodel"), alice)[0] == nmr(100)
    # a forged payout fails the proof, and nothing is staked
    with ape.reverts(t.InvalidProof):
        t.restake(r1.id, h.model_id("amodel"), a[3] + 1, a[4], a[5], r2.id, nmr(10), COMMIT, sender=alice)
    assert t.getStake(r2.id, h.model_id("amodel"), alice)[0] == 0
    with ape.reverts(t.ZeroAmount):
        t.restake(r1.id, h.model_id("amodel"), a[3], a[4], a[5], r2.id, 0, COMMIT, sender=alice)
    # into a round that is not open: nothing happens either
    h.at(r2.close)
    with ape.reverts(t.RoundNotOpen):
        t.restake(r1.id, h.model_id("amodel"), a[3], a[4], a[5], r2.id, nmr(10), COMMIT, sender=alice)
    assert t.getStake(r1.id, h.model_id("amodel"), alice)[0] == nmr(100)


def test_restake__not_before_final_and_not_twice(harness, tournament, alice, bob, treasury):
    t, h = tournament, harness
    r1 = h.open_round()
    h.stake(alice, r1, "amodel", nmr(10))
    res = h.result(r1, [("amodel", alice, 0, 0)])
    h.post(r1, res)
    r2 = h.open_round(duration=200_000)
    a = res.claim_args(0)
    with ape.reverts(t.RoundNotFinal):
        t.restake(r1.id, h.model_id("amodel"), a[3], a[4], a[5], r2.id, nmr(5), COMMIT, sender=alice)
    h.at(r1.resolve + h.CHALLENGE)
    t.restake(r1.id, h.model_id("amodel"), a[3], a[4], a[5], r2.id, nmr(5), COMMIT, sender=alice)
    r3 = h.open_round()
    with ape.reverts(t.NoStake):
        t.restake(r1.id, h.model_id("amodel"), a[3], a[4], a[5], r3.id, nmr(5), COMMIT, sender=alice)


def test_restake__not_while_paused(harness, tournament, pauser, alice, resolved):
    r1, r2, res = resolved
    t, h = tournament, harness
    a = res.claim_args(res.find(h.model_id("amodel"), alice))
    t.pause(sender=pauser)
    with ape.reverts(t.EnforcedPause):
        t.restake(r1.id, h.model_id("amodel"), a[3], a[4], a[5], r2.id, nmr(10), COMMIT, sender=alice)
