"""Participant actions: stake on predictions, see positions, claim.

Every check that can fail is made before anything is sent or written, so a failed command leaves
the chain and the submission folder as they were.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from nmrstake.amounts import format_nmr
from nmrstake.errors import ChainError, ConfigError, InputError
from nmrstake.hashing import bytes32_from_hex, keccak_file, to_hex
from nmrstake.models import model_id
from nmrstake.tournament import RoundState, TournamentClient

PERMIT_LIFETIME = 3600


def _utc(ts: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _data_suffix(path: Path) -> str:
    with open(path, "rb") as fh:
        return ".parquet" if fh.read(4) == b"PAR1" else ".csv"


def stake_predictions(
    client: TournamentClient, signer: Any, layout: Any, round_id: int, model: str, wei: int, predictions: Path
) -> dict[str, Any]:
    """Validate and commit to a predictions file, copy it into the round's submission folder,
    and stake `wei` more on it (0: only replace the predictions) in one transaction."""
    from ape import chain

    from nmrstake.cli_common import transact
    from nmrstake.permit import sign_token_permit
    from nmrstake.scoring import load_predictions

    load_predictions(predictions)  # the oracle's checks: a clear error naming the file
    info = client.round(round_id)
    now = chain.pending_timestamp
    if info.state is not RoundState.OPEN or not (info.open_time <= now < info.close_time):
        when = f"opens at {_utc(info.open_time)}" if now < info.open_time else f"closed at {_utc(info.close_time)}"
        raise ChainError(f"round {round_id} is {info.state.label}: staking {when} (chain time {_utc(now)}); nothing was sent")
    mid = model_id(model, argument="--model")
    current = client.stake(round_id, mid, signer.address)
    if wei == 0 and current.amount == 0:
        raise InputError("--amount 0 only replaces the predictions of an existing stake; you have none on "
                         f"{model} in round {round_id}")
    total = current.amount + wei
    if total < info.min_stake:
        raise InputError(f"--amount: the stake would be {format_nmr(total)} NMR, below the round's minimum {format_nmr(info.min_stake)}")
    if total > info.stake_cap:
        raise InputError(f"--amount: the stake would be {format_nmr(total)} NMR, above the round's cap {format_nmr(info.stake_cap)}")
    balance = int(client.token.balanceOf(signer.address))
    if balance < wei:
        raise ChainError(f"insufficient balance: {signer.address} holds {format_nmr(balance)} NMR, the stake needs {format_nmr(wei)}")
    commitment = keccak_file(predictions)

    # Stage the file beside its final name; it replaces the previous one only once the stake is in.
    folder = layout.submission_dir(round_id)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{model}{_data_suffix(predictions)}"
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{model}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        shutil.copyfile(predictions, tmp)
        if keccak_file(tmp) != commitment:
            raise InputError(f"--predictions {predictions}: the file changed while it was being copied")
        tournament = client.tournament
        what = f"staking on {model} in round {round_id}"
        if wei > 0 and signer.private_key is not None:
            p = sign_token_permit(client.token, signer.private_key, signer.address, tournament.address, wei,
                                  now + PERMIT_LIFETIME)
            receipt = transact(tournament.stakeWithPermit, round_id, mid, wei, commitment, p.deadline, p.v, p.r, p.s,
                               sender=signer.ape_account, what=what)
        else:
            if wei > 0 and int(client.token.allowance(signer.address, tournament.address)) < wei:
                transact(client.token.approve, tournament.address, wei, sender=signer.ape_account, what="approving NMR")
            receipt = transact(tournament.stake, round_id, mid, wei, commitment, sender=signer.ape_account, what=what)
        for other in folder.glob(f"{model}.*"):
            if other != target and other.suffix in (".csv", ".parquet"):
                other.unlink()
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    after = client.stake(round_id, mid, signer.address)
    return {
        "round": round_id, "model": model, "staker": signer.address, "amount": str(wei),
        "stake": str(after.amount), "commitment": to_hex(commitment), "txn": str(receipt.txn_hash),
        "gas_used": int(receipt.gas_used), "submission": str(target),
    }


def _published_rows(layout: Any, round_id: int) -> dict[tuple[str, str], Any] | None:
    from nmrstake.results import load_published

    folder = layout.published(round_id)
    if not folder.is_dir():
        return None
    pub = load_published(folder)
    return {(r.model, r.staker.lower()): (pub, r) for r in pub.rows}


def my_positions(client: TournamentClient, layout: Any, address: str) -> list[dict[str, Any]]:
    """Every stake of `address`, with its result and what can be done with it."""
    out: list[dict[str, Any]] = []
    for info in client.rounds():
        keys = client.stake_keys(info.round_id, address)
        if not keys:
            continue
        published = _published_rows(layout, info.round_id) if info.posted_at else None
        claimed = client.claimed_keys(info.round_id) if info.state is RoundState.FINAL else set()
        for mid, staker in keys:
            s = client.stake(info.round_id, mid, staker)
            row = published.get((s.model, staker.lower())) if published else None
            if (mid, staker) in claimed:
                what = "claimed"
            elif info.state is RoundState.FINAL and s.amount > 0:
                what = "claimable" if row else "claimable (results not found locally)"
            elif info.state is RoundState.EXPIRED:
                what = "withdrawable" if s.amount > 0 else "withdrawn"
            else:
                what = "pending"
            entry: dict[str, Any] = {
                "round": info.round_id, "model": s.model, "staker": staker, "state": info.state.label,
                "stake": str(row[1].stake if row else s.amount), "commitment": to_hex(s.commitment), "claim": what,
                "score": None, "payout": None, "burn": None,
            }
            if row:
                r = row[1]
                entry.update(valid=r.valid, reason=r.reason, corr=r.corr, mmc=r.mmc,
                             score=None if r.score is None else f"{r.score:.5f}", payout=str(r.payout), burn=str(r.burn))
            out.append(entry)
    return out


def claim_all(client: TournamentClient, signer: Any, layout: Any, round_ids: list[int] | None) -> dict[str, Any]:
    """Claim every unclaimed stake of the signer in the given (or all final) rounds in one
    transaction; in expired rounds, withdraw the full stakes instead."""
    from nmrstake.cli_common import transact

    infos = [client.round(r) for r in round_ids] if round_ids else client.rounds()
    claims: list[tuple[Any, ...]] = []
    described: list[dict[str, Any]] = []
    withdrawals: list[tuple[int, bytes, str]] = []
    for info in infos:
        if info.state is RoundState.EXPIRED:
            for mid, staker in client.stake_keys(info.round_id, signer.address):
                s = client.stake(info.round_id, mid, staker)
                if s.amount > 0:
                    withdrawals.append((info.round_id, mid, s.model))
                    described.append({"round": info.round_id, "model": s.model, "stake": str(s.amount), "burn": "0",
                                      "payout": "0", "amount": str(s.amount), "kind": "emergency_withdrawal"})
            continue
        if info.state is not RoundState.FINAL:
            if round_ids:
                raise ChainError(f"round {info.round_id} is {info.state.label}, not final: nothing can be claimed yet")
            continue
        rows = _published_rows(layout, info.round_id)
        if rows is None:
            raise ConfigError(f"round {info.round_id}: published results not found in {layout.published(info.round_id)}")
        pub = next(iter(rows.values()))[0] if rows else None
        if pub is not None and bytes32_from_hex(pub.merkle_root) != info.root:
            raise ChainError(f"round {info.round_id}: the published results (root {pub.merkle_root}) are not the "
                             f"result on chain (0x{info.root.hex()}); nothing was sent")
        for mid, staker in client.stake_keys(info.round_id, signer.address):
            s = client.stake(info.round_id, mid, staker)
            if s.amount == 0:
                continue
            found = rows.get((s.model, staker.lower()))
            if found is None:
                raise ConfigError(f"round {info.round_id}: no published row for {s.model} / {staker}")
            r = found[1]
            claims.append((info.round_id, mid, staker, r.payout, r.burn, [bytes32_from_hex(x) for x in r.proof]))
            described.append({"round": info.round_id, "model": s.model, "stake": str(r.stake), "burn": str(r.burn),
                              "payout": str(r.payout), "amount": str(r.stake - r.burn + r.payout), "kind": "claim"})
    result: dict[str, Any] = {"claims": described, "txn": None, "gas_used": 0}
    if claims:
        receipt = transact(client.tournament.claimMany, claims, sender=signer.ape_account, what="claiming")
        result["txn"], result["gas_used"] = str(receipt.txn_hash), int(receipt.gas_used)
    for rid, mid, model in withdrawals:
        receipt = transact(client.tournament.emergencyWithdraw, rid, mid, sender=signer.ape_account,
                           what=f"withdrawing the stake on {model} in round {rid}")
        result["txn"] = result["txn"] or str(receipt.txn_hash)
        result["gas_used"] += int(receipt.gas_used)
    return result
