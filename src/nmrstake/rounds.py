"""Operator actions: open and fund rounds."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from nmrstake.amounts import format_nmr
from nmrstake.chain.transactions import Sent, send
from nmrstake.errors import ChainError, InputError


def bps(text: str, argument: str) -> int:
    """'0.5' -> 5000 basis points; exact, at most 4 decimals."""
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise InputError(f"{argument}: {text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise InputError(f"{argument}: must be a non-negative number, got {text!r}")
    scaled = value * 10_000
    if scaled != scaled.to_integral_value():
        raise InputError(f"{argument}: at most 4 decimals (basis points), got {text!r}")
    return int(scaled)


@dataclass(frozen=True)
class PayoutSettings:
    """How a round pays: payout = stake x clip(factor x (corr x CORR + mmc x MMC), +-clip), with
    factor = min(1, threshold / total stake at risk). Fixed on chain when the round opens."""

    corr_multiplier_bps: int
    mmc_multiplier_bps: int
    clip_bps: int
    stake_threshold: int


#: A threshold no total stake reaches (the contract's uint96 maximum): the payout factor is always 1.
NO_THRESHOLD = 2**96 - 1


def threshold_text(wei: int | str) -> str:
    """A round's stake threshold as people read it: ``none`` for :data:`NO_THRESHOLD` (the
    numerai-2026 preset: the payout factor is always 1), else the amount in NMR. The dashboard's
    round page shows it the same way (its ``threshold`` macro, templates/macros.html)."""
    value = int(wei)
    return "none" if value >= NO_THRESHOLD else f"{format_nmr(value)} NMR"


#: Numerai's settings by era: 0.5 x CORR + 2 x MMC, clip 5 %, threshold 72,000 NMR (2024); clip 1,
#: payout factor 1 and 5 x CORR + 10 x MMC in the main tournament since its 2026 on-chain staking.
PAYOUT_PRESETS: dict[str, PayoutSettings] = {
    "numerai-2024": PayoutSettings(5_000, 20_000, 500, 72_000 * 10**18),
    "numerai-2026": PayoutSettings(50_000, 100_000, 10_000, NO_THRESHOLD),
}


def payout_preset(name: str, *, argument: str = "--payouts") -> PayoutSettings:
    try:
        return PAYOUT_PRESETS[name]
    except KeyError:
        raise InputError(f"{argument} {name!r}: choose one of {', '.join(PAYOUT_PRESETS)}") from None


@dataclass(frozen=True)
class RoundSpec:
    round_id: int
    open_in: int
    close_after: int
    resolve_after: int
    corr_multiplier_bps: int = 5_000
    mmc_multiplier_bps: int = 20_000
    clip_bps: int = 500
    stake_threshold: int = 72_000 * 10**18
    stake_cap: int = 100_000 * 10**18
    min_stake: int = 10**16


def open_round(client: Any, sender: Any, spec: RoundSpec, *, start: int | None = None) -> Sent:
    """Open a round whose times are relative to `start` (default: the next block's time);
    `sender` is an ape account with the manager role."""
    from ape import chain

    from nmrstake.tournament import RoundTerms

    if spec.clip_bps == 0 or spec.clip_bps > 10_000:
        raise InputError("--clip: must be above 0 and at most 1")
    if spec.close_after <= 0:
        raise InputError("--close: the round must stay open for some time")
    if spec.min_stake > spec.stake_cap:
        raise InputError("--min-stake: must not be above --cap")
    last = int(client.tournament.lastRoundId())
    if spec.round_id <= last:
        raise InputError(f"ROUND_ID: round ids only increase; {spec.round_id} is not above the last one, {last}")
    t0 = (chain.pending_timestamp if start is None else start) + spec.open_in
    terms = RoundTerms(
        open_time=t0, close_time=t0 + spec.close_after, resolve_time=t0 + spec.close_after + spec.resolve_after,
        corr_multiplier_bps=spec.corr_multiplier_bps, mmc_multiplier_bps=spec.mmc_multiplier_bps,
        clip_bps=spec.clip_bps, stake_threshold=spec.stake_threshold, stake_cap=spec.stake_cap,
        min_stake=spec.min_stake,
    )
    return send(client.tournament.openRound, spec.round_id, terms.to_contract(), sender=sender,
                what=f"opening round {spec.round_id}")


def fund_round(client: Any, funder: Any, round_id: int, wei: int) -> Sent:
    """Approve (if needed) and fund a round's payouts from `funder` (an ape account)."""
    balance = int(client.token.balanceOf(funder.address))
    if balance < wei:
        raise ChainError(f"insufficient balance: {funder.address} holds {format_nmr(balance)} NMR, funding needs {format_nmr(wei)}")
    info = client.round(round_id)
    if info.state.label in ("final", "expired"):
        raise ChainError(f"round {round_id} is {info.state.label}: it can no longer be funded; nothing was sent")
    from nmrstake.token import approve_exactly

    approve_exactly(client.token, funder, client.tournament.address, wei)
    return send(client.tournament.fund, round_id, wei, sender=funder, what=f"funding round {round_id}")
