"""Stateful fuzzing of a CommitteeTournament with its DisputeDesk: a hypothesis
`RuleBasedStateMachine` over the real NMR, CommitteeTournament (a 2-of-3 committee of test keys;
nobody holds ORACLE_ROLE, so only the committee's signatures post) and DisputeDesk (granted the
tournament's REJECTER_ROLE; carol is the arbiter) on ape's embedded EVM. Issue 20, deliverable 5.

Random actors open rounds, stake, fund, and post results by signatures that the machine makes with
the members' real keys and an outsider's: M honest members (or all of them), M-1, a duplicate
signer, unsorted signers, the outsider's, one signature over other content, another round, a stale
(or future) epoch or another contract, a malleable or unrecoverable signature, a stray byte, any
keys in any order; the posted result is an honest tree, a tree whose payout exceeds the funding, or
the result a dispute rejected, posted again (a committee that insists). The admin proposes committees (any subset of the four keys with
any threshold, and invalid ones: unsorted, duplicate, zero member, bad threshold, empty), anyone
applies them (before, at or after the admin delay), the admin cancels; the epoch moves on. Anyone
disputes (with or without NMR and an approval to the desk; during the challenge period, in its last
second or just after; naming the posted root, another or a rejected one; twice), settles, the
arbiter (or someone else) rules, anyone funds the reserve, the admin (or someone else) withdraws it;
the guardian rejects, anyone finalises, claims (valid, twice, forged) and withdraws expired stakes,
the pauser pauses, while time moves forward by random amounts or jumps to a round's, a dispute's
or a proposal's boundaries.

Every call is predicted by the model (tests/helpers/fuzz_tournament/committee.py, extending the
tournament fuzzing's model): success or the exact error; the contract must agree (an `eth_call` at
the pending block), then the transaction is mined. After a revert the storage of all three contracts
is as it was. After every step:

* the tournament's NMR balance equals what the model says it owes, and `totalSupply` fell by
  exactly the burns;
* the desk's NMR balance equals `reserve() + bonded()`, and both equal the model's;
* every account's NMR balance (the participants', the admin's, the stranger's, both contracts')
  moved exactly as the model says;
* a disputed posting never becomes final: while its dispute is open, the round is final with the
  disputed root only if that root was posted again after the dispute and outlived its own challenge
  period undisputed (the committee insisting; `settle` then dismisses the dispute);
* every posted root was posted with at least M valid signatures of distinct current members: the
  machine recovers each signature of every successful posting itself (eth-account) against the
  committee and epoch read from the chain just before;
* the rounds (`getRound`, `roundState`), the open disputes (`disputeOf`), the committee, its epoch
  and the pending proposal match the model.

The model is tests/helpers/fuzz_tournament/committee.py, the adapter
tests/helpers/fuzz_tournament/committee_adapter.py; this machine draws arguments, signs, asks the
model, sends through the adapter, compares and checks. `NMRSTAKE_FUZZ_EXAMPLES` (default 12) sets
the number of examples, `NMRSTAKE_FUZZ_STEPS` (default 30) the steps per example.
"""

from __future__ import annotations

import os
import time
from typing import ClassVar

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from helpers.committee import Posting, digest, malleable, member_keys, sign
from helpers.fuzz_tournament.committee import (
    DISMISSED,
    MAX_COMMITTEE_SIZE,
    UPHELD,
    Attestation,
    CommitteeTournament,
    Signature,
)
from helpers.fuzz_tournament.committee_adapter import CommitteeEvm
from helpers.fuzz_tournament.model import BPS, EXPIRED, FINAL, ZERO32, ZERO_ADDRESS, Round
from helpers.fuzz_tournament.picking import RoundPicking
from helpers.harness import T_ADMIN_DELAY, T_CHALLENGE, T_GRACE, T_MAX_PAUSE, TResult, nmr, t_model_id
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

EXAMPLES = int(os.environ.get("NMRSTAKE_FUZZ_EXAMPLES", "12"))
STEPS = int(os.environ.get("NMRSTAKE_FUZZ_STEPS", "30"))
# NMRSTAKE_FUZZ_NO_SHRINK=1: report a failure as found, without shrinking it (faster while debugging).
PHASES = [p for p in Phase if not (os.environ.get("NMRSTAKE_FUZZ_NO_SHRINK") and p in (Phase.shrink, Phase.explain))]

C, G, M = T_CHALLENGE, T_GRACE, T_MAX_PAUSE
MAX_ROUNDS = 3
NMR = 10**18
BOND = nmr(50)
REWARD = nmr(10)
NOBODY = "0x" + "ee" * 20  # ORACLE_ROLE's holder in the model: nobody holds it

