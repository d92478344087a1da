"""The chain session of the `nmrstake` commands and the ape scripts: the tournament client of a
network's deployment, and the data folder of that tournament.

Accounts are :mod:`nmrstake.chain.signers`; sending is :mod:`nmrstake.chain.transactions`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click


@contextmanager
def chain_session(network: str, deployments: Path | None = None, api: str | None = None) -> Iterator[Any]:
    """Connect to `network` and yield the TournamentClient of its deployment: the one recorded in
    the deployments folder; failing that, with `api`, the one the tournament service served the
    first time (so a participant's machine needs only a wallet, the RPC and the service's URL).
    That first answer is pinned in $NMRSTAKE_HOME/deployments: a service that later serves another
    tournament is refused (ServiceClient.check_deployment), never followed."""
    from nmrstake.chain.connect import connect, is_embedded_network, is_local_network, load_project
    from nmrstake.deploy import deployment_path, deployments_dir, load_deployment
    from nmrstake.fsutil import write_atomic
    from nmrstake.tournament import TournamentClient
    from nmrstake.wallet import nmrstake_home

    project = load_project()
    with connect(network) as provider:
        if is_local_network(network) and not is_embedded_network(network):
            warn_if_time_stands_still(int(provider.get_block("latest").timestamp))
        if api and not deployment_path(provider, deployments or deployments_dir(project.path)).is_file():
            pin = deployment_path(provider, nmrstake_home() / "deployments")
            if pin.is_file():
                yield TournamentClient(project, load_deployment(pin))
            else:
                from nmrstake.client.http import ServiceClient

                client = TournamentClient(project, ServiceClient(api).deployment())  # checks it on chain
                write_atomic(pin, client.deployment.to_json())
                yield client
        else:
            yield TournamentClient.connect(project, deployments)


def warn_if_time_stands_still(chain_now: int, *, tolerance: int = 120) -> None:
    """Say so on stderr when the chain's latest block is more than `tolerance` seconds older than
    the clock: a plain local `anvil` mines no block while idle, so its time stands still, and
    rounds then never close, resolve or become final by themselves. Every chain command on a
    local node checks this (the chain session), and `rounds`/`round show` through a service."""
    import time

    from nmrstake.cli.output import span

    lag = int(time.time()) - chain_now
    if lag > tolerance:
        click.echo(f"warning: chain time is {span(lag)} behind the clock: this node mines no blocks while idle, "
                   "so rounds do not close, resolve or become final by themselves; run `nmrstake node`, "
                   "which keeps a local chain moving (or send a transaction)", err=True)


def data_layout(client: Any, data_dir: Path | None) -> Any:
    """The tournament's data folder: --data-dir, else the default one of its chain and contract."""
    from nmrstake.results.layout import DataLayout, default_data_root

    return DataLayout(data_dir or default_data_root(client.provider.chain_id, client.tournament.address))
