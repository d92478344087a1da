"""EIP-2612 permits: sign an allowance off-chain so approve + action fit in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

PERMIT_TYPES = {
    "Permit": [
        {"name": "owner", "type": "address"},
        {"name": "spender", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}


@dataclass(frozen=True)
class Permit:
    owner: str
    spender: str
    value: int
    nonce: int
    deadline: int
    v: int
    r: bytes
    s: bytes


def permit_domain(token: Any) -> dict[str, Any]:
    """The token's EIP-712 domain, read from its EIP-5267 `eip712Domain()`."""
    fields = token.eip712Domain()
    _, name, version, chain_id, verifying_contract, _, _ = fields
    return {
        "name": name,
        "version": version,
        "chainId": int(chain_id),
        "verifyingContract": str(verifying_contract),
    }


def sign_permit(
    private_key: Any,
    domain: dict[str, Any],
    *,
    owner: str,
    spender: str,
    value: int,
    nonce: int,
    deadline: int,
) -> Permit:
    message = {"owner": owner, "spender": spender, "value": value, "nonce": nonce, "deadline": deadline}
    signable = encode_typed_data(domain_data=domain, message_types=PERMIT_TYPES, message_data=message)
    signed = Account.sign_message(signable, private_key)
    return Permit(
        owner, spender, value, nonce, deadline, signed.v,
        signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big"),
    )


def sign_token_permit(token: Any, private_key: Any, owner: str, spender: str, value: int, deadline: int) -> Permit:
    """Sign a permit for `token` with the owner's current nonce."""
    return sign_permit(
        private_key, permit_domain(token), owner=owner, spender=spender, value=value,
        nonce=int(token.nonces(owner)), deadline=deadline,
    )
