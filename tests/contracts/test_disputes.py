"""Bonded disputes (contracts/DisputeDesk.sol), open to anyone: a disputed result is rejected at
once and never becomes final; the dispute ends by another result posted (upheld: bond and reward
back), the disputed one posted again and final (dismissed: bond forfeited), the arbiter's ruling,
or the round's expiry (bond back, every stake withdrawable in full). After each, the desk holds
exactly its reserve and the open bonds, and the tournament's books are untouched by the desk."""

from __future__ import annotations

import ape
import pytest
from ape.exceptions import ContractLogicError
from helpers.harness import T_ADMIN_DELAY, T_CHALLENGE, T_GRACE, nmr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

BOND = nmr(50)
REWARD = nmr(10)
EVIDENCE = b"first differing leaf: model alpha"
UPHELD, DISMISSED, EXPIRED = 1, 2, 3
CLOSED, POSTED, FINAL, EXPIRED_STATE = 3, 4, 5, 6


@pytest.fixture(scope="module")
def arbiter(carol):
    return carol


@pytest.fixture(scope="module")
def disputer(treasury):
    return treasury


@pytest.fixture(scope="module")
def desk(project, owner, tournament, token, arbiter, disputer, bob):
    d = owner.deploy(project.DisputeDesk, tournament, owner, T_ADMIN_DELAY, arbiter, BOND, REWARD)
    tournament.grantRole(tournament.REJECTER_ROLE(), d, sender=owner)
    for who in (disputer, bob):
        token.approve(d, 2**256 - 1, sender=who)
    return d


@pytest.fixture
def posted(harness, alice, bob):
    """A round with two stakes and funding, its result posted (in its challenge period)."""
    rnd = harness.open_round()
    harness.stake(alice, rnd, "alpha", nmr(100))
    harness.stake(bob, rnd, "bravo", nmr(200))
    harness.fund(alice, rnd, nmr(20))
    res = harness.result(rnd, [("alpha", alice, nmr(3), 0), ("bravo", bob, 0, nmr(4))])
    harness.post(rnd, res)
    return rnd, res


def corrected(harness, rnd, alice, bob):
    """Another result for the round (the committee's correction)."""
    return harness.result(rnd, [("alpha", alice, nmr(1), 0), ("bravo", bob, 0, nmr(2))])


def books_balance(desk, token) -> None:
    assert int(token.balanceOf(desk)) == int(desk.reserve()) + int(desk.bonded())


def state(tournament, rnd) -> int:
    return int(tournament.roundState(rnd.id))


def test_dispute__in_the_challenge_period__takes_the_bond_and_rejects_the_result(desk, tournament, token, posted,
                                                                                disputer):
    rnd, res = posted
    before = int(token.balanceOf(disputer))
    tx = desk.dispute(rnd.id, res.root, EVIDENCE, sender=disputer)
    assert int(token.balanceOf(disputer)) == before - BOND
    assert state(tournament, rnd) == CLOSED and tournament.getRound(rnd.id).root == b"\0" * 32
    [event] = tx.events.filter(desk.Disputed)
    assert (event.roundId, event.disputer, event.disputedRoot, event.bond, event.evidence) == (
        rnd.id, disputer.address, res.root, BOND, EVIDENCE)
    dispute = desk.disputeOf(rnd.id)
    assert (dispute.disputer, dispute.bond, dispute.disputedRoot) == (disputer.address, BOND, res.root)
    assert int(desk.bonded()) == BOND
    books_balance(desk, token)


def test_dispute__a_disputed_result__never_becomes_final(desk, tournament, harness, posted, disputer):
    rnd, res = posted
    desk.dispute(rnd.id, res.root, EVIDENCE, sender=disputer)
    harness.view_at(rnd.resolve + T_CHALLENGE + 10)
    assert state(tournament, rnd) == CLOSED
    with ape.reverts(tournament.RoundNotFinal):
        tournament.finalise(rnd.id, sender=disputer)


