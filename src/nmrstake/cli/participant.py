"""The participant's commands: `nmrstake stake`, `submit`, `balance`, `status`, `claim` and `verify`."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from nmrstake.cli.options import account_opt, api_opt, data_opt, deployments_opt, json_opt, network_opt, participant_opts, wallet_opt
from nmrstake.cli.output import emit_json, table
from nmrstake.cli.session import participant_session
from nmrstake.errors import InputError

if TYPE_CHECKING:
    from nmrstake.client.api import Participant
    from nmrstake.client.positions import PhaseTotal
    from nmrstake.client.staking import StakeJson
    from nmrstake.results.layout import DataLayout


def data_layout_of(me: Participant, data_dir: Path | None) -> DataLayout:
    """The tournament's data folder on this machine: --data-dir, else the default one of its chain and contract."""
    from nmrstake.results.layout import DataLayout, default_data_root

    domain = me.chain.domain
    return DataLayout(data_dir or default_data_root(domain.chain_id, domain.tournament))


def _send_predictions(round_id: int, model: str, wei: int, predictions: Path, wallet: str | None,
                      account: str | None, network: str, deployments_dir: Path | None, data_dir: Path | None,
                      api: str | None, as_json: bool) -> StakeJson:
    from nmrstake.models import check_model_name

    check_model_name(model, argument="--model")
    if not predictions.is_file():
        raise InputError(f"--predictions {predictions}: no such file")
    say = (lambda m: None) if as_json else click.echo  # --json: the one document says it all
    with participant_session(network, deployments_dir, api, data_dir, wallet=wallet, account=account,
                             local_delivery=True) as me:
        if me.address is None:
            raise InputError("give --wallet NAME or --account ALIAS: who stakes")
        return me.stake(model, wei, predictions, round_id, say=say).to_json()


@click.command()
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

    wei = parse_nmr(amount, argument="--amount")
    result = _send_predictions(round_id, model, wei, predictions, wallet, account, network, deployments_dir,
                               data_dir, api, as_json)
    if as_json:
        emit_json(result)
    else:
        click.echo(f"stake on {model} in round {round_id}: {format_nmr(int(result['stake']))} NMR, "
                   f"committed to {result['commitment']}")


