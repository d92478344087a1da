"""The `nmrstake` command line: participants, operators, the oracle.

Every command prints a table for people or, with `--json`, one JSON document for machines. Every
expected failure is one line `error: ...` on stderr with a non-zero status, and nothing is sent.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from nmrstake import __version__
from nmrstake.cli_options import (  # noqa: F401 - re-exported for the command modules
    DEFAULT_NETWORK,
    account_opt,
    api_opt,
    data_opt,
    deployments_opt,
    json_opt,
    network_opt,
    participant_opts,
    wallet_opt,
)
from nmrstake.errors import ChainError, ConfigError, InputError, NmrstakeError


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
    from ape.logging import logger

    logger.set_level("INFO" if verbose else "ERROR")


def _layout(client: Any, data_dir: Path | None) -> Any:
    from nmrstake.results.layout import DataLayout, default_data_root

    return DataLayout(data_dir or default_data_root(client.provider.chain_id, client.tournament.address))


def _fmt_time(ts: int, now: int | None = None) -> str:
    import datetime as dt

    text = dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    if now is not None:
        delta = ts - now
        sign = "in " if delta >= 0 else ""
        ago = "" if delta >= 0 else " ago"
        text += f" ({sign}{_span(abs(delta))}{ago})"
    return text


def _span(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds}s"


# ============================================================================== wallet


@main.group()
def wallet() -> None:
    """Encrypted keystores (Web3 Secret Storage; ape-compatible) in ~/.nmrstake/wallets."""


@wallet.command("new")
@click.argument("name")
@json_opt
def wallet_new(name: str, as_json: bool) -> None:
    """Create a wallet with a new random key."""
    from nmrstake.chain.signers import ask_passphrase
    from nmrstake.cli_common import emit_json
    from nmrstake.wallet import Keystore, validate_name

    validate_name(name)
    store = Keystore()
    if store.exists(name):
        raise InputError(f"wallet '{name}' already exists at {store.path(name)}")
    address = store.create(name, ask_passphrase(name, confirm=True))
    if as_json:
        emit_json({"name": name, "address": address, "path": str(store.path(name))})
    else:
        click.echo(f"created wallet '{name}' {address} in {store.path(name)}")


@wallet.command("import")
@click.argument("name")
@click.option("--mnemonic", is_flag=True, help="Import from a mnemonic (prompted) instead of a private key")
@click.option("--index", default=0, show_default=True, help="Account index of the mnemonic (m/44'/60'/0'/0/INDEX)")
@json_opt
def wallet_import(name: str, mnemonic: bool, index: int, as_json: bool) -> None:
    """Import a private key or a mnemonic, read from a prompt (never from the command line)."""
    from nmrstake.chain.signers import ask_passphrase
    from nmrstake.cli_common import emit_json
    from nmrstake.wallet import Keystore, validate_name

    validate_name(name)
    store = Keystore()
    if store.exists(name):
        raise InputError(f"wallet '{name}' already exists at {store.path(name)}")
    secret = click.prompt("Mnemonic" if mnemonic else "Private key (hex)", hide_input=True)
    passphrase = ask_passphrase(name, confirm=True)
    if mnemonic:
        address = store.import_mnemonic(name, secret, passphrase, account_index=index)
    else:
        address = store.import_key(name, secret, passphrase)
    if as_json:
        emit_json({"name": name, "address": address, "path": str(store.path(name))})
    else:
        click.echo(f"imported wallet '{name}' {address}")


@wallet.command("list")
@json_opt
def wallet_list(as_json: bool) -> None:
    """List wallets and their addresses."""
    from nmrstake.cli_common import emit_json, table
    from nmrstake.wallet import Keystore

    items = Keystore().list()
    if as_json:
        emit_json([{"name": n, "address": a} for n, a in items])
    elif not items:
        click.echo("no wallets yet: `nmrstake wallet new NAME`")
    else:
        click.echo(table(items, ["name", "address"]))


@wallet.command("address")
@click.argument("name")
@json_opt
def wallet_address(name: str, as_json: bool) -> None:
    """Print a wallet's address."""
    from nmrstake.cli_common import emit_json
    from nmrstake.wallet import Keystore

    address = Keystore().address(name)
    if as_json:
        emit_json({"name": name, "address": address})
    else:
        click.echo(address)


# ============================================================================== faucet


