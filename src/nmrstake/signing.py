"""EIP-712 messages between participants and the tournament service.

Two typed messages, both in the domain ``nmrstake`` / ``1`` bound to one chain and one
Tournament contract (so a signature for another chain or deployment never verifies here):

* ``Upload``: the staker authorises one upload of one file, for one (round, model), before an
  expiry. The service stores a file only with such a signature by the staker; each signature is
  accepted once (``nonce`` makes two uploads of the same file distinct), so an old one cannot be
  replayed to roll a submission back.
* ``Receipt``: the service's proof that it received, at ``receivedAt`` (chain time, Unix seconds),
  a file hashing to ``commitment`` for (round, model, staker). The participant keeps it.

* ``Webhook``: a participant registers (``action`` "register") or removes ("delete") a webhook
  URL that the service calls with alerts about its address (docs/service.md, "Alerts"); a nonce and
  an expiry as an upload's, and each signature accepted once.

A fourth message, in its own domain ``nmrstake oracle committee`` / ``1`` (chain id, the Tournament),
is the oracle committee's (contracts/OracleCommittee.sol, docs/committee.md):

* ``Attestation``: a committee member attests one round's result exactly as it is posted (root,
  totals, leaf count, results hash) for one committee epoch. ``postResultSigned`` takes M members'
  signatures of the same attestation; the tournament service stores and lists them.

Messages are signed by an ape account (:func:`nmrstake.chain.signers.sign_typed`); signatures
are recovered with eth-account (coincurve-backed where installed); nothing here is hand-rolled
cryptography.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from nmrstake.chain.signers import sign_typed
from nmrstake.errors import InputError
from nmrstake.hashing import bytes32_from_hex, checksum_address, keccak_bytes, to_hex
from nmrstake.models import model_id

DOMAIN_NAME = "nmrstake"
DOMAIN_VERSION = "1"

UPLOAD_TYPES = {
    "Upload": [
        {"name": "staker", "type": "address"},
        {"name": "roundId", "type": "uint256"},
        {"name": "modelId", "type": "bytes32"},
        {"name": "fileHash", "type": "bytes32"},
        {"name": "nonce", "type": "uint256"},
        {"name": "expiry", "type": "uint256"},
    ]
}
RECEIPT_TYPES = {
    "Receipt": [
        {"name": "staker", "type": "address"},
        {"name": "roundId", "type": "uint256"},
        {"name": "modelId", "type": "bytes32"},
        {"name": "commitment", "type": "bytes32"},
        {"name": "receivedAt", "type": "uint256"},
    ]
}
WEBHOOK_TYPES = {
    "Webhook": [
        {"name": "account", "type": "address"},
        {"name": "action", "type": "string"},
        {"name": "url", "type": "string"},
        {"name": "models", "type": "string"},
        {"name": "nonce", "type": "uint256"},
        {"name": "expiry", "type": "uint256"},
    ]
}
#: What a `Webhook` message may ask.
WEBHOOK_ACTIONS = ("register", "delete")

COMMITTEE_DOMAIN_NAME = "nmrstake oracle committee"
ATTESTATION_TYPES = {
    "Attestation": [
        {"name": "roundId", "type": "uint256"},
        {"name": "root", "type": "bytes32"},
        {"name": "totalPayout", "type": "uint256"},
        {"name": "totalBurn", "type": "uint256"},
        {"name": "leafCount", "type": "uint256"},
        {"name": "resultsHash", "type": "bytes32"},
        {"name": "committeeEpoch", "type": "uint256"},
    ]
}


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain of one deployment: chain id and Tournament address."""

    chain_id: int
    tournament: str

    name: str = DOMAIN_NAME

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": DOMAIN_VERSION, "chainId": self.chain_id,
                "verifyingContract": checksum_address(self.tournament, argument="tournament")}


def _digest(domain: Domain, types: dict[str, Any], message: dict[str, Any]) -> tuple[Any, bytes]:
    from eth_account.messages import encode_typed_data  # here: a read of the chain needs only Domain

    signable = encode_typed_data(domain_data=domain.as_dict(), message_types=types, message_data=message)
    return signable, keccak_bytes(b"\x19" + signable.version + signable.header + signable.body)


def _recover(signable: Any, signature: str, argument: str) -> str:
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
    except (ValueError, AttributeError):
        raise InputError(f"{argument}: not hex") from None
    if len(raw) != 65:
        raise InputError(f"{argument}: expected 65 bytes, got {len(raw)}")
    from eth_account import Account

    try:
        return str(Account.recover_message(signable, signature=raw))
    except Exception as exc:  # eth-keys raises BadSignature, ValueError, ...
        raise InputError(f"{argument}: not a valid signature ({type(exc).__name__})") from None


