"""What both fuzzing adapters (tests/helpers/fuzz_tournament/adapter.py, tests/helpers/fuzz_strategies/adapter.py)
share to talk to ape's embedded EVM without ape's contract layer: ABI-encoded calls by contract
name (the tables of tests/helpers/abi_tables.py), error names decoded from revert data, `eth_call`s at the
pending block, transactions signed with the accounts' keys and sent raw to eth-tester (nonces kept
here), time travel and the contracts' storage roots.
"""

from __future__ import annotations

import ast

from eth_abi import decode, encode
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak

from helpers.abi_tables import abi_tables


def as_bytes(x) -> bytes:
    """eth-tester's answers (hex strings, HexBytes, bytes) as bytes."""
    if isinstance(x, (bytes, bytearray)):
        return bytes(x)
    if hasattr(x, "hex") and not isinstance(x, str):
        return bytes(x)
    s = str(x)
    return bytes.fromhex(s[2:] if s.startswith("0x") else s)


class RawEvm:
    """ABI-encoded calls and signed transactions straight to the embedded EVM.

    `contract_types`: ABI name -> ape contract type (the names `data`, `decode_return` and the
    subclasses use); `keys`: account name -> eth_account LocalAccount; `gas`: of every call and
    transaction; `extra_errors`: signatures of errors the ABIs leave out (libraries')."""

    def __init__(self, chain, contract_types: dict, keys: dict, gas: int, extra_errors=()):
        self.chain = chain
        self.et = chain.provider.tester.ethereum_tester
        self.backend = chain.provider.evm_backend
        self.chain_id = chain.chain_id
        self.gas = gas
        self.keys = dict(keys)
        self.fns, self.errors = abi_tables(contract_types)
        for sig in extra_errors:
            self.errors[keccak(sig.encode())[:4]] = sig.split("(")[0]
        self.nonces: dict[str, int] = {}

    # ---------------------------------------------------------------- encoding

    def data(self, abi: str, fname: str, args) -> bytes:
        sel, ins, _outs, _fields = self.fns[(abi, fname)]
        return sel + encode(ins, list(args))

    def decode_return(self, abi: str, fname: str, raw: bytes):
        """A function's return data, decoded: one value, a tuple of values, or a struct as a dict."""
        _sel, _ins, outs, fields = self.fns[(abi, fname)]
        values = decode(outs, raw)
        if fields:
            return dict(zip(fields, values[0]))
        return values[0] if len(values) == 1 else values

    def decode_error(self, payload: bytes) -> str:
        if not payload:
            return "0x"
        return self.errors.get(payload[:4], "0x" + payload.hex())

    def error_name(self, exc: TransactionFailed) -> str:
        """The name of the error a failed call reverted with ("0x": no data)."""
        msg = exc.args[0] if exc.args else b""
        if isinstance(msg, str) and msg[:2] in ("b'", 'b"'):
            try:
                msg = ast.literal_eval(msg)
            except (ValueError, SyntaxError):
                pass
        if isinstance(msg, (bytes, bytearray)):
            return self.decode_error(bytes(msg))
        if msg in ("", None):
            return "0x"
        return f"Error({msg})"

    # ---------------------------------------------------------------- calls

    def eth_call(self, sender: str, to: str, data: bytes, block: str = "latest") -> bytes:
        """`eth_call` from the address `sender`; raises TransactionFailed if it reverts."""
        tx = {"from": sender, "to": to, "data": "0x" + data.hex(), "gas": self.gas}
        return as_bytes(self.et.call(tx, block))

    def pending_call(self, sender: str, to: str, data: bytes) -> tuple[str | None, bytes]:
        """`eth_call` at the pending block: (the error's name, b"") or (None, the return data)."""
        try:
            return None, self.eth_call(sender, to, data, "pending")
        except TransactionFailed as exc:
            return self.error_name(exc), b""

    # ---------------------------------------------------------------- transactions and time

    def send_raw(self, sender: str, to: str, data: bytes, value: int = 0) -> dict:
        """Signs (with the key of the account named `sender`), sends and mines one transaction;
        returns eth-tester's receipt (a reverted transaction is mined too)."""
        key = self.keys[sender]
        nonce = self.nonces.get(sender)
        if nonce is None:
            nonce = self.et.get_nonce(key.address)
        tx = {"to": to, "data": data, "gas": self.gas, "nonce": nonce, "chainId": self.chain_id,
              "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 0, "value": value, "type": 2}
        txn_hash = self.et.send_raw_transaction("0x" + key.sign_transaction(tx).raw_transaction.hex())
        self.nonces[sender] = nonce + 1
        return self.et.get_transaction_receipt(txn_hash)

    def reset(self) -> None:
        """After a chain snapshot is restored the cached nonces are stale."""
        self.nonces.clear()

    def pending_timestamp(self) -> int:
        return self.et.get_block_by_number("pending")["timestamp"]

    def travel(self, timestamp: int) -> None:
        self.chain.pending_timestamp = timestamp

    def storage_roots(self, addresses) -> tuple | None:
        """Storage roots of the contracts (any write changes one); None if this py-evm hides them."""
        try:
            db = self.backend.chain.get_vm().state._account_db
            return tuple(db._get_storage_root(bytes.fromhex(a[2:])) for a in addresses)
        except AttributeError:
            return None
