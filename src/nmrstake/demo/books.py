"""After the rounds: each round's table, and the books check. What was claimed (the `Claimed`
events, whoever sent them) = staked − burned + paid, round by round; the NMR supply fell by
exactly the burns; the contract holds exactly its unallocated pool; `nmrstake verify` passes on
every round; and every strategy stake was sent by the operator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nmrstake.amounts import format_nmr
from nmrstake.demo.participants import Participant, Role
from nmrstake.errors import ChainError


def claimed_per_round(client: Any, round_ids: list[int]) -> dict[int, int]:
    """NMR sent by the claims of each round, from its `Claimed` events."""
    totals = {rid: 0 for rid in round_ids}
    for log in client.logs("Claimed"):
        rid = int(log.roundId)
        if rid in totals:
            totals[rid] += int(log.amountSent)
    return totals


def strategy_stakes(client: Any, round_ids: list[int], people: list[Participant]) -> list[dict[str, Any]]:
    """Every stake of a strategy with the account that sent it (the operator's, if all is well)."""
    from eth_utils import to_checksum_address

    strategies = {p.strategy: p for p in people if p.role is Role.STRATEGY and p.strategy}
    found = []
    for log in client.logs("Staked"):
        staker = to_checksum_address(log.staker)
        if staker in strategies and int(log.roundId) in round_ids:
            receipt = client.provider.get_receipt(str(log.transaction_hash))
            found.append({"round": int(log.roundId), "model": strategies[staker].model, "strategy": staker,
                          "amount": str(int(log.amount)), "sent_by": to_checksum_address(str(receipt.sender))})
    return found


def report(client: Any, layout: Any, round_ids: list[int], people: list[Participant], *, operator: str,
           supply_before: int, echo: Any) -> dict[str, Any]:
    """Print each round's table and the checks; returns the summary (raises ChainError at the
    end if the books do not balance)."""
    from nmrstake.results.read import load_published
    from nmrstake.tables import table
    from nmrstake.verify import verify_round

    claimed = claimed_per_round(client, round_ids)
    summary: dict[str, Any] = {"rounds": []}
    all_ok = True
    total_burned = 0
    for rid in round_ids:
        info = client.round(rid)
        pub = load_published(layout.published(rid))
        rows = [(r.model, r.staker[:10] + "…", format_nmr(r.stake), "-" if r.corr is None else f"{r.corr:+.4f}",
                 "-" if r.mmc is None else f"{r.mmc:+.4f}", format_nmr(r.payout), format_nmr(r.burn),
                 "" if r.valid else r.reason[:30]) for r in pub.rows]
        echo(f"\nround {rid} ({info.state.label}, root {pub.merkle_root[:12]}…)")
        echo(table(rows, ["model", "staker", "stake", "CORR", "MMC", "payout", "burn", "invalid"]))
        paid = sum(r.payout for r in pub.rows)
        burned = sum(r.burn for r in pub.rows)
        staked = sum(r.stake for r in pub.rows)
        got = claimed[rid]
        books = got == staked - burned + paid and info.claimed == got and info.total_burn == burned
        all_ok &= books
        total_burned += burned
        verified = verify_round(client, rid, layout.published(rid))
        all_ok &= verified.ok
        echo(f"  staked {format_nmr(staked)}  paid {format_nmr(paid)}  burned {format_nmr(burned)}  "
             f"claimed {format_nmr(got)} = staked − burned + paid: {'yes' if books else 'NO'}; "
             f"nmrstake verify: {'ok' if verified.ok else verified.differences[0]}")
        summary["rounds"].append({"round": rid, "stakes": len(pub.rows), "invalid": sum(not r.valid for r in pub.rows),
                                  "staked": str(staked), "paid": str(paid), "burned": str(burned), "claimed": str(got),
                                  "books_balance": books, "verified": verified.ok,
                                  "results": str(layout.published(rid))})
    supply_after = int(client.token.totalSupply())
    contract_balance = int(client.token.balanceOf(client.tournament.address))
    pool = int(client.tournament.pool())
    supply_ok = supply_before - supply_after == total_burned
    balance_ok = contract_balance == pool
    echo(f"\nNMR supply before {format_nmr(supply_before)}, after {format_nmr(supply_after)}: fell by "
         f"{format_nmr(supply_before - supply_after)} = burned {format_nmr(total_burned)}: {'yes' if supply_ok else 'NO'}")
    echo(f"contract holds {format_nmr(contract_balance)} NMR = unallocated pool {format_nmr(pool)}: "
         f"{'yes' if balance_ok else 'NO'}")
    by_strategy = strategy_stakes(client, round_ids, people)
    owners = sum(p.role is Role.STRATEGY for p in people)
    operator_ok = len(by_strategy) == owners * len(round_ids) and all(s["sent_by"] == operator for s in by_strategy)
    if owners:
        echo(f"strategy stakes sent by the operator {operator}: {len(by_strategy)} of {owners * len(round_ids)}: "
             f"{'yes' if operator_ok else 'NO'}")
    all_ok &= supply_ok and balance_ok and operator_ok
    summary.update(supply_before=str(supply_before), supply_after=str(supply_after), burned=str(total_burned),
                   operator=operator, strategy_stakes=by_strategy, books_balance=all_ok,
                   participants=[p.to_json() for p in people], results=str(layout.results_dir))
    echo(f"\nthe books balance: {'yes' if all_ok else 'NO'}")
    return summary


def check_books(summary: dict[str, Any], where: Path) -> None:
    if not summary["books_balance"]:
        raise ChainError(f"the books do not balance (summary in {where})")
