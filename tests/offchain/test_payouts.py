"""Payout arithmetic: exact examples and the invariants the contract enforces."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nmrstake.errors import InputError
from nmrstake.payouts import SCORE_QUANTUM, RoundParams, StakeEntry, compute_payouts, payout_factor, quantize_score

NMR = 10**18
A = "0x" + "11" * 20
B = "0x" + "22" * 20
C = "0x" + "33" * 20
NUMERAI = dict(corr_multiplier_bps=5_000, mmc_multiplier_bps=20_000, clip_bps=500)


def params(threshold: int = 72_000 * NMR, funded: int = 10**30, **kw) -> RoundParams:
    return RoundParams(**{**NUMERAI, **kw}, stake_threshold=threshold, funded=funded)


def test_numerai_example():
    # 0.5 * 0.02 + 2 * 0.01 = 0.03 -> 3 % of 100 NMR, below the 5 % clip
    rows, summary = compute_payouts([StakeEntry("m", A, 100 * NMR, True, "", 0.02, 0.01)], params())
    (row,) = rows
    # the scores are quantized to millionths before any amount: the binary floats 0.02 and 0.01
    # count as exactly 2/100 and 1/100, so the payout is exactly 3 NMR
    assert row.payout == 3 * NMR
    assert row.burn == 0
    assert row.staker == "0x1111111111111111111111111111111111111111"
    assert row.score == pytest.approx(0.03)
    assert row.fraction == pytest.approx(0.03)
    assert summary.payout_factor == 1
    assert summary.total_payout == row.payout and summary.total_burn == 0
    assert summary.scale == 1 and summary.scale_text == "1" and summary.scale_float == 1.0


def test_exact_rounding_payouts_down_burns_up():
    # corr 0.5 * 0.25 = 0.125 -> clipped to 0.05; stake 7 wei -> payout floor(0.35) = 0
    rows, _ = compute_payouts(
        [
            StakeEntry("up", A, 7, True, "", 0.25, 0.0),
            StakeEntry("down", B, 7, True, "", -0.25, 0.0),
            StakeEntry("big", C, 1000, True, "", 0.0, 0.0078),  # 2 * 0.0078 = 0.0156 exactly, once quantized
        ],
        params(),
    )
    up, down, big = rows
    assert (up.payout, up.burn) == (0, 0)
    assert (down.payout, down.burn) == (0, 1)  # ceil(0.35) = 1
    assert (big.payout, big.burn) == (15, 0)  # floor(1000 * 0.0156) = floor(15.6)
    assert big.fraction_exact == Fraction(156, 10_000)


def test_clip_both_sides():
    rows, summary = compute_payouts(
        [StakeEntry("a", A, 1000 * NMR, True, "", 0.9, 0.9), StakeEntry("b", B, 1000 * NMR, True, "", -0.9, -0.9)],
        params(),
    )
    assert rows[0].payout == 50 * NMR and rows[0].burn == 0
    assert rows[1].burn == 50 * NMR and rows[1].payout == 0
    assert rows[0].fraction == 0.05 and rows[1].fraction == -0.05
    assert summary.total_payout == summary.total_burn == 50 * NMR


def test_payout_factor_and_invalid_stakes():
    entries = [
        StakeEntry("a", A, 60_000 * NMR, True, "", 0.1, 0.0),  # score 0.05 -> 0.05 * 0.8 = 0.04
        StakeEntry("b", B, 30_000 * NMR, True, "", -0.1, 0.0),
        StakeEntry("c", C, 50_000 * NMR, False, "no predictions file", None, None),
    ]
    rows, summary = compute_payouts(entries, params(threshold=72_000 * NMR))
    assert summary.total_staked == 140_000 * NMR
    assert summary.total_at_risk == 90_000 * NMR
    assert summary.payout_factor == Fraction(4, 5)
    assert summary.payout_factor_text == "4/5"
    exact = Fraction(4, 5) * Fraction(1, 2) * Fraction(1, 10)  # 0.1 quantized is exactly 1/10
    assert rows[0].payout == math.floor(60_000 * NMR * exact)
    assert rows[1].burn == math.ceil(30_000 * NMR * exact)
    assert (rows[2].payout, rows[2].burn, rows[2].valid, rows[2].reason) == (0, 0, False, "no predictions file")
    assert rows[2].score is None and rows[2].fraction == 0.0
    assert summary.valid_count == 2 and summary.stake_count == 3
    assert payout_factor(10, 0) == 1


def test_scale_down_to_funding():
    entries = [StakeEntry(f"m{i}", f"0x{i + 1:040x}", (i + 1) * 1000 * NMR, True, "", 0.1, 0.0) for i in range(3)]
    # raw payouts: 5 % of 1000, 2000, 3000 NMR = 50, 100, 150 NMR; funded 200 NMR -> scale 2/3
    rows, summary = compute_payouts(entries, params(funded=200 * NMR))
    assert summary.raw_total_payout > 200 * NMR
    raw = [math.floor(e.stake * Fraction(1, 20)) for e in entries]
    assert summary.scale == Fraction(200 * NMR, sum(raw))
    assert summary.scaled
    assert [r.payout for r in rows] == [x * 200 * NMR // sum(raw) for x in raw]
    assert summary.total_payout <= 200 * NMR
    assert Fraction(summary.scale_text) == summary.scale
    assert summary.scale_float == pytest.approx(2 / 3)


def test_zero_funding_and_zero_multiplier_scores():
    rows, summary = compute_payouts([StakeEntry("a", A, NMR, True, "", 0.5, None)], params(funded=0, mmc_multiplier_bps=0))
    assert rows[0].payout == 0 and summary.scale == 0
    with pytest.raises(InputError, match="model a: valid stake without a finite MMC score"):
        compute_payouts([StakeEntry("a", A, NMR, True, "", 0.5, None)], params())
    with pytest.raises(InputError, match="CORR"):
        compute_payouts([StakeEntry("a", A, NMR, True, "", float("nan"), 0.1)], params())


@pytest.mark.parametrize(
    "entry, message",
    [
        (StakeEntry("Bad", A, 1, True, "", 0.0, 0.0), "not a valid model name"),
        (StakeEntry("a", "0x12", 1, True, "", 0.0, 0.0), "is not an address"),
        (StakeEntry("a", A, -1, True, "", 0.0, 0.0), "must not be negative"),
        (StakeEntry("a", A, 1.5, True, "", 0.0, 0.0), "expected an integer"),  # type: ignore[arg-type]
    ],
)
def test_bad_entries(entry, message):
    with pytest.raises(InputError, match=message):
        compute_payouts([entry], params())


def test_duplicate_stake_rejected():
    entry = StakeEntry("a", A, 1, True, "", 0.0, 0.0)
    with pytest.raises(InputError, match="two stakes"):
        compute_payouts([entry, StakeEntry("a", A.upper().replace("0X", "0x"), 2, True, "", 0.0, 0.0)], params())


def test_params_validation():
    with pytest.raises(TypeError):  # by name only: nine look-alike integers are never passed by position
        RoundParams(5000, 20000, 500, 1, 1)  # type: ignore[misc]
    with pytest.raises(InputError, match="clip_bps: must be at most 10000"):
        params(clip_bps=10_001, threshold=1, funded=1)
    with pytest.raises(InputError, match="funded: must not be negative"):
        params(threshold=1, funded=-1)
    p = params()
    assert RoundParams.from_json(p.to_json()) == p


# ---------------------------------------------------------------- invariants

scores = st.one_of(
    st.floats(min_value=-1.0, max_value=1.0, allow_nan=False),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1.0, -1.0]),
)
entries_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=10**26),  # stake (0 .. 1e8 NMR)
        st.booleans(),  # valid
        scores,
        scores,
    ),
    min_size=0,
    max_size=30,
)
params_strategy = st.builds(
    RoundParams,
    corr_multiplier_bps=st.integers(0, 100_000),
    mmc_multiplier_bps=st.integers(0, 100_000),
    clip_bps=st.integers(0, 10_000),
    stake_threshold=st.integers(0, 10**27),
    funded=st.one_of(st.integers(0, 10**27), st.just(0)),
)


def make_entries(raw):
    return [
        StakeEntry(f"m{i}", f"0x{i + 1:040x}", stake, valid, "" if valid else "invalid", corr, mmc)
        for i, (stake, valid, corr, mmc) in enumerate(raw)
    ]


@given(entries_strategy, params_strategy)
@settings(max_examples=400, deadline=None)
def test_invariants(raw, p):
    entries = make_entries(raw)
    rows, summary = compute_payouts(entries, p)
    n = len(rows)
    total_staked = sum(e.stake for e in entries)
    assert summary.total_staked == total_staked
    assert summary.total_payout == sum(r.payout for r in rows)
    assert summary.total_burn == sum(r.burn for r in rows)
    for entry, row in zip(entries, rows):
        assert row.payout >= 0 and row.burn >= 0
        assert row.payout == 0 or row.burn == 0
        assert row.burn <= row.stake
        assert row.burn <= -((-row.stake * p.clip_bps) // 10_000)  # ceil(stake * clip)
        assert row.payout <= row.stake * p.clip_bps // 10_000
        if not entry.valid:
            assert row.payout == row.burn == 0 and not row.valid and row.reason == "invalid"
    assert summary.total_payout <= p.funded
    # the contract's two checks (integer division)
    assert summary.total_payout <= total_staked * p.clip_bps // 10_000
    assert summary.total_burn <= total_staked * p.clip_bps // 10_000 + n
    assert summary.payout_factor <= 1
    # determinism
    assert compute_payouts(entries, p) == (rows, summary)


@given(entries_strategy, params_strategy)
@settings(max_examples=200, deadline=None)
def test_exact_formula(raw, p):
    entries = make_entries(raw)
    rows, summary = compute_payouts(entries, p)
    at_risk = sum(e.stake for e in entries if e.valid)
    factor = min(Fraction(1), Fraction(p.stake_threshold, at_risk)) if at_risk else Fraction(1)
    clip = Fraction(p.clip_bps, 10_000)
    raw_payouts = []
    for e, row in zip(entries, rows):
        if not e.valid:
            raw_payouts.append(0)
            continue
        score = Fraction(p.corr_multiplier_bps, 10_000) * quantize_score(e.corr) + Fraction(
            p.mmc_multiplier_bps, 10_000
        ) * quantize_score(e.mmc)
        f = max(-clip, min(clip, factor * score))
        assert row.fraction_exact == f
        raw_payouts.append(math.floor(e.stake * f) if f > 0 else 0)
        assert row.burn == (math.ceil(e.stake * -f) if f < 0 else 0)
    total = sum(raw_payouts)
    expected = raw_payouts if total <= p.funded else [x * p.funded // total for x in raw_payouts]
    assert [r.payout for r in rows] == expected


@given(st.floats(min_value=-1, max_value=1, allow_nan=False), st.integers(min_value=-8, max_value=8))
@settings(max_examples=2000, deadline=None)
def test_quantize_score__a_few_ulps_of_float_noise__give_the_same_score(value, ulps):
    """Two oracles whose CORR differs in the last bits (another BLAS, another CPU) quantize it to
    the same millionths, unless it lies within those bits of a half-millionth: the one case where
    any rounding rule must split (about 10**-10 of scores)."""
    noisy = value
    for _ in range(abs(ulps)):
        noisy = math.nextafter(noisy, math.inf if ulps > 0 else -math.inf)
    half_way = (Fraction(value) / SCORE_QUANTUM) % 1 - Fraction(1, 2)
    assume(abs(half_way) * SCORE_QUANTUM > abs(Fraction(noisy) - Fraction(value)))
    assert quantize_score(noisy) == quantize_score(value)
    assert abs(quantize_score(value) - Fraction(value)) <= SCORE_QUANTUM / 2


@given(st.lists(st.tuples(st.integers(min_value=1, max_value=10**24), st.floats(min_value=-0.2, max_value=0.2),
                          st.floats(min_value=-0.2, max_value=0.2)), min_size=1, max_size=12),
       st.integers(min_value=1, max_value=4), params_strategy)
@settings(max_examples=300, deadline=None)
def test_payouts__scores_perturbed_in_their_last_bits__pay_the_same_to_the_wei(stakes, ulps, p):
    """The payouts (hence the Merkle root) of a round do not move when every score moves by a few
    units in the last place, as long as no score sits on a half-millionth."""
    def near_half(x: float) -> bool:
        return abs((Fraction(x) / SCORE_QUANTUM) % 1 - Fraction(1, 2)) < Fraction(1, 10**6)

    assume(not any(near_half(c) or near_half(m) for _, c, m in stakes))
    def bump(x: float) -> float:
        for _ in range(ulps):
            x = math.nextafter(x, math.inf)
        return x

    entries = [StakeEntry(f"m{i}", A, s, True, "", c, m) for i, (s, c, m) in enumerate(stakes)]
    noisy = [StakeEntry(f"m{i}", A, s, True, "", bump(c), bump(m)) for i, (s, c, m) in enumerate(stakes)]
    assert [(r.payout, r.burn) for r in compute_payouts(entries, p)[0]] == \
        [(r.payout, r.burn) for r in compute_payouts(noisy, p)[0]]
