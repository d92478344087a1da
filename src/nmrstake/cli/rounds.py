"""`nmrstake rounds`, `nmrstake round show/open/fund` and `nmrstake faucet`."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from nmrstake.cli.options import account_opt, api_opt, deployments_opt, json_opt, network_opt, parse_duration, wallet_opt
from nmrstake.cli.output import emit_json, fmt_time, table
from nmrstake.cli.session import chain_session, warn_if_time_stands_still
from nmrstake.errors import ConfigError
from nmrstake.jsontypes import JsonValue, json_int, json_object, json_objects


@click.command()
@click.argument("address", required=False)
@click.argument("amount", required=False)
@network_opt
@deployments_opt
@click.option("--api", envvar="NMRSTAKE_API", default=None,
              help="Ask the tournament service's faucet (POST /v1/faucet; or $NMRSTAKE_API) instead: no operator "
                   "files needed, the service's amounts, once a day per address")
@wallet_opt
@json_opt
def faucet(address: str | None, amount: str | None, network: str, deployments_dir: Path | None, api: str | None,
           wallet: str | None, as_json: bool) -> None:
    """Test NMR and ether for gas. With --api URL: ask the tournament service's faucet for ADDRESS
    (or --wallet NAME's address). Without: the operator mints AMOUNT test NMR to ADDRESS and tops
    its ether up to 1 ETH (local networks only)."""
    from nmrstake.errors import InputError

    if api and amount is not None and click.get_current_context().get_parameter_source("api") is ParameterSource.ENVIRONMENT:
        api = None  # ADDRESS AMOUNT is the operator's own faucet, whatever $NMRSTAKE_API says
    if api:
        if amount is not None:
            raise InputError("AMOUNT: the service's faucet gives its own amounts; give ADDRESS or --wallet only")
        _faucet_api(api, address, wallet, as_json)
        return
    if address is None or amount is None:
        raise InputError("give ADDRESS and AMOUNT (the operator's faucet), or --api URL with ADDRESS or --wallet "
                         "(the service's)")
    if wallet:
        raise InputError("--wallet: only with --api (the operator's faucet takes ADDRESS)")
    from nmrstake.amounts import format_nmr, parse_nmr
    from nmrstake.chain.connect import is_local_network
    from nmrstake.chain.signers import deployer_account
    from nmrstake.chain.transactions import send, send_ether
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
            send_ether(minter, to, gas_money, what=f"sending {format_nmr(gas_money)} ETH for gas to {to}")
    if as_json:
        emit_json({"address": to, "minted": str(wei), "balance": str(balance)})
    else:
        click.echo(f"minted {format_nmr(wei)} NMR to {to}; balance {format_nmr(balance)} NMR")


def _faucet_api(api: str, address: str | None, wallet: str | None, as_json: bool) -> None:
    """`nmrstake faucet --api URL`: the service's faucet, over HTTP only (no ape, no chain connection)."""
    from nmrstake.amounts import format_nmr
    from nmrstake.client.faucet import ask_faucet
    from nmrstake.client.http import ServiceClient
    from nmrstake.errors import InputError
    from nmrstake.hashing import checksum_address

    if (address is None) == (wallet is None):
        raise InputError("give ADDRESS or --wallet NAME (whose address receives the test NMR), one of them")
    if address is not None:
        to = checksum_address(address, argument="ADDRESS")
    else:
        from nmrstake.wallet import Keystore

        to = Keystore().address(str(wallet))  # the file's address: no passphrase needed to receive
    grant = ask_faucet(ServiceClient(api), to)
    if as_json:
        emit_json(grant.to_json())
    else:
        click.echo(f"received {format_nmr(grant.nmr)} test NMR and {format_nmr(grant.ether)} ETH for gas at "
                   f"{grant.address} (transactions {grant.nmr_txn}, {grant.ether_txn}); ask again from "
                   f"{fmt_time(grant.next_at)}")



def _rounds_read(api: str | None, network: str, deployments_dir: Path | None,
                 round_id: int | None = None) -> tuple[JsonValue, int]:
    """Rounds as the API shows them (a list, or one round) and the chain time: from the service
    with --api (no chain connection: quick), else from the chain."""
    if api:
        from nmrstake.client.http import ServiceClient

        service = ServiceClient(api)
        data = service.get("/v1/rounds" if round_id is None else f"/v1/rounds/{round_id}")
        return data, json_int(service.get_object("/healthz")["chain_time"])

    from nmrstake.cli.session import participant_session

    with participant_session(network, deployments_dir, None) as me:
        data = [i.to_json() for i in me.rounds()] if round_id is None else me.round(round_id).to_json()
        return data, me.chain.now()


@click.command()
@network_opt
@deployments_opt
@api_opt
@json_opt
def rounds(network: str, deployments_dir: Path | None, api: str | None, as_json: bool) -> None:
    """All rounds with their state, times and totals (from the service with --api)."""
    from nmrstake.amounts import format_nmr

    found, now = _rounds_read(api, network, deployments_dir)
    if as_json:
        emit_json(found)
        return
    infos = json_objects(found, "the rounds")
    if not infos:
        click.echo("no rounds yet")
        return
    rows = [
        (i["round"], i["state"], fmt_time(json_int(i["close_time"])), fmt_time(json_int(i["resolve_time"])), i["stake_count"],
         *(format_nmr(json_int(i[k])) for k in ("total_staked", "funded", "total_payout", "total_burn")))
        for i in infos
    ]
    click.echo(table(rows, ["round", "state", "closes (UTC)", "resolves (UTC)", "stakes", "staked", "funded", "paid", "burned"]))
    click.echo(f"chain time {fmt_time(now)}")
    if api:  # from the chain, the chain session has checked it
        warn_if_time_stands_still(now)


@click.group()
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
    from nmrstake.rounds import threshold_text

    found, now = _rounds_read(api, network, deployments_dir, round_id)
    if as_json:
        emit_json(found)
        return
    info = json_object(found, f"round {round_id}")
    nmr = lambda key: format_nmr(json_int(info[key]))  # noqa: E731
    time_of = lambda key: fmt_time(json_int(info[key]), now)  # noqa: E731
    bps = lambda key, per: json_int(info[key]) / per  # noqa: E731
    lines = [
        ("state", info["state"]),
        ("opens", time_of("open_time")), ("closes", time_of("close_time")),
        ("resolves", time_of("resolve_time")),
        ("score", f"{bps('corr_multiplier_bps', 10_000):g} × CORR + {bps('mmc_multiplier_bps', 10_000):g} × MMC"),
        ("clip", f"{bps('clip_bps', 100):g} %"), ("stake threshold", threshold_text(json_int(info["stake_threshold"]))),
        ("stake limits", f"{nmr('min_stake')} – {nmr('stake_cap')} NMR"),
        ("stakes", f"{info['stake_count']} ({nmr('total_staked')} NMR)"),
        ("funded", f"{nmr('funded')} NMR"),
    ]
    if info["posted_at"]:
        lines += [("result root", info["root"]), ("results hash", info["results_hash"]),
                  ("paid / burned", f"{nmr('total_payout')} / {nmr('total_burn')} NMR"),
                  ("final at", fmt_time(json_int(info["final_at"] or 0), now)), ("settled", str(info["settled"]))]
    width = max(len(k) for k, _ in lines)
    click.echo(f"round {round_id}")
    for k, v in lines:
        click.echo(f"  {k:<{width}}  {v}")
    if api:  # from the chain, the chain session has checked it
        warn_if_time_stands_still(now)


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
        emit_json({"txn": str(receipt.txn_hash), "gas_used": receipt.gas_used, **info.to_json()})
    else:
        click.echo(f"opened round {round_id}: stakes {fmt_time(info.open_time)} – {fmt_time(info.close_time)} UTC, "
                   f"resolves {fmt_time(info.resolve_time)} UTC (txn {receipt.txn_hash}, gas {receipt.gas_used})")


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
