"""The accounts that sign: which one a command acts as, and EIP-712 signing through it.

An account is always an ape account (`AccountAPI`): an nmrstake wallet, decrypted once by
nmrstake's keystore and then held by ape's in-memory signer (`ApeSigner`, what an unlocked ape
`KeyfileAccount` holds), an ape alias, or a test account (`TEST::N`).
Transactions (:mod:`nmrstake.chain.transactions`) and typed messages (:func:`sign_typed`: permits,
upload authorisations, delivery receipts) are both signed by that account, never with a raw
private key (the one raw key, the service's own receipt key, is wrapped in an ape account by
:func:`key_account`). Recovering a signer from a signature stays with eth-account (see
:mod:`nmrstake.signing`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from nmrstake.errors import ChainError, ConfigError, InputError


def is_local(provider: Any) -> bool:
    return provider.network.name == "local"


def deployer_account(provider: Any, alias: str | None) -> Any:
    """The account to send from: `alias` (an ape account alias or TEST::N), or on a local
    network test account 0. Elsewhere an alias is required: nothing is sent from a guess."""
    from ape import accounts

    if alias:
        if alias.upper().startswith("TEST::"):
            try:
                return accounts.test_accounts[int(alias.split("::", 1)[1])]
            except (ValueError, IndexError):
                raise ConfigError(f"--account {alias}: no such test account") from None
        try:
            return accounts.load(alias)
        except Exception as exc:  # ape raises its own error types for unknown aliases
            raise ConfigError(f"--account {alias}: no such ape account ({exc})") from exc
    if is_local(provider):
        return accounts.test_accounts[0]
    raise ConfigError(f"--account is required on network {provider.network.name!r}")


def ask_passphrase(name: str, *, confirm: bool = False) -> str:
    """The passphrase of wallet `name`: from the environment (see
    :func:`nmrstake.wallet.passphrase_from_env`), else from a prompt on a terminal."""
    import click

    from nmrstake.wallet import passphrase_from_env

    env = passphrase_from_env(name)
    if env is not None:
        return env
    missing = f"no passphrase for wallet '{name}': type it at the prompt of a terminal, or set $NMRSTAKE_PASSPHRASE"
    if not sys.stdin.isatty():  # nobody to ask: say what is missing instead of "Aborted!"
        raise InputError(missing)
    try:
        return click.prompt(f"Passphrase for wallet '{name}'", hide_input=True, confirmation_prompt=confirm, err=True)
    except click.Abort:
        raise InputError(missing) from None


def wallet_account(name: str, passphrase: str | None = None, *, store: Any = None) -> Any:
    """An nmrstake wallet (a standard keystore, in `store` or the default Keystore) as an ape
    account that signs without prompting. A wrong passphrase fails here (a WalletError), before
    anything is signed or sent.

    The keystore is decrypted once, by nmrstake's Keystore (its scrypt takes about a second, and
    its errors name the wallet and the file), and the key is then held in memory by ape's own
    signer (`ApeSigner`), exactly as an unlocked ape `KeyfileAccount` holds it: decrypting a
    second time through `KeyfileAccount.set_autosign` would double the wait of every command."""
    from nmrstake.wallet import Keystore

    store = store or Keystore()
    if passphrase is None:
        passphrase = ask_passphrase(name)
    return _ape_account(store.load(name, passphrase).key)  # checks the passphrase, the file and the address


class AccountUnlocking:
    """The account a command will sign with (--wallet NAME or --account ALIAS), prepared while
    the command imports ape and connects.

    An nmrstake wallet's passphrase is asked for at once (a prompt comes before the wait, and a
    missing passphrase or wallet file fails before anything else), then the keystore is
    decrypted aside (:meth:`nmrstake.wallet.Keystore.load_aside`): on a second core, its scrypt
    overlaps ape's import and connection instead of following them. :meth:`account` waits for
    it; a wrong passphrase is raised there, still before anything is signed or sent. An ape
    alias or a test account is resolved by :meth:`account`, which needs the connected provider."""

    def __init__(self, wallet: str | None, account: str | None) -> None:
        if wallet and account:
            raise InputError("give --wallet or --account, not both")
        self.wallet, self.alias = wallet, account
        self._opening: Any = None
        if wallet:
            from nmrstake.wallet import Keystore

            self._opening = Keystore().load_aside(wallet, ask_passphrase(wallet))

    def account(self, provider: Any) -> Any:
        """The ape account (waits for the wallet's decryption; raises its WalletError)."""
        if self._opening is not None:
            return _ape_account(self._opening.result().key)
        return deployer_account(provider, self.alias)


def resolve_account(provider: Any, wallet: str | None, account: str | None) -> Any:
    """--wallet NAME (nmrstake keystore) or --account ALIAS (ape; TEST::N on local networks), for
    a command already connected (one that can unlock while it connects uses AccountUnlocking)."""
    return AccountUnlocking(wallet, account).account(provider)


def key_account(private_key: bytes) -> Any:
    """An ape account for a key nmrstake generated and holds itself, with no person to unlock
    it: the tournament service's receipt key (``receipt-signer.key`` in its data folder, see
    :meth:`nmrstake.submissions.SubmissionStore.receipt_key`), which signs every delivery
    receipt unattended while the service runs. That key is raw because it is the service's own
    machine identity, created on first use, not a person's wallet; it still signs through ape."""
    return _ape_account(private_key)


def _ape_account(private_key: bytes) -> Any:
    """ape's in-memory signer (`ApeSigner`, what an unlocked `KeyfileAccount` holds) for a key."""
    from ape_accounts.accounts import ApeSigner

    return ApeSigner(private_key=private_key)


@dataclass(frozen=True)
class TypedSignature:
    """An EIP-712 signature made by an eth-account key, shaped as ape's `MessageSignature`."""

    v: int
    r: bytes
    s: bytes

    def encode_rsv(self) -> bytes:
        return self.r.rjust(32, b"\x00") + self.s.rjust(32, b"\x00") + bytes([self.v])


def sign_typed(account: Any, signable: Any, *, what: str) -> Any:
    """Sign an EIP-712 message (an eth-account `SignableMessage`) with an ape account, or with an
    eth-account `LocalAccount` (the participant's path, which never loads ape); returns ape's
    `MessageSignature` or a :class:`TypedSignature` (`.v`, `.r`, `.s`; `.encode_rsv()` is the
    65-byte signature). An account that declines (a keyfile account whose owner answers no) is a
    ChainError naming `what`."""
    from eth_account.signers.local import LocalAccount

    if isinstance(account, LocalAccount):
        signed = account.sign_message(signable)
        return TypedSignature(int(signed.v), int(signed.r).to_bytes(32, "big"), int(signed.s).to_bytes(32, "big"))
    signature = account.sign_message(signable)
    if signature is None:
        raise ChainError(f"{what}: the account {account.address} declined to sign")
    return signature