def test_dispute__once_the_challenge_period_is_over__is_refused(desk, tournament, harness, posted, disputer):
    rnd, res = posted
    posted_at = int(tournament.getRound(rnd.id).postedAt)
    harness.at(posted_at + T_CHALLENGE)
    with ape.reverts(desk.NotDisputable, roundId=rnd.id):
        desk.dispute(rnd.id, res.root, EVIDENCE, sender=disputer)
    assert int(desk.bonded()) == 0 and state(tournament, rnd) == FINAL


def test_dispute__the_last_second_of_the_challenge_period__is_still_in_time(desk, tournament, harness, posted, disputer):
    rnd, res = posted
    posted_at = int(tournament.getRound(rnd.id).postedAt)
    harness.at(posted_at + T_CHALLENGE - 1)
    desk.dispute(rnd.id, res.root, EVIDENCE, sender=disputer)
    assert state(tournament, rnd) == CLOSED


def test_dispute__refusals_name_what_is_wrong_and_change_nothing(desk, tournament, token, harness, posted, disputer,
                                                                 stranger, bob):
    rnd, res = posted
    other = b"\x22" * 32
    with ape.reverts(desk.NotThePostedRoot, roundId=rnd.id, posted=res.root, named=other):
        desk.dispute(rnd.id, other, EVIDENCE, sender=disputer)
    unposted = harness.open_round()
    with ape.reverts(desk.NotThePostedRoot, roundId=unposted.id, posted=b"\0" * 32, named=res.root):
        desk.dispute(unposted.id, res.root, EVIDENCE, sender=disputer)
    with ape.reverts():  # no NMR, no allowance: the token refuses, nothing is recorded
        desk.dispute(rnd.id, res.root, EVIDENCE, sender=stranger)
    assert state(tournament, rnd) == POSTED and int(desk.bonded()) == 0
    desk.dispute(rnd.id, res.root, EVIDENCE, sender=disputer)
    harness.post(rnd, res, at=max(harness.now(), rnd.resolve) + 1)  # the same result, posted again
    with ape.reverts(desk.AlreadyDisputed, roundId=rnd.id, disputer=disputer.address):
        desk.dispute(rnd.id, res.root, EVIDENCE, sender=bob)
    books_balance(desk, token)


def test_settle__another_result_posted__upholds_and_pays_the_bond_and_the_reward(desk, tournament, token, harness,
                                                                                  posted, disputer, alice, bob,
                                                                                  owner):
    rnd, res = posted
    token.mint(owner, nmr(100), sender=owner)
    token.approve(desk, nmr(100), sender=owner)
    desk.fundReserve(nmr(100), sender=owner)
    before = int(token.balanceOf(disputer))
    desk.dispute(rnd.id, res.root, EVIDENCE, sender=disputer)
    with ape.reverts(desk.NotSettledYet, roundId=rnd.id):
        desk.settle(rnd.id, sender=alice)
    better = corrected(harness, rnd, alice, bob)
    harness.post(rnd, better, at=harness.now() + 1)
    tx = desk.settle(rnd.id, sender=alice)  # anyone settles
    [event] = tx.events.filter(desk.DisputeSettled)
    assert (event.outcome, event.paid, event.forfeited) == (UPHELD, BOND + REWARD, 0)
    assert int(token.balanceOf(disputer)) == before + REWARD
    assert int(desk.reserve()) == nmr(100) - REWARD and int(desk.bonded()) == 0
    assert desk.disputeOf(rnd.id).disputer == "0x" + "00" * 20
    books_balance(desk, token)
    harness.at(int(tournament.getRound(rnd.id).postedAt) + T_CHALLENGE)
    tournament.finalise(rnd.id, sender=alice)
    assert tournament.getRound(rnd.id).root == better.root  # the correction, never the disputed root


def test_settle__an_upheld_dispute_with_an_empty_reserve__gets_its_bond_back(desk, token, harness, posted, disputer,
                                                                             alice, bob):
    rnd, res = posted
    before = int(token.balanceOf(disputer))
    desk.dispute(rnd.id, res.root, EVIDENCE, sender=disputer)
    harness.post(rnd, corrected(harness, rnd, alice, bob), at=harness.now() + 1)
    desk.settle(rnd.id, sender=alice)
    assert int(token.balanceOf(disputer)) == before and int(desk.reserve()) == 0
    books_balance(desk, token)


