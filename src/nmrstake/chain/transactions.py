"""The one place that sends transactions.

Every transaction nmrstake sends (the participant's stakes and claims, the operator's rounds and
batches, the oracle's postings, the strategy owner's calls, the deployment's role grants and
contracts, the faucet's ether) goes through :func:`send`, :func:`deploy_contract` or
:func:`send_ether`, so that a refusal always reads
the same way: one line naming the call (``what``) and the contract's custom error by name with
its arguments, e.g. ``staking on m in round 7 would revert: RoundNotOpen(roundId=7); nothing was
sent``, on every chain and for every contract of the project (:mod:`nmrstake.chain.reverts`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nmrstake.errors import ChainError


@dataclass(frozen=True)
class Sent:
    """A transaction that was mined and succeeded."""

    txn_hash: str
    gas_used: int
    block_number: int
    #: ape's receipt, for the events the transaction emitted
    receipt: Any

    @property
    def events(self) -> Any:
        return self.receipt.events


def revert_reason(exc: Exception, *, replay: Callable[[], bytes | None] | None = None) -> str:
    """The contract's custom error by name with its arguments, whichever contract of the project
    defines it, else the revert message (:func:`nmrstake.chain.reverts.revert_reason`)."""
    from nmrstake.chain.reverts import revert_reason as reason

    return reason(exc, replay=replay)


def _simulation_data(method: Any, args: tuple[Any, ...], sender: Any) -> Callable[[], bytes | None]:
    """Asks the node again for the revert data of the call (through web3, which keeps it)."""
    from nmrstake.chain.reverts import call_revert_data

    def replay() -> bytes | None:
        txn = {"from": str(sender.address), "to": str(method.contract.address),
               "data": "0x" + bytes(method.encode_input(*args)).hex()}
        return call_revert_data(sender.provider.web3, txn)

    return replay


def send(
    method: Any,
    *args: Any,
    sender: Any,
    what: str,
    confirmations: int = 0,
    on_sent: Callable[[str], None] | None = None,
) -> Sent:
    """Simulate a contract call (eth_call), then sign it with `sender` (an ape account), send it
    and wait for its receipt (and `confirmations` blocks more). `what` names the call in errors.

    A call that would revert raises a one-line ChainError naming the contract's error, and nothing
    is sent (on local chains ape does not estimate gas, so without the simulation a reverting
    transaction would be mined, spending gas and a nonce). `on_sent(txn_hash)` runs once the
    transaction is with the node, before its receipt is awaited; a transaction sent but without
    a receipt yet is a ChainError saying so (it may still be mined: never send it again blindly).
    """
    from ape.exceptions import ContractLogicError, TransactionNotFoundError

    try:
        # skip_trace: no call trace is fetched and printed (ape shows one on stdout for a revert on a node).
        method.call(*args, sender=sender, skip_trace=True)
        txn = method.as_transaction(*args, sender=sender)
    except ContractLogicError as exc:
        reason = revert_reason(exc, replay=_simulation_data(method, args, sender))
        raise ChainError(f"{what} would revert: {reason}; nothing was sent") from exc
    signed = sender.sign_transaction(txn)
    if signed is None:
        raise ChainError(f"{what}: the account {sender.address} refused to sign; nothing was sent")
    provider = sender.provider
    try:
        raw_hash = provider.web3.eth.send_raw_transaction(signed.serialize_transaction())
    except Exception as exc:  # noqa: BLE001 - the node's refusal, decoded by ape where it can
        error = provider.get_virtual_machine_error(exc, txn=signed)
        if isinstance(error, ContractLogicError):
            reason = revert_reason(error, replay=_simulation_data(method, args, sender))
            raise ChainError(f"{what} reverted: {reason}") from exc
        raise
    txn_hash = "0x" + bytes(raw_hash).hex()
    if on_sent is not None:
        on_sent(txn_hash)
    try:
        receipt = provider.get_receipt(txn_hash, required_confirmations=confirmations)
    except TransactionNotFoundError as exc:
        raise ChainError(f"{what}: transaction {txn_hash} sent, no receipt yet") from exc
    if receipt.failed:
        raise ChainError(f"{what} reverted: {_failure(receipt)} (transaction {txn_hash})")
    return Sent(txn_hash, int(receipt.gas_used), int(receipt.block_number), receipt)


def send_ether(sender: Any, to: str, wei: int, *, what: str) -> Sent:
    """Send `wei` of ether from `sender` (an ape account) to `to`, a plain transfer (ape's
    `AccountAPI.transfer` prepares, signs and sends it), and wait for its receipt. A refusal (too
    little ether, a node that declines) is a one-line ChainError naming `what`."""
    from ape.exceptions import ApeException

    try:
        receipt = sender.transfer(to, wei)
    except ApeException as exc:
        raise ChainError(f"{what} failed: {revert_reason(exc)}") from exc
    return Sent(str(receipt.txn_hash), int(receipt.gas_used), int(receipt.block_number), receipt)


def _failure(receipt: Any) -> str:
    """Why a mined transaction failed: the custom error by name with its arguments, from the
    node's call tracer, else from the transaction run again as a call in its block (the state it
    met, for a race lost to a transaction before it: what the round or stake had become)."""
    from nmrstake.chain.reverts import call_revert_data, traced_revert_data

    provider = receipt.provider
    txn_hash = str(receipt.txn_hash)

    def replay() -> bytes | None:
        data = traced_revert_data(provider, txn_hash)
        if data is None:
            txn = receipt.transaction
            call = {"from": str(receipt.sender), "to": str(receipt.receiver), "data": "0x" + bytes(txn.data).hex(),
                    "value": int(txn.value or 0), "gas": int(txn.gas_limit or receipt.gas_used)}
            data = call_revert_data(provider.web3, call, int(receipt.block_number))
        return data

    try:
        receipt.raise_for_status()
    except Exception as exc:  # noqa: BLE001 - ape raises its own error types
        return revert_reason(exc, replay=replay)
    return "the transaction failed"


def deploy_contract(container: Any, *args: Any, sender: Any, what: str) -> Any:
    """Deploy `container` (an ape ContractContainer) with constructor `args` from `sender`;
    returns the contract instance. A constructor that reverts is a one-line ChainError."""
    from ape.exceptions import ContractLogicError

    try:
        return sender.deploy(container, *args)
    except ContractLogicError as exc:
        raise ChainError(f"{what} reverted: {revert_reason(exc)}") from exc


def pending_count(provider: Any, address: str) -> int:
    """How many transactions of `address` the node holds but has not mined."""
    web3 = provider.web3
    return int(web3.eth.get_transaction_count(address, "pending")) - int(web3.eth.get_transaction_count(address, "latest"))
