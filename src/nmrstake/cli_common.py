"""Pieces shared by the `nmrstake` CLI and the ape scripts: durations, accounts, networks, output."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from nmrstake.errors import ChainError, ConfigError, InputError

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


def is_local(provider: Any) -> bool:
    return provider.network.name == "local"


def deployer_account(provider: Any, alias: str | None) -> Any:
    """The account to send from: `alias` (an ape account alias or TEST::N), or on a local
    network test account 0. Elsewhere an alias is required: nothing is sent from a guess."""
    from ape import accounts

    if alias:
        if alias.upper().startswith("TEST::"):
            try:
                return accounts.test_accounts[int(alias.split("::", 1)[1])]
            except (ValueError, IndexError):
                raise ConfigError(f"--account {alias}: no such test account") from None
        try:
            return accounts.load(alias)
        except Exception as exc:  # ape raises its own error types for unknown aliases
            raise ConfigError(f"--account {alias}: no such ape account ({exc})") from exc
    if is_local(provider):
        return accounts.test_accounts[0]
    raise ConfigError(f"--account is required on network {provider.network.name!r}")


# ---------------------------------------------------------------------------------------- wallets


@dataclass
class Signer:
    """An account that can send transactions (ape) and sign permits (its private key)."""

    ape_account: Any
    private_key: Any

    @property
    def address(self) -> str:
        return str(self.ape_account.address)


def ask_passphrase(name: str, *, confirm: bool = False) -> str:
    from nmrstake.wallet import passphrase_from_env

    env = passphrase_from_env(name)
    if env is not None:
        return env
    import sys

    missing = f"no passphrase for wallet '{name}': type it at the prompt of a terminal, or set $NMRSTAKE_PASSPHRASE"
    if not sys.stdin.isatty():  # nobody to ask: say what is missing instead of "Aborted!"
        raise InputError(missing)
    try:
        return click.prompt(f"Passphrase for wallet '{name}'", hide_input=True, confirmation_prompt=confirm)
    except click.Abort:
        raise InputError(missing) from None


def wallet_signer(name: str, passphrase: str | None = None) -> Signer:
    """Unlock an nmrstake wallet (a standard keystore) as an ape account that signs without
    prompting. A wrong passphrase fails here, before anything is sent."""
    from ape_accounts.accounts import KeyfileAccount

    from nmrstake.wallet import Keystore

    store = Keystore()
    if passphrase is None:
        passphrase = ask_passphrase(name)
    local = store.load(name, passphrase)
    account = KeyfileAccount(keyfile_path=store.path(name))
    account.set_autosign(True, passphrase=passphrase)
    return Signer(account, local.key)


def resolve_signer(provider: Any, wallet: str | None, account: str | None) -> Signer:
    """--wallet NAME (nmrstake keystore) or --account ALIAS (ape; TEST::N on local networks)."""
    if wallet and account:
        raise InputError("give --wallet or --account, not both")
    if wallet:
        return wallet_signer(wallet)
    acct = deployer_account(provider, account)
    return Signer(acct, getattr(acct, "private_key", None))


# ---------------------------------------------------------------------------------------- output


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain aligned table: numbers right-aligned, text left-aligned."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(_numberish(r[i]) for r in cells[1:]) and len(cells) > 1 for i in range(len(headers))]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(r, widths, numeric)).rstrip()

    lines = [fmt(cells[0]), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in cells[1:]]
    return "\n".join(lines)


def _numberish(text: str) -> bool:
    return bool(re.fullmatch(r"-?[\d.,]+(e-?\d+)?%?", text)) or text in ("", "-")


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def short(hexstr: str, n: int = 10) -> str:
    return hexstr if len(hexstr) <= n + 4 else f"{hexstr[:n]}…"


# ---------------------------------------------------------------------------------------- chain


@contextmanager
def chain_session(network: str, deployments: Path | None = None, api: str | None = None) -> Iterator[Any]:
    """Connect to `network` and yield the TournamentClient of its deployment: the one recorded in
    the deployments folder; failing that, with `api`, the one the tournament service served the
    first time (so a participant's machine needs only a wallet, the RPC and the service's URL).
    That first answer is pinned in $NMRSTAKE_HOME/deployments: a service that later serves another
    tournament is refused (ServiceClient.check_deployment), never followed."""
    from nmrstake.chain import connect, load_project
    from nmrstake.deploy import deployment_path, deployments_dir, load_deployment
    from nmrstake.fsutil import write_atomic
    from nmrstake.tournament import TournamentClient
    from nmrstake.wallet import nmrstake_home

    project = load_project()
    with connect(network) as provider:
        if api and not deployment_path(provider, deployments or deployments_dir(project.path)).is_file():
            pin = deployment_path(provider, nmrstake_home() / "deployments")
            if pin.is_file():
                yield TournamentClient(project, load_deployment(pin))
            else:
                from nmrstake.service.client import ServiceClient

                client = TournamentClient(project, ServiceClient(api).deployment())  # checks it on chain
                write_atomic(pin, client.deployment.to_json())
                yield client
        else:
            yield TournamentClient.connect(project, deployments)


def transact(method: Any, *args: Any, sender: Any, what: str) -> Any:
    """Simulate a contract call (eth_call) first, then send it. A call that would revert raises a
    one-line ChainError naming the contract's error, and nothing is sent (on local chains ape
    does not estimate gas, so without the simulation a reverting transaction would be mined,
    spending gas and a nonce)."""
    from ape.exceptions import ContractLogicError

    try:
        method.call(*args, sender=sender)
    except ContractLogicError as exc:
        raise ChainError(f"{what} would revert: {_reason(exc)}; nothing was sent") from exc
    try:
        return method(*args, sender=sender)
    except ContractLogicError as exc:
        raise ChainError(f"{what} reverted: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    """The contract's custom error by name with its arguments (ape names the exception class
    after the error, and its message lists only the arguments)."""
    from ape.exceptions import CustomError

    message = " ".join(str(getattr(exc, "message", None) or exc).split())
    if isinstance(exc, CustomError):
        name = type(exc).__name__
        args = "" if message in ("", "Transaction failed.") else message
        return f"{name}({args})"
    return message
