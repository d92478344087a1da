"""How quickly the `nmrstake` commands a participant types answer, on a real Anvil with a service.

    python bench/cli.py [--repeat 7] [--out bench/results/cli.json]

Targets (issue 19): the participant's commands stand on the node's JSON-RPC
(`nmrstake.chain.node.RpcNode`, eth-abi) and eth-account and, given `--network <a node's http URL>`,
never import ape (nor web3.py). Every read through the service (`rounds`,
`round show`, `status --wallet`, `balance --wallet`, each with `--api`) answers in at most 0.5 s
wall; every read straight from the chain (the same four with `--network <the Anvil's URL>` and no
`--api`, the deployment from the deployments file $NMRSTAKE_DEPLOYMENTS names) in at most 0.8 s;
`stake --api URL --network URL` in at most 1.2 s wall, the keystore's decryption included; and a
notebook that decrypted its key once (`Participant(service, rpc, signer.from_wallet(...))`,
built once, not timed) stakes (`me.stake(model, amount, predictions)`) in at most 0.3 s.

Each command runs as a separate process, exactly as a participant's shell runs it, from a home of
its own with an imported wallet and the deployments file. Each command is also run once, untimed,
under `python -X importtime` to record whether it imported ape (`imports_ape`: it should not).
Per command: wall time (median, min, max over --repeat runs; stake: one run per model) and the
process's CPU time (user + sys of the child, summed over its threads; the notebook's: its own
process time). `stake` is judged by its wall time: on this Anvil, which mines each transaction at
once, waiting for the chain is a few milliseconds, and the wall time holds the service's checking
of the upload too. The figures are printed beside their targets and recorded; nothing fails or
asserts on a time. The setup (Anvil, deploy, one open round, `nmrstake serve`, the participant's
wallet) is not timed. Prints a table; writes one JSON object to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from service import HOST, anvil_node, machine, service_process  # noqa: E402 - the service benchmark's processes

WEI = 10**18
HOUR = 3600
ROUND_ID = 7
PASS = "bench pass phrase"
KEY = "0x" + "c1" * 32
API_READ_LIMIT = 0.5  # s wall: a read through the service (--api)
CHAIN_READ_LIMIT = 0.8  # s wall: a read straight from the chain (--network URL, no --api)
STAKE_LIMIT = 1.2  # s wall: `stake`, the keystore's decryption included
NOTEBOOK_STAKE_LIMIT = 0.3  # s wall: Participant.stake in a process that decrypted once
IMPORTS_APE = re.compile(r"\|\s+ape(\.|\s*$)", re.MULTILINE)


def cli_env(home: Path) -> dict[str, str]:
    env = dict(os.environ, NMRSTAKE_HOME=str(home), NMRSTAKE_PASSPHRASE=PASS,
               NMRSTAKE_DEPLOYMENTS=str(home / "deployments"))
    env.pop("NMRSTAKE_API", None)
    env.pop("NMRSTAKE_NETWORK", None)
    return env


def run_cli(home: Path, args: list[str], *, stdin: str | None = None) -> tuple[float, float, str]:
    """`nmrstake ARGS` as a process with its own home: (wall seconds, own CPU seconds, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "nmrstake.cli", *args], input=stdin, capture_output=True,
                         text=True, env=cli_env(home), cwd=home, timeout=300)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"nmrstake {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()[-1500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stdout