@main.command()
@click.argument("address")
@click.argument("amount")
@network_opt
@deployments_opt
@json_opt
def faucet(address: str, amount: str, network: str, deployments_dir: Path | None, as_json: bool) -> None:
    """Mint test NMR to ADDRESS, and top its ether up to 1 ETH for gas (local networks only)."""
    from nmrstake.amounts import format_nmr, parse_nmr
    from nmrstake.chain.connect import is_local_network
    from nmrstake.chain.signers import deployer_account
    from nmrstake.chain.transactions import send
    from nmrstake.cli_common import chain_session, emit_json
    from nmrstake.hashing import checksum_address

    wei = parse_nmr(amount, argument="AMOUNT", positive=True)
    to = checksum_address(address, argument="ADDRESS")
    if not is_local_network(network):
        raise ConfigError(f"the faucet mints test NMR only on local networks, not on {network}")
    with chain_session(network, deployments_dir) as client:
        minter = deployer_account(client.provider, None)
        send(client.token.mint, to, wei, sender=minter, what=f"minting {format_nmr(wei)} NMR to {to}")
        balance = int(client.token.balanceOf(to))
        gas_money = 10**18 - int(client.provider.get_balance(to))
        if gas_money > 0:
            minter.transfer(to, gas_money)
    if as_json:
        emit_json({"address": to, "minted": str(wei), "balance": str(balance)})
    else:
        click.echo(f"minted {format_nmr(wei)} NMR to {to}; balance {format_nmr(balance)} NMR")


# ============================================================================== rounds


def _round_json(info: Any) -> dict[str, Any]:
    return info.to_json()


def _rounds_read(api: str | None, network: str, deployments_dir: Path | None,
                 round_id: int | None = None) -> tuple[Any, int]:
    """Rounds as the API shows them (a list, or one round) and the chain time: from the service
    with --api (no chain connection: quick), else from the chain."""
    if api:
        from nmrstake.service.client import ServiceClient

        service = ServiceClient(api)
        data = service.get("/v1/rounds" if round_id is None else f"/v1/rounds/{round_id}")
        return data, int(service.get("/healthz")["chain_time"])
    from nmrstake.cli_common import chain_session

    with chain_session(network, deployments_dir) as client:
        data = [i.to_json() for i in client.rounds()] if round_id is None else client.round(round_id).to_json()
        return data, client.now()


@main.command()
@network_opt
@deployments_opt
@api_opt
@json_opt
def rounds(network: str, deployments_dir: Path | None, api: str | None, as_json: bool) -> None:
    """All rounds with their state, times and totals (from the service with --api)."""
    from nmrstake.amounts import format_nmr
    from nmrstake.cli_common import emit_json, table

    infos, now = _rounds_read(api, network, deployments_dir)
    if as_json:
        emit_json(infos)
        return
    if not infos:
        click.echo("no rounds yet")
        return
    rows = [
        (i["round"], i["state"], _fmt_time(i["close_time"]), _fmt_time(i["resolve_time"]), i["stake_count"],
         *(format_nmr(int(i[k])) for k in ("total_staked", "funded", "total_payout", "total_burn")))
        for i in infos
    ]
    click.echo(table(rows, ["round", "state", "closes (UTC)", "resolves (UTC)", "stakes", "staked", "funded", "paid", "burned"]))
    click.echo(f"chain time {_fmt_time(now)}")
    _warn_if_time_stands_still(now)


def _warn_if_time_stands_still(chain_now: int, *, tolerance: int = 120) -> None:
    """A plain local Anvil mines no block while idle, so its time stands still: say so, since
    rounds then never close or resolve by themselves."""
    import time

    lag = int(time.time()) - chain_now
    if lag > tolerance:
        click.echo(f"warning: chain time is {_span(lag)} behind the clock: the node mines no blocks while idle "
                   "(start anvil with --block-time 1, or send a transaction)", err=True)


@main.group()
def round() -> None:  # noqa: A001 - the command is called `round`
    """Show, open and fund rounds."""


