"""The participant's key, as eth-account holds it, from wherever the participant keeps it: an
nmrstake wallet, an ape (or any Web3 Secret Storage) keystore file, or an environment variable.
Nothing here imports ape."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from nmrstake.errors import ConfigError, InputError

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
        data: Any = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{file}: not a readable keystore file ({exc})") from None
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
