"""Reading the event index (:mod:`nmrstake.index.tables`): rounds, a round's stakes with their
commitments, claims and results, as dataclasses, from the rows alone (no chain read).

Every query takes `confirmations`: only events with at least that many confirmations are read (an
event in the head block has one), counted from the head the indexer last saw
(:func:`status`). 0, the default, reads everything indexed, as the chain's head shows it.

A round is rebuilt from its events as the contract keeps it (:func:`round_info`): its terms from
`RoundOpened`; total staked and stake count from `Staked` (a stake's first `Staked` adds a key);
funding from the last `Funded`/`Allocated`; the posted result from `ResultPosted` until a
`ResultRejected`; claimed from `Claimed`, `EmergencyWithdrawal` and `StakeExited`; settled from
`Settled`. Its state is the contract's `_state` at the time given (by default the head's time
as last indexed), with the deployment's challenge and grace periods.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from nmrstake.errors import UnknownRoundError
from nmrstake.index.tables import BIGINT_MAX, cursors, events
from nmrstake.models import model_label
from nmrstake.tournament import ZERO32, RoundInfo, RoundState, RoundTerms

if TYPE_CHECKING:
    from nmrstake.jsontypes import JsonValue


@dataclass(frozen=True)
class IndexStatus:
    """Where a stream's index stands: the last block indexed, and the chain's head (and its
    time) when last read."""

    stream: str
    cursor: int
    head: int
    head_time: int


@dataclass(frozen=True)
class OpenedRound:
    round_id: int
    terms: RoundTerms
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class IndexedStake:
    """A stake as its events leave it: the last `Staked.newTotal` of (model, staker) and its
    latest commitment (`Staked` or `CommitmentChanged`); claims do not show (see `claims`)."""

    round_id: int
    model: str
    model_id: bytes
    staker: str
    amount: int
    commitment: bytes
    block_number: int


@dataclass(frozen=True)
class IndexedClaim:
    round_id: int
    model: str
    model_id: bytes
    staker: str
    payout: int
    burn: int
    amount_sent: int
    caller: str
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class IndexedResult:
    """A `ResultPosted`, with the reason of the `ResultRejected` that undid it, if one did."""

    round_id: int
    root: bytes
    total_payout: int
    total_burn: int
    leaf_count: int
    results_hash: bytes
    final_at: int
    block_number: int
    tx_hash: str
    rejected: str | None = None


@dataclass(frozen=True)
class _Event:
    event: str
    args: dict[str, JsonValue]
    round_id: int | None
    block_number: int
    log_index: int
    tx_hash: str

    def int(self, name: str) -> int:
        return int(str(self.args[name]))

    def b32(self, name: str) -> bytes:
        return bytes.fromhex(str(self.args[name])[2:]).rjust(32, b"\x00")

    def text(self, name: str) -> str:
        return str(self.args[name])


def status(engine: sa.Engine, stream: str) -> IndexStatus | None:
    """The stream's cursor and head; None before its first indexing."""
    with engine.connect() as conn:
        found = conn.execute(sa.select(cursors.c.block_number, cursors.c.head, cursors.c.head_time)
                             .where(cursors.c.stream == stream)).first()
    return None if found is None else IndexStatus(stream, int(found[0]), int(found[1]), int(found[2]))


def _read(engine: sa.Engine, stream: str, names: Iterable[str], *, round_id: int | None = None,
          confirmations: int = 0) -> tuple[list[_Event], IndexStatus | None]:
    """The stream's events named `names` (of `round_id` if given) with at least `confirmations`,
    in chain order, and the status they were read at (one snapshot: one connection, one read
    transaction on PostgreSQL and SQLite alike)."""
    if confirmations < 0:
        raise ValueError(f"confirmations: must be 0 or more, got {confirmations}")
    query = sa.select(events.c.event, events.c.args, events.c.round_id, events.c.block_number, events.c.log_index,
                      events.c.tx_hash).where(events.c.stream == stream, events.c.event.in_(list(names)))
    if round_id is not None:
        if not 0 <= round_id <= BIGINT_MAX:  # never stored (tables.py): nothing to read
            return [], status(engine, stream)
        query = query.where(events.c.round_id == round_id)
    with engine.connect() as conn, conn.begin():
        found = conn.execute(sa.select(cursors.c.block_number, cursors.c.head, cursors.c.head_time)
                             .where(cursors.c.stream == stream)).first()
        state = None if found is None else IndexStatus(stream, int(found[0]), int(found[1]), int(found[2]))
        if confirmations:
            query = query.where(events.c.block_number <= (state.head if state else -1) - confirmations + 1)
        rows = conn.execute(query.order_by(events.c.block_number, events.c.log_index)).all()
    return [_Event(str(r[0]), dict(r[1]), None if r[2] is None else int(r[2]), int(r[3]), int(r[4]), str(r[5]))
            for r in rows], state


