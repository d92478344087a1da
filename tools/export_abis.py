#!/usr/bin/env python3
"""Write the participant's contract data into the package (src/nmrstake/abi/<Name>.json).

    python tools/export_abis.py [--check] [--force]

For each contract of `nmrstake.abi.CONTRACTS`, from the build that `tools/compile.py` made
(.build/__local__.json): its ABI as compiled, its source and compiler settings, and what a
deployment's code is checked against (`nmrstake.abi.CODE_RULE`): the runtime code's length, the
byte ranges of its immutable variables and the keccak-256 of the code with those ranges zeroed.
The files are committed, so that a wheel or sdist built where there is no Node and no solc
carries them; tests/offchain/test_packaged_abis.py fails when they differ from the build.

ape keeps no `immutableReferences` in its manifest (its solc output selection has none, and its
contract types drop the `evm` section). So when the data is stale, this runs solc once more on
the very standard-JSON input ape compiled (the settings recorded in the manifest, the sources from
the project and node_modules), asking only for the runtime code and the immutable references of
these contracts, and refuses to write unless solc's runtime code equals the build's byte for byte.
That takes about 20 s with the npm solc, and happens only after a contract changed: when the data
already matches the build (ABI, length, hash, and zeros at the recorded ranges), nothing runs.

`make compile` runs it after tools/compile.py. `make test` does not (neither does the test
session's compile), so a contract edited without regenerating fails the suite instead of being
fixed silently in CI's clone. Exit status: 0 when the data is current (or was made so); 1 with
`--check` when it is stale; 2 on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from nmrstake.abi import CODE_RULE, CONTRACTS, _keccak, masked_code  # noqa: E402

MANIFEST = ROOT / ".build" / "__local__.json"
OUT = ROOT / "src" / "nmrstake" / "abi"
# ape copies each dependency into contracts/.cache/<name>/<version>/ of an isolated copy of the
# project and compiles it from there; ape-config.yaml takes them from these npm packages.
NPM_DEPENDENCIES = {"openzeppelin": "@openzeppelin/contracts"}


class ExportError(RuntimeError):
    """The data cannot be made: no build, no solc, or solc disagrees with the build."""


def load_manifest(path: Path = MANIFEST) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ExportError(f"no readable build at {path} ({exc}): run `python tools/compile.py` first") from None
    missing = [n for n in CONTRACTS if n not in (manifest.get("contractTypes") or {})]
    if missing:
        raise ExportError(f"the build at {path} has no {', '.join(missing)}")
    return manifest


def solidity_compiler(manifest: dict[str, Any]) -> dict[str, Any]:
    for compiler in manifest.get("compilers") or []:
        if compiler.get("name") == "solidity":
            return dict(compiler)
    raise ExportError("the build records no solidity compiler")


def runtime_code(manifest: dict[str, Any], name: str) -> bytes:
    return bytes.fromhex(manifest["contractTypes"][name]["runtimeBytecode"]["bytecode"].removeprefix("0x"))


def entry(manifest: dict[str, Any], name: str, immutables: list[list[int]]) -> dict[str, Any]:
    """The packaged data of contract `name`, given its immutable ranges."""
    compiler = solidity_compiler(manifest)
    settings = compiler.get("settings") or {}
    ct = manifest["contractTypes"][name]
    code = runtime_code(manifest, name)
    return {
        "name": name,
        "source": ct["sourceId"],
        "compiler": {"version": compiler["version"], "evmVersion": settings.get("evmVersion"),
                     "optimizer": settings.get("optimizer")},
        "abi": ct["abi"],
        "code": {
            "rule": CODE_RULE,
            "length": len(code),
            "immutables": immutables,
            "hash": "0x" + _keccak(masked_code(code, [(s, n) for s, n in immutables])).hex(),
        },
    }


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1) + "\n"


def packaged(name: str, out: Path = OUT) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = json.loads((out / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    return found


def is_current(manifest: dict[str, Any], name: str, out: Path = OUT) -> bool:
    """Whether the packaged file of `name` is what an export of this build would write: checked
    without solc, taking the file's immutable ranges, which must lie inside the compiled code and
    hold zeros there (solc leaves every immutable's bytes zero in the compiled runtime code)."""
    found = packaged(name, out)
    if found is None:
        return False
    try:
        ranges = [[int(s), int(n)] for s, n in found["code"]["immutables"]]
    except (KeyError, TypeError, ValueError):
        return False
    code = runtime_code(manifest, name)
    if any(s < 0 or n <= 0 or s + n > len(code) or any(code[s:s + n]) for s, n in ranges):
        return False
    return render(found) == render(entry(manifest, name, ranges))


def solc_command(version: str) -> list[str]:
    """The solc ape compiled with (py-solc-x's install folder: $SOLCX_BINARY_PATH or ~/.solcx,
    where `make install` puts the launcher), else the repository's launcher run by node."""
    base = version.split("+")[0]
    folder = Path(os.environ.get("SOLCX_BINARY_PATH") or Path.home() / ".solcx")
    installed = folder / f"solc-v{base}"
    if installed.is_file() and os.access(installed, os.X_OK):
        return [str(installed)]
    return ["node", str(ROOT / "tools" / "solc" / "solc.js")]


def source_text(source_id: str, root: Path = ROOT) -> str:
    """A source as ape gave it to solc: the project's own file, or a dependency's from node_modules."""
    parts = Path(source_id).parts
    if parts[:2] == ("contracts", ".cache") and len(parts) > 4:
        dep, version, rest = parts[2], parts[3], Path(*parts[4:])
        package = NPM_DEPENDENCIES.get(dep)
        if package is None:
            raise ExportError(f"{source_id}: dependency {dep!r} is not in tools/export_abis.py's NPM_DEPENDENCIES")
        folder = root / "node_modules" / package
        found = json.loads((folder / "package.json").read_text()).get("version")
        if found != version:
            raise ExportError(f"{source_id}: node_modules has {package} {found}, the build used {version}: run `make install`")
        return (folder / rest).read_text(encoding="utf-8")
    return (root / source_id).read_text(encoding="utf-8")


def immutable_references(manifest: dict[str, Any], names: tuple[str, ...] = CONTRACTS) -> dict[str, list[list[int]]]:
    """solc's immutable references of `names`, as sorted ``[start, length]`` lists, from solc run
    again on the build's own input; ExportError unless its runtime code equals the build's."""
    compiler = solidity_compiler(manifest)
    settings = dict(compiler.get("settings") or {})
    source_ids = sorted(settings.get("outputSelection") or {})
    wanted = {manifest["contractTypes"][n]["sourceId"] for n in names}
    settings["outputSelection"] = {
        s: {"*": ["evm.deployedBytecode.object", "evm.deployedBytecode.immutableReferences"]} for s in sorted(wanted)
    }
    standard_input = {"language": "Solidity", "sources": {s: {"content": source_text(s)} for s in source_ids},
                      "settings": settings}
    command = [*solc_command(str(compiler["version"])), "--standard-json"]
    proc = subprocess.run(command, input=json.dumps(standard_input), capture_output=True, text=True, check=False)
    try:
        output = json.loads(proc.stdout)
    except ValueError:
        raise ExportError(f"{' '.join(command)} failed (exit {proc.returncode}): {proc.stderr.strip()[:2000]}") from None
    errors = [e.get("formattedMessage", str(e)) for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise ExportError("solc: " + "\n".join(errors))
    found: dict[str, list[list[int]]] = {}
    for name in names:
        source = manifest["contractTypes"][name]["sourceId"]
        evm = output.get("contracts", {}).get(source, {}).get(name, {}).get("evm", {}).get("deployedBytecode", {})
        if bytes.fromhex(evm.get("object", "")) != runtime_code(manifest, name):
            raise ExportError(f"{name}: solc's runtime code differs from the build's ({source}): "
                              "the build is stale or was made from other sources; run `python tools/compile.py --force`")
        ranges = sorted({(int(r["start"]), int(r["length"])) for refs in evm.get("immutableReferences", {}).values()
                         for r in refs})
        found[name] = [[s, n] for s, n in ranges]
    return found


def export(*, force: bool = False, check: bool = False, out: Path = OUT, log: Any = print) -> list[str]:
    """Brings the packaged data up to date with the build; returns the names of the contracts whose
    files were (with `check`: would be) written."""
    manifest = load_manifest()
    stale = [n for n in CONTRACTS if force or not is_current(manifest, n, out)]
    if check or not stale:
        return stale
    log(f"packaged contract data is stale for {', '.join(stale)}: asking solc for the immutable references")
    references = immutable_references(manifest, tuple(stale))
    for name in stale:
        data = entry(manifest, name, references[name])
        code = runtime_code(manifest, name)
        if any(any(code[s:s + n]) for s, n in references[name]):
            raise ExportError(f"{name}: the compiled runtime code is not zero at its immutable ranges")
        (out / f"{name}.json").write_text(render(data))
    return stale


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only say whether the data is stale (exit 1 if so)")
    ap.add_argument("--force", action="store_true", help="ask solc and rewrite every file even if current")
    args = ap.parse_args(argv)
    try:
        changed = export(force=args.force, check=args.check)
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.check:
        print(f"stale: {', '.join(changed)} (run `make compile`)" if changed else "packaged contract data is current")
        return 1 if changed else 0
    rel = OUT.relative_to(ROOT)
    print(f"wrote {rel}/ for {', '.join(changed)}" if changed else f"{rel}/ is current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
