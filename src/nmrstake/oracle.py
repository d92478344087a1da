"""The oracle: find rounds ready to resolve, score them, publish the results, post them on-chain.

Exactly once, from state that cannot lie: what to do next is derived only from the chain (the
round's state, its posted root, rejected roots, the oracle's pending nonce) and from the published
results folders, never from a local database. So a restart after a crash at any point converges:

- crash while computing: nothing was published; the next run computes again (pure, deterministic);
- crash after publishing: the folder exists; the next run posts exactly that folder's root and hash;
- crash after sending the transaction: the chain shows the posting (or the transaction is still
  pending, and the next run waits for it); the contract itself refuses a second posting.

Files: `targets/round-<id>.{csv,parquet}` (one per round), optional `meta_models/round-<id>.{csv,parquet}`,
the tournament service's submission store `service/` (uploads with the time each was received),
and `results/round-<id>/` written by the oracle. A stake is scored with the file the service
received by close hashing to the stake's commitment: a file that arrived later never counts, so
nobody can withhold a losing file until the targets are known.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from nmrstake.chain.transactions import Sent, pending_count, send
from nmrstake.daemon import EventLog
from nmrstake.errors import ChainError, ConfigError, InputError, NmrstakeError
from nmrstake.hashing import bytes32_from_hex
from nmrstake.results.evaluate import evaluate_round
from nmrstake.results.layout import DataLayout
from nmrstake.results.publish import publish_round
from nmrstake.results.read import load_published
from nmrstake.results.spec import PredictionKey, RoundInputs, RoundStake
from nmrstake.tournament import RoundInfo, RoundState, TournamentClient, iso_time

#: Test hook: `NMRSTAKE_ORACLE_CRASH_AT=computed|published|sent` kills the process at that point.
CRASH_ENV = "NMRSTAKE_ORACLE_CRASH_AT"


def _crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(86)


# ---------------------------------------------------------------------------------------- planning


class Action(str, Enum):
    WAIT = "wait"
    COMPUTE = "compute"  # score, publish, then post
    POST = "post"  # a published folder exists: post it
    FINALISE = "finalise"
    DONE = "done"
    STUCK = "stuck"  # needs a person (e.g. too late to post)


@dataclass(frozen=True)
class Plan:
    round_id: int
    state: RoundState
    action: Action
    reason: str


def plan_round(
    info: RoundInfo, now: int, *, targets: Path | None, published: bool, posted_root_is_ours: bool | None = None
) -> Plan:
    """What the oracle should do next for one round (pure)."""
    rid, st = info.round_id, info.state

    def p(action: Action, reason: str) -> Plan:
        return Plan(rid, st, action, reason)

    if st in (RoundState.SCHEDULED, RoundState.OPEN):
        return p(Action.WAIT, f"staking closes at {iso_time(info.close_time)}")
    if st is RoundState.CLOSED:
        if info.stake_count == 0:
            return p(Action.DONE, "no stakes: nothing to post (the round expires; finalise returns its funding)")
        if now < info.resolve_time:
            return p(Action.WAIT, f"resolve time {iso_time(info.resolve_time)} not reached (chain time {iso_time(now)})")
        if now > info.last_post_time:
            return p(Action.STUCK, f"too late to post: a posting must start by {iso_time(info.last_post_time)}")
        if published:
            return p(Action.POST, "a published result is waiting to be posted")
        if targets is None:
            return p(Action.WAIT, "no targets file for this round yet")
        return p(Action.COMPUTE, f"targets available ({targets.name})")
    if st is RoundState.POSTED:
        mine = "" if posted_root_is_ours in (None, True) else " (posted root differs from the published one!)"
        return p(Action.WAIT, f"challenge period ends at {iso_time(info.final_at)}{mine}")
    if st is RoundState.FINAL:
        if not info.settled:
            return p(Action.FINALISE, "final: burns and unused funding to settle")
        return p(Action.DONE, "final and settled")
    if st is RoundState.EXPIRED:
        return p(Action.DONE, "expired: stakers withdraw their full stake")
    return p(Action.DONE, st.label)


# ---------------------------------------------------------------------------------------- the oracle


class Oracle:
    """Resolves rounds of one deployment. `account` is an ape account holding ORACLE_ROLE."""

    def __init__(
        self,
        client: TournamentClient,
        account: Any,
        layout: DataLayout,
        *,
        confirmations: int = 0,
        log: EventLog | None = None,
    ) -> None:
        self.client = client
        self.account = account
        self.layout = layout
        self.confirmations = confirmations
        self.log = log or EventLog()

    # ------------------------------------------------------------------ reading

    def _posted_is_ours(self, info: RoundInfo) -> bool | None:
        folder = self.layout.published(info.round_id)
        if not folder.is_dir():
            return None
        pub = load_published(folder)
        return bytes32_from_hex(pub.merkle_root) == info.root and pub.manifest_hash == info.results_hash

    def plan(self, info: RoundInfo, now: int | None = None) -> Plan:
        now = self.client.now() if now is None else now
        ours = self._posted_is_ours(info) if info.state is RoundState.POSTED else None
        return plan_round(
            info, now,
            targets=self.layout.targets_file(info.round_id),
            published=self.layout.published(info.round_id).is_dir(),
            posted_root_is_ours=ours,
        )

    def plans(self) -> list[Plan]:
        now = self.client.now()
        return [self.plan(info, now) for info in self.client.rounds()]

    # ------------------------------------------------------------------ acting

    def compute(self, info: RoundInfo) -> Path | None:
        """Score the round and publish its folder (atomically); returns the folder, or None while
        an alarm holds the posting (see :func:`alarm_hold_until`)."""
        rid = info.round_id
        targets = self.layout.targets_file(rid)
        if targets is None:
            raise InputError(f"round {rid}: no targets file in {self.layout.targets_dir}")
        chain_stakes = self.client.stakes_at_close(rid)
        if len(chain_stakes) != info.stake_count:
            raise ChainError(f"round {rid}: found {len(chain_stakes)} stake events, the contract counts {info.stake_count}")
        predictions: dict[PredictionKey, Path] = {}
        store = self.layout.store()
        signer = store.receipt_signer(create=False) if store.db_path.exists() else None
        service = {"receipt_signer": signer} if signer else None
        if store.db_path.exists():
            for s in chain_stakes:
                # Only what the service received before close counts (see the module's docstring).
                upload = store.delivered(rid, s.model, s.staker, s.commitment, info.close_time)
                if upload is not None:
                    predictions[(s.model, s.staker)] = upload.path
        stakes = [RoundStake(s.model, s.staker, s.amount, s.commitment) for s in chain_stakes]
        inputs = RoundInputs(targets=targets, predictions=predictions, meta_model=self.layout.meta_model_file(rid))
        self.log("computing", round=rid, stakes=len(stakes), files=len(predictions))
        result = evaluate_round(rid, info.payout_params(), stakes, inputs)
        for alarm in result.alarms:
            self.log("alarm", round=rid, alarm=alarm)
        hold = alarm_hold_until(info)
        if result.alarms and self.client.now() < hold:
            self.log("holding", round=rid, until=iso_time(hold),
                     reason="the operator may correct the targets before the result is posted; it is posted then "
                            "whatever the files, so no staker's file can hold the round longer")
            return None
        if bytes32_from_hex(result.root) in self.client.rejected_roots(rid):
            raise InputError(
                f"round {rid}: the recomputed result {result.root} is the one that was rejected; "
                "correct the inputs (targets, submissions) before it can be posted"
            )
        _crash_point("computed")
        folder = publish_round(
            self.layout.results_dir, result, chain_id=self.client.provider.chain_id,
            contract=self.client.tournament.address, inputs=inputs, service=service,
        )
        self.log("published", round=rid, root=result.root, path=str(folder),
                 payout=result.summary.total_payout, burn=result.summary.total_burn)
        _crash_point("published")
        return folder

    def _retire_unpostable(self, info: RoundInfo) -> None:
        """A published folder that was never posted and can no longer be (its root was rejected,
        or the round's funding changed since) is moved aside, kept for the record, so that the
        round is computed again. A posted result is never touched."""
        folder = self.layout.published(info.round_id)
        if not folder.is_dir():
            return
        pub = load_published(folder)
        if bytes32_from_hex(pub.merkle_root) in self.client.rejected_roots(info.round_id):
            why = "rejected"
        elif pub.params != info.payout_params():
            why = "superseded"
        else:
            return
        base = folder.with_name(f"{folder.name}.{why}-{pub.merkle_root[2:12]}")
        target, n = base, 1
        while target.exists():
            n += 1
            target = base.with_name(f"{base.name}-{n}")
        os.rename(folder, target)
        self.log(f"retired_{why}", round=info.round_id, root=pub.merkle_root, moved_to=str(target))

    def _send(self, method: Any, *args: Any, what: str) -> Sent:
        """Send through the one sender, logging the transaction as soon as the node has it (the
        crash hook `sent` fires there). Sent without a receipt yet (a slow node): the next pass
        sees it mined, or waits for the pending nonce; it never sends a second one."""

        def sent(txn_hash: str) -> None:
            self.log("sent", txn=txn_hash)
            _crash_point("sent")

        return send(method, *args, sender=self.account, what=what, confirmations=self.confirmations, on_sent=sent)

    def post(self, info: RoundInfo) -> Sent:
        """Post the published folder of a round; checks it against the chain first."""
        rid = info.round_id
        folder = self.layout.published(rid)
        pub = load_published(folder)
        problems = pub.integrity_problems()
        if problems:
            raise InputError(f"{folder}: published files do not match the manifest: {problems[0]}")
        if pub.round_id != rid or pub.chain_id != self.client.provider.chain_id \
                or pub.contract.lower() != self.client.tournament.address.lower():
            raise ConfigError(f"{folder}: published for another round, chain or contract")
        if pub.leaf_count != info.stake_count or pub.total_staked != info.total_staked:
            raise ChainError(f"{folder}: published stakes ({pub.leaf_count}, {pub.total_staked} wei) do not match "
                             f"the chain ({info.stake_count}, {info.total_staked} wei)")
        if pub.params != info.payout_params():
            raise ChainError(f"{folder}: published parameters differ from the chain's")
        receipt = self._send(
            self.client.tournament.postResult, rid, bytes32_from_hex(pub.merkle_root), pub.total_payout,
            pub.total_burn, pub.leaf_count, pub.manifest_hash, what=f"posting the result of round {rid}",
        )
        self.log("posted", round=rid, root=pub.merkle_root, gas=receipt.gas_used, block=receipt.block_number)
        return receipt

    def finalise(self, info: RoundInfo) -> Sent:
        receipt = self._send(self.client.tournament.finalise, info.round_id,
                             what=f"finalising round {info.round_id}")
        self.log("finalised", round=info.round_id, burned=info.total_burn, gas=receipt.gas_used)
        return receipt

    def step(self, info: RoundInfo, should_stop: Callable[[], bool] = lambda: False) -> Plan:
        """Do the next thing for one round; returns the plan that was acted on. Asked to stop
        while computing, it stops before posting: the published folder is posted by the next run."""
        if info.state is RoundState.CLOSED:
            self._retire_unpostable(info)
        plan = self.plan(info)
        if plan.action is Action.COMPUTE:
            if self.compute(info) is None:
                return Plan(info.round_id, info.state, Action.WAIT, "an alarm holds the posting")
            info = self.client.round(info.round_id)
            plan = self.plan(info)
            if should_stop():
                self.log("stopping_before_post", round=info.round_id, note="published; the next run posts it")
                return plan
        if plan.action is Action.POST:
            if pending_count(self.client.provider, self.account.address) > 0:
                self.log("waiting", round=info.round_id, reason="a transaction of the oracle is pending")
                return plan
            self.post(info)
        elif plan.action is Action.FINALISE:
            self.finalise(info)
        elif plan.action is Action.STUCK:
            self.log("stuck", round=info.round_id, reason=plan.reason)
        return plan

    def tick(self, should_stop: Callable[[], bool] = lambda: False) -> list[Plan]:
        """One pass over every round."""
        done = []
        for info in self.client.rounds():
            if should_stop():
                break
            try:
                done.append(self.step(info, should_stop))
            except NmrstakeError as exc:
                # Bad data, or the chain refused: nothing posted for this round; the others go on.
                self.log("round_error", round=info.round_id, error=str(exc))
        return done


def alarm_hold_until(info: RoundInfo) -> int:
    """Until when an alarm (targets that no delivered file matches) holds a round's posting: half
    of its posting window, from resolveTime to the last time a posting can start. Then the round is
    posted whatever the files say, with the stakes whose files miss the targets refunded, so that
    wrong targets can be corrected first, and yet no staker's file holds the round for long."""
    return info.resolve_time + (info.last_post_time - info.resolve_time) // 2


def clean_stale_temporaries(results_dir: Path) -> None:
    """Remove temp folders a killed publisher left behind (never a published folder)."""
    if not results_dir.is_dir():
        return
    for p in results_dir.glob(".round-*.tmp"):
        shutil.rmtree(p, ignore_errors=True)
