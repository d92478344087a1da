"""A node as the participant's path uses it: one :class:`Node` protocol, two ways to reach it.

- :class:`RpcNode`, a node's URL spoken to in JSON-RPC alone: requests for the transport,
  eth-abi for the encoding, the packaged ABIs for the contracts. It never imports web3.py, whose
  own import (with aiohttp, its providers and middlewares) took 0.6 s of a 0.8 s read command.
- :class:`Web3Node`, a connected `Web3` (the operator's tools hand over ape's; the tests the
  embedded chain's), whose contracts are web3.py's own.

Both hand out contracts with the same small surface web3.py's have, and the client uses only that
surface: ``contract.functions.name(*args)`` with ``.call()``, ``.estimate_gas({"from": ...})`` and
``.build_transaction({...})``; ``contract.events.Name().get_logs(from_block=, argument_filters=)``
whose entries carry ``args``, ``event``, ``blockNumber`` and ``logIndex``; ``contract.address``.
Values come back as web3.py gives them: one output bare, several as a list, structs as tuples,
addresses checksummed.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from nmrstake.errors import ChainError
from nmrstake.hashing import checksum_address, keccak_bytes

if TYPE_CHECKING:
    import requests
    from web3 import Web3

#: An ABI entry (function, event or parameter) as the compiler writes it.
AbiItem = Mapping[str, Any]


@dataclass(frozen=True)
class Receipt:
    """What the client needs of a mined transaction's receipt."""

    status: int
    gas_used: int
    block_number: int


class NodeError(Exception):
    """A JSON-RPC error answer: its code, message and `data` (a revert's data, where the node
    gives it; :func:`nmrstake.chain.reverts.revert_data` finds it there)."""

    def __init__(self, method: str, code: int, message: str, data: object = None) -> None:
        super().__init__(f"{method}: {message} (JSON-RPC error {code})")
        self.code, self.message, self.data = code, message, data


class ContractCall(Protocol):
    """One contract function with its arguments (web3.py's ``ContractFunction`` has this surface)."""

    def call(self, transaction: dict[str, Any] | None = None) -> Any: ...

    def estimate_gas(self, transaction: dict[str, Any] | None = None) -> int: ...

    def build_transaction(self, transaction: dict[str, Any] | None = None) -> dict[str, Any]: ...


class ContractHandle(Protocol):
    """A contract with web3.py's surface (the module's docstring): web3.py's own, or an
    :class:`RpcContract`. `functions` and `events` are looked up by name, as in web3.py."""

    @property
    def address(self) -> str: ...

    @property
    def functions(self) -> Any: ...

    @property
    def events(self) -> Any: ...


class Node(Protocol):
    """What the participant's client asks of a node."""

    #: Where the node is, for messages: its URL, or "the connected node".
    where: str

    def chain_id(self) -> int: ...

    def code(self, address: str) -> bytes: ...

    def balance(self, address: str) -> int: ...

    def block_timestamp(self, tag: str = "latest") -> int | None:
        """The block's timestamp; None when the node serves no such block (some refuse "pending")."""

    def call_raw(self, to: str, data: bytes) -> bytes: ...

    def storage(self, address: str, slot: int) -> bytes: ...

    def next_nonce(self, address: str) -> int: ...

    def send_raw(self, raw: bytes) -> str: ...

    def wait(self, txn_hash: str, *, timeout: float) -> Receipt: ...

    def contract(self, address: str, abi: Sequence[AbiItem]) -> ContractHandle: ...


# ---------------------------------------------------------------------------------- ABI codec