@round.command("show")
@click.argument("round_id", type=int)
@network_opt
@deployments_opt
@api_opt
@json_opt
def round_show(round_id: int, network: str, deployments_dir: Path | None, api: str | None, as_json: bool) -> None:
    """One round: parameters, times, totals, result (from the service with --api)."""
    from nmrstake.amounts import format_nmr
    from nmrstake.cli_common import emit_json

    info, now = _rounds_read(api, network, deployments_dir, round_id)
    if as_json:
        emit_json(info)
        return
    nmr = lambda key: format_nmr(int(info[key]))  # noqa: E731
    lines = [
        ("state", info["state"]),
        ("opens", _fmt_time(info["open_time"], now)), ("closes", _fmt_time(info["close_time"], now)),
        ("resolves", _fmt_time(info["resolve_time"], now)),
        ("score", f"{info['corr_multiplier_bps'] / 10_000:g} × CORR + {info['mmc_multiplier_bps'] / 10_000:g} × MMC"),
        ("clip", f"{info['clip_bps'] / 100:g} %"), ("stake threshold", f"{nmr('stake_threshold')} NMR"),
        ("stake limits", f"{nmr('min_stake')} – {nmr('stake_cap')} NMR"),
        ("stakes", f"{info['stake_count']} ({nmr('total_staked')} NMR)"),
        ("funded", f"{nmr('funded')} NMR"),
    ]
    if info["posted_at"]:
        lines += [("result root", info["root"]), ("results hash", info["results_hash"]),
                  ("paid / burned", f"{nmr('total_payout')} / {nmr('total_burn')} NMR"),
                  ("final at", _fmt_time(info["final_at"] or 0, now)), ("settled", str(info["settled"]))]
    width = max(len(k) for k, _ in lines)
    click.echo(f"round {round_id}")
    for k, v in lines:
        click.echo(f"  {k:<{width}}  {v}")
    _warn_if_time_stands_still(now)


@round.command("open")
@click.argument("round_id", type=int)
@click.option("--open", "open_in", default="0s", show_default=True, help="Opens after this long (e.g. 0s, 10m)")
@click.option("--close", "close_in", default="1h", show_default=True, help="Closes this long after opening")
@click.option("--resolve", "resolve_in", default="1h", show_default=True, help="Resolvable this long after closing")
@click.option("--payouts", "preset", default="numerai-2024", show_default=True,
              type=click.Choice(["numerai-2024", "numerai-2026"]),
              help="Payout settings: numerai-2024 = 0.5 x CORR + 2 x MMC, clip 0.05, threshold 72000; "
                   "numerai-2026 = 5 x CORR + 10 x MMC, clip 1, payout factor 1. The flags below override it")
@click.option("--corr", default=None, help="CORR multiplier (default: the preset's)")
@click.option("--mmc", default=None, help="MMC multiplier (default: the preset's)")
@click.option("--clip", default=None, help="Largest fraction of a stake won or lost (default: the preset's)")
@click.option("--threshold", default=None, help="Stake threshold (NMR) of the payout factor (default: the preset's)")
@click.option("--cap", default="100000", show_default=True, help="Largest stake of one model (NMR)")
@click.option("--min-stake", default="0.01", show_default=True, help="Smallest stake (NMR)")
@network_opt
@deployments_opt
@account_opt
@wallet_opt
@json_opt
def round_open(round_id: int, open_in: str, close_in: str, resolve_in: str, preset: str, corr: str | None,
               mmc: str | None, clip: str | None, threshold: str | None, cap: str, min_stake: str, network: str,
               deployments_dir: Path | None, account: str | None, wallet: str | None, as_json: bool) -> None:
    """Open round ROUND_ID (round-manager role)."""
    from nmrstake.amounts import parse_nmr
    from nmrstake.chain.signers import resolve_account
    from nmrstake.cli_common import chain_session, emit_json, parse_duration
    from nmrstake.rounds import RoundSpec, bps, open_round, payout_preset

    base = payout_preset(preset)
    spec = RoundSpec(
        round_id=round_id,
        open_in=parse_duration(open_in, argument="--open"),
        close_after=parse_duration(close_in, argument="--close"),
        resolve_after=parse_duration(resolve_in, argument="--resolve"),
        corr_multiplier_bps=base.corr_multiplier_bps if corr is None else bps(corr, "--corr"),
        mmc_multiplier_bps=base.mmc_multiplier_bps if mmc is None else bps(mmc, "--mmc"),
        clip_bps=base.clip_bps if clip is None else bps(clip, "--clip"),
        stake_threshold=base.stake_threshold if threshold is None else parse_nmr(threshold, argument="--threshold"),
        stake_cap=parse_nmr(cap, argument="--cap", positive=True),
        min_stake=parse_nmr(min_stake, argument="--min-stake", positive=True),
    )
    with chain_session(network, deployments_dir) as client:
        manager = resolve_account(client.provider, wallet, account)
        receipt = open_round(client, manager, spec)
        info = client.round(round_id)
    if as_json:
        emit_json({"txn": str(receipt.txn_hash), "gas_used": receipt.gas_used, **_round_json(info)})
    else:
        click.echo(f"opened round {round_id}: stakes {_fmt_time(info.open_time)} – {_fmt_time(info.close_time)} UTC, "
                   f"resolves {_fmt_time(info.resolve_time)} UTC (txn {receipt.txn_hash}, gas {receipt.gas_used})")


