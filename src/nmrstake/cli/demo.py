"""`nmrstake demo` and `nmrstake node`: local tournaments and chains."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nmrstake.cli.options import json_opt
from nmrstake.cli.output import emit_json
from nmrstake.errors import ConfigError


@click.command()
@click.option("--network", default=None,
              help="A local ape network instead of the default, a local Anvil the demo starts and stops: "
                   "ethereum:local:test (everything in this process, on the embedded EVM) or "
                   "ethereum:local:foundry (the node at $APE_FOUNDRY_HOST or 127.0.0.1:8545, e.g. `nmrstake node`)")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("out/demo"), show_default=True)
@click.option("--participants", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--rounds", "n_rounds", default=3, show_default=True, type=click.IntRange(1, 20))
@click.option("--rows", default=2000, show_default=True, type=click.IntRange(100, None))
@click.option("--seed", default=1, show_default=True)
@click.option("--workers", default=4, show_default=True, type=click.IntRange(1, 32),
              help="Participants taking part at the same time (each from its own wallet)")
@click.option("--keep/--no-keep", default=None,
              help="After the summary, keep the chain and the service (the dashboard) up until Ctrl-C "
                   "[default: keep when stdout is a terminal]")
@click.option("--oracles", type=click.IntRange(3, 6), default=None,
              help="An oracle committee of this many oracle daemons (processes), a majority of them to post "
                   "(2 of 3), and a dispute desk, instead of the one oracle (docs/committee.md)")
@click.option("--liar", type=int, default=None, metavar="K",
              help="With --oracles: oracle K (1 to N) lies (attests a total payout 1 wei too high); the summary "
                   "shows the lie refused")
@json_opt
def demo(network: str | None, out: Path, participants: int, n_rounds: int, rows: int, seed: int, workers: int,
         keep: bool | None, oracles: int | None, liar: int | None, as_json: bool) -> None:
    """Run a whole tournament on a local chain, every part a process of its own, and print what
    happened: the books, the published files, the dashboard's address."""
    click.echo("nmrstake demo: starting (progress on stderr)", err=True)  # before ape is imported
    if liar is not None and oracles is None:
        raise ConfigError("--liar: only with --oracles (the one oracle of the demo has nobody to outvote it)")
    if oracles is not None and liar is not None and not 1 <= liar <= oracles:
        raise ConfigError(f"--liar: {liar} is not one of the oracles 1 to {oracles}")
    from nmrstake.demo.progress import Progress

    progress = Progress()
    if network is not None:
        from nmrstake.chain.connect import is_local_network

        if not is_local_network(network):
            raise ConfigError(f"--network {network}: the demo runs only on local networks")
        if oracles is not None and network.split(":")[-1] in ("test", ""):
            raise ConfigError(f"--oracles: the committee's oracles run as processes, which the embedded EVM of "
                              f"--network {network} cannot serve; run on a local Anvil (the default)")
    from nmrstake.demo.runner import DemoOptions, run_demo
    from nmrstake.localchain import is_interrupt

    if keep is None:
        keep = sys.stdout.isatty() and not as_json
    options = DemoOptions(out=out, participants=participants, n_rounds=n_rounds, rows=rows, seed=seed,
                          network=network, keep=keep, quiet=as_json, workers=workers, oracles=oracles, liar=liar)
    try:
        summary = run_demo(options, progress)
    except BaseException as exc:
        if not is_interrupt(exc):
            raise
        click.echo("\ninterrupted: every process the demo started is stopped", err=True)
        sys.exit(130)
    if as_json:
        emit_json(summary)


@click.command()
@click.option("--port", default=8545, show_default=True, type=click.IntRange(1, 65535),
              help="Port to listen on (ape-foundry's default: --network ethereum:local:foundry finds it)")
@click.option("--block-time", default=1.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="Seconds without a block after which an empty one is mined (transactions are mined at once)")
def node(port: int, block_time: float) -> None:
    """A local chain for manual runs, in the foreground until Ctrl-C: Anvil with ape's test
    accounts, mining each transaction at once and an empty block whenever none came for
    --block-time seconds, so chain time moves like a real network's. Other commands reach it
    with --network ethereum:local:foundry."""
    import time

    from nmrstake.localchain import is_interrupt, moving_anvil, port_in_use

    with moving_anvil(port, block_time=block_time, inherit_output=True) as chain_node:
        click.echo(f"local chain at {chain_node.url} (pid {chain_node.pid}), a block at least every "
                   f"{block_time:g} s; Ctrl-C to stop", err=True)
        try:
            while port_in_use(chain_node.port):
                time.sleep(1)
        except BaseException as exc:
            if not is_interrupt(exc):
                raise
            click.echo("stopping the local chain", err=True)
            return
    raise ConfigError(f"the local chain at {chain_node.url} stopped by itself")
