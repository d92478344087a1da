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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypedDict, cast

from nmrstake.errors import ChainError
from nmrstake.hashing import checksum_address, keccak_bytes
from nmrstake.jsontypes import JsonObject, JsonValue, json_hex_int, json_int, json_object, json_objects

if TYPE_CHECKING:
    import requests
    from eth_typing import BlockIdentifier, ChecksumAddress, HexStr
    from web3 import Web3
    from web3.types import TxParams

#: An ABI entry (function, event or parameter) as the compiler writes it.
AbiItem = Mapping[str, JsonValue]
#: A value as eth-abi decodes it and web3.py hands it out: integers, booleans, addresses and
#: strings, bytes, fixed-point numbers; arrays as lists, structs as tuples.
AbiValue: TypeAlias = "bool | int | Decimal | str | bytes | list[AbiValue] | tuple[AbiValue, ...]"
#: A transaction's fields as web3.py takes and fills them (`from`, `to`, `data`, `value`, `gas`,
#: `nonce`, fees, `chainId`): what the participant's key signs.
TxFields = dict[str, JsonValue]


class EventLog(TypedDict):
    """A decoded event log, in web3.py's shape (the fields the client reads)."""

    args: dict[str, AbiValue]
    event: str
    address: str
    blockNumber: int
    logIndex: int
    transactionHash: bytes


def abi_int(value: AbiValue) -> int:
    """A decoded integer (an integer type's value); a TypeError for another kind."""
    if not isinstance(value, (int, Decimal)):
        raise TypeError(f"not an ABI integer but {type(value).__name__}")
    return int(value)


def abi_bytes(value: AbiValue) -> bytes:
    """A decoded `bytesN` or `bytes` value; a TypeError for another kind."""
    if not isinstance(value, bytes):
        raise TypeError(f"not ABI bytes but {type(value).__name__}")
    return bytes(value)


def abi_params(item: AbiItem, key: str) -> list[AbiItem]:
    """An ABI entry's `inputs`, `outputs` or `components` ([] when it has none)."""
    return list(json_objects(item.get(key, []), f"ABI {key}"))


def _items(value: object) -> list[object]:
    """The elements of an array or struct value (a TypeError for anything that is not iterable)."""
    if not isinstance(value, Iterable):
        raise TypeError(f"'{type(value).__name__}' object is not iterable")
    return list(value)


@dataclass(frozen=True)
class Receipt:
    """What the client needs of a mined transaction's receipt."""

    status: int
    gas_used: int
    block_number: int


class NodeError(ChainError):
    """A JSON-RPC error answer: its code, the node's message and `data` (a revert's data, where the
    node gives it; :func:`nmrstake.chain.reverts.revert_data` finds it there). A ChainError, so
    that a command that meets one prints it in one line."""

    def __init__(self, method: str, code: int, message: str, data: object = None) -> None:
        super().__init__(f"the node refused {method}: {message} (JSON-RPC error {code})")
        self.code, self.node_message, self.data = code, message, data


class ContractCall(Protocol):
    """One contract function with its arguments (web3.py's ``ContractFunction`` has this surface)."""

    # web3.py's call returns its decoded outputs untyped, and the client unpacks them as the ABI
    # says (one output bare, several as a sequence): Any, as web3.py has it.
    def call(self, transaction: TxFields | None = None) -> Any: ...

    def estimate_gas(self, transaction: TxFields | None = None) -> int: ...

    def build_transaction(self, transaction: TxFields | None = None) -> TxFields: ...


class ContractHandle(Protocol):
    """A contract with web3.py's surface (the module's docstring): web3.py's own, or an
    :class:`RpcContract`. `functions` and `events` are looked up by name, as in web3.py."""

    @property
    def address(self) -> str: ...

    # Functions and events are attributes named at run time (``functions.stake(...)``), in
    # web3.py's untyped ContractFunctions/ContractEvents and in RpcContract alike: Any.
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
        inner = ",".join(abi_type(c) for c in abi_params(param, "components"))
        return f"({inner}){kind[len('tuple'):]}"
    return kind


def signature(item: AbiItem) -> str:
    return f"{item['name']}({','.join(abi_type(p) for p in abi_params(item, 'inputs'))})"


def _checksummed(param: AbiItem, value: object) -> AbiValue:
    """`value` decoded for `param` with every address in it checksummed, as web3.py gives it."""
    kind = str(param["type"])
    if kind.endswith("]"):
        inner = dict(param, type=kind[: kind.rindex("[")])
        return [_checksummed(inner, v) for v in _items(value)]
    if kind == "tuple":
        return tuple(_checksummed(c, v) for c, v in zip(abi_params(param, "components"), _items(value)))
    if kind == "address":
        return checksum_address(str(value))
    if not isinstance(value, (bool, int, Decimal, str, bytes)):
        raise TypeError(f"eth-abi decoded {kind} as {type(value).__name__}")
    return value


