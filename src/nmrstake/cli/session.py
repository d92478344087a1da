"""The chain session of the `nmrstake` commands and the ape scripts: the tournament client of a
network's deployment, and the data folder of that tournament.

Accounts are :mod:`nmrstake.chain.signers`; sending is :mod:`nmrstake.chain.transactions`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from nmrstake.errors import ConfigError, InputError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from nmrstake.client.api import Participant
    from nmrstake.deploy import Deployment
    from nmrstake.participant import LocalDelivery
    from nmrstake.results.layout import DataLayout
    from nmrstake.tournament import TournamentClient
    from nmrstake.wallet import KeyOpening


@contextmanager
def chain_session(network: str, deployments: Path | None = None, api: str | None = None) -> Iterator[TournamentClient]:
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


def data_layout(client: TournamentClient, data_dir: Path | None, database_url: str | None = None,
                store_url: str | None = None) -> DataLayout:
    """The tournament's data folder: --data-dir, else the default one of its chain and contract;
    its submission store's database at `database_url` if given (else $NMRSTAKE_DATABASE_URL, else
    SQLite in the folder); with --store-url, the store its published results are shared through
    (checked now: a missing bucket, refused credentials or an unreachable endpoint stop the command
    with their error)."""
    from dataclasses import replace

    from nmrstake.results.layout import DataLayout, default_data_root

    layout = DataLayout(data_dir or default_data_root(client.provider.chain_id, client.tournament.address),
                        store_url=store_url or None)
    if database_url:
        layout = replace(layout, database_url=database_url)
    blobs = layout.blobs()
    if blobs is not None:
        blobs.check()
    return layout


@contextmanager
def participant_session(network: str, deployments: Path | None, api: str | None, data_dir: Path | None = None, *,
                        wallet: str | None = None, account: str | None = None,
                        local_delivery: bool = False) -> Iterator[Participant]:
    """The participant's commands' session, chosen once: a :class:`~nmrstake.client.api.Participant`
    on `network` (a node's URL: web3.py alone, no ape), the deployment in --deployments-dir (or
    the operator's deployments on this machine) else the one the service at `api` serves (pinned),
    and the key of --wallet or --account (TEST::N on a local chain, an ape alias's keystore).

    A wallet's passphrase is asked for at once and the keystore decrypted on a second core while
    the node is reached (:meth:`nmrstake.wallet.Keystore.load_aside`). Without `api`, results
    come from the operator's data folder (--data-dir) and, with `local_delivery` (stake, submit on
    the operator's machine), uploads go straight into the service's store through its Intake,
    which is ape's: that session connects through ape."""
    from nmrstake.client.api import Participant
    from nmrstake.client.session import chain_id_of, choose_deployment, open_node

    if wallet and account:
        raise InputError("give --wallet or --account, not both")
    opening = None
    if wallet:
        from nmrstake.chain.signers import ask_passphrase
        from nmrstake.wallet import Keystore

        opening = Keystore().load_aside(wallet, ask_passphrase(wallet))
    service = None
    if api:
        from nmrstake.client.http import ServiceClient

        service = ServiceClient(api)
    ape_needed = local_delivery and service is None
    with open_node(network, through_ape=ape_needed) as node:
        chain_id = chain_id_of(node, network)
        deployment = choose_deployment(chain_id, deployments, service)
        key: LocalAccount | KeyOpening | None = opening  # decrypted on first use, while the rest goes on
        if account:
            from nmrstake.client.signer import from_account_option

            key = from_account_option(account, chain_id)
        delivery, results = None, None
        if service is None:
            from nmrstake.client.results import LocalResults
            from nmrstake.results.layout import DataLayout, default_data_root

            layout = DataLayout(data_dir or default_data_root(chain_id, deployment.address("Tournament")))
            results = LocalResults(layout)
            if ape_needed:
                delivery = _local_delivery(deployment, layout, data_dir)
        me = Participant(service, node, key, deployment=deployment, delivery=delivery, results=results)
        if chain_id in LOCAL_NODE_CHAIN_IDS:
            warn_if_time_stands_still(me.chain.now())
        yield me


#: Local nodes whose time stands still while idle (a plain Anvil or Hardhat; Ganache).
LOCAL_NODE_CHAIN_IDS = frozenset({31337, 1337})


def _local_delivery(deployment: Deployment, layout: DataLayout, data_dir: Path | None) -> LocalDelivery:
    """The operator's own machine: uploads straight into the service's store (ape's connection is up)."""
    from nmrstake.chain.connect import load_project
    from nmrstake.participant import LocalDelivery
    from nmrstake.tournament import TournamentClient

    if data_dir is None and not layout.store().exists():
        raise ConfigError("no tournament service given: pass --api URL (or set $NMRSTAKE_API) to upload your "
                          f"predictions to it (on the operator's own machine, --data-dir; no store at {layout.root})")
    return LocalDelivery(TournamentClient(load_project(), deployment), layout, create=False)
