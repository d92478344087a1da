"""What the staked token can do, read from the chain, and allowances that work on every NMR.

Two tokens matter: our ``contracts/NMR.sol`` (OpenZeppelin: EIP-2612 ``permit``, ``burn(uint256)``)
and the mainnet NMR (NumeraireBackend + NumeraireDelegateV3): no permit, no ``burn(uint256)`` (it
burns the caller's own tokens with the repurposed ``mint(uint256)``), ``approve`` only from or to
zero, and a payable fallback that accepts ANY call it does not know. That fallback makes the usual
probes lie: an eth_call of ``nonces(address)`` or ``DOMAIN_SEPARATOR()`` "succeeds" with empty return
data, and ``burn(uint256)`` succeeds and burns nothing. So :func:`inspect_token` decides from the
runtime code (the function selectors the dispatcher pushes) and trusts a call's answer only when it
has the expected length.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from eth_utils import keccak, to_checksum_address

from nmrstake.chain.transactions import Sent, send
from nmrstake.errors import ChainError, ConfigError

if TYPE_CHECKING:
    from nmrstake.chain.node import Node

Say = Callable[[str], None]
BurnMethod = Literal["burn", "numeraire-mint"]


def selector(signature: str) -> bytes:
    """The 4-byte function selector of `signature` (``"burn(uint256)"`` -> ``42966c68``)."""
    return keccak(text=signature)[:4]


SIG_PERMIT = "permit(address,address,uint256,uint256,uint8,bytes32,bytes32)"
SIG_BURN = "burn(uint256)"
SIG_NUMERAIRE_BURN = "mint(uint256)"
SIG_NUMERAIRE_TRANSFER = "numeraiTransfer(address,uint256)"
SIG_CHANGE_APPROVAL = "changeApproval(address,uint256,uint256)"

_DOMAIN_SEPARATOR = selector("DOMAIN_SEPARATOR()")
_NONCES = selector("nonces(address)")
_SYMBOL = selector("symbol()")
_DECIMALS = selector("decimals()")
_TOTAL_SUPPLY = selector("totalSupply()")

#: EIP-1967 implementation slot: bytes32(uint256(keccak256("eip1967.proxy.implementation")) - 1).
_EIP1967_IMPLEMENTATION = int.from_bytes(keccak(text="eip1967.proxy.implementation"), "big") - 1
#: EIP-1167 minimal proxy: prefix, 20-byte implementation, suffix.
_EIP1167_PREFIX = bytes.fromhex("363d3d373d3d3d363d73")
_EIP1167_SUFFIX = bytes.fromhex("5af43d82803e903d91602b57fd5bf3")

#: The tournament contract for each way of burning (same constructor, same ABI plus one error).
TOURNAMENT_FOR_BURN: dict[str, str] = {"burn": "Tournament", "numeraire-mint": "NumeraireTournament"}


@dataclass(frozen=True)
class TokenCapabilities:
    """What the token at `address` can do for the tournament, as read from the chain.

    permit: EIP-2612 ``permit`` is really there (selector in the code AND ``DOMAIN_SEPARATOR()`` and
        ``nonces(address)`` answer 32 bytes each).
    burn: how the tournament can burn its own tokens: ``"burn"`` (``burn(uint256)``),
        ``"numeraire-mint"`` (NMR's ``mint(uint256)``, with ``numeraiTransfer``) or None (it cannot).
    approve_from_zero_only: True when ``approve`` only changes an allowance from or to zero (the
        token has NMR's ``changeApproval``); None when unknown (treat as possibly True).
    symbol, decimals, total_supply: the token's answers (None when it gave none that decodes);
        total_supply is as of the inspection.
    codehash: keccak-256 of the runtime code inspected.
    """

    address: str
    permit: bool
    burn: BurnMethod | None
    approve_from_zero_only: bool | None
    symbol: str | None
    decimals: int | None
    total_supply: int | None
    codehash: str

    @property
    def tournament_contract(self) -> str | None:
        """"Tournament", "NumeraireTournament", or None when the token cannot burn."""
        return TOURNAMENT_FOR_BURN.get(self.burn or "")

    def describe(self) -> str:
        """One line of what will work: permit, burns, approvals."""
        permit = "permit: yes, stakes use stakeWithPermit" if self.permit else "permit: no, stakes use approve"
        burn = {
            "burn": "burns: burn(uint256), checked against totalSupply",
            "numeraire-mint": "burns: mint(uint256) (NMR's repurposed burn), checked against totalSupply",
            None: "burns: NONE (neither burn(uint256) nor mint(uint256) with numeraiTransfer(address,uint256))",
        }[self.burn]
        approve = {
            True: "approve: only from or to zero (a non-zero allowance is reset to 0 first)",
            False: "approve: any value",
            None: "approve: a non-zero allowance is reset to 0 first (in case the token needs it)",
        }[self.approve_from_zero_only]
        return f"{permit}; {burn}; {approve}"

    def headline(self) -> str:
        """The token in a few words: address, symbol, decimals, total supply."""
        parts = [self.symbol or "no symbol"]
        if self.decimals is not None:
            parts.append(f"{self.decimals} decimals")
        if self.total_supply is not None:
            if self.decimals == 18:
                from nmrstake.amounts import format_nmr

                parts.append(f"total supply {format_nmr(self.total_supply)} {self.symbol or 'tokens'}")
            else:
                parts.append(f"total supply {self.total_supply} (smallest units)")
        return f"token {self.address} ({', '.join(parts)})"


# ------------------------------------------------------------------------------------ bytecode


def strip_metadata(code: bytes) -> bytes:
    """The runtime code without Solidity's trailing CBOR metadata (its last two bytes give the
    length of the CBOR map before them), so the metadata hash is never read as instructions.
    Code without recognisable metadata is returned as is."""
    if len(code) >= 2:
        length = int.from_bytes(code[-2:], "big")
        start = len(code) - 2 - length
        if 0 < length and start >= 0 and 0xA1 <= code[start] <= 0xA7:
            return code[:start]
    return code


def pushed_selectors(code: bytes) -> frozenset[bytes]:
    """Every value of 4 bytes or fewer that the code pushes (PUSH1..PUSH4), left-padded to 4 bytes:
    the function selectors a dispatcher compares the calldata with. (A selector with leading zero
    bytes is pushed by the optimiser with a shorter PUSH, hence the padding.) The bytes of longer
    pushes are skipped, not read as instructions."""
    code = strip_metadata(code)
    found: set[bytes] = set()
    i, n = 0, len(code)
    while i < n:
        op = code[i]
        if 0x60 <= op <= 0x7F:  # PUSH1 .. PUSH32
            size = op - 0x5F
            if size <= 4 and i + 1 + size <= n:
                found.add(code[i + 1 : i + 1 + size].rjust(4, b"\0"))
            i += 1 + size
        else:
            i += 1
    return frozenset(found)


def has_function(selectors: frozenset[bytes], signature: str) -> bool:
    return selector(signature) in selectors


def burn_method(selectors: frozenset[bytes]) -> BurnMethod | None:
    """How a token with these selectors burns its holder's own tokens (None: it cannot)."""
    if has_function(selectors, SIG_BURN):
        return "burn"
    if has_function(selectors, SIG_NUMERAIRE_BURN) and has_function(selectors, SIG_NUMERAIRE_TRANSFER):
        return "numeraire-mint"
    return None


# ------------------------------------------------------------------------------------ chain reads


def _node(source: object) -> Node:
    """A node's URL, a node, a `Web3` or an ape provider as a :class:`~nmrstake.chain.node.Node`."""
    from nmrstake.chain.node import as_node

    try:
        return as_node(source)
    except ChainError:
        raise ConfigError("cannot read the token: the provider has no web3 connection") from None


def _call(w3: Node, to: str, data: bytes) -> bytes | None:
    """The return data of an eth_call, or None when it reverts or fails."""
    try:
        return w3.call_raw(to, data)
    except Exception:  # a revert or an unsupported call: the token does not answer
        return None


def _uint(raw: bytes | None) -> int | None:
    return int.from_bytes(raw, "big") if raw is not None and len(raw) == 32 else None


def _string(raw: bytes | None) -> str | None:
    """An ABI string, or a bytes32 (older tokens' `symbol`), or None."""
    if raw is None:
        return None
    if len(raw) == 32:
        text = raw.rstrip(b"\0")
        try:
            return text.decode() if text else None
        except UnicodeDecodeError:
            return None
    if len(raw) >= 64:
        try:
            from eth_abi import decode

            return str(decode(["string"], raw)[0]) or None
        except Exception:
            return None
    return None


def _implementation(w3: Node, address: str, code: bytes) -> str | None:
    """The implementation a proxy delegates to (EIP-1167 clone or EIP-1967 slot), if any."""
    if code.startswith(_EIP1167_PREFIX) and code[30:45] == _EIP1167_SUFFIX:
        return to_checksum_address(code[10:30])
    try:
        slot = w3.storage(address, _EIP1967_IMPLEMENTATION)
    except Exception:
        return None
    value = int.from_bytes(slot, "big")
    if value == 0 or value >= 2**160:
        return None
    return to_checksum_address(value.to_bytes(20, "big"))


def _get_code(w3: Node, address: str) -> bytes:
    return w3.code(address)


def inspect_token(provider_or_web3: Any, address: str) -> TokenCapabilities:
    """Read what the token at `address` can do (eth_calls only: sends nothing).

    Robust to a fallback that accepts any call: permit only when the runtime code pushes the
    ``permit`` selector AND ``DOMAIN_SEPARATOR()`` and ``nonces(address)`` return exactly 32 bytes;
    the burn method only from the selectors in the code (``burn(uint256)`` -> ``"burn"``, else
    ``mint(uint256)`` and ``numeraiTransfer(address,uint256)`` -> ``"numeraire-mint"``, else None).
    A proxy (EIP-1167 clone, EIP-1967 slot) is judged by its implementation's code as well.
    Raises ConfigError when there is no contract at `address`.
    """
    w3 = _node(provider_or_web3)
    address = to_checksum_address(address)
    code = _get_code(w3, address)
    if not code:
        raise ConfigError(f"no contract at {address} (chain {w3.chain_id()})")
    return _inspect(w3, address, code)


def _inspect(w3: Node, address: str, code: bytes) -> TokenCapabilities:
    selectors = pushed_selectors(code)
    implementation = _implementation(w3, address, code)
    if implementation is not None:
        try:
            selectors |= pushed_selectors(_get_code(w3, implementation))
        except Exception:
            pass
    zero_address = bytes(32)
    permit = (
        has_function(selectors, SIG_PERMIT)
        and _uint(_call(w3, address, _DOMAIN_SEPARATOR)) is not None
        and _uint(_call(w3, address, _NONCES + zero_address)) is not None
    )
    decimals = _uint(_call(w3, address, _DECIMALS))
    return TokenCapabilities(
        address=address,
        permit=permit,
        burn=burn_method(selectors),
        approve_from_zero_only=True if has_function(selectors, SIG_CHANGE_APPROVAL) else None,
        symbol=_string(_call(w3, address, _SYMBOL)),
        decimals=decimals if decimals is not None and decimals <= 255 else None,
        total_supply=_uint(_call(w3, address, _TOTAL_SUPPLY)),
        codehash="0x" + keccak(code).hex(),
    )


_cache: dict[tuple[int, str, str], TokenCapabilities] = {}
_cache_lock = threading.Lock()


def token_capabilities(provider_or_web3: Any, address: str) -> TokenCapabilities:
    """:func:`inspect_token`, once per (chain id, address, runtime code): later calls cost one
    eth_getCode. Keyed by the code's hash too, so a restarted node or a reverted test chain that
    puts another token at the same address is inspected anew. `total_supply` is as of the first
    inspection."""
    w3 = _node(provider_or_web3)
    address = to_checksum_address(address)
    code = _get_code(w3, address)
    if not code:
        raise ConfigError(f"no contract at {address} (chain {w3.chain_id()})")
    key = (w3.chain_id(), address, "0x" + keccak(code).hex())
    with _cache_lock:
        found = _cache.get(key)
    if found is None:
        found = _inspect(w3, address, code)
        with _cache_lock:
            _cache[key] = found
    return found


def tournament_contract_for(caps: TokenCapabilities, *, argument: str | None = None) -> str:
    """The tournament contract that burns this token: "Tournament" (``burn(uint256)``) or
    "NumeraireTournament" (NMR's ``mint(uint256)``). A token that cannot burn raises a one-line
    ConfigError saying what is missing (prefixed by `argument`, e.g. ``"--nmr 0x..."``)."""
    name = caps.tournament_contract
    if name is None:
        prefix = f"{argument}: " if argument else ""
        raise ConfigError(
            f"{prefix}the token at {caps.address} cannot burn: its code has neither burn(uint256) nor "
            "mint(uint256) with numeraiTransfer(address,uint256) (NMR's burn), and the tournament checks "
            "every burn against totalSupply, so no round could settle; nothing was deployed"
        )
    return name


# ------------------------------------------------------------------------------------ allowances


def _quiet(_: str) -> None:
    pass


def approve_exactly(
    token: Any,
    owner: Any,
    spender: str,
    amount: int,
    say: Say = _quiet,
    *,
    spender_name: str = "the tournament",
    reason: str | None = None,
    from_zero_only: bool | None = None,
) -> list[Sent]:
    """Make `owner`'s allowance for `spender` at least `amount`, in a way every NMR accepts.

    `owner` is the ape account that sends. The allowance already
    covers `amount`: nothing is sent. It is 0: ``approve(amount)``. It is something else:
    ``approve(0)`` then ``approve(amount)`` (the mainnet NMR only changes an allowance from or to
    zero; skipped only when `from_zero_only` is False, i.e. known not to be needed). Each step is
    simulated before it is sent and announced through `say` (`reason` prefixes the approval's
    message, e.g. "the token has no permit"). Returns the receipts; raises ChainError when a step
    would revert or the allowance is not `amount` afterwards.
    """
    from nmrstake.amounts import format_nmr

    owner_address = str(owner.address)
    current = int(token.allowance(owner_address, spender))
    if current >= amount:
        say(f"the allowance for {spender_name} ({format_nmr(current)} NMR) already covers {format_nmr(amount)} NMR: "
            "no approval needed")
        return []
    receipts = []
    if current != 0 and from_zero_only is not False:
        why = ("the token only changes allowances from or to zero" if from_zero_only
               else "the token may only change allowances from or to zero, as the mainnet NMR does")
        say(f"resetting the allowance for {spender_name} from {format_nmr(current)} NMR to 0 first ({why})")
        receipts.append(send(token.approve, spender, 0, sender=owner, what="resetting the NMR allowance to 0"))
    say(f"{reason + ': ' if reason else ''}approving {format_nmr(amount)} NMR for {spender_name}")
    receipts.append(send(token.approve, spender, amount, sender=owner, what=f"approving {format_nmr(amount)} NMR"))
    now = int(token.allowance(owner_address, spender))
    if now != amount:
        raise ChainError(f"approving {format_nmr(amount)} NMR for {spender_name} left the allowance at "
                         f"{format_nmr(now)} NMR (the token refused the approval without reverting)")
    return receipts
