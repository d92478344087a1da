"""`nmrstake score` and `nmrstake oracle run/status`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nmrstake.cli.options import (
    account_opt,
    api_opt,
    data_opt,
    database_opt,
    deployments_opt,
    json_opt,
    network_opt,
    store_opt,
    wallet_opt,
)
from nmrstake.cli.output import emit_json, table
from nmrstake.cli.session import chain_session, data_layout


@click.command()
@click.argument("predictions", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--targets", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--meta-model", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--stakes", type=click.Path(dir_okay=False, path_type=Path), default=None, help="CSV model,stake (weights of the meta model)")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write model,corr,mmc to this CSV")
@json_opt
def score(predictions: tuple[Path, ...], targets: Path, meta_model: Path | None, stakes: Path | None,
          output: Path | None, as_json: bool) -> None:
    """Score models: CORR and MMC with numerai-tools. PREDICTIONS: one file per model (name = file
    stem), or one wide file with a column per model."""
    from nmrstake.cli.score_files import score_files

    frame = score_files(list(predictions), targets, meta_model, stakes)
    if output:
        from nmrstake.fsutil import write_atomic

        write_atomic(output, frame.to_csv(index=False, float_format="%.17g"))
    if as_json:
        emit_json([{"model": m, "corr": float(c), "mmc": float(x)} for m, c, x in frame[["model", "corr", "mmc"]].itertuples(index=False)])
    elif not output:
        click.echo(frame.to_csv(index=False, float_format="%.17g").rstrip())
    else:
        click.echo(f"scored {len(frame)} models into {output}")


@click.group()
def oracle() -> None:
    """The oracle daemon: score rounds, publish results, post them, finalise."""


@oracle.command("run")
@network_opt
@account_opt
@wallet_opt
@deployments_opt
@data_opt
@database_opt
@store_opt
@api_opt
@click.option("--once", is_flag=True, help="One pass over the rounds, then exit")
@click.option("--confirmations", default=0, show_default=True, help="Blocks to wait after each transaction")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between passes")
@click.option("--log-json", is_flag=True, help="One JSON object per log line")
def oracle_run(network: str, account: str | None, wallet: str | None, deployments_dir: Path | None,
               data_dir: Path | None, database_url: str | None, store_url: str | None, api: str | None, once: bool,
               confirmations: int, interval: float,
               log_json: bool) -> None:
    """Resolve rounds as they become ready; exactly once, restart-safe. With an oracle committee,
    attest each result and exchange the attestations through the tournament service (--api); a
    member without the submission store recomputes the round the service published."""
    from nmrstake.chain.connect import connect, load_project
    from nmrstake.chain.signers import resolve_account
    from nmrstake.daemon import EventLog, run_daemon
    from nmrstake.oracle import Oracle, clean_stale_temporaries
    from nmrstake.tournament import TournamentClient

    log = EventLog(json_lines=log_json)
    service = None
    if api:
        from nmrstake.client.http import ServiceClient

        service = ServiceClient(api)
    project = load_project()
    with connect(network) as provider:
        oracle_account = resolve_account(provider, wallet, account)
        log("starting", network=network, chain=provider.chain_id, account=oracle_account.address)

        def make() -> Oracle:
            client = TournamentClient.connect(project, deployments_dir)
            layout = data_layout(client, data_dir, database_url, store_url)
            clean_stale_temporaries(layout.results_dir)
            return Oracle(client, oracle_account, layout, confirmations=confirmations, log=log, api=service)

        code = run_daemon(make, once=once, interval=interval, log=log)
    sys.exit(code)


@oracle.command("status")
@network_opt
@deployments_opt
@data_opt
@database_opt
@store_opt
@json_opt
def oracle_status(network: str, deployments_dir: Path | None, data_dir: Path | None, database_url: str | None,
                  store_url: str | None,
                  as_json: bool) -> None:
    """What the oracle would do next for each round."""
    from nmrstake.oracle import Oracle

    with chain_session(network, deployments_dir) as client:
        o = Oracle(client, None, data_layout(client, data_dir, database_url, store_url))
        plans = o.plans()
    if as_json:
        emit_json([{"round": p.round_id, "state": p.state.label, "action": p.action.value, "reason": p.reason} for p in plans])
    elif not plans:
        click.echo("no rounds")
    else:
        click.echo(table([(p.round_id, p.state.label, p.action.value, p.reason) for p in plans],
                         ["round", "state", "next", "why"]))
