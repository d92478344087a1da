"""`nmrstake webhook add|list|remove`: a participant's alerts without an account (docs/service.md,
"Alerts"). Each request is signed with the participant's key (an nmrstake wallet, or `--account`),
without ape and without a chain connection: the EIP-712 domain is the one the service serves
(``/v1/info``)."""

from __future__ import annotations

import time
from typing import Any

import click

from nmrstake.cli.options import account_opt, json_opt, wallet_opt
from nmrstake.cli.output import emit_json, fmt_time, table
from nmrstake.errors import InputError

_api_required = click.option("--api", envvar="NMRSTAKE_API", required=True,
                             help="URL of the tournament service (or $NMRSTAKE_API)")


def _signer(service: Any, wallet: str | None, account: str | None) -> Any:
    from nmrstake.client.signer import from_account_option, from_wallet
    from nmrstake.jsontypes import json_int

    if wallet and account:
        raise InputError("give --wallet or --account, not both")
    if wallet:
        return from_wallet(wallet)
    if account:
        return from_account_option(account, json_int(service.info()["chain_id"]))
    raise InputError("give --wallet NAME or --account ALIAS: whose alerts (the request is signed with its key)")


def _send(action: str, url: str, api: str, wallet: str | None, account: str | None,
          models: tuple[str, ...] = ()) -> Any:
    from nmrstake.client.http import ServiceClient
    from nmrstake.jsontypes import json_int
    from nmrstake.signing import Domain, WebhookRequest

    service = ServiceClient(api)
    key = _signer(service, wallet, account)
    info = service.info()
    domain = Domain(json_int(info["chain_id"]), str(info["tournament"]))
    request = WebhookRequest.new(key.address, action, url, now=int(time.time()), models=models)
    signature = request.sign(domain, key)
    if action == "register":
        return service.register_webhook(request, signature)
    return service.delete_webhook(request, signature)


@click.group()
def webhook() -> None:
    """Alerts about my stakes, POSTed to a URL of mine and signed by the service: round opened, no
    upload near close, resolved (score, payout, burn), claimable, claimed."""


@webhook.command("add")
@click.argument("url")
@click.option("--model", "models", multiple=True, help="Only this model's alerts (repeat for several; default: "
                                                        "all of my address's)")
@_api_required
@wallet_opt
@account_opt
@json_opt
def add(url: str, models: tuple[str, ...], api: str, wallet: str | None, account: str | None, as_json: bool) -> None:
    """Register URL for my address's alerts (a request signed with my key)."""
    from nmrstake.models import check_model_label

    hook = _send("register", url, api, wallet, account, tuple(check_model_label(m, argument="--model") for m in models))
    if as_json:
        emit_json(hook)
    else:
        click.echo(f"webhook {hook['id']} for {hook['address']}: {hook['url']}")


@webhook.command("remove")
@click.argument("url")
@_api_required
@wallet_opt
@account_opt
@json_opt
def remove(url: str, api: str, wallet: str | None, account: str | None, as_json: bool) -> None:
    """Delete my webhook URL (a request signed with my key) and its deliveries."""
    hook = _send("delete", url, api, wallet, account)
    if as_json:
        emit_json(hook)
    else:
        click.echo(f"deleted webhook {hook['id']} of {hook['address']}")


@webhook.command("list")
@click.option("--address", default=None, help="Whose webhooks (default: the wallet's or account's address)")
@_api_required
@wallet_opt
@account_opt
@json_opt
def list_(address: str | None, api: str, wallet: str | None, account: str | None, as_json: bool) -> None:
    """My webhooks and their latest deliveries: status, attempts, last error."""
    from nmrstake.client.http import ServiceClient
    from nmrstake.jsontypes import json_list, json_objects

    service = ServiceClient(api)
    if address is None:
        if wallet:
            from nmrstake.wallet import Keystore

            address = Keystore().address(wallet)
        else:
            address = _signer(service, wallet, account).address
    found = service.webhooks(str(address))
    if as_json:
        emit_json(found)
        return
    hooks = json_objects(found["webhooks"], "webhooks")
    click.echo(f"webhooks of {found['address']} (deliveries signed by {found['signer']}):")
    click.echo(table([[str(h["id"]), str(h["url"]), ", ".join(str(m) for m in json_list(h["models"], "models"))
                       or "all", fmt_time(int(str(h["created_at"])))] for h in hooks],
                     ["id", "url", "models", "since"]) if hooks else "  none")
    rows = [[str(d["id"]), str(d["hook"]), str(d["event_id"]), str(d["status"]), str(d["attempts"]),
             str(d["last_error"] or "")] for d in json_objects(found["deliveries"], "deliveries")]
    if rows:
        click.echo(table(rows, ["delivery", "hook", "event", "status", "attempts", "last error"]))