def test_settle__the_disputed_result_posted_again_and_final__dismisses_and_forfeits_the_bond(
        desk, tournament, token, harness, posted, disputer, alice):
    rnd, res = posted
    before = int(token.balanceOf(disputer))
    desk.dispute(rnd.id, res.root, EVIDENCE, sender=disputer)
    harness.post(rnd, res, at=harness.now() + 1)
    with ape.reverts(desk.NotSettledYet, roundId=rnd.id):  # in its new challenge period: not yet
        desk.settle(rnd.id, sender=alice)
    harness.at(int(tournament.getRound(rnd.id).postedAt) + T_CHALLENGE)
    tx = desk.settle(rnd.id, sender=alice)
    [event] = tx.events.filter(desk.DisputeSettled)
    assert (event.outcome, event.paid, event.forfeited) == (DISMISSED, 0, BOND)
    assert int(token.balanceOf(disputer)) == before - BOND and int(desk.reserve()) == BOND
    books_balance(desk, token)


def test_settle__nobody_posts_before_expiry__returns_the_bond_and_every_stake_comes_back_in_full(
        desk, tournament, token, harness, posted, disputer, alice, bob):
    rnd, res = posted
    before = {who: int(token.balanceOf(who)) for who in (disputer, alice, bob)}
    desk.dispute(rnd.id, res.root, EVIDENCE, sender=disputer)
    harness.at(rnd.resolve + T_GRACE)
    tx = desk.settle(rnd.id, sender=alice)
    [event] = tx.events.filter(desk.DisputeSettled)
    assert (event.outcome, event.paid, event.forfeited) == (EXPIRED, BOND, 0)
    assert state(tournament, rnd) == EXPIRED_STATE
    tournament.emergencyWithdraw(rnd.id, harness.model_id("alpha"), sender=alice)
    tournament.emergencyWithdraw(rnd.id, harness.model_id("bravo"), sender=bob)
    assert int(token.balanceOf(disputer)) == before[disputer]
    assert int(token.balanceOf(alice)) == before[alice] + nmr(100)
    assert int(token.balanceOf(bob)) == before[bob] + nmr(200)
    books_balance(desk, token)


def test_rule__right__pays_and_rejects_the_disputed_result_posted_again(desk, tournament, token, harness, posted,
                                                                         disputer, arbiter, owner):
    rnd, res = posted
    token.mint(owner, REWARD, sender=owner)
    token.approve(desk, REWARD, sender=owner)
    desk.fundReserve(REWARD, sender=owner)
    before = int(token.balanceOf(disputer))
    desk.dispute(rnd.id, res.root, EVIDENCE, sender=disputer)
    harness.post(rnd, res, at=harness.now() + 1)  # a dishonest committee insists
    tx = desk.rule(rnd.id, True, "recomputed: alpha's payout is 1 NMR", sender=arbiter)
    assert [e.disputerRight for e in tx.events.filter(desk.Ruled)] == [True]
    assert int(token.balanceOf(disputer)) == before + REWARD
    assert state(tournament, rnd) == CLOSED  # the disputed root is rejected again: it never becomes final
    books_balance(desk, token)


def test_rule__wrong__forfeits_the_bond__and_only_the_arbiter_rules(desk, token, posted, disputer, arbiter, stranger,
                                                                    owner):
    rnd, res = posted
    desk.dispute(rnd.id, res.root, EVIDENCE, sender=disputer)
    for who in (stranger, owner, disputer):
        with ape.reverts(desk.AccessControlUnauthorizedAccount):
            desk.rule(rnd.id, True, "", sender=who)
    desk.rule(rnd.id, False, "the posted result is right", sender=arbiter)
    assert int(desk.reserve()) == BOND and int(desk.bonded()) == 0
    with ape.reverts(desk.NoOpenDispute, roundId=rnd.id):
        desk.rule(rnd.id, True, "", sender=arbiter)
    with ape.reverts(desk.NoOpenDispute, roundId=rnd.id):
        desk.settle(rnd.id, sender=arbiter)
    books_balance(desk, token)