@round.command("fund")
@click.argument("round_id", type=int)
@click.argument("amount")
@network_opt
@deployments_opt
@account_opt
@wallet_opt
@json_opt
def round_fund(round_id: int, amount: str, network: str, deployments_dir: Path | None,
               account: str | None, wallet: str | None, as_json: bool) -> None:
    """Fund the payouts of ROUND_ID with AMOUNT NMR from the sender (anyone may fund)."""
    from nmrstake.amounts import format_nmr, parse_nmr
    from nmrstake.chain.signers import resolve_account
    from nmrstake.cli_common import chain_session, emit_json
    from nmrstake.rounds import fund_round

    wei = parse_nmr(amount, argument="AMOUNT", positive=True)
    with chain_session(network, deployments_dir) as client:
        funder = resolve_account(client.provider, wallet, account)
        receipt = fund_round(client, funder, round_id, wei)
        info = client.round(round_id)
    if as_json:
        emit_json({"txn": str(receipt.txn_hash), "gas_used": receipt.gas_used, "round": round_id, "funded": str(info.funded)})
    else:
        click.echo(f"funded round {round_id} with {format_nmr(wei)} NMR; now {format_nmr(info.funded)} NMR")


# ============================================================================== participants


def _delivery(client: Any, api: str | None, data_dir: Path | None) -> Any:
    """The service at --api (checked to serve this deployment), else the local submission store."""
    from nmrstake.participant import LocalDelivery

    if api:
        from nmrstake.service.client import ServiceClient

        service = ServiceClient(api)
        service.check_deployment(client.domain)
        return service
    layout = _layout(client, data_dir)
    if data_dir is None and not layout.store().db_path.exists():
        raise ConfigError("no tournament service given: pass --api URL (or set $NMRSTAKE_API) to upload your "
                          f"predictions to it (on the operator's own machine, --data-dir; no store at {layout.root})")
    return LocalDelivery(client, layout, create=False)


def _results(client: Any, api: str | None, data_dir: Path | None) -> Any:
    from nmrstake.participant import LocalResults, ServiceResults

    if api:
        from nmrstake.service.client import ServiceClient

        service = ServiceClient(api)
        service.check_deployment(client.domain)
        return ServiceResults(service)
    return LocalResults(_layout(client, data_dir))


def _send_predictions(round_id: int, model: str, wei: int, predictions: Path, wallet: str | None,
                      account: str | None, network: str, deployments_dir: Path | None, data_dir: Path | None,
                      api: str | None, as_json: bool) -> dict[str, Any]:
    from nmrstake.chain.signers import resolve_account
    from nmrstake.cli_common import chain_session
    from nmrstake.models import check_model_name
    from nmrstake.participant import stake_predictions
    from nmrstake.receipts import ReceiptBook

    check_model_name(model, argument="--model")
    if not predictions.is_file():
        raise InputError(f"--predictions {predictions}: no such file")
    say = (lambda m: None) if as_json else click.echo  # --json: the one document says it all
    with chain_session(network, deployments_dir, api) as client:
        staker = resolve_account(client.provider, wallet, account)
        delivery = _delivery(client, api, data_dir)
        return stake_predictions(client, staker, delivery, round_id, model, wei, predictions,
                                 receipts=ReceiptBook(client.domain), say=say)


