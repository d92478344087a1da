"""Benchmark: resolve a synthetic round of 10,000 staked models x 5,000 rows end to end.

    python bench/oracle.py [--models 10000] [--rows 5000] [--repeat 3] [--curve 1000,10000,50000]
                           [--no-reference] [--out bench/results/oracle.json]

Each oracle run is a fresh process, so that its peak memory (ru_maxrss) is the oracle's own:
load and hash every predictions file (and check it against its commitment), score, payouts,
Merkle tree with every proof, publish (the results folder, inputs hard-linked). Wall and CPU
seconds are reported (the machine is shared: CPU seconds are the steadier figure); the median of
--repeat runs is kept. Then numerai-tools itself scores the same round in another process (its
time is the reference; its scores are compared with the oracle's). Then one run per size of the
scale curve. At 10,000 x 5,000 the figures go to --out, with the root and totals compared with the
file's previous ones (payouts must not move by a wei) and its "before" block kept.
The data sets are generated once into cache folders under the temp dir (not timed; 50,000 models
are about 6 GB of CSV).
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


def _round(folder: Path):
    from nmrstake.hashing import from_hex
    from nmrstake.payouts import RoundParams
    from nmrstake.results.spec import RoundInputs, RoundStake

    stakes = [RoundStake(s["model"], s["staker"], int(s["stake"]), from_hex(s["commitment"], length=32))
              for s in json.loads((folder / "stakes.json").read_text())]
    inputs = RoundInputs(folder / "targets.csv", {s.model: folder / "predictions" / f"{s.model}.csv" for s in stakes})
    total_staked = sum(s.stake for s in stakes)
    params = RoundParams(corr_multiplier_bps=5000, mmc_multiplier_bps=20000, clip_bps=500,
                         stake_threshold=72_000 * 10**18, funded=total_staked // 20)
    return stakes, inputs, params


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(folder: Path, models: int, rows: int, scores_out: Path | None) -> dict:
    """The oracle's work on the round, in this (fresh) process: evaluate, then publish."""
    from nmrstake.results.evaluate import evaluate_round
    from nmrstake.results.publish import publish_round

    stakes, inputs, params = _round(folder)
    stages: dict[str, float] = {}
    cpu_stages: dict[str, float] = {}
    cpu0 = last_cpu = _cpu_seconds()

    def on_stage(name: str, seconds: float) -> None:
        nonlocal last_cpu
        now = _cpu_seconds()
        stages[name], cpu_stages[name] = round(seconds, 2), round(now - last_cpu, 2)
        last_cpu = now

    t0 = time.perf_counter()
    result = evaluate_round(1, params, stakes, inputs, on_stage=on_stage)
    out = Path(tempfile.mkdtemp(prefix="nmrstake-bench-results-"))
    t1 = time.perf_counter()
    publish_round(out, result, chain_id=31337, contract="0x" + "11" * 20, inputs=inputs)
    stages["publish"] = round(time.perf_counter() - t1, 2)
    cpu_stages["publish"] = round(_cpu_seconds() - last_cpu, 2)
    total = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shutil.rmtree(out, ignore_errors=True)
    if scores_out is not None:
        result.scores.to_pickle(scores_out)
    return {
        "models": models, "rows": rows, "stakes": len(stakes), "invalid": sum(1 for r in result.rows if not r.valid),
        "seconds": stages, "total_seconds": round(total, 2), "cpu_seconds": round(cpu, 2), "cpu_seconds_by_stage": cpu_stages,
        "peak_memory_mib": round(peak_mib),
        "root": result.root, "total_payout": str(result.summary.total_payout), "total_burn": str(result.summary.total_burn),
    }


