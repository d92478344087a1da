"""The chain side of the strategy fuzzing: deploys the factory, three strategies and the invoker next
to a Tournament, then sends ABI-encoded calls and signed transactions straight to ape's embedded EVM
(eth-tester) and reads state back. The only module of the fuzzing that touches ape, eth-tester or
web3; it knows nothing of the model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from eth.abc import StateAPI
from eth.vm.message import Message
from eth_abi import decode
from eth_account import Account
from eth_tester.backends.pyevm.main import _get_vm_for_block_number
from eth_tester.exceptions import TransactionFailed
from eth_typing import Address
from eth_utils import keccak, to_canonical_address, to_checksum_address

from helpers.raw_evm import RawEvm, as_bytes

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
_READER = Address(b"\x00" * 19 + b"\x01")  # the sender of views


@dataclass
class Receipt:
    status: int
    transfers: list = field(default_factory=list)  # NMR Transfer events: (from, to, value), in order
    failures: list = field(default_factory=list)  # invoker InvocationFailed events: (index, strategy, error)


class Chain(RawEvm):
    """ABI-encoded calls and signed transactions to the embedded EVM, by contract ABI name and address
    (tests/helpers/raw_evm.py), with fast views and the NMR transfers and invoker failures of each receipt."""

    def __init__(self, chain, abis: dict, addresses: dict, keys: dict):
        super().__init__(chain, abis, keys, GAS, EXTRA_ERRORS)
        self.addr = {n: to_checksum_address(a) for n, a in addresses.items()}  # contracts and accounts
        self.slow_reads = bool(os.environ.get("NMRSTAKE_FUZZ_SLOW_READS"))  # eth_call for every view
        self._state: StateAPI | None = None  # the shared VM state of the latest block, for views

    # ---------------------------------------------------------------- reads

    def _view(self, to: str, data: bytes) -> bytes:
        """Runs a view at the latest block. eth-tester's `call` builds a fresh VM state (cold trie
        caches) and a transaction each time, over 10 ms; the invariants read hundreds of values per
        example, so they share one state of the latest block (until the next transaction or time
        travel) and run bare messages on it, each reverted afterwards."""
        if self.slow_reads:
            return self.eth_call(self.addr["owner"], to, data)
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
        return self.decode_return(abi, fname, self._view(to, self.data(abi, fname, args)))

    def try_call(self, sender: str, to: str, abi: str, fname: str, args) -> tuple[str | None, object]:
        """eth_call at the pending block: (error name, None) or (None, decoded return value)."""
        _sel, _ins, outs, _fields = self.fns[(abi, fname)]
        error, raw = self.pending_call(self.addr[sender], to, self.data(abi, fname, args))
        if error is not None:
            return error, None
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

    # ---------------------------------------------------------------- writes

    def reset(self) -> None:
        """After a snapshot is restored the cached nonces and state are stale."""
        super().reset()
        self._state = None

    def travel(self, timestamp: int) -> None:
        self._state = None
        super().travel(timestamp)

    def send(self, sender: str, to: str, data: bytes, value: int = 0) -> Receipt:
        """Signs, sends and mines one transaction (a reverted one is mined too)."""
        self._state = None
        receipt = self.send_raw(sender, to, data, value)
        out = Receipt(receipt["status"])
        nmr, invoker = self.addr["nmr"], self.addr.get("invoker")
        for log in receipt["logs"]:
            address = to_checksum_address(log["address"])
            topics = [as_bytes(t) for t in log["topics"]]
            payload = as_bytes(log["data"])
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
