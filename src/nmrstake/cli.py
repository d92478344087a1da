"""The `nmrstake` command line."""

from __future__ import annotations

import sys

import click

from nmrstake import __version__
from nmrstake.errors import NmrstakeError


class NmrstakeGroup(click.Group):
    """Prints an NmrstakeError as one clear line (no traceback) and exits with its code."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except NmrstakeError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=NmrstakeGroup)
@click.version_option(__version__, prog_name="nmrstake")
def main() -> None:
    """nmrstake: stake NMR on your models' predictions; an oracle scores, pays and burns."""


@main.command()
@click.option("--network", default="ethereum:local:test", show_default=True, help="ape network choice")
def demo(network: str) -> None:
    """Run the main job on a local chain and print what it did."""
    from nmrstake.chain import connect, is_local_network, load_project
    from nmrstake.demo_token import run_token_demo
    from nmrstake.errors import ConfigError

    if not is_local_network(network):
        raise ConfigError(f"--network {network}: the demo runs only on local networks")
    project = load_project()
    with connect(network) as provider:
        click.echo(f"nmrstake demo on {network} (chain {provider.chain_id})")
        run_token_demo(project, click.echo)


if __name__ == "__main__":
    main()
