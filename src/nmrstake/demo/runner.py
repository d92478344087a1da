"""`nmrstake demo`: set the stage, play the rounds, check the books, show where things are.

By default (``network=None``) the demo starts a moving local Anvil on a free port and runs the
tournament's side as processes (:class:`~nmrstake.demo.crew.ProcessCrew`); with an ape network
choice of a local chain it uses that chain: the embedded EVM (`ethereum:local:test`) with the
oracle and the operator in this process, or a node someone started (`ethereum:local:foundry`,
e.g. `nmrstake node`) with the processes. Whatever happens (an error, Ctrl-C, SIGTERM), every
process the demo started is stopped before it returns.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from nmrstake.demo.progress import Progress
from nmrstake.localchain import is_interrupt

WEI = 10**18
HOUR = 3600
FOUNDRY = "ethereum:local:foundry"
TREASURY_NMR = 100_000


@dataclass(frozen=True)
class DemoOptions:
    out: Path
    participants: int
    n_rounds: int
    rows: int
    seed: int
    #: an ape network choice of a local chain; None: a moving Anvil the demo starts
    network: str | None = None
    #: keep the chain and the service (the dashboard) up after the summary, until Ctrl-C
    keep: bool = False
    #: tables go nowhere (for --json); progress still goes to stderr
    quiet: bool = False
    #: participants taking part at the same time (threads of the demo, each with its own wallet)
    workers: int = 4
    #: an oracle committee of this many oracle daemons (None: one oracle, as without --oracles)
    oracles: int | None = None
    #: the committee's oracle (1-based) that lies
    liar: int | None = None

    @property
    def embedded(self) -> bool:
        return self.network is not None and self.network.split(":")[-1] in ("test", "")


@contextmanager
def _signals_unwind() -> Iterator[None]:
    """SIGINT and SIGTERM unwind (a KeyboardInterrupt), so that the processes are stopped on the
    way out."""
    def stop(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: nothing to install
        yield
        return
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_demo(options: DemoOptions, progress: Progress) -> dict[str, Any]:
    """Run the tournament; returns the summary (also written to out/summary.json)."""
    out = options.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    echo = (lambda *a, **k: None) if options.quiet else click.echo
    with ExitStack() as stack:
        stack.enter_context(_signals_unwind())
        network = options.network
        node = None
        if network is None:
            from nmrstake.localchain import foundry_host, moving_anvil

            with progress.phase("chain", "starting a local Anvil (a block every second)"):
                node = stack.enter_context(moving_anvil(log=out / "logs" / "anvil.log"))
                stack.enter_context(foundry_host(node.url))
            progress.line(f"Anvil at {node.url} (pid {node.pid})")
            network = FOUNDRY
        summary, crew = _run(options, network, node, stack, progress, echo)
        if options.keep and "dashboard" in summary:
            _keep_serving(summary["dashboard"]["url"], crew, node)
    return summary


def _run(options: DemoOptions, network: str, node: Any, stack: ExitStack, progress: Progress,
         echo: Any) -> tuple[dict[str, Any], Any]:
    from nmrstake.demo.books import check_books, report
    from nmrstake.demo.crew import InProcessCrew, ProcessCrew
    from nmrstake.demo.participants import create_participants, set_up_strategies
    from nmrstake.demo.picture import SKIPPED, plot
    from nmrstake.demo.play import Stage, play
    from nmrstake.results.layout import DataLayout

    out = options.out
    data_dir, deployments = out / "data", out / "deployments"
    layout = DataLayout(data_dir)
    with progress.phase("connect", "loading ape and the compiled contracts"):
        from ape import accounts

        from nmrstake.chain.connect import connect, load_project

        project = load_project()
        provider = stack.enter_context(connect(network))
    echo(f"nmrstake demo on {network} (chain {provider.chain_id}); files in {out}/")
    owner, oracle_acct, treasury, operator_acct = (accounts.test_accounts[i] for i in range(4))
    client, supply_before = None, 0
    plan = members = None
    committee_args: dict[str, Any] = {}
    if options.oracles is not None:
        from nmrstake.demo.committee import DISPUTE_BOND, DISPUTE_REWARD, CommitteePlan, addresses

        plan = CommitteePlan.of(options.oracles, options.liar)
        members = addresses(plan)
        # The committee alone posts (nobody holds ORACLE_ROLE); the owner arbitrates disputes.
        committee_args = dict(oracle=None, committee=list(members.values()), threshold=plan.threshold,
                              dispute_bond=DISPUTE_BOND, dispute_reward=DISPUTE_REWARD, arbiter=owner.address)
    with progress.phase("deploy", "deploying the token, the tournament and the strategy contracts"):
        from nmrstake.chain.transactions import send
        from nmrstake.deploy import TournamentSettings, deploy
        from nmrstake.tournament import TournamentClient

        dep, _ = deploy(project, owner, directory=deployments, force=True,
                        **(committee_args or {"oracle": oracle_acct.address}), operator=operator_acct.address,
                        settings=TournamentSettings(challenge_period=2 * HOUR, grace_period=7 * 24 * HOUR,
                                                    admin_delay=HOUR, max_pause=24 * HOUR),
                        log=lambda m: echo(f"  {m}"))
        client = TournamentClient(project, dep)
    crew: Any
    if options.embedded:
        crew = InProcessCrew(client, layout, oracle_acct, operator_acct)
    else:
        crew = stack.enter_context(ProcessCrew(network, deployments, data_dir, out / "logs", progress))
        crew.start_service()
        if plan is None:
            crew.start_oracle()
    with progress.phase("participants", f"{options.participants} participants: wallets in {out / 'wallets'}"):
        people = create_participants(out / "wallets", options.participants, owner, client.token, progress)
        send(client.token.mint, treasury.address, TREASURY_NMR * WEI, sender=owner, what="minting the treasury's NMR")
        supply_before = int(client.token.totalSupply())
    if isinstance(crew, ProcessCrew):
        with progress.phase("services", f"waiting for the service to answer at {crew.url}"):
            crew.wait_for_service(client)
            crew.start_operator()
            if plan is not None:  # they exchange attestations through the service: started once it answers
                from nmrstake.demo.committee import start_oracles

                start_oracles(crew, plan)
    rng = random.Random(options.seed)
    with progress.phase("strategies", "allocation strategies for every fourth participant"):
        set_up_strategies(client, people, rng, progress)
    stage = Stage(client=client, layout=layout, owner=owner, treasury=treasury, people=people, crew=crew,
                  inputs=out / "inputs", progress=progress, committee=plan, members=members)
    # The embedded EVM (py-evm behind eth-tester) is not thread-safe: one participant at a time there.
    workers = 1 if options.embedded else options.workers
    round_ids = play(stage, n_rounds=options.n_rounds, rows=options.rows, seed=options.seed, workers=workers,
                     say=progress.line)
    with progress.phase("report", "checking the books"):
        dashboard: dict[str, Any] = {}
        visit = None
        if isinstance(crew, ProcessCrew):
            # nothing left for them; the service stays for the dashboard
            crew.stop(*(plan.names if plan is not None else ["oracle"]), "operator")
            # The dashboard's first visit of a round verifies it (in the service's process): meanwhile, the books.
            visit = threading.Thread(target=lambda: dashboard.update(_check_dashboard(crew.url, round_ids)),
                                     name="dashboard-visit", daemon=True)
            visit.start()
        summary = report(client, layout, round_ids, people, operator=str(operator_acct.address),
                         supply_before=supply_before, echo=echo)
        if plan is not None and members is not None:
            from nmrstake.demo.committee import committee_report

            summary["committee"] = committee_report(client, crew.delivery, plan, members, layout, round_ids, echo)
        strategies = {p.strategy for p in people if p.strategy}
        picture = plot(layout, round_ids, out / "payouts.png", strategies)
        if visit is not None:
            visit.join(60)
            summary["dashboard"] = dashboard or {"url": f"{crew.url}/", "pages": {}}
    processes = {"anvil": node.pid} if node is not None else {}
    if isinstance(crew, ProcessCrew):
        processes.update(crew.pids())
    summary.update(network=network, picture=str(picture) if picture else None, processes=processes,
                   wall=progress.to_json())
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    progress.line(f"summary after {progress.elapsed():.1f} s")
    echo("")
    if picture is None:
        echo(SKIPPED)
    _where(summary, out, layout, picture, options, echo)
    check_books(summary, out / "summary.json")
    if "committee" in summary:
        from nmrstake.demo.committee import check_committee

        check_committee(summary["committee"])
    return summary, crew


def _check_dashboard(url: str, round_ids: list[int]) -> dict[str, Any]:
    """Open the dashboard's index and first round page, as a browser would (status codes)."""
    import requests

    pages = {"/": 0, f"/rounds/{round_ids[0]}": 0}
    for page in pages:
        try:
            pages[page] = requests.get(f"{url}{page}", timeout=30).status_code
        except requests.RequestException:
            pages[page] = 0
    return {"url": f"{url}/", "pages": pages}


