"""Payout arithmetic: scores and stakes -> payout and burn per stake, exactly.

Money never goes through a float. For each valid stake::

    payout_factor = min(1, stake_threshold / total_at_risk)                  (a Fraction)
    score         = corr_multiplier * q(CORR) + mmc_multiplier * q(MMC)     (q: quantized to 1e-6)
    fraction      = clip(payout_factor * score, -clip, +clip)
    fraction > 0:  payout = floor(stake * fraction), burn = 0
    fraction < 0:  burn   = ceil(stake * -fraction),  payout = 0

where the multipliers and the clip are basis points (1.0 = 10_000) and ``total_at_risk`` is the
sum of the valid stakes. Invalid stakes are returned in full (payout = burn = 0). If the payouts
add up to more than the round's funding, every payout is scaled down:
``payout_i = floor(raw_i * funded / sum(raw))``. See docs/payouts.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from nmrstake.errors import InputError
from nmrstake.hashing import checksum_address
from nmrstake.models import check_model_label

__all__ = [
    "BPS",
    "RoundParams",
    "StakeEntry",
    "PayoutRow",
    "PayoutSummary",
    "compute_payouts",
    "quantize_score",
    "SCORE_DECIMALS",
    "SCORE_QUANTUM",
    "payout_factor",
    "stake_fraction",
    "fraction_text",
]

#: Basis points in 1.0.
BPS = 10_000


def _check_int(value: object, name: str, *, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name}: expected an integer, got {type(value).__name__}")
    if value < 0:
        raise InputError(f"{name}: must not be negative (got {value})")
    if maximum is not None and value > maximum:
        raise InputError(f"{name}: must be at most {maximum} (got {value})")
    return value


@dataclass(frozen=True, kw_only=True)
class RoundParams:
    """A round's payout parameters, as posted on-chain (given by name: see
    :meth:`nmrstake.tournament.RoundInfo.payout_params`).

    Attributes:
        corr_multiplier_bps: CORR multiplier in basis points (0.5 -> 5_000).
        mmc_multiplier_bps: MMC multiplier in basis points (2 -> 20_000).
        clip_bps: the clip of the stake fraction in basis points (5 % -> 500); at most 10_000,
            so that a burn never exceeds the stake.
        stake_threshold: wei; the payout factor is min(1, stake_threshold / total at risk).
        funded: wei available for payouts in this round; payouts are scaled down to fit.
    """

    corr_multiplier_bps: int
    mmc_multiplier_bps: int
    clip_bps: int
    stake_threshold: int
    funded: int

    def __post_init__(self) -> None:
        _check_int(self.corr_multiplier_bps, "corr_multiplier_bps")
        _check_int(self.mmc_multiplier_bps, "mmc_multiplier_bps")
        _check_int(self.clip_bps, "clip_bps", maximum=BPS)
        _check_int(self.stake_threshold, "stake_threshold")
        _check_int(self.funded, "funded")

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict; wei amounts as decimal strings (JSON numbers lose precision in JS)."""
        return {
            "corr_multiplier_bps": self.corr_multiplier_bps,
            "mmc_multiplier_bps": self.mmc_multiplier_bps,
            "clip_bps": self.clip_bps,
            "stake_threshold": str(self.stake_threshold),
            "funded": str(self.funded),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> RoundParams:
        """Inverse of :meth:`to_json`."""
        try:
            return cls(
                corr_multiplier_bps=int(data["corr_multiplier_bps"]),  # type: ignore[call-overload]
                mmc_multiplier_bps=int(data["mmc_multiplier_bps"]),  # type: ignore[call-overload]
                clip_bps=int(data["clip_bps"]),  # type: ignore[call-overload]
                stake_threshold=int(data["stake_threshold"]),  # type: ignore[call-overload]
                funded=int(data["funded"]),  # type: ignore[call-overload]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"round parameters: missing or malformed field ({exc})") from None


@dataclass(frozen=True)
class StakeEntry:
    """One stake of a round, with its validity and (for valid stakes) its scores.

    ``staker`` is normalised to its checksum form in the output rows.
    """

    model: str
    staker: str
    stake: int
    valid: bool
    reason: str = ""
    corr: float | None = None
    mmc: float | None = None


@dataclass(frozen=True)
class PayoutRow:
    """The outcome of one stake. ``score`` and ``fraction`` are floats for display; the exact
    fraction is ``fraction_exact``. ``payout``/``burn`` are wei."""

    model: str
    staker: str
    stake: int
    valid: bool
    reason: str
    corr: float | None
    mmc: float | None
    score: float | None
    fraction: float
    payout: int
    burn: int
    fraction_exact: Fraction = field(default=Fraction(0), repr=False)


@dataclass(frozen=True)
class PayoutSummary:
    """Round totals. ``payout_factor`` and ``scale`` are exact; ``scale`` is 1 unless the payouts
    had to be scaled down to ``funded`` (``raw_total_payout`` is the sum before scaling)."""

    total_staked: int
    total_at_risk: int
    payout_factor: Fraction
    total_payout: int
    total_burn: int
    scale: Fraction
    raw_total_payout: int
    stake_count: int
    valid_count: int

    @property
    def payout_factor_text(self) -> str:
        return fraction_text(self.payout_factor)

    @property
    def scale_text(self) -> str:
        return fraction_text(self.scale)

    @property
    def scale_float(self) -> float:
        return float(self.scale)

    @property
    def scaled(self) -> bool:
        return self.scale != 1


def fraction_text(value: Fraction) -> str:
    """'3/4', '1', '-1/2': a Fraction as text that ``Fraction(text)`` reads back."""
    return str(value)


def payout_factor(stake_threshold: int, total_at_risk: int) -> Fraction:
    """min(1, stake_threshold / total_at_risk), exactly; 1 when nothing is at risk."""
    if total_at_risk <= 0:
        return Fraction(1)
    return min(Fraction(1), Fraction(stake_threshold, total_at_risk))


#: Scores are quantized to this many decimal places before any amount is derived from them.
SCORE_DECIMALS = 6
SCORE_QUANTUM = Fraction(1, 10**SCORE_DECIMALS)


def quantize_score(value: float) -> Fraction:
    """A score as the nearest multiple of 10**-SCORE_DECIMALS (exact; halves to even), the value
    payouts are derived from.

    Two oracles scoring the same inputs on different machines (another BLAS, another CPU) may
    get CORR or MMC differing in the last bits of the float: a millionth is about 10**10 times
    coarser than that noise, so both quantize to the same value, and the same payouts and root,
    unless a score falls within a few units in the last place of a half-millionth (a chance of
    about 10**-10 per score). The float itself is kept for display."""
    return Fraction(round(Fraction(value) / SCORE_QUANTUM)) * SCORE_QUANTUM


def _score(value: float | None, multiplier_bps: int, what: str, model: str) -> Fraction:
    if multiplier_bps == 0:
        return Fraction(0)
    if value is None or not math.isfinite(value):
        raise InputError(f"model {model}: valid stake without a finite {what} score ({value!r})")
    return Fraction(multiplier_bps, BPS) * quantize_score(float(value))


def stake_fraction(
    corr: float | None, mmc: float | None, params: RoundParams, factor: Fraction, *, model: str = "?"
) -> tuple[Fraction, Fraction]:
    """(score, fraction) of a valid stake: score = multipliers × scores, fraction =
    clip(factor × score, ±clip). A score whose multiplier is zero may be None."""
    score = _score(corr, params.corr_multiplier_bps, "CORR", model) + _score(
        mmc, params.mmc_multiplier_bps, "MMC", model
    )
    clip = Fraction(params.clip_bps, BPS)
    return score, max(-clip, min(clip, factor * score))


def compute_payouts(entries: Sequence[StakeEntry], params: RoundParams) -> tuple[list[PayoutRow], PayoutSummary]:
    """Payout and burn of every stake (rows in the order of ``entries``) and the round totals.

    Raises InputError for a malformed entry: bad model name or address, negative stake, duplicate
    (model, staker), or a valid stake lacking a score its multiplier needs.
    """
    seen: set[tuple[str, str]] = set()
    stakers: list[str] = []
    for i, entry in enumerate(entries):
        check_model_label(entry.model, argument=f"stake {i + 1}: model")
        _check_int(entry.stake, f"stake {i + 1} (model {entry.model}): stake")
        staker = checksum_address(entry.staker, argument=f"stake {i + 1} (model {entry.model}): staker")
        key = (entry.model, staker)
        if key in seen:
            raise InputError(f"stake {i + 1}: model {entry.model} has two stakes from {staker}")
        seen.add(key)
        stakers.append(staker)

    total_staked = sum(e.stake for e in entries)
    total_at_risk = sum(e.stake for e in entries if e.valid)
    factor = payout_factor(params.stake_threshold, total_at_risk)

    scored: list[tuple[Fraction | None, Fraction, int, int]] = []
    for entry in entries:
        if not entry.valid:
            scored.append((None, Fraction(0), 0, 0))
            continue
        score, fraction = stake_fraction(entry.corr, entry.mmc, params, factor, model=entry.model)
        payout = burn = 0
        if fraction > 0:
            payout = entry.stake * fraction.numerator // fraction.denominator
        elif fraction < 0:
            burn = -((entry.stake * fraction.numerator) // fraction.denominator)  # ceil(stake × |f|)
        scored.append((score, fraction, payout, burn))

    raw_total = sum(p for _, _, p, _ in scored)
    scale = Fraction(1)
    if raw_total > params.funded:
        scale = Fraction(params.funded, raw_total)

    rows: list[PayoutRow] = []
    for entry, staker, (row_score, fraction, raw_payout, burn) in zip(entries, stakers, scored):
        payout = raw_payout if scale == 1 else raw_payout * params.funded // raw_total
        rows.append(
            PayoutRow(
                model=entry.model,
                staker=staker,
                stake=entry.stake,
                valid=bool(entry.valid),
                reason=entry.reason,
                corr=_opt_float(entry.corr),
                mmc=_opt_float(entry.mmc),
                score=None if row_score is None else float(row_score),
                fraction=float(fraction),
                payout=payout,
                burn=burn,
                fraction_exact=fraction,
            )
        )
    summary = PayoutSummary(
        total_staked=total_staked,
        total_at_risk=total_at_risk,
        payout_factor=factor,
        total_payout=sum(r.payout for r in rows),
        total_burn=sum(r.burn for r in rows),
        scale=scale,
        raw_total_payout=raw_total,
        stake_count=len(rows),
        valid_count=sum(1 for r in rows if r.valid),
    )
    return rows, summary


def _opt_float(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value
