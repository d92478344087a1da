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

With an oracle committee (a `CommitteeTournament` deployment, docs/committee.md) the oracle does
not call `postResult`: it signs the EIP-712 Attestation of exactly the published folder's result
with its own key (if it is a current member), publishes it to the tournament service (`--api`),
reads the round's attestations there, and once M distinct current members agree on identical
content it posts `postResultSigned` with their signatures, sorted by signer. Anyone may post;
a lost race (the chain already holds the same root) is a success. Still derived only from the
chain, the published folders and the service's list of attestations:

- crash before attesting: the next run signs the same content again (deterministic signatures)
  and publishes it, which the service takes once;
- crash after attesting: the service lists the member's signature, so nothing is signed again,
  and the next run posts once M agree;
- crash after posting: the chain shows the round posted; nothing is sent again.

It never signs content other than its own folder's: a round for which the service lists its own
attestation of different content (in the same epoch) is refused, and content other members
attested that differs from its own, or a posted result that differs from it, is an ERROR line
naming the round and both roots. A member without the submission store (another machine, only
`--api`) downloads the round the service published, recomputes it from its inputs
(:func:`nmrstake.results.read.recompute`), checks it against the chain, and keeps it as its own
published folder only if the recomputation matches exactly.
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
from nmrstake.hashing import bytes32_from_hex, checksum_address, keccak_bytes, to_hex
from nmrstake.results.evaluate import evaluate_round
from nmrstake.results.layout import DataLayout
from nmrstake.results.publish import publish_round
from nmrstake.results.read import load_published
from nmrstake.results.spec import PredictionKey, RoundInputs, RoundStake
from nmrstake.signing import Attestation, pack_signatures
from nmrstake.tournament import RoundInfo, RoundState, TournamentClient, iso_time