def _terms(e: _Event) -> RoundTerms:
    return RoundTerms(open_time=e.int("openTime"), close_time=e.int("closeTime"), resolve_time=e.int("resolveTime"),
                      corr_multiplier_bps=e.int("corrMultiplierBps"), mmc_multiplier_bps=e.int("mmcMultiplierBps"),
                      clip_bps=e.int("clipBps"), stake_threshold=e.int("stakeThreshold"),
                      stake_cap=e.int("stakeCap"), min_stake=e.int("minStake"))


def opened_rounds(engine: sa.Engine, stream: str, *, confirmations: int = 0) -> list[OpenedRound]:
    """Every round opened (`RoundOpened`), by round id."""
    found, _ = _read(engine, stream, ["RoundOpened"], confirmations=confirmations)
    rounds = {e.round_id: OpenedRound(e.round_id, _terms(e), e.block_number, e.tx_hash)
              for e in found if e.round_id is not None}
    return [rounds[rid] for rid in sorted(rounds)]


def round_ids(engine: sa.Engine, stream: str, *, confirmations: int = 0) -> list[int]:
    """The ids of the rounds opened, ascending (what `TournamentClient.round_ids` scans logs for)."""
    return [r.round_id for r in opened_rounds(engine, stream, confirmations=confirmations)]


_ROUND_EVENTS = ("RoundOpened", "Staked", "Funded", "Allocated", "ResultPosted", "ResultRejected", "Claimed",
                 "EmergencyWithdrawal", "StakeExited", "Settled")


def _state(terms: RoundTerms, posted_at: int, now: int, challenge_period: int, grace_period: int) -> RoundState:
    """The contract's `_state` (Tournament.sol), at `now`."""
    if now < terms.open_time:
        return RoundState.SCHEDULED
    if now < terms.close_time:
        return RoundState.OPEN
    if posted_at:
        return RoundState.FINAL if now >= posted_at + challenge_period else RoundState.POSTED
    if now >= terms.resolve_time + grace_period:
        return RoundState.EXPIRED
    return RoundState.CLOSED


def _rebuild(round_id: int, found: list[_Event], now: int, challenge_period: int, grace_period: int) -> RoundInfo:
    opened = next(e for e in found if e.event == "RoundOpened")
    terms = _terms(opened)
    total_staked = funded = total_payout = total_burn = claimed = claimable = posted_at = 0
    keys: set[tuple[str, str]] = set()
    root = results_hash = ZERO32
    settled = False
    for e in found:
        if e.event == "Staked":
            total_staked += e.int("amount")
            keys.add((e.text("modelId"), e.text("staker")))
        elif e.event in ("Funded", "Allocated"):
            funded = e.int("newFunded")
        elif e.event == "ResultPosted":
            total_payout, total_burn = e.int("totalPayout"), e.int("totalBurn")
            root, results_hash = e.b32("root"), e.b32("resultsHash")
            posted_at = e.int("finalAt") - challenge_period
            claimable = total_staked - total_burn + total_payout
        elif e.event == "ResultRejected":
            total_payout = total_burn = claimable = posted_at = 0
            root = results_hash = ZERO32
        elif e.event == "Claimed":
            claimed += e.int("amountSent")
        elif e.event == "EmergencyWithdrawal":
            claimed += e.int("amount")
        elif e.event == "StakeExited":
            claimed += e.int("amountOut")
        elif e.event == "Settled":
            settled = True
    return RoundInfo(**asdict(terms), round_id=round_id,
                     state=_state(terms, posted_at, now, challenge_period, grace_period),
                     total_staked=total_staked, stake_count=len(keys), funded=funded, total_payout=total_payout,
                     total_burn=total_burn, claimed=claimed, claimable=claimable, posted_at=posted_at,
                     settled=settled, root=root, results_hash=results_hash, challenge_period=challenge_period,
                     grace_period=grace_period)