def imports_ape(home: Path, args: list[str]) -> bool:
    """Whether `nmrstake ARGS` imports ape (one untimed run under -X importtime)."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "nmrstake.cli", *args], capture_output=True,
                         text=True, env=cli_env(home), cwd=home, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"nmrstake {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()[-1500:]}")
    return bool(IMPORTS_APE.search(out.stderr))


def stats(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def record(results: dict[str, Any], name: str, runs: list[tuple[float, float]], target: float,
           ape: bool | None) -> None:
    wall = stats([w for w, _ in runs])
    results[name] = {"wall_s": wall, "cpu_s": stats([c for _, c in runs]), "target_wall_s": target,
                     "met": wall["median"] <= target, "imports_ape": ape, "runs": len(runs)}
    print(f"{name:<22} wall {wall['median']:.2f} s (target {target:g} s: {'met' if results[name]['met'] else 'missed'})"
          f"  cpu {results[name]['cpu_s']['median']:.2f} s  imports ape: {ape}", file=sys.stderr)


def measure(work: Path, repeat: int) -> dict[str, Any]:
    """Set up Anvil, a deployment with one open round, the service and a participant's home in
    `work`, then time each command `repeat` times (stake: once per model, `repeat` models; the
    notebook: `repeat` more models)."""
    from ape import accounts

    from nmrstake.chain.connect import load_project
    from nmrstake.deploy import TournamentSettings, deploy
    from nmrstake.localchain import anvil_provider
    from nmrstake.rounds import RoundSpec, open_round
    from nmrstake.synth import generate, write
    from nmrstake.tournament import TournamentClient

    home = work / "participant"
    home.mkdir()
    results: dict[str, Any] = {}
    with anvil_node() as (port, _anvil), anvil_provider(port):
        rpc = f"http://{HOST}:{port}"
        project = load_project()
        owner, oracle = accounts.test_accounts[0], accounts.test_accounts[1]
        settings = TournamentSettings(challenge_period=HOUR, grace_period=3 * 24 * HOUR, admin_delay=HOUR, max_pause=HOUR)
        dep, _ = deploy(project, owner, directory=work / "deployments", force=True, oracle=oracle.address,
                        settings=settings, log=lambda m: None)
        # The participant's deployments file, in the folder $NMRSTAKE_DEPLOYMENTS names.
        shutil.copytree(work / "deployments", home / "deployments")
        client = TournamentClient(project, dep)
        open_round(client, owner, RoundSpec(round_id=ROUND_ID, open_in=0, close_after=30 * 24 * HOUR,
                                            resolve_after=HOUR, stake_cap=10_000 * WEI, min_stake=WEI // 100))
        data = generate(rows=5_000, models=2 * repeat, seed=3, round_index=ROUND_ID)
        write(data, work / "inputs")
        files = sorted((work / "inputs" / "predictions").glob("*.csv"))
        cli_files, notebook_files = files[:repeat], files[repeat:]
        with service_process(work / "deployments", work / "data", work / "service.log") as (url, _service):
            _, _, imported = run_cli(home, ["wallet", "import", "me", "--json"], stdin=KEY + "\n")
            address = json.loads(imported[imported.index("{"):])["address"]
            client.token.mint(address, 10_000 * WEI, sender=owner)
            owner.transfer(address, 10**18)
            net = ["--network", rpc]
            api = ["--api", url]
            commands: dict[str, tuple[list[str], float]] = {
                "rounds --api": (["rounds", *api], API_READ_LIMIT),
                "round show --api": (["round", "show", str(ROUND_ID), *api], API_READ_LIMIT),
                "status --api": (["status", "--wallet", "me", *api], API_READ_LIMIT),
                "balance --api": (["balance", "--wallet", "me", *api], API_READ_LIMIT),
                # Straight from the chain: the node's URL, no --api, the deployments file.
                "rounds (chain)": (["rounds", *net], CHAIN_READ_LIMIT),
                "round show (chain)": (["round", "show", str(ROUND_ID), *net], CHAIN_READ_LIMIT),
                "status (chain)": (["status", "--wallet", "me", *net], CHAIN_READ_LIMIT),
                "balance (chain)": (["balance", "--wallet", "me", *net], CHAIN_READ_LIMIT),
            }
            failures: dict[str, str] = {}
            for name, (cmd, target) in commands.items():
                try:
                    ape = imports_ape(home, cmd)
                    runs = [run_cli(home, cmd)[:2] for _ in range(repeat)]
                except RuntimeError as exc:  # a CLI bug: reported, the rest still measured
                    failures[name] = str(exc)
                    print(f"{name:<22} FAILED: {exc}", file=sys.stderr)
                    continue
                record(results, name, runs, target, ape)

            def stake_cmd(model: str, f: Path) -> list[str]:
                return ["stake", "--round", str(ROUND_ID), "--model", model, "--amount", "1", "--predictions", str(f),
                        "--wallet", "me", *api, *net]

            try:
                ape = imports_ape(home, stake_cmd("bench_probe", cli_files[0]))
                stake_runs = [run_cli(home, stake_cmd(f"bench_{i}", f))[:2] for i, f in enumerate(cli_files)]
                record(results, "stake --api", stake_runs, STAKE_LIMIT, ape)
            except RuntimeError as exc:
                failures["stake --api"] = str(exc)
                print(f"{'stake --api':<22} FAILED: {exc}", file=sys.stderr)

            try:
                record(results, "notebook stake", notebook_stakes(home, url, rpc, notebook_files), NOTEBOOK_STAKE_LIMIT, None)
            except Exception as exc:  # noqa: BLE001 - reported, not fatal
                failures["notebook stake"] = f"{type(exc).__name__}: {exc}"
                print(f"{'notebook stake':<22} FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            if failures:
                results["failures"] = failures

    return results


def notebook_stakes(home: Path, url: str, rpc: str, files: list[Path]) -> list[tuple[float, float]]:
    """In this process: a Participant built once on the decrypted wallet (not timed), then one
    timed `me.stake(model, "1", predictions)` per file, each a model of its own."""
    from nmrstake.client import Participant, signer

    key = signer.from_wallet("me", PASS, directory=home / "wallets")
    me = Participant(url, rpc, key, home=home / "notebook")
    runs = []
    for i, f in enumerate(files):
        t0, c0 = time.perf_counter(), time.process_time()
        me.stake(f"notebook_{i}", "1", f)
        runs.append((time.perf_counter() - t0, time.process_time() - c0))
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cli.json")
    args = parser.parse_args()

    before = machine()  # the load average as the measuring starts
    work = Path(tempfile.mkdtemp(prefix="nmrstake-bench-cli-"))
    try:
        results = measure(work, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    failures = results.pop("failures", {})
    api_reads = [k for k in results if k.endswith("--api") and not k.startswith("stake")]
    chain_reads = [k for k in results if k.endswith("(chain)")]
    verdict = {
        "api_reads_met": all(results[k]["met"] for k in api_reads) and len(api_reads) == 4,
        "chain_reads_met": all(results[k]["met"] for k in chain_reads) and len(chain_reads) == 4,
        "chain_reads_without_ape": all(results[k]["imports_ape"] is False for k in chain_reads) and len(chain_reads) == 4,
        "stake_met": "stake --api" in results and results["stake --api"]["met"],
        "notebook_stake_met": "notebook stake" in results and results["notebook stake"]["met"],
    }
    targets = {"api_read_wall_s": API_READ_LIMIT, "chain_read_wall_s": CHAIN_READ_LIMIT, "stake_wall_s": STAKE_LIMIT,
               "notebook_stake_wall_s": NOTEBOOK_STAKE_LIMIT}
    doc = {"benchmark": "cli", "repeat": args.repeat, "machine": before, "python": platform.python_version(),
           "commands": results, "targets": targets, **verdict, "failures": failures}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nload average at start: {before.get('loadavg_at_start')}")
    print(f"{'command':<22} {'wall median':>12} {'min':>8} {'max':>8} {'target':>8}  {'met':<6} {'CPU median':>11}  ape")
    for name, r in results.items():
        w = r["wall_s"]
        print(f"{name:<22} {w['median']:>10.2f} s {w['min']:>6.2f} s {w['max']:>6.2f} s {r['target_wall_s']:>6g} s  "
              f"{'yes' if r['met'] else 'no':<6} {r['cpu_s']['median']:>9.2f} s  {r['imports_ape']}")
    for name, error in failures.items():
        print(f"{name:<22} FAILED: {error}")
    print(f"\nreads through the service ≤ {API_READ_LIMIT:g} s: {verdict['api_reads_met']}; reads from the chain ≤ "
          f"{CHAIN_READ_LIMIT:g} s: {verdict['chain_reads_met']} (without ape: {verdict['chain_reads_without_ape']}); "
          f"stake ≤ {STAKE_LIMIT:g} s: {verdict['stake_met']}; notebook stake ≤ {NOTEBOOK_STAKE_LIMIT:g} s: "
          f"{verdict['notebook_stake_met']}; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
