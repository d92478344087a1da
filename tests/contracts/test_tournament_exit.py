"""Tournament: `exitUnclaimed`, the exit of a stake that the posted tree leaves out or gets wrong.

Once the claim window of a Final round is over (postedAt + challengePeriod + gracePeriod) a staker
takes back `stake - min(ceil(stake * clipBps / 10_000), totalBurn)` without a proof: never more than
the stake's honest leaf would pay, counted against the round's `claimable` like a claim. Fixtures
and the `harness` helper: conftest.py.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import ape
import pytest
from helpers.harness import nmr  # noqa: E402

ZERO32 = b"\x00" * 32
BPS = 10_000


@contextmanager
def reverts(error=None, **inputs):
    """`ape.reverts`, strict about the error: ape lets any revert that is not a custom error (a
    require string, a panic, empty data) pass for an expected custom error; this does not."""
    with ape.reverts(error, **inputs) as info:
        yield info
    if error is not None and not isinstance(error, (str, re.Pattern)):
        assert type(info.value).__name__ == error.__name__, f"expected {error.__name__}, got {info.value!r}"


def ts(h, tx) -> int:
    return h.chain.blocks[tx.block_number].timestamp


def exit_burn(stake: int, clip: int, total_burn: int) -> int:
    """The exit's rule in Python: min(ceil(stake * clip / 10_000), totalBurn)."""
    return min(-(-stake * clip // BPS), total_burn)


def opens_at(t, h, rnd) -> int:
    return t.getRound(rnd.id).postedAt + h.CHALLENGE + h.GRACE


@pytest.fixture
def game(tournament, harness, alice, bob, carol, treasury):
    """A round (clip 5 %) with three stakes (alice 100, bob 50, carol 20 NMR) and 10 NMR of funding.
    Result: alice wins 3 NMR, bob loses 2 NMR, carol breaks even (totalBurn 2 NMR)."""
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


# ============================================================================ the window


def test_exit_not_open_before_the_window(tournament, harness, game, alice):
    t, h = tournament, harness
    rnd, res = game
    tx = h.post(rnd, res, at=rnd.resolve + 5)
    posted = ts(h, tx)
    opens = posted + h.CHALLENGE + h.GRACE
    assert opens_at(t, h, rnd) == opens
    m = h.model_id("amodel")
    # Final (claims work), but the claim window is not over.
    h.at(posted + h.CHALLENGE)
    with reverts(t.ExitNotOpen, roundId=rnd.id, opensAt=opens):
        t.exitUnclaimed(rnd.id, m, sender=alice)
    h.at(opens - 1)
    with reverts(t.ExitNotOpen, roundId=rnd.id, opensAt=opens):
        t.exitUnclaimed(rnd.id, m, sender=alice)
    assert t.getStake(rnd.id, m, alice)[0] == nmr(100)
    # The first second of the window.
    h.at(opens)
    tx = t.exitUnclaimed(rnd.id, m, sender=alice)
    assert ts(h, tx) == opens
    assert tx.events.filter(t.StakeExited)[0].amountOut == nmr(100) - nmr(2)


def test_exit_pays_stake_minus_clipped_burn(tournament, harness, game, token, alice, bob, carol):
    """Each staker gets exactly stake - min(ceil(stake * 5 %), totalBurn); the first exit settles."""
    t, h = tournament, harness
    rnd, res = game
    h.post(rnd, res)
    h.at(opens_at(t, h, rnd))
    supply = token.totalSupply()
    claimed = 0
    for i, (acct, name, stake) in enumerate(((alice, "amodel", nmr(100)), (bob, "bmodel", nmr(50)),
                                            (carol, "cmodel", nmr(20)))):
        m = h.model_id(name)
        bal = token.balanceOf(acct)
        held = token.balanceOf(t)
        tx = t.exitUnclaimed(rnd.id, m, sender=acct)
        out = stake - exit_burn(stake, 500, nmr(2))
        # alice: min(5, 2) = 2 kept; bob: min(2.5, 2) = 2; carol: min(1, 2) = 1.
        assert out == {0: nmr(98), 1: nmr(48), 2: nmr(19)}[i]
        ev = tx.events.filter(t.StakeExited)[0]
        assert (ev.roundId, ev.modelId, ev.staker, ev.stake, ev.amountOut) == (rnd.id, m, acct.address, stake, out)
        assert token.balanceOf(acct) == bal + out
        settled = tx.events.filter(t.Settled)
        if i == 0:  # settlement (burn of totalBurn, unused funding back to the pool) happened lazily
            assert len(settled) == 1 and (settled[0].burned, settled[0].returnedToPool) == (nmr(2), nmr(7))
            assert token.balanceOf(t) == held - nmr(2) - out
        else:
            assert not settled
            assert token.balanceOf(t) == held - out
        assert t.getStake(rnd.id, m, acct)[0] == 0
        claimed += out
        assert t.getRound(rnd.id).claimed == claimed
    assert token.totalSupply() == supply - nmr(2)
    r = t.getRound(rnd.id)
    assert r.settled and r.claimed == nmr(165) <= r.claimable == nmr(171)
    # What the exits kept back stays in the contract, next to the pool.
    assert token.balanceOf(t) == t.pool() + r.claimable - r.claimed


def test_exit_of_a_fully_burnt_stake_sends_nothing(tournament, harness, token, alice, bob):
    t, h = tournament, harness
    rnd = h.open_round(clip=10_000)
    h.stake(alice, rnd, "amodel", nmr(10))
    h.stake(bob, rnd, "bmodel", nmr(5))
    res = h.result(rnd, [("amodel", alice, 0, nmr(10)), ("bmodel", bob, 0, nmr(5))])
    h.post(rnd, res)
    h.at(opens_at(t, h, rnd))
    bal = token.balanceOf(alice)
    tx = t.exitUnclaimed(rnd.id, h.model_id("amodel"), sender=alice)
    ev = tx.events.filter(t.StakeExited)[0]
    assert (ev.stake, ev.amountOut) == (nmr(10), 0)
    assert token.balanceOf(alice) == bal
    assert t.getStake(rnd.id, h.model_id("amodel"), alice)[0] == 0
    with reverts(t.NoStake):
        t.exitUnclaimed(rnd.id, h.model_id("amodel"), sender=alice)


# ============================================================================ stakes the tree gets wrong


def test_stake_left_out_of_the_tree_can_exit(tournament, harness, game, token, alice, bob, carol, oracle):
    """leafCount == stakeCount, but bob's leaf is for 60 NMR (he staked 50): no proof of his ever
    verifies. After the window he exits; everyone else still claims in full."""
    t, h = tournament, harness
    rnd, _res = game
    a, b, c = h.model_id("amodel"), h.model_id("bmodel"), h.model_id("cmodel")
    entries = [(a, alice.address, nmr(100), nmr(3), nmr(1)),
               (b, bob.address, nmr(60), 0, 0),  # the wrong leaf: another amount
               (c, carol.address, nmr(20), 0, nmr(1))]
    res = h.Result(rnd.id, entries)
    assert len(res.entries) == t.getRound(rnd.id).stakeCount
    h.at(rnd.resolve)
    t.postResult(rnd.id, res.root, res.total_payout, res.total_burn, 3, ZERO32, sender=oracle)
    h.at(rnd.resolve + h.CHALLENGE)
    # Bob cannot claim: neither with the posted leaf nor with any other (payout, burn).
    for payout, burn in ((0, 0), (nmr(1), 0), (0, nmr(1))):
        with reverts(t.InvalidProof):
            t.claim(rnd.id, b, bob.address, payout, burn, res.tree.proof(1), sender=bob)
    h.at(opens_at(t, h, rnd))
    bal = token.balanceOf(bob)
    tx = t.exitUnclaimed(rnd.id, b, sender=bob)
    out = nmr(50) - exit_burn(nmr(50), 500, nmr(2))  # min(2.5, 2) = 2 kept
    assert out == nmr(48)
    assert tx.events.filter(t.StakeExited)[0].amountOut == out
    assert token.balanceOf(bob) == bal + out
    # The others claim their leaves in full (late claims still work after the window opened).
    for i, acct, want in ((0, alice, nmr(102)), (2, carol, nmr(19))):
        bal = token.balanceOf(acct)
        h.claim(res, i, acct)
        assert token.balanceOf(acct) == bal + want
    r = t.getRound(rnd.id)
    assert r.claimed == nmr(48 + 102 + 19) <= r.claimable == nmr(170 - 2 + 3)


def test_exit_beyond_claimable_reverts_and_spares_other_rounds(tournament, harness, token, alice, bob, carol,
                                                               treasury, oracle):
    """A tree whose leaves pay more than the posted totals: after alice's claim, bob's exit would pay
    beyond the round's `claimable`; it reverts ClaimExceedsRound and another round's stakes and
    funding stay fully backed."""
    t, h = tournament, harness
    other = h.open_round()
    h.stake(carol, other, "cmodel", nmr(50))
    h.fund(treasury, other, nmr(5))
    rnd = h.open_round(clip=1_000)
    a, b = h.model_id("amodel"), h.model_id("bmodel")
    h.stake(alice, rnd, "amodel", nmr(100))
    h.stake(bob, rnd, "bmodel", nmr(100))
    h.fund(treasury, rnd, nmr(1))
    # Leaves pay alice 5 NMR; the posted totalPayout is 1 NMR, the posted totalBurn 0.
    res = h.Result(rnd.id, [(a, alice.address, nmr(100), nmr(5), 0), (b, bob.address, nmr(100), 0, 0)])
    h.at(max(rnd.resolve, other.resolve))
    t.postResult(rnd.id, res.root, nmr(1), 0, 2, ZERO32, sender=oracle)
    h.at(h.now() + h.CHALLENGE)
    h.claim(res, 0, alice)  # 105 of a claimable 201
    h.at(opens_at(t, h, rnd))
    with reverts(t.ClaimExceedsRound, roundId=rnd.id, claimed=nmr(205), claimable=nmr(201)):
        t.exitUnclaimed(rnd.id, b, sender=bob)
    assert t.getStake(rnd.id, b, bob)[0] == nmr(100)
    assert t.getRound(rnd.id).claimed == nmr(105)
    # Everything the contract holds: this round's remaining 96, the other round's 50 + 5.
    assert token.balanceOf(t) == t.pool() + nmr(96) + nmr(55)
    # The other round expired meanwhile (no result): carol withdraws her whole stake.
    h.view_at(h.now())
    assert t.roundState(other.id) == 6
    bal = token.balanceOf(carol)
    t.emergencyWithdraw(other.id, h.model_id("cmodel"), sender=carol)
    assert token.balanceOf(carol) == bal + nmr(50)


def test_exit_beyond_claimable_while_another_round_is_live(tournament, harness, token, alice, bob, carol,
                                                             treasury, oracle):
    """Same, with the other round still running when the exit fails: it is posted and claimed in
    full afterwards."""
    t, h = tournament, harness
    rnd = h.open_round(clip=1_000)
    a, b = h.model_id("amodel"), h.model_id("bmodel")
    h.stake(alice, rnd, "amodel", nmr(100))
    h.stake(bob, rnd, "bmodel", nmr(100))
    h.fund(treasury, rnd, nmr(1))
    res = h.Result(rnd.id, [(a, alice.address, nmr(100), nmr(5), 0), (b, bob.address, nmr(100), 0, 0)])
    h.at(rnd.resolve)
    t.postResult(rnd.id, res.root, nmr(1), 0, 2, ZERO32, sender=oracle)
    opens = opens_at(t, h, rnd)
    h.at(rnd.resolve + h.CHALLENGE)
    h.claim(res, 0, alice)
    # A second round, staked and funded just before the exit window opens.
    h.at(opens - 500)
    other = h.open_round()
    h.stake(carol, other, "cmodel", nmr(50))
    h.fund(treasury, other, nmr(5))
    h.at(opens + 600)
    held = token.balanceOf(t)
    with reverts(t.ClaimExceedsRound, roundId=rnd.id, claimed=nmr(205), claimable=nmr(201)):
        t.exitUnclaimed(rnd.id, b, sender=bob)
    assert token.balanceOf(t) == held == t.pool() + nmr(96) + nmr(55)
    ores = h.result(other, [("cmodel", carol, nmr(2), 0)])
    h.post_final(other, ores)
    bal = token.balanceOf(carol)
    h.claim(ores, 0, carol)
    assert token.balanceOf(carol) == bal + nmr(52)
    assert token.balanceOf(t) == t.pool() + nmr(96)


def test_wrong_leaf_burning_more_than_the_exit_keeps(tournament, harness, token, alice, bob, oracle):
    """The limit of "never another staker's": the posted totals are the sums of the tree's leaves, but
    bob's (wrong) leaf is for 60 NMR and burns 6 NMR where his exit keeps only ceil(50 * 10 %) = 5
    NMR. The round's `claimable` is 1 NMR short of alice's leaf plus bob's exit: whoever comes last
    is refused with ClaimExceedsRound (never paid from elsewhere). Honest stakers are safe if they
    claim within the claim window (exits open only after it)."""
    t, h = tournament, harness
    a, b = h.model_id("amodel"), h.model_id("bmodel")

    def setup():
        rnd = h.open_round(clip=1_000)
        h.stake(alice, rnd, "amodel", nmr(100))
        h.stake(bob, rnd, "bmodel", nmr(50))
        res = h.Result(rnd.id, [(a, alice.address, nmr(100), 0, nmr(5)), (b, bob.address, nmr(60), 0, nmr(6))])
        h.at(max(h.now(), rnd.resolve))
        t.postResult(rnd.id, res.root, 0, res.total_burn, 2, ZERO32, sender=oracle)
        assert t.getRound(rnd.id).claimable == nmr(150 - 11)
        return rnd, res

    # alice claims within the window; bob's exit then finds the round short.
    rnd, res = setup()
    h.at(t.getRound(rnd.id).postedAt + h.CHALLENGE)
    h.claim(res, 0, alice)
    h.at(opens_at(t, h, rnd))
    with reverts(t.ClaimExceedsRound, roundId=rnd.id, claimed=nmr(95 + 45), claimable=nmr(139)):
        t.exitUnclaimed(rnd.id, b, sender=bob)

    # alice claims late, after bob's exit: she is the one refused.
    rnd2, res2 = setup()
    h.at(opens_at(t, h, rnd2))
    t.exitUnclaimed(rnd2.id, b, sender=bob)
    assert t.getRound(rnd2.id).claimed == nmr(45)
    with reverts(t.ClaimExceedsRound, roundId=rnd2.id, claimed=nmr(45 + 95), claimable=nmr(139)):
        h.claim(res2, 0, alice)
    # Neither round ever pays beyond its own claimable.
    assert token.balanceOf(t) == t.pool() + (nmr(139) - nmr(95)) + (nmr(139) - nmr(45))


# ============================================================================ never more than the honest leaf


TWIN_CASES = {
    # clip, funding, rows (name, stake, payout, burn): every leaf honest (burn <= ceil(stake * clip)).
    "clip 5 %": (500, nmr(10), [("amodel", nmr(100), nmr(3), 0), ("bmodel", nmr(50), 0, nmr("2.5")),
                                ("cmodel", nmr(20), 0, nmr(1))]),
    "clip 100 %": (10_000, nmr(10), [("amodel", nmr(10), 0, nmr(10)), ("bmodel", nmr(7), nmr(5), 0),
                                     ("cmodel", nmr(3), 0, nmr(1))]),
    "clip 100 %, no burn": (10_000, nmr(10), [("amodel", nmr(10), 0, 0), ("bmodel", nmr(5), nmr(2), 0)]),
    "clip 0.01 %, odd wei": (1, nmr(1), [("amodel", nmr(1) + 1, 0, 10**14 + 1), ("bmodel", 3 * nmr(1) + 7, 0, 0),
                                         ("cmodel", nmr(2) + 3, 10**14, 0)]),
    "total burn below one clip": (2_500, 0, [("amodel", nmr(100), 0, 1), ("bmodel", nmr(40), 0, 0)]),
    "no burn, no payout": (500, 0, [("amodel", nmr(100), 0, 0), ("bmodel", nmr(40), 0, 0)]),
}


@pytest.mark.parametrize("case", list(TWIN_CASES))
def test_exit_never_pays_more_than_the_honest_leaf(tournament, harness, token, alice, bob, carol, treasury,
                                                   oracle, case):
    """Twin rounds with the same stakes and the same honest results: each staker claims its leaf in
    one and exits in the other; the exit is exactly stake - min(ceil(stake * clip), totalBurn) and
    never more than the claim."""
    t, h = tournament, harness
    clip, funding, rows = TWIN_CASES[case]
    accts = {"amodel": alice, "bmodel": bob, "cmodel": carol}
    twins = []
    for _ in range(2):
        rnd = h.open_round(clip=clip, min_stake=1)
        for name, stake, _p, _b in rows:
            h.stake(accts[name], rnd, name, stake)
        if funding:
            h.fund(treasury, rnd, funding)
        twins.append(rnd)
    results = [h.result(rnd, [(name, accts[name], p, b) for name, _s, p, b in rows]) for rnd in twins]
    total_burn = results[0].total_burn
    for rnd, res in zip(twins, results):
        h.post(rnd, res, at=max(h.now(), rnd.resolve))
    h.at(max(opens_at(t, h, rnd) for rnd in twins))
    supply = token.totalSupply()
    for i, (name, stake, payout, burn) in enumerate(rows):
        acct = accts[name]
        bal = token.balanceOf(acct)
        h.claim(results[0], i, acct)
        claimed = token.balanceOf(acct) - bal
        assert claimed == stake - burn + payout
        tx = t.exitUnclaimed(twins[1].id, h.model_id(name), sender=acct)
        exited = token.balanceOf(acct) - bal - claimed
        assert exited == tx.events.filter(t.StakeExited)[0].amountOut
        assert exited == stake - exit_burn(stake, clip, total_burn) == stake - t.exitBurn(stake, clip, total_burn)
        assert exited <= claimed, f"{name}: exit {exited} > honest leaf {claimed}"
        if total_burn == 0:
            assert exited == stake
    assert token.totalSupply() == supply - 2 * total_burn
    for rnd in twins:
        r = t.getRound(rnd.id)
        assert r.claimed <= r.claimable


# ============================================================================ who and when


def test_only_the_staker_can_exit(tournament, harness, game, token, alice, bob, stranger):
    t, h = tournament, harness
    rnd, res = game
    h.post(rnd, res)
    h.at(opens_at(t, h, rnd))
    a = h.model_id("amodel")
    with reverts(t.NoStake, roundId=rnd.id, modelId=a, staker=stranger.address):
        t.exitUnclaimed(rnd.id, a, sender=stranger)
    # bob has a stake of his own, but none on alice's model: nobody exits for someone else.
    with reverts(t.NoStake, roundId=rnd.id, modelId=a, staker=bob.address):
        t.exitUnclaimed(rnd.id, a, sender=bob)
    with reverts(t.NoStake, roundId=rnd.id, modelId=h.model_id("nomodel"), staker=alice.address):
        t.exitUnclaimed(rnd.id, h.model_id("nomodel"), sender=alice)
    assert t.getStake(rnd.id, a, alice)[0] == nmr(100)
    assert t.getRound(rnd.id).claimed == 0
    bal = token.balanceOf(alice)
    tx = t.exitUnclaimed(rnd.id, a, sender=alice)
    assert tx.events.filter(t.StakeExited)[0].staker == alice.address
    assert token.balanceOf(alice) == bal + nmr(98)


def test_exit_twice_and_after_a_claim(tournament, harness, game, alice, bob, stranger):
    t, h = tournament, harness
    rnd, res = game
    h.post(rnd, res)
    h.at(opens_at(t, h, rnd))
    a, b = h.model_id("amodel"), h.model_id("bmodel")
    t.exitUnclaimed(rnd.id, a, sender=alice)
    with reverts(t.NoStake, roundId=rnd.id, modelId=a, staker=alice.address):
        t.exitUnclaimed(rnd.id, a, sender=alice)
    # A claim after the exit: the stake is taken.
    with reverts(t.NoStake, roundId=rnd.id, modelId=a, staker=alice.address):
        h.claim(res, 0, stranger)
    # An exit after a claim.
    h.claim(res, 1, stranger)
    with reverts(t.NoStake, roundId=rnd.id, modelId=b, staker=bob.address):
        t.exitUnclaimed(rnd.id, b, sender=bob)
    assert t.getRound(rnd.id).claimed == nmr(98) + nmr(48)


def test_exits_leave_every_other_claim_intact(tournament, harness, token, alice, bob, carol, treasury):
    """Posted totals consistent with the leaves: however many exit (largest burns kept back), every
    other staker still claims its leaf, and the round never pays beyond its claimable."""
    t, h = tournament, harness
    rnd = h.open_round(clip=2_500)
    stakers = [(alice, "a0", nmr(100)), (alice, "a1", nmr(33)), (bob, "b0", nmr(77)), (bob, "b1", nmr(12)),
               (carol, "c0", nmr(50)), (carol, "c1", nmr(9))]
    for acct, name, amount in stakers:
        h.stake(acct, rnd, name, amount)
    h.fund(treasury, rnd, nmr(40))
    # Winners paid up to their clip, losers burnt up to their (rounded-up) clip.
    rows = [("a0", alice, nmr(25), 0), ("a1", alice, 0, -(-nmr(33) * 2_500 // BPS)), ("b0", bob, 0, nmr(1)),
            ("b1", bob, nmr(3), 0), ("c0", carol, 0, nmr(12)), ("c1", carol, nmr(2), 0)]
    res = h.result(rnd, rows)
    h.post(rnd, res)
    h.at(opens_at(t, h, rnd))
    exiting = {"a0", "b0", "c1"}  # winners and losers alike
    paid = 0
    for name, acct, _payout, _burn in rows:
        if name in exiting:
            tx = t.exitUnclaimed(rnd.id, h.model_id(name), sender=acct)
            paid += tx.events.filter(t.StakeExited)[0].amountOut
    for i, (name, acct, payout, burn) in enumerate(rows):
        if name not in exiting:
            bal = token.balanceOf(acct)
            h.claim(res, i, acct)
            stake = res.entries[i][2]
            assert token.balanceOf(acct) == bal + stake - burn + payout
            paid += stake - burn + payout
    r = t.getRound(rnd.id)
    assert r.claimed == paid <= r.claimable
    assert token.balanceOf(t) == t.pool() + r.claimable - r.claimed


def test_exit_not_while_paused(tournament, harness, game, token, alice, bob, pauser):
    t, h = tournament, harness
    rnd, res = game
    h.post(rnd, res)
    opens = opens_at(t, h, rnd)
    h.at(opens)
    t.pause(sender=pauser)
    a = h.model_id("amodel")
    with reverts(t.EnforcedPause):
        t.exitUnclaimed(rnd.id, a, sender=alice)
    assert t.getStake(rnd.id, a, alice)[0] == nmr(100)
    t.unpause(sender=pauser)
    t.exitUnclaimed(rnd.id, a, sender=alice)
    # A pause that runs out by itself: exits resume without an unpause.
    h.at(h.now() + h.MAX_PAUSE)
    t.pause(sender=pauser)
    b = h.model_id("bmodel")
    with reverts(t.EnforcedPause):
        t.exitUnclaimed(rnd.id, b, sender=bob)
    h.view_at(t.pausedUntil())
    assert not t.paused()
    t.exitUnclaimed(rnd.id, b, sender=bob)


def test_exit_needs_a_final_round(tournament, harness, game, token, alice, owner, stranger):
    t, h = tournament, harness
    rnd, res = game
    a = h.model_id("amodel")
    with reverts(t.RoundNotFinal, roundId=rnd.id + 1):
        t.exitUnclaimed(rnd.id + 1, a, sender=alice)
    with reverts(t.RoundNotFinal, roundId=rnd.id):  # Open
        t.exitUnclaimed(rnd.id, a, sender=alice)
    h.at(rnd.resolve)
    with reverts(t.RoundNotFinal, roundId=rnd.id):  # Closed
        t.exitUnclaimed(rnd.id, a, sender=alice)
    h.post(rnd, res, at=rnd.resolve + 5)
    h.at(rnd.resolve + 5 + h.CHALLENGE - 2)
    with reverts(t.RoundNotFinal, roundId=rnd.id):  # Posted, just before final
        t.exitUnclaimed(rnd.id, a, sender=alice)
    h.at(rnd.resolve + 5 + h.CHALLENGE - 1)
    t.rejectResult(rnd.id, "wrong", sender=owner)
    # Rejected and never reposted: Expired; the exit is still RoundNotFinal (emergencyWithdraw applies).
    h.view_at(rnd.expiry)
    assert t.roundState(rnd.id) == 6
    with reverts(t.RoundNotFinal, roundId=rnd.id):
        t.exitUnclaimed(rnd.id, a, sender=alice)
    with reverts(t.RoundNotFinal, roundId=rnd.id):
        t.exitUnclaimed(rnd.id, a, sender=stranger)
    bal = token.balanceOf(alice)
    t.emergencyWithdraw(rnd.id, a, sender=alice)
    assert token.balanceOf(alice) == bal + nmr(100)


# ============================================================================ exitBurn


def test_exit_burn_pure(tournament):
    t = tournament
    cases = [
        # stake, clip, totalBurn -> kept back
        (0, 500, nmr(1), 0),
        (nmr(100), 500, 0, 0),
        (nmr(100), 500, nmr(10), nmr(5)),  # the clip binds
        (nmr(100), 500, nmr(2), nmr(2)),  # the total burn binds
        (nmr(100), 500, nmr(5), nmr(5)),  # both equal
        (1, 1, 10, 1),  # rounds up: 0.0001 wei -> 1 wei
        (BPS, 1, 10, 1),
        (BPS + 1, 1, 10, 2),
        (BPS - 1, 1, 10, 1),
        (nmr(50), 500, nmr(3), nmr("2.5")),
        (nmr(7), 10_000, nmr(100), nmr(7)),  # clip 100 %: the whole stake
        (nmr(7), 10_000, nmr(3), nmr(3)),
        (2**96 - 1, 10_000, 2**256 - 1, 2**96 - 1),
        (2**96 - 1, 1, 2**96, -(-(2**96 - 1) // BPS)),
        (123_456_789, 3_333, 10**30, -(-123_456_789 * 3_333 // BPS)),
    ]
    for stake, clip, total, want in cases:
        assert want == exit_burn(stake, clip, total)
        assert t.exitBurn(stake, clip, total) == want, (stake, clip, total)
    # stake * clip overflows uint256: a checked-arithmetic panic, never a wrapped result.
    with reverts() as info:
        t.exitBurn(2**256 - 1, 2, 0)
    assert "overflow" in info.value.revert_message
