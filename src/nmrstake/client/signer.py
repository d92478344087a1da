"""The participant's key, as eth-account holds it, from wherever the participant keeps it: an
nmrstake wallet, an ape (or any Web3 Secret Storage) keystore file, or an environment variable.
Nothing here imports ape."""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from nmrstake.errors import ConfigError, InputError
from nmrstake.jsontypes import JsonValue

#: The environment variable `Signer.from_env` reads by default.
KEY_ENV = "NMRSTAKE_PRIVATE_KEY"


def from_wallet(name: str, passphrase: str | None = None, *, directory: str | os.PathLike[str] | None = None) -> LocalAccount:
    """An nmrstake wallet (`nmrstake wallet create|import`), decrypted with `passphrase` (default:
    `$NMRSTAKE_PASSPHRASE`)."""
    from nmrstake.wallet import Keystore, passphrase_from_env

    secret = passphrase if passphrase is not None else passphrase_from_env(name)
    if secret is None:
        raise ConfigError(f"wallet {name}: no passphrase given (pass one, or set NMRSTAKE_PASSPHRASE)")
    return Keystore(directory).load(name, secret)


def from_keyfile(path: str | os.PathLike[str], passphrase: str) -> LocalAccount:
    """A Web3 Secret Storage keystore file, such as ape's `~/.ape/accounts/<alias>.json`, read
    without ape."""
    file = Path(path)
    try:
        data: JsonValue = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{file}: not a readable keystore file ({exc})") from None
    if not isinstance(data, (dict, str)):  # what eth-account decrypts (it raises a TypeError on anything else)
        raise InputError(f"{file}: not a readable keystore file (a JSON {type(data).__name__}, not an object)")
    try:
        key = Account.decrypt(data, passphrase)
    except ValueError as exc:
        raise InputError(f"{file}: cannot decrypt ({exc}): wrong passphrase?") from None
    return Account.from_key(key)


def from_env(variable: str = KEY_ENV) -> LocalAccount:
    """A private key (0x-hex) from the environment."""
    text = os.environ.get(variable, "").strip()
    if not text:
        raise ConfigError(f"${variable} is not set: it should hold the private key (0x and 64 hex digits)")
    try:
        return Account.from_key(text)
    except (ValueError, TypeError):
        raise InputError(f"${variable}: not a private key (0x and 64 hex digits)") from None


#: The mnemonic of ape's and Anvil's test accounts (ape-config.yaml's `test.mnemonic`), and their path.
TEST_MNEMONIC = "test test test test test test test test test test test junk"
TEST_HD_PATH = "m/44'/60'/0'/0/{}"
#: How many there are (ape-config.yaml's `test.number_of_accounts`, ape's default).
TEST_ACCOUNTS = 10
#: Chains whose test accounts are everybody's: Anvil and Hardhat (31337), Ganache (1337), ape's
#: embedded chain (eth-tester's 131277322940537). `TEST::N` is refused anywhere else.
LOCAL_CHAIN_IDS = frozenset({31337, 1337, 131277322940537})


def from_test_mnemonic(index: int, chain_id: int) -> LocalAccount:
    """Test account `index` (ape's `TEST::N`, Anvil's N-th account) on a local chain."""
    if chain_id not in LOCAL_CHAIN_IDS:
        raise ConfigError(f"--account TEST::{index}: test accounts are for local chains, and chain {chain_id} is not one")
    if not 0 <= index < TEST_ACCOUNTS:
        raise ConfigError(f"--account TEST::{index}: no such test account (TEST::0 to TEST::{TEST_ACCOUNTS - 1})")
    Account.enable_unaudited_hdwallet_features()
    account: LocalAccount = Account.from_mnemonic(TEST_MNEMONIC, account_path=TEST_HD_PATH.format(index))
    return account


def ape_accounts_folder() -> Path:
    """Where ape keeps its accounts' keystore files: `$APE_DATA_FOLDER/accounts` (default ~/.ape)."""
    return Path(os.environ.get("APE_DATA_FOLDER") or Path.home() / ".ape") / "accounts"


def from_ape_alias(alias: str, passphrase: str | None = None) -> LocalAccount:
    """An ape account (`ape accounts import ALIAS`) read from its keystore file without ape: the
    passphrase as given, else `$APE_ACCOUNTS_<ALIAS>_PASSPHRASE` (ape's own variable), else a prompt
    on a terminal."""
    import sys

    path = ape_accounts_folder() / f"{alias}.json"
    if not path.is_file():
        raise ConfigError(f"--account {alias}: no such ape account ({path} does not exist)")
    secret = passphrase or os.environ.get(f"APE_ACCOUNTS_{alias}_PASSPHRASE")
    if secret is None:
        if not sys.stdin.isatty():
            raise InputError(f"--account {alias}: no passphrase: set $APE_ACCOUNTS_{alias}_PASSPHRASE, or type it at "
                             "the prompt of a terminal")
        import click

        secret = click.prompt(f"Passphrase for ape account '{alias}'", hide_input=True, err=True)
    return from_keyfile(path, secret)


def from_account_option(alias: str, chain_id: int) -> LocalAccount:
    """The key `--account ALIAS` names: `TEST::N` on a local chain, else an ape account's keystore."""
    if alias.upper().startswith("TEST::"):
        try:
            index = int(alias.split("::", 1)[1])
        except ValueError:
            raise InputError(f"--account {alias}: no such test account (TEST::N, N a number)") from None
        return from_test_mnemonic(index, chain_id)
    return from_ape_alias(alias)
