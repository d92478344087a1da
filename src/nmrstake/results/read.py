"""Read a published round folder back, check it, and recompute it from its own copied inputs
(so anyone can check a round: see docs/payouts.md)."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import nmrstake
from nmrstake.errors import InputError, NmrstakeError
from nmrstake.hashing import checksum_address, from_hex, keccak_bytes, keccak_file, to_hex
from nmrstake.merkle import StandardMerkleTree, leaf_values
from nmrstake.models import label_model_id
from nmrstake.payouts import RoundParams
from nmrstake.results.evaluate import RoundResult, evaluate_round
from nmrstake.results.publish import render_round, software_versions
from nmrstake.results.spec import CSV_COLUMNS, RESULTS_FORMAT, RoundInputs, RoundStake


@dataclass(frozen=True)
class PublishedRow:
    """One row of ``results.csv``."""

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
    leaf_index: int
    proof: list[str]


@dataclass
class PublishedRound:
    """A published round folder, parsed."""

    path: Path
    manifest: dict[str, Any]
    manifest_hash: bytes
    round_id: int
    chain_id: int
    contract: str
    params: RoundParams
    payout_factor: Fraction
    scale: Fraction
    total_staked: int
    total_at_risk: int
    total_payout: int
    total_burn: int
    merkle_root: str
    leaf_count: int
    rows: list[PublishedRow]
    tree: StandardMerkleTree | None
    inputs: RoundInputs
    commitments: dict[tuple[str, str], bytes]

    @property
    def results_hash(self) -> str:
        """0x-hex of :attr:`manifest_hash` (the on-chain ``resultsHash``)."""
        return to_hex(self.manifest_hash)

    def integrity_problems(self) -> list[str]:
        """Files that do not match the manifest's hashes, and tree/rows inconsistencies."""
        problems: list[str] = []
        for name, digest in sorted(self.manifest.get("files", {}).items()):
            path = self.path / name
            if not path.is_file():
                problems.append(f"{name}: missing")
            elif to_hex(keccak_file(path)) != digest:
                problems.append(f"{name}: keccak differs from the manifest")
        for item in self.manifest.get("inputs", []):
            path = self.path / item["path"]
            if not path.is_file():
                problems.append(f"{item['path']}: missing")
            elif to_hex(keccak_file(path)) != item["keccak"]:
                problems.append(f"{item['path']}: keccak differs from the manifest")
        if len(self.rows) != self.leaf_count:
            problems.append(f"results.csv: {len(self.rows)} rows, manifest says {self.leaf_count} leaves")
        if self.tree is not None:
            if self.tree.root != self.merkle_root:
                problems.append("tree.json: root differs from the manifest's merkle_root")
            for row in self.rows:
                if not 0 <= row.leaf_index < len(self.tree):
                    problems.append(f"results.csv: model {row.model}: leaf_index out of range")
                    continue
                value = leaf_values(self.round_id, label_model_id(row.model), row.staker, row.stake, row.payout, row.burn)
                if self.tree.at(row.leaf_index) != value or row.proof != self.tree.get_proof(row.leaf_index):
                    problems.append(f"results.csv: model {row.model}: leaf or proof differs from tree.json")
        elif self.leaf_count:
            problems.append("tree.json: missing")
        return problems


def _opt_float(text: str) -> float | None:
    return float(text) if text != "" else None


