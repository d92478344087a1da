#!/usr/bin/env python3
"""Run Slither on the project's contracts and compare its findings with the triage file.

    python tools/slither/run.py [--slither PATH] [--solc PATH] [--json-out FILE] [--list]

Slither (from the separate virtualenv `.venv-slither`, see tools/slither/requirements.txt) runs
on each of contracts/NMR.sol, contracts/Tournament.sol, contracts/CommitteeTournament.sol and
contracts/DisputeDesk.sol, compiling through crytic-compile with
the project's solc launcher (~/.solcx/solc-v0.8.28, npm solc 0.8.28 behind a native CLI), the
OpenZeppelin remapping to node_modules and `--evm-version shanghai --optimize`. Only findings whose
primary element is in our own code count: those two files and the contracts they build on
(contracts/BoundedPause.sol, contracts/SupplyCheckedBurn.sol, contracts/interfaces/); OpenZeppelin's
own code (node_modules) and the test contracts (contracts/test) are out of scope.

Every High or Medium finding must be accepted in tools/slither/triage.json (detector, contract,
function) with a one-sentence justification that also appears, word for word, in
docs/security.md. Exit status: 0 when every High/Medium finding is triaged and every
justification is documented; 1 when not (the untriaged findings are listed); 2 when Slither could
not run. Low and informational findings are listed (triaged or not) but never fail the run.
Standard library only: runs under any Python 3.9+.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("contracts/NMR.sol", "contracts/Tournament.sol", "contracts/CommitteeTournament.sol", "contracts/DisputeDesk.sol")
# Findings count when their primary element is in our contracts (what TARGETS import from them
# included: the tournament's bases BoundedPause and SupplyCheckedBurn), not in the test contracts.
SCOPE = "contracts/"
OUT_OF_SCOPE = ("contracts/test/",)
GATED = ("High", "Medium")
REMAP = "@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/"
SOLC_ARGS = "--evm-version shanghai --optimize --optimize-runs 200"
TRIAGE = ROOT / "tools" / "slither" / "triage.json"
DOC = ROOT / "docs" / "security.md"
TIMEOUT = 300


def find_slither(explicit: str | None) -> str | None:
    candidates = [explicit, os.environ.get("SLITHER"), str(ROOT / ".venv-slither" / "bin" / "slither"),
                  shutil.which("slither")]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    return None


def find_solc(explicit: str | None) -> str | None:
    candidates = [explicit, os.environ.get("NMRSTAKE_SOLC"), str(Path.home() / ".solcx" / "solc-v0.8.28")]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    return None


def run_slither(slither: str, solc: str, target: str) -> tuple[dict, str]:
    """One Slither run; returns (its JSON output, its stderr)."""
    with tempfile.TemporaryDirectory(prefix="slither-") as tmp:
        json_file = Path(tmp) / "out.json"
        cmd = [slither, target, "--solc", solc, "--solc-remaps", REMAP, "--solc-args", SOLC_ARGS,
               "--json", str(json_file), "--fail-none", "--disable-color"]
        proc = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
        try:
            out = json.loads(json_file.read_text())
        except (OSError, json.JSONDecodeError):
            raise RuntimeError(f"slither on {target} wrote no JSON (exit {proc.returncode}):\n"
                               f"{proc.stderr[-3000:]}") from None
    if not out.get("success"):
        raise RuntimeError(f"slither failed on {target}: {out.get('error')}\n{proc.stderr[-3000:]}")
    if not re.search(rf"{re.escape(target)} analyzed \(\d+ contracts", proc.stderr):
        raise RuntimeError(f"slither did not report analysing {target}:\n{proc.stderr[-2000:]}")
    return out, proc.stderr


def _parent_of(element: dict, kind: str) -> dict | None:
    """The enclosing element of type `kind` (function, contract) of a Slither JSON element."""
    e = element
    while e is not None:
        if e.get("type") == kind:
            return e
        e = e.get("type_specific_fields", {}).get("parent")
    return None


def identify(finding: dict) -> dict:
    """detector, impact, confidence, file, contract, function and first line of a finding (from
    its primary element)."""
    el = finding["elements"][0] if finding.get("elements") else {}
    fn = _parent_of(el, "function")
    contract = _parent_of(el, "contract")
    if contract is None and fn is not None:
        contract = _parent_of(fn.get("type_specific_fields", {}).get("parent", {}), "contract")
    if el.get("type") == "contract":
        contract = el
    name = fn["name"] if fn else (el.get("name", "") if el.get("type") not in ("contract", "pragma") else "")
    return {
        "detector": finding["check"],
        "impact": finding["impact"],
        "confidence": finding["confidence"],
        "file": el.get("source_mapping", {}).get("filename_relative", ""),
        "contract": contract["name"] if contract else "",
        "function": name,
        "description": finding["description"].strip().splitlines()[0],
    }


def in_scope(path: str) -> bool:
    """Whether a finding in this file (relative to the repository) is ours to triage."""
    return path.startswith(SCOPE) and not path.startswith(OUT_OF_SCOPE)


def key(item: dict) -> tuple[str, str, str]:
    return item["detector"], item["contract"], item["function"]


def evaluate(detectors: list[dict], triage: dict, doc_text: str) -> tuple[list, list, list, list]:
    """Compares Slither's detector results with the triage.

    Returns (findings in scope, untriaged High/Medium findings, stale triage entries, problems of
    the triage file itself: missing fields, justifications not found in `doc_text`)."""
    # Findings in scope, deduplicated (both runs see the shared OpenZeppelin code, and a finding
    # can be reported once per target that imports it).
    findings: dict[tuple, dict] = {}
    for f in detectors:
        item = identify(f)
        if not in_scope(item["file"]):
            continue
        findings.setdefault((key(item), item["description"]), item)
    items = sorted(findings.values(), key=lambda i: (GATED.index(i["impact"]) if i["impact"] in GATED else 9,
                                                      i["detector"], i["contract"], i["function"]))
    accepted = {key(a): a for a in triage.get("accepted", []) if "detector" in a}
    doc = re.sub(r"\s+", " ", doc_text)
    problems: list[str] = []
    for a in triage.get("accepted", []):
        for field in ("detector", "contract", "function", "impact", "justification"):
            if field not in a:
                problems.append(f"triage entry {a} lacks `{field}`")
        just = re.sub(r"\s+", " ", a.get("justification", "")).strip()
        if just and just not in doc:
            problems.append(f"the justification of {a.get('detector')} {a.get('contract')}.{a.get('function')} "
                            f"is not in docs/security.md: {just!r}")
    untriaged = [i for i in items if i["impact"] in GATED and key(i) not in accepted]
    seen = {key(i) for i in items}
    stale = [a for k, a in accepted.items() if k not in seen]
    problems += [f"stale {a.get('impact')} entry (the finding is gone: remove it): {a['detector']} "
                 f"{a['contract']}.{a['function']}" for a in stale if a.get("impact") in GATED]
    for i in items:
        i["triaged"] = key(i) in accepted
    return items, untriaged, stale, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--slither", help="slither executable (default: .venv-slither/bin/slither)")
    ap.add_argument("--solc", help="solc executable (default: ~/.solcx/solc-v0.8.28)")
    ap.add_argument("--triage", default=str(TRIAGE))
    ap.add_argument("--doc", default=str(DOC), help="where every justification must appear")
    ap.add_argument("--json-out", help="write the findings in scope (and their triage) to this file")
    ap.add_argument("--list", action="store_true", help="list every finding in scope, not only the gated ones")
    args = ap.parse_args(argv)

    slither, solc = find_slither(args.slither), find_solc(args.solc)
    if slither is None:
        print("slither not found: create the virtualenv with `make install` (or "
              "`python3 -m venv .venv-slither && .venv-slither/bin/pip install -r tools/slither/requirements.txt`)",
              file=sys.stderr)
        return 2
    if solc is None:
        print("solc 0.8.28 launcher not found at ~/.solcx/solc-v0.8.28: run `make install`", file=sys.stderr)
        return 2

    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=len(TARGETS)) as pool:
            outputs = list(pool.map(lambda t: run_slither(slither, solc, t), TARGETS))
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"slither could not run: {exc}", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - started

    triage = json.loads(Path(args.triage).read_text())
    doc_text = Path(args.doc).read_text() if Path(args.doc).is_file() else ""
    detectors = [f for out, _stderr in outputs for f in out.get("results", {}).get("detectors", [])]
    items, untriaged, stale, problems = evaluate(detectors, triage, doc_text)

    by_impact: dict[str, int] = {}
    for i in items:
        by_impact[i["impact"]] = by_impact.get(i["impact"], 0) + 1
    counts = ", ".join(f"{n} {imp}" for imp, n in sorted(by_impact.items())) or "none"
    print(f"slither {triage.get('slither', '?')} on {', '.join(TARGETS)}: {len(items)} finding(s) in scope "
          f"({counts}) in {elapsed:.1f} s")
    for i in items:
        if args.list or i["impact"] in GATED or not i["triaged"]:
            mark = "triaged " if i["triaged"] else ("UNTRIAGED" if i["impact"] in GATED else "note    ")
            where = f"{i['contract']}.{i['function']}" if i["contract"] else (i["function"] or i["file"])
            print(f"  {mark} {i['impact']:<13} {i['detector']:<22} {where}: {i['description']}")
    for a in stale:
        print(f"  stale    triage entry matches no finding: {a['detector']} {a['contract']}.{a['function']}")
    for p in problems:
        print(f"  PROBLEM  {p}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"findings": items, "untriaged": untriaged,
                                                   "stale": stale, "problems": problems}, indent=2) + "\n")
    if untriaged or problems:
        print(f"FAIL: {len(untriaged)} High/Medium finding(s) not triaged in {Path(args.triage).name}, "
              f"{len(problems)} triage problem(s)")
        return 1
    print("OK: every High/Medium finding is triaged and documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
