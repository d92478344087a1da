"""The participant's actions (:mod:`nmrstake.client.staking`) for the operator's tools and the tests,
which hold ape's objects: a connected :class:`~nmrstake.tournament.TournamentClient` and ape
accounts. Each function here hands them over as the participant's path takes them (ape's `Web3`
of the same connection, the account's key as an eth-account `LocalAccount`) and calls the one
implementation; nothing here decides anything of its own.

:class:`LocalDelivery` is the operator's own machine's delivery: uploads go straight into the
service's submission store through the service's Intake, the very checks of its HTTP route.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from nmrstake.client import staking
from nmrstake.client.chain import Chain
from nmrstake.client.results import Results
from nmrstake.client.staking import ClaimJson, Delivery, PositionJson, Say, StakeJson
from nmrstake.errors import ConfigError

if TYPE_CHECKING:
    from nmrstake.intake import UploadAnswer
    from nmrstake.receipts import ReceiptBook
    from nmrstake.results.layout import DataLayout
    from nmrstake.signing import Domain
    from nmrstake.tournament import TournamentClient


def on_web3(client: TournamentClient | Chain) -> Chain:
    """The participant's view of `client`'s deployment, on ape's `Web3` of the same connection
    (made once per client)."""
    if isinstance(client, Chain):
        return client
    made: Chain | None = getattr(client, "_participant_chain", None)
    if made is None:
        made = Chain(client.provider.web3, client.deployment, code_checked=True)  # the client checked it
        client._participant_chain = made  # type: ignore[attr-defined]
    return made


def as_local_account(account: Any) -> LocalAccount:
    """An ape account holding its key in memory (a test account, ape's `ApeSigner` of an
    nmrstake wallet) as an eth-account `LocalAccount`."""
    if isinstance(account, LocalAccount):
        return account
    key = getattr(account, "private_key", None)
    if key is None:
        raise ConfigError(f"the account {account.address} holds no key in memory: the participant's path signs "
                          "with a key (an nmrstake wallet, a keystore file, TEST::N)")
    signer: LocalAccount = Account.from_key(key)
    return signer


def _quiet(_: str) -> None:
    pass


class LocalDelivery:
    """The operator's machine: uploads go straight into the submission store, through the same
    Intake (and so the same checks and receipts) as the service's HTTP route."""

    def __init__(self, client: TournamentClient, layout: DataLayout, *, create: bool = True) -> None:
        from nmrstake.intake import chain_intake

        store = layout.store()
        if not create and not (store.exists() and store.receipt_key_path.is_file()):
            raise ConfigError(f"no submission store at {store.root}: is --data-dir the service's data folder? "
                              "(`nmrstake serve` creates it; participants elsewhere give --api URL)")
        self.intake = chain_intake(client, store.open_for_writing())

    @property
    def receipt_signer(self) -> str:
        return self.intake.receipt_signer

    def upload(self, *, round_id: int, model: str, staker: str, nonce: int, expiry: int, signature: str,
               path: Path, file_hash: bytes) -> UploadAnswer:
        from nmrstake.intake import describe

        with open(path, "rb") as fh:
            stored = self.intake.receive(round_id=round_id, model=model, staker=staker, nonce=nonce, expiry=expiry,
                                         signature=signature, source=fh, file_hash=file_hash)
        return describe(stored, self.intake.receipt_signer)


def deliver(delivery: Delivery, domain: Domain, account: Any, round_id: int, model: str, predictions: Path,
            commitment: bytes, *, receipts: ReceiptBook | None = None, staker: str | None = None) -> UploadAnswer:
    """:func:`nmrstake.client.staking.deliver`, signed by an ape account."""
    return staking.deliver(delivery, domain, as_local_account(account), round_id, model, predictions, commitment,
                           receipts=receipts, staker=staker)


def stake_predictions(client: TournamentClient | Chain, account: Any, delivery: Delivery | None, round_id: int,
                      model: str, wei: int, predictions: Path, *, receipts: ReceiptBook | None = None,
                      say: Say = _quiet) -> StakeJson:
    """:func:`nmrstake.client.staking.stake_predictions` from an ape account."""
    return staking.stake_predictions(on_web3(client), as_local_account(account), delivery, round_id, model, wei,
                                     predictions, receipts=receipts, say=say)


def my_positions(client: TournamentClient | Chain, results: Results, address: str,
                 *, strategy: str | None = None) -> list[PositionJson]:
    """:func:`nmrstake.client.staking.my_positions` on a connected TournamentClient."""
    return staking.my_positions(on_web3(client), results, address, strategy=strategy)


def claim_all(client: TournamentClient | Chain, account: Any, results: Results,
              round_ids: list[int] | None) -> ClaimJson:
    """:func:`nmrstake.client.staking.claim_all` from an ape account."""
    return staking.claim_all(on_web3(client), as_local_account(account), results, round_ids)
