"""Dashboard benchmark: the time to a usable leaderboard page of a round with 10,000 stakes, in
Debian's headless Chromium (Playwright), from a real `nmrstake serve` on a real Anvil.

    python bench/dashboard.py [--stakes 10000] [--stakers 100] [--runs 9] [--seed 1]
                              [--out bench/results/dashboard.json]

Run from the repository root with the virtualenv active (`make bench` runs it). Everything listens on
127.0.0.1 only; Anvil, the service and the browser are stopped on the way out. Phases (each timed):

1. chain:     Anvil (npm, automine, no step tracing) on a free port; ape joins it.
2. setup:     deploy, open one round (a day of chain time), fund it.
3. stake:     `--stakers` addresses (impersonated on Anvil, ether by `anvil_setBalance`, NMR minted),
              each approves the Tournament once and stakes `--stakes / --stakers` models with
              `stake(round, model, amount, commitment)`: every stake is a real transaction, sent in
              JSON-RPC batches with automine off, then mined into full blocks; every receipt is
              checked, and the contract must then count `--stakes` stakes.
4. publish:   the round's results built cheaply, without scoring predictions files: synthetic CORR
              and MMC per stake (3 % of stakes invalid), the package's own payout arithmetic
              (`compute_payouts`) and Merkle tree, published with `publish_round` (manifest,
              results.csv, tree.json; the targets are the only input file);
5. post:      chain time past resolve; the oracle's account posts the root, totals, leaf count and
              manifest hash (`postResult`): the round is as the oracle would have left it.
6. service:   `python -m nmrstake.cli serve`, until /healthz.
7. browser:   headless Chromium. First the cold visit: the first page view after the service started
              (the service reads the published rounds when it starts, in the background: the rows, the
              Merkle root recomputed from them that the page's verification compares with the chain's,
              the round's transactions); then `--runs` warm visits; then the unread visit: results.csv
              touched just before it (a new identity), so the service reads the round again during
              that visit (its background look for new or changed rounds comes every 2 s): the worst
              case of a round published while the service runs. Each visit in a fresh browser
              context (empty HTTP cache). Per visit:
              - board_ready_ms: from navigation start to the first page of rows rendered with its
                sorting, search and paging controls live (`performance.mark` set by dashboard.js when
                the first page is in the table; Navigation Timing origin);
              - html_ms (responseEnd of the page), dom_content_loaded_ms, load_ms;
              - chart_ready_ms: the payout-against-score chart of all scored stakes drawn;
              - sort_ms, search_ms, next_page_ms: from the click or the typed text to the new page of
                rows rendered (each a request to the service: sort by score descending, search a
                model name, next page).
              Figures: median and p90 (nearest rank) over the warm runs, and the cold and unread
              visits alone.
8. api:       the leaderboard JSON (`/v1/rounds/R/leaderboard?limit=50`), plain, sorted and searched,
              timed with requests (`--runs` each, warm).

Prints a summary, writes one JSON object to --out. Exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from eth_abi import encode
from eth_utils import keccak

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import Rpc, advance_to, phase_clock  # noqa: E402 - the load benchmark's JSON-RPC helpers
from service import anvil_node, service_process  # noqa: E402 - and the service benchmark's processes

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "dashboard.json"
WEI = 10**18
HOUR, DAY = 3600, 86_400
ROUND_ID = 1
SEL_STAKE = keccak(b"stake(uint256,bytes32,uint256,bytes32)")[:4]
SEL_APPROVE = keccak(b"approve(address,uint256)")[:4]
SEL_MINT = keccak(b"mint(address,uint256)")[:4]
TX_GAS = hex(300_000)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return round(ordered[int(rank) - 1], 1)


def summary(values: list[float]) -> dict[str, Any]:
    return {"median": round(statistics.median(values), 1), "p90": percentile(values, 90),
            "min": round(min(values), 1), "max": round(max(values), 1), "runs": len(values)}


def send_all(rpc: Rpc, txs: list[dict[str, Any]], what: str) -> int:
    """Send unsigned transactions from unlocked or impersonated accounts (Anvil signs nothing), in
    batches; wait for every receipt; raise if any was refused or reverted. Returns gas used."""
    senders = sorted({tx["from"] for tx in txs})
    nonces = dict(zip(senders, (int(n, 16) for n in rpc.batch(
        [("eth_getTransactionCount", [a, "pending"]) for a in senders]))))
    for tx in txs:  # explicit nonces: a batch's transactions are not numbered one after another otherwise
        tx["nonce"] = hex(nonces[tx["from"]])
        nonces[tx["from"]] += 1
    # Automine off while they are sent, then blocks as full as the gas limit allows (a block per
    # transaction would make 10,000 blocks, and Anvil slows down badly with a deep pool).
    rpc.call("evm_setAutomine", [False])
    try:
        hashes: list[str] = []
        for start in range(0, len(txs), 500):
            hashes += rpc.batch([("eth_sendTransaction", [tx]) for tx in txs[start:start + 500]])
        for _ in range(len(txs)):
            status = rpc.call("txpool_status", [])
            if int(status["pending"], 16) + int(status["queued"], 16) == 0:
                break
            rpc.call("evm_mine", [])
    finally:
        rpc.call("evm_setAutomine", [True])
    ok, failed, gas = rpc.wait_receipts(hashes, timeout=900)
    if failed or ok != len(txs):
        raise RuntimeError(f"{what}: {failed} of {len(txs)} transactions reverted")
    return gas


def stakers_of(seed: int, count: int) -> list[str]:
    from eth_utils import to_checksum_address

    return [to_checksum_address(keccak(f"nmrstake-dashboard-bench/{seed}/{i}".encode())[12:]) for i in range(count)]


def build_round(args: argparse.Namespace, phase: Any, work: Path) -> dict[str, Any]:
    """Anvil, the deployment, a round with `args.stakes` real stakes, published and posted."""
    import numpy as np
    from ape import accounts

    from nmrstake.chain.connect import load_project
    from nmrstake.deploy import TournamentSettings, deploy
    from nmrstake.merkle import LEAF_ENCODING, StandardMerkleTree, leaf_values
    from nmrstake.models import model_id
    from nmrstake.payouts import StakeEntry, compute_payouts
    from nmrstake.results.evaluate import RoundResult
    from nmrstake.results.layout import DataLayout
    from nmrstake.results.publish import publish_round
    from nmrstake.results.spec import UNDELIVERED, RoundInputs, RoundStake, manifest_hash
    from nmrstake.rounds import RoundSpec, fund_round, open_round
    from nmrstake.tournament import RoundState, TournamentClient

    project = load_project()
    owner, oracle_acct, funder = accounts.test_accounts[0], accounts.test_accounts[1], accounts.test_accounts[2]
    rpc = Rpc(os.environ["APE_FOUNDRY_HOST"])
    settings = TournamentSettings(challenge_period=HOUR, grace_period=7 * DAY, admin_delay=HOUR, max_pause=HOUR)
    dep, _ = deploy(project, owner, directory=work / "deployments", force=True, oracle=oracle_acct.address,
                    settings=settings, log=lambda m: None)
    client = TournamentClient(project, dep)
    open_round(client, owner, RoundSpec(round_id=ROUND_ID, open_in=0, close_after=DAY, resolve_after=HOUR,
                                        min_stake=WEI // 10, stake_cap=1_000 * WEI))
    client.token.mint(funder, 10_000 * WEI, sender=owner)
    fund_round(client, funder, ROUND_ID, 2_000 * WEI)
    phase("setup")

    token, tournament = str(client.token.address), str(client.tournament.address)
    per = args.stakes // args.stakers
    stakers = stakers_of(args.seed, args.stakers)
    rng = np.random.default_rng(args.seed)
    amounts = (rng.integers(1_000, 100_000, size=(args.stakers, per)).astype(object) * 10**15)  # 1 to 100 NMR
    rpc.batch([("anvil_setBalance", [a, hex(10 * WEI)]) for a in stakers])
    rpc.batch([("anvil_impersonateAccount", [a]) for a in stakers])
    send_all(rpc, [{"from": owner.address, "to": token, "gas": TX_GAS,
                    "data": "0x" + (SEL_MINT + encode(["address", "uint256"], [a, int(sum(amounts[i]))])).hex()}
                   for i, a in enumerate(stakers)], "mint")
    send_all(rpc, [{"from": a, "to": token, "gas": TX_GAS,
                    "data": "0x" + (SEL_APPROVE + encode(["address", "uint256"], [tournament, 2**256 - 1])).hex()}
                   for a in stakers], "approve")
    txs = []
    for k in range(per):
        for i, a in enumerate(stakers):
            model = f"model_{i * per + k:05d}"
            data = SEL_STAKE + encode(["uint256", "bytes32", "uint256", "bytes32"],
                                      [ROUND_ID, model_id(model), int(amounts[i][k]), keccak(model.encode())])
            txs.append({"from": a, "to": tournament, "gas": TX_GAS, "data": "0x" + data.hex()})
    t0 = time.perf_counter()
    gas = send_all(rpc, txs, "stake")
    stake_seconds = time.perf_counter() - t0
    info = client.round(ROUND_ID)
    if info.stake_count != args.stakes:
        raise RuntimeError(f"the contract counts {info.stake_count} stakes, not {args.stakes}")
    phase("stake")

    layout = DataLayout(work / "data")
    entries = []
    for i, a in enumerate(stakers):
        for k in range(per):
            model = f"model_{i * per + k:05d}"
            if rng.random() < 0.03:
                entries.append(StakeEntry(model, a, int(amounts[i][k]), False, UNDELIVERED))
            else:
                entries.append(StakeEntry(model, a, int(amounts[i][k]), True, "", float(rng.normal(0, 0.03)),
                                          float(rng.normal(0, 0.02))))
    entries.sort(key=lambda e: (e.model, e.staker))  # the tree's order, as evaluate_round's
    params = info.payout_params()
    rows, totals = compute_payouts(entries, params)
    tree = StandardMerkleTree.of([leaf_values(ROUND_ID, model_id(r.model), r.staker, r.stake, r.payout, r.burn)
                                  for r in rows], LEAF_ENCODING)
    result = RoundResult(ROUND_ID, params, [RoundStake(e.model, e.staker, e.stake) for e in entries], rows, totals,
                         tree, [tree.get_proof(i) for i in range(len(rows))], None)
    targets = work / "targets.csv"
    targets.write_text("id,target\n" + "".join(f"id_{i},{(i % 5) / 4}\n" for i in range(100)))
    folder = publish_round(layout.results_dir, result, chain_id=int(client.provider.chain_id), contract=tournament,
                           inputs=RoundInputs(targets=targets))
    phase("publish")

    advance_to(info.resolve_time)
    client.tournament.postResult(ROUND_ID, tree.root, totals.total_payout, totals.total_burn, len(rows),
                                 manifest_hash(folder), sender=oracle_acct)
    posted = client.round(ROUND_ID)
    if posted.state is not RoundState.POSTED:
        raise RuntimeError(f"round {ROUND_ID} is {posted.state.label} after postResult")
    phase("post")
    return {"deployments": work / "deployments", "data": layout.root, "stakes": len(rows),
            "valid": totals.valid_count, "stake_tx_per_s": round(len(txs) / stake_seconds, 1),
            "stake_gas_mean": gas // len(txs), "results_csv": folder / "results.csv",
            "results_csv_bytes": (folder / "results.csv").stat().st_size}


MEASURE = """() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const mark = name => { const m = performance.getEntriesByName(name)[0]; return m ? m.startTime : null; };
    return {board_ready_ms: mark('nmrstake:board-ready'), chart_ready_ms: mark('nmrstake:round-chart-ready'),
            html_ms: nav.responseEnd, dom_content_loaded_ms: nav.domContentLoadedEventEnd, load_ms: nav.loadEventEnd,
            static_ms: Math.max(...performance.getEntriesByType('resource')
                .filter(r => r.name.includes('/static/')).map(r => r.responseEnd)),
            first_page_json_ms: Math.max(...performance.getEntriesByType('resource')
                .filter(r => r.name.includes('/leaderboard?')).map(r => r.responseEnd - r.startTime)),
            resources: performance.getEntriesByType('resource')
                .map(r => [r.name.split('/').pop(), Math.round(r.startTime), Math.round(r.responseEnd)]),
            rows: document.querySelectorAll('#board tbody tr').length,
            status: document.querySelector('#board-status').textContent};
}"""


INTERACT = """async ([how, selector, text]) => {
    const table = document.querySelector('#board');
    const done = new Promise(resolve => {
        const watch = new MutationObserver(() => {
            if (table.dataset.state === 'ready') { watch.disconnect(); resolve(performance.now()); }
        });
        watch.observe(table, {attributes: true, attributeFilter: ['data-state']});
    });
    const target = document.querySelector(selector);
    const t0 = performance.now();
    if (how === 'click') target.click();
    else { target.value = text; target.dispatchEvent(new Event('input', {bubbles: true})); }
    return (await done) - t0;
}"""


def visit(browser: Any, url: str, stakes: int) -> dict[str, Any]:
    """One visit in a fresh context: navigation to a usable leaderboard, then three interactions."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{url}/rounds/{ROUND_ID}", wait_until="commit")
        page.wait_for_selector("#board[data-state=ready]", timeout=120_000)
        page.wait_for_selector("#round-chart[data-state=ready]", timeout=120_000)
        page.wait_for_load_state("load")
        out = page.evaluate(MEASURE)
        if out["rows"] != 50 or out["status"] != f"1–50 of {stakes}":
            raise RuntimeError(f"the leaderboard shows {out['rows']} rows, {out['status']!r}")

        # Interactions, timed inside the page: from the click (or the typed text) to the new rows
        # in the table (a MutationObserver on the table's state), so no polling adds to them.
        out["sort_ms"] = page.evaluate(INTERACT, ["click", "#board th[data-sort=score]", ""])
        out["next_page_ms"] = page.evaluate(INTERACT, ["click", "#board-next", ""])
        needle = f"model_{stakes // 20:04d}"  # the prefix of exactly 10 model names
        out["search_ms"] = page.evaluate(INTERACT, ["type", "#board-search", needle])
        if page.get_attribute("#board", "data-matched") != "10" or page.get_attribute("#board", "data-offset") != "0":
            raise RuntimeError("the search did not find the 10 models it should")
        if errors:
            raise RuntimeError(f"browser console errors: {errors}")
        return out
    finally:
        context.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ape.logging import logger
    from playwright.sync_api import sync_playwright

    from nmrstake.chain.connect import load_project
    from nmrstake.localchain import anvil_provider

    logger.set_level("ERROR")
    load_project().load_contracts()
    chromium = shutil.which("chromium")
    if not chromium:
        raise RuntimeError("Debian's chromium is not on PATH: run `make install`")
    seconds: dict[str, float] = {}
    phase = phase_clock(seconds, "dashboard")
    work = Path(tempfile.mkdtemp(prefix="nmrstake-dashboard-"))
    try:
        with anvil_node() as (port, _anvil), anvil_provider(port):
            phase("chain")
            built = build_round(args, phase, work)
            with service_process(built["deployments"], built["data"], work / "service.log") as (url, _proc):
                phase("service")
                with sync_playwright() as pw:
                    browser = pw.chromium.launch(executable_path=chromium, headless=True)
                    try:
                        cold = visit(browser, url, args.stakes)
                        warm = [visit(browser, url, args.stakes) for _ in range(args.runs)]
                        os.utime(built["results_csv"])  # the service's reading of the round is stale now
                        unread = visit(browser, url, args.stakes)
                        version = browser.version
                    finally:
                        browser.close()
                phase("browser")
                api: dict[str, list[float]] = {"plain": [], "sorted": [], "searched": []}
                queries = {"plain": "limit=50", "sorted": "limit=50&sort=payout&order=desc",
                           "searched": "limit=50&q=model_07&sort=stake"}
                with requests.Session() as s:
                    for _ in range(args.runs):
                        for name, query in queries.items():
                            t0 = time.perf_counter()
                            r = s.get(f"{url}/v1/rounds/{ROUND_ID}/leaderboard?{query}", timeout=60)
                            api[name].append((time.perf_counter() - t0) * 1000)
                            r.raise_for_status()
                phase("api")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    metrics = ("board_ready_ms", "chart_ready_ms", "html_ms", "static_ms", "dom_content_loaded_ms", "load_ms",
               "first_page_json_ms", "sort_ms", "next_page_ms", "search_ms")
    return {
        "stakes": built["stakes"], "valid_stakes": built["valid"], "stakers": args.stakers, "runs": args.runs,
        "seed": args.seed, "page_rows": 50,
        "time_to_usable_leaderboard_ms": summary([v["board_ready_ms"] for v in warm]),
        "cold_visit": {k: round(cold[k], 1) for k in metrics},
        "unread_visit": {k: round(unread[k], 1) for k in metrics},
        "warm_visits": {k: summary([v[k] for v in warm]) for k in metrics},
        "api_leaderboard_ms": {k: summary(v) for k, v in api.items()},
        "last_visit_resources": [{"name": n, "start_ms": a, "end_ms": b} for n, a, b in warm[-1]["resources"]],
        "setup": {"stake_tx_per_s": built["stake_tx_per_s"], "stake_gas_mean": built["stake_gas_mean"],
                  "results_csv_bytes": built["results_csv_bytes"]},
        "seconds": seconds,
        "environment": {"browser": f"Debian chromium {version} (headless, Playwright)", "python": platform.python_version(),
                        "cpus": os.cpu_count(), "machine": platform.machine(),
                        "what": "time from navigation start to the first 50 rows rendered with sorting, search "
                                "and paging live (performance.mark in dashboard.js); a fresh browser context per "
                                "visit; the service on 127.0.0.1"},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stakes", type=int, default=10_000)
    parser.add_argument("--stakers", type=int, default=100)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.stakes % args.stakers:
        parser.error("--stakes must be a multiple of --stakers")
    try:
        result = run(args)
    except Exception as exc:  # noqa: BLE001 - one line and exit 1, as the other benchmarks
        print(f"dashboard benchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(result, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    t, c, u = result["time_to_usable_leaderboard_ms"], result["cold_visit"], result["unread_visit"]
    print(f"\n{result['stakes']} stakes: a usable leaderboard page in {t['median']} ms median, {t['p90']} ms p90 "
          f"({t['runs']} warm visits); cold (the first after the service started) {c['board_ready_ms']} ms; "
          f"unread (the round read on that request) {u['board_ready_ms']} ms; "
          f"sort {result['warm_visits']['sort_ms']['median']} ms, search {result['warm_visits']['search_ms']['median']} ms",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
