"""How quickly the `nmrstake` commands a participant types answer, on a real Anvil with a service.

    python bench/cli.py [--repeat 7] [--out bench/results/cli.json]

Targets (issue 12): the read commands (`rounds`, `round show`, `status`, `balance`) answer in under
2 s, and `stake` spends under 3 s of its own besides waiting for the chain. Each command runs as a
separate process, exactly as a participant's shell runs it, from a home of its own with an imported
wallet and `--api` pointing at the service (`$NMRSTAKE_API` does the same). The reads are also
timed without `--api` (straight from the chain through ape) for comparison.

Per command: wall time (median, min, max over --repeat runs) and the process's CPU time (user + sys
of the child, summed over its threads). `stake`'s own time is judged by its wall time: on this
Anvil, which mines each transaction at once, waiting for the chain is a few milliseconds, so the
wall time bounds the command's own time from above (it also holds the service's checking and
signing of the upload, which is not the command's own either). CPU time is not the measure:
`stake` decrypts the wallet on a second core while ape loads (chain.signers.AccountUnlocking),
which makes it wait less and count more CPU. The setup (Anvil, deploy, one open round,
`nmrstake serve`, the participant's wallet) is not timed. Prints a table; writes one JSON object
to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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

from service import anvil_node, machine, service_process  # noqa: E402 - the service benchmark's processes

WEI = 10**18
HOUR = 3600
ROUND_ID = 7
PASS = "bench pass phrase"
KEY = "0x" + "c1" * 32
READ_LIMIT = 2.0
STAKE_OWN_LIMIT = 3.0


def run_cli(home: Path, args: list[str], *, stdin: str | None = None) -> tuple[float, float, str]:
    """`nmrstake ARGS` as a process with its own home: (wall seconds, own CPU seconds, stdout)."""
    env = dict(os.environ, NMRSTAKE_HOME=str(home), NMRSTAKE_PASSPHRASE=PASS,
               NMRSTAKE_DEPLOYMENTS=str(home / "deployments"))
    env.pop("NMRSTAKE_API", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "nmrstake.cli", *args], input=stdin, capture_output=True,
                         text=True, env=env, cwd=home, timeout=300)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"nmrstake {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()[-1500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stdout


def stats(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def measure(work: Path, repeat: int) -> dict[str, Any]:
    """Set up Anvil, a deployment with one open round, the service and a participant's home in
    `work`, then time each command `repeat` times (stake: once per model, `repeat` models)."""
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
        project = load_project()
        owner, oracle = accounts.test_accounts[0], accounts.test_accounts[1]
        settings = TournamentSettings(challenge_period=HOUR, grace_period=3 * 24 * HOUR, admin_delay=HOUR, max_pause=HOUR)
        dep, _ = deploy(project, owner, directory=work / "deployments", force=True, oracle=oracle.address,
                        settings=settings, log=lambda m: None)
        client = TournamentClient(project, dep)
        open_round(client, owner, RoundSpec(round_id=ROUND_ID, open_in=0, close_after=30 * 24 * HOUR,
                                            resolve_after=HOUR, stake_cap=10_000 * WEI, min_stake=WEI // 100))
        data = generate(rows=5_000, models=repeat, seed=3, round_index=ROUND_ID)
        write(data, work / "inputs")
        files = sorted((work / "inputs" / "predictions").glob("*.csv"))
        with service_process(work / "deployments", work / "data", work / "service.log") as (url, _service):
            _, _, imported = run_cli(home, ["wallet", "import", "me", "--json"], stdin=KEY + "\n")
            address = json.loads(imported[imported.index("{"):])["address"]
            client.token.mint(address, 10_000 * WEI, sender=owner)
            owner.transfer(address, 10**18)
            net = ["--network", "ethereum:local:foundry"]
            api = ["--api", url]
            commands: dict[str, list[str]] = {
                "rounds --api": ["rounds", *api],
                "round show --api": ["round", "show", str(ROUND_ID), *api],
                "status --api": ["status", "--wallet", "me", *api, *net],
                "balance --api": ["balance", "--wallet", "me", *api, *net],
                # Without --api, straight from the chain through ape (for comparison: the target is
                # for reads through the service, which a participant's machine is given).
                "rounds (chain)": ["rounds", *net, "--deployments-dir", str(work / "deployments")],
                "round show (chain)": ["round", "show", str(ROUND_ID), *net, "--deployments-dir", str(work / "deployments")],
                "status (chain)": ["status", "--wallet", "me", *net, "--deployments-dir", str(work / "deployments")],
                "balance (chain)": ["balance", "--wallet", "me", *net, "--deployments-dir", str(work / "deployments")],
            }
            for name, cmd in commands.items():
                runs = [run_cli(home, cmd)[:2] for _ in range(repeat)]
                results[name] = {"wall_s": stats([w for w, _ in runs]), "cpu_s": stats([c for _, c in runs])}
                print(f"{name:<20} wall {results[name]['wall_s']['median']:.2f} s  cpu {results[name]['cpu_s']['median']:.2f} s",
                      file=sys.stderr)
            stake_runs = []
            for i, f in enumerate(files):
                stake_runs.append(run_cli(home, ["stake", "--round", str(ROUND_ID), "--model", f"bench_{i}",
                                                 "--amount", "1", "--predictions", str(f), "--wallet", "me", *api, *net])[:2])
            results["stake --api"] = {"wall_s": stats([w for w, _ in stake_runs]), "cpu_s": stats([c for _, c in stake_runs])}
            print(f"{'stake --api':<20} wall {results['stake --api']['wall_s']['median']:.2f} s  "
                  f"cpu {results['stake --api']['cpu_s']['median']:.2f} s", file=sys.stderr)

    return results


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

    reads = [k for k in results if k.endswith("--api") and not k.startswith("stake")]
    verdict = {
        "reads_under_2s": all(results[k]["wall_s"]["median"] < READ_LIMIT for k in reads),
        "stake_own_under_3s": results["stake --api"]["wall_s"]["median"] < STAKE_OWN_LIMIT,
    }
    doc = {"benchmark": "cli", "repeat": args.repeat, "machine": before, "python": platform.python_version(),
           "commands": results, "targets": {"read_wall_s": READ_LIMIT, "stake_wall_s": STAKE_OWN_LIMIT}, **verdict}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\n{'command':<20} {'wall median':>12} {'CPU median':>15}")
    for name, r in results.items():
        print(f"{name:<20} {r['wall_s']['median']:>10.2f} s {r['cpu_s']['median']:>13.2f} s")
    print(f"\nreads through the service under {READ_LIMIT:g} s: {verdict['reads_under_2s']}; stake's own time under {STAKE_OWN_LIMIT:g} s: "
          f"{verdict['stake_own_under_3s']}; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
