"""Where a participant's command or notebook reaches the tournament, chosen once: the node (an RPC
URL, or an ape network choice on an operator's machine), the deployment (a deployments file, or
the one the tournament service serves, pinned the first time), and the key.

Reaching a node by URL (and ape's local `foundry` choice, which is one) imports neither ape nor
pandas. Only the choices that have no URL of their own (ape's embedded test chain, a named ape
network) go through ape: those are the operator's and the tests'."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from nmrstake.deploy import Deployment
from nmrstake.errors import ChainError, ConfigError

if TYPE_CHECKING:
    from nmrstake.chain.node import Node
    from nmrstake.client.http import ServiceClient

#: Where ape's `foundry` provider (Anvil, `nmrstake node`) listens unless $APE_FOUNDRY_HOST says otherwise.
FOUNDRY_HOST = "http://127.0.0.1:8545"


def node_url(network: str) -> str | None:
    """The node's RPC URL for `network` without ape: a URL as given; ape's local `foundry`
    (Anvil) choice as ape would reach it ($APE_FOUNDRY_HOST, default 127.0.0.1:8545); None for a
    choice only ape knows how to reach (its embedded chain, a named network from its config)."""
    text = network.strip()
    if text.startswith(("http://", "https://")):
        return text
    if text in ("ethereum:local:foundry", "local:foundry"):
        return os.environ.get("APE_FOUNDRY_HOST") or FOUNDRY_HOST
    return None


@contextmanager
def open_node(network: str, *, through_ape: bool = False) -> Iterator[Node]:
    """The node of `network` for the block: by URL in JSON-RPC alone (an
    :class:`~nmrstake.chain.node.RpcNode`: neither ape nor web3.py is imported), else (or with
    `through_ape`, for the operator's tools that need ape's connection too) ape's connection's
    Web3 (:func:`nmrstake.chain.connect.connect`)."""
    from nmrstake.chain.node import RpcNode, Web3Node

    url = node_url(network)
    if url is not None and not through_ape:
        yield RpcNode(url)
        return
    try:
        import ape  # noqa: F401 - only to say clearly when it is not installed

        from nmrstake.chain.connect import connect
    except ImportError:
        raise ConfigError(f"--network {network}: not a node's URL, and ape (the operator's install) is not installed "
                          "to reach it; give the node's RPC URL, e.g. --network http://127.0.0.1:8545 "
                          "(or $NMRSTAKE_NETWORK)") from None
    with connect(network) as provider:
        yield Web3Node(provider.web3, network)


def chain_id_of(node: Node, network: str) -> int:
    """The chain id of `node`; a node that does not answer is one clear error."""
    try:
        return node.chain_id()
    except Exception as exc:  # noqa: BLE001 - requests and web3 raise many types for a dead node
        raise ConfigError(f"--network {network}: cannot reach the node ({type(exc).__name__}); is it running, "
                          "and is the URL right?") from None


def find_deployment(folder: Path, chain_id: int) -> Deployment | None:
    """The deployments file in `folder` for chain `chain_id` (`<ecosystem>-<network>-<chain>.json`),
    or None; two files for one chain is an error naming both."""
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.glob(f"*-{chain_id}.json") if p.is_file())
    if len(found) > 1:
        raise ConfigError(f"{folder} holds {len(found)} deployments for chain {chain_id} "
                          f"({', '.join(p.name for p in found)}): keep one, or give --deployments-dir")
    return Deployment.from_json(found[0].read_text(), str(found[0])) if found else None


def local_deployments() -> Path | None:
    """The operator's deployments folder on this machine: $NMRSTAKE_DEPLOYMENTS, else
    `deployments/` of the nmrstake project the current folder is in (None outside one)."""
    from nmrstake.deploy import DEFAULT_DEPLOYMENTS_DIR, deployments_dir

    if os.environ.get("NMRSTAKE_DEPLOYMENTS"):
        return deployments_dir()
    from nmrstake.chain.connect import project_root

    try:
        return project_root() / DEFAULT_DEPLOYMENTS_DIR
    except ConfigError:
        return None


def pinned_deployment(service: ServiceClient, chain_id: int | None = None,
                      home: str | os.PathLike[str] | None = None) -> Deployment:
    """The deployment the service serves, pinned in `<home>/deployments` the first time: a service
    that later serves another tournament on that chain is refused, never followed. The code at
    its addresses is checked by :class:`~nmrstake.client.chain.Chain`."""
    from nmrstake.deploy import deployment_filename
    from nmrstake.fsutil import write_atomic
    from nmrstake.wallet import nmrstake_home

    served = service.deployment()
    if chain_id is not None and served.chain_id != chain_id:
        raise ConfigError(f"the service at {service.url} serves a tournament on chain {served.chain_id}, "
                          f"the node is chain {chain_id}")
    folder = Path(home or nmrstake_home()) / "deployments"
    pin = folder / deployment_filename(served.ecosystem, served.network, served.chain_id)
    pinned = find_deployment(folder, served.chain_id) if folder.is_dir() else None
    if pinned is not None:
        if pinned.address("Tournament").lower() != served.address("Tournament").lower():
            raise ChainError(f"the service serves tournament {served.address('Tournament')}, but the pin in {folder} "
                             f"is {pinned.address('Tournament')}: refusing to follow it (remove the pin to trust it)")
        return pinned
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(pin, served.to_json())
    return served


def choose_deployment(chain_id: int, deployments: Path | None, service: ServiceClient | None) -> Deployment:
    """The deployment a participant's command acts on, chosen once: the file in --deployments-dir
    (or the operator's deployments folder on this machine) for this chain; failing that, with a
    service, the one it serves (pinned the first time); without one, the one pinned before; else
    a clear error."""
    folder = deployments or local_deployments()
    if folder is not None:
        found = find_deployment(folder, chain_id)
        if found is not None:
            return found
        if deployments is not None and service is None:
            raise ConfigError(f"no deployment for chain {chain_id} in {deployments}: run `ape run deploy` for this "
                              "chain, or give --api URL (the tournament service names its deployment)")
    if service is None:
        from nmrstake.wallet import nmrstake_home

        pinned = find_deployment(nmrstake_home() / "deployments", chain_id)  # a service's, pinned before
        if pinned is not None:
            return pinned
        raise ConfigError(f"no deployment recorded for chain {chain_id} on this machine: give --api URL (the "
                          "tournament service names its deployment), or --deployments-dir")
    return pinned_deployment(service, chain_id)
