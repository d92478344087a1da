"""`nmrstake verify`: anyone recomputes a round from its published files and checks the chain."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nmrstake.errors import ConfigError
from nmrstake.hashing import bytes32_from_hex, to_hex
from nmrstake.results import recompute
from nmrstake.tournament import TournamentClient


@dataclass
class VerifyReport:
    round_id: int
    folder: Path
    checks: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return {"round": self.round_id, "folder": str(self.folder), "ok": self.ok,
                "checks": self.checks, "differences": self.differences}


def verify_round(client: TournamentClient, round_id: int, folder: Path) -> VerifyReport:
    """Recompute scores, payouts and the tree from the folder's inputs; compare files and chain.
    The first difference found is the first of `differences`."""
    report = VerifyReport(round_id, folder)
    if not folder.is_dir():
        raise ConfigError(f"no published results for round {round_id} at {folder}")
    again = recompute(folder)
    pub = again.published

    def check(ok: bool, good: str, bad: str) -> None:
        (report.checks if ok else report.differences).append(good if ok else bad)

    check(pub.round_id == round_id, f"folder is round {round_id}", f"folder is for round {pub.round_id}, not {round_id}")
    check(pub.chain_id == client.provider.chain_id, f"chain id {pub.chain_id}",
          f"published for chain {pub.chain_id}, connected to {client.provider.chain_id}")
    check(pub.contract.lower() == client.tournament.address.lower(), f"contract {pub.contract}",
          f"published for contract {pub.contract}, deployment has {client.tournament.address}")
    for problem in again.differences:
        report.differences.append(f"recomputed from the published inputs: {problem}")
    if not again.differences:
        report.checks.append(f"recomputed scores, payouts and tree match the published files (root {again.root})")

    info = client.round(round_id)
    check(info.posted_at != 0, "a result is posted on chain", "no result is posted on chain for this round")
    check(info.root == bytes32_from_hex(pub.merkle_root), f"on-chain root {to_hex(info.root)}",
          f"root differs: chain {to_hex(info.root)}, published {pub.merkle_root}")
    check(info.results_hash == pub.manifest_hash, f"on-chain results hash = keccak(manifest.json) {to_hex(info.results_hash)}",
          f"results hash differs: chain {to_hex(info.results_hash)}, keccak(manifest.json) {to_hex(pub.manifest_hash)}")
    check(info.total_payout == pub.total_payout, f"total payout {pub.total_payout} wei",
          f"total payout differs: chain {info.total_payout}, published {pub.total_payout}")
    check(info.total_burn == pub.total_burn, f"total burn {pub.total_burn} wei",
          f"total burn differs: chain {info.total_burn}, published {pub.total_burn}")
    check(info.stake_count == pub.leaf_count and info.total_staked == pub.total_staked,
          f"{pub.leaf_count} stakes, {pub.total_staked} wei staked",
          f"stakes differ: chain {info.stake_count} / {info.total_staked} wei, published {pub.leaf_count} / {pub.total_staked} wei")
    check(pub.params == info.payout_params(), "round parameters match the chain",
          f"round parameters differ: chain {info.payout_params()}, published {pub.params}")
    at_close = client.stakes_at_close(round_id)
    chain_commitments = {(s.model, s.staker.lower()): s.commitment for s in at_close}
    chain_amounts = {(s.model, s.staker.lower()): s.amount for s in at_close}
    published_amounts = {(r.model, r.staker.lower()): r.stake for r in pub.rows}
    check(chain_amounts == published_amounts, "every stake's amount matches the chain at close",
          "stake amounts differ between the chain (at close) and results.csv")
    published_commitments = {(m, a.lower()): c for (m, a), c in pub.commitments.items()}
    check(chain_commitments == published_commitments, "every stake's commitment matches the chain",
          "stake commitments differ between the chain and the manifest")
    return report