def _encodable(param: AbiItem, value: object) -> object:
    """An argument as eth-abi takes it: structs given as mappings (as web3.py allows) become tuples."""
    kind = str(param["type"])
    if kind.endswith("]"):
        inner = dict(param, type=kind[: kind.rindex("[")])
        return [_encodable(inner, v) for v in _items(value)]
    if kind == "tuple":
        components = abi_params(param, "components")
        if isinstance(value, Mapping):
            value = [value[c["name"]] for c in components]
        return tuple(_encodable(c, v) for c, v in zip(components, _items(value)))
    return value


def encode_arguments(params: Sequence[AbiItem], args: Sequence[object]) -> bytes:
    from eth_abi import encode

    return encode([abi_type(p) for p in params], [_encodable(p, a) for p, a in zip(params, args)])


def decode_values(params: Sequence[AbiItem], data: bytes) -> list[AbiValue]:
    from eth_abi import decode

    values = decode([abi_type(p) for p in params], data)
    return [_checksummed(p, v) for p, v in zip(params, values)]


def decode_log_args(item: AbiItem, log: Mapping[str, JsonValue]) -> dict[str, AbiValue]:
    """The arguments of event `item` in `log`, a raw log as ``eth_getLogs`` answers it (``topics``
    and ``data`` in 0x-hex), decoded as web3.py decodes them: an indexed dynamic value (a string,
    bytes, an array or a struct) is its topic, the keccak-256 of its encoding, as 32 bytes. The
    one decoder of raw logs: the light node's ``get_logs`` and the event index (`nmrstake.index`)
    both use it. A TypeError or eth-abi's DecodingError for a log that does not fit `item`."""
    inputs = abi_params(item, "inputs")
    indexed = [p for p in inputs if p.get("indexed")]
    plain = [p for p in inputs if not p.get("indexed")]
    log_topics = log["topics"]
    if not isinstance(log_topics, list):
        raise TypeError(f"a log's topics: not a JSON array but {type(log_topics).__name__}")
    if len(log_topics) != len(indexed) + 1:
        raise TypeError(f"{item.get('name')}: {len(log_topics)} topics, the event has {len(indexed) + 1}")
    args: dict[str, AbiValue] = {}
    for p, topic in zip(indexed, log_topics[1:]):
        static = not abi_type(p).endswith(("]", ")")) and p["type"] not in ("string", "bytes")
        args[str(p["name"])] = decode_values([p], _bytes(topic))[0] if static else _bytes(topic)
    args.update(zip((str(p["name"]) for p in plain), decode_values(plain, _bytes(log["data"]))))
    return args


# ---------------------------------------------------------------------------------- RpcNode


def _hex(data: bytes) -> str:
    return "0x" + bytes(data).hex()


