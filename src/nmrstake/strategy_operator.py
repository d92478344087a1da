"""The operator daemon: stakes every round for the strategies it operates, claims every final
round for every staker, and restakes.

Like the oracle it keeps no database: each pass derives what to do from the chain (rounds, stakes,
claims, each strategy's settings and last staked round) and from the tournament service (the
owners' uploads, the published results), so a restart at any point converges and nothing is done
twice. The contracts make every action idempotent besides: a strategy stakes a model at most once
per round, a stake is claimed at most once, and a batch entry that is no longer valid fails alone
(`InvocationFailed`) without stopping the batch.

One pass:
1. every Final round: the published rows (from the service), their Merkle tree rebuilt here and
   checked against the on-chain root; the stakes not yet claimed or exited are claimed: a strategy's
   through the strategy (`settle`, or `settleAndStake` when it restakes now), anyone else's with
   `claimMany`, in batches. Funds always go to the staker.
2. every Open round (until `close_margin` seconds before close): each enabled model of each strategy
   this operator runs, not yet staked in the round, for which the service holds the owner's upload
   is staked with that upload's hash as commitment; a stake whose owner uploaded a newer file since
   is moved to it (`recommit`). Models that cannot be staked (too little idle NMR, below the
   round's minimum or above its cap) are reported, not sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from eth_utils import to_checksum_address

from nmrstake.amounts import format_nmr
from nmrstake.chain.reverts import describe_revert
from nmrstake.chain.transactions import Sent, pending_count, send
from nmrstake.client.results import Results, latest_upload
from nmrstake.errors import ChainError, ConfigError, NmrstakeError
from nmrstake.hashing import bytes32_from_hex, to_hex
from nmrstake.merkle import LEAF_ENCODING, StandardMerkleTree, leaf_values
from nmrstake.models import label_model_id
from nmrstake.strategies.chain import Mode, StrategyClient, stake_amount
from nmrstake.tournament import RoundInfo, RoundState, TournamentClient


class Action(str, Enum):
    STAKE = "stake"
    CLAIM = "claim"
    NOTHING = "nothing"
    WAIT = "wait"


@dataclass(frozen=True)
class OperatorStep:
    """What one pass did for one round (the daemon logs it like the oracle's plans)."""

    round_id: int
    state: RoundState
    action: Action
    reason: str


@dataclass(frozen=True)
class Claim:
    """An unclaimed stake of a Final round with its published result and proof."""

    round_id: int
    model_id: bytes
    staker: str
    stake: int
    payout: int
    burn: int
    proof: tuple[bytes, ...]

    @property
    def net(self) -> int:
        return self.payout - self.burn

    @property
    def out(self) -> int:
        return self.stake - self.burn + self.payout

    def args(self) -> tuple[Any, ...]:
        return (self.round_id, self.model_id, self.staker, self.payout, self.burn, list(self.proof))


@dataclass
class _Batches:
    settle_and_stake: list[tuple[Any, ...]] = field(default_factory=list)
    stake: list[tuple[Any, ...]] = field(default_factory=list)
    recommit: list[tuple[Any, ...]] = field(default_factory=list)
    settle: list[tuple[Any, ...]] = field(default_factory=list)
    claim: list[tuple[Any, ...]] = field(default_factory=list)


T = TypeVar("T")


def chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class StrategyOperator:
    """Stakes, claims and restakes through the batch invoker owned by `account`; uploads and
    published results come from `source` (the service's, or the operator's own data folder on the
    service's machine: :class:`nmrstake.client.results.Results`)."""

    def __init__(self, client: TournamentClient, source: Results, account: Any, *, log: Callable[..., None],
                 batch_size: int = 100, close_margin: int = 5) -> None:
        self.client = client
        self.strategies = StrategyClient(client)
        if self.strategies.invoker is None:
            raise ChainError("this deployment has no StrategyInvoker: deploy again with `ape run deploy`")
        owner = to_checksum_address(str(self.strategies.invoker.owner()))
        if account is not None and owner != to_checksum_address(account.address):
            raise ChainError(f"the StrategyInvoker {self.strategies.invoker.address} is owned by {owner}, not by "
                             f"{account.address}: run the operator with that account")
        self.source = source
        self.account = account
        self.log = log
        self.batch_size = batch_size
        self.close_margin = close_margin
        self._rows: dict[int, list[Claim]] = {}  # Final round -> its published rows with proofs (never change)
        self._finished: set[int] = set()  # Final rounds with every stake claimed or exited: nothing left, ever
        self._is_strategy: dict[str, bool] = {}

    # ------------------------------------------------------------------ reads

    def is_strategy(self, address: str) -> bool:
        if address not in self._is_strategy:
            self._is_strategy[address] = self.strategies.is_strategy(address)
        return self._is_strategy[address]

    def operated(self) -> list[str]:
        """The strategies whose operator is this operator's invoker now."""
        invoker = self.strategies.invoker_address
        return [s for s, _owner in self.strategies.strategies() if self.strategies.operator(s) == invoker]

    def published_rows(self, info: RoundInfo) -> list[Claim]:
        """Every row of a Final round's published results with its proof, from the service; the
        tree is rebuilt here from the rows and must have the on-chain root (nothing is trusted)."""
        if info.round_id in self._rows:
            return self._rows[info.round_id]
        rows = self.source.settlements(info.round_id)
        keys = [(label_model_id(r.model), to_checksum_address(r.staker), r.stake, r.payout, r.burn) for r in rows]
        if not keys:
            self._rows[info.round_id] = []
            return []
        tree = StandardMerkleTree.of([leaf_values(info.round_id, *k) for k in keys], LEAF_ENCODING)
        if tree.root_bytes != info.root:
            raise ChainError(f"round {info.round_id}: the service's published rows build root {tree.root}, not the "
                             f"on-chain root {to_hex(info.root)}; claiming nothing for this round")
        claims = [Claim(info.round_id, mid, staker, stake, payout, burn,
                        tuple(bytes32_from_hex(p) for p in tree.get_proof(i)))
                  for i, (mid, staker, stake, payout, burn) in enumerate(keys)]
        self._rows[info.round_id] = claims
        return claims

    def unclaimed(self, info: RoundInfo) -> list[Claim]:
        """The stakes of a Final round not yet claimed or exited."""
        rows = self.published_rows(info)
        if not rows:
            return []
        done = self.client.claimed_keys(info.round_id)
        exits = self.client.logs("StakeExited", {"roundId": info.round_id})
        done |= {(bytes(log.modelId).rjust(32, b"\0"), to_checksum_address(log.staker)) for log in exits}
        return [c for c in rows if (c.model_id, c.staker) not in done]

    # ------------------------------------------------------------------ one pass

    def tick(self, should_stop: Callable[[], bool] = lambda: False) -> list[OperatorStep]:
        client = self.client
        if self.account is not None and pending_count(self.client.provider, self.account.address) > 0:
            return [OperatorStep(0, RoundState.NONE, Action.WAIT, "a transaction of the operator is pending")]
        infos = client.rounds()
        now = client.chain_time()
        steps: list[OperatorStep] = []
        batches = _Batches()
        pending: dict[tuple[str, bytes], list[Claim]] = {}
        for info in infos:
            if info.state is not RoundState.FINAL or info.round_id in self._finished:
                continue
            try:
                todo = self.unclaimed(info)
            except NmrstakeError as exc:
                steps.append(OperatorStep(info.round_id, info.state, Action.NOTHING, str(exc)))
                continue
            for c in todo:
                if self.is_strategy(c.staker):
                    pending.setdefault((c.staker, c.model_id), []).append(c)
                else:
                    batches.claim.append(c.args())
            steps.append(OperatorStep(info.round_id, info.state, Action.CLAIM if todo else Action.NOTHING,
                                      f"{len(todo)} stake(s) to claim" if todo else "every stake is claimed"))
            if not todo:  # a final round's stakes never come back: no log scan of it again
                self._finished.add(info.round_id)
        open_rounds = [i for i in infos if i.state is RoundState.OPEN and now < i.close_time - self.close_margin]
        if open_rounds and not should_stop():
            steps += self._plan_stakes(open_rounds, pending, batches)
        for key in pending:
            for c in pending[key]:
                batches.settle.append((c.staker, c.round_id, c.model_id, c.payout, c.burn, list(c.proof)))
        if self.account is not None and not should_stop():
            self._send_all(batches)
        return steps

    def _plan_stakes(self, open_rounds: list[RoundInfo], pending: dict[tuple[str, bytes], list[Claim]],
                     batches: _Batches) -> list[OperatorStep]:
        token = self.client.token
        steps = []
        operated = self.operated()
        settings = {s: {m.model_id: m for m in self.strategies.settings(s)} for s in operated}
        idle = {s: int(token.balanceOf(s)) for s in operated}
        for info in sorted(open_rounds, key=lambda i: i.round_id):
            staked = skipped = 0
            for strategy in operated:
                for mid, m in settings[strategy].items():
                    if m.mode is Mode.OFF:
                        continue
                    commitment = latest_upload(self.source, info.round_id, m.model, strategy)
                    if m.last_round == info.round_id:
                        current = self.client.stored_stake(info.round_id, mid, strategy)
                        if commitment is not None and not current.commits_to(commitment):
                            batches.recommit.append((strategy, info.round_id, mid, commitment))
                        continue
                    if m.last_round > info.round_id or commitment is None:
                        continue
                    queue = pending.get((strategy, mid), [])
                    claim = queue[0] if queue else None
                    net = m.net + (claim.net if claim else 0)
                    amount = stake_amount(m.per_round, m.mode, net)
                    available = idle[strategy] + (claim.out if claim else 0)
                    why = None
                    if amount == 0:
                        why = "compound losses brought the stake to 0"
                    elif amount > available:
                        why = f"needs {format_nmr(amount)} NMR, {format_nmr(available)} idle"
                    elif amount < info.min_stake:
                        why = f"{format_nmr(amount)} NMR is below the round's minimum {format_nmr(info.min_stake)}"
                    elif amount > info.stake_cap:
                        why = f"{format_nmr(amount)} NMR is above the round's cap {format_nmr(info.stake_cap)}"
                    if why:
                        skipped += 1
                        self.log("not_staked", round=info.round_id, strategy=strategy, model=m.model, reason=why)
                        continue
                    if claim:
                        queue.pop(0)
                        batches.settle_and_stake.append((strategy, claim.round_id, mid, claim.payout, claim.burn,
                                                         list(claim.proof), info.round_id, commitment))
                    else:
                        batches.stake.append((strategy, info.round_id, mid, commitment))
                    idle[strategy] = available - amount
                    settings[strategy][mid] = type(m)(m.model, mid, m.per_round, m.mode,
                                                      net if claim else m.net, info.round_id)
                    staked += 1
            reason = f"{staked} strategy stake(s) to send" + (f", {skipped} not staked" if skipped else "")
            steps.append(OperatorStep(info.round_id, info.state, Action.STAKE if staked else Action.NOTHING, reason))
        return steps

    # ------------------------------------------------------------------ sending

    def _send_all(self, b: _Batches) -> None:
        invoker = self.strategies.invoker
        if invoker is None:
            raise ConfigError("the deployment records no StrategyInvoker: the operator has nothing to send through")
        plan = [("settle_and_stake", invoker.settleAndStakeMany, b.settle_and_stake),
                ("stake", invoker.stakeMany, b.stake),
                ("recommit", invoker.recommitMany, b.recommit),
                ("settle", invoker.settleMany, b.settle)]
        for what, method, calls in plan:
            for batch in chunks(calls, self.batch_size):
                receipt = send(method, batch, sender=self.account, what=f"{what} batch")
                failed = self._failures(receipt, batch)
                self.log(what, calls=len(batch), succeeded=len(batch) - len(failed), gas=int(receipt.gas_used),
                         txn=str(receipt.txn_hash))
        for batch in chunks(b.claim, self.batch_size):
            try:
                receipt = send(self.client.tournament.claimMany, batch, sender=self.account, what="claim batch")
            except ChainError as exc:
                # All or nothing: a staker claimed meanwhile. The next pass leaves that stake out.
                self.log("claim_batch_refused", calls=len(batch), error=str(exc))
                continue
            self.log("claimed", calls=len(batch), gas=int(receipt.gas_used), txn=str(receipt.txn_hash))

    def _failures(self, receipt: Sent, batch: list[tuple[Any, ...]]) -> list[int]:
        failed = []
        for event in receipt.events:
            if event.event_name != "InvocationFailed":
                continue
            index = int(event.index)
            reason = bytes(event.reason)
            # The entry's custom error by name with its arguments, whichever contract raised it.
            error = (describe_revert(reason) or f"unknown error {to_hex(reason[:4])} (data {to_hex(reason)})") \
                if reason else "no reason"
            failed.append(index)
            call = batch[index]
            self.log("invocation_failed", strategy=str(event.strategy), round=int(call[1]), error=error)
        return failed


__all__ = ["Action", "Claim", "OperatorStep", "StrategyOperator", "chunks"]