#: Test hook: `NMRSTAKE_ORACLE_CRASH_AT=computed|published|attested|sent` kills the process at that point.
CRASH_ENV = "NMRSTAKE_ORACLE_CRASH_AT"
#: Test hook of the committee's tests: `NMRSTAKE_ORACLE_LIE_PAYOUT=N` makes this oracle attest a
#: total payout N wei more than its published folder's (a dishonest member).
LIE_ENV = "NMRSTAKE_ORACLE_LIE_PAYOUT"


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
        api: Any = None,
    ) -> None:
        """`api`: the tournament service's client (:class:`nmrstake.client.http.ServiceClient`),
        through which a committee's oracles exchange attestations."""
        self.client = client
        self.account = account
        self.layout = layout
        self.confirmations = confirmations
        self.log = log or EventLog()
        self.api = api
        #: The published rounds: the data folder's, and the shared store's with a store URL.
        self.results = layout.published_store()

    # ------------------------------------------------------------------ reading

    def _posted_is_ours(self, info: RoundInfo) -> bool | None:
        folder = self.layout.published(info.round_id)
        if not folder.is_dir():
            if not self.results.is_published(info.round_id):
                return None
            folder = self.results.folder(info.round_id)  # published from another machine
        pub = load_published(folder)
        return bytes32_from_hex(pub.merkle_root) == info.root and pub.manifest_hash == info.results_hash

    def plan(self, info: RoundInfo, now: int | None = None) -> Plan:
        now = self.client.now() if now is None else now
        ours = self._posted_is_ours(info) if info.state is RoundState.POSTED else None
        return plan_round(
            info, now,
            targets=self.layout.targets_file(info.round_id),
            published=self.layout.published(info.round_id).is_dir() or self.results.is_published(info.round_id),
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
        signer = store.receipt_signer(create=False) if store.exists() else None
        service = {"receipt_signer": signer} if signer else None
        # A lone oracle is the service's operator: it scores from the values the service prepared
        # at upload, where the store is the local disk (a shared store keeps none: the oracle
        # parses the CSVs it fetches; SubmissionStore.store says why). A committee's member reads,
        # parses and hashes every file itself, so that no member's result rests on the service's
        # parse (nmrstake.prepared).
        prepared = not self.client.has_committee
        if store.exists():
            for s in chain_stakes:
                # Only what the service received before close counts (see the module's docstring).
                upload = store.delivered(rid, s.model, s.staker, s.commitment, info.close_time)
                if upload is not None:  # fetched from the shared store, if the files are there
                    predictions[(s.model, s.staker)] = store.local_path(upload)
        stakes = [RoundStake(s.model, s.staker, s.amount, s.commitment) for s in chain_stakes]
        inputs = RoundInputs(targets=targets, predictions=predictions, meta_model=self.layout.meta_model_file(rid),
                             prepared=prepared)
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
        self._push(rid)
        _crash_point("published")
        return folder

    def _push(self, round_id: int) -> None:
        """Copy the round's published folder to the shared store, if there is one and it does not
        hold it yet (a crash between publishing and pushing is repaired before posting)."""
        if self.results.push(round_id):
            self.log("pushed", round=round_id, store=self.results.where())

    def _local_folder(self, round_id: int) -> Path:
        """The round's published folder here: copied down from the shared store when it was
        published on another machine (see :meth:`PublishedStore.pull`)."""
        return self.results.pull(round_id) or self.layout.published(round_id)

    def _retire_unpostable(self, info: RoundInfo) -> None:
        """A published folder that was never posted and can no longer be (its root was rejected,
        or the round's funding changed since) is moved aside, kept for the record, so that the
        round is computed again. A posted result is never touched."""
        folder = self._local_folder(info.round_id)
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
        self.results.withdraw(info.round_id, pub.manifest_hash)  # from the shared store first: no one reads it again
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
        folder = self._local_folder(rid)
        pub = self._checked_published(info, folder)
        self._push(rid)
        receipt = self._send(
            self.client.tournament.postResult, rid, bytes32_from_hex(pub.merkle_root), pub.total_payout,
            pub.total_burn, pub.leaf_count, pub.manifest_hash, what=f"posting the result of round {rid}",
        )
        self.log("posted", round=rid, root=pub.merkle_root, gas=receipt.gas_used, block=receipt.block_number)
        return receipt

    def _checked_published(self, info: RoundInfo, folder: Path) -> Any:
        """The published round in `folder` (PublishedRound), checked against itself and the chain."""
        rid = info.round_id
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
        return pub

    # ------------------------------------------------------------------ the committee

    def _attestations(self, round_id: int) -> dict[str, Any]:
        """The service's list of the round's attestations (GET /v1/rounds/{id}/attestations)."""
        listed: dict[str, Any] = self.api.get_object(f"/v1/rounds/{round_id}/attestations")
        return listed

    def _publish_attestation(self, att: Attestation, signature: str) -> bool:
        """POST the signed attestation to the service; whether it was new there."""
        body = {"signer": checksum_address(self.account.address), "signature": signature, "root": to_hex(att.root),
                "total_payout": str(att.total_payout), "total_burn": str(att.total_burn),
                "leaf_count": att.leaf_count, "results_hash": to_hex(att.results_hash), "epoch": att.epoch}
        answer = self.api.post_object(f"/v1/rounds/{att.round_id}/attestations", body)
        return bool(answer.get("new"))

    def _own_attestation(self, info: RoundInfo, pub: Any, epoch: int) -> Attestation:
        """The Attestation of exactly the published folder's result (see LIE_ENV for the tests' liar)."""
        att = Attestation(info.round_id, bytes32_from_hex(pub.merkle_root), pub.total_payout, pub.total_burn,
                          pub.leaf_count, pub.manifest_hash, epoch)
        lie = os.environ.get(LIE_ENV)
        if lie:
            att = Attestation(att.round_id, att.root, att.total_payout + int(lie), att.total_burn, att.leaf_count,
                              att.results_hash, att.epoch)
        return att

    def attest_and_post(self, info: RoundInfo) -> Sent | None:
        """A committee deployment's posting (see the module's docstring): attest the published
        folder's result, publish the attestation, post once M current members agree. Returns the
        posting's receipt, or None while signatures are missing (or another oracle posted)."""
        rid = info.round_id
        pub = self._checked_published(info, self._local_folder(rid))
        self._push(rid)
        members, threshold, epoch = self.client.committee()
        att = self._own_attestation(info, pub, epoch)
        domain = self.client.committee_domain
        digest = to_hex(att.digest(domain))
        me = checksum_address(self.account.address)
        listed = self._attestations(rid) if self.api is not None else None
        signature: str | None = None
        if listed is not None:
            for content in listed["contents"]:
                if content["epoch"] == epoch and content["digest"] != digest:
                    self.log("ERROR", round=rid, problem="members attested a result that differs from mine; "
                             "I do not sign it", my_root=to_hex(att.root), their_root=content["root"],
                             my_payout=att.total_payout, their_payout=content["total_payout"],
                             my_burn=att.total_burn, their_burn=content["total_burn"],
                             signers=",".join(content["signers"]))
            mine = [a for a in listed["attestations"] if a["signer"] == me and a["epoch"] == epoch]
            if any(a["digest"] != digest for a in mine):
                other = next(a for a in mine if a["digest"] != digest)
                self.log("ERROR", round=rid, problem="I attested other content for this round already: refusing to "
                         "sign a second, different result", my_root=to_hex(att.root), attested_root=other["root"])
                return None
            signature = next((a["signature"] for a in mine if a["digest"] == digest), None)
        if me not in members:
            self.log("not_a_member", round=rid, account=me, note="signs nothing; posts once M members agree")
        elif signature is None:
            signature = att.sign(domain, self.account)
            if self.api is not None:
                new = self._publish_attestation(att, signature)
                self.log("attested", round=rid, root=to_hex(att.root), digest=digest, epoch=epoch, new=new)
                _crash_point("attested")
                listed = self._attestations(rid)
        # The signatures to post: M current members' over exactly this content, each checked here.
        signed: dict[str, str] = {}
        if listed is not None:
            for a in listed["attestations"]:
                if a["digest"] == digest and a["signer"] in members and a["epoch"] == epoch:
                    signed.setdefault(a["signer"], a["signature"])
        elif signature is not None:
            signed[me] = signature
        valid = {}
        for signer, sig in signed.items():
            try:
                if att.signer(domain, sig) == signer:
                    valid[signer] = sig
            except InputError:
                pass
        if len(valid) < threshold:
            self.log("waiting_for_attestations", round=rid, root=to_hex(att.root), have=len(valid), need=threshold,
                     **({} if self.api is not None else {"note": "without --api no other member's signature is seen"}))
            return None
        chosen = sorted(valid, key=lambda a: int(a, 16))[:threshold]
        return self._post_signed(info, att, pack_signatures([(a, valid[a]) for a in chosen]), chosen)

    def _post_signed(self, info: RoundInfo, att: Attestation, signatures: bytes, signers: list[str]) -> Sent | None:
        rid = info.round_id
        if pending_count(self.client.provider, self.account.address) > 0:
            self.log("waiting", round=rid, reason="a transaction of the oracle is pending")
            return None
        try:
            receipt = self._send(self.client.tournament.postResultSigned, *att.posting_args(), signatures,
                                 what=f"posting the committee's result of round {rid}")
        except ChainError:
            now = self.client.round(rid)
            if now.posted_at and now.root == att.root and now.results_hash == att.results_hash:
                self.log("posted_by_another", round=rid, root=to_hex(att.root))
                return None
            raise
        self.log("posted", round=rid, root=to_hex(att.root), signers=",".join(signers), gas=receipt.gas_used,
                 block=receipt.block_number)
        return receipt

    def fetch(self, info: RoundInfo) -> Path | None:
        """A member without the submission store: download the round the service published,
        recompute it, check it against the chain, and keep it as this oracle's published folder
        only if everything matches exactly. None while the service has published nothing."""
        from nmrstake.errors import RequestError
        from nmrstake.results.read import recompute
        from nmrstake.verify import download_round

        rid = info.round_id
        try:
            manifest = self.api.fetch(f"/v1/rounds/{rid}/files/manifest.json")
        except RequestError as exc:
            if exc.status == 404:
                self.log("waiting", round=rid, reason="the service has published no result for this round yet")
                return None
            raise
        self.layout.results_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.layout.results_dir / f".round-{rid}-fetched.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            download_round(self.api, rid, tmp, keccak_bytes(manifest))
            again = recompute(tmp)
            pub = again.published
            if again.differences:
                self.log("ERROR", round=rid, problem="my recomputation of the service's published round differs; "
                         "I do not sign it", my_root=again.root, their_root=pub.merkle_root,
                         first_difference=again.differences[0])
                return None
            self._checked_published(info, tmp)
            at_close = {(s.model, s.staker.lower()): (s.amount, s.commitment) for s in self.client.stakes_at_close(rid)}
            published = {(r.model, r.staker.lower()): (r.stake, pub.commitments.get((r.model, r.staker)))
                         for r in pub.rows}
            if at_close != published:
                self.log("ERROR", round=rid, problem="the service's published stakes differ from the chain's at close; "
                         "I do not sign it", their_root=pub.merkle_root)
                return None
            folder = self.layout.published(rid)
            os.rename(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.log("fetched", round=rid, root=pub.merkle_root, note="recomputed from the published inputs: identical")
        return folder

    def finalise(self, info: RoundInfo) -> Sent:
        receipt = self._send(self.client.tournament.finalise, info.round_id,
                             what=f"finalising round {info.round_id}")
        self.log("finalised", round=info.round_id, burned=info.total_burn, gas=receipt.gas_used)
        return receipt

    def step(self, info: RoundInfo, should_stop: Callable[[], bool] = lambda: False) -> Plan:
        """Do the next thing for one round; returns the plan that was acted on. Asked to stop
        while computing, it stops before posting: the published folder is posted by the next run."""
        committee = self.client.has_committee
        # A member on another machine (no submission store: it could not score the files) never
        # computes: it takes the round the service published, recomputed (see `fetch`).
        remote = committee and self.api is not None and not self.layout.store().exists()
        if info.state is RoundState.CLOSED:
            self._retire_unpostable(info)
            if remote and not self.layout.published(info.round_id).is_dir() and info.stake_count > 0 \
                    and info.resolve_time <= self.client.now() <= info.last_post_time:
                if self.fetch(info) is None:
                    return Plan(info.round_id, info.state, Action.WAIT, "no recomputed result from the service yet")
        if info.state is RoundState.POSTED and self._posted_is_ours(info) is False:
            pub = load_published(self._local_folder(info.round_id))
            self.log("ERROR", round=info.round_id, problem="the posted result differs from mine",
                     posted_root=to_hex(info.root), my_root=pub.merkle_root)
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
            if committee:
                self.attest_and_post(info)
                return plan
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
