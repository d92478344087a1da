"""Stake and pending apart (issue 23, line 3): `nmrstake.client.positions.stake_phase` puts each
position in one phase (at stake now, awaiting results, claimable, claimed) with the amount that
phase is about and the time it moves on; `phase_totals` adds them up, every phase listed, every
stake counted once. Pure functions: the CLI, the API and the dashboard all show them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nmrstake.client.positions import AT_STAKE, AWAITING, CLAIMABLE, CLAIMED, PHASES, phase_totals, stake_phase

ROUND = {"round": 7, "close_time": 1_000, "resolve_time": 2_000, "final_at": None}


def position(state: str, claim: str = "pending", **extra: object) -> dict[str, object]:
    return {"round": 7, "state": state, "stake": "100", "claim": claim, "claimable": "0", "expected": None,
            "final_at": None, "payout": None, "burn": None, **extra}


def test_stake_phase__open_round__is_at_stake_until_it_closes():
    phase = stake_phase(position("open"), ROUND, now=500)
    assert (phase.name, phase.amount, phase.changes_at, phase.event) == (AT_STAKE, 100, 1_000, "closes")


def test_stake_phase__open_round_past_its_close__awaits_results_due_at_resolve():
    phase = stake_phase(position("open"), ROUND, now=1_000)
    assert (phase.name, phase.amount, phase.changes_at, phase.event, phase.late) == (
        AWAITING, 100, 2_000, "results due", False)


def test_stake_phase__closed_round_past_resolve_without_result__is_late():
    assert stake_phase(position("closed"), ROUND, now=2_001).late is True
    assert stake_phase(position("closed"), ROUND, now=None).late is False  # no clock: no claim of lateness


def test_stake_phase__posted_result__awaits_final_at_the_expected_return():
    phase = stake_phase(position("posted", "in challenge period", expected="130", final_at=3_000), ROUND)
    assert (phase.name, phase.amount, phase.expected, phase.changes_at, phase.event) == (
        AWAITING, 130, True, 3_000, "final")


def test_stake_phase__final_unclaimed__is_claimable_now():
    phase = stake_phase(position("final", "claimable", claimable="130", payout="40", burn="10"), ROUND)
    assert (phase.name, phase.amount, phase.changes_at) == (CLAIMABLE, 130, None)


def test_stake_phase__claimed__is_what_the_claim_paid():
    phase = stake_phase(position("final", "claimed", payout="40", burn="10"), ROUND)
    assert (phase.name, phase.amount) == (CLAIMED, 130)


def test_stake_phase__expired_round__is_withdrawable_then_withdrawn_at_the_stake():
    withdrawable = stake_phase(position("expired", "withdrawable", claimable="100"), ROUND)
    assert (withdrawable.name, withdrawable.amount) == (CLAIMABLE, 100)
    withdrawn = stake_phase(position("expired", "withdrawn"), ROUND)
    assert (withdrawn.name, withdrawn.amount) == (CLAIMED, 100)


def test_phase_totals__every_phase_listed_in_order_with_the_earliest_change():
    positions = [position("open"), {**position("open"), "round": 8, "stake": "5"}, position("final", "claimed")]
    rounds = [ROUND, {**ROUND, "round": 8, "close_time": 900}]
    totals = phase_totals(positions, rounds, now=100)
    assert [t.name for t in totals] == list(PHASES)
    at_stake = totals[0]
    assert (at_stake.count, at_stake.amount, at_stake.next_change, at_stake.event) == (2, 105, 900, "closes")
    assert (totals[3].count, totals[3].amount) == (1, 100)
    assert (totals[1].count, totals[2].count) == (0, 0)


STATES = st.sampled_from([("open", "pending"), ("closed", "pending"), ("posted", "in challenge period"),
                          ("final", "claimable"), ("final", "claimed"), ("expired", "withdrawable"),
                          ("expired", "withdrawn")])


@given(st.lists(st.tuples(STATES, st.integers(0, 10**24), st.integers(0, 10**22), st.integers(0, 10**24)),
                max_size=30), st.integers(0, 5_000))
def test_phase_totals__counts_every_stake_once_and_adds_its_phase_amount(items, now):
    positions = []
    for (state, claim), stake, burn, payout in items:
        burn = min(burn, stake)
        positions.append(position(state, claim, stake=str(stake), burn=str(burn), payout=str(payout),
                                  claimable=str(stake - burn + payout), expected=str(stake - burn + payout),
                                  final_at=3_000))
    totals = phase_totals(positions, [ROUND], now)
    assert sum(t.count for t in totals) == len(positions)
    phases = [stake_phase(p, ROUND, now) for p in positions]
    for t in totals:
        assert t.amount == sum(ph.amount for ph in phases if ph.name == t.name)
        assert t.late == sum(1 for ph in phases if ph.name == t.name and ph.late)
