"""The compiled contracts a participant's client needs, as package data: their ABIs and what a
deployment's code is checked against. No compiler, no ape project, no web3 needed.

Each contract is one JSON file beside this module (``<Name>.json``), written from the build by
``tools/export_abis.py`` (``make compile``) and committed, so a wheel or sdist built without Node
or solc carries it::

    {
      "name": "Tournament",
      "source": "contracts/Tournament.sol",
      "compiler": {"version": "0.8.28+commit.7893614a", "evmVersion": "shanghai", "optimizer": {...}},
      "abi": [...],                       # solc's ABI as compiled: functions, events, every custom error
      "code": {
        "rule": "keccak256(runtime code with every immutable range set to zero bytes)",
        "length": 18129,                  # bytes of runtime code
        "immutables": [[1475, 32], ...],  # [start, length] of each immutable, sorted
        "hash": "0x..."                   # the rule applied to the compiled runtime code
      }
    }

Why not a plain code hash: a contract with ``immutable`` variables (the Tournament's token and
periods, the factory's implementation, the token's EIP-712 domain) gets their values written into
its runtime code by its constructor, so every deployment's code differs from the compiled
``deployedBytecode``, which holds zeros there. solc says where (``immutableReferences``); zeroing
those ranges in a deployment's code gives back the compiled code exactly, whatever the
constructor's arguments were. The check is therefore: same length, and the same keccak-256 once
the immutable ranges are zeroed (:func:`code_matches`). For a contract without immutables this is
the plain keccak-256 of the code, the chain's ``EXTCODEHASH``. The code includes solc's metadata
hash, so any change to a contract's source (a comment too) makes a new release's data refuse
deployments of the old code: the data names the code *this* release was built from.

Importing this module imports neither ape nor web3 (only :func:`describe_error` loads eth-abi).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "CONTRACTS", "CODE_RULE", "names", "load", "data", "code_hash", "immutable_ranges", "masked_code",
    "code_matches", "clone_code", "is_clone_of", "error_selectors", "describe_error",
]

#: The contracts whose data the package carries (the participant's client reads, stakes through
#: and checks these): the token, the tournament (and its variant for the mainnet NMR), and the
#: allocation strategies' implementation, factory and invoker; and the two tournaments with an oracle
#: committee (docs/committee.md), which a deployment chooses instead of the plain ones.
CONTRACTS = ("NMR", "Tournament", "NumeraireTournament", "AllocationStrategy", "StrategyFactory", "StrategyInvoker",
             "CommitteeTournament", "NumeraireCommitteeTournament", "DisputeDesk")

#: What ``code.hash`` in each file is, in words (repeated in every file for readers in any language).
CODE_RULE = "keccak256(runtime code with every immutable range set to zero bytes)"


def _keccak(data: bytes) -> bytes:
    try:  # safe-pysha3, where installed: the fastest keccak, and the lightest import
        from sha3 import keccak_256
    except ImportError:  # eth-hash (a dependency of eth-account and web3) and its backend
        from eth_hash.auto import keccak

        return bytes(keccak(data))
    return keccak_256(data).digest()


def names() -> tuple[str, ...]:
    """The contracts this package carries data for (:data:`CONTRACTS`)."""
    return CONTRACTS


@cache
def _data(name: str) -> dict[str, Any]:
    if name not in CONTRACTS:
        raise KeyError(f"no packaged data for contract {name!r}; there is: {', '.join(CONTRACTS)}")
    text = resources.files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def data(name: str) -> dict[str, Any]:
    """Everything packaged for contract `name` (the file's JSON: name, source, compiler, abi,
    code). A fresh copy: change it freely. KeyError for a contract not in :data:`CONTRACTS`."""
    return copy.deepcopy(_data(name))


def load(name: str) -> list[dict[str, Any]]:
    """The ABI of contract `name`, as solc gives it (a list of JSON objects: what
    ``web3.eth.contract(abi=...)`` takes). A fresh copy on every call. KeyError for a contract
    not in :data:`CONTRACTS`."""
    return list(data(name)["abi"])


def code_hash(name: str) -> str:
    """The packaged code hash of `name` (0x-hex): :data:`CODE_RULE` applied to its compiled
    runtime code."""
    return str(_data(name)["code"]["hash"])


def immutable_ranges(name: str) -> list[tuple[int, int]]:
    """``(start, length)`` in bytes of each immutable variable's value in `name`'s runtime code,
    sorted; empty for a contract without immutables."""
    return [(int(start), int(length)) for start, length in _data(name)["code"]["immutables"]]


def masked_code(code: bytes, ranges: Iterable[tuple[int, int]]) -> bytes:
    """`code` with each ``(start, length)`` range set to zero bytes (ranges past the end are cut)."""
    out = bytearray(code)
    for start, length in ranges:
        end = min(start + length, len(out))
        if start < end:
            out[start:end] = bytes(end - start)
    return bytes(out)


def _as_bytes(code: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(code, str):
        text = code[2:] if code[:2].lower() == "0x" else code
        return bytes.fromhex(text)
    return bytes(code)


def code_matches(name: str, deployed_code: bytes | bytearray | memoryview | str) -> bool:
    """Whether `deployed_code` (the runtime code at an address, ``eth_getCode``; bytes or 0x-hex)
    is contract `name` as this package was built from: the same length as the compiled runtime
    code and, with every immutable range zeroed, the same keccak-256 (:data:`CODE_RULE`). The
    values of the immutables (constructor arguments, the deployment's own address in an EIP-712
    domain) are not compared: read them from the contract when they matter. Empty code (no
    contract, or a self-destructed one) never matches. KeyError for a contract not in
    :data:`CONTRACTS`."""
    code = _as_bytes(deployed_code)
    spec = _data(name)["code"]
    if not code or len(code) != int(spec["length"]):
        return False
    return "0x" + _keccak(masked_code(code, immutable_ranges(name))).hex() == str(spec["hash"]).lower()


# EIP-1167 minimal proxy, as OpenZeppelin's Clones deploys it (StrategyFactory's strategies).
_CLONE_PREFIX = bytes.fromhex("363d3d373d3d3d363d73")
_CLONE_SUFFIX = bytes.fromhex("5af43d82803e903d91602b57fd5bf3")


def clone_code(implementation: str | bytes) -> bytes:
    """The runtime code of an EIP-1167 minimal proxy (OpenZeppelin ``Clones``) delegating to
    `implementation` (an address, 0x-hex or 20 bytes): what an allocation strategy made by the
    StrategyFactory holds."""
    address = _as_bytes(implementation)
    if len(address) != 20:
        raise ValueError(f"an address has 20 bytes, not {len(address)}")
    return _CLONE_PREFIX + address + _CLONE_SUFFIX


def is_clone_of(deployed_code: bytes | bytearray | memoryview | str, implementation: str | bytes) -> bool:
    """Whether `deployed_code` is a minimal proxy delegating to `implementation`. For a
    strategy, check also that `implementation` is the factory's ``implementation()`` and that its
    code matches "AllocationStrategy" (:func:`code_matches`)."""
    return _as_bytes(deployed_code) == clone_code(implementation)


# ------------------------------------------------------------------------------ custom errors

def _canonical_type(param: dict[str, Any]) -> str:
    """A parameter's type as it appears in a signature (tuples spelled out)."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param.get("components", []))
        return f"({inner}){kind[len('tuple'):]}"
    return kind