@main.command()
@click.option("--round", "round_id", type=int, required=True, help="Round id")
@click.option("--model", required=True, help="Model name (lowercase letters, digits, _)")
@click.option("--amount", required=True, help="NMR to add (up to 18 decimals); 0 to only replace the predictions")
@click.option("--predictions", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Predictions file (CSV or Parquet)")
@participant_opts
def stake(round_id: int, model: str, amount: str, predictions: Path, wallet: str | None, account: str | None,
          network: str, deployments_dir: Path | None, api: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Check, upload and stake on a model's predictions for a round: the file goes to the
    tournament service (a signed receipt is kept), then one transaction stakes with a permit."""
    from nmrstake.amounts import format_nmr, parse_nmr
    from nmrstake.cli_common import emit_json

    wei = parse_nmr(amount, argument="--amount")
    result = _send_predictions(round_id, model, wei, predictions, wallet, account, network, deployments_dir,
                               data_dir, api, as_json)
    if as_json:
        emit_json(result)
    else:
        click.echo(f"stake on {model} in round {round_id}: {format_nmr(int(result['stake']))} NMR, "
                   f"committed to {result['commitment']}")


@main.command()
@click.option("--round", "round_id", type=int, required=True, help="Round id")
@click.option("--model", required=True, help="Model name of an existing stake")
@click.option("--predictions", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Predictions file (CSV or Parquet)")
@participant_opts
def submit(round_id: int, model: str, predictions: Path, wallet: str | None, account: str | None, network: str,
           deployments_dir: Path | None, api: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Upload predictions again without changing the stake's amount: the same file (a lost
    upload) sends nothing on chain; a new file also moves the stake's commitment to it."""
    from nmrstake.cli_common import emit_json

    result = _send_predictions(round_id, model, 0, predictions, wallet, account, network, deployments_dir,
                               data_dir, api, as_json)
    if as_json:
        emit_json(result)
    else:
        click.echo(f"predictions for {model} in round {round_id}: {result['commitment']}")


@main.command()
@click.argument("address", required=False)
@wallet_opt
@account_opt
@network_opt
@deployments_opt
@api_opt
@json_opt
def balance(address: str | None, wallet: str | None, account: str | None, network: str, deployments_dir: Path | None,
            api: str | None, as_json: bool) -> None:
    """A wallet's NMR and ether, and its NMR allowance for the tournament (ADDRESS, --wallet or --account)."""
    from nmrstake.amounts import format_nmr
    from nmrstake.chain.signers import deployer_account
    from nmrstake.cli_common import chain_session, emit_json
    from nmrstake.hashing import checksum_address
    from nmrstake.wallet import Keystore

    if sum(x is not None for x in (address, wallet, account)) != 1:
        raise InputError("give one of ADDRESS, --wallet NAME or --account ALIAS")
    if address is not None:
        address = checksum_address(address, argument="ADDRESS")
    elif wallet is not None:
        address = Keystore().address(wallet)
    if api and address is not None:
        # Through the service: no ape, no chain connection here (the service reads the chain).
        from nmrstake.service.client import ServiceClient

        found = ServiceClient(api).get(f"/v1/accounts/{address}")
        who, tournament = str(found["address"]), str(found["tournament"])
        nmr, ether, allowance = int(found["nmr"]), int(found["ether"]), int(found["allowance"])
    else:
        with chain_session(network, deployments_dir, api) as client:
            who = address or str(deployer_account(client.provider, account).address)
            nmr = int(client.token.balanceOf(who))
            ether = int(client.provider.get_balance(who))
            allowance = int(client.token.allowance(who, client.tournament.address))
            tournament = str(client.tournament.address)
    if as_json:
        emit_json({"address": who, "nmr": str(nmr), "ether": str(ether), "allowance": str(allowance),
                   "tournament": tournament})
    else:
        click.echo(f"{who}: {format_nmr(nmr)} NMR, {format_nmr(ether)} ETH; "
                   f"allowance for the tournament {format_nmr(allowance)} NMR")


@main.command()
@participant_opts
def status(wallet: str | None, account: str | None, network: str, deployments_dir: Path | None,
           api: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Rounds, my stakes per round, published results and what is claimable (with --api, all
    read through the service: no chain connection here)."""
    from nmrstake.amounts import format_nmr
    from nmrstake.cli_common import emit_json, table
    from nmrstake.wallet import Keystore

    address = Keystore().address(wallet) if wallet else None
    if api and account is None:
        from nmrstake.service.client import ServiceClient

        service = ServiceClient(api)
        rounds_json = service.get("/v1/rounds")
        positions = service.get(f"/v1/stakers/{address}")["stakes"] if address else []
    else:
        from nmrstake.cli_common import chain_session
        from nmrstake.participant import my_positions

        with chain_session(network, deployments_dir, api) as client:
            rounds_json = [_round_json(i) for i in client.rounds()]
            if account:
                from nmrstake.chain.signers import deployer_account

                address = deployer_account(client.provider, account).address
            positions = my_positions(client, _results(client, api, data_dir), address) if address else []
    if as_json:
        emit_json({"rounds": rounds_json, "address": address, "stakes": positions})
        return
    if rounds_json:
        click.echo(table([(i["round"], i["state"], i["stake_count"], format_nmr(int(i["total_staked"]))) for i in rounds_json],
                         ["round", "state", "stakes", "staked"]))
    else:
        click.echo("no rounds yet")
    if address:
        click.echo(f"\nstakes of {address}:")
        if not positions:
            click.echo("  none")
        else:
            def score(p: dict[str, Any]) -> str:
                value = p.get("score")
                return "" if value is None else value if isinstance(value, str) else f"{value:.5f}"

            rows = [(p["round"], p["model"], format_nmr(int(p["stake"])), p["state"], score(p),
                     format_nmr(int(p["payout"])) if p.get("payout") is not None else "",
                     format_nmr(int(p["burn"])) if p.get("burn") is not None else "", p["claim"])
                    for p in positions]
            click.echo(table(rows, ["round", "model", "stake", "state", "score", "payout", "burn", "claim"]))


@main.command()
@click.option("--round", "round_id", type=int, help="Claim in this round")
@click.option("--all", "all_rounds", is_flag=True, help="Claim in every final round")
@participant_opts
def claim(round_id: int | None, all_rounds: bool, wallet: str | None, account: str | None, network: str,
          deployments_dir: Path | None, api: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Claim stake − burn + payout with proofs from the published results (one transaction)."""
    from nmrstake.amounts import format_nmr
    from nmrstake.chain.signers import resolve_account
    from nmrstake.cli_common import chain_session, emit_json
    from nmrstake.participant import claim_all

    if (round_id is None) == (not all_rounds):
        raise InputError("give --round R or --all")
    with chain_session(network, deployments_dir, api) as client:
        staker = resolve_account(client.provider, wallet, account)
        result = claim_all(client, staker, _results(client, api, data_dir),
                           None if all_rounds or round_id is None else [round_id])
    if as_json:
        emit_json(result)
    elif not result["claims"]:
        reasons = "; ".join(f"round {w['round']}{' ' + w['model'] if 'model' in w else ''}: {w['why']}"
                            for w in result["not_claimable"])
        click.echo(f"nothing to claim{': ' + reasons if reasons else ' (no stakes)'}")
    else:
        for c in result["claims"]:
            click.echo(f"round {c['round']} {c['model']}: received {format_nmr(int(c['amount']))} NMR "
                       f"(stake {format_nmr(int(c['stake']))} − burn {format_nmr(int(c['burn']))} + payout {format_nmr(int(c['payout']))})")
        click.echo(f"txn {result['txn']}  gas {result['gas_used']}")


# ============================================================================== scoring and oracle


@main.command()
@click.argument("predictions", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--targets", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--meta-model", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--stakes", type=click.Path(dir_okay=False, path_type=Path), default=None, help="CSV model,stake (weights of the meta model)")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write model,corr,mmc to this CSV")
@json_opt
def score(predictions: tuple[Path, ...], targets: Path, meta_model: Path | None, stakes: Path | None,
          output: Path | None, as_json: bool) -> None:
    """Score models: CORR and MMC with numerai-tools. PREDICTIONS: one file per model (name = file
    stem), or one wide file with a column per model."""
    from nmrstake.cli_common import emit_json
    from nmrstake.scorecli import score_files

    frame = score_files(list(predictions), targets, meta_model, stakes)
    if output:
        from nmrstake.deploy import write_atomic

        write_atomic(output, frame.to_csv(index=False, float_format="%.17g"))
    if as_json:
        emit_json([{"model": m, "corr": float(c), "mmc": float(x)} for m, c, x in frame[["model", "corr", "mmc"]].itertuples(index=False)])
    elif not output:
        click.echo(frame.to_csv(index=False, float_format="%.17g").rstrip())
    else:
        click.echo(f"scored {len(frame)} models into {output}")


@main.group()
def oracle() -> None:
    """The oracle daemon: score rounds, publish results, post them, finalise."""


@oracle.command("run")
@network_opt
@account_opt
@wallet_opt
@deployments_opt
@data_opt
@click.option("--once", is_flag=True, help="One pass over the rounds, then exit")
@click.option("--confirmations", default=0, show_default=True, help="Blocks to wait after each transaction")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between passes")
@click.option("--log-json", is_flag=True, help="One JSON object per log line")
def oracle_run(network: str, account: str | None, wallet: str | None, deployments_dir: Path | None,
               data_dir: Path | None, once: bool, confirmations: int, interval: float, log_json: bool) -> None:
    """Resolve rounds as they become ready; exactly once, restart-safe."""
    from nmrstake.chain.connect import connect, load_project
    from nmrstake.chain.signers import resolve_account
    from nmrstake.oracle import EventLog, Oracle, clean_stale_temporaries, run_daemon
    from nmrstake.tournament import TournamentClient

    log = EventLog(json_lines=log_json)
    project = load_project()
    with connect(network) as provider:
        oracle_account = resolve_account(provider, wallet, account)
        log("starting", network=network, chain=provider.chain_id, account=oracle_account.address)

        def make() -> Oracle:
            client = TournamentClient.connect(project, deployments_dir)
            layout = _layout(client, data_dir)
            clean_stale_temporaries(layout.results_dir)
            return Oracle(client, oracle_account, layout, confirmations=confirmations, log=log)

        code = run_daemon(make, once=once, interval=interval, log=log)
    sys.exit(code)


@oracle.command("status")
@network_opt
@deployments_opt
@data_opt
@json_opt
def oracle_status(network: str, deployments_dir: Path | None, data_dir: Path | None, as_json: bool) -> None:
    """What the oracle would do next for each round."""
    from nmrstake.cli_common import chain_session, emit_json, table
    from nmrstake.oracle import Oracle

    with chain_session(network, deployments_dir) as client:
        o = Oracle(client, None, _layout(client, data_dir))
        plans = o.plans()
    if as_json:
        emit_json([{"round": p.round_id, "state": p.state.label, "action": p.action.value, "reason": p.reason} for p in plans])
    elif not plans:
        click.echo("no rounds")
    else:
        click.echo(table([(p.round_id, p.state.label, p.action.value, p.reason) for p in plans],
                         ["round", "state", "next", "why"]))


@main.command()
@click.argument("round_id", type=int)
@network_opt
@deployments_opt
@api_opt
@data_opt
@click.option("--results", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A published round folder (default: from --data-dir); with --api, where to download it "
                   "(default: a temporary folder)")
@json_opt
def verify(round_id: int, network: str, deployments_dir: Path | None, api: str | None, data_dir: Path | None,
           results: Path | None, as_json: bool) -> None:
    """Recompute a round from its published inputs and check it against the chain. With --api,
    download the round first from the service (or any mirror of it): the manifest must hash to
    the on-chain resultsHash and every file to the manifest's keccak-256, so nothing downloaded
    is trusted. Delivery receipts kept on this machine are checked too."""
    import tempfile

    from nmrstake.cli_common import chain_session, emit_json
    from nmrstake.receipts import ReceiptBook
    from nmrstake.verify import check_receipts, download_round, verify_round

    with chain_session(network, deployments_dir, api) as client, tempfile.TemporaryDirectory(prefix="nmrstake-verify-") as tmp:
        fetched: list[str] = []
        if api:
            from nmrstake.service.client import ServiceClient

            service = ServiceClient(api)
            service.check_deployment(client.domain)
            info = client.round(round_id)
            if not info.posted_at:
                raise ChainError(f"round {round_id} has no result posted on chain: nothing to verify yet")
            folder = results or Path(tmp) / f"round-{round_id}"
            if folder.exists() and any(folder.iterdir()):
                raise InputError(f"--results {folder}: the folder exists and is not empty; give a new one")
            fetched = download_round(service, round_id, folder, info.results_hash)
        else:
            folder = results or _layout(client, data_dir).published(round_id)
        report = verify_round(client, round_id, folder)
        report.checks[:0] = fetched
        check_receipts(report, client, ReceiptBook(client.domain).for_round(round_id))
    if as_json:
        emit_json(report.to_json())
    else:
        for line in report.checks:
            click.echo(f"ok    {line}")
        for line in report.differences:
            click.echo(f"FAIL  {line}")
    if report.differences:
        click.echo(f"error: round {round_id} does not verify: {report.differences[0]}", err=True)
        sys.exit(1)


# ============================================================================== service


@main.command()
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


# ============================================================================== data


@main.group()
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
    from nmrstake.cli_common import emit_json
    from nmrstake.synth import generate, write

    if rows < 10 or models < 1:
        raise InputError("--rows must be at least 10 and --models at least 1")
    d = generate(rows=rows, models=models, seed=seed, round_index=round_index)
    path = write(d, out, overwrite=overwrite)
    if as_json:
        emit_json({"out": str(path), "rows": rows, "models": models, "seed": seed})
    else:
        click.echo(f"wrote {rows} rows and {models} models' predictions to {path}")


# ============================================================================== demo


@main.command()
@click.option("--network", default=None,
              help="A local ape network instead of the default, a local Anvil the demo starts and stops: "
                   "ethereum:local:test (everything in this process, on the embedded EVM) or "
                   "ethereum:local:foundry (the node at $APE_FOUNDRY_HOST or 127.0.0.1:8545, e.g. `nmrstake node`)")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("out/demo"), show_default=True)
@click.option("--participants", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--rounds", "n_rounds", default=3, show_default=True, type=click.IntRange(1, 20))
@click.option("--rows", default=2000, show_default=True, type=click.IntRange(100, None))
@click.option("--seed", default=1, show_default=True)
@click.option("--workers", default=4, show_default=True, type=click.IntRange(1, 32),
              help="Participants taking part at the same time (each from its own wallet)")
@click.option("--keep/--no-keep", default=None,
              help="After the summary, keep the chain and the service (the dashboard) up until Ctrl-C "
                   "[default: keep when stdout is a terminal]")
@json_opt
def demo(network: str | None, out: Path, participants: int, n_rounds: int, rows: int, seed: int, workers: int,
         keep: bool | None, as_json: bool) -> None:
    """Run a whole tournament on a local chain, every part a process of its own, and print what
    happened: the books, the published files, the dashboard's address."""
    click.echo("nmrstake demo: starting (progress on stderr)", err=True)  # before ape is imported
    from nmrstake.demo.progress import Progress

    progress = Progress()
    if network is not None:
        from nmrstake.chain.connect import is_local_network

        if not is_local_network(network):
            raise ConfigError(f"--network {network}: the demo runs only on local networks")
    from nmrstake.demo.runner import DemoOptions, run_demo
    from nmrstake.localchain import is_interrupt

    if keep is None:
        keep = sys.stdout.isatty() and not as_json
    options = DemoOptions(out=out, participants=participants, n_rounds=n_rounds, rows=rows, seed=seed,
                          network=network, keep=keep, quiet=as_json, workers=workers)
    try:
        summary = run_demo(options, progress)
    except BaseException as exc:
        if not is_interrupt(exc):
            raise
        click.echo("\ninterrupted: every process the demo started is stopped", err=True)
        sys.exit(130)
    if as_json:
        from nmrstake.cli_common import emit_json

        emit_json(summary)


@main.command()
@click.option("--port", default=8545, show_default=True, type=click.IntRange(1, 65535),
              help="Port to listen on (ape-foundry's default: --network ethereum:local:foundry finds it)")
@click.option("--block-time", default=1.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="Seconds without a block after which an empty one is mined (transactions are mined at once)")
def node(port: int, block_time: float) -> None:
    """A local chain for manual runs, in the foreground until Ctrl-C: Anvil with ape's test
    accounts, mining each transaction at once and an empty block whenever none came for
    --block-time seconds, so chain time moves like a real network's. Other commands reach it
    with --network ethereum:local:foundry."""
    import time

    from nmrstake.localchain import is_interrupt, moving_anvil, port_in_use

    with moving_anvil(port, block_time=block_time, inherit_output=True) as chain_node:
        click.echo(f"local chain at {chain_node.url} (pid {chain_node.pid}), a block at least every "
                   f"{block_time:g} s; Ctrl-C to stop", err=True)
        try:
            while port_in_use(chain_node.port):
                time.sleep(1)
        except BaseException as exc:
            if not is_interrupt(exc):
                raise
            click.echo("stopping the local chain", err=True)
            return
    raise ConfigError(f"the local chain at {chain_node.url} stopped by itself")


# ============================================================================== strategies
# Registered last: the strategy commands use helpers defined above (_delivery).
from nmrstake.strategies.cli import operator as _operator_group  # noqa: E402
from nmrstake.strategies.cli import strategy as _strategy_group  # noqa: E402

main.add_command(_strategy_group)
main.add_command(_operator_group)


if __name__ == "__main__":
    main()

