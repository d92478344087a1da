"""Why a call reverted, in words: a custom error of any of the project's contracts by name with
its arguments (``AlreadySettled(roundId=1001)``), a revert string as it is, a panic by its code.

ape names a custom error only when the contract it holds for the failing address has that error
in its ABI and the revert data reaches it intact. Neither is always so: on Anvil ape keeps only
the node's message of a reverting `eth_call` (``custom error 0x8fec535e: …``, the data lost), a
mined transaction's failure carries no data at all, and an error may come from another contract
of the project than the one called (the token under the tournament, the tournament under a
strategy). Here the revert data is looked for wherever it is (the exception and its causes, the
node's message, or asked of the node again by the caller), and its 4-byte selector is looked up
among the custom errors of every compiled contract of the project (:func:`project_errors`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import Any

from eth_utils import keccak, to_checksum_address

#: A revert string (`require(cond, "text")`, `revert("text")`) and a compiler panic.
ERROR_STRING = keccak(text="Error(string)")[:4]
PANIC = keccak(text="Panic(uint256)")[:4]

#: The panic codes of the Solidity documentation.
PANIC_CODES = {
    0x00: "generic compiler panic", 0x01: "assertion failed", 0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero", 0x21: "invalid enum value", 0x22: "invalid storage byte array",
    0x31: "pop on an empty array", 0x32: "array index out of bounds", 0x41: "out of memory",
    0x51: "call to an uninitialised function",
}

# Anvil's words for revert data it cannot name (foundry's RevertDecoder): the selector, then the
# arguments as text when they happen to be UTF-8, else as hex (possibly shortened with "…").
_NODE_TEXT = re.compile(r"custom error (0x[0-9a-fA-F]{8})(?::\s?(.*))?\Z", re.DOTALL)
_HEX = re.compile(r"(0x)?([0-9a-fA-F]{2})*\Z")
# eth-tester's (the embedded chain's) words: "execution reverted: b'...'".
_BYTES_LITERAL = re.compile(r"""(b'(?:[^'\\]|\\.)*'|b"(?:[^"\\]|\\.)*")""", re.DOTALL)


class ErrorSpec:
    """One custom error: its name and its inputs' names and canonical types."""

    def __init__(self, name: str, inputs: list[tuple[str, str]]) -> None:
        self.name = name
        self.inputs = inputs

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(t for _, t in self.inputs)})"

    @property
    def selector(self) -> bytes:
        return keccak(text=self.signature)[:4]

    @classmethod
    def from_abi(cls, item: Any) -> ErrorSpec:
        return cls(str(item.name), [(str(i.name or ""), str(i.canonical_type)) for i in item.inputs])


def error_table(contract_types: Iterable[Any]) -> dict[bytes, ErrorSpec]:
    """4-byte selector -> custom error, from the ABIs of `contract_types` (ethpm ContractTypes);
    the first contract to define a selector keeps it."""
    table: dict[bytes, ErrorSpec] = {}
    for ct in contract_types:
        for item in getattr(ct, "abi", None) or ():
            if getattr(item, "type", None) == "error":
                spec = ErrorSpec.from_abi(item)
                table.setdefault(spec.selector, spec)
    return table