def _where(summary: dict[str, Any], out: Path, layout: Any, picture: Path | None, options: DemoOptions,
           echo: Any) -> None:
    echo(f"published results: {layout.results_dir}/round-<id>/ (results.csv, manifest.json)")
    if picture is not None:
        echo(f"picture: {picture}")
    echo(f"summary: {out / 'summary.json'}; logs: {out / 'logs'}/")
    dashboard = summary.get("dashboard")
    if dashboard is None:
        echo("dashboard: it needs the service and the chain; run `nmrstake demo` (the default, on a local "
             "Anvil) to browse one")
    elif options.keep:
        echo(f"dashboard: {dashboard['url']} (rounds at {dashboard['url']}rounds/{summary['rounds'][0]['round']}) "
             "— Ctrl-C to stop the chain and the service")
    else:
        echo(f"dashboard: was at {dashboard['url']} while the demo ran (stopped with it; run `nmrstake demo` "
             "in a terminal, or with --keep, to keep it up)")


def _keep_serving(url: str, crew: Any, node: Any) -> None:
    """Wait for Ctrl-C (or SIGTERM) while what the dashboard needs runs: the service (the only
    process left in the crew: the daemons were stopped before the report) and the chain the
    demo started (`node`, None on a node someone else runs); then everything stops."""
    from nmrstake.errors import ChainError
    from nmrstake.localchain import port_in_use

    try:
        while True:
            crew.check_alive()
            if node is not None and not port_in_use(node.port):
                raise ChainError(f"the chain at {node.url} (pid {node.pid}) stopped answering")
            time.sleep(0.5)
    except ChainError as exc:
        click.echo(f"the dashboard stopped: {exc}", err=True)
    except BaseException as exc:
        if not is_interrupt(exc):
            raise
        click.echo(f"\nstopping the service at {url} and the chain", err=True)
