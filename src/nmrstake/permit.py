"""EIP-2612 permits: sign an allowance off-chain so approve + action fit in one transaction.

Only for tokens that have a permit (our NMR; not the mainnet NMR, whose fallback answers any
call with empty data): ask :func:`nmrstake.token.token_capabilities` first, and approve with
:func:`nmrstake.token.approve_exactly` where there is none. Reading the domain or the nonce of a
token without a permit is a one-line ConfigError here, never a garbled signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.messages import encode_typed_data

from nmrstake.chain.signers import sign_typed
from nmrstake.errors import ConfigError

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


def _no_permit(token: Any, what: str) -> ConfigError:
    return ConfigError(f"the token at {token.address} has no EIP-2612 permit ({what}): stake with an approval instead")


def permit_domain(token: Any) -> dict[str, Any]:
    """The token's EIP-712 domain, read from its EIP-5267 `eip712Domain()` (ConfigError when the
    token gives none, as a token without a permit does)."""
    try:
        fields = token.eip712Domain()
        _, name, version, chain_id, verifying_contract, _, _ = fields
        return {
            "name": str(name),
            "version": str(version),
            "chainId": int(chain_id),
            "verifyingContract": str(verifying_contract),
        }
    except Exception as exc:  # empty return data (an accept-anything fallback), a revert, a bad decode
        raise _no_permit(token, f"eip712Domain() gave no domain: {type(exc).__name__}") from None


def permit_nonce(token: Any, owner: str) -> int:
    """The owner's EIP-2612 nonce (ConfigError when the token gives none)."""
    try:
        return int(token.nonces(owner))
    except Exception as exc:
        raise _no_permit(token, f"nonces(address) gave no nonce: {type(exc).__name__}") from None


def sign_permit(
    account: Any,
    domain: dict[str, Any],
    *,
    owner: str,
    spender: str,
    value: int,
    nonce: int,
    deadline: int,
) -> Permit:
    """Sign an EIP-2612 permit with `account` (an ape account: see
    :func:`nmrstake.chain.signers.sign_typed`)."""
    message = {"owner": owner, "spender": spender, "value": value, "nonce": nonce, "deadline": deadline}
    signable = encode_typed_data(domain_data=domain, message_types=PERMIT_TYPES, message_data=message)
    signed = sign_typed(account, signable, what=f"signing a permit for {spender}")
    return Permit(
        owner, spender, value, nonce, deadline, signed.v,
        signed.r.rjust(32, b"\x00"), signed.s.rjust(32, b"\x00"),
    )


def sign_token_permit(token: Any, account: Any, owner: str, spender: str, value: int, deadline: int) -> Permit:
    """Sign, with `account` (an ape account; normally the owner's), a permit for `token` with the
    owner's current nonce."""
    return sign_permit(
        account, permit_domain(token), owner=owner, spender=spender, value=value,
        nonce=permit_nonce(token, owner), deadline=deadline,
    )
