"""The chain side of the tournament fuzzing: ABI-encoded calls and signed transactions straight to
ape's embedded EVM (eth-tester, through tests/helpers/raw_evm.py) for the NMR token and the Tournament, by
account name, and the state read back. The only module of the fuzzing that touches ape, eth-tester
or web3; it knows nothing of the model.
"""

from __future__ import annotations

import os

from eth_abi import decode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from helpers.raw_evm import RawEvm, as_bytes

GAS = 3_000_000
STAKED = keccak(b"Staked(uint256,bytes32,address,uint256,uint256,bytes32)")
COMMITMENT_CHANGED = keccak(b"CommitmentChanged(uint256,bytes32,address,bytes20,bytes32)")


class Evm(RawEvm):
    """The token ("nmr") and the tournament ("tour") of `contracts` (name -> ape contract), and the
    ape test `accounts` by name."""

    def __init__(self, chain, contracts: dict, accounts: dict):
        keys = {n: Account.from_key(a.private_key) for n, a in accounts.items()}
        super().__init__(chain, {name: c.contract_type for name, c in contracts.items()}, keys, GAS)
        self.addr = {name: c.address for name, c in contracts.items()}
        self.address = {n: a.address for n, a in accounts.items()}

    # ---------------------------------------------------------------- reads (latest block)

    def raw(self, cname: str, fname: str, *args) -> bytes:
        return self.eth_call(self.address["owner"], self.addr[cname], self.data(cname, fname, args))

    def call(self, cname: str, fname: str, *args):
        return self.decode_return(cname, fname, self.raw(cname, fname, *args))

    def balance_of(self, address: str) -> int:
        return self.call("nmr", "balanceOf", address)

    def total_supply(self) -> int:
        return self.call("nmr", "totalSupply")

    def pool(self) -> int:
        return self.call("tour", "pool")

    def last_round_id(self) -> int:
        return self.call("tour", "lastRoundId")

    def get_round(self, rid: int) -> dict:
        got = self.call("tour", "getRound", rid)
        return {k: (bytes(v) if isinstance(v, (bytes, bytearray)) else v) for k, v in got.items()}

    def get_stake(self, rid: int, mid: bytes, staker: str) -> tuple[int, bytes]:
        amount, commitment = self.call("tour", "getStake", rid, mid, staker)
        return amount, bytes(commitment)

    def fingerprint(self, sender: str, rids=(), keys=()) -> tuple:
        """What a reverted call by `sender` must leave as it was: the storage of both contracts (all
        balances, allowances, the supply, every round, stake, the pool, the pause) through their
        storage roots, and, through the getters, the balances involved, the rounds `rids` and the
        stakes `keys` (round, model id, staker)."""
        roots = self.storage_roots(self.addr.values())
        out = [roots, self.raw("nmr", "balanceOf", self.addr["tour"])]
        if roots is None or os.environ.get("NMRSTAKE_FUZZ_GETTERS"):
            # Without storage roots (another py-evm) or on request: the getters, one by one.
            out += [self.raw("nmr", "balanceOf", self.address[sender]), self.raw("nmr", "totalSupply")]
            out += [self.raw("tour", "getRound", rid) for rid in sorted(set(rids))]
            out += [self.raw("tour", "getStake", rid, mid, staker) for rid, mid, staker in keys]
            out += [self.raw("tour", "pool"), self.raw("tour", "pausedUntil"), self.raw("tour", "lastRoundId")]
        return tuple(out)

    # ---------------------------------------------------------------- writes

    def revert_of(self, sender: str, cname: str, fname: str, args) -> str | None:
        """The error the call reverts with at the pending block (None: it succeeds)."""
        error, _raw = self.pending_call(self.address[sender], self.addr[cname], self.data(cname, fname, args))
        return error

    def send(self, sender: str, cname: str, fname: str, args) -> int:
        """Signs, sends and mines a transaction; returns its receipt status (reverted ones are mined)."""
        self.last_receipt = self.send_raw(sender, self.addr[cname], self.data(cname, fname, args))
        return self.last_receipt["status"]

    def stake_events(self) -> list[tuple]:
        """The tournament's `Staked` and `CommitmentChanged` events of the last transaction sent, in
        order: ("Staked", key, amount, newTotal, commitment) and ("CommitmentChanged", key,
        oldCommitmentPrefix, newCommitment), key = (round, model id, staker)."""
        out: list[tuple] = []
        for log in self.last_receipt["logs"]:
            if log["address"].lower() != self.addr["tour"].lower():
                continue
            topics = [as_bytes(t) for t in log["topics"]]
            data = as_bytes(log["data"])
            key = (int.from_bytes(topics[1], "big"), topics[2], to_checksum_address(topics[3][12:])) \
                if len(topics) == 4 else None
            if topics[0] == STAKED:
                out.append(("Staked", key, *decode(["uint256", "uint256", "bytes32"], data)))
            elif topics[0] == COMMITMENT_CHANGED:
                out.append(("CommitmentChanged", key, *decode(["bytes20", "bytes32"], data)))
        return out
