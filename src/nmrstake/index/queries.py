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

The dashboard's reads (docs/dashboard.md) are here too: a round's events as they are
(:func:`round_events`: its transactions, the committee's `ResultAttested`, the dispute desk's
events) and a model's or a staker's stakes across rounds (:func:`positions`), each with its latest
commitment and what the contract still holds of it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
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
class IndexedPosition:
    """A stake of one (round, model, staker) as its events leave it, for a history across rounds:
    `amount` the last `Staked.newTotal` (the stake at close: nothing adds to it after), `commitment`
    the latest (`Staked` or `CommitmentChanged`: the event, not the contract's storage, whose layout
    may pack it), and `left` what the contract's ``getStake(...)[0]`` holds: `amount` until a
    `Claimed`, `StakeExited` or `EmergencyWithdrawal` of the key takes it, 0 after (the contract's
    `_takeStake` is the one place a stake's amount goes to 0, and each of its three callers emits
    one of these)."""

    round_id: int
    model: str
    model_id: bytes
    staker: str
    amount: int
    commitment: bytes
    left: int
    block_number: int


@dataclass(frozen=True)
class IndexedLog:
    """One indexed event as stored: its name, the contract's packaged ABI name, where it is (block,
    log index, transaction) and its decoded arguments as the ``args`` column keeps them (integers as
    decimal strings, bytes as 0x-hex, addresses checksummed, strings and booleans as they are)."""

    round_id: int | None
    contract_name: str
    event: str
    block_number: int
    log_index: int
    tx_hash: str
    args: dict[str, JsonValue]


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
    #: The hash of the claim's block (its time is that block's: :meth:`nmrstake.index.live.LiveIndex.block_time`).
    block_hash: str = ""


@dataclass(frozen=True)
class IndexedStrategy:
    """A `StrategyCreated` of the strategy factory: the strategy's address, its owner (fixed at
    creation) and the block it was made in."""

    strategy: str
    owner: str
    block_number: int


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
    contract_name: str = ""
    block_hash: str = ""

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
          round_ids: Collection[int] | None = None, contract: str | None = None, model_id: bytes | None = None,
          staker: str | None = None, confirmations: int = 0) -> tuple[list[_Event], IndexStatus | None]:
    """The stream's events named `names` (of `round_id`, or of the rounds `round_ids`; of the
    contract at address `contract`; of `model_id`; of `staker`: each when given) with at least
    `confirmations`, in chain order, and the status they were read at (one snapshot: one
    connection, one read transaction on PostgreSQL and SQLite alike)."""
    if confirmations < 0:
        raise ValueError(f"confirmations: must be 0 or more, got {confirmations}")
    query = sa.select(events.c.event, events.c.args, events.c.round_id, events.c.block_number, events.c.log_index,
                      events.c.tx_hash, events.c.contract_name, events.c.block_hash).where(events.c.stream == stream,
                                                                      events.c.event.in_(list(names)))
    if round_id is not None:
        round_ids = [round_id]
    if round_ids is not None:
        stored = sorted({r for r in round_ids if 0 <= r <= BIGINT_MAX})  # others are never stored (tables.py)
        if not stored:
            return [], status(engine, stream)
        query = query.where(events.c.round_id == stored[0] if len(stored) == 1 else events.c.round_id.in_(stored))
    if contract is not None:
        from nmrstake.hashing import checksum_address

        query = query.where(events.c.contract == checksum_address(contract))
    if model_id is not None:
        query = query.where(events.c.model_id == "0x" + model_id.rjust(32, b"\x00").hex())
    if staker is not None:
        from nmrstake.hashing import checksum_address

        query = query.where(events.c.staker == checksum_address(staker))
    with engine.connect() as conn, conn.begin():
        found = conn.execute(sa.select(cursors.c.block_number, cursors.c.head, cursors.c.head_time)
                             .where(cursors.c.stream == stream)).first()
        state = None if found is None else IndexStatus(stream, int(found[0]), int(found[1]), int(found[2]))
        if confirmations:
            query = query.where(events.c.block_number <= (state.head if state else -1) - confirmations + 1)
        rows = conn.execute(query.order_by(events.c.block_number, events.c.log_index)).all()
    return [_Event(str(r[0]), dict(r[1]), None if r[2] is None else int(r[2]), int(r[3]), int(r[4]), str(r[5]),
                   str(r[6]), str(r[7])) for r in rows], state


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
                now: int | None = None, confirmations: int = 0, round_id: int | None = None,
                round_ids: Collection[int] | None = None) -> list[RoundInfo]:
    """Every round (or round `round_id`, or those of `round_ids` that were opened) as
    `TournamentClient.rounds` reads it from the chain, rebuilt from the index (see the module);
    `now` defaults to the indexed head's time."""
    found, state = _read(engine, stream, _ROUND_EVENTS, round_id=round_id, round_ids=round_ids,
                         confirmations=confirmations)
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
        raise UnknownRoundError(f"round {round_id} does not exist (the index, at {confirmations or 0} "
                                "confirmations, has not seen it opened)")
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