@cache
def project_errors() -> dict[bytes, ErrorSpec]:
    """Every custom error of every contract the project compiled (interfaces, OpenZeppelin's
    errors that the contracts' ABIs carry, the test contracts), by selector. Read once per
    process from the project's manifest, never compiling anything."""
    from nmrstake.chain.connect import load_project

    try:
        types = (load_project().manifest.contract_types or {}).values()
    except Exception:  # noqa: BLE001 - no project here: only the caller's contract can name it
        return {}
    return error_table(types)


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, str) and re.fullmatch(r"0x[0-9a-fA-F]{40}", value):
        return to_checksum_address(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    return str(value)


def error_text(name: str, arguments: Iterable[tuple[str, Any]]) -> str:
    """``Name(arg=value, ...)`` in the ABI's order; bytes as 0x-hex, addresses checksummed."""
    parts = [f"{k}={_value_text(v)}" if k else _value_text(v) for k, v in arguments]
    return f"{name}({', '.join(parts)})"


def describe_revert(data: bytes, *, contract_type: Any = None) -> str | None:
    """Revert data in words: a custom error (of `contract_type` first, then of any project
    contract) by name with its arguments, a revert string as it is, a panic with its meaning.
    None when there is no data or its selector is nobody's."""
    from eth_abi import decode

    data = bytes(data)
    if len(data) < 4:
        return None
    selector, body = data[:4], data[4:]
    if selector == ERROR_STRING:
        try:
            return str(decode(["string"], body)[0])
        except Exception:  # noqa: BLE001 - malformed: say what it was
            return None
    if selector == PANIC:
        try:
            code = int(decode(["uint256"], body)[0])
        except Exception:  # noqa: BLE001
            return None
        meaning = PANIC_CODES.get(code)
        return f"Panic(0x{code:02x}{': ' + meaning if meaning else ''})"
    spec = None
    if contract_type is not None:
        spec = error_table([contract_type]).get(selector)
    spec = spec or project_errors().get(selector)
    if spec is None:
        return None
    try:
        values = decode([t for _, t in spec.inputs], body) if spec.inputs else ()
    except Exception:  # noqa: BLE001 - the arguments did not arrive whole: the name alone
        return f"{spec.name}(arguments unreadable: 0x{body.hex()})" if body else f"{spec.name}()"
    return error_text(spec.name, zip([n for n, _ in spec.inputs], values, strict=True))


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, what ape wraps in it (``base_err``), and its causes and contexts."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        cur = todo.pop(0)
        if any(cur is s for s in seen):
            continue
        seen.append(cur)
        yield cur
        for nxt in (getattr(cur, "base_err", None), cur.__cause__, cur.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def _hex_bytes(value: Any) -> bytes | None:
    if isinstance(value, (bytes, bytearray)) and len(value) >= 4:
        return bytes(value)
    if isinstance(value, str) and value.startswith("0x") and len(value) >= 10 and _HEX.fullmatch(value):
        return bytes.fromhex(value[2:])
    return None


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert data (selector and arguments) an exception carries, if it carries it whole:
    ape's ``revert_message`` when it is hex, web3's ``data`` (on a node), or the bytes in
    eth-tester's message (on the embedded chain)."""
    for cur in _causes(exc):
        for attr in ("revert_message", "data"):
            found = _hex_bytes(getattr(cur, attr, None))
            if found is not None:
                return found
        rpc_data = _rpc_error_data(cur)
        if rpc_data is not None:
            return rpc_data
        if type(cur).__name__ == "TransactionFailed":  # eth-tester: "execution reverted: b'...'"
            for arg in cur.args:
                if isinstance(arg, (bytes, bytearray)) and len(arg) >= 4:
                    return bytes(arg)
                match = _BYTES_LITERAL.search(str(arg))
                if match:
                    try:
                        raw = ast.literal_eval(match.group(1))
                    except (ValueError, SyntaxError):
                        continue
                    if isinstance(raw, bytes) and len(raw) >= 4:
                        return raw
    return None


def _rpc_error_data(exc: BaseException) -> bytes | None:
    """The ``data`` of a JSON-RPC error object among the exception's arguments (web3's
    Web3RPCError and ape's ProviderError keep the node's answer there)."""
    for arg in (*exc.args, getattr(exc, "rpc_response", None)):
        if isinstance(arg, dict):
            error = arg.get("error", arg)
            if isinstance(error, dict):
                found = _hex_bytes(error.get("data"))
                if found is not None:
                    return found
    return None


def _from_node_text(exc: BaseException) -> str | None:
    """The error a node named only by its selector (Anvil: ``custom error 0x8fec535e: …``), by
    name; its arguments too when the node's text of them is whole."""
    for cur in _causes(exc):
        texts = [getattr(cur, "revert_message", None), *[a for a in cur.args if isinstance(a, str)]]
        for text in texts:
            if not isinstance(text, str):
                continue
            match = _NODE_TEXT.search(text)
            if not match:
                continue
            selector = bytes.fromhex(match.group(1)[2:])
            rest = match.group(2) or ""
            body = bytes.fromhex(rest[2:] if rest.startswith("0x") else rest) if rest and _HEX.fullmatch(rest) else \
                rest.encode("utf-8", errors="replace")
            spec = project_errors().get(selector)
            if spec is None:
                return None
            whole = describe_revert(selector + body) if len(body) == 32 * len(spec.inputs) else None
            if whole is not None and "arguments unreadable" not in whole:
                return whole
            return f"{spec.name}(…)" if spec.inputs else f"{spec.name}()"
    return None


def _ape_custom_error(exc: BaseException) -> str | None:
    from ape.exceptions import CustomError

    for cur in _causes(exc):
        if isinstance(cur, CustomError):
            inputs = dict(getattr(cur, "inputs", None) or {})
            abi = getattr(cur, "abi", None)
            names = [str(i.name) for i in abi.inputs] if abi is not None else list(inputs)
            return error_text(type(cur).__name__, [(n, inputs.get(n)) for n in names])
    return None


def revert_reason(exc: BaseException, *, replay: Callable[[], bytes | None] | None = None,
                  contract_type: Any = None) -> str:
    """Why `exc` (ape's, web3's or eth-tester's exception for a revert) happened, in one line:
    the custom error by name with its arguments wherever ape decoded it or the revert data can
    be found (`replay`, when given, asks the node for the data again: it runs only when the
    exception has none); else ape's message."""
    named = _ape_custom_error(exc)
    if named is not None:
        return named
    data = revert_data(exc)
    if data is None and replay is not None:
        try:
            data = replay()
        except Exception:  # noqa: BLE001 - asking again is a courtesy: the message below still says something
            data = None
    if data is not None:
        described = describe_revert(data, contract_type=contract_type)
        if described is not None:
            return described
    from_text = _from_node_text(exc)
    if from_text is not None:
        return from_text
    message = " ".join(str(getattr(exc, "message", None) or exc).split())
    if data is not None and len(data) >= 4:
        return f"unknown custom error 0x{data[:4].hex()} (revert data 0x{data.hex()})"
    return message


def call_revert_data(web3: Any, txn: dict[str, Any], block: Any = "latest") -> bytes | None:
    """The revert data of `txn` run as an `eth_call` at `block` through web3 (which keeps the
    node's data, where ape keeps only its message); None when the call succeeds or the data
    cannot be found."""
    try:
        web3.eth.call(txn, block)
    except Exception as exc:  # noqa: BLE001 - web3, eth-tester and nodes raise many types
        return revert_data(exc)
    return None


def traced_revert_data(provider: Any, txn_hash: str) -> bytes | None:
    """The revert data of a mined transaction from the node's call tracer
    (`debug_traceTransaction`, geth's and Anvil's); None where the node has no such tracer."""
    try:
        trace = provider.make_request("debug_traceTransaction", [txn_hash, {"tracer": "callTracer"}])
    except Exception:  # noqa: BLE001 - not every node traces (the embedded chain does not)
        return None
    output = trace.get("output") if isinstance(trace, dict) else None
    return _hex_bytes(output) if isinstance(output, str) else None


__all__ = ["ErrorSpec", "call_revert_data", "describe_revert", "error_table", "error_text", "project_errors",
           "revert_data", "revert_reason", "traced_revert_data"]