def round_infos(engine: sa.Engine, stream: str, *, challenge_period: int, grace_period: int,
                now: int | None = None, confirmations: int = 0, round_id: int | None = None) -> list[RoundInfo]:
    """Every round (or round `round_id`) as `TournamentClient.rounds` reads it from the chain,
    rebuilt from the index (see the module); `now` defaults to the indexed head's time."""
    found, state = _read(engine, stream, _ROUND_EVENTS, round_id=round_id, confirmations=confirmations)
    at = now if now is not None else (state.head_time if state else 0)
    by_round: dict[int, list[_Event]] = {}
    for e in found:
        if e.round_id is not None:
            by_round.setdefault(e.round_id, []).append(e)
    return [_rebuild(rid, by_round[rid], at, challenge_period, grace_period) for rid in sorted(by_round)
            if any(e.event == "RoundOpened" for e in by_round[rid])]


def round_info(engine: sa.Engine, stream: str, round_id: int, *, challenge_period: int, grace_period: int,
               now: int | None = None, confirmations: int = 0) -> RoundInfo:
    """Round `round_id` (see :func:`round_infos`); UnknownRoundError if the index has not seen it opened."""
    found = round_infos(engine, stream, challenge_period=challenge_period, grace_period=grace_period, now=now,
                        confirmations=confirmations, round_id=round_id)
    if not found:
        raise UnknownRoundError(f"round {round_id} has not been opened (as far as the index, at "
                                f"{confirmations or 0} confirmations, has seen)")
    return found[0]


def stakes(engine: sa.Engine, stream: str, round_id: int, *, confirmations: int = 0) -> list[IndexedStake]:
    """The round's stakes in first-stake order, as `TournamentClient.stakes_at_close` reads them."""
    found, _ = _read(engine, stream, ["Staked", "CommitmentChanged"], round_id=round_id, confirmations=confirmations)
    amounts: dict[tuple[bytes, str], int] = {}
    commitments: dict[tuple[bytes, str], bytes] = {}
    last: dict[tuple[bytes, str], int] = {}
    for e in found:
        key = (e.b32("modelId"), e.text("staker"))
        if e.event == "Staked":
            amounts[key] = e.int("newTotal")
            commitments[key] = e.b32("commitment")
        else:
            commitments[key] = e.b32("newCommitment")
        last[key] = e.block_number
    return [IndexedStake(round_id, model_label(mid), mid, who, amounts[(mid, who)], commitments[(mid, who)],
                         last[(mid, who)]) for mid, who in amounts]


def claims(engine: sa.Engine, stream: str, round_id: int, *, confirmations: int = 0) -> list[IndexedClaim]:
    """The round's `Claimed` events, in chain order."""
    found, _ = _read(engine, stream, ["Claimed"], round_id=round_id, confirmations=confirmations)
    return [IndexedClaim(round_id, model_label(e.b32("modelId")), e.b32("modelId"), e.text("staker"), e.int("payout"),
                         e.int("burn"), e.int("amountSent"), e.text("caller"), e.block_number, e.tx_hash)
            for e in found]


def results(engine: sa.Engine, stream: str, round_id: int, *, confirmations: int = 0) -> list[IndexedResult]:
    """The results posted for the round, in chain order, each with the reason it was rejected
    (a `ResultRejected` names the root it undid), if it was."""
    found, _ = _read(engine, stream, ["ResultPosted", "ResultRejected"], round_id=round_id,
                     confirmations=confirmations)
    posted: list[IndexedResult] = []
    for e in found:
        if e.event == "ResultPosted":
            posted.append(IndexedResult(round_id, e.b32("root"), e.int("totalPayout"), e.int("totalBurn"),
                                        e.int("leafCount"), e.b32("resultsHash"), e.int("finalAt"), e.block_number,
                                        e.tx_hash))
        elif posted and posted[-1].root == e.b32("root") and posted[-1].rejected is None:
            from dataclasses import replace

            posted[-1] = replace(posted[-1], rejected=e.text("reason"))
    return posted


__all__ = ["IndexStatus", "IndexedClaim", "IndexedResult", "IndexedStake", "OpenedRound", "claims", "opened_rounds",
           "round_ids", "round_info", "round_infos", "results", "stakes", "status"]
