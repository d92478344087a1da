"""The options the `nmrstake` commands share (one definition for every command module), and durations
(`--close 1h`) for them and for the ape scripts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from nmrstake.chain.connect import DEFAULT_NETWORK
from nmrstake.errors import InputError

network_opt = click.option(
    "--network", default=DEFAULT_NETWORK, show_default=True, envvar="NMRSTAKE_NETWORK",
    help="The chain: a node's RPC URL (http://127.0.0.1:8545; what participants give), or an ape network choice "
         "on an operator's machine (ethereum:local:foundry is $APE_FOUNDRY_HOST or 127.0.0.1:8545)",
)
json_opt = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines")
data_opt = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Round files: targets/, the service's service/ store, results/ (default $NMRSTAKE_DATA or "
         "~/.nmrstake/data/<chain>-<contract>)",
)
store_opt = click.option(
    "--store-url", envvar="NMRSTAKE_STORE_URL", default=None,
    help="Share the published results through this S3 bucket, s3://bucket/prefix (or $NMRSTAKE_STORE_URL; "
         "endpoint $AWS_ENDPOINT_URL, credentials boto3's: $AWS_ACCESS_KEY_ID, a profile...); without it, the "
         "data folder alone",
)
deployments_opt = click.option(
    "--deployments-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Where deployments files are (default ./deployments of the project or $NMRSTAKE_DEPLOYMENTS)",
)
wallet_opt = click.option("--wallet", help="nmrstake wallet name (passphrase: prompt or $NMRSTAKE_PASSPHRASE)")
account_opt = click.option("--account", help="TEST::N on a local chain, or an ape account's alias (its keystore file, "
                                             "read without ape; passphrase: $APE_ACCOUNTS_<alias>_PASSPHRASE or a prompt)")
database_opt = click.option(
    "--database-url", envvar="NMRSTAKE_DATABASE_URL", default=None,
    help="The service's metadata database, shared by its replicas and the oracle: postgresql://user:password@host/"
         "name (psycopg 3) or sqlite:///path (default: SQLite in the data folder's service/)",
)
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


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str, *, argument: str = "duration") -> int:
    """'90', '90s', '15m', '6h', '1d', '2w' -> seconds."""
    match = _DURATION.match(str(text))
    if not match:
        raise InputError(f"{argument}: {text!r} is not a duration (e.g. 3600, 90s, 15m, 6h, 1d, 2w)")
    return int(match.group(1)) * _UNIT[match.group(2)]


def duration_option(*decls: str, default: str, help: str) -> Any:
    def convert(ctx: click.Context, param: click.Parameter, value: str) -> int:
        try:
            return parse_duration(value, argument=param.opts[0])
        except InputError as exc:
            raise click.BadParameter(str(exc)) from exc

    return click.option(*decls, default=default, show_default=True, callback=convert, help=help)