#: The events that take a stake out of the contract (its amount left becomes 0).
_TAKEN = ("Claimed", "StakeExited", "EmergencyWithdrawal")


def positions(engine: sa.Engine, stream: str, *, model_id: bytes | None = None, staker: str | None = None,
              confirmations: int = 0) -> list[IndexedPosition]:
    """Every stake of `model_id` (by any staker) or of `staker` (on any model), across rounds, by
    (round, first stake): what the dashboard's histories show, from one read of the index (see
    :class:`IndexedPosition`). Give one of `model_id` and `staker`, or both."""
    if model_id is None and staker is None:
        raise ValueError("positions: give a model id, a staker or both")
    found, _ = _read(engine, stream, ["Staked", "CommitmentChanged", *_TAKEN], model_id=model_id, staker=staker,
                     confirmations=confirmations)
    amounts: dict[tuple[int, bytes, str], int] = {}
    commitments: dict[tuple[int, bytes, str], bytes] = {}
    taken: set[tuple[int, bytes, str]] = set()
    last: dict[tuple[int, bytes, str], int] = {}
    for e in found:
        if e.round_id is None:  # a round id beyond BIGINT: never one the contract opens (tables.py)
            continue
        key = (e.round_id, e.b32("modelId"), e.text("staker"))
        if e.event == "Staked":
            amounts[key] = e.int("newTotal")
            commitments[key] = e.b32("commitment")
        elif e.event == "CommitmentChanged":
            commitments[key] = e.b32("newCommitment")
        else:
            taken.add(key)
        last[key] = e.block_number
    return [IndexedPosition(rid, model_label(mid), mid, who, amount, commitments[(rid, mid, who)],
                            0 if (rid, mid, who) in taken else amount, last[(rid, mid, who)])
            for (rid, mid, who), amount in sorted(amounts.items(), key=lambda kv: kv[0][0])]


def round_events(engine: sa.Engine, stream: str, round_id: int, names: Iterable[str], *, contract: str | None = None,
                 confirmations: int = 0) -> list[IndexedLog]:
    """The round's events named `names` (of the contract at address `contract`, if given), in
    chain order, as stored: a round page's transactions, the committee's attestations of its
    results, its disputes at the desk."""
    found, _ = _read(engine, stream, names, round_id=round_id, contract=contract, confirmations=confirmations)
    return [IndexedLog(e.round_id, e.contract_name, e.event, e.block_number, e.log_index, e.tx_hash, e.args)
            for e in found]


def claims(engine: sa.Engine, stream: str, round_id: int, *, confirmations: int = 0) -> list[IndexedClaim]:
    """The round's `Claimed` events, in chain order."""
    found, _ = _read(engine, stream, ["Claimed"], round_id=round_id, confirmations=confirmations)
    return [IndexedClaim(round_id, model_label(e.b32("modelId")), e.b32("modelId"), e.text("staker"), e.int("payout"),
                         e.int("burn"), e.int("amountSent"), e.text("caller"), e.block_number, e.tx_hash,
                         e.block_hash) for e in found]


def strategies(engine: sa.Engine, stream: str, *, factory: str, confirmations: int = 0) -> list[IndexedStrategy]:
    """Every strategy the factory at `factory` made (its `StrategyCreated` events), in chain order."""
    found, _ = _read(engine, stream, ["StrategyCreated"], contract=factory, confirmations=confirmations)
    return [IndexedStrategy(e.text("strategy"), e.text("owner"), e.block_number) for e in found]


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


__all__ = ["IndexStatus", "IndexedClaim", "IndexedLog", "IndexedPosition", "IndexedResult", "IndexedStake",
           "IndexedStrategy", "OpenedRound", "claims", "opened_rounds", "positions", "round_events", "round_ids",
           "round_info", "round_infos", "results", "stakes", "status", "strategies"]
