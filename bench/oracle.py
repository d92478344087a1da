"""Benchmark: resolve a synthetic round of 10,000 staked models x 5,000 rows end to end.

    python bench/oracle.py [--models 10000] [--rows 5000] [--out bench/results/oracle.json]

Stages timed (in a fresh process, so that peak memory is the oracle's own): load and hash every
predictions file (and check it against its commitment), score (numerai-tools), payouts, Merkle
tree with every proof, publish (the results folder with copies of all inputs). Then numerai-tools
is called directly on the same frame, to compare the scoring stage with the library alone.
The data set is generated once into a cache folder (not timed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cache_dir(models: int, rows: int, seed: int) -> Path:
    return Path(tempfile.gettempdir()) / f"nmrstake-bench-{models}x{rows}-seed{seed}"


def prepare(models: int, rows: int, seed: int) -> Path:
    """Targets, one CSV per model and stakes with commitments; reused when already made."""
    import numpy as np

    from nmrstake.hashing import keccak_bytes, to_hex
    from nmrstake.synth import generate_predictions_matrix

    folder = cache_dir(models, rows, seed)
    if (folder / "READY").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "predictions").mkdir(parents=True)
    t0 = time.perf_counter()
    targets, preds = generate_predictions_matrix(rows, models, seed)
    ids = [str(i) for i in targets.index]
    (folder / "targets.csv").write_text("id,target\n" + "".join(f"{i},{t!r}\n" for i, t in zip(ids, targets.to_numpy())))
    rng = np.random.default_rng(seed)
    stakes = []
    prefix = [f"{i}," for i in ids]
    for k, model in enumerate(preds.columns):
        body = "".join(p + repr(v) + "\n" for p, v in zip(prefix, preds[model].to_numpy().tolist()))
        raw = ("id,prediction\n" + body).encode()
        (folder / "predictions" / f"{model}.csv").write_bytes(raw)
        stake = int(rng.integers(1, 1000)) * 10**18
        stakes.append({"model": model, "staker": "0x" + f"{k + 1:040x}", "stake": str(stake),
                       "commitment": to_hex(keccak_bytes(raw))})
    (folder / "stakes.json").write_text(json.dumps(stakes))
    (folder / "READY").write_text(f"prepared in {time.perf_counter() - t0:.1f} s\n")
    return folder


def measure(folder: Path, models: int, rows: int) -> dict:
    from nmrstake.hashing import from_hex
    from nmrstake.payouts import RoundParams
    from nmrstake.results.evaluate import evaluate_round
    from nmrstake.results.publish import publish_round
    from nmrstake.results.spec import RoundInputs, RoundStake

    stakes = [RoundStake(s["model"], s["staker"], int(s["stake"]), from_hex(s["commitment"], length=32))
              for s in json.loads((folder / "stakes.json").read_text())]
    inputs = RoundInputs(folder / "targets.csv", {s.model: folder / "predictions" / f"{s.model}.csv" for s in stakes})
    total_staked = sum(s.stake for s in stakes)
    params = RoundParams(corr_multiplier_bps=5000, mmc_multiplier_bps=20000, clip_bps=500,
                         stake_threshold=72_000 * 10**18, funded=total_staked // 20)
    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    result = evaluate_round(1, params, stakes, inputs, on_stage=lambda name, sec: stages.__setitem__(name, round(sec, 2)))
    out = Path(tempfile.mkdtemp(prefix="nmrstake-bench-results-"))
    t1 = time.perf_counter()
    publish_round(out, result, chain_id=31337, contract="0x" + "11" * 20, inputs=inputs)
    stages["publish"] = round(time.perf_counter() - t1, 2)
    total = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    invalid = sum(1 for r in result.rows if not r.valid)

    # numerai-tools alone on the same frame: the reference for the scoring stage.
    import pandas as pd
    from numerai_tools.scoring import correlation_contribution, numerai_corr, stake_weight

    from nmrstake.scoring import load_targets

    targets = load_targets(folder / "targets.csv")
    frame = _frame_from(inputs, targets)
    weights = pd.Series({s.model: float(s.stake) for s in stakes})[frame.columns]
    t2 = time.perf_counter()
    numerai_corr(frame, targets)
    meta = stake_weight(frame, weights).rename("meta_model")
    correlation_contribution(frame, meta, targets)
    direct = time.perf_counter() - t2
    shutil.rmtree(out, ignore_errors=True)
    return {
        "models": models, "rows": rows, "stakes": len(stakes), "invalid": invalid,
        "seconds": stages, "total_seconds": round(total, 2), "peak_memory_mib": round(peak_mib),
        "numerai_tools_direct_seconds": round(direct, 2),
        "scoring_vs_direct": round(stages["score"] / direct, 3),
        "root": result.root, "total_payout": str(result.summary.total_payout), "total_burn": str(result.summary.total_burn),
        "cpus": os.cpu_count(),
    }


def _frame_from(inputs, targets):
    """The prediction frame numerai-tools gets, built once outside the timed part."""
    import numpy as np
    import pandas as pd

    from nmrstake.scoring import IdTemplate, fast_prediction_values

    ref = IdTemplate(list(targets.index))
    cols = {}
    for m, p in inputs.predictions.items():
        values = fast_prediction_values(Path(p).read_bytes(), ref)
        assert values is not None  # synthetic files: the targets' ids, in order
        cols[m] = values
    matrix = np.column_stack(list(cols.values()))
    return pd.DataFrame(matrix, index=targets.index, columns=list(cols))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=10_000)
    ap.add_argument("--rows", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "oracle.json")
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.models, args.rows)))
        return
    folder = prepare(args.models, args.rows, args.seed)
    child = subprocess.run([sys.executable, __file__, "--models", str(args.models), "--rows", str(args.rows),
                            "--measure", str(folder)], capture_output=True, text=True, check=False)
    if child.returncode != 0:
        sys.exit(child.stderr)
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    print(json.dumps(figures, indent=2))
    if args.models == 10_000 and args.rows == 5_000:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
