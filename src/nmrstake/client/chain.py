"""The participant's view of the chain, through web3.py alone (no ape): the deployment's token and
tournament, their reads, and transactions signed with the participant's own key.

Contract ABIs come from the package's data (:mod:`nmrstake.abi`), so a participant's machine needs
no compiler and no ape project. Rounds and stakes come back as the same records the rest of the
package uses (:class:`~nmrstake.tournament.RoundInfo`, :class:`~nmrstake.tournament.ChainStake`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from eth_utils import to_checksum_address

from nmrstake.deploy import Deployment
from nmrstake.errors import ChainError, ConfigError, UnknownRoundError
from nmrstake.models import model_label
from nmrstake.signing import Domain
from nmrstake.tournament import ZERO32, ChainStake, RoundInfo, RoundState, RoundTerms

#: How long a transaction may take to be mined before the client gives up waiting (it may still be).
RECEIPT_TIMEOUT = 120.0


@dataclass(frozen=True)
class Sent:
    """A mined transaction of the participant's."""

    txn_hash: str
    gas_used: int
    block_number: int


def _named(outputs: list[dict[str, Any]], value: Any) -> Any:
    """A decoded struct (web3 gives tuples) as an object with the ABI's field names."""
    if len(outputs) == 1 and outputs[0].get("type") == "tuple":
        outputs, value = outputs[0]["components"], value
    return SimpleNamespace(**{o["name"]: v for o, v in zip(outputs, value)})


