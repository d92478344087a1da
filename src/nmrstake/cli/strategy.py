"""`nmrstake strategy ...` for a strategy's owner and `nmrstake operator ...` for the operator.

The owner's commands stand on web3.py and eth-account alone (:mod:`nmrstake.client.strategy`):
with `--network` a node's URL, none of them imports ape (only `strategy submit` without `--api`,
which uploads into the operator's own store on the operator's machine, connects through ape).
The operator's daemon (:mod:`nmrstake.strategy_operator`) stays on ape."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from nmrstake.cli.options import (
    account_opt,
    api_opt,
    data_opt,
    deployments_opt,
    json_opt,
    network_opt,
    participant_opts,
    wallet_opt,
)
from nmrstake.cli.output import emit_json, table
from nmrstake.cli.session import chain_session, data_layout
from nmrstake.errors import ConfigError, InputError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from nmrstake.client.api import Participant
    from nmrstake.client.results import Results
    from nmrstake.client.strategy import Strategies
    from nmrstake.tournament import TournamentClient


def _say(as_json: bool) -> Callable[[str], None]:
    return (lambda m: None) if as_json else click.echo


def _default_owner(chain_id: int, options: str = "--wallet NAME or --account ALIAS") -> tuple[LocalAccount, str]:
    """Without --wallet or --account: test account 0 on a local chain (as every command there),
    else nothing is sent from a guess."""
    from nmrstake.client.signer import LOCAL_CHAIN_IDS, from_test_mnemonic

    if chain_id not in LOCAL_CHAIN_IDS:
        raise ConfigError(f"give {options}: whose strategy? (test account 0, the default on a local chain, is not "
                          f"one on chain {chain_id})")
    return from_test_mnemonic(0, chain_id), "--account TEST::0"


@contextmanager
def _owner_session(network: str, deployments_dir: Path | None, api: str | None, data_dir: Path | None,
                   wallet: str | None, account: str | None, *,
                   local_delivery: bool = False) -> Iterator[tuple[Strategies, LocalAccount, str, Participant]]:
    """(strategies acted on by the owner, the owner's key, the option that named it, the
    participant's session) for the strategy owner's commands: web3.py and eth-account, no ape
    unless `local_delivery` without --api (the operator's own store)."""
    from nmrstake.cli.session import participant_session
    from nmrstake.client.strategy import Strategies

    with participant_session(network, deployments_dir, api, data_dir, wallet=wallet, account=account,
                             local_delivery=local_delivery) as me:
        if me.account is not None:
            key, named = me.account, (f"--wallet {wallet}" if wallet else f"--account {account}")
        else:
            key, named = _default_owner(me.chain.deployment.chain_id)
        yield Strategies(me.chain, key), key, named, me


def _address_of(wallet: str | None, account: str | None, chain_id: int) -> tuple[str, str]:
    """The address --wallet or --account names, without its passphrase (a keystore file says its
    address), and the option that named it."""
    import json

    from nmrstake.client.signer import ape_accounts_folder, from_account_option

    if wallet and account:
        raise InputError("give --wallet or --account, not both")
    if wallet:
        from nmrstake.wallet import Keystore

        return Keystore().address(wallet), f"--wallet {wallet}"
    if account is None:
        return str(_default_owner(chain_id, "--owner ADDRESS, --wallet NAME or --account ALIAS")[0].address), \
            "--account TEST::0"
    if account.upper().startswith("TEST::"):
        return str(from_account_option(account, chain_id).address), f"--account {account}"
    path = ape_accounts_folder() / f"{account}.json"
    try:
        address = str(json.loads(path.read_text())["address"])
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"--account {account}: no such ape account ({path} is missing or names no address)") from None
    from nmrstake.hashing import checksum_address

    return checksum_address(address if address.startswith("0x") else "0x" + address,
                            argument=f"--account {account}"), f"--account {account}"


@click.group()
def strategy() -> None:
    """Your allocation strategy: a contract you own that stakes your models every round.

    Create it once, deposit NMR, set a per-round stake and a mode per model; upload predictions
    each round with `strategy submit`. The operator then stakes, claims and restakes for you; it
    can never send your NMR anywhere but a stake and back, and you can revoke it at any time."""


@strategy.command("create")
@click.option("--operator", "operator_address", default=None,
              help="Operator address (default: the deployment's StrategyInvoker, run by the tournament operator)")
@click.option("--no-operator", is_flag=True, help="No operator: you stake through the strategy yourself")
@participant_opts
def strategy_create(operator_address: str | None, no_operator: bool, wallet: str | None, account: str | None,
                    network: str, deployments_dir: Path | None, api: str | None, data_dir: Path | None,
                    as_json: bool) -> None:
    """Create your strategy (one per wallet, at an address fixed by your wallet's)."""
    from nmrstake.client.strategy import INVOKER
    from nmrstake.hashing import checksum_address

    chosen = None if no_operator else (checksum_address(operator_address, argument="--operator")
                                       if operator_address else INVOKER)
    with _owner_session(network, deployments_dir, api, data_dir, wallet, account) as (strategies, _, _, _):
        made = strategies.create(chosen)
    result = {"strategy": made.strategy, "owner": made.owner, "operator": made.operator,
              "txn": made.sent.txn_hash, "gas_used": made.sent.gas_used}
    if as_json:
        emit_json(result)
    else:
        click.echo(f"created strategy {made.strategy} for {made.owner}, operated by {made.operator or 'nobody'}")


@strategy.command("deposit")
@click.argument("amount")
@participant_opts
def strategy_deposit(amount: str, wallet: str | None, account: str | None, network: str,
                     deployments_dir: Path | None, api: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Move AMOUNT NMR from your wallet into your strategy (approves it first if needed)."""
    from nmrstake.amounts import format_nmr, parse_nmr

    wei = parse_nmr(amount, argument="AMOUNT", positive=True)
    with _owner_session(network, deployments_dir, api, data_dir, wallet, account) as (strategies, _, named, _):
        strategies.mine(argument=named)
        moved = strategies.deposit(wei, say=_say(as_json), argument="AMOUNT")
    if as_json:
        emit_json({"strategy": moved.strategy, "deposited": str(moved.amount), "idle": str(moved.idle),
                   "txn": moved.sent.txn_hash})
    else:
        click.echo(f"deposited {format_nmr(moved.amount)} NMR into {moved.strategy}; idle now {format_nmr(moved.idle)} NMR")


@strategy.command("withdraw")
@click.argument("amount")
@participant_opts
def strategy_withdraw(amount: str, wallet: str | None, account: str | None, network: str,
                      deployments_dir: Path | None, api: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Send AMOUNT of your strategy's idle NMR back to your wallet ('all' for all of it)."""
    from nmrstake.amounts import format_nmr, parse_nmr

    wei = None if amount.strip().lower() == "all" else parse_nmr(amount, argument="AMOUNT", positive=True)
    with _owner_session(network, deployments_dir, api, data_dir, wallet, account) as (strategies, signer, named, _):
        strategies.mine(argument=named)
        moved = strategies.withdraw(wei, argument="AMOUNT")
    if as_json:
        emit_json({"strategy": moved.strategy, "withdrawn": str(moved.amount), "idle": str(moved.idle),
                   "txn": moved.sent.txn_hash})
    else:
        click.echo(f"withdrew {format_nmr(moved.amount)} NMR from {moved.strategy} to {signer.address}")


@strategy.command("set")
@click.argument("model")
@click.option("--per-round", required=True, help="NMR to stake on MODEL each round (0 with --mode off)")
@click.option("--mode", required=True, type=click.Choice(["fixed", "compound", "off"]),
              help="fixed: stake --per-round, payouts stay idle; compound: --per-round plus the model's net "
                   "results since it entered compound; off: stop staking it")
@participant_opts
def strategy_set(model: str, per_round: str, mode: str, wallet: str | None, account: str | None, network: str,
                 deployments_dir: Path | None, api: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Set how MODEL is staked each round."""
    from nmrstake.amounts import format_nmr, parse_nmr
    from nmrstake.models import check_model_name
    from nmrstake.strategies.chain import Mode

    check_model_name(model, argument="MODEL")
    chosen = Mode.parse(mode)
    wei = parse_nmr(per_round, argument="--per-round", positive=chosen is not Mode.OFF)
    with _owner_session(network, deployments_dir, api, data_dir, wallet, account) as (strategies, _, named, _):
        strategies.mine(argument=named)
        done = strategies.set_model(model, wei, chosen, argument="--per-round")
    if as_json:
        emit_json({"strategy": done.strategy, **done.setting.to_json(), "txn": done.sent.txn_hash})
    else:
        click.echo(f"{model}: {chosen.label}, {format_nmr(wei)} NMR per round; next stake "
                   f"{format_nmr(done.setting.next_stake)} NMR")


@strategy.command("operator")
@click.argument("address", required=False)
@click.option("--revoke", is_flag=True, help="Remove the operator: nobody but you can stake through the strategy")
@participant_opts
def strategy_operator(address: str | None, revoke: bool, wallet: str | None, account: str | None, network: str,
                      deployments_dir: Path | None, api: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Choose your strategy's operator (ADDRESS), or --revoke it; takes effect at once."""
    from nmrstake.hashing import checksum_address

    if revoke == (address is not None):
        raise InputError("give either ADDRESS or --revoke")
    new = None if revoke else checksum_address(str(address), argument="ADDRESS")
    with _owner_session(network, deployments_dir, api, data_dir, wallet, account) as (strategies, _, named, _):
        strategy_address = strategies.mine(argument=named)
        sent = strategies.set_operator(new)
    if as_json:
        emit_json({"strategy": strategy_address, "operator": new, "txn": sent.txn_hash})
    else:
        click.echo(f"{strategy_address}: operator {'revoked' if new is None else 'is now ' + new}")


@strategy.command("submit")
@click.option("--round", "round_id", type=int, required=True, help="Round id")
@click.option("--model", required=True, help="Model name (set on your strategy)")
@click.option("--predictions", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Predictions file (CSV or Parquet)")
@participant_opts
def strategy_submit(round_id: int, model: str, predictions: Path, wallet: str | None, account: str | None,
                    network: str, deployments_dir: Path | None, api: str | None, data_dir: Path | None,
                    as_json: bool) -> None:
    """Upload predictions for your strategy's MODEL in a round, signed by your wallet; the
    operator stakes the model on them (or moves the stake to them if it already staked)."""
    from nmrstake.models import check_model_name

    check_model_name(model, argument="--model")
    if not predictions.is_file():
        raise InputError(f"--predictions {predictions}: no such file")
    with _owner_session(network, deployments_dir, api, data_dir, wallet, account,
                        local_delivery=True) as (strategies, _, named, me):
        address = strategies.mine(argument=named)
        # The service at --api, else (the operator's machine) its store through its own checks.
        delivery = me.delivery
        if delivery is None:
            raise ConfigError("no tournament service given: pass --api URL (or set $NMRSTAKE_API)")
        answer = strategies.submit(delivery, round_id, model, predictions, receipts=me.receipts, say=_say(as_json),
                                   argument="--predictions")
    if as_json:
        emit_json({"strategy": address, **answer})
    else:
        click.echo(f"uploaded {model} for round {round_id} as strategy {address}: received at "
                   f"{answer['received_at_iso']}; the operator stakes it")


@strategy.command("status")
@click.option("--owner", "owner_address", default=None, help="Show this owner's strategy (default: the signer's)")
@participant_opts
def strategy_status(owner_address: str | None, wallet: str | None, account: str | None, network: str,
                    deployments_dir: Path | None, api: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Your strategy: idle NMR, operator, each model's settings and net result, open stakes."""
    from nmrstake.amounts import format_nmr
    from nmrstake.cli.session import participant_session
    from nmrstake.client.strategy import Strategies
    from nmrstake.hashing import checksum_address

    who = checksum_address(owner_address, argument="--owner") if owner_address else None
    with participant_session(network, deployments_dir, api, data_dir) as me:  # reads only: no key unlocked
        named = f"--owner {owner_address}"
        if who is None:
            who, named = _address_of(wallet, account, me.chain.deployment.chain_id)
        strategies = Strategies(me.chain)
        address = strategies.require_strategy_of(who, argument=named)
        view = strategies.view(address)
        open_stakes = strategies.open_stakes(address)
    data = {**view.to_json(), "open_stakes": [{"round": s.round_id, "model": s.model, "amount": str(s.amount)}
                                              for s in open_stakes]}
    if as_json:
        emit_json(data)
        return
    click.echo(f"strategy {view.address} (owner {view.owner}, operator {view.operator or 'none'}): "
               f"{format_nmr(view.idle)} NMR idle, {format_nmr(sum(s.amount for s in open_stakes))} NMR staked")
    if view.models:
        click.echo(table([(m.model, m.mode.label, format_nmr(m.per_round), format_nmr(m.net), m.last_round or "-",
                           format_nmr(m.next_stake)) for m in view.models],
                         ["model", "mode", "per round", "net", "last round", "next stake"]))
    for s in open_stakes:
        click.echo(f"  round {s.round_id}: {s.model} {format_nmr(s.amount)} NMR at stake")


# ============================================================================== operator


def _source(client: TournamentClient, api: str | None, data_dir: Path | None) -> Results:
    """Where the operator reads uploads and results: the service at --api (checked to serve this
    deployment), else the service's data folder on this machine."""
    from nmrstake.client.results import LocalResults, ServiceResults

    if api:
        from nmrstake.client.http import ServiceClient

        service = ServiceClient(api)
        service.check_deployment(client.domain)
        return ServiceResults(service)
    layout = data_layout(client, data_dir)
    if not layout.store().exists():
        raise ConfigError(f"no tournament service given and no submission store at {layout.root}: pass --api URL "
                          "(or $NMRSTAKE_API), or --data-dir of the service's data folder")
    return LocalResults(layout)


@click.group()
def operator() -> None:
    """The operator daemon: stakes strategies every round, claims every final round, restakes."""


@operator.command("run")
@network_opt
@account_opt
@wallet_opt
@deployments_opt
@api_opt
@data_opt
@click.option("--once", is_flag=True, help="One pass, then exit")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between passes")
@click.option("--batch-size", default=100, show_default=True, help="Entries per batch transaction")
@click.option("--log-json", is_flag=True, help="One JSON object per log line")
def operator_run(network: str, account: str | None, wallet: str | None, deployments_dir: Path | None,
                 api: str | None, data_dir: Path | None, once: bool, interval: float, batch_size: int,
                 log_json: bool) -> None:
    """Stake, claim and restake as rounds open and become final; restart-safe, nothing twice.
    Reads the owners' uploads and the published results from the tournament service (--api), or,
    on the service's own machine, from its data folder (--data-dir)."""
    from nmrstake.chain.connect import connect, load_project
    from nmrstake.chain.signers import resolve_account
    from nmrstake.daemon import EventLog, run_daemon
    from nmrstake.strategy_operator import StrategyOperator
    from nmrstake.tournament import TournamentClient

    if batch_size < 1:
        raise InputError(f"--batch-size: at least 1, got {batch_size}")
    log = EventLog(json_lines=log_json)
    project = load_project()
    with connect(network) as provider:
        signer = resolve_account(provider, wallet, account)
        log("starting", network=network, chain=provider.chain_id, account=signer.address, api=api)

        def make() -> StrategyOperator:
            client = TournamentClient.connect(project, deployments_dir)
            return StrategyOperator(client, _source(client, api, data_dir), signer, log=log,
                                    batch_size=batch_size)

        code = run_daemon(make, once=once, interval=interval, log=log)
    sys.exit(code)


@operator.command("status")
@network_opt
@deployments_opt
@api_opt
@data_opt
@json_opt
def operator_status(network: str, deployments_dir: Path | None, api: str | None, data_dir: Path | None,
                    as_json: bool) -> None:
    """What the operator would do now, round by round (sends nothing)."""
    from nmrstake.strategy_operator import StrategyOperator

    with chain_session(network, deployments_dir, api) as client:
        steps = StrategyOperator(client, _source(client, api, data_dir), None, log=lambda *a, **k: None).tick()
    rows = [(s.round_id, s.state.label, s.action.value, s.reason) for s in steps]
    if as_json:
        emit_json([{"round": r[0], "state": r[1], "action": r[2], "reason": r[3]} for r in rows])
    else:
        click.echo(table(rows, ["round", "state", "next", "why"]) if rows else "nothing to do")