@cache
def error_selectors() -> dict[bytes, tuple[str, tuple[tuple[str, str], ...]]]:
    """Every custom error of the packaged contracts by its 4-byte selector: ``(name, ((argument
    name, canonical type), ...))``. The first contract in :data:`CONTRACTS` to define a selector
    keeps it (the same signature is the same error wherever it is declared)."""
    table: dict[bytes, tuple[str, tuple[tuple[str, str], ...]]] = {}
    for contract in CONTRACTS:
        for item in _data(contract)["abi"]:
            if item.get("type") != "error":
                continue
            inputs = tuple((str(p.get("name") or ""), _canonical_type(p)) for p in item.get("inputs", []))
            signature = f"{item['name']}({','.join(t for _, t in inputs)})"
            table.setdefault(_keccak(signature.encode())[:4], (str(item["name"]), inputs))
    return table


_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
_PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)


def describe_error(revert_data: bytes | bytearray | memoryview | str) -> str | None:
    """Revert data (selector and ABI-encoded arguments) in words, from the packaged ABIs alone:
    a custom error as ``Name(arg=value, ...)`` (as :mod:`nmrstake.chain.reverts` writes it), a
    revert string as it is, a panic with its code and meaning. None when there is no data or no
    packaged contract has the selector."""
    from eth_abi import decode

    from nmrstake.chain.reverts import PANIC_CODES, error_text

    raw = _as_bytes(revert_data)
    if len(raw) < 4:
        return None
    selector, body = raw[:4], raw[4:]
    try:
        if selector == _ERROR_STRING:
            return str(decode(["string"], body)[0])
        if selector == _PANIC:
            code = int(decode(["uint256"], body)[0])
            meaning = PANIC_CODES.get(code)
            return f"Panic(0x{code:02x}{': ' + meaning if meaning else ''})"
    except Exception:  # noqa: BLE001 - malformed data: nothing to say
        return None
    found = error_selectors().get(selector)
    if found is None:
        return None
    name, inputs = found
    try:
        if len(body) < 32 * len(inputs):  # eth-abi would read missing words as zeros
            raise ValueError("short")
        values = decode([t for _, t in inputs], body) if inputs else ()
    except Exception:  # noqa: BLE001 - the arguments did not arrive whole: the name alone
        return f"{name}(arguments unreadable: 0x{body.hex()})" if body else f"{name}()"
    return error_text(name, zip([n for n, _ in inputs], values, strict=True))
