"""The `nmrstake` command line: participants, operators, the oracle.

Every command prints a table for people or, with `--json`, one JSON document for machines. Every
expected failure is one line `error: ...` on stderr with a non-zero status, and nothing is sent.

This module holds the `main` group; each command group lives in a module of its own (wallet,
rounds, participant, oracle, service, data, demo, strategy) and is attached below. Commands import
ape and the rest only when they run: `main` itself only records `-v` for when ape comes up.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from nmrstake import __version__
from nmrstake.cli import data, demo, oracle, participant, rounds, service, strategy, wallet, webhooks
from nmrstake.errors import NmrstakeError


class NmrstakeGroup(click.Group):
    """Prints an NmrstakeError as one clear line (no traceback) and exits with its code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NmrstakeError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=NmrstakeGroup)
@click.version_option(__version__, prog_name="nmrstake")
@click.option("-v", "--verbose", is_flag=True, help="Show ape's own log lines (transactions, warnings)")
def main(verbose: bool) -> None:
    """nmrstake: stake NMR on your models' predictions; an oracle scores, pays and burns."""
    from nmrstake.chain.connect import set_ape_verbosity

    set_ape_verbosity(verbose)  # applied when ape is brought up: a command without ape never imports it


for _command in (
    wallet.wallet,
    rounds.faucet, rounds.rounds, rounds.round,
    participant.stake, participant.submit, participant.balance, participant.status, participant.claim,
    participant.verify, webhooks.webhook,
    oracle.score, oracle.oracle,
    service.serve,
    data.data,
    demo.demo, demo.node,
    strategy.strategy, strategy.operator,
):
    main.add_command(_command)