@click.command()
@click.option("--round", "round_id", type=int, required=True, help="Round id")
@click.option("--model", required=True, help="Model name of an existing stake")
@click.option("--predictions", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Predictions file (CSV or Parquet)")
@participant_opts
def submit(round_id: int, model: str, predictions: Path, wallet: str | None, account: str | None, network: str,
           deployments_dir: Path | None, api: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Upload predictions again without changing the stake's amount: the same file (a lost
    upload) sends nothing on chain; a new file also moves the stake's commitment to it."""

    result = _send_predictions(round_id, model, 0, predictions, wallet, account, network, deployments_dir,
                               data_dir, api, as_json)
    if as_json:
        emit_json(result)
    else:
        click.echo(f"predictions for {model} in round {round_id}: {result['commitment']}")


@click.command()
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
        from nmrstake.client.http import ServiceClient
        from nmrstake.jsontypes import json_int

        found = ServiceClient(api).get_object(f"/v1/accounts/{address}")
        who, tournament = str(found["address"]), str(found["tournament"])
        nmr, ether, allowance = json_int(found["nmr"]), json_int(found["ether"]), json_int(found["allowance"])
    else:
        with participant_session(network, deployments_dir, api, account=None if address else account) as me:
            found_balances = me.balances(address)
        who, tournament = found_balances.address, found_balances.tournament
        nmr, ether, allowance = found_balances.nmr, found_balances.ether, found_balances.allowance
    if as_json:
        emit_json({"address": who, "nmr": str(nmr), "ether": str(ether), "allowance": str(allowance),
                   "tournament": tournament})
    else:
        click.echo(f"{who}: {format_nmr(nmr)} NMR, {format_nmr(ether)} ETH; "
                   f"allowance for the tournament {format_nmr(allowance)} NMR")


@click.command()
@participant_opts
def status(wallet: str | None, account: str | None, network: str, deployments_dir: Path | None,
           api: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Rounds, where my NMR stands (stake and pending apart: at stake now, awaiting results,
    claimable, claimed, and when each changes), and my stakes per round (those through my
    allocation strategy too): for an open
    round whether the service holds the committed file, after resolution the score, payout and
    burn (the reason of an invalid stake), what is claimable now and what becomes claimable when
    (with --api, all read through the service: no chain connection here)."""
    from nmrstake.wallet import Keystore

    address = Keystore().address(wallet) if wallet else None
    strategy: str | None = None
    # Positions and rounds as the JSON documents that --json prints: the service's own, or ours.
    positions: list[Mapping[str, object]] = []
    rounds_json: Sequence[Mapping[str, object]]
    now: int | None = None
    if api and account is None:
        from nmrstake.client.http import ServiceClient
        from nmrstake.jsontypes import json_int, json_object, json_objects

        service = ServiceClient(api)
        rounds_json = json_objects(service.get("/v1/rounds"), f"{api}/v1/rounds")
        now = json_int(service.get_object("/healthz")["chain_time"])
        if address:
            mine = service.get_object(f"/v1/stakers/{address}")
            positions = [{**p, "through_strategy": False} for p in json_objects(mine["stakes"], "stakes")]
            if mine.get("owned_strategy"):
                strategy = str(json_object(mine["owned_strategy"], "owned_strategy")["strategy"])
                theirs = service.get_object(f"/v1/stakers/{strategy}")
                positions += [{**p, "through_strategy": True} for p in json_objects(theirs["stakes"], "stakes")]
    else:
        with participant_session(network, deployments_dir, api, data_dir, account=account) as me:
            rounds_json = [i.to_json() for i in me.rounds()]
            now = me.chain.chain_time()
            address = address or me.address
            if address:
                strategy = me.strategy_address(address)
                positions = [p.to_json() for p in me.positions(address)]
    from nmrstake.client.positions import phase_totals, stake_phase

    by_round = {str(r["round"]): r for r in rounds_json}
    positions = [{**p, "phase": stake_phase(p, by_round.get(str(p["round"])), now).to_json()} for p in positions]
    phases = phase_totals(positions, rounds_json, now) if address else []
    if as_json:
        emit_json({"rounds": rounds_json, "address": address, "strategy": strategy, "chain_time": now,
                   "phases": [t.to_json() for t in phases], "stakes": positions})
        return
    _print_status(rounds_json, address, strategy, positions, phases)


def _claim_cell(p: Mapping[str, object]) -> str:
    from nmrstake.amounts import format_nmr
    from nmrstake.jsontypes import json_int

    claim = str(p["claim"])
    if claim.startswith("claimable") and json_int(p.get("claimable") or 0):
        return f"claimable now: {format_nmr(json_int(p['claimable']))} NMR"
    if claim == "withdrawable" and json_int(p.get("claimable") or 0):
        return f"withdrawable now: {format_nmr(json_int(p['claimable']))} NMR"
    if p.get("final_at_iso"):
        expected = f"{format_nmr(json_int(p['expected']))} NMR " if p.get("expected") is not None else ""
        return f"{expected}claimable from {p['final_at_iso']}"
    return claim


def _phase_rows(phases: Sequence[PhaseTotal]) -> str:
    """Stake and pending apart: each phase's stakes and NMR, and when the next of them moves on."""
    from nmrstake.amounts import format_nmr
    from nmrstake.client.positions import utc

    def nmr(t: PhaseTotal) -> str:
        return f"{format_nmr(t.amount)}{' (expected)' if t.expected else ''}"

    def change(t: PhaseTotal) -> str:
        late = f"{t.late} past their results' due time, none posted" if t.late else ""
        coming = f"{t.event} {utc(t.next_change)}" if t.next_change else ""
        return "; ".join(x for x in (coming, late) if x)

    return table([(t.name, t.count, nmr(t), change(t)) for t in phases], ["", "stakes", "NMR", "next change"])


def _print_status(rounds_json: Sequence[Mapping[str, object]], address: str | None, strategy: str | None,
                  positions: Sequence[Mapping[str, object]], phases: Sequence[PhaseTotal] = ()) -> None:
    from nmrstake.amounts import format_nmr
    from nmrstake.client.positions import position_note
    from nmrstake.jsontypes import json_int

    if rounds_json:
        click.echo(table([(i["round"], i["state"], i["stake_count"], format_nmr(json_int(i["total_staked"])))
                          for i in rounds_json],
                         ["round", "state", "stakes", "staked"]))
    else:
        click.echo("no rounds yet")
    if not address:
        return

    def score(p: Mapping[str, object]) -> str:
        value = p.get("score")
        return "" if value is None else value if isinstance(value, str) else f"{value:.5f}"

    def rows(ps: Sequence[Mapping[str, object]]) -> str:
        return table([(p["round"], p["model"], format_nmr(json_int(p["stake"])), p["state"], position_note(p), score(p),
                       format_nmr(json_int(p["payout"])) if p.get("payout") is not None else "",
                       format_nmr(json_int(p["burn"])) if p.get("burn") is not None else "", _claim_cell(p))
                      for p in ps],
                     ["round", "model", "stake", "state", "upload / result", "score", "payout", "burn", "claim"])

    if phases and positions:
        click.echo(f"\nwhere the NMR of {address}{' and its strategy' if strategy else ''} stands:")
        click.echo(_phase_rows(phases))
    own = [p for p in positions if not p.get("through_strategy")]
    through = [p for p in positions if p.get("through_strategy")]
    click.echo(f"\nstakes of {address}:")
    click.echo(rows(own) if own else "  none")
    if strategy:
        click.echo(f"\nstakes through your allocation strategy {strategy} (the strategy's):")
        click.echo(rows(through) if through else "  none")
    now = sum(json_int(p.get("claimable") or 0) for p in positions)
    if now:
        click.echo(f"\nclaimable now: {format_nmr(now)} NMR (`nmrstake claim --all`; the operator also claims "
                   "every final round for every staker, strategies included)")


@click.command()
@click.option("--round", "round_id", type=int, help="Claim in this round")
@click.option("--all", "all_rounds", is_flag=True, help="Claim in every final round")
@participant_opts
def claim(round_id: int | None, all_rounds: bool, wallet: str | None, account: str | None, network: str,
          deployments_dir: Path | None, api: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Claim stake − burn + payout with proofs from the published results (one transaction)."""
    from nmrstake.amounts import format_nmr

    if (round_id is None) == (not all_rounds):
        raise InputError("give --round R or --all")
    with participant_session(network, deployments_dir, api, data_dir, wallet=wallet, account=account) as me:
        if me.address is None:
            raise InputError("give --wallet NAME or --account ALIAS: whose stakes to claim")
        result = me.claim(None if all_rounds else round_id).to_json()
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



@click.command()
@click.argument("round_id", type=int)
@network_opt
@deployments_opt
@api_opt
@data_opt
@click.option("--results", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A published round folder (default: from --data-dir); with --api, where to download it "
                   "(default: a temporary folder)")
@click.option("--dispute", "dispute", is_flag=True,
              help="When the round does not verify and its result is in its challenge period, dispute it at the "
                   "deployment's dispute desk with the first differing leaf (else the first difference) as evidence "
                   "(deposits the desk's bond; "
                   "docs/disputes.md); needs --wallet or --account")
@wallet_opt
@account_opt
@json_opt
def verify(round_id: int, network: str, deployments_dir: Path | None, api: str | None, data_dir: Path | None,
           results: Path | None, dispute: bool, wallet: str | None, account: str | None, as_json: bool) -> None:
    """Recompute a round from its published inputs and check it against the chain. With --api,
    download the round first from the service (or any mirror of it): the manifest must hash to
    the on-chain resultsHash and every file to the manifest's keccak-256, so nothing downloaded
    is trusted. Delivery receipts kept on this machine are checked too. With --dispute, a round
    that does not verify is disputed (the bond is deposited, the result rejected at once)."""
    from nmrstake.verify import check_receipts, verify_round

    if dispute and not (wallet or account):
        raise InputError("--dispute: give --wallet NAME or --account ALIAS, who disputes and deposits the bond")
    say = (lambda m: None) if as_json else click.echo
    filed = None
    with participant_session(network, deployments_dir, api, data_dir, wallet=wallet, account=account) as me:
        if api:
            report = me.verify(round_id, results)
        else:
            folder = results or data_layout_of(me, data_dir).published(round_id)
            report = verify_round(me.chain, round_id, folder)
            check_receipts(report, me.chain, me.receipts.for_round(round_id))
        if dispute and report.differences:
            from nmrstake.client.disputes import evidence_of

            filed = me.dispute(round_id, evidence_of(report), say=say)
    if as_json:
        emit_json({**report.to_json(), "dispute": None if filed is None else filed.to_json()})
    else:
        for line in report.checks:
            click.echo(f"ok    {line}")
        for line in report.differences:
            click.echo(f"FAIL  {line}")
        if filed is not None:
            click.echo(f"disputed round {round_id}'s result {filed.disputed_root} (bond {filed.bond} wei, txn "
                       f"{filed.txn}): it is rejected and never becomes final; the bond comes back with a reward "
                       "when another result is posted")
        elif dispute:
            click.echo(f"round {round_id} verifies: nothing to dispute")
    if report.differences:
        click.echo(f"error: round {round_id} does not verify: {report.differences[0]}", err=True)
        sys.exit(1)
