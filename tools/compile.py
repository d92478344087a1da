#!/usr/bin/env python3
"""Compile the contracts so that no build is ever stale.

    python tools/compile.py [--force] [--check]

ape compiles incrementally by each file's own checksum: a change to a file recompiles that file
only, never the files that import it or embed its creation code. After an edit of
`AllocationStrategy.sol` alone, `StrategyFactory` (which deploys it) keeps the old implementation;
after an edit of `Tournament.sol` or of the library `ModelIds.sol`, `NumeraireTournament` and every
importer keep the old code. The tests then run stale bytecode.

So the project compiles through this script: it stamps the inputs of a build (every
`contracts/**/*.sol` by path and content, `ape-config.yaml` with the compiler settings, the
versions of the npm `solc` and OpenZeppelin packages) and, whenever they differ from the stamp of
the last full compile, or the build was written since by anything else (a plain `ape compile`, an
incremental compile by another process), runs `ape compile --force` and records the new stamp
with the hash of the manifest it wrote (`.build/nmrstake-compile.json`). When nothing changed it
does nothing: no ape process at all.

Used by `make compile` and `make test`, and by tests/conftest.py before ape loads the project, so
that `ape test` run directly is safe too. A file lock (`.build/nmrstake-compile.lock`) makes
concurrent callers (two test sessions, make and an `ape test`) wait for one another: one compiles,
the others then find the stamp current. Exit status: 0 when the build is current (or was made
so); 1 with `--check` when a compile is needed; 2 when the compile failed. Standard library only.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ".build"
MANIFEST = "__local__.json"
STAMP = "nmrstake-compile.json"
LOCK = "nmrstake-compile.lock"
# Inputs of a build besides the contracts: the compiler settings, and the versions of the compiler
# (npm solc, behind tools/solc) and of the OpenZeppelin sources that are compiled with ours.
SETTINGS = ("ape-config.yaml", "node_modules/solc/package.json", "node_modules/@openzeppelin/contracts/package.json")

Compiler = Callable[[Path], None]


class CompileError(RuntimeError):
    """`ape compile --force` failed; the message holds its output."""


def source_stamp(root: Path) -> str:
    """SHA-256 over every `contracts/**/*.sol` (relative path and content, in path order) and the
    settings files (a missing one counts as absent). Any edit, addition, removal or rename of a
    contract changes it."""
    h = hashlib.sha256()
    contracts = root / "contracts"
    paths = sorted(p for p in contracts.rglob("*.sol") if ".cache" not in p.relative_to(contracts).parts)
    for path in paths:
        data = path.read_bytes()
        h.update(f"{path.relative_to(root).as_posix()}\0{len(data)}\0".encode())
        h.update(data)
    for name in SETTINGS:
        path = root / name
        data = path.read_bytes() if path.is_file() else b""
        h.update(f"{name}\0{len(data) if path.is_file() else -1}\0".encode())
        h.update(data)
    return h.hexdigest()


def _file_hash(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def current_state(root: Path) -> dict[str, str | None]:
    """What a stamp records: the sources' stamp and the hash of the build's manifest."""
    return {"sources": source_stamp(root), "manifest": _file_hash(root / BUILD / MANIFEST)}


def recorded_state(root: Path) -> dict[str, str | None] | None:
    """The stamp of the last full compile, or None (never compiled through here, or unreadable)."""
    try:
        data = json.loads((root / BUILD / STAMP).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_current(root: Path) -> bool:
    """True when the build was made by a full compile of exactly the present inputs and nothing
    has written it since."""
    state = current_state(root)
    return state["manifest"] is not None and recorded_state(root) == state


@contextmanager
def build_lock(root: Path) -> Iterator[None]:
    """An exclusive lock on `.build/nmrstake-compile.lock` (waits for the holder)."""
    (root / BUILD).mkdir(exist_ok=True)
    with open(root / BUILD / LOCK, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ape_executable() -> str:
    """The `ape` beside this Python (the project's virtualenv), else the one on PATH."""
    beside = Path(sys.executable).with_name("ape")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("ape")
    if found is None:
        raise CompileError("ape not found beside the Python running this script nor on PATH: run `make install`")
    return found


def ape_compile_force(root: Path) -> None:
    """`ape compile --force` in `root`, in a process of its own; CompileError with its output on failure."""
    proc = subprocess.run([ape_executable(), "compile", "--force"], cwd=root, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise CompileError(f"ape compile --force failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")


def ensure_compiled(root: Path = ROOT, *, force: bool = False, compiler: Compiler = ape_compile_force,
                    log: Callable[[str], None] | None = None) -> bool:
    """Makes the build current: a full compile (`compiler`) unless `is_current`. Returns whether it
    compiled. The stamp is written only after a successful compile, under the lock."""
    with build_lock(root):
        if not force and is_current(root):
            return False
        if log is not None:
            log("contracts or compiler settings changed since the last full compile: ape compile --force")
        (root / BUILD / STAMP).unlink(missing_ok=True)
        compiler(root)
        (root / BUILD / STAMP).write_text(json.dumps(current_state(root), indent=2) + "\n")
        return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--force", action="store_true", help="compile everything even if the stamp is current")
    ap.add_argument("--check", action="store_true", help="only say whether a compile is needed (exit 1 if so)")
    args = ap.parse_args(argv)
    if args.check:
        current = is_current(ROOT)
        print("build is current" if current else "build is stale or missing: a full compile is needed")
        return 0 if current else 1
    try:
        compiled = ensure_compiled(ROOT, force=args.force, log=lambda m: print(m, flush=True))
    except CompileError as err:
        print(err, file=sys.stderr)
        return 2
    print("compiled every contract" if compiled else "contracts unchanged since the last full compile: nothing to do")
    return 0


if __name__ == "__main__":
    sys.exit(main())
