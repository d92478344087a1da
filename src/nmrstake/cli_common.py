"""Pieces shared by the `nmrstake` CLI and the ape scripts: durations, accounts, networks."""

from __future__ import annotations

import re
from typing import Any

import click

from nmrstake.errors import ConfigError, InputError

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
            index = int(alias.split("::", 1)[1])
            return accounts.test_accounts[index]
        try:
            return accounts.load(alias)
        except Exception as exc:  # ape raises its own error types for unknown aliases
            raise ConfigError(f"--account {alias}: no such ape account ({exc})") from exc
    if is_local(provider):
        return accounts.test_accounts[0]
    raise ConfigError(f"--account is required on network {provider.network.name!r}")
