"""`nmrstake verify`: anyone recomputes a round from its published files and checks the chain."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nmrstake.errors import ChainError, ConfigError
from nmrstake.hashing import bytes32_from_hex, keccak_bytes, to_hex
from nmrstake.results.read import recompute
from nmrstake.signing import Domain
from nmrstake.tournament import ChainStake, RoundInfo, iso_time


class RoundReads(Protocol):
    """What verifying reads of the chain: the participant's web3 `Chain` and the operator's
    ape `TournamentClient` both give it."""

    @property
    def domain(self) -> Domain: ...

    def round(self, round_id: int) -> RoundInfo: ...

    def stakes_at_close(self, round_id: int) -> list[ChainStake]: ...


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


def verify_round(client: RoundReads, round_id: int, folder: Path) -> VerifyReport:
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
    domain = client.domain
    check(pub.chain_id == domain.chain_id, f"chain id {pub.chain_id}",
          f"published for chain {pub.chain_id}, connected to {domain.chain_id}")
    check(pub.contract.lower() == domain.tournament.lower(), f"contract {pub.contract}",
          f"published for contract {pub.contract}, deployment has {domain.tournament}")
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


def download_round(service: Any, round_id: int, folder: Path, results_hash: bytes) -> list[str]:
    """Download a round's published files from a service or any mirror, trusting none of it:
    `manifest.json` first, which must hash to the on-chain `resultsHash`, then exactly the files
    that manifest lists, each checked against its keccak-256 as it arrives. Returns the checks
    made; raises ChainError at the first file that does not match."""
    from nmrstake.results.spec import RESULTS_FORMAT

    folder.mkdir(parents=True, exist_ok=True)
    base = f"/v1/rounds/{round_id}/files"
    manifest_bytes = service.fetch(f"{base}/manifest.json")
    if keccak_bytes(manifest_bytes) != results_hash:
        raise ChainError(f"round {round_id}: the downloaded manifest.json hashes to {to_hex(keccak_bytes(manifest_bytes))}, "
                         f"not the on-chain resultsHash {to_hex(results_hash)}: the service's copy is not the posted one")
    (folder / "manifest.json").write_bytes(manifest_bytes)
    manifest = json.loads(manifest_bytes)
    if manifest.get("format") != RESULTS_FORMAT:
        raise ChainError(f"round {round_id}: manifest.json is not an nmrstake results manifest")
    wanted = [(name, digest) for name, digest in sorted(manifest.get("files", {}).items())]
    wanted += [(item["path"], item["keccak"]) for item in manifest.get("inputs", [])]
    for rel, digest in wanted:
        parts = Path(rel).parts
        if Path(rel).is_absolute() or ".." in parts:
            raise ChainError(f"round {round_id}: the manifest names an unsafe path {rel!r}")
        data = service.fetch(f"{base}/{rel}")
        if to_hex(keccak_bytes(data)) != digest:
            raise ChainError(f"round {round_id}: downloaded {rel} does not match the manifest's keccak {digest}")
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return [f"manifest.json matches the on-chain resultsHash {to_hex(results_hash)}",
            f"{len(wanted)} downloaded files match the manifest's keccak-256"]


def check_receipts(report: VerifyReport, client: RoundReads, kept: list[Any]) -> None:
    """Differences for every stake that holds a delivery receipt from before close, for the file
    it committed to, yet is treated as undelivered in the published round; for receipts signed by
    another key than the receipt signer the round's manifest (hashed on chain) names; and for kept
    receipts whose signature no longer checks out."""
    from nmrstake.results.read import load_published
    from nmrstake.results.spec import undelivered

    kept = [item for item in kept if item.receipt.round_id == report.round_id]
    if not kept:
        return
    pub = load_published(report.folder)
    info = client.round(report.round_id)
    domain = client.domain
    at_close = {(s.model, s.staker.lower()): s.commitment for s in client.stakes_at_close(report.round_id)}
    rows = {(r.model, r.staker.lower()): r for r in pub.rows}
    named = pub.manifest.get("service", {}).get("receipt_signer")  # committed on chain with the manifest
    found: dict[tuple[str, str], str] = {}  # one difference per stake, however many receipts it holds
    counted = 0
    for item in kept:
        receipt = item.receipt
        key = (receipt.model, receipt.staker.lower())
        signer = receipt.signer(domain)
        if signer != item.signer:
            found.setdefault(key, f"{item.path}: the receipt's signature is not {item.signer}'s (altered?)")
            continue
        if at_close.get(key) != receipt.commitment or receipt.received_at >= info.close_time:
            continue  # not a receipt for what the stake committed to at close
        if named and signer != named:
            found.setdefault(key, f"model {receipt.model} staker {receipt.staker}: the delivery receipt is signed by "
                                  f"{signer}, but the round's manifest names {named} as the service's receipt signer")
            continue
        counted += 1
        row = rows.get(key)
        if row is None or (not row.valid and undelivered(row.reason)):
            found.setdefault(key, (
                f"model {receipt.model} staker {receipt.staker}: holds a delivery receipt (file {to_hex(receipt.commitment)} "
                f"received at {iso_time(receipt.received_at)}, before close {iso_time(info.close_time)}, signed by {signer}) yet the "
                f"published round treats the stake as undelivered ({row.reason if row else 'no row'})"))
    report.differences.extend(found.values())
    if named:
        report.checks.append(f"the manifest names the service's receipt signer {named}")
    if counted and not found:
        report.checks.append(f"{counted} delivery receipt(s) on this machine: every stake holding one was scored with its file")
