"""Static analysis: Slither on contracts/NMR.sol, Tournament.sol, CommitteeTournament.sol and DisputeDesk.sol.

`tools/slither/run.py` runs Slither (from `.venv-slither`, created by `make install`) and compares
its High and Medium findings with `tools/slither/triage.json`; docs/security.md holds every
justification. A finding that is not triaged fails here, and so does a Slither that cannot run:
there is no skip.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tools" / "slither" / "run.py"
TRIAGE = ROOT / "tools" / "slither" / "triage.json"
DOC = ROOT / "docs" / "security.md"


def _runner():
    spec = importlib.util.spec_from_file_location("slither_runner", RUNNER)
    assert spec is not None and spec.loader is not None  # a .py file: the source loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_untriaged_high_or_medium_finding(tmp_path):
    out = tmp_path / "findings.json"
    proc = subprocess.run([sys.executable, str(RUNNER), "--json-out", str(out)], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    report = proc.stdout + proc.stderr
    assert proc.returncode != 2, f"Slither could not run (see tools/slither/run.py):\n{report}"
    assert proc.returncode == 0, f"untriaged High/Medium Slither findings or triage problems:\n{report}"
    data = json.loads(out.read_text())
    assert not data["untriaged"] and not data["problems"]
    # It did analyse our code: the accepted Low findings of Tournament are there.
    assert any(f["contract"] == "Tournament" for f in data["findings"]), report


def _finding(check="reentrancy-eth", impact="High", file="contracts/Tournament.sol", function="claim"):
    return {
        "check": check, "impact": impact, "confidence": "Medium", "description": f"{check} in {function}\n",
        "elements": [{
            "type": "function", "name": function, "source_mapping": {"filename_relative": file},
            "type_specific_fields": {"parent": {"type": "contract", "name": "Tournament"}},
        }],
    }


def test_the_gate_fails_on_an_untriaged_high_finding_only():
    run = _runner()
    high = _finding()
    _items, untriaged, _stale, problems = run.evaluate([high], {"accepted": []}, "")
    assert [(u["detector"], u["contract"], u["function"]) for u in untriaged] == [
        ("reentrancy-eth", "Tournament", "claim")]
    entry = {"detector": "reentrancy-eth", "contract": "Tournament", "function": "claim", "impact": "High",
             "justification": "Because it is guarded."}
    # Triaged and documented: accepted.
    _items, untriaged, _stale, problems = run.evaluate([high], {"accepted": [entry]}, "... Because it is\n guarded. ...")
    assert not untriaged and not problems
    # Triaged but the justification is not in docs/security.md: a problem.
    _items, untriaged, _stale, problems = run.evaluate([high], {"accepted": [entry]}, "nothing")
    assert not untriaged and len(problems) == 1
    # A Low finding never gates; OpenZeppelin's and the test contract's are out of scope.
    low = _finding(check="timestamp", impact="Low")
    oz = _finding(file="node_modules/@openzeppelin/contracts/utils/math/Math.sol")
    test_contract = _finding(file="contracts/test/ReentrantToken.sol")
    items, untriaged, _stale, problems = run.evaluate([low, oz, test_contract], {"accepted": []}, "")
    assert [i["detector"] for i in items] == ["timestamp"] and not untriaged and not problems
    # A High entry whose finding is gone is stale: a problem (the triage must stay honest).
    _items, _untriaged, stale, problems = run.evaluate([], {"accepted": [entry]}, "Because it is guarded.")
    assert stale and problems


def test_every_triage_justification_is_in_security_md():
    triage = json.loads(TRIAGE.read_text())
    doc = re.sub(r"\s+", " ", DOC.read_text())
    missing = [a for a in triage["accepted"] if re.sub(r"\s+", " ", a["justification"]).strip() not in doc]
    assert not missing, [f"{a['detector']} {a['contract']}.{a['function']}" for a in missing]
