"""Publish a round's results: render the folder's files, then write it atomically.

The folder is built in a temporary directory beside it and renamed into place: it is never seen
half-written. Publishing again with identical content is a no-op; with different content it is
refused. See :mod:`nmrstake.results.spec` for the layout.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import nmrstake
from nmrstake.errors import ConfigError, InputError
from nmrstake.fsutil import fsync_dir
from nmrstake.hashing import checksum_address, keccak_bytes, keccak_file, to_hex
from nmrstake.merkle import LEAF_ENCODING
from nmrstake.results.evaluate import RoundResult
from nmrstake.results.spec import (
    CSV_COLUMNS,
    RESULTS_FORMAT,
    InputDigest,
    PredictionKey,
    RoundInputs,
    canonical_json,
    key_model,
    prediction_label,
    published_path,
    round_dir,
)

_SOFTWARE = ("numerai-tools", "pandas", "numpy", "scipy")


def _float_text(value: float | None) -> str:
    return "" if value is None or value != value else repr(float(value))


def _results_csv(result: RoundResult) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for k, row in enumerate(result.rows):
        writer.writerow(
            [
                row.model,
                row.staker,
                str(row.stake),
                "true" if row.valid else "false",
                row.reason,
                _float_text(row.corr),
                _float_text(row.mmc),
                _float_text(row.score),
                _float_text(row.fraction),
                str(row.payout),
                str(row.burn),
                str(k),
                ";".join(result.proofs[k]),
            ]
        )
    return buffer.getvalue().encode("utf-8")


def _input_files(inputs: RoundInputs, digests: Mapping[str, InputDigest]) -> list[tuple[str, PredictionKey | None, str, Path]]:
    """(role, key, relative path in the folder, source) of every input file, in a fixed order
    (``digests``: what evaluation learnt of the files it read, by path)."""

    def parquet(path: Path) -> bool | None:
        known = digests.get(str(path))
        return None if known is None else known.parquet

    targets = Path(inputs.targets)
    files: list[tuple[str, PredictionKey | None, str, Path]] = [
        ("targets", None, published_path("targets", None, targets, parquet(targets)), targets)
    ]
    if inputs.meta_model is not None:
        meta = Path(inputs.meta_model)
        files.append(("meta_model", None, published_path("meta_model", None, meta, parquet(meta)), meta))
    for key in sorted(inputs.predictions, key=prediction_label):
        source = Path(inputs.predictions[key])
        if str(source) in digests or source.is_file():
            rel = published_path("predictions", prediction_label(key), source, parquet(source))
            files.append(("predictions", key, rel, source))
    return files


def software_versions() -> dict[str, str]:
    versions = {}
    for name in _SOFTWARE:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover
            versions[name] = "unknown"
    return versions


def _manifest(
    result: RoundResult,
    *,
    chain_id: int,
    contract: str,
    files: list[tuple[str, PredictionKey | None, str, Path]],
    generated: Mapping[str, bytes],
    software: Mapping[str, str] | None = None,
    version: str | None = None,
    service: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    summary = result.summary
    input_list = []
    predictions_keccak: dict[str, str] = {}
    targets_keccak = meta_keccak = None
    for role, key, rel, source in files:
        # evaluate_round hashed every file it read: its digests are what was checked and scored
        known = result.digests.get(str(source))
        digest = to_hex(known.keccak if known is not None else keccak_file(source))
        size = known.size if known is not None else source.stat().st_size
        item: dict[str, Any] = {"role": role, "model": None if key is None else key_model(key), "path": rel,
                                "keccak": digest, "size": size}
        if isinstance(key, tuple):
            item["staker"] = checksum_address(key[1])
        input_list.append(item)
        if role == "targets":
            targets_keccak = digest
        elif role == "meta_model":
            meta_keccak = digest
        else:
            predictions_keccak[prediction_label(key or "")] = digest
    manifest = {
        "format": RESULTS_FORMAT,
        "round_id": result.round_id,
        "chain_id": chain_id,
        "contract": contract,
        "params": result.params.to_json(),
        "payout_factor": summary.payout_factor_text,
        "payout_factor_float": float(summary.payout_factor),
        "scale": summary.scale_text,
        "scale_float": summary.scale_float,
        "totals": {
            "total_staked": str(summary.total_staked),
            "total_at_risk": str(summary.total_at_risk),
            "total_payout": str(summary.total_payout),
            "total_burn": str(summary.total_burn),
            "raw_total_payout": str(summary.raw_total_payout),
            "stake_count": summary.stake_count,
            "valid_count": summary.valid_count,
        },
        "merkle_root": result.root,
        "leaf_encoding": list(LEAF_ENCODING),
        "leaf_count": result.leaf_count,
        "targets_keccak": targets_keccak,
        "meta_model_keccak": meta_keccak,
        "predictions_keccak": predictions_keccak,
        "commitments": [  # evaluate_round gives the stakers checksummed
            {"model": s.model, "staker": s.staker, "commitment": to_hex(s.commitment)}
            for s in result.stakes
            if s.commitment is not None
        ],
        "inputs": input_list,
        "files": {name: to_hex(keccak_bytes(data)) for name, data in sorted(generated.items())},
        "nmrstake_version": version if version is not None else nmrstake.__version__,
        "software": dict(software) if software is not None else software_versions(),
    }
    if service:  # the tournament service whose receipts vouch for deliveries (its signer's address)
        manifest["service"] = dict(service)
    return manifest


def render_round(
    result: RoundResult,
    *,
    chain_id: int,
    contract: str,
    inputs: RoundInputs,
    software: Mapping[str, str] | None = None,
    version: str | None = None,
    service: Mapping[str, Any] | None = None,
) -> tuple[dict[str, bytes], list[tuple[str, Path]]]:
    """The published folder's content, without writing it.

    Returns ``(generated, copies)``: ``generated`` maps ``manifest.json``, ``results.csv`` and
    ``tree.json`` to their bytes; ``copies`` lists ``(relative path, source file)`` for ``inputs/``.
    ``software``/``version`` override the recorded versions (used by :func:`recompute`);
    ``service`` (``{"receipt_signer": address}``) names the service whose delivery receipts count.
    """
    if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0:
        raise InputError(f"chain id: expected a positive integer, got {chain_id!r}")
    contract = checksum_address(contract, argument="contract address")
    files = _input_files(inputs, result.digests)
    generated: dict[str, bytes] = {"results.csv": _results_csv(result)}
    if result.tree is not None:
        generated["tree.json"] = (json.dumps(result.tree.dump(), indent=2) + "\n").encode("ascii")
    manifest = _manifest(
        result, chain_id=chain_id, contract=contract, files=files, generated=generated,
        software=software, version=version, service=service,
    )  # fmt: skip
    generated["manifest.json"] = canonical_json(manifest)
    return generated, [(rel, source) for _, _, rel, source in files]


def _tree_files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def _differences(a: Path, b: Path) -> list[str]:
    """Relative paths whose presence or bytes differ between two folders."""
    fa, fb = _tree_files(a), _tree_files(b)
    diff = sorted(set(fa) ^ set(fb))
    for rel in sorted(set(fa) & set(fb)):
        if fa[rel].stat().st_size != fb[rel].stat().st_size or fa[rel].read_bytes() != fb[rel].read_bytes():
            diff.append(rel)
    return diff


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _link_read_only(source: Path, target: Path) -> bool:
    """Hard-link a predictions file into the published folder and make it read-only, instead of
    copying it (a round's 10,000 files are 1.4 GB). Safe because submissions are never edited in
    place: the submission store writes each file once, by rename, under its own hash, so the
    published name keeps the committed bytes, which the manifest pins by hash. Falls back to a copy across devices."""
    try:
        os.link(source, target)
    except OSError:
        return False
    os.chmod(target, 0o444)
    return True


def publish_round(
    results_dir: str | os.PathLike[str],
    result: RoundResult,
    *,
    chain_id: int,
    contract: str,
    inputs: RoundInputs,
    service: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``results_dir/round-<id>/`` atomically and return its path.

    The folder is built in a temporary directory inside ``results_dir`` and renamed into place.
    If the folder already exists with identical content, nothing is written (idempotent); with
    different content, ConfigError is raised and the existing folder is left untouched.
    """
    generated, copies = render_round(result, chain_id=chain_id, contract=contract, inputs=inputs, service=service)
    results_dir = Path(results_dir)
    final = round_dir(results_dir, result.round_id)
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=results_dir))
    except OSError as exc:
        raise ConfigError(f"results directory {results_dir}: cannot write ({exc.strerror or exc})") from None
    try:
        for name, data in generated.items():
            _write(tmp / name, data)
        for rel, source in copies:
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if Path(rel).parts[:2] == ("inputs", "predictions") and _link_read_only(Path(source), target):
                continue
            shutil.copyfile(source, target)
        for directory in [tmp, *sorted(p for p in tmp.rglob("*") if p.is_dir())]:
            os.chmod(directory, 0o755)
        # One flush of everything written (a round can have 10,000 input copies: one fsync each
        # would dominate), before the rename that makes the folder visible.
        os.sync()
        for _ in range(2):
            if final.exists():
                diff = _differences(final, tmp)
                if not diff:
                    return final  # already published, identical
                raise ConfigError(
                    f"{final}: already published with different content ({', '.join(diff[:3])}"
                    f"{' ...' if len(diff) > 3 else ''}); refusing to overwrite"
                )
            try:
                os.rename(tmp, final)  # atomic; fails if another publisher got there first
            except OSError:
                if final.exists():
                    continue  # lost a race: compare with the winner's folder
                raise
            fsync_dir(results_dir)
            return final
        raise ConfigError(f"{final}: could not be published")  # pragma: no cover
    except OSError as exc:
        raise ConfigError(f"{final}: cannot publish ({exc.strerror or exc})") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