MEMBER_KEYS = member_keys(3)  # the first committee, ascending
OUTSIDER = member_keys(1, label="outsider")[0]
KEYS = sorted(MEMBER_KEYS + [OUTSIDER], key=lambda k: int(k.address, 16))

STAKERS = ("alice", "bob", "carol")
DISPUTERS = ("treasury", "alice", "bob", "stranger")  # the stranger has no NMR and no approval
ACTORS = ("owner", "manager", "pauser", "oracle", "alice", "bob", "carol", "treasury", "stranger")
HOLDERS = ("alice", "bob", "carol", "treasury", "owner", "stranger")
TOUR_APPROVED = ("alice", "bob", "carol", "treasury")
DESK_APPROVED = ("alice", "bob", "treasury", "owner")
MODELS = ("m0", "m1")
COMMITMENT = keccak(b"c0")

ACTIONS: dict[str, tuple[int, dict]] = {}  # name -> (weight, strategies of its arguments)


def action(weight: int, **strategies):
    """Registers a machine method as an action `step` picks with this weight; an argument whose
    strategy is None receives hypothesis' `data` object."""

    def register(f):
        ACTIONS[f.__name__] = (weight, strategies)
        return f

    return register


STATS = {"examples": 0, "steps": 0, "txs": 0, "reverted": 0, "posts": 0, "disputes": 0, "settled": 0,
         "committees": 0, "claims": 0}
OUTCOMES: dict[tuple[str, str], int] = {}
CLOSED: dict[str, int] = {}  # how disputes closed: "upheld", "dismissed", "expired" -> count


def role_actor(role: str) -> st.SearchStrategy[str]:
    """Mostly the role holder, sometimes anyone (who then must be refused)."""
    return st.sampled_from([role] * 10 + list(ACTORS))


# Mostly an opened round; MAX_ROUNDS: one never opened.
ROUND_INDEX = st.one_of(st.integers(0, MAX_ROUNDS - 1), st.integers(0, MAX_ROUNDS))
PICK = st.sampled_from([True, True, True, False])
SIG_VARIANTS = st.sampled_from(
    ["m"] * 8 + ["all"] * 2 + ["m-1", "duplicate", "unsorted", "outsider", "other-content", "other-round",
                               "stale-epoch", "other-contract", "bad-length", "malleable", "unrecoverable",
                               "any"])
CONTENT_VARIANTS = st.sampled_from(["honest"] * 6 + ["insist"] * 3 + ["payout>funded"])


