"""`nmrstake strategy ...` for a strategy's owner and `nmrstake operator ...` for the operator.

The strategies themselves (reading and writing them on chain, the operator daemon) live in
:mod:`nmrstake.strategies`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

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
from nmrstake.cli.participant import delivery_for
from nmrstake.cli.session import chain_session, data_layout
from nmrstake.errors import ConfigError, InputError


def _say(as_json: bool) -> Any:
    return (lambda m: None) if as_json else click.echo


def _owner_session(network: str, deployments_dir: Path | None, api: str | None, wallet: str | None,
                   account: str | None) -> Any:
    """(client, strategies, owner's ape account) for the strategy owner's commands."""
    from nmrstake.chain.signers import resolve_account
    from nmrstake.strategies.chain import StrategyClient

    class _Session:
        def __enter__(self) -> tuple[Any, Any, Any]:
            self._cm = chain_session(network, deployments_dir, api)
            client = self._cm.__enter__()
            return client, StrategyClient(client), resolve_account(client.provider, wallet, account)

        def __exit__(self, *exc: Any) -> Any:
            return self._cm.__exit__(*exc)

    return _Session()


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
    from nmrstake.chain.transactions import send
    from nmrstake.hashing import checksum_address
    from nmrstake.strategies.chain import ZERO_ADDRESS

    with _owner_session(network, deployments_dir, api, wallet, account) as (client, strategies, signer):
        existing = strategies.strategy_of(signer.address)
        if existing:
            raise InputError(f"{signer.address} already has a strategy at {existing}")
        if no_operator:
            op = ZERO_ADDRESS
        elif operator_address:
            op = checksum_address(operator_address, argument="--operator")
        elif strategies.invoker_address:
            op = strategies.invoker_address
        else:
            raise ConfigError("this deployment has no StrategyInvoker: pass --operator ADDRESS or --no-operator")
        receipt = send(strategies.factory.create, op, sender=signer, what="creating the strategy")
        address = strategies.require_strategy_of(signer.address)
    result = {"strategy": address, "owner": signer.address, "operator": None if op == ZERO_ADDRESS else op,
              "txn": str(receipt.txn_hash), "gas_used": int(receipt.gas_used)}
    if as_json:
        emit_json(result)
    else:
        click.echo(f"created strategy {address} for {signer.address}, operated by {result['operator'] or 'nobody'}")


@strategy.command("deposit")
@click.argument("amount")
@participant_opts
def strategy_deposit(amount: str, wallet: str | None, account: str | None, network: str,
                     deployments_dir: Path | None, api: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Move AMOUNT NMR from your wallet into your strategy (approves it first if needed)."""
    from nmrstake.amounts import format_nmr, parse_nmr
    from nmrstake.chain.transactions import send
    from nmrstake.token import approve_exactly

    wei = parse_nmr(amount, argument="AMOUNT", positive=True)
    say = _say(as_json)
    with _owner_session(network, deployments_dir, api, wallet, account) as (client, strategies, signer):
        address = strategies.require_strategy_of(signer.address)
        held = int(client.token.balanceOf(signer.address))
        if held < wei:
            raise InputError(f"AMOUNT: {signer.address} holds {format_nmr(held)} NMR, less than {format_nmr(wei)}")
        approve_exactly(client.token, signer, address, wei, say, spender_name="your strategy")
        receipt = send(strategies.contract(address).deposit, wei, sender=signer,
                           what="depositing into the strategy")
        idle = int(client.token.balanceOf(address))
    if as_json:
        emit_json({"strategy": address, "deposited": str(wei), "idle": str(idle), "txn": str(receipt.txn_hash)})
    else:
        click.echo(f"deposited {format_nmr(wei)} NMR into {address}; idle now {format_nmr(idle)} NMR")


@strategy.command("withdraw")
@click.argument("amount")
@participant_opts
def strategy_withdraw(amount: str, wallet: str | None, account: str | None, network: str,
                      deployments_dir: Path | None, api: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Send AMOUNT of your strategy's idle NMR back to your wallet ('all' for all of it)."""
    from nmrstake.amounts import format_nmr, parse_nmr
    from nmrstake.chain.transactions import send

    with _owner_session(network, deployments_dir, api, wallet, account) as (client, strategies, signer):
        address = strategies.require_strategy_of(signer.address)
        idle = int(client.token.balanceOf(address))
        wei = idle if amount.strip().lower() == "all" else parse_nmr(amount, argument="AMOUNT", positive=True)
        if wei == 0:
            raise InputError(f"AMOUNT: the strategy {address} holds no idle NMR")
        if wei > idle:
            raise InputError(f"AMOUNT: the strategy holds {format_nmr(idle)} idle NMR, less than {format_nmr(wei)} "
                             "(staked NMR comes back when its round is claimed)")
        receipt = send(strategies.contract(address).withdraw, wei, sender=signer,
                           what="withdrawing from the strategy")
    if as_json:
        emit_json({"strategy": address, "withdrawn": str(wei), "idle": str(idle - wei), "txn": str(receipt.txn_hash)})
    else:
        click.echo(f"withdrew {format_nmr(wei)} NMR from {address} to {signer.address}")


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
    from nmrstake.chain.transactions import send
    from nmrstake.models import check_model_name, model_id
    from nmrstake.strategies.chain import Mode

    check_model_name(model, argument="MODEL")
    chosen = Mode.parse(mode)
    wei = parse_nmr(per_round, argument="--per-round", positive=chosen is not Mode.OFF)
    with _owner_session(network, deployments_dir, api, wallet, account) as (client, strategies, signer):
        address = strategies.require_strategy_of(signer.address)
        receipt = send(strategies.contract(address).setModel, model_id(model), wei, int(chosen),
                           sender=signer, what=f"setting {model}")
        setting = strategies.setting(address, model_id(model))
    if as_json:
        emit_json({"strategy": address, **setting.to_json(), "txn": str(receipt.txn_hash)})
    else:
        click.echo(f"{model}: {chosen.label}, {format_nmr(wei)} NMR per round; next stake "
                   f"{format_nmr(setting.next_stake)} NMR")


@strategy.command("operator")
@click.argument("address", required=False)
@click.option("--revoke", is_flag=True, help="Remove the operator: nobody but you can stake through the strategy")
@participant_opts
def strategy_operator(address: str | None, revoke: bool, wallet: str | None, account: str | None, network: str,
                      deployments_dir: Path | None, api: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Choose your strategy's operator (ADDRESS), or --revoke it; takes effect at once."""
    from nmrstake.chain.transactions import send
    from nmrstake.hashing import checksum_address
    from nmrstake.strategies.chain import ZERO_ADDRESS

    if revoke == (address is not None):
        raise InputError("give either ADDRESS or --revoke")
    new = ZERO_ADDRESS if revoke else checksum_address(str(address), argument="ADDRESS")
    with _owner_session(network, deployments_dir, api, wallet, account) as (client, strategies, signer):
        strategy_address = strategies.require_strategy_of(signer.address)
        receipt = send(strategies.contract(strategy_address).setOperator, new, sender=signer,
                           what="setting the operator")
    if as_json:
        emit_json({"strategy": strategy_address, "operator": None if revoke else new, "txn": str(receipt.txn_hash)})
    else:
        click.echo(f"{strategy_address}: operator {'revoked' if revoke else 'is now ' + new}")


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
    from nmrstake.hashing import keccak_file, to_hex
    from nmrstake.models import check_model_name
    from nmrstake.participant import deliver
    from nmrstake.receipts import ReceiptBook
    from nmrstake.scoring import load_predictions

    check_model_name(model, argument="--model")
    if not predictions.is_file():
        raise InputError(f"--predictions {predictions}: no such file")
    rows = len(load_predictions(predictions))
    say = _say(as_json)
    with _owner_session(network, deployments_dir, api, wallet, account) as (client, strategies, signer):
        address = strategies.require_strategy_of(signer.address)
        commitment = keccak_file(predictions)
        say(f"checked {predictions}: {rows} predictions, keccak-256 {to_hex(commitment)}")
        answer = deliver(delivery_for(client, api, data_dir), client.domain, signer, round_id, model, predictions,
                         commitment, receipts=ReceiptBook(client.domain), staker=address)
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
    from nmrstake.chain.signers import deployer_account
    from nmrstake.hashing import checksum_address
    from nmrstake.strategies.chain import StrategyClient
    from nmrstake.wallet import Keystore

    with chain_session(network, deployments_dir, api) as client:
        strategies = StrategyClient(client)
        if owner_address:
            who = checksum_address(owner_address, argument="--owner")
        elif wallet:
            who = Keystore().address(wallet)
        else:
            who = str(deployer_account(client.provider, account).address)
        address = strategies.require_strategy_of(who)
        view = strategies.view(address)
        open_stakes = [s for rid in client.round_ids() for s in client.stakes(rid, address) if s.amount > 0]
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


def _source(client: Any, api: str | None, data_dir: Path | None) -> Any:
    """Where the operator reads uploads and results: the service at --api (checked to serve this
    deployment), else the service's data folder on this machine."""
    from nmrstake.strategies.operator import LocalSource, ServiceSource

    if api:
        from nmrstake.client.http import ServiceClient

        service = ServiceClient(api)
        service.check_deployment(client.domain)
        return ServiceSource(service)
    layout = data_layout(client, data_dir)
    if not layout.store().db_path.is_file():
        raise ConfigError(f"no tournament service given and no submission store at {layout.root}: pass --api URL "
                          "(or $NMRSTAKE_API), or --data-dir of the service's data folder")
    return LocalSource(layout)


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
    from nmrstake.strategies.operator import StrategyOperator
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
    from nmrstake.strategies.operator import StrategyOperator

    with chain_session(network, deployments_dir, api) as client:
        steps = StrategyOperator(client, _source(client, api, data_dir), None, log=lambda *a, **k: None).tick()
    rows = [(s.round_id, s.state.label, s.action.value, s.reason) for s in steps]
    if as_json:
        emit_json([{"round": r[0], "state": r[1], "action": r[2], "reason": r[3]} for r in rows])
    else:
        click.echo(table(rows, ["round", "state", "next", "why"]) if rows else "nothing to do")