def _read_rows(path: Path) -> list[PublishedRow]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames != CSV_COLUMNS:
        raise InputError(f"{path}: unexpected columns {reader.fieldnames}")
    rows = []
    for line, rec in enumerate(reader, start=2):
        try:
            rows.append(
                PublishedRow(
                    model=rec["model"],
                    staker=rec["staker"],
                    stake=int(rec["stake"]),
                    valid={"true": True, "false": False}[rec["valid"]],
                    reason=rec["reason"],
                    corr=_opt_float(rec["corr"]),
                    mmc=_opt_float(rec["mmc"]),
                    score=_opt_float(rec["score"]),
                    fraction=float(rec["fraction"]),
                    payout=int(rec["payout"]),
                    burn=int(rec["burn"]),
                    leaf_index=int(rec["leaf_index"]),
                    proof=rec["proof"].split(";") if rec["proof"] else [],
                )
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise InputError(f"{path}: line {line}: malformed row ({exc})") from None
    return rows


def load_published(path: str | os.PathLike[str]) -> PublishedRound:
    """Parse a published round folder (``round-<id>/``). Raises InputError if it is malformed;
    see :meth:`PublishedRound.integrity_problems` for hash checks."""
    folder = Path(path)
    manifest_path = folder / "manifest.json"
    try:
        raw = manifest_path.read_bytes()
        manifest = json.loads(raw)
    except OSError as exc:
        raise InputError(f"{manifest_path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise InputError(f"{manifest_path}: not JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != RESULTS_FORMAT:
        raise InputError(f"{manifest_path}: not an nmrstake results manifest ({RESULTS_FORMAT})")
    try:
        totals = manifest["totals"]
        inputs_list = manifest["inputs"]
        targets_rel = next(i["path"] for i in inputs_list if i["role"] == "targets")
        meta_rel = next((i["path"] for i in inputs_list if i["role"] == "meta_model"), None)
        inputs = RoundInputs(
            targets=folder / targets_rel,
            predictions={
                ((i["model"], i["staker"]) if i.get("staker") else i["model"]): folder / i["path"]
                for i in inputs_list if i["role"] == "predictions"
            },
            meta_model=folder / meta_rel if meta_rel else None,
        )
        tree_path = folder / "tree.json"
        tree = StandardMerkleTree.load(json.loads(tree_path.read_text())) if tree_path.is_file() else None
        published = PublishedRound(
            path=folder,
            manifest=manifest,
            manifest_hash=keccak_bytes(raw),
            round_id=int(manifest["round_id"]),
            chain_id=int(manifest["chain_id"]),
            contract=str(manifest["contract"]),
            params=RoundParams.from_json(manifest["params"]),
            payout_factor=Fraction(manifest["payout_factor"]),
            scale=Fraction(manifest["scale"]),
            total_staked=int(totals["total_staked"]),
            total_at_risk=int(totals["total_at_risk"]),
            total_payout=int(totals["total_payout"]),
            total_burn=int(totals["total_burn"]),
            merkle_root=str(manifest["merkle_root"]),
            leaf_count=int(manifest["leaf_count"]),
            rows=_read_rows(folder / "results.csv"),
            tree=tree,
            inputs=inputs,
            commitments={
                (c["model"], c["staker"]): from_hex(c["commitment"], length=32, argument="commitment")
                for c in manifest.get("commitments", [])
            },
        )
    except NmrstakeError:
        raise
    except (KeyError, TypeError, ValueError, StopIteration, OSError) as exc:
        raise InputError(f"{manifest_path}: malformed manifest ({type(exc).__name__}: {exc})") from None
    return published


@dataclass
class Recomputation:
    """The result of :func:`recompute`: the re-derived round and how it compares."""

    published: PublishedRound
    result: RoundResult
    manifest_hash: bytes
    differences: list[str]
    notes: list[str]

    @property
    def ok(self) -> bool:
        """True if every published file and hash was reproduced exactly."""
        return not self.differences

    @property
    def root(self) -> str:
        return self.result.root


def recompute(published_dir: str | os.PathLike[str]) -> Recomputation:
    """Re-derive scores, payouts, the Merkle tree and the manifest from a published folder's
    copied inputs, and compare with what was published.

    Stakes (model, staker, stake) come from ``results.csv``, commitments from the manifest;
    validity, scores, payouts, burns, the root and every published file are recomputed. The
    versions recorded in the manifest are reused when re-rendering it (so its hash can match);
    if the installed versions differ, a note says so (floating-point scores can then differ).
    """
    published = load_published(published_dir)
    differences = published.integrity_problems()
    stakes = [
        RoundStake(r.model, r.staker, r.stake, published.commitments.get((r.model, r.staker)))
        for r in published.rows
    ]
    result = evaluate_round(published.round_id, published.params, stakes, published.inputs)
    generated, _ = render_round(
        result,
        chain_id=published.chain_id,
        contract=published.contract,
        inputs=published.inputs,
        software=published.manifest.get("software", {}),
        version=published.manifest.get("nmrstake_version"),
        service=published.manifest.get("service"),
    )
    notes = []
    local = software_versions() | {"nmrstake": nmrstake.__version__}
    recorded = dict(published.manifest.get("software", {})) | {"nmrstake": published.manifest.get("nmrstake_version")}
    for name in sorted(local):
        if recorded.get(name) != local[name]:
            notes.append(f"{name}: published with {recorded.get(name)}, recomputed with {local[name]}")

    if result.root != published.merkle_root:
        differences.append(f"merkle root: published {published.merkle_root}, recomputed {result.root}")
    s = result.summary
    for name, mine, theirs in (
        ("total_payout", s.total_payout, published.total_payout),
        ("total_burn", s.total_burn, published.total_burn),
        ("total_staked", s.total_staked, published.total_staked),
        ("total_at_risk", s.total_at_risk, published.total_at_risk),
    ):
        if mine != theirs:
            differences.append(f"{name}: published {theirs}, recomputed {mine}")
    by_key = {(r.model, r.staker): r for r in result.rows}
    for row in published.rows:
        mine_row = by_key.get((row.model, checksum_address(row.staker)))
        if mine_row is None:
            differences.append(f"model {row.model} staker {row.staker}: not recomputed")
            continue
        for attr in ("valid", "payout", "burn"):
            if getattr(mine_row, attr) != getattr(row, attr):
                differences.append(
                    f"model {row.model} staker {row.staker}: {attr} published {getattr(row, attr)},"
                    f" recomputed {getattr(mine_row, attr)}"
                )
    for name in sorted(generated):
        path = published.path / name
        if not path.is_file() or path.read_bytes() != generated[name]:
            differences.append(f"{name}: differs from the recomputed file")
    return Recomputation(
        published=published,
        result=result,
        manifest_hash=keccak_bytes(generated["manifest.json"]),
        differences=_dedupe(differences),
        notes=notes,
    )


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