def _bytes(text: JsonValue) -> bytes:
    """0x-hex data from the node (None or "" as no data); a TypeError for another kind."""
    if text is not None and not isinstance(text, str):
        raise TypeError(f"not 0x-hex data but {type(text).__name__}")
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
        # The environment's proxy, CA bundle and .netrc for this one URL, resolved once: with
        # trust_env on, requests reads them from os.environ on every call (0.25 ms each, and the
        # service makes several calls per upload).
        settings = self._session.merge_environment_settings(url, {}, None, None, None)
        self._session.proxies.update(settings["proxies"])
        self._session.verify = settings["verify"]
        self._session.auth = requests.utils.get_netrc_auth(url)
        self._session.trust_env = False
        self._ids = itertools.count(1)
        self._chain_id: int | None = None

    def request(self, method: str, params: Sequence[JsonValue] = ()) -> JsonValue:
        """The result of one JSON-RPC call; an error answer raises :class:`NodeError`, a node that
        does not answer (or answers something else than JSON-RPC) a one-line ChainError naming it."""
        import requests

        try:
            answer = self._session.post(self.url, json={"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                                                        "params": list(params)}, timeout=self.timeout)
            answer.raise_for_status()
            body: JsonValue = answer.json()
        except (requests.RequestException, ValueError) as exc:
            raise ChainError(f"the node at {self.url} did not answer {method} ({type(exc).__name__}); is it running, "
                             "and is the URL right?") from None
        error = body.get("error") if isinstance(body, dict) else None
        if error is not None:
            error = json_object(error, f"{method}: the JSON-RPC error")
            raise NodeError(method, json_int(error.get("code", 0)), str(error.get("message", "")), error.get("data"))
        return json_object(body, f"{method}: the JSON-RPC answer").get("result")

    def batch(self, calls: Sequence[tuple[str, Sequence[JsonValue]]]) -> list[JsonValue | NodeError]:
        """The results of several JSON-RPC calls sent in one batch (one HTTP request), in order;
        a call the node refused is its :class:`NodeError` in the list (not raised). A node that
        does not answer, or answers something else than a batch of answers, is a ChainError."""
        import requests

        first = next(self._ids)
        payload = [{"jsonrpc": "2.0", "id": first + k, "method": method, "params": list(params)}
                   for k, (method, params) in enumerate(calls)]
        for _ in calls[1:]:
            next(self._ids)
        what = ", ".join(method for method, _ in calls)
        try:
            answer = self._session.post(self.url, json=payload, timeout=self.timeout)
            answer.raise_for_status()
            body: JsonValue = answer.json()
        except (requests.RequestException, ValueError) as exc:
            raise ChainError(f"the node at {self.url} did not answer {what} ({type(exc).__name__}); is it running, "
                             "and is the URL right?") from None
        if not isinstance(body, list):
            raise ChainError(f"the node at {self.url} answered a batch ({what}) with no list of answers")
        by_id = {json_int(item["id"]): item for item in body
                 if isinstance(item, dict) and isinstance(item.get("id"), int)}
        results: list[JsonValue | NodeError] = []
        for (method, _), call in zip(calls, payload):
            item = by_id.get(int(str(call["id"])))
            if item is None:
                raise ChainError(f"the node at {self.url} left {method} out of its answer to a batch")
            error = item.get("error")
            if error is not None:
                error = json_object(error, f"{method}: the JSON-RPC error")
                results.append(NodeError(method, json_int(error.get("code", 0)), str(error.get("message", "")),
                                         error.get("data")))
            else:
                results.append(item.get("result"))
        return results

    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = json_hex_int(self.request("eth_chainId"))
        return self._chain_id

    def code(self, address: str) -> bytes:
        return _bytes(self.request("eth_getCode", [address, "latest"]))

    def balance(self, address: str) -> int:
        return json_hex_int(self.request("eth_getBalance", [address, "latest"]))

    def block_timestamp(self, tag: str = "latest") -> int | None:
        block = self.request("eth_getBlockByNumber", [tag, False])
        if not block:
            return None
        found = json_object(block, "the block").get("timestamp")
        return None if found is None else json_hex_int(found)

    def call_raw(self, to: str, data: bytes, sender: str | None = None) -> bytes:
        tx: TxFields = {"to": to, "data": _hex(data), **({"from": sender} if sender else {})}
        return _bytes(self.request("eth_call", [tx, "latest"]))

    def storage(self, address: str, slot: int) -> bytes:
        return _bytes(self.request("eth_getStorageAt", [address, _quantity(slot), "latest"]))

    def estimate(self, tx: Mapping[str, JsonValue]) -> int:
        return json_hex_int(self.request("eth_estimateGas", [dict(tx)]))

    def next_nonce(self, address: str) -> int:
        return json_hex_int(self.request("eth_getTransactionCount", [address, "pending"]))

    def fee_fields(self) -> dict[str, int]:
        """EIP-1559 fees as web3.py sets them by default (the node's suggested tip, and a cap of
        twice the latest base fee above it); a legacy gas price on a node without base fees."""
        block = json_object(self.request("eth_getBlockByNumber", ["latest", False]) or {}, "the latest block")
        base = block.get("baseFeePerGas")
        if base is None:
            return {"gasPrice": json_hex_int(self.request("eth_gasPrice"))}
        tip = json_hex_int(self.request("eth_maxPriorityFeePerGas"))
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": tip + 2 * json_hex_int(base)}

    def send_raw(self, raw: bytes) -> str:
        return str(self.request("eth_sendRawTransaction", [_hex(raw)]))

    def wait(self, txn_hash: str, *, timeout: float, poll: float = 0.1) -> Receipt:
        deadline = time.monotonic() + timeout
        while True:
            answer = self.request("eth_getTransactionReceipt", [txn_hash])
            found = None if answer is None else json_object(answer, f"the receipt of {txn_hash}")
            if found is not None and found.get("blockNumber") is not None:
                return Receipt(json_hex_int(found["status"]), json_hex_int(found["gasUsed"]),
                               json_hex_int(found["blockNumber"]))
            if time.monotonic() > deadline:
                raise ChainError(f"transaction {txn_hash} was not mined within {timeout:g} s (it may still be)")
            time.sleep(poll)

    def logs(self, address: str, topics: list[JsonValue], from_block: int) -> list[JsonObject]:
        return json_objects(self.request("eth_getLogs", [{"address": address, "topics": topics,
                                                          "fromBlock": _quantity(from_block), "toBlock": "latest"}]),
                            "eth_getLogs")

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

        def bind(*args: object) -> RpcCall:
            for item in overloads:
                if len(abi_params(item, "inputs")) == len(args):
                    return RpcCall(self._contract, item, args)
            raise TypeError(f"{name} takes {[len(abi_params(i, 'inputs')) for i in overloads]} arguments, not {len(args)}")

        return bind


class RpcCall:
    """A contract function with its arguments, on an :class:`RpcNode`."""

    def __init__(self, contract: RpcContract, item: AbiItem, args: Sequence[object]) -> None:
        self.contract, self.item = contract, item
        self.data = keccak_bytes(signature(item).encode())[:4] + encode_arguments(abi_params(item, "inputs"), args)

    def _tx(self, transaction: Mapping[str, JsonValue] | None) -> TxFields:
        return {**(transaction or {}), "to": self.contract.address, "data": _hex(self.data)}

    def call(self, transaction: TxFields | None = None) -> AbiValue:
        tx = self._tx(transaction)
        raw = _bytes(self.contract.node.request("eth_call", [tx, "latest"]))
        outputs = abi_params(self.item, "outputs")
        if outputs and not raw:
            raise ChainError(f"{self.item['name']} on {self.contract.address} returned nothing (no such contract?)")
        values = decode_values(outputs, raw)
        return values[0] if len(values) == 1 else values

    def estimate_gas(self, transaction: TxFields | None = None) -> int:
        return self.contract.node.estimate(self._tx(transaction))

    def build_transaction(self, transaction: TxFields | None = None) -> TxFields:
        """The transaction to sign, fees and value filled in as web3.py fills them."""
        tx: TxFields = {"value": 0, **(transaction or {}), "to": self.contract.address, "data": _hex(self.data)}
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

    def get_logs(self, *, from_block: int = 0, argument_filters: Mapping[str, object] | None = None) -> list[EventLog]:
        from eth_abi import encode

        inputs = abi_params(self.item, "inputs")
        indexed = [p for p in inputs if p.get("indexed")]
        topics: list[JsonValue] = [self.topic]
        for p in indexed:
            wanted = (argument_filters or {}).get(str(p["name"]))
            if wanted is None:
                topics.append(None)
                continue
            values: Sequence[object] = wanted if isinstance(wanted, (list, tuple)) else [wanted]
            encoded: list[JsonValue] = [_hex(encode([abi_type(p)], [v])) for v in values]
            topics.append(encoded[0] if len(encoded) == 1 else encoded)
        while topics and topics[-1] is None:
            topics.pop()
        found: list[EventLog] = []
        for log in self.contract.node.logs(self.contract.address, topics, from_block):
            args = decode_log_args(self.item, log)
            found.append({"args": args, "event": str(self.item["name"]), "address": self.contract.address,
                          "blockNumber": json_hex_int(log["blockNumber"]), "logIndex": json_hex_int(log["logIndex"]),
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
        return bytes(self.w3.eth.get_code(cast("ChecksumAddress", address)))

    def balance(self, address: str) -> int:
        return int(self.w3.eth.get_balance(cast("ChecksumAddress", address)))

    def block_timestamp(self, tag: str = "latest") -> int | None:
        found = self.w3.eth.get_block(cast("BlockIdentifier", tag)).get("timestamp")
        return None if found is None else int(found)

    def call_raw(self, to: str, data: bytes, sender: str | None = None) -> bytes:
        return bytes(self.w3.eth.call(cast("TxParams", {"to": to, "data": _hex(data), **({"from": sender} if sender else {})})))

    def storage(self, address: str, slot: int) -> bytes:
        return bytes(self.w3.eth.get_storage_at(cast("ChecksumAddress", address), slot))

    def next_nonce(self, address: str) -> int:
        return int(self.w3.eth.get_transaction_count(cast("ChecksumAddress", address), "pending"))

    def send_raw(self, raw: bytes) -> str:
        return "0x" + bytes(self.w3.eth.send_raw_transaction(raw)).hex().removeprefix("0x")

    def wait(self, txn_hash: str, *, timeout: float) -> Receipt:
        found = self.w3.eth.wait_for_transaction_receipt(cast("HexStr", txn_hash), timeout=timeout, poll_latency=0.1)
        return Receipt(int(found["status"]), int(found["gasUsed"]), int(found["blockNumber"]))

    def contract(self, address: str, abi: Sequence[AbiItem]) -> ContractHandle:
        return self.w3.eth.contract(address=cast("ChecksumAddress", checksum_address(address)), abi=abi)


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
