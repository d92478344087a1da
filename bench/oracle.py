"""Benchmark: resolve a synthetic round of 10,000 staked models x 5,000 rows end to end.

    python bench/oracle.py [--models 10000] [--rows 5000] [--repeat 3] [--curve 1000,10000,50000]
                           [--no-reference] [--out bench/results/oracle.json]

Each oracle run is a fresh process, so that its peak memory (ru_maxrss) is the oracle's own:
load every predictions file as the oracle reads its service's store (each CSV's values and keccak
from the prepared file the service wrote beside it at upload, nmrstake.prepared; the keccak checked
against its commitment), score, payouts, Merkle tree with every proof, publish (the results folder,
inputs hard-linked). Wall and CPU seconds are reported (the machine is shared: CPU seconds are the
steadier figure); the median of --repeat runs is kept. One more run reads the CSV files alone (no
prepared values: every file parsed and hashed), reported as "unprepared", and must reach the same
root and totals. Then numerai-tools itself scores the same round in another process (its time is
the reference; its scores are compared with the oracle's). Then one run per size of the scale
curve. At 10,000 x 5,000 the figures go to --out, with the root and totals compared with the
file's previous ones (payouts must not move by a wei) and its "before" block kept.
The data sets are generated once into cache folders under the temp dir (not timed; 50,000 models
are about 6 GB of CSV), with the store's layout and prepared values beside them (upload-time work:
not timed either).
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


def stored(folder: Path) -> Path:
    """The round's files as the service stores them (``store/<keccak>.csv``, hard links) with the
    prepared values it writes beside each at upload (``<keccak>.csv.values``: the intake's own
    nmrstake.prepared.prepare). Upload-time work, so made once, untimed."""
    from nmrstake.hashing import from_hex
    from nmrstake.prepared import encode, prepare

    store = folder / "store"
    if (store / "READY").exists():
        return store
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir()
    t0 = time.perf_counter()
    for s in json.loads((folder / "stakes.json").read_text()):
        source = folder / "predictions" / f"{s['model']}.csv"
        target = store / f"{s['commitment']}.csv"
        os.link(source, target)
        prepared = prepare(source.read_bytes(), from_hex(s["commitment"], length=32))
        assert prepared is not None  # synthetic files are plain CSV
        Path(f"{target}.values").write_bytes(encode(prepared))
    (store / "READY").write_text(f"prepared in {time.perf_counter() - t0:.1f} s\n")
    return store


def _round(folder: Path, prepared: bool = False):
    """The round's stakes, inputs and parameters: the predictions as the bench made them, or (with
    `prepared`) as the oracle reads them from the service's store, each beside its prepared values."""
    from nmrstake.hashing import from_hex, to_hex
    from nmrstake.payouts import RoundParams
    from nmrstake.results.spec import PredictionKey, RoundInputs, RoundStake

    stakes = [RoundStake(s["model"], s["staker"], int(s["stake"]), from_hex(s["commitment"], length=32))
              for s in json.loads((folder / "stakes.json").read_text())]
    store = stored(folder) if prepared else None
    files: dict[PredictionKey, Path] = {}
    for s in stakes:
        assert s.commitment is not None  # every synthetic stake commits to its file
        files[s.model] = (store / f"{to_hex(s.commitment)}.csv" if store is not None
                          else folder / "predictions" / f"{s.model}.csv")
    inputs = RoundInputs(folder / "targets.csv", files, prepared=prepared)
    total_staked = sum(s.stake for s in stakes)
    params = RoundParams(corr_multiplier_bps=5000, mmc_multiplier_bps=20000, clip_bps=500,
                         stake_threshold=72_000 * 10**18, funded=total_staked // 20)
    return stakes, inputs, params


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(folder: Path, models: int, rows: int, scores_out: Path | None, prepared: bool) -> dict:
    """The oracle's work on the round, in this (fresh) process: evaluate, then publish."""
    from nmrstake.results.evaluate import evaluate_round
    from nmrstake.results.publish import publish_round

    stakes, inputs, params = _round(folder, prepared)
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


def _run(models: int, rows: int, seed: int, scores: Path | None = None, *, prepared: bool = True) -> dict:
    folder = prepare(models, rows, seed)
    if prepared:
        stored(folder)
    extra = ["--scores", str(scores)] if scores is not None else []
    mode = [] if prepared else ["--unprepared"]
    return _child("--models", str(models), "--rows", str(rows), "--measure", str(folder), *extra, *mode)


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
    ap.add_argument("--unprepared", action="store_true",
                    help="measure only the oracle without the prepared values (every CSV parsed and hashed)")
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.models, args.rows, args.scores, not args.unprepared)))
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
    unprepared = _run(args.models, args.rows, args.seed, prepared=False)
    print(f"without prepared values: {unprepared['total_seconds']} s ({unprepared['cpu_seconds']} s CPU), "
          f"stages {unprepared['seconds']}", flush=True)
    figures["unprepared"] = {
        "what": "one run of the oracle on the CSV files alone (no prepared values: every file read, parsed and "
                "hashed at resolution, as for files from before prepared values or a round re-scored elsewhere)",
        **{k: unprepared[k] for k in ("total_seconds", "cpu_seconds", "peak_memory_mib", "seconds",
                                      "cpu_seconds_by_stage")}}
    runs.append(unprepared)
    if len({(r["root"], r["total_payout"], r["total_burn"]) for r in runs}) != 1:
        sys.exit("the runs disagree on the root or the totals (with and without prepared values)")
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