@dataclass(frozen=True)
class UploadAuthorisation:
    """What a staker signs to upload one file (see the module's docstring)."""

    staker: str
    round_id: int
    model: str
    file_hash: bytes
    nonce: int
    expiry: int

    def message(self) -> dict[str, Any]:
        return {"staker": checksum_address(self.staker, argument="staker"), "roundId": self.round_id,
                "modelId": model_id(self.model), "fileHash": self.file_hash, "nonce": self.nonce,
                "expiry": self.expiry}

    def digest(self, domain: Domain) -> bytes:
        """The EIP-712 hash that is signed; unique per authorisation (the replay key)."""
        return _digest(domain, UPLOAD_TYPES, self.message())[1]

    def sign(self, domain: Domain, account: Any) -> str:
        """The staker's signature (0x-hex, 65 bytes), made by `account` (an ape account)."""
        signable, _ = _digest(domain, UPLOAD_TYPES, self.message())
        return to_hex(sign_typed(account, signable, what=f"signing the upload for {self.model}").encode_rsv())

    def signer(self, domain: Domain, signature: str) -> str:
        """The address that signed this authorisation (raises InputError if it is not a signature)."""
        return self.verify(domain, signature)[0]

    def verify(self, domain: Domain, signature: str) -> tuple[str, bytes]:
        """(the address that signed this authorisation, its :meth:`digest`), the message encoded
        once (raises InputError if `signature` is not a signature)."""
        signable, digest = _digest(domain, UPLOAD_TYPES, self.message())
        return _recover(signable, signature, "signature"), digest

    @classmethod
    def new(cls, staker: str, round_id: int, model: str, file_hash: bytes, *, now: int, lifetime: int = 600) -> UploadAuthorisation:
        """A fresh authorisation: a random nonce, expiring `lifetime` seconds after `now`."""
        return cls(checksum_address(staker, argument="staker"), round_id, model, file_hash,
                   secrets.randbits(64), now + lifetime)


@dataclass(frozen=True)
class WebhookRequest:
    """What an address signs to register (or delete) a webhook `url` for its own alerts: the
    service takes it only signed by `account` itself, before `expiry`, and each signature once.
    `models`: the labels of the models whose alerts it wants (none: all of the address's); signed
    as one string, the labels sorted and joined by commas."""

    account: str
    action: str
    url: str
    nonce: int
    expiry: int
    models: tuple[str, ...] = ()

    def message(self) -> dict[str, Any]:
        if self.action not in WEBHOOK_ACTIONS:
            raise InputError(f"action: {self.action!r} is not one of {', '.join(WEBHOOK_ACTIONS)}")
        return {"account": checksum_address(self.account, argument="account"), "action": self.action,
                "url": self.url, "models": ",".join(sorted(self.models)), "nonce": self.nonce, "expiry": self.expiry}

    def digest(self, domain: Domain) -> bytes:
        """The EIP-712 hash that is signed; unique per request (the replay key)."""
        return _digest(domain, WEBHOOK_TYPES, self.message())[1]

    def sign(self, domain: Domain, account: Any) -> str:
        """The account's signature (0x-hex, 65 bytes), by an ape account or an eth-account LocalAccount."""
        signable, _ = _digest(domain, WEBHOOK_TYPES, self.message())
        return to_hex(sign_typed(account, signable, what=f"signing the webhook {self.action}").encode_rsv())

    def signer(self, domain: Domain, signature: str) -> str:
        """The address that signed this request (InputError if it is not a signature)."""
        signable, _ = _digest(domain, WEBHOOK_TYPES, self.message())
        return _recover(signable, signature, "signature")

    @classmethod
    def new(cls, account: str, action: str, url: str, *, now: int, lifetime: int = 600,
            models: tuple[str, ...] = ()) -> WebhookRequest:
        """A fresh request: a random nonce, expiring `lifetime` seconds after `now`."""
        return cls(checksum_address(account, argument="account"), action, url, secrets.randbits(64), now + lifetime,
                   tuple(sorted(models)))


def body_digest(body: bytes) -> bytes:
    """What the service signs of an alert's body (EIP-191, ``personal_sign``): its keccak-256."""
    return keccak_bytes(body)


def sign_body(body: bytes, account: Any) -> str:
    """The service's EIP-191 signature (0x-hex, 65 bytes) of keccak-256(`body`), by `account` (an
    ape account: the receipt signer, or an eth-account LocalAccount)."""
    from eth_account.messages import encode_defunct

    signable = encode_defunct(primitive=body_digest(body))
    return to_hex(sign_typed(account, signable, what="signing an alert").encode_rsv())


def body_signer(body: bytes, signature: str) -> str:
    """The address whose EIP-191 signature of keccak-256(`body`) `signature` is (InputError if it
    is not a signature): an alert is the service's when this is its receipt signer."""
    from eth_account.messages import encode_defunct

    return _recover(encode_defunct(primitive=body_digest(body)), signature, "X-Nmrstake-Signature")


class ReceiptJson(TypedDict):
    """A delivery receipt as JSON (:meth:`DeliveryReceipt.to_json`): the service's answers carry it,
    and the receipts kept on a participant's machine."""

    staker: str
    round_id: int
    model: str
    commitment: str
    received_at: int
    signature: str


