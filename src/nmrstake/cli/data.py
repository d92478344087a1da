"""`nmrstake data ...`: synthetic data sets."""

from __future__ import annotations

from pathlib import Path

import click

from nmrstake.cli.options import json_opt
from nmrstake.cli.output import emit_json
from nmrstake.errors import InputError


@click.group()
def data() -> None:
    """Synthetic data sets."""


@data.command("synth")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--rows", default=5000, show_default=True)
@click.option("--models", default=20, show_default=True)
@click.option("--seed", default=1, show_default=True)
@click.option("--round-index", default=0, show_default=True, help="Which round of the seed's series")
@click.option("--overwrite", is_flag=True)
@json_opt
def data_synth(out: Path, rows: int, models: int, seed: int, round_index: int, overwrite: bool, as_json: bool) -> None:
    """A Numerai-shaped data set with a planted signal and graded model predictions."""
    from nmrstake.synth import generate, write

    if rows < 10 or models < 1:
        raise InputError("--rows must be at least 10 and --models at least 1")
    d = generate(rows=rows, models=models, seed=seed, round_index=round_index)
    path = write(d, out, overwrite=overwrite)
    if as_json:
        emit_json({"out": str(path), "rows": rows, "models": models, "seed": seed})
    else:
        click.echo(f"wrote {rows} rows and {models} models' predictions to {path}")