def abi_type(param: AbiItem) -> str:
    """A parameter's type as eth-abi and signatures spell it (tuples spelled out)."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in param.get("components", []))
        return f"({inner}){kind[len('tuple'):]}"
    return kind


def signature(item: AbiItem) -> str:
    return f"{item['name']}({','.join(abi_type(p) for p in item.get('inputs', []))})"


def _checksummed(param: AbiItem, value: Any) -> Any:
    """`value` decoded for `param` with every address in it checksummed, as web3.py gives it."""
    kind = str(param["type"])
    if kind.endswith("]"):
        inner = dict(param, type=kind[: kind.rindex("[")])
        return [_checksummed(inner, v) for v in value]
    if kind == "tuple":
        return tuple(_checksummed(c, v) for c, v in zip(param["components"], value))
    if kind == "address":
        return checksum_address(str(value))
    return value


def _encodable(param: AbiItem, value: Any) -> Any:
    """An argument as eth-abi takes it: structs given as mappings (as web3.py allows) become tuples."""
    kind = str(param["type"])
    if kind.endswith("]"):
        inner = dict(param, type=kind[: kind.rindex("[")])
        return [_encodable(inner, v) for v in value]
    if kind == "tuple":
        components = param["components"]
        if isinstance(value, Mapping):
            value = [value[c["name"]] for c in components]
        return tuple(_encodable(c, v) for c, v in zip(components, value))
    return value


def encode_arguments(params: Sequence[AbiItem], args: Sequence[Any]) -> bytes:
    from eth_abi import encode

    return encode([abi_type(p) for p in params], [_encodable(p, a) for p, a in zip(params, args)])


def decode_values(params: Sequence[AbiItem], data: bytes) -> list[Any]:
    from eth_abi import decode

    values = decode([abi_type(p) for p in params], data)
    return [_checksummed(p, v) for p, v in zip(params, values)]


# ---------------------------------------------------------------------------------- RpcNode


def _hex(data: bytes) -> str:
    return "0x" + bytes(data).hex()


def _bytes(text: str | None) -> bytes:
    return bytes.fromhex((text or "0x")[2:])


def _quantity(value: int) -> str:
    return hex(int(value))


class RpcNode:
    """A node at a URL, in JSON-RPC over HTTP (one kept-alive connection): see the module."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        import requests

        self.where = self.url = url
        self.timeout = timeout
        self._session: requests.Session = requests.Session()
        self._ids = itertools.count(1)
        self._chain_id: int | None = None

    def request(self, method: str, params: Sequence[Any] = ()) -> Any:
        """The result of one JSON-RPC call; an error answer raises :class:`NodeError`."""
        answer = self._session.post(self.url, json={"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                                                    "params": list(params)}, timeout=self.timeout)
        answer.raise_for_status()
        body = answer.json()
        error = body.get("error") if isinstance(body, dict) else None
        if error is not None:
            raise NodeError(method, int(error.get("code", 0)), str(error.get("message", "")), error.get("data"))
        return body.get("result")

    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.request("eth_chainId"), 16)
        return self._chain_id

    def code(self, address: str) -> bytes:
        return _bytes(self.request("eth_getCode", [address, "latest"]))

    def balance(self, address: str) -> int:
        return int(self.request("eth_getBalance", [address, "latest"]), 16)

    def block_timestamp(self, tag: str = "latest") -> int | None:
        block = self.request("eth_getBlockByNumber", [tag, False])
        return None if not block or block.get("timestamp") is None else int(block["timestamp"], 16)

    def call_raw(self, to: str, data: bytes, sender: str | None = None) -> bytes:
        tx = {"to": to, "data": _hex(data), **({"from": sender} if sender else {})}
        return _bytes(self.request("eth_call", [tx, "latest"]))

    def storage(self, address: str, slot: int) -> bytes:
        return _bytes(self.request("eth_getStorageAt", [address, _quantity(slot), "latest"]))

    def estimate(self, tx: Mapping[str, Any]) -> int:
        return int(self.request("eth_estimateGas", [dict(tx)]), 16)

    def next_nonce(self, address: str) -> int:
        return int(self.request("eth_getTransactionCount", [address, "pending"]), 16)

    def fee_fields(self) -> dict[str, int]:
        """EIP-1559 fees as web3.py sets them by default (the node's suggested tip, and a cap of
        twice the latest base fee above it); a legacy gas price on a node without base fees."""
        block = self.request("eth_getBlockByNumber", ["latest", False]) or {}
        base = block.get("baseFeePerGas")
        if base is None:
            return {"gasPrice": int(self.request("eth_gasPrice"), 16)}
        tip = int(self.request("eth_maxPriorityFeePerGas"), 16)
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": tip + 2 * int(base, 16)}

    def send_raw(self, raw: bytes) -> str:
        return str(self.request("eth_sendRawTransaction", [_hex(raw)]))

    def wait(self, txn_hash: str, *, timeout: float, poll: float = 0.1) -> Receipt:
        deadline = time.monotonic() + timeout
        while True:
            found = self.request("eth_getTransactionReceipt", [txn_hash])
            if found is not None and found.get("blockNumber") is not None:
                return Receipt(int(found["status"], 16), int(found["gasUsed"], 16), int(found["blockNumber"], 16))
            if time.monotonic() > deadline:
                raise ChainError(f"transaction {txn_hash} was not mined within {timeout:g} s (it may still be)")
            time.sleep(poll)

    def logs(self, address: str, topics: list[Any], from_block: int) -> list[dict[str, Any]]:
        return list(self.request("eth_getLogs", [{"address": address, "topics": topics,
                                                   "fromBlock": _quantity(from_block), "toBlock": "latest"}]))

    def contract(self, address: str, abi: Sequence[AbiItem]) -> RpcContract:
        return RpcContract(self, address, abi)


class RpcContract:
    """A contract on an :class:`RpcNode`, with web3.py's surface (see the module)."""

    def __init__(self, node: RpcNode, address: str, abi: Sequence[AbiItem]) -> None:
        self.node, self.address, self.abi = node, checksum_address(address), abi
        self.functions = _Functions(self)
        self.events = _Events(self)


class _Functions:
    def __init__(self, contract: RpcContract) -> None:
        self._contract = contract
        self._by_name: dict[str, list[AbiItem]] = {}
        for item in contract.abi:
            if item.get("type") == "function":
                self._by_name.setdefault(str(item["name"]), []).append(item)

    def __getattr__(self, name: str) -> Callable[..., RpcCall]:
        overloads = self._by_name.get(name)
        if overloads is None:
            raise AttributeError(f"the contract at {self._contract.address} has no function {name}")

        def bind(*args: Any) -> RpcCall:
            for item in overloads:
                if len(item.get("inputs", [])) == len(args):
                    return RpcCall(self._contract, item, args)
            raise TypeError(f"{name} takes {[len(i.get('inputs', [])) for i in overloads]} arguments, not {len(args)}")

        return bind


class RpcCall:
    """A contract function with its arguments, on an :class:`RpcNode`."""

    def __init__(self, contract: RpcContract, item: AbiItem, args: Sequence[Any]) -> None:
        self.contract, self.item = contract, item
        self.data = keccak_bytes(signature(item).encode())[:4] + encode_arguments(item.get("inputs", []), args)

    def _tx(self, transaction: Mapping[str, Any] | None) -> dict[str, Any]:
        return {**(transaction or {}), "to": self.contract.address, "data": _hex(self.data)}

    def call(self, transaction: dict[str, Any] | None = None) -> Any:
        tx = self._tx(transaction)
        raw = _bytes(self.contract.node.request("eth_call", [tx, "latest"]))
        outputs = self.item.get("outputs", [])
        if outputs and not raw:
            raise ChainError(f"{self.item['name']} on {self.contract.address} returned nothing (no such contract?)")
        values = decode_values(outputs, raw)
        return values[0] if len(values) == 1 else values

    def estimate_gas(self, transaction: dict[str, Any] | None = None) -> int:
        return self.contract.node.estimate(self._tx(transaction))

    def build_transaction(self, transaction: dict[str, Any] | None = None) -> dict[str, Any]:
        """The transaction to sign, fees and value filled in as web3.py fills them."""
        tx = {"value": 0, **(transaction or {}), "to": self.contract.address, "data": _hex(self.data)}
        if "gasPrice" not in tx and "maxFeePerGas" not in tx:
            tx.update(self.contract.node.fee_fields())
        if "chainId" not in tx:
            tx["chainId"] = self.contract.node.chain_id()
        return tx


class _Events:
    def __init__(self, contract: RpcContract) -> None:
        self._contract = contract
        self._items = {str(i["name"]): i for i in contract.abi if i.get("type") == "event"}

    def __getattr__(self, name: str) -> Callable[[], RpcEvent]:
        item = self._items.get(name)
        if item is None:
            raise AttributeError(f"the contract at {self._contract.address} has no event {name}")
        return lambda: RpcEvent(self._contract, item)


class RpcEvent:
    """One event of a contract on an :class:`RpcNode`; its logs decoded as web3.py decodes them."""

    def __init__(self, contract: RpcContract, item: AbiItem) -> None:
        self.contract, self.item = contract, item
        self.topic = _hex(keccak_bytes(signature(item).encode()))

    def get_logs(self, *, from_block: int = 0, argument_filters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        from eth_abi import encode

        inputs = list(self.item.get("inputs", []))
        indexed = [p for p in inputs if p.get("indexed")]
        topics: list[Any] = [self.topic]
        for p in indexed:
            wanted = (argument_filters or {}).get(str(p["name"]))
            if wanted is None:
                topics.append(None)
                continue
            values = wanted if isinstance(wanted, (list, tuple)) else [wanted]
            encoded = [_hex(encode([abi_type(p)], [v])) for v in values]
            topics.append(encoded[0] if len(encoded) == 1 else encoded)
        while topics and topics[-1] is None:
            topics.pop()
        plain = [p for p in inputs if not p.get("indexed")]
        found = []
        for log in self.contract.node.logs(self.contract.address, topics, from_block):
            args: dict[str, Any] = {}
            for p, topic in zip(indexed, log["topics"][1:]):
                static = not abi_type(p).endswith(("]", ")")) and p["type"] not in ("string", "bytes")
                args[str(p["name"])] = decode_values([p], _bytes(topic))[0] if static else _bytes(topic)
            args.update(zip((str(p["name"]) for p in plain), decode_values(plain, _bytes(log["data"]))))
            found.append({"args": args, "event": str(self.item["name"]), "address": self.contract.address,
                          "blockNumber": int(log["blockNumber"], 16), "logIndex": int(log["logIndex"], 16),
                          "transactionHash": _bytes(log["transactionHash"])})
        return found


# ---------------------------------------------------------------------------------- Web3Node


class Web3Node:
    """A connected `Web3` (ape's, the embedded chain's) as a :class:`Node`: its contracts are web3.py's."""

    def __init__(self, w3: Web3, where: str = "the connected node") -> None:
        self.w3, self.where = w3, where

    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def code(self, address: str) -> bytes:
        return bytes(self.w3.eth.get_code(cast("Any", address)))

    def balance(self, address: str) -> int:
        return int(self.w3.eth.get_balance(cast("Any", address)))

    def block_timestamp(self, tag: str = "latest") -> int | None:
        found = self.w3.eth.get_block(cast("Any", tag)).get("timestamp")
        return None if found is None else int(found)

    def call_raw(self, to: str, data: bytes, sender: str | None = None) -> bytes:
        return bytes(self.w3.eth.call(cast("Any", {"to": to, "data": _hex(data), **({"from": sender} if sender else {})})))

    def storage(self, address: str, slot: int) -> bytes:
        return bytes(self.w3.eth.get_storage_at(cast("Any", address), slot))

    def next_nonce(self, address: str) -> int:
        return int(self.w3.eth.get_transaction_count(cast("Any", address), "pending"))

    def send_raw(self, raw: bytes) -> str:
        return "0x" + bytes(self.w3.eth.send_raw_transaction(raw)).hex().removeprefix("0x")

    def wait(self, txn_hash: str, *, timeout: float) -> Receipt:
        found = self.w3.eth.wait_for_transaction_receipt(cast("Any", txn_hash), timeout=timeout, poll_latency=0.1)
        return Receipt(int(found["status"]), int(found["gasUsed"]), int(found["blockNumber"]))

    def contract(self, address: str, abi: Sequence[AbiItem]) -> ContractHandle:
        return self.w3.eth.contract(address=cast("Any", checksum_address(address)), abi=cast("Any", abi))


def as_node(node: str | Node | Web3 | object, *, timeout: float = 30.0) -> Node:
    """A node's URL as an :class:`RpcNode`; a `Web3`, or an ape provider's (`provider.web3`), as
    a :class:`Web3Node`; a node as it is."""
    if isinstance(node, str):
        return RpcNode(node, timeout=timeout)
    if hasattr(node, "call_raw"):
        return cast("Node", node)
    if hasattr(node, "eth"):
        return Web3Node(cast("Web3", node))
    web3 = getattr(node, "web3", None)
    if web3 is None:
        raise ChainError(f"{type(node).__name__} is neither a node's URL, a Web3 nor a provider with one")
    return Web3Node(cast("Web3", web3))
