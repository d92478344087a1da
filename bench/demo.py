"""`nmrstake demo` as `make demo` runs it (the default: a local Anvil, the service, the oracle and
the operator as processes, 20 participants × 3 rounds), three times, with --no-keep: wall time to
the summary and per phase, from the demo's own summary, plus the wall time of the whole process
(stopping everything included). Writes bench/results/demo.json.

    python bench/demo.py [--repeat 3] [--participants 20] [--rounds 3] [--workers 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "demo.json"


def one_run(out: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, "-m", "nmrstake.cli", "demo", "--no-keep", "--json", "--out", str(out),
           "--participants", str(args.participants), "--rounds", str(args.rounds), "--workers", str(args.workers)]
    start = time.monotonic()
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    wall = time.monotonic() - start
    if run.returncode != 0:
        raise SystemExit(f"nmrstake demo failed ({run.returncode}):\n{run.stderr[-3000:]}")
    summary = json.loads(run.stdout[run.stdout.index("{"):])
    return {"to_summary_s": summary["wall"]["to_summary"], "process_wall_s": round(wall, 2),
            "phases_s": summary["wall"]["phases"], "books_balance": summary["books_balance"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--participants", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="nmrstake-bench-demo-") as tmp:
        for i in range(args.repeat):
            r = one_run(Path(tmp) / f"run{i}", args)
            runs.append(r)
            phases = "  ".join(f"{k} {v:.1f}" for k, v in r["phases_s"].items())
            print(f"run {i + 1}: {r['to_summary_s']:.1f} s to the summary ({r['process_wall_s']:.1f} s in all); {phases}",
                  flush=True)
    names = list(runs[0]["phases_s"])
    result = {
        "what": f"nmrstake demo --no-keep: {args.participants} participants x {args.rounds} rounds, processes on a "
                f"local Anvil, {args.workers} participants at a time",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_end": os.getloadavg()},
        "runs": runs,
        "median_to_summary_s": round(statistics.median(r["to_summary_s"] for r in runs), 2),
        "median_process_wall_s": round(statistics.median(r["process_wall_s"] for r in runs), 2),
        "median_phases_s": {n: round(statistics.median(r["phases_s"].get(n, 0.0) for r in runs), 2) for n in names},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"median {result['median_to_summary_s']} s to the summary, {result['median_process_wall_s']} s in all; "
          f"phases {result['median_phases_s']}; written to {RESULTS}")


if __name__ == "__main__":
    main()
