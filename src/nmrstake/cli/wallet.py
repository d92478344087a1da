"""`nmrstake wallet ...`: encrypted keystores."""

from __future__ import annotations

import click

from nmrstake.cli.options import json_opt
from nmrstake.cli.output import emit_json, table
from nmrstake.errors import InputError


@click.group()
def wallet() -> None:
    """Encrypted keystores (Web3 Secret Storage; ape-compatible) in ~/.nmrstake/wallets."""


@wallet.command("new")
@click.argument("name")
@json_opt
def wallet_new(name: str, as_json: bool) -> None:
    """Create a wallet with a new random key."""
    from nmrstake.chain.signers import ask_passphrase
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
    from nmrstake.wallet import Keystore, validate_name

    validate_name(name)
    store = Keystore()
    if store.exists(name):
        raise InputError(f"wallet '{name}' already exists at {store.path(name)}")
    what = "mnemonic" if mnemonic else "private key"
    try:
        secret = click.prompt(what.capitalize() + ("" if mnemonic else " (hex)"), hide_input=True, err=True)
    except click.Abort:  # end of input before a line (stdin empty or closed): say what is missing
        click.echo(err=True)  # end the prompt's line
        raise InputError(f"no {what} given: type it at the prompt, or pipe it on stdin (one line)") from None
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
    from nmrstake.wallet import Keystore

    address = Keystore().address(name)
    if as_json:
        emit_json({"name": name, "address": address})
    else:
        click.echo(address)
