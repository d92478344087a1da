"""`nmrstake serve`: the tournament service."""

from __future__ import annotations

from pathlib import Path

import click

from nmrstake.cli.options import data_opt, deployments_opt, network_opt


@click.command()
@network_opt
@deployments_opt
@data_opt
@click.option("--host", default="127.0.0.1", show_default=True, envvar="NMRSTAKE_SERVE_HOST", help="Address to listen on")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), envvar="NMRSTAKE_SERVE_PORT",
              help="Port to listen on")
@click.option("--max-upload-bytes", default=None, type=click.IntRange(1, None), envvar="NMRSTAKE_MAX_UPLOAD_BYTES",
              help="Largest predictions file taken (default 64 MiB)")
def serve(network: str, deployments_dir: Path | None, data_dir: Path | None, host: str, port: int,
          max_upload_bytes: int | None) -> None:
    """The tournament service: uploads with signed receipts, rounds, results and claim proofs
    over HTTP (/v1, OpenAPI at /openapi.json, health at /healthz). Run it beside the oracle,
    on the same --data-dir."""
    from nmrstake.service.intake import DEFAULT_MAX_UPLOAD_BYTES
    from nmrstake.service.server import serve as run

    run(network=network, deployments_dir=deployments_dir, data_dir=data_dir, host=host, port=port,
        max_bytes=max_upload_bytes or DEFAULT_MAX_UPLOAD_BYTES, log=lambda m: click.echo(m, err=True))