def test_reject_result__only_the_guardian_or_the_rejecter_role(tournament, harness, posted, stranger, oracle):
    rnd, _ = posted
    for who in (stranger, oracle):
        with ape.reverts(tournament.AccessControlUnauthorizedAccount):
            tournament.rejectResult(rnd.id, "no", sender=who)
    assert state(tournament, rnd) == POSTED


def test_withdraw_reserve__only_the_admin__never_the_open_bonds(desk, token, posted, disputer, owner, stranger):
    rnd, res = posted
    desk.dispute(rnd.id, res.root, EVIDENCE, sender=disputer)
    with ape.reverts(desk.ReserveTooSmall, reserve=0, amount=1):
        desk.withdrawReserve(owner, 1, sender=owner)
    with ape.reverts(desk.AccessControlUnauthorizedAccount):
        desk.withdrawReserve(stranger, 0, sender=stranger)
    assert int(desk.bonded()) == BOND
    books_balance(desk, token)


def test_constructor__refuses_a_zero_bond_or_tournament(project, owner, tournament, arbiter):
    with ape.reverts(project.DisputeDesk.InvalidBond):
        owner.deploy(project.DisputeDesk, tournament, owner, T_ADMIN_DELAY, arbiter, 0, REWARD)
    with ape.reverts(project.DisputeDesk.DeskZeroAddress):
        owner.deploy(project.DisputeDesk, "0x" + "00" * 20, owner, T_ADMIN_DELAY, arbiter, BOND, REWARD)


# Property: whatever sequence of disputes, corrections, re-postings and rulings, a disputed root
# never becomes final while its dispute is open, and the desk's books balance to the wei.

ACTIONS = st.lists(st.sampled_from(["dispute", "correct", "repost", "rule_right", "rule_wrong", "settle", "wait"]),
                   min_size=1, max_size=8)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
def test_property__any_sequence__books_balance_and_no_disputed_root_is_final(
        desk, tournament, token, harness, chain, disputer, arbiter, alice, bob, actions):
    snapshot = chain.snapshot()
    try:
        rnd = harness.open_round()
        harness.stake(alice, rnd, "alpha", nmr(100))
        harness.stake(bob, rnd, "bravo", nmr(200))
        harness.fund(alice, rnd, nmr(20))
        results = [harness.result(rnd, [("alpha", alice, nmr(3), 0), ("bravo", bob, 0, nmr(4))]),
                   corrected(harness, rnd, alice, bob)]
        harness.post(rnd, results[0])
        for action in actions:
            info = tournament.getRound(rnd.id)
            open_dispute = desk.disputeOf(rnd.id)
            now = max(harness.now(), rnd.resolve) + 1
            last_post = rnd.resolve + T_GRACE - T_CHALLENGE
            if action == "dispute" and state(tournament, rnd) == POSTED and open_dispute.disputer == "0x" + "00" * 20:
                desk.dispute(rnd.id, info.root, EVIDENCE, sender=disputer)
            elif action in ("correct", "repost") and info.postedAt == 0 and now <= last_post:
                harness.post(rnd, results[1] if action == "correct" else results[0], at=now)
            elif action.startswith("rule") and open_dispute.disputer != "0x" + "00" * 20:
                desk.rule(rnd.id, action == "rule_right", "", sender=arbiter)
            elif action == "settle" and open_dispute.disputer != "0x" + "00" * 20:
                try:
                    desk.settle(rnd.id, sender=alice)
                except ContractLogicError:
                    pass
            elif action == "wait":
                harness.at(now + T_CHALLENGE // 2)
            harness.view_at(max(harness.now(), int(chain.blocks.head.timestamp) + 1))
            books_balance(desk, token)
            still_open = desk.disputeOf(rnd.id)
            if still_open.disputer != "0x" + "00" * 20 and state(tournament, rnd) == FINAL:
                # The disputed posting was rejected when the dispute was filed: its root may only be
                # final as a later posting (the committee insisting) that outlived its own challenge
                # period; `settle` then dismisses the dispute.
                info = tournament.getRound(rnd.id)
                assert bytes(info.root) != bytes(still_open.disputedRoot) or int(info.postedAt) > int(still_open.filedAt)
    finally:
        chain.restore(snapshot)
