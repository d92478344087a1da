"""The options the `nmrstake` commands share (one definition for every command module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

DEFAULT_NETWORK = "ethereum:local:test"

network_opt = click.option(
    "--network", default=DEFAULT_NETWORK, show_default=True, envvar="NMRSTAKE_NETWORK",
    help="ape network choice, e.g. ethereum:local:foundry",
)
json_opt = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines")
data_opt = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Round files: targets/, the service's service/ store, results/ (default $NMRSTAKE_DATA or "
         "~/.nmrstake/data/<chain>-<contract>)",
)
deployments_opt = click.option(
    "--deployments-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Where deployments files are (default ./deployments of the project or $NMRSTAKE_DEPLOYMENTS)",
)
wallet_opt = click.option("--wallet", help="nmrstake wallet name (passphrase: prompt or $NMRSTAKE_PASSPHRASE)")
account_opt = click.option("--account", help="ape account alias, or TEST::N on local networks")
api_opt = click.option(
    "--api", envvar="NMRSTAKE_API", default=None,
    help="URL of the tournament service (or $NMRSTAKE_API); without it, the operator's local files (--data-dir)",
)


def participant_opts(command: Any) -> Any:
    """What every participant command takes: who signs, which chain and deployment, the service
    (or the operator's data folder), and --json."""
    for option in reversed((wallet_opt, account_opt, network_opt, deployments_opt, api_opt, data_opt, json_opt)):
        command = option(command)
    return command