class Chain:
    """One deployment's NMR and Tournament on a node reached by its RPC URL."""

    def __init__(self, rpc_url: str, deployment: Deployment, *, timeout: float = 30.0) -> None:
        from web3 import HTTPProvider, Web3

        from nmrstake.abi import code_matches, load

        self.w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        self.deployment = deployment
        try:
            chain_id = int(self.w3.eth.chain_id)
        except Exception as exc:  # noqa: BLE001 - requests and web3 raise many types for a dead node
            raise ConfigError(f"cannot reach the node at {rpc_url} ({type(exc).__name__})") from None
        if chain_id != deployment.chain_id:
            raise ConfigError(f"the deployment is for chain {deployment.chain_id}, the node at {rpc_url} is chain {chain_id}")
        kind = str(deployment.settings.get("tournament_contract") or "Tournament")
        for name, abi_name in (("NMR", "NMR"), ("Tournament", kind)):
            code = bytes(self.w3.eth.get_code(to_checksum_address(deployment.address(name))))
            if not code_matches(abi_name, code):
                raise ConfigError(f"{name} at {deployment.address(name)} on chain {chain_id} does not hold the "
                                  f"{abi_name} code this nmrstake release was built with")
        self.token = self.w3.eth.contract(address=to_checksum_address(deployment.address("NMR")), abi=load("NMR"))
        self._tournament_abi = load(kind)
        self.tournament = self.w3.eth.contract(address=to_checksum_address(deployment.address("Tournament")),
                                               abi=self._tournament_abi)
        self.start_block = deployment.contracts["Tournament"].block
        self.challenge_period = int(self.tournament.functions.challengePeriod().call())
        self.grace_period = int(self.tournament.functions.gracePeriod().call())

    @property
    def domain(self) -> Domain:
        return Domain(self.deployment.chain_id, str(self.tournament.address))

    # ------------------------------------------------------------------ reads

    def chain_time(self) -> int:
        """The timestamp the next block will carry, at the earliest (the latest block's + 1)."""
        return int(self.w3.eth.get_block("latest")["timestamp"]) + 1

    def _outputs(self, function: str) -> list[dict[str, Any]]:
        return next(item["outputs"] for item in self._tournament_abi
                    if item.get("type") == "function" and item.get("name") == function)

    def round(self, round_id: int) -> RoundInfo:
        functions = self.tournament.functions
        state = RoundState(int(functions.roundState(round_id).call()))
        if state is RoundState.NONE:
            raise UnknownRoundError(f"round {round_id} does not exist on chain {self.deployment.chain_id}")
        raw = _named(self._outputs("getRound"), functions.getRound(round_id).call())
        return RoundInfo(
            **vars(RoundTerms.from_contract(raw)), round_id=round_id, state=state,
            total_staked=int(raw.totalStaked), stake_count=int(raw.stakeCount), funded=int(raw.funded),
            total_payout=int(raw.totalPayout), total_burn=int(raw.totalBurn), claimed=int(raw.claimed),
            claimable=int(raw.claimable), posted_at=int(raw.postedAt), settled=bool(raw.settled),
            root=bytes(raw.root).rjust(32, b"\0") if raw.root else ZERO32,
            results_hash=bytes(raw.resultsHash).rjust(32, b"\0") if raw.resultsHash else ZERO32,
            challenge_period=self.challenge_period, grace_period=self.grace_period,
        )

    def round_ids(self) -> list[int]:
        logs = self.tournament.events.RoundOpened().get_logs(from_block=self.start_block)
        return sorted({int(log["args"]["roundId"]) for log in logs})

    def rounds(self) -> list[RoundInfo]:
        return [self.round(rid) for rid in self.round_ids()]

    def stake(self, round_id: int, model_id: bytes, staker: str) -> ChainStake:
        amount, commitment = self.tournament.functions.getStake(round_id, model_id, to_checksum_address(staker)).call()
        return ChainStake(round_id, model_label(model_id), model_id, to_checksum_address(staker), int(amount),
                          bytes(commitment))

    def stakes_of(self, staker: str) -> list[ChainStake]:
        """Every stake `staker` made, one per (round, model), as it stands now."""
        who = to_checksum_address(staker)
        logs = self.tournament.events.Staked().get_logs(from_block=self.start_block, argument_filters={"staker": who})
        keys = dict.fromkeys((int(log["args"]["roundId"]), bytes(log["args"]["modelId"])) for log in logs)
        return [self.stake(rid, mid, who) for rid, mid in keys]

    def nmr_balance(self, address: str) -> int:
        return int(self.token.functions.balanceOf(to_checksum_address(address)).call())

    def ether_balance(self, address: str) -> int:
        return int(self.w3.eth.get_balance(to_checksum_address(address)))

    def allowance(self, owner: str) -> int:
        return int(self.token.functions.allowance(to_checksum_address(owner), self.tournament.address).call())

    # ------------------------------------------------------------------ transactions

    def send(self, call: Any, account: Any, *, what: str) -> Sent:
        """Simulate `call` (a web3 contract function with its arguments) from `account` (an
        eth-account LocalAccount), then sign, send and wait for it. A call that would revert is
        never sent: the error names the contract's custom error."""
        sender = to_checksum_address(account.address)
        try:
            call.call({"from": sender})
            gas = int(call.estimate_gas({"from": sender}))
        except Exception as exc:  # noqa: BLE001 - web3 raises ContractCustomError, ContractLogicError, ...
            raise ChainError(f"{what} would revert: {self.describe_revert(exc)}; nothing was sent") from None
        tx = call.build_transaction({
            "from": sender, "nonce": self.w3.eth.get_transaction_count(sender, "pending"),
            "gas": gas + gas // 5, "chainId": self.deployment.chain_id,
        })
        signed = account.sign_transaction(tx)
        txn_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(txn_hash, timeout=RECEIPT_TIMEOUT, poll_latency=0.1)
        if int(receipt["status"]) != 1:
            raise ChainError(f"{what}: transaction {txn_hash.hex()} failed when mined")
        return Sent("0x" + bytes(txn_hash).hex().removeprefix("0x"), int(receipt["gasUsed"]), int(receipt["blockNumber"]))

    def describe_revert(self, exc: Exception) -> str:
        """A revert by its custom error's name and arguments, from the packaged ABIs."""
        from nmrstake.abi import describe_error
        from nmrstake.chain.reverts import revert_data

        data = revert_data(exc)
        named = describe_error(data) if data is not None else None
        return named or str(exc) or type(exc).__name__

    def wait_until(self, predicate: Any, timeout: float, poll: float = 0.2) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(poll)
        return False