def reference(folder: Path, scores: Path) -> dict:
    """numerai-tools itself on the same round (its own process: its memory is not the oracle's):
    the time of its three calls, and how far the oracle's scores are from its."""
    import numpy as np
    import pandas as pd
    from numerai_tools.scoring import correlation_contribution, numerai_corr, stake_weight

    from nmrstake.scoring import load_targets

    stakes, inputs, _ = _round(folder)
    targets = load_targets(folder / "targets.csv")
    frame = _frame_from(inputs, targets)
    weights = pd.Series({s.model: float(s.stake) for s in stakes})[frame.columns]
    t0 = time.perf_counter()
    corr = numerai_corr(frame, targets)
    meta = stake_weight(frame, weights).rename("meta_model")
    mmc = correlation_contribution(frame, meta, targets)
    seconds = time.perf_counter() - t0
    mine = pd.read_pickle(scores).set_index("model")
    return {
        "numerai_tools_seconds": round(seconds, 2),
        "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "max_abs_difference": {
            "corr": float(np.max(np.abs(mine["corr"].reindex(corr.index).to_numpy() - corr.to_numpy()))),
            "mmc": float(np.max(np.abs(mine["mmc"].reindex(mmc.index).to_numpy() - mmc.to_numpy()))),
        },
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


def _child(*args: str) -> dict:
    child = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if child.returncode != 0:
        sys.exit(child.stderr)
    return json.loads(child.stdout.strip().splitlines()[-1])


def _run(models: int, rows: int, seed: int, scores: Path | None = None) -> dict:
    folder = prepare(models, rows, seed)
    extra = ["--scores", str(scores)] if scores is not None else []
    return _child("--models", str(models), "--rows", str(rows), "--measure", str(folder), *extra)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=10_000)
    ap.add_argument("--rows", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="oracle runs at --models (the median is reported)")
    ap.add_argument("--curve", default="1000,10000,50000", help="model counts for the scale curve ('' for none)")
    ap.add_argument("--no-reference", action="store_true", help="skip the numerai-tools reference run")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "oracle.json")
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--reference", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--scores", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.models, args.rows, args.scores)))
        return
    if args.reference:
        print(json.dumps(reference(args.reference, args.scores)))
        return

    machine = {"cpus": os.cpu_count(), "loadavg_at_start": [round(x, 2) for x in os.getloadavg()]}
    scores = Path(tempfile.mkdtemp(prefix="nmrstake-bench-scores-")) / "scores.pkl"
    runs = [_run(args.models, args.rows, args.seed, scores if k == 0 else None) for k in range(max(args.repeat, 1))]
    for run in runs:
        print(f"{args.models} x {args.rows}: {run['total_seconds']} s ({run['cpu_seconds']} s CPU), "
              f"peak {run['peak_memory_mib']} MiB, stages {run['seconds']}, CPU {run['cpu_seconds_by_stage']}", flush=True)
    median = sorted(runs, key=lambda r: r["total_seconds"])[len(runs) // 2]
    figures: dict = {**median, "total_seconds_runs": [r["total_seconds"] for r in runs]}
    if len({(r["root"], r["total_payout"], r["total_burn"]) for r in runs}) != 1:
        sys.exit("the runs disagree on the root or the totals")
    if not args.no_reference:
        ref = _child("--reference", str(prepare(args.models, args.rows, args.seed)), "--scores", str(scores))
        figures["numerai_tools"] = ref
        figures["oracle_vs_numerai_tools_scoring"] = round(median["seconds"]["score"] / ref["numerai_tools_seconds"], 3)
        print(f"numerai-tools alone: {ref['numerai_tools_seconds']} s; largest difference from the oracle's scores: "
              f"{ref['max_abs_difference']}", flush=True)
    shutil.rmtree(scores.parent, ignore_errors=True)
    curve = []
    for models in [int(m) for m in args.curve.split(",") if m.strip()]:
        run = median if models == args.models else _run(models, args.rows, args.seed)
        curve.append({k: run[k] for k in ("models", "total_seconds", "cpu_seconds", "peak_memory_mib", "seconds",
                                          "cpu_seconds_by_stage")})
        print(f"curve: {models} models: {run['total_seconds']} s, {run['cpu_seconds']} s CPU, "
              f"peak {run['peak_memory_mib']} MiB", flush=True)
    if curve:
        figures["scale"] = curve
    machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    figures["machine"] = machine
    print(json.dumps(figures, indent=2))
    if args.models == 10_000 and args.rows == 5_000:
        previous = json.loads(args.out.read_text()) if args.out.exists() else {}
        same = all(previous.get(k) == figures[k] for k in ("root", "total_payout", "total_burn"))
        print(f"root and totals as in {args.out.name} before this run: {same}" if previous else "no previous results")
        if "before" in previous:
            figures["before"] = previous["before"]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
