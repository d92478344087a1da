"""`nmrstake serve`: the tournament service."""

from __future__ import annotations

from pathlib import Path

import click

from nmrstake.cli.options import data_opt, database_opt, deployments_opt, network_opt, store_opt


@click.command()
@network_opt
@deployments_opt
@data_opt
@store_opt
@database_opt
@click.option("--receipt-key-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              envvar="NMRSTAKE_RECEIPT_KEY_FILE",
              help="The key the service signs delivery receipts with (0x and 64 hex digits), the same file on "
                   "every replica (default: the data folder's service/receipt-signer.key, made on first start)")
@click.option("--host", default="127.0.0.1", show_default=True, envvar="NMRSTAKE_SERVE_HOST", help="Address to listen on")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), envvar="NMRSTAKE_SERVE_PORT",
              help="Port to listen on")
@click.option("--max-upload-bytes", default=None, type=click.IntRange(1, None), envvar="NMRSTAKE_MAX_UPLOAD_BYTES",
              help="Largest predictions file taken (default 16 MiB)")
@click.option("--max-uploads-per-key", default=16, show_default=True, type=click.IntRange(1, None),
              envvar="NMRSTAKE_MAX_UPLOADS_PER_KEY", help="Uploads kept per round, model and staker")
@click.option("--max-staker-round-bytes", default=256 << 20, show_default=True, type=click.IntRange(1, None),
              envvar="NMRSTAKE_MAX_STAKER_ROUND_BYTES", help="Bytes one staker may upload in one round")
@click.option("--max-store-bytes", default=None, type=click.IntRange(1, None), envvar="NMRSTAKE_MAX_STORE_BYTES",
              help="Bytes the store may hold before uploads of models not staked yet are refused (default: no "
                   "limit but the disk's --min-free-disk)")
@click.option("--min-free-disk", default=1 << 30, show_default=True, type=click.IntRange(0, None),
              envvar="NMRSTAKE_MIN_FREE_DISK", help="Free bytes kept on the store's disk against uploads of models "
                                                    "not staked yet (not with --store-url: a bucket has no disk)")
@click.option("--reserved-disk", default=64 << 20, show_default=True, type=click.IntRange(0, None),
              envvar="NMRSTAKE_RESERVED_DISK", help="Free bytes kept on the disk uploads are received on against every "
                                                    "upload")
@click.option("--orphan-grace", default=3600, show_default=True, type=click.IntRange(0, None),
              envvar="NMRSTAKE_ORPHAN_GRACE",
              help="Seconds after which a submission file no upload refers to (a replica killed between storing "
                   "it and logging it) is deleted; swept at start, then every hour")
@click.option("--faucet-account", default=None, envvar="NMRSTAKE_FAUCET_ACCOUNT",
              help="Turn on POST /v1/faucet (test NMR and gas for participants) from this ape account alias, or "
                   "TEST::N on a local chain; it must hold MINTER_ROLE on the NMR. Never on mainnet")
@click.option("--faucet-wallet", default=None, envvar="NMRSTAKE_FAUCET_WALLET",
              help="Turn on POST /v1/faucet from this nmrstake wallet (passphrase: prompt or $NMRSTAKE_PASSPHRASE)")
@click.option("--faucet-nmr", default="100", show_default=True, help="Test NMR one faucet grant mints")
@click.option("--faucet-ether", default="0.1", show_default=True, help="Ether one faucet grant sends for gas")
@click.option("--faucet-period", default=86400, show_default=True, type=click.IntRange(0, None),
              help="Seconds before an address may ask the faucet again")
@click.option("--faucet-per-hour", default=60, show_default=True, type=click.IntRange(1, None),
              help="Faucet grants an hour at most, all addresses together")
@click.option("--allow-private-webhooks", is_flag=True, envvar="NMRSTAKE_ALLOW_PRIVATE_WEBHOOKS",
              help="Let webhooks target loopback and private addresses (a test, a private network); off, they "
                   "are refused at registration and before every delivery")
@click.option("--max-webhooks", default=5, show_default=True, type=click.IntRange(1, None),
              envvar="NMRSTAKE_MAX_WEBHOOKS", help="Webhooks one address may register")
@click.option("--alert-hours", default=24.0, show_default=True, type=click.FloatRange(0, None),
              envvar="NMRSTAKE_ALERT_HOURS",
              help="Hours before a round's close from which a staked or strategy-enabled model with no upload is an alert")
@click.option("--webhook-retry-seconds", default=30.0, show_default=True, type=click.FloatRange(0.1, None),
              envvar="NMRSTAKE_WEBHOOK_RETRY_SECONDS",
              help="Seconds before a failed delivery's first retry; doubled each time, at most an hour, 10 "
                   "attempts in all")
@click.option("--alerts-every", default=5.0, show_default=True, type=click.FloatRange(0.1, None),
              envvar="NMRSTAKE_ALERTS_EVERY", help="Seconds between two passes of the alerts' worker")
def serve(network: str, deployments_dir: Path | None, data_dir: Path | None, store_url: str | None,
          database_url: str | None, receipt_key_file: Path | None, host: str, port: int,
          max_upload_bytes: int | None, max_uploads_per_key: int, max_staker_round_bytes: int,
          max_store_bytes: int | None, min_free_disk: int, reserved_disk: int, faucet_account: str | None,
          faucet_wallet: str | None, faucet_nmr: str, faucet_ether: str, faucet_period: int,
          faucet_per_hour: int, orphan_grace: int, allow_private_webhooks: bool, max_webhooks: int,
          alert_hours: float, webhook_retry_seconds: float, alerts_every: float) -> None:
    """The tournament service: uploads with signed receipts, rounds, results and claim proofs
    over HTTP (/v1, OpenAPI at /openapi.json, health at /healthz). Run it beside the oracle,
    on the same --data-dir."""
    from nmrstake.amounts import parse_nmr
    from nmrstake.intake import DEFAULT_MAX_UPLOAD_BYTES, UploadLimits
    from nmrstake.service.alerts import AlertSettings
    from nmrstake.service.faucet import FaucetSettings
    from nmrstake.service.server import serve as run
    from nmrstake.storage.webhooks import RetryPolicy

    limits = UploadLimits(uploads_per_key=max_uploads_per_key, bytes_per_staker_round=max_staker_round_bytes,
                          store_bytes=max_store_bytes, min_free_disk=min_free_disk, reserved_disk=reserved_disk)
    run(network=network, deployments_dir=deployments_dir, data_dir=data_dir, store_url=store_url, host=host, port=port,
        max_bytes=max_upload_bytes or DEFAULT_MAX_UPLOAD_BYTES, limits=limits, log=lambda m: click.echo(m, err=True),
        faucet_account=faucet_account, faucet_wallet=faucet_wallet, database_url=database_url,
        receipt_key_file=receipt_key_file, orphan_grace=float(orphan_grace),
        alerts=AlertSettings(hours=alert_hours, allow_private=allow_private_webhooks, every=alerts_every),
        max_webhooks=max_webhooks, retry=RetryPolicy(base=webhook_retry_seconds),
        faucet=FaucetSettings(nmr=parse_nmr(faucet_nmr, argument="--faucet-nmr", positive=True),
                              ether=parse_nmr(faucet_ether, argument="--faucet-ether", positive=True),
                              period=faucet_period, per_hour=faucet_per_hour))