class CommitteeMachine(RoundPicking, RuleBasedStateMachine):
    max_rounds = MAX_ROUNDS
    m: CommitteeTournament

    ctx: ClassVar[dict] = {}

    def __init__(self):
        super().__init__()
        ctx = self.ctx
        self.evm: CommitteeEvm = ctx["evm"]
        self.chain = ctx["chain"]
        self.snapshot = self.chain.snapshot()
        e = self.evm
        e.reset()
        self.A = e.address
        self.T, self.D = e.addr["tour"], e.addr["desk"]
        self.keys: dict[str, LocalAccount] = {k.address: k for k in KEYS}
        self.holders = {**{h: self.A[h] for h in HOLDERS}, "tournament": self.T, "desk": self.D}
        assert e.balance_of(self.T) == 0 and e.balance_of(self.D) == 0
        allowances = {(self.A[h], self.D): 2**256 - 1 for h in DESK_APPROVED}
        members, threshold = e.committee()
        self.m = CommitteeTournament(
            now=e.pending_timestamp(), challenge=C, grace=G, max_pause=M,
            roles={"nmr": e.addr["nmr"], "tour": self.T, "owner": self.A["owner"], "oracle": NOBODY,
                   "manager": self.A["manager"], "pauser": self.A["pauser"]},
            balances={a: e.balance_of(a) for a in self.holders.values()},
            supply=e.total_supply(),
            approved=[self.A[h] for h in TOUR_APPROVED],
            allowances=allowances,
            chain_id=e.chain_id, members=members, threshold=threshold, admin_delay=T_ADMIN_DELAY,
            desk=self.D, arbiter=self.A["carol"], bond=BOND, reward=REWARD,
        )
        # What the machine itself recovered from each successful posting: round -> (root, distinct
        # current members whose signatures verify, the threshold then), from the chain's committee.
        self.attested: dict[int, tuple[bytes, int, int]] = {}
        self.changed = True
        STATS["examples"] += 1

    def teardown(self):
        self.chain.restore(self.snapshot)

    # ---------------------------------------------------------------- plumbing

    def _do(self, sender: str, cname: str, fname: str, args, method: str, margs=None) -> str | None:
        """The model's `method` predicts (and on success applies) `cname.fname(args)` by `sender`;
        the contract must agree, then the transaction is mined; a revert must change nothing."""
        STATS["steps"] += 1
        e = self.evm
        closed = len(self.m.outcomes)
        expect = self.m.attempt(method, self.A[sender], *(args if margs is None else margs)).error
        got = e.revert_of(sender, cname, fname, args)
        assert got == expect, (
            f"{cname}.{fname}{tuple(args)!r} by {sender} at t={self.now}: model expects {expect or 'success'}, "
            f"the contract {'reverts with ' + got if got else 'succeeds'}")
        before = e.fingerprint(sender) if expect else None
        status = e.send(sender, cname, fname, args)
        OUTCOMES[(fname, expect or "ok")] = OUTCOMES.get((fname, expect or "ok"), 0) + 1
        self.m.tick()
        STATS["txs"] += 1
        if expect:
            assert status == 0, f"{fname} was expected to revert ({expect}) but the transaction succeeded"
            assert e.fingerprint(sender) == before, f"reverted {fname} ({expect}) changed state"
            STATS["reverted"] += 1
        else:
            assert status == 1, f"{fname}{tuple(args)!r} by {sender}: the transaction reverted"
            self.changed = True
            for outcome in self.m.outcomes[closed:]:
                kind = {UPHELD: "upheld", DISMISSED: "dismissed"}.get(outcome[2], "expired")
                CLOSED[kind] = CLOSED.get(kind, 0) + 1
        return expect

    def _disputable(self, r: Round) -> bool:
        return bool(r.posted_at) and self.now < r.posted_at + C and r.id not in self.m.disputes

    def _settleable(self, rid: int) -> bool:
        """The open dispute of `rid` can be settled now: another root posted, the disputed one
        posted again and final, or the round expired."""
        d, r, state = self.m.disputes[rid], self.m.rounds[rid], self.m.state(rid)
        return (r.root not in (ZERO32, d.root)) or (r.root == d.root and state == FINAL) or state == EXPIRED

    def _travel(self, target: int | None, step: bool = True) -> None:
        if target is None or target <= self.now:
            return
        if step:
            STATS["steps"] += 1
        self.m.travel(target)
        self.evm.travel(target)

    # ---------------------------------------------------------------- rounds, stakes, funding

    def _open(self, actor, duration, resolve_after, clip, bad=None):
        now = self.now
        rid = self.m.last_id + 1
        o, c = now, now + duration
        r = c + resolve_after
        if bad == "resolve-before-close":
            r = c - 1
        params = (o, c, r, 5_000, 20_000, clip, 72_000 * NMR, 100 * NMR, NMR)
        self._do(actor, "tour", "openRound", (rid, params), "open_round", (rid, o, c, r, clip, NMR, 100 * NMR))

    @initialize(duration=st.integers(10, 3_000), resolve_after=st.integers(0, 3_000),
                clip=st.sampled_from([500, 2_500, BPS]),
                stakes=st.lists(st.tuples(st.sampled_from(STAKERS), st.sampled_from(MODELS), st.integers(1, 60)),
                                min_size=1, max_size=3),
                funding=st.integers(0, 5 * NMR))
    def first_round(self, duration, resolve_after, clip, stakes, funding):
        """A round open now with a few stakes and some funding, so that examples get to postings."""
        self._open("manager", duration, resolve_after, clip)
        for who, model, amount in stakes:
            self.stake(who, 0, model, amount * NMR)
        if funding:
            self.fund("treasury", 0, funding)

    @action(2, actor=role_actor("manager"), duration=st.integers(10, 3_000), resolve_after=st.integers(0, 3_000),
            clip=st.sampled_from([500, 2_500, BPS]), bad=st.sampled_from([None] * 5 + ["resolve-before-close"]))
    def open_round(self, actor, duration, resolve_after, clip, bad):
        if len(self.m.rounds) < MAX_ROUNDS:
            self._open(actor, duration, resolve_after, clip, bad)

    @action(8, who=st.sampled_from(STAKERS * 3 + ("stranger",)), ri=ROUND_INDEX, model=st.sampled_from(MODELS),
            amount=st.one_of(st.integers(NMR, 60 * NMR), st.integers(1, 2 * NMR)))
    def stake(self, who, ri, model, amount):
        rid, _r = self._pick(ri, lambda r: self.now < r.close)
        self._do(who, "tour", "stake", (rid, t_model_id(model), amount, COMMITMENT), "tour_stake")

    @action(3, who=st.sampled_from(("treasury", "treasury", "alice", "stranger")), ri=ROUND_INDEX,
            amount=st.integers(0, 5 * NMR))
    def fund(self, who, ri, amount):
        rid, _r = self._round(ri)
        self._do(who, "tour", "fund", (rid, amount), "fund")

    # ---------------------------------------------------------------- signed postings

    def _tree(self, r: Round, data) -> TResult:
        """An honest result: every stake's leaf, payouts and burns within the clip, the payouts
        within the funding."""
        entries = []
        for key in sorted(r.staked):
            amount = r.staked[key]
            p = data.draw(st.integers(0, amount * r.clip // BPS), label="payout")
            b = data.draw(st.integers(0, -(-amount * r.clip // BPS)), label="burn")
            entries.append([key[0], key[1], amount, p, b])
        limit = min(r.funded, r.total_staked * r.clip // BPS)
        total = sum(e[3] for e in entries)
        if total > limit:
            for e in entries:
                e[3] = e[3] * limit // total
        return TResult(r.id, [tuple(e) for e in entries])

    def _signatures(self, variant: str, att: Attestation, data) -> tuple[list[Signature], bool]:
        """The signatures of a variant over `att` (the posted content in the current epoch), as the
        model sees them, and whether a stray byte is appended."""
        members = [a for a in self.m.members if a in self.keys]
        threshold = self.m.threshold
        outsiders = [a for a in self.keys if not self.m.is_member(a)]
        pick = data.draw(st.permutations(members), label="members")
        signers = sorted(pick[:threshold], key=lambda a: int(a, 16))
        sigs = [Signature(a, att) for a in signers]
        if variant == "all":
            sigs = [Signature(a, att) for a in members]
        elif variant == "m-1":
            sigs = sigs[:-1]
        elif variant == "duplicate":
            sigs = sorted(sigs + [sigs[0]], key=lambda s: int(s.signer, 16))
        elif variant == "unsorted":
            sigs = sigs[::-1] if len(sigs) > 1 else sigs + sigs
        elif variant == "outsider" and outsiders:
            sigs = sorted(sigs[:-1] + [Signature(outsiders[0], att)], key=lambda s: int(s.signer, 16))
        elif variant in ("other-content", "other-round", "stale-epoch", "other-contract"):
            i = data.draw(st.integers(0, len(sigs) - 1), label="which signature")
            changed = {
                "other-content": {"total_payout": att.total_payout + 1},
                "other-round": {"round_id": att.round_id + 1},
                "stale-epoch": {"epoch": att.epoch - 1 if att.epoch > 1 else att.epoch + 1},
                "other-contract": {"contract": self.D},
            }[variant]
            bad = Attestation(**{**att.__dict__, **changed})
            if variant == "stale-epoch":  # every signature gathered in another epoch
                sigs = [Signature(s.signer, bad) for s in sigs]
            else:
                sigs[i] = Signature(sigs[i].signer, bad)
        elif variant in ("malleable", "unrecoverable"):
            i = data.draw(st.integers(0, len(sigs) - 1), label="which signature")
            sigs[i] = Signature(sigs[i].signer, att, variant)
        elif variant == "any":
            chosen = data.draw(st.lists(st.sampled_from(sorted(self.keys)), max_size=4), label="any keys")
            sigs = [Signature(a, att) for a in chosen]
        return sigs, variant == "bad-length"

    def _pack(self, sigs: list[Signature], bad_length: bool) -> bytes:
        out = []
        for s in sigs:
            posting = Posting(s.over.round_id, s.over.root, s.over.total_payout, s.over.total_burn, s.over.leaf_count,
                              s.over.results_hash)
            sig = sign(self.keys[s.signer], posting, s.over.epoch, s.over.chain_id, s.over.contract)
            if s.form == "malleable":
                sig = malleable(sig)
            elif s.form == "unrecoverable":
                sig = bytes(32) + sig[32:]
            out.append(sig)
        return b"".join(out) + (b"\x00" if bad_length else b"")

    def _recover_valid(self, packed: bytes, posting: Posting) -> tuple[int, int]:
        """Independently of the model: the distinct current members (as the chain reads them now)
        whose signature in `packed` verifies over `posting` in the chain's current epoch, and the
        chain's threshold."""
        members, threshold = self.evm.committee()
        epoch = self.evm.committee_epoch()
        h = digest(posting, epoch, self.evm.chain_id, self.T)
        valid = set()
        for i in range(len(packed) // 65):
            try:
                signer = Account._recover_hash(h, signature=packed[65 * i:65 * i + 65])
            except Exception:  # noqa: BLE001 - an unrecoverable signature counts for nothing
                continue
            if signer in members:
                valid.add(signer)
        return len(valid), threshold

    @action(16, who=st.sampled_from(["stranger", "alice", "treasury"]), ri=ROUND_INDEX, sig_variant=SIG_VARIANTS,
            content=CONTENT_VARIANTS, when=st.sampled_from(["resolve", "in-window", "now", "last-post"]), pick=PICK,
            data=None)
    def post_signed(self, who, ri, sig_variant, content, when, pick, data):
        rid, r = self._pick(ri, self._postable) if pick else self._round(ri)
        if r is not None and when != "now":
            target = {"resolve": r.resolve, "last-post": r.resolve + G - C,
                      "in-window": r.resolve + data.draw(st.integers(0, G - C), label="posting delay")}[when]
            self._travel(target, step=False)
        tree = None
        root, pay, burn, n = b"\x01" * 32, 0, 0, 0
        if r is not None and r.staked:
            if content == "insist" and r.old_trees:
                tree = r.old_trees[-1]  # the result a dispute (or the guardian) rejected, posted again
            else:
                tree = self._tree(r, data)
            root, pay, burn, n = tree.root, tree.total_payout, tree.total_burn, len(tree.entries)
            if content == "payout>funded":
                pay = r.funded + 1
        results_hash = keccak(f"manifest {rid} {root.hex()}".encode())
        att = self.m.attestation(rid, root, pay, burn, n, results_hash)
        sigs, bad_length = self._signatures(sig_variant, att, data)
        packed = self._pack(sigs, bad_length)
        posting = Posting(rid, root, pay, burn, n, results_hash)
        valid = self._recover_valid(packed, posting)
        if self._do(who, "tour", "postResultSigned", (*posting.args(), packed), "post_result_signed",
                    (rid, root, pay, burn, n, results_hash, sigs, bad_length, tree)) is None:
            self.attested[rid] = (root, *valid)
            STATS["posts"] += 1

    @action(1, actor=st.sampled_from(ACTORS))
    def post_by_oracle_role(self, actor):
        """`postResult` needs ORACLE_ROLE, which nobody holds here: always refused."""
        rid, _r = self._round(0)
        self._do(actor, "tour", "postResult", (rid, b"\x01" * 32, 0, 0, 1, ZERO32), "post_result",
                 (rid, b"\x01" * 32, 0, 0, 1, None))

    @action(2, actor=role_actor("owner"), ri=ROUND_INDEX, pick=PICK)
    def reject_result(self, actor, ri, pick):
        rid, _r = self._pick(ri, lambda r: r.posted_at and self.now < r.posted_at + C) if pick else self._round(ri)
        self._do(actor, "tour", "rejectResult", (rid, "guardian"), "reject_result", (rid,))

    # ---------------------------------------------------------------- committee changes

    @action(3, actor=role_actor("owner"), subset=st.lists(st.sampled_from(range(len(KEYS))), min_size=1, max_size=4,
                                                          unique=True),
            threshold=st.integers(1, 4),
            bad=st.sampled_from([None] * 12 + ["unsorted", "duplicate", "zero", "threshold0", "threshold>n", "empty"]))
    def propose_committee(self, actor, subset, threshold, bad):
        members = sorted((KEYS[i].address for i in subset), key=lambda a: int(a, 16))
        threshold = min(threshold, len(members))
        if bad == "unsorted" and len(members) > 1:
            members = members[::-1]
        elif bad == "duplicate":
            members = sorted(members + [members[0]], key=lambda a: int(a, 16))
        elif bad == "zero":
            members = [ZERO_ADDRESS] + members
        elif bad == "threshold0":
            threshold = 0
        elif bad == "threshold>n":
            threshold = len(members) + 1
        elif bad == "empty":
            members = []
        assert len(members) <= MAX_COMMITTEE_SIZE
        self._do(actor, "tour", "proposeCommittee", (members, threshold), "propose_committee", (members, threshold))

    @action(3, actor=st.sampled_from(ACTORS), when=st.sampled_from(["ready", "ready", "ready-1", "now"]))
    def apply_committee(self, actor, when):
        if self.m.pending is not None and when != "now":
            at = self.m.pending[2]
            self._travel(at if when == "ready" else at - 1, step=False)
        if self._do(actor, "tour", "applyCommittee", (), "apply_committee", ()) is None:
            STATS["committees"] += 1

    @action(1, actor=role_actor("owner"))
    def cancel_committee_proposal(self, actor):
        self._do(actor, "tour", "cancelCommitteeProposal", (), "cancel_committee_proposal", ())

    # ---------------------------------------------------------------- disputes

    @action(8, who=st.sampled_from(DISPUTERS * 2 + ("treasury",) * 4), ri=ROUND_INDEX, pick=PICK,
            when=st.sampled_from(["now", "now", "last-second", "too-late"]),
            named=st.sampled_from(["posted"] * 6 + ["other", "rejected"]))
    def dispute(self, who, ri, pick, when, named):
        rid, r = self._pick(ri, self._disputable) if pick else self._round(ri)
        if r is not None and r.posted_at and when != "now":
            self._travel(r.posted_at + C - 1 if when == "last-second" else r.posted_at + C, step=False)
        root = r.root if r is not None else ZERO32
        if named == "other":
            root = b"\x22" * 32
        elif named == "rejected" and r is not None and r.old_trees:
            root = r.old_trees[-1].root
        evidence = f"first differing leaf of round {rid}".encode()
        if self._do(who, "desk", "dispute", (rid, root, evidence), "dispute", (rid, root)) is None:
            STATS["disputes"] += 1

    @action(5, actor=st.sampled_from(ACTORS), ri=ROUND_INDEX, pick=PICK)
    def settle(self, actor, ri, pick):
        rid, _r = self._pick(ri, lambda r: r.id in self.m.disputes) if pick else self._round(ri)
        if self._do(actor, "desk", "settle", (rid,), "settle") is None:
            STATS["settled"] += 1

    @action(4, actor=role_actor("carol"), ri=ROUND_INDEX, pick=PICK, right=st.booleans())
    def rule_dispute(self, actor, ri, pick, right):
        """The arbiter's `rule` (refused to anyone else)."""
        rid, _r = self._pick(ri, lambda r: r.id in self.m.disputes) if pick else self._round(ri)
        self._do(actor, "desk", "rule", (rid, right, "recomputed"), "rule", (rid, right))

    @action(3, who=st.sampled_from(DESK_APPROVED + ("stranger", "carol")),
            amount=st.one_of(st.integers(1, 30 * NMR), st.just(0)))
    def fund_reserve(self, who, amount):
        self._do(who, "desk", "fundReserve", (amount,), "fund_reserve")

    @action(2, actor=role_actor("owner"), to=st.sampled_from(["treasury", "owner", None]),
            fraction=st.sampled_from(["some", "all", "over", "zero"]))
    def withdraw_reserve(self, actor, to, fraction):
        held = self.m.reserve
        amount = {"zero": 0, "some": max(1, held // 3), "all": held, "over": held + 1}[fraction]
        self._do(actor, "desk", "withdrawReserve", (self.A[to] if to else ZERO_ADDRESS, amount), "withdraw_reserve")

    # ---------------------------------------------------------------- finality, claims, expiry

    @action(5, actor=st.sampled_from(ACTORS), ri=ROUND_INDEX, wait=st.booleans())
    def finalise(self, actor, ri, wait):
        rid, r = self._pick(ri, lambda r: not r.settled)
        if wait and r is not None:
            self._travel(r.posted_at + C if r.posted_at else r.resolve + G, step=False)
        self._do(actor, "tour", "finalise", (rid,), "finalise")

    @action(8, actor=st.sampled_from(ACTORS), variant=st.sampled_from(["leaf"] * 4 + ["again", "forged"]),
            wait=st.sampled_from([True, True, False]), data=None)
    def claim(self, actor, variant, wait, data):
        trees = [r for _rid, r in sorted(self.m.rounds.items()) if r.tree is not None]
        if not trees:
            return
        r = trees[data.draw(st.integers(0, len(trees) - 1), label="round")]
        todo = [i for i, e in enumerate(r.tree.entries) if r.stakes.get((e[0], e[1]), 0)]
        i = todo[0] if variant == "leaf" and todo else data.draw(st.integers(0, len(r.tree.entries) - 1), label="leaf")
        rid, mid, staker, payout, burn, proof = r.tree.claim_args(i)
        if variant == "forged":
            payout, burn = (payout - 1, burn) if payout else (payout, burn + 1 if burn == 0 else burn - 1)
        if wait:
            self._travel(r.posted_at + C, step=False)
        spec = (rid, mid, staker, payout, burn, [bytes(p) for p in proof])
        if self._do(actor, "tour", "claim", spec, "claim") is None:
            STATS["claims"] += 1

    @action(3, who=st.sampled_from(STAKERS), ri=ROUND_INDEX, model=st.sampled_from(MODELS), wait=st.booleans())
    def emergency_withdraw(self, who, ri, model, wait):
        rid, r = self._pick(ri, lambda r: not r.posted_at and any(r.stakes.values()))
        if r is not None:
            held = sorted(key for key, amount in r.stakes.items() if amount)
            if held:
                mid_, addr_ = held[0]
                who = next(n for n in STAKERS if self.A[n] == addr_)
                model = next(n for n in MODELS if t_model_id(n) == mid_)
            if wait and not r.posted_at:
                self._travel(r.resolve + G, step=False)
        self._do(who, "tour", "emergencyWithdraw", (rid, t_model_id(model)), "emergency_withdraw")

    @action(1, actor=role_actor("pauser"))
    def pause(self, actor):
        self._do(actor, "tour", "pause", (), "pause")

    @action(1, actor=role_actor("pauser"))
    def unpause(self, actor):
        self._do(actor, "tour", "unpause", (), "unpause")

    # ---------------------------------------------------------------- time

    @action(4, dt=st.one_of(st.integers(1, 600), st.integers(600, 20_000), st.integers(20_000, G + 600)))
    def advance(self, dt):
        self._travel(self.now + dt)

    def _boundaries(self) -> list[int]:
        ahead = [t for r in self.m.rounds.values()
                 for t in (r.open, r.close, r.resolve, r.resolve + G - C, r.resolve + G,
                           r.posted_at + C - 1 if r.posted_at else 0, r.posted_at + C if r.posted_at else 0)
                 if t > self.now]
        if self.m.pending is not None and self.m.pending[2] > self.now:
            ahead.append(self.m.pending[2])
        if self.m.pause_end and self.m.pause_end > self.now:
            ahead.append(self.m.pause_end)
        return ahead

    @action(5)
    def progress(self):
        """Time moves to the next boundary of a round, a challenge period, a proposal or the pause."""
        ahead = self._boundaries()
        if ahead:
            self._travel(min(ahead))

    # ---------------------------------------------------------------- the one rule

    def _weights(self) -> dict[str, int]:
        w = {name: weight for name, (weight, _) in ACTIONS.items()}
        rounds, now = self.m.rounds.values(), self.now
        if not any(self._postable(r) for r in rounds):
            w["post_signed"] = 2
        if not any(self._disputable(r) for r in rounds):
            w["dispute"] = 1
        else:
            w["dispute"] = 14  # a result in its challenge period: dispute it (or let it pass)
        if not self.m.disputes:
            w["settle"] = w["rule_dispute"] = 1
        else:
            w["settle"] = 10 if any(self._settleable(rid) for rid in self.m.disputes) else 2
            w["rule_dispute"] = 8
        w["apply_committee"] = 1 if self.m.pending is None else 8
        if not any(r.tree is not None for r in rounds):
            w["claim"] = 0
        if not any(now < r.close for r in rounds):
            w["stake"] = 2
            if len(self.m.rounds) < MAX_ROUNDS:
                w["open_round"] = 8
        if len(self.m.rounds) >= MAX_ROUNDS:
            w["open_round"] = 0
        if not self._boundaries():
            w["progress"] = 0
        return w

    @rule(data=st.data())
    def step(self, data):
        """One action, picked with the weights (one rule rather than one per action, as in the
        tournament's machine: swarm testing would disable random actions in each example)."""
        weights = self._weights()
        names = sorted(ACTION_NAMES, key=lambda n: -weights[n])
        choices = [name for name in names for _ in range(weights[name])]
        name = data.draw(st.sampled_from(choices), label="action")
        _weight, strategies = ACTIONS[name]
        kwargs = {k: (data if s_ is None else data.draw(s_, label=k)) for k, s_ in strategies.items()}
        getattr(self, name)(**kwargs)

    # ---------------------------------------------------------------- invariants

    @invariant()
    def books_balance_to_the_wei(self):
        e, m = self.evm, self.m
        assert e.pending_timestamp() == self.now, "the model's clock drifted from the chain's"
        assert e.balance_of(self.T) == m.owed(), "the tournament's NMR != what it owes"
        assert e.total_supply() == m.supply, "totalSupply != supply - burns"
        reserve, bonded = e.reserve(), e.bonded()
        assert e.balance_of(self.D) == reserve + bonded, "the desk's NMR != reserve + bonded"
        assert (reserve, bonded) == (m.reserve, m.bonded) and m.bonded + m.reserve == m.desk_owed()
        for name, addr in self.holders.items():
            assert e.balance_of(addr) == m.balance(addr), f"{name}'s NMR moved otherwise than the model says"

    @invariant()
    def no_disputed_root_final_and_every_root_attested_by_m(self):
        e, m = self.evm, self.m
        for rid in m.rounds:
            disputer, bond, filed_at, disputed = e.dispute_of(rid)
            state = e.round_state(rid)
            got = e.get_round(rid)
            root = got["root"]
            if disputer != ZERO_ADDRESS and state == FINAL and root == disputed:
                # The disputed posting was rejected when the dispute was filed: the root can only be
                # final as a posting made after that, which outlived its own challenge period
                # undisputed (the committee insisted: `settle` will dismiss the dispute).
                assert got["postedAt"] > filed_at, f"round {rid}: the disputed posting became final"
            if root != ZERO32:
                posted_root, valid, threshold = self.attested.get(rid, (None, 0, 1))
                assert posted_root == root and valid >= threshold, (
                    f"round {rid}: root posted with {valid} valid current signatures, threshold {threshold}")
            d = m.disputes.get(rid)
            want = (d.disputer, d.bond, d.filed_at, d.root) if d else (ZERO_ADDRESS, 0, 0, ZERO32)
            assert (disputer, bond, filed_at, disputed) == want, f"round {rid}: dispute differs from the model"
            assert state == m.state(rid), f"round {rid}: state {state} != the model's {m.state(rid)}"

    @invariant()
    def rounds_and_committee_match_the_model(self):
        if not self.changed:
            return
        e, m = self.evm, self.m
        for rid, r in m.rounds.items():
            have = e.get_round(rid)
            want = {"totalStaked": r.total_staked, "stakeCount": r.count, "funded": r.funded, "postedAt": r.posted_at,
                    "root": r.root, "totalPayout": r.payout, "totalBurn": r.burn, "claimable": r.claimable,
                    "claimed": r.claimed, "settled": r.settled}
            assert {k: have[k] for k in want} == want, f"round {rid}"
        assert e.committee() == (m.members, m.threshold)
        assert e.committee_epoch() == m.epoch
        pending = m.pending or ([], 0, 0)
        assert e.pending_committee() == (pending[0], pending[1], pending[2])
        assert e.pool() == m.pool
        self.changed = False


ACTION_ORDER = ["post_signed", "dispute", "stake", "progress", "settle", "claim", "finalise"]
ACTION_NAMES = ACTION_ORDER + sorted(set(ACTIONS) - set(ACTION_ORDER))


@pytest.fixture(scope="module")
def committee_world(project, chain, token, owner, manager, pauser, alice, bob, carol, treasury):
    """A 2-of-3 CommitteeTournament (nobody holds ORACLE_ROLE) and its DisputeDesk (REJECTER_ROLE,
    carol the arbiter); NMR and approvals for the participants, the treasury and the admin."""
    members = [k.address for k in MEMBER_KEYS]
    tour = owner.deploy(project.CommitteeTournament, token, owner, T_ADMIN_DELAY, T_CHALLENGE, T_GRACE, T_MAX_PAUSE,
                        members, 2)
    tour.grantRole(tour.MANAGER_ROLE(), manager, sender=owner)
    tour.grantRole(tour.PAUSER_ROLE(), pauser, sender=owner)
    desk = owner.deploy(project.DisputeDesk, tour, owner, T_ADMIN_DELAY, carol, BOND, REWARD)
    tour.grantRole(tour.REJECTER_ROLE(), desk, sender=owner)
    accounts = {"owner": owner, "manager": manager, "pauser": pauser, "alice": alice, "bob": bob, "carol": carol,
                "treasury": treasury}
    for name in ("alice", "bob", "carol", "treasury", "owner"):
        token.mint(accounts[name], nmr(10_000), sender=owner)
    for name in TOUR_APPROVED:
        token.approve(tour, 2**256 - 1, sender=accounts[name])
    for name in DESK_APPROVED:
        token.approve(desk, 2**256 - 1, sender=accounts[name])
    return tour, desk


def test_committee_and_disputes_state_machine__books_balance_and_no_wrong_root_final(
        chain, token, committee_world, owner, oracle, manager, pauser, alice, bob, carol, treasury, stranger):
    tour, desk = committee_world
    accounts = {"owner": owner, "oracle": oracle, "manager": manager, "pauser": pauser, "alice": alice, "bob": bob,
                "carol": carol, "treasury": treasury, "stranger": stranger}
    assert token.balanceOf(stranger) == 0 and token.allowance(stranger, desk) == 0
    assert not tour.hasRole(tour.ORACLE_ROLE(), oracle)
    CommitteeMachine.ctx = {"evm": CommitteeEvm(chain, {"tour": tour, "nmr": token, "desk": desk}, accounts),
                            "chain": chain}
    for k in STATS:
        STATS[k] = 0
    OUTCOMES.clear()
    CLOSED.clear()
    started = time.monotonic()
    run_state_machine_as_test(
        CommitteeMachine,
        settings=settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                          suppress_health_check=list(HealthCheck), phases=PHASES),
    )
    print(f"\ncommittee fuzzing: {STATS['examples']} examples, {STATS['steps']} steps, {STATS['txs']} transactions "
          f"({STATS['reverted']} reverted as predicted), {STATS['posts']} signed postings, {STATS['disputes']} "
          f"disputes, {STATS['settled']} settled, {STATS['committees']} committee changes, {STATS['claims']} claims, "
          f"{time.monotonic() - started:.1f} s")
    if os.environ.get("NMRSTAKE_FUZZ_VERBOSE"):
        print("  disputes closed (upheld, dismissed, expired):", dict(sorted(CLOSED.items())))
        for (fname, outcome), n in sorted(OUTCOMES.items()):
            print(f"  {fname:24} {outcome:32} {n}")
    assert STATS["steps"] > 0