@dataclass(frozen=True)
class DeliveryReceipt:
    """The service's signed statement that it received a file by a given (chain) time."""

    staker: str
    round_id: int
    model: str
    commitment: bytes
    received_at: int
    signature: str = ""

    def message(self) -> dict[str, Any]:
        return {"staker": checksum_address(self.staker, argument="staker"), "roundId": self.round_id,
                "modelId": model_id(self.model), "commitment": self.commitment, "receivedAt": self.received_at}

    def signed(self, domain: Domain, account: Any) -> DeliveryReceipt:
        """This receipt signed by `account` (an ape account: the service's receipt signer)."""
        signable, _ = _digest(domain, RECEIPT_TYPES, self.message())
        signature = to_hex(sign_typed(account, signable, what="signing a delivery receipt").encode_rsv())
        return DeliveryReceipt(self.staker, self.round_id, self.model, self.commitment, self.received_at, signature)

    def signer(self, domain: Domain) -> str:
        signable, _ = _digest(domain, RECEIPT_TYPES, self.message())
        return _recover(signable, self.signature, "receipt signature")

    def to_json(self) -> ReceiptJson:
        return {"staker": self.staker, "round_id": self.round_id, "model": self.model,
                "commitment": to_hex(self.commitment), "received_at": self.received_at, "signature": self.signature}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeliveryReceipt:
        try:
            return cls(checksum_address(data["staker"], argument="receipt staker"), int(data["round_id"]),
                       str(data["model"]), bytes32_from_hex(data["commitment"], argument="receipt commitment"),
                       int(data["received_at"]), str(data["signature"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"receipt: malformed ({type(exc).__name__}: {exc})") from None


def committee_domain(chain_id: int, tournament: str) -> Domain:
    """The committee's EIP-712 domain of one deployment (what `eip712Domain()` of a committee
    tournament returns)."""
    return Domain(chain_id, tournament, COMMITTEE_DOMAIN_NAME)


@dataclass(frozen=True)
class Attestation:
    """What a committee member signs: one round's result exactly as `postResult` /
    `postResultSigned` carry it, for one committee epoch (see the module's docstring)."""

    round_id: int
    root: bytes
    total_payout: int
    total_burn: int
    leaf_count: int
    results_hash: bytes
    epoch: int

    def message(self) -> dict[str, Any]:
        return {"roundId": self.round_id, "root": self.root, "totalPayout": self.total_payout,
                "totalBurn": self.total_burn, "leafCount": self.leaf_count, "resultsHash": self.results_hash,
                "committeeEpoch": self.epoch}

    def content(self) -> tuple[bytes, int, int, int, bytes]:
        """What is posted (without the round and the epoch): two attestations agree when equal."""
        return (self.root, self.total_payout, self.total_burn, self.leaf_count, self.results_hash)

    def posting_args(self) -> tuple[int, bytes, int, int, int, bytes]:
        """The arguments of `postResult` (and the first six of `postResultSigned`)."""
        return (self.round_id, self.root, self.total_payout, self.total_burn, self.leaf_count, self.results_hash)

    def digest(self, domain: Domain) -> bytes:
        """The EIP-712 hash that is signed (what the contract's `attestationDigest` returns)."""
        return _digest(domain, ATTESTATION_TYPES, self.message())[1]

    def sign(self, domain: Domain, account: Any) -> str:
        """The member's signature (0x-hex, 65 bytes r ‖ s ‖ v), made by `account` (an ape account).
        Deterministic (RFC 6979): signing the same attestation again gives the same signature."""
        signable, _ = _digest(domain, ATTESTATION_TYPES, self.message())
        return to_hex(sign_typed(account, signable, what=f"attesting the result of round {self.round_id}").encode_rsv())

    def signer(self, domain: Domain, signature: str, argument: str = "signature") -> str:
        """The address that signed this attestation (InputError naming `argument` if not a signature)."""
        signable, _ = _digest(domain, ATTESTATION_TYPES, self.message())
        return _recover(signable, signature, argument)

    def describe(self) -> str:
        return (f"round {self.round_id}: root {to_hex(self.root)}, payout {self.total_payout}, burn {self.total_burn}, "
                f"{self.leaf_count} leaves, results hash {to_hex(self.results_hash)}, epoch {self.epoch}")


def pack_signatures(signed: list[tuple[str, str]]) -> bytes:
    """The `signatures` argument of `postResultSigned` from (signer, 0x-hex signature) pairs:
    sorted by signer address, strictly ascending (one per signer), 65 bytes each, concatenated."""
    ordered = sorted({checksum_address(a, argument="signer"): sig for a, sig in signed}.items(),
                     key=lambda item: int(item[0], 16))
    return b"".join(bytes.fromhex(sig.removeprefix("0x")) for _, sig in ordered)
