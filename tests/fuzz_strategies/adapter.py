"""The chain side of the strategy fuzzing: deploys the factory, three strategies and the invoker next
to a Tournament, then sends ABI-encoded calls and signed transactions straight to ape's embedded EVM
(eth-tester) and reads state back. The only module of the fuzzing that touches ape, eth-tester or
web3; it knows nothing of the model.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field

from abi_tables import abi_tables
from eth_abi import decode, encode
from eth.vm.message import Message
from eth_account import Account
from eth_tester.backends.pyevm.main import _get_vm_for_block_number
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak, to_canonical_address, to_checksum_address

GAS = 8_000_000
MAX_UINT = 2**256 - 1
TRANSFER_TOPIC = keccak(b"Transfer(address,address,uint256)")
INVOCATION_FAILED_TOPIC = keccak(b"InvocationFailed(uint256,address,bytes)")
# Errors of libraries that a contract's ABI may leave out.
EXTRA_ERRORS = (
    "Error(string)", "Panic(uint256)",
    "SafeCastOverflowedUintDowncast(uint8,uint256)", "SafeCastOverflowedIntDowncast(uint8,int256)",
    "SafeERC20FailedOperation(address)", "InvalidInitialization()",
    "ERC20InsufficientAllowance(address,uint256,uint256)", "ERC20InsufficientBalance(address,uint256,uint256)",
    "OwnableUnauthorizedAccount(address)",
)
# Accounts the fuzzing makes for itself (deterministic keys, funded with ether at deployment).
FRESH = ("dave", "erin", "mallory", "keeper")
_READER = b"\x00" * 19 + b"\x01"  # the sender of views


def _bytes(x) -> bytes:
    if isinstance(x, (bytes, bytearray)):
        return bytes(x)
    if hasattr(x, "hex") and not isinstance(x, str):
        return bytes(x)
    s = str(x)
    return bytes.fromhex(s[2:] if s.startswith("0x") else s)


@dataclass
class Receipt:
    status: int
    transfers: list = field(default_factory=list)  # NMR Transfer events: (from, to, value), in order
    failures: list = field(default_factory=list)  # invoker InvocationFailed events: (index, strategy, error)


class Chain:
    """ABI-encoded calls and signed transactions to the embedded EVM, by contract ABI name and address."""

    def __init__(self, chain, abis: dict, addresses: dict, keys: dict):
        self.chain = chain
        self.et = chain.provider.tester.ethereum_tester
        self.backend = chain.provider.evm_backend
        self.chain_id = chain.chain_id
        self.addr = {n: to_checksum_address(a) for n, a in addresses.items()}  # contracts and accounts
        self.keys = dict(keys)  # account name -> eth_account LocalAccount
        self.fns, self.errors = abi_tables(abis)
        for sig in EXTRA_ERRORS:
            self.errors[keccak(sig.encode())[:4]] = sig.split("(")[0]
        self.nonces: dict[str, int] = {}
        self.slow_reads = bool(os.environ.get("NMRSTAKE_FUZZ_SLOW_READS"))  # eth_call for every view
        self._state = None  # the shared VM state of the latest block, for views

    # ---------------------------------------------------------------- encoding

    def data(self, abi: str, fname: str, args) -> bytes:
        sel, ins, _outs, _fields = self.fns[(abi, fname)]
        return sel + encode(ins, list(args))

    def decode_error(self, payload: bytes) -> str:
        if not payload:
            return "0x"
        return self.errors.get(payload[:4], "0x" + payload.hex())

    def _error_name(self, exc: TransactionFailed) -> str:
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

    # ---------------------------------------------------------------- reads

    def _view(self, to: str, data: bytes) -> bytes:
        """Runs a view at the latest block. eth-tester's `call` builds a fresh VM state (cold trie
        caches) and a transaction each time, over 10 ms; the invariants read hundreds of values per
        example, so they share one state of the latest block (until the next transaction or time
        travel) and run bare messages on it, each reverted afterwards."""
        if self.slow_reads:
            tx = {"from": self.addr["owner"], "to": to, "data": "0x" + data.hex()}
            return _bytes(self.et.call(tx, "latest"))
        if self._state is None:
            self._state = _get_vm_for_block_number(self.backend.chain, "latest").state
        state = self._state
        target = to_canonical_address(to)
        message = Message(gas=GAS, to=target, sender=_READER, value=0, data=data, code=state.get_code(target))
        context = state.get_transaction_context_class()(gas_price=0, origin=_READER)
        snapshot = state.snapshot()
        try:
            computation = state.computation_class.apply_message(state, message, context)
        finally:
            state.revert(snapshot)
        if computation.is_error:
            raise TransactionFailed(f"view reverted: {computation.error!r}")
        return computation.output

    def call(self, abi: str, to: str, fname: str, *args):
        """A view at the latest block, decoded (a struct comes back as a dict)."""
        _sel, _ins, outs, fields = self.fns[(abi, fname)]
        values = decode(outs, self._view(to, self.data(abi, fname, args)))
        if fields:
            return dict(zip(fields, values[0]))
        return values[0] if len(values) == 1 else values

    def try_call(self, sender: str, to: str, abi: str, fname: str, args) -> tuple[str | None, object]:
        """eth_call at the pending block: (error name, None) or (None, decoded return value)."""
        _sel, _ins, outs, _fields = self.fns[(abi, fname)]
        tx = {"from": self.addr[sender], "to": to, "data": "0x" + self.data(abi, fname, args).hex(), "gas": GAS}
        try:
            raw = _bytes(self.et.call(tx, "pending"))
        except TransactionFailed as exc:
            return self._error_name(exc), None
        values = decode(outs, raw) if outs else ()
        return None, (values[0] if len(values) == 1 else (values or None))

    def balance_of(self, who: str) -> int:
        return self.call("nmr", self.addr["nmr"], "balanceOf", who)

    def total_supply(self) -> int:
        return self.call("nmr", self.addr["nmr"], "totalSupply")

    def allowance(self, holder: str, spender: str) -> int:
        return self.call("nmr", self.addr["nmr"], "allowance", holder, spender)

    def get_stake(self, rid: int, mid: bytes, staker: str) -> tuple[int, bytes]:
        amount, commitment = self.call("tour", self.addr["tour"], "getStake", rid, mid, staker)
        return amount, bytes(commitment)

    def get_round(self, rid: int) -> dict:
        got = self.call("tour", self.addr["tour"], "getRound", rid)
        return {k: (bytes(v) if isinstance(v, (bytes, bytearray)) else v) for k, v in got.items()}

    def model_config(self, strategy: str, mid: bytes) -> tuple:
        got = self.call("strategy", strategy, "model", mid)
        return (got["perRound"], got["mode"], got["net"], got["lastRound"])

    def operator_of(self, strategy: str) -> str:
        return to_checksum_address(self.call("strategy", strategy, "operator"))

    def owner_of(self, strategy: str) -> str:
        return to_checksum_address(self.call("strategy", strategy, "owner"))

    def pending_timestamp(self) -> int:
        return self.et.get_block_by_number("pending")["timestamp"]

    def storage_roots(self, addresses) -> tuple | None:
        """Storage roots of the contracts (any write changes one); None if this py-evm hides them."""
        try:
            db = self.backend.chain.get_vm().state._account_db
            return tuple(db._get_storage_root(bytes.fromhex(a[2:])) for a in addresses)
        except AttributeError:
            return None

    # ---------------------------------------------------------------- writes

    def reset(self) -> None:
        """After a snapshot is restored the cached nonces and state are stale."""
        self.nonces.clear()
        self._state = None

    def travel(self, timestamp: int) -> None:
        self._state = None
        self.chain.pending_timestamp = timestamp

    def send(self, sender: str, to: str, data: bytes, value: int = 0) -> Receipt:
        """Signs, sends and mines one transaction (a reverted one is mined too)."""
        key = self.keys[sender]
        nonce = self.nonces.get(sender)
        if nonce is None:
            nonce = self.et.get_nonce(key.address)
        tx = {"to": to, "data": data, "gas": GAS, "nonce": nonce, "chainId": self.chain_id,
              "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 0, "value": value, "type": 2}
        self._state = None
        txn_hash = self.et.send_raw_transaction("0x" + key.sign_transaction(tx).raw_transaction.hex())
        self.nonces[sender] = nonce + 1
        receipt = self.et.get_transaction_receipt(txn_hash)
        out = Receipt(receipt["status"])
        nmr, invoker = self.addr["nmr"], self.addr.get("invoker")
        for log in receipt["logs"]:
            address = to_checksum_address(log["address"])
            topics = [_bytes(t) for t in log["topics"]]
            payload = _bytes(log["data"])
            if address == nmr and topics and topics[0] == TRANSFER_TOPIC:
                src = to_checksum_address(topics[1][-20:])
                dst = to_checksum_address(topics[2][-20:])
                out.transfers.append((src, dst, decode(["uint256"], payload)[0]))
            elif address == invoker and topics and topics[0] == INVOCATION_FAILED_TOPIC:
                index = int.from_bytes(topics[1], "big")
                strategy = to_checksum_address(topics[2][-20:])
                out.failures.append((index, strategy, self.decode_error(decode(["bytes"], payload)[0])))
        return out

    def transact(self, sender: str, to: str, abi: str, fname: str, args, value: int = 0) -> Receipt:
        return self.send(sender, to, self.data(abi, fname, args), value)


# -------------------------------------------------------------------- deployment


def fresh_key(name: str):
    return Account.from_key(keccak(f"nmrstake strategy fuzzing: {name}".encode()))


@dataclass
class Deployment:
    chain: Chain
    strategies: list  # (strategy, owner name, first operator name or None)
    names: dict  # address -> name of every account and contract the fuzzing follows


def deploy(project, chain, accounts: dict, tournament, token, nmr_each: int,
           strategy_owners: dict) -> Deployment:
    """Deploys a StrategyFactory and a StrategyInvoker (owned by `keeper`) for `tournament`; funds
    the fresh accounts with ether (and `dave`, `erin` with `nmr_each` NMR and an approval of the
    tournament); creates one strategy per entry of `strategy_owners` (owner name -> operator name
    or None), each owner approving its strategy without limit.

    `accounts` are ape test accounts by name (owner, oracle, manager, pauser, alice, bob, carol,
    treasury, stranger). Returns the adapter with every account's key and every address."""
    deployer = accounts["owner"]
    keys = {n: Account.from_key(a.private_key) for n, a in accounts.items()}
    keys.update({n: fresh_key(n) for n in FRESH})
    for n in FRESH:
        deployer.transfer(keys[n].address, 10**21)
    factory = deployer.deploy(project.StrategyFactory, tournament)
    invoker = deployer.deploy(project.StrategyInvoker, keys["keeper"].address)
    addresses = {n: k.address for n, k in keys.items()}
    addresses.update({"tour": tournament.address, "nmr": token.address, "factory": factory.address,
                      "invoker": invoker.address, "implementation": factory.implementation()})
    strategies = []
    for owner_name, op_name in strategy_owners.items():
        op = addresses[op_name] if op_name else "0x" + "00" * 20
        factory.create(op, sender=accounts[owner_name])
        s = to_checksum_address(factory.strategyOf(accounts[owner_name]))
        token.approve(s, MAX_UINT, sender=accounts[owner_name])
        addresses[f"strategy:{owner_name}"] = s
        strategies.append((s, owner_name, op_name))
    abis = {"tour": tournament.contract_type, "nmr": token.contract_type,
            "strategy": project.AllocationStrategy.contract_type,
            "invoker": project.StrategyInvoker.contract_type, "factory": project.StrategyFactory.contract_type}
    c = Chain(chain, abis, addresses, keys)
    for n in ("dave", "erin"):
        token.mint(keys[n].address, nmr_each, sender=deployer)
        receipt = c.transact(n, c.addr["nmr"], "nmr", "approve", (c.addr["tour"], MAX_UINT))
        assert receipt.status == 1
    names = {a: n for n, a in c.addr.items()}
    return Deployment(c, strategies, names)
