"""Read a published round folder back, check it, and recompute it from its own copied inputs
(so anyone can check a round: see docs/payouts.md)."""

from __future__ import annotations

import csv
import io
import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nmrstake
from nmrstake.errors import InputError, NmrstakeError
from nmrstake.hashing import ZERO32, checksum_address, from_hex, keccak_bytes, keccak_file, to_hex
from nmrstake.merkle import StandardMerkleTree, leaf_values
from nmrstake.models import label_model_id
from nmrstake.payouts import RoundParams
from nmrstake.results.spec import CSV_COLUMNS, RESULTS_FORMAT, RoundInputs, RoundStake

if TYPE_CHECKING:  # recompute imports them when it runs: reading a round needs neither (nor pandas)
    from nmrstake.results.evaluate import RoundResult


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
    """A published round folder, parsed. ``tree.json`` is read (and every node of it checked) only
    when :attr:`tree` is first asked for: the service's pages never need it, and a round of 10,000
    stakes spent most of its first reading there."""

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
    inputs: RoundInputs
    commitments: dict[tuple[str, str], bytes]
    _tree: tuple[StandardMerkleTree | None] | None = field(default=None, init=False, repr=False, compare=False)
    _rows_root: RowsRoot | None = field(default=None, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @property
    def results_hash(self) -> str:
        """0x-hex of :attr:`manifest_hash` (the on-chain ``resultsHash``)."""
        return to_hex(self.manifest_hash)

    @property
    def tree(self) -> StandardMerkleTree | None:
        """``tree.json``, restored and validated on first use; None if the folder has none.
        Raises InputError if it is malformed or invalid (each time it is asked for)."""
        with self._lock:
            if self._tree is None:
                tree_path = self.path / "tree.json"
                if not tree_path.is_file():
                    self._tree = (None,)
                else:
                    try:
                        data = json.loads(tree_path.read_bytes())
                    except (OSError, ValueError) as exc:
                        raise InputError(f"{tree_path}: cannot read ({exc})") from None
                    self._tree = (StandardMerkleTree.load(data),)
            return self._tree[0]

    def rows_root(self) -> RowsRoot:
        """The Merkle root of the published rows, recomputed from them (leaf_index, proofs and
        tree.json play no part): the root a claim of each row is checked against on chain.
        Computed once per object (an object is one reading of the folder's files)."""
        with self._lock:
            if self._rows_root is None:
                self._rows_root = rows_merkle_root(self.round_id, self.rows)
            return self._rows_root

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
        try:
            tree = self.tree
        except InputError as exc:
            problems.append(f"tree.json: invalid ({exc.message})")
            return problems
        if tree is not None:
            if tree.root != self.merkle_root:
                problems.append("tree.json: root differs from the manifest's merkle_root")
            for row in self.rows:
                if not 0 <= row.leaf_index < len(tree):
                    problems.append(f"results.csv: model {row.model}: leaf_index out of range")
                    continue
                value = leaf_values(self.round_id, label_model_id(row.model), row.staker, row.stake, row.payout, row.burn)
                if tree.at(row.leaf_index) != value or row.proof != tree.get_proof(row.leaf_index):
                    problems.append(f"results.csv: model {row.model}: leaf or proof differs from tree.json")
        elif self.leaf_count:
            problems.append("tree.json: missing")
        return problems


@dataclass(frozen=True)
class RowsRoot:
    """The Merkle root of a round's published rows (0x-hex), or why the rows have none: a row
    that is not a leaf at all (a malformed model, staker or amount), named in `problem`."""

    root: str | None
    problem: str | None = None


_UINT256 = 1 << 256


def rows_merkle_root(round_id: int, rows: list[PublishedRow]) -> RowsRoot:
    """The StandardMerkleTree root of the rows' leaves ``(round, modelId, staker, stake, payout,
    burn)``, as ``StandardMerkleTree.of([leaf_values(...)], LEAF_ENCODING).root`` gives it, without
    that path's per-leaf normalisation: each leaf is the six ABI words hashed twice, and each
    distinct staker is checked (EIP-55) once. No rows: the zero root, as a round without stakes
    posts. A row that cannot be a leaf gives no root, and says which."""
    if not rows:
        return RowsRoot(to_hex(ZERO32))
    if not 0 <= round_id < _UINT256:
        return RowsRoot(None, f"round {round_id} is not a uint256")
    head = round_id.to_bytes(32, "big")
    addresses: dict[str, bytes] = {}
    leaves: list[bytes] = []
    for row in rows:
        try:
            model = label_model_id(row.model)
            address = addresses.get(row.staker)
            if address is None:
                address = addresses[row.staker] = bytes.fromhex(checksum_address(row.staker)[2:]).rjust(32, b"\0")
            words = [row.stake, row.payout, row.burn]
            if not all(0 <= w < _UINT256 for w in words):
                raise InputError(f"stake, payout and burn must be uint256, got {words}")
        except InputError as exc:
            return RowsRoot(None, f"model {row.model!r} staker {row.staker!r}: not a leaf ({exc.message})")
        encoded = b"".join((head, model, address, *(w.to_bytes(32, "big") for w in words)))
        leaves.append(keccak_bytes(keccak_bytes(encoded)))
    leaves.sort()  # the tree's leaves: sorted by hash, stored from the end of the array backwards
    n = len(leaves)
    size = 2 * n - 1
    tree: list[bytes] = [b""] * (n - 1) + leaves[::-1]
    for i in range(size - 1 - n, -1, -1):
        a, b = tree[2 * i + 1], tree[2 * i + 2]
        tree[i] = keccak_bytes(a + b if a <= b else b + a)
    return RowsRoot(to_hex(tree[0]))


_BOOLS = {"true": True, "false": False}


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each record of a CSV text, as ``csv.reader`` reads it. Without a
    quote in the text (the usual results.csv: no reason holds a comma), a record is a line and
    its fields lie between commas, exactly as ``csv.reader`` would find them, at a fraction of its
    cost (a 10 MB file: mostly the proofs column); otherwise ``csv.reader``."""
    if '"' not in text and "\r" not in text:
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        for number, line in enumerate(lines, start=1):
            yield number, line.split(",") if line else []
    else:
        reader = csv.reader(io.StringIO(text))
        for rec in reader:
            yield reader.line_num, rec


def _read_rows(path: Path) -> list[PublishedRow]:
    """The rows of ``results.csv``, in file order, the columns by position (the header must be
    :data:`CSV_COLUMNS` exactly): a round of 10,000 stakes is read in a fraction of the time a
    dict per row took."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    records = _records(text)
    line = 1
    try:
        header = next(records, (1, None))[1]
    except csv.Error as exc:
        raise InputError(f"{path}: line 1: malformed header ({exc})") from None
    if header != CSV_COLUMNS:
        raise InputError(f"{path}: unexpected columns {header}")
    width = len(CSV_COLUMNS)
    rows = []
    try:
        for numbered in records:
            line, rec = numbered
            if len(rec) != width:
                raise ValueError(f"{len(rec)} fields, expected {width}")
            model, staker, stake, valid, reason, corr, mmc, score, fraction, payout, burn, leaf_index, proof = rec
            rows.append(PublishedRow(
                model=model, staker=staker, stake=int(stake), valid=_BOOLS[valid], reason=reason,
                corr=float(corr) if corr else None, mmc=float(mmc) if mmc else None,
                score=float(score) if score else None, fraction=float(fraction), payout=int(payout),
                burn=int(burn), leaf_index=int(leaf_index), proof=proof.split(";") if proof else [],
            ))
    except csv.Error as exc:
        raise InputError(f"{path}: after line {line}: malformed CSV ({exc})") from None
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(f"{path}: line {line}: malformed row ({exc})") from None
    return rows


#: The files :func:`load_published` and :attr:`PublishedRound.tree` read, whose identity
#: :func:`published_stamp` takes.
PUBLISHED_READ = ("manifest.json", "results.csv", "tree.json")


def published_stamp(path: str | os.PathLike[str]) -> tuple[tuple[int, ...] | None, ...] | None:
    """The identity of a published folder's files as :func:`load_published` reads them (device,
    inode, size, modification and change times of manifest.json, results.csv and tree.json; None
    for a file that is missing), or None if the folder has no manifest.json (nothing is
    published). A reading of the folder is good for as long as its stamp is the same: a file
    replaced, rewritten or touched changes it."""
    stamps: list[tuple[int, ...] | None] = []
    for name in PUBLISHED_READ:
        try:
            st = os.stat(Path(path) / name)
        except OSError:
            if name == "manifest.json":
                return None
            stamps.append(None)
            continue
        stamps.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(stamps)


def _check_listing(manifest: dict[str, Any]) -> None:
    """The manifest's file listing has the shape every reader of it assumes (``files``: name to
    keccak; ``inputs``: objects with a path, keccak, role and size), else ValueError."""
    files = manifest.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise ValueError("files: expected an object of file names to keccak-256 hex")
    inputs = manifest.get("inputs")
    if not isinstance(inputs, list):
        raise ValueError("inputs: expected a list")
    for item in inputs:
        if not (isinstance(item, dict) and all(isinstance(item.get(k), str) for k in ("path", "keccak", "role"))
                and isinstance(item.get("size"), int)):
            raise ValueError("inputs: expected objects with a path, keccak, role and size")


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
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{manifest_path}: not JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != RESULTS_FORMAT:
        raise InputError(f"{manifest_path}: not an nmrstake results manifest ({RESULTS_FORMAT})")
    try:
        _check_listing(manifest)
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
            inputs=inputs,
            commitments={
                (c["model"], c["staker"]): from_hex(c["commitment"], length=32, argument="commitment")
                for c in manifest.get("commitments", [])
            },
        )
    except NmrstakeError:
        raise
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError, StopIteration, OSError) as exc:
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
    from nmrstake.results.evaluate import evaluate_round
    from nmrstake.results.publish import render_round, software_versions

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
