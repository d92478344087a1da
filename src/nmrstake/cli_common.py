"""Pieces shared by the `nmrstake` CLI and the ape scripts: durations, output, the chain session.

Accounts are :mod:`nmrstake.chain.signers`; sending is :mod:`nmrstake.chain.transactions`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from nmrstake.errors import InputError

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
    from nmrstake.chain.connect import connect, load_project
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
