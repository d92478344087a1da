"""Stateful fuzzing of the Tournament: a hypothesis `RuleBasedStateMachine` over the real NMR and
Tournament contracts on ape's embedded EVM.

Random actors (every role, participants, a stranger without tokens) open rounds (increasing ids,
sometimes invalid), stake (sometimes on the zero model id or an id that is not a model name), add
to stakes, replace commitments, fund rounds and the shared pool, allocate, withdraw the pool, post
results (valid trees built with the `harness` helpers, random payouts and burns within the
per-stake limits, "generous" trees whose leaves pay more than the posted totals, "left-out" trees
in which one stake's leaf is for another amount so that it can never be claimed, and invalid
postings), reject, finalise, claim (valid, double, forged, beyond the
leaf's clip, old trees, batches), withdraw from expired rounds, exit Final rounds without a proof
(`exitUnclaimed`: before, at and after the end of the claim window, by the staker or anyone else),
pause and unpause, while time moves forward by random amounts or jumps to a round's boundaries
(open, close, resolve, last posting second, finality, end of the claim window = opening of the
exits, expiry, end of a pause).

Every call is predicted by a Python model of the rules (docs/round-lifecycle.md), never read back
from the contract: the model says whether the call succeeds or which error it reverts with; the
contract must agree (an `eth_call` at the pending block), then the transaction is mined. After a
revert nothing may have changed: the balances, the round structs, the stakes, the pool, the pause,
and the storage roots of both contracts. After every step:

* the Tournament's NMR balance equals exactly what the model says it owes: the pool, plus per
  round its unclaimed stakes and funding (not settled), `claimable - claimed` (settled with a
  final result) or its unwithdrawn stakes (settled after expiry);
* `totalSupply` fell by exactly the burns the model executed;
* every account's NMR balance moved by exactly what the model paid it or took from it;
* no stake was paid twice, and nobody received more than its leaves (or expired stakes, or the exits
  of stakes without a leaf) allow;
* no exit paid more than the stake's leaf in the posted tree (when the tree has a leaf for that
  stake), and the claims and exits of a round never add up to more than its `claimable`;
* every round struct (`getRound`) and every stake touched by the step (`getStake`) match the model.

The parts are kept apart (tests/helpers/fuzz_tournament/__init__.py): the model of the NMR token and the
Tournament is tests/helpers/fuzz_tournament/model.py (it predicts and applies every action); the adapter
tests/helpers/fuzz_tournament/adapter.py signs and sends the transactions straight to the embedded EVM
(ape's `ethereum_tester`, to keep the run short) and reads the chain back; this machine draws each
action's arguments, asks the model, sends through the adapter, compares, and checks the
invariants. Each hypothesis example runs in a chain snapshot that is restored afterwards.
`NMRSTAKE_FUZZ_EXAMPLES` (default 15) sets the number of examples, `NMRSTAKE_FUZZ_STEPS`
(default 25) the steps per example; `make fuzz` runs 500 examples and prints the number of steps.
"""

from __future__ import annotations

import os
import time
from typing import ClassVar

from eth_utils import keccak
from helpers.fuzz_tournament.adapter import Evm
from helpers.fuzz_tournament.model import BPS, ZERO32, ZERO_ADDRESS, Tournament, exit_burn
from helpers.fuzz_tournament.picking import RoundPicking
from helpers.harness import T_CHALLENGE, T_GRACE, T_MAX_PAUSE, t_model_id
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

EXAMPLES = int(os.environ.get("NMRSTAKE_FUZZ_EXAMPLES", "15"))
STEPS = int(os.environ.get("NMRSTAKE_FUZZ_STEPS", "25"))

C, G, M = T_CHALLENGE, T_GRACE, T_MAX_PAUSE
MAX_ROUNDS = 4
NMR = 10**18

STAKERS = ("alice", "bob", "carol")
FUNDERS = ("treasury", "treasury", "alice", "stranger")  # the stranger has neither tokens nor an approval
ACTORS = ("owner", "oracle", "manager", "pauser", "alice", "bob", "carol", "treasury", "stranger")
HOLDERS = ("alice", "bob", "carol", "treasury", "owner", "stranger")  # NMR balances followed
APPROVED = {"alice", "bob", "carol", "treasury"}  # unlimited approval to the tournament (conftest)
MODELS = ("m0", "m1")
NOT_NAMES = ("M0", "m-0")  # ids that are not model names: the tournament refuses them (InvalidModelId)
COMMITMENTS = (keccak(b"c0"), keccak(b"c1"), keccak(b"c2"))
# Refused like zero (the stake stores the first 20 bytes); and c0's twin, which shares them.
ZERO_PREFIX = bytes(20) + b"\x01" * 12
TWIN_C0 = COMMITMENTS[0][:20] + bytes(12)

ACTIONS: dict[str, tuple[int, dict]] = {}  # name -> (weight, strategies of its arguments)


def action(weight: int, **strategies):
    """Registers a machine method as an action that `step` picks with this weight; an argument whose
    strategy is None receives hypothesis' `data` object."""

    def register(f):
        ACTIONS[f.__name__] = (weight, strategies)
        return f

    return register


STATS = {"examples": 0, "steps": 0, "txs": 0, "reverted": 0, "claims": 0, "posts": 0, "exits": 0}
OUTCOMES: dict[tuple[str, str], int] = {}  # (function, "ok" or the error) -> count
PICKED: dict[str, int] = {}  # action -> times picked


def role_actor(role: str) -> st.SearchStrategy[str]:
    """Mostly the role holder, sometimes anyone (who then must be refused)."""
    return st.sampled_from([role] * 16 + list(ACTORS))


def some(top: int) -> st.SearchStrategy[int]:
    """A positive amount up to `top`, sometimes 0."""
    return st.one_of(st.integers(1, top), st.integers(1, top), st.integers(1, top), st.just(0))


ROUND_INDEX = st.integers(0, MAX_ROUNDS)
# Strategies below start with their most productive choice: hypothesis' simplest draws pick it.
WAIT = st.sampled_from([True, True, False])  # first move time to the moment the call is meant for
PICK = st.sampled_from([True, True, True, False])  # mostly a round in the right state for the call
AMOUNTS = st.one_of(st.integers(NMR, 60 * NMR), st.integers(1, 2 * NMR), st.integers(NMR, 60 * NMR), st.just(0))
DURATIONS = st.one_of(st.integers(1_000, 20_000), st.integers(1, 1_000), st.integers(1_000, 20_000))
FRACTIONS = st.sampled_from(["some", "all", "over", "zero"])


# ------------------------------------------------------------------------------ the machine


class TournamentMachine(RoundPicking, RuleBasedStateMachine):
    max_rounds = MAX_ROUNDS

    ctx: ClassVar[dict] = {}

    def __init__(self):
        super().__init__()
        ctx = self.ctx
        self.evm: Evm = ctx["evm"]
        self.harness = ctx["harness"]
        self.chain = ctx["chain"]
        self.snapshot = self.chain.snapshot()
        e = self.evm
        e.reset()
        self.touched: set[int] = set()
        self.changed = True  # a transaction succeeded since the last full check
        self.T = e.addr["tour"]
        self.A = e.address
        assert e.balance_of(self.T) == 0, "the machine needs a tournament that holds nothing"
        assert e.last_round_id() == 0
        # Whatever the clock says now: every time drawn below is relative to it.
        self.m = Tournament(
            now=e.pending_timestamp(), challenge=C, grace=G, max_pause=M,
            roles={"nmr": e.addr["nmr"], "tour": self.T,
                   **{role: self.A[role] for role in ("owner", "oracle", "manager", "pauser")}},
            balances={self.A[h]: e.balance_of(self.A[h]) for h in HOLDERS},
            supply=e.total_supply(),
            approved=[self.A[n] for n in sorted(APPROVED)],
        )
        STATS["examples"] += 1

    def teardown(self):
        self.chain.restore(self.snapshot)

    # ---------------------------------------------------------------- plumbing

    def _do(self, sender: str, fname: str, args, method: str, margs=None, rids=(), keys=()) -> str | None:
        """The model's `method` predicts (and, if it succeeds, applies) the call `fname(args)` of
        the tournament by `sender` (the model's arguments: `margs`, by default `args`); the
        contract must agree, then the transaction is sent."""
        STATS["steps"] += 1
        e = self.evm
        now = self.now
        expect = self.m.attempt(method, self.A[sender], *(args if margs is None else margs)).error
        got = e.revert_of(sender, "tour", fname, args)
        assert got == expect, (
            f"{fname}{tuple(args)!r} by {sender} at t={now}: model expects "
            f"{expect or 'success'}, the contract {'reverts with ' + got if got else 'succeeds'}"
        )
        before = e.fingerprint(sender, rids, keys) if expect else None
        status = e.send(sender, "tour", fname, args)
        OUTCOMES[(fname, expect or "ok")] = OUTCOMES.get((fname, expect or "ok"), 0) + 1
        self.m.tick()
        STATS["txs"] += 1
        if expect:
            assert status == 0, f"{fname} was expected to revert ({expect}) but the transaction succeeded"
            assert e.fingerprint(sender, rids, keys) == before, f"reverted {fname} ({expect}) changed state"
            STATS["reverted"] += 1
        else:
            assert status == 1, f"{fname}{tuple(args)!r} by {sender}: the transaction reverted"
            self.changed = True
            self.touched.update(rids)
        return expect

    def _amount(self, fraction: str, available: int) -> int:
        return {"zero": 0, "some": max(1, available // 3), "all": available, "over": available + 1}[fraction]

    # ---------------------------------------------------------------- rounds

    def _open(self, actor, start_in, duration, resolve_after, clip, min_stake, cap, id_step, bad):
        now = self.now
        rid = self.m.last_id + id_step
        o = now + start_in
        c = o + duration
        r = c + resolve_after
        if bad == "close-now":
            o, c, r = now - 100, now, now + 10
        elif bad == "resolve-before-close":
            r = c - 1
        elif bad == "clip0":
            clip = 0
        elif bad == "clip-over":
            clip = BPS + 1
        elif bad == "min0":
            min_stake = 0
        elif bad == "cap-below-min":
            cap = min_stake - 1
        params = (o, c, r, 5_000, 20_000, clip, 72_000 * NMR, cap, min_stake)

        self._do(actor, "openRound", (rid, params), "open_round", (rid, o, c, r, clip, min_stake, cap), rids=(rid,))

    @initialize(duration=DURATIONS, resolve_after=st.integers(0, 5_000), clip=st.sampled_from([1, 500, 2_500, BPS]),
                stakes=st.lists(st.tuples(st.sampled_from(STAKERS), st.sampled_from(MODELS), st.integers(1, 60)),
                                max_size=4),
                funding=st.integers(0, 5 * NMR))
    def first_round(self, duration, resolve_after, clip, stakes, funding):
        """A round open now, with a few stakes and some funding, so that examples get far."""
        self._open("manager", 0, max(duration, 10), resolve_after, clip, NMR, 100 * NMR, 1, None)
        for who, model, amount in stakes:
            self.stake(who, 0, model, amount * NMR, COMMITMENTS[0])
        if funding:
            self.fund("treasury", 0, funding)

    @action(3, actor=role_actor("manager"), start_in=st.sampled_from([0, 0, 1, 300]), duration=DURATIONS,
            resolve_after=st.integers(0, 5_000), clip=st.sampled_from([1, 500, 2_500, BPS]),
            min_stake=st.sampled_from([1, NMR]), cap=st.sampled_from([NMR, 50 * NMR, 100 * NMR, 100 * NMR]),
            id_step=st.sampled_from([1, 1, 1, 7, 0]),
            bad=st.sampled_from([None] * 8 + ["close-now", "resolve-before-close", "clip0", "clip-over", "min0",
                                              "cap-below-min"]))
    def open_round(self, actor, start_in, duration, resolve_after, clip, min_stake, cap, id_step, bad):
        if len(self.m.rounds) >= MAX_ROUNDS:
            return
        self._open(actor, start_in, duration, resolve_after, clip, min_stake, cap, id_step, bad)

    # ---------------------------------------------------------------- staking and funding

    @action(12, who=st.sampled_from(STAKERS * 3 + ("stranger",)), ri=ROUND_INDEX,
            model=st.sampled_from(MODELS * 4 + ("",) + NOT_NAMES), amount=AMOUNTS,
            commitment=st.sampled_from(COMMITMENTS * 3 + (TWIN_C0, ZERO32, ZERO_PREFIX)), wait=WAIT, pick=PICK)
    def stake(self, who, ri, model, amount, commitment, wait=False, pick=False):
        rid, r = self._pick(ri, lambda r: self.now < r.close) if pick else self._round(ri)
        if wait and r is not None:
            self._travel(r.open, step=False)
        mid = t_model_id(model) if model else ZERO32
        addr = self.A[who]
        r = self.m.rounds.get(rid)
        held = r.stakes.get((mid, addr), 0) if r is not None else 0
        old = r.commitments.get((mid, addr)) if r is not None else None
        if self._do(who, "stake", (rid, mid, amount, commitment), "tour_stake", rids=(rid,),
                    keys=((rid, mid, addr),)) is None:
            # The full commitment is only in the events: `Staked` carries it whenever NMR is added,
            # `CommitmentChanged` when an existing stake's stored 20 bytes change; so the key's
            # last logged commitment is always the model's, and has the stored prefix.
            key = (rid, mid, addr)
            want: list[tuple] = [("Staked", key, amount, held + amount, commitment)] if amount else []
            if held and old is not None and commitment[:20] != old[:20]:
                want.append(("CommitmentChanged", key, old[:20], commitment))
            assert self.evm.stake_events() == want, f"stake{key}: events {self.evm.stake_events()} != {want}"

    @action(4, who=st.sampled_from(FUNDERS), ri=ROUND_INDEX, amount=some(5 * NMR))
    def fund(self, who, ri, amount):
        rid, _r = self._round(ri)

        self._do(who, "fund", (rid, amount), "fund", rids=(rid,))

    @action(4, who=st.sampled_from(FUNDERS), amount=some(10 * NMR))
    def fund_pool(self, who, amount):
        self._do(who, "fundPool", (amount,), "fund_pool")

    @action(4, actor=role_actor("manager"), ri=ROUND_INDEX, fraction=FRACTIONS)
    def allocate(self, actor, ri, fraction):
        rid, _r = self._round(ri)
        amount = self._amount(fraction, self.m.pool)

        self._do(actor, "allocate", (rid, amount), "allocate", rids=(rid,))

    @action(3, actor=role_actor("owner"), to=st.sampled_from(["treasury", "owner", "stranger", None]),
            fraction=FRACTIONS)
    def withdraw_pool(self, actor, to, fraction):
        amount = self._amount(fraction, self.m.pool)
        to_addr = self.A[to] if to else ZERO_ADDRESS

        self._do(actor, "withdrawPool", (to_addr, amount), "withdraw_pool")

    # ---------------------------------------------------------------- results

    @action(16, actor=role_actor("oracle"), ri=ROUND_INDEX,
            variant=st.sampled_from(["honest"] * 6 + ["generous"] * 2 + ["left-out"] * 2 + [
              "leafcount+1", "leafcount-1", "payout>funded", "payout>clip", "burn>stake", "burn>clip",
              "zero-root"]),
            when=st.sampled_from(["resolve", "in-window", "now", "resolve", "last-post"]), pick=PICK, data=None)
    def post_result(self, actor, ri, variant, when, pick, data):
        if pick:  # mostly a round that can still be posted
            rid, r = self._pick(ri, self._postable)
        else:
            rid, r = self._round(ri)
        if r is not None and when != "now":
            last_post = r.resolve + G - C
            target = {"resolve": r.resolve, "last-post": last_post,
                      "in-window": r.resolve + data.draw(st.integers(0, G - C), label="posting delay")}[when]
            self._travel(target, step=False)
        res = None
        root, pay, burn, n = b"\x01" * 32, 0, 0, 0
        if r is not None:
            entries = []
            keys = sorted(r.staked)
            # "left-out": one stake's leaf is for another amount (its proof never verifies); its
            # payout and burn are drawn within the clip of that other amount.
            wrong = (data.draw(st.integers(0, len(keys) - 1), label="left-out leaf")
                     if variant == "left-out" and keys else None)
            for j, key in enumerate(keys):
                amount = r.staked[key]
                if j == wrong:
                    amount = data.draw(st.sampled_from([2 * amount, amount + 1, amount - 1]), label="wrong amount")
                max_pay = amount * r.clip // BPS
                max_burn = -(-amount * r.clip // BPS)
                kind = data.draw(st.integers(0, 3), label="leaf kind")
                p = data.draw(st.integers(0, max_pay), label="payout") if kind in (0, 3) else 0
                b = data.draw(st.integers(0, max_burn), label="burn") if kind in (1, 3) else 0
                entries.append([key[0], key[1], amount, p, b])
            clipped = r.total_staked * r.clip // BPS
            limit = min(r.funded, clipped)
            total = sum(e[3] for e in entries)
            if variant != "generous" and total > limit:
                for e in entries:
                    e[3] = e[3] * limit // total
            if entries:
                res = self.harness.Result(rid, [tuple(e) for e in entries])
                root, pay, burn, n = res.root, res.total_payout, res.total_burn, len(entries)
            if variant == "generous":
                pay = min(pay, limit)  # the leaves pay more than the posted total
            elif variant == "leafcount+1":
                n += 1
            elif variant == "leafcount-1" and n:
                n -= 1
            elif variant == "payout>funded":
                pay = r.funded + 1
            elif variant == "payout>clip":
                pay = clipped + 1
            elif variant == "burn>stake":
                burn = r.total_staked + 1
            elif variant == "burn>clip":
                burn = clipped + r.count + 1
            elif variant == "zero-root":
                root = ZERO32
        results_hash = keccak(f"manifest {rid} {variant}".encode())

        if self._do(actor, "postResult", (rid, root, pay, burn, n, results_hash), "post_result",
                    (rid, root, pay, burn, n, res), rids=(rid,)) is None:
            STATS["posts"] += 1

    @action(3, actor=role_actor("owner"), ri=ROUND_INDEX, pick=PICK)
    def reject_result(self, actor, ri, pick):
        if pick:  # mostly a result still in its challenge period
            rid, _r = self._pick(ri, lambda r: r.posted_at and self.now < r.posted_at + C)
        else:
            rid, _r = self._round(ri)

        self._do(actor, "rejectResult", (rid, "fuzz"), "reject_result", (rid,), rids=(rid,))

    @action(6, actor=st.sampled_from(ACTORS), ri=ROUND_INDEX, wait=WAIT, pick=PICK)
    def finalise(self, actor, ri, wait, pick):
        rid, r = self._pick(ri, lambda r: not r.settled) if pick else self._round(ri)
        if wait and r is not None:
            self._travel(r.posted_at + C if r.posted_at else r.resolve + G, step=False)

        self._do(actor, "finalise", (rid,), "finalise", rids=(rid,))

    # ---------------------------------------------------------------- claims and exits

    def _draw_claim(self, data) -> tuple:
        rounds = list(self.m.rounds.values())
        trees = [r for r in rounds if r.tree is not None]
        olds = [r for r in rounds if r.old_trees]
        variant = data.draw(st.sampled_from(
            ["leaf"] * 5 + ["again", "forged", "other-proof", "over-clip", "burn>stake", "no-stake", "old-tree",
                            "no-tree"]),
            label="claim variant")
        if variant == "old-tree" and not olds:
            variant = "leaf"
        if variant != "old-tree" and variant != "no-tree" and not trees:
            variant = "no-tree"
        if variant == "no-tree":
            rid = data.draw(st.sampled_from([r.id for r in rounds]), label="round") if rounds else self.m.last_id + 3
            who = data.draw(st.sampled_from(STAKERS), label="staker")
            return (rid, t_model_id(data.draw(st.sampled_from(MODELS), label="model")), self.A[who], 0, 0, [])
        if variant == "old-tree":
            r = self.m.rounds[data.draw(st.sampled_from([r.id for r in olds]), label="round")]
            res = r.old_trees[data.draw(st.integers(0, len(r.old_trees) - 1), label="old tree")]
        else:
            # "leaf": mostly a tree with a leaf still to claim.
            todo_trees = [r for r in trees if any(r.stakes.get((e[0], e[1]), 0) for e in r.tree.entries)]
            pool = todo_trees if variant == "leaf" and todo_trees else trees
            r = self.m.rounds[data.draw(st.sampled_from([r.id for r in pool]), label="round")]
            res = r.tree
        # "leaf": mostly a leaf still to claim; "again" and the forgeries: any leaf.
        todo = [j for j, e in enumerate(res.entries) if r.stakes.get((e[0], e[1]), 0)]
        if variant == "leaf" and todo:
            i = todo[data.draw(st.integers(0, len(todo) - 1), label="unclaimed leaf")]
        else:
            i = data.draw(st.integers(0, len(res.entries) - 1), label="leaf")
        rid, mid, staker, payout, burn, proof = res.claim_args(i)
        proof = [bytes(p) for p in proof]
        if variant == "forged":
            # Another (payout, burn), still within the leaf's clip (so that the answer is
            # InvalidProof whatever the order of the contract's per-leaf checks).
            if payout > 0:
                payout -= 1
            elif burn > 0:
                burn -= 1
            else:
                burn += 1
        elif variant == "other-proof":
            proof = res.tree.proof((i + 1) % len(res.entries)) if len(res.entries) > 1 else [b"\x07" * 32]
        elif variant == "over-clip":
            # One wei more than the leaf's clip allows, as a malicious tree would pay.
            stake = res.entries[i][2]
            if data.draw(st.booleans(), label="payout or burn"):
                payout = stake * r.clip // BPS + 1
            else:
                burn = min(stake, -(-stake * r.clip // BPS) + 1)
        elif variant == "burn>stake":
            burn = res.entries[i][2] + 1
        elif variant == "no-stake":
            staker = self.A["stranger"]
        return (rid, mid, staker, payout, burn, proof)

    def _wait_final(self, rid: int) -> None:
        r = self.m.rounds.get(rid)
        if r is not None and r.posted_at:
            self._travel(r.posted_at + C, step=False)

    @action(12, caller=st.sampled_from(ACTORS), wait=WAIT, data=None)
    def claim(self, caller, wait, data):
        spec = self._draw_claim(data)
        if wait:
            self._wait_final(spec[0])

        if self._do(caller, "claim", spec, "claim", rids=(spec[0],), keys=((spec[0], spec[1], spec[2]),)) is None:
            STATS["claims"] += 1

    @action(6, caller=st.sampled_from(ACTORS), n=st.sampled_from([2, 1, 3, 0]), wait=WAIT, data=None)
    def claim_many(self, caller, n, wait, data):
        specs = [self._draw_claim(data) for _ in range(n)]
        if wait:
            for spec in specs:
                self._wait_final(spec[0])

        rids = tuple(s[0] for s in specs)
        keys = tuple((s[0], s[1], s[2]) for s in specs)
        if self._do(caller, "claimMany", (specs,), "claim_many", rids=rids, keys=keys) is None:
            STATS["claims"] += n

    @action(4, who=st.sampled_from(STAKERS * 3 + ("stranger",)), ri=ROUND_INDEX, model=st.sampled_from(MODELS),
            wait=WAIT, pick=PICK, k=st.integers(0, 7))
    def emergency_withdraw(self, who, ri, model, wait, pick, k):
        if pick:  # mostly a round without a result and one of its stakes still held
            rid, r = self._pick(ri, lambda r: not r.posted_at and any(r.stakes.values()))
        else:
            rid, r = self._round(ri)
        if pick and r is not None:
            held = sorted(key for key, amount in r.stakes.items() if amount)
            if held:
                mid_, addr_ = held[k % len(held)]
                who = next(n for n in STAKERS if self.A[n] == addr_)
                model = next(n for n in MODELS if t_model_id(n) == mid_)
        if wait and r is not None and not r.posted_at:
            self._travel(r.resolve + G, step=False)
        mid, addr = t_model_id(model), self.A[who]

        self._do(who, "emergencyWithdraw", (rid, mid), "emergency_withdraw", rids=(rid,), keys=((rid, mid, addr),))

    @action(12, who=st.sampled_from(STAKERS * 3 + ("stranger",)), ri=ROUND_INDEX, model=st.sampled_from(MODELS),
            when=st.sampled_from(["window", "window", "window", "window-1", "final", "now"]), pick=PICK,
            k=st.integers(0, 7), impostor=st.sampled_from([False] * 5 + [True]))
    def exit_unclaimed(self, who, ri, model, when, pick, k, impostor):
        """`exitUnclaimed` by `who`, mostly of a stake still held in a posted round, mostly at the
        exact opening of the exits (postedAt + challenge + grace), sometimes one second before, at
        finality or whenever; sometimes by someone other than the stake's owner (who then exits
        its own stake on that model, if it has one)."""
        if pick:  # mostly a posted round with a stake still held
            rid, r = self._pick(ri, lambda r: r.posted_at and any(r.stakes.values()))
        else:
            rid, r = self._round(ri)
        if pick and r is not None:
            held = sorted(key for key, amount in r.stakes.items() if amount)
            if held:
                mid_, addr_ = held[k % len(held)]
                model = next(n for n in MODELS if t_model_id(n) == mid_)
                owner = next(n for n in STAKERS if self.A[n] == addr_)
                others = [n for n in STAKERS + ("stranger",) if n != owner]
                who = others[k % len(others)] if impostor else owner
        if r is not None and r.posted_at and when != "now":
            opens = r.posted_at + C + G
            self._travel({"window": opens, "window-1": opens - 1, "final": r.posted_at + C}[when], step=False)
        mid, addr = t_model_id(model), self.A[who]

        if self._do(who, "exitUnclaimed", (rid, mid), "exit_unclaimed", rids=(rid,), keys=((rid, mid, addr),)) is None:
            STATS["exits"] += 1

    # ---------------------------------------------------------------- pause

    @action(2, actor=role_actor("pauser"))
    def pause(self, actor):
        self._do(actor, "pause", (), "pause")

    @action(2, actor=role_actor("pauser"))
    def unpause(self, actor):
        self._do(actor, "unpause", (), "unpause")

    # ---------------------------------------------------------------- time

    def _travel(self, target: int | None, step: bool = True) -> None:
        """Time moves forward to `target` (if it is ahead)."""
        if target is None or target <= self.now:
            return
        if step:
            STATS["steps"] += 1
        self.m.travel(target)
        self.evm.travel(target)

    @action(6, dt=st.one_of(st.integers(1, 600), st.integers(600, 20_000), st.integers(20_000, G + 600)))
    def advance(self, dt):
        self._travel(self.now + dt)

    def _boundaries(self) -> list[int]:
        """The boundaries of the rounds and of the pause still ahead."""
        ahead = [t for r in self.m.rounds.values()
                 for t in (r.open, r.close, r.resolve, r.resolve + G - C, r.resolve + G,
                           r.posted_at + C if r.posted_at else 0, r.posted_at + C + G if r.posted_at else 0)
                 if t > self.now]
        ahead += [t for t in (self.m.pause_end, self.m.pause_end + M) if self.m.pause_end and t > self.now]
        return ahead

    @action(6)
    def progress(self):
        """Moves time to the next boundary of any round or of the pause: the lifecycle moves on."""
        ahead = self._boundaries()
        if ahead:
            self._travel(min(ahead))

    @action(5, ri=ROUND_INDEX, phase=st.sampled_from([
        "open", "close-1", "close", "resolve", "last-post", "last-post+1", "final-1", "final", "expiry-1",
        "expiry", "exit-1", "exit", "pause-end", "cooldown-end"]))
    def jump(self, ri, phase):
        """Moves time to a boundary of a round (or of the pause), if it is still ahead."""
        _rid, r = self._round(ri)
        target = None
        if phase == "pause-end":
            target = self.m.pause_end
        elif phase == "cooldown-end":
            target = self.m.pause_end + M if self.m.pause_end else None
        elif r is not None:
            last_post = r.resolve + G - C
            target = {
                "open": r.open, "close-1": r.close - 1, "close": r.close, "resolve": r.resolve,
                "last-post": last_post, "last-post+1": last_post + 1,
                "final-1": r.posted_at + C - 1 if r.posted_at else None,
                "final": r.posted_at + C if r.posted_at else None,
                "expiry-1": r.resolve + G - 1, "expiry": r.resolve + G,
                "exit-1": r.posted_at + C + G - 1 if r.posted_at else None,
                "exit": r.posted_at + C + G if r.posted_at else None,
            }[phase]
        self._travel(target)

    # ---------------------------------------------------------------- the one rule

    def _weights(self) -> dict[str, int]:
        """The actions' weights, lowered for actions that cannot get anywhere in this state (they
        still happen, as negative tests) and raised for opening a round when none is left open."""
        w = {name: weight for name, (weight, _) in ACTIONS.items()}
        rounds, now = self.m.rounds.values(), self.now
        postable = any(self._postable(r) for r in rounds)
        trees = any(r.tree is not None and any(r.stakes.get((e[0], e[1]), 0) == e[2] for e in r.tree.entries)
                    for r in rounds)  # a posted tree with a leaf still to claim (not a left-out stake's)
        exitable = any(r.posted_at and any(r.stakes.values()) for r in rounds)  # a stake that could exit
        stranded = any(r.posted_at and now >= r.posted_at + C + G and any(r.stakes.values())
                       for r in rounds)  # unclaimed after the claim window: exits are open
        if not postable:
            w["post_result"] = 2
        if not trees:
            w["claim"] = w["claim_many"] = 2
        if not exitable:
            w["exit_unclaimed"] = 1
        elif stranded or not trees:
            w["exit_unclaimed"] = 18  # exits are open, or no claim can take the stakes left (left out)
        staking = any(now < r.close for r in rounds)  # a round open (or scheduled) for staking
        if not self._boundaries():
            w["progress"] = w["jump"] = 0
        elif not postable and not trees and not staking:
            w["progress"] = 14  # nothing to do but wait for the next boundary
        if not staking:
            w["stake"] = 3
            if len(self.m.rounds) < MAX_ROUNDS:
                w["open_round"] = 10
        if len(self.m.rounds) >= MAX_ROUNDS:
            w["open_round"] = 0
        return w

    @rule(data=st.data())
    def step(self, data):
        """One action, picked with fixed weights. (One rule rather than one per action: hypothesis'
        swarm testing would disable a random subset of the rules in each example, and with few
        examples the round lifecycle would rarely get from staking to posting to claiming.)"""
        weights = self._weights()
        # Heaviest first: hypothesis' simplest draws (index 0) then pick what moves things along.
        names = sorted(ACTION_NAMES, key=lambda n: -weights[n])
        choices = [name for name in names for _ in range(weights[name])]
        name = data.draw(st.sampled_from(choices), label="action")
        PICKED[name] = PICKED.get(name, 0) + 1
        _weight, strategies = ACTIONS[name]
        kwargs = {k: (data if s_ is None else data.draw(s_, label=k)) for k, s_ in strategies.items()}
        getattr(self, name)(**kwargs)

    # ---------------------------------------------------------------- invariants

    @invariant()
    def books_balance_and_rounds_match(self):
        self._check_books()
        if self.changed:
            self._check_rounds()
        self.changed = False

    def _check_books(self):
        e, m = self.evm, self.m
        assert e.pending_timestamp() == self.now, "the model's clock drifted from the chain's"
        assert e.balance_of(self.T) == m.owed(), "the contract's NMR != what it owes"
        assert e.total_supply() == m.supply, "totalSupply != supply - burns"
        assert all(v == 1 for v in m.payments.values()), "a stake was paid twice"
        if not self.changed:
            # Nothing succeeded since the last full check: a reverted call was shown above to leave
            # both contracts' storage as it was, and moving time changes no storage.
            return
        assert e.pool() == m.pool
        for h in HOLDERS:
            addr = self.A[h]
            assert e.balance_of(addr) == m.balance(addr), h
            assert m.paid.get(addr, 0) <= m.allowed(addr), f"{h} was paid more than its leaves allow"

    @invariant()
    def exits_within_leaves_and_rounds_within_claimable(self):
        """No exit paid more than the stake's leaf in the posted tree (when it has one); the claims,
        exits (and expired withdrawals) of a posted round never add up to more than its claimable."""
        m = self.m
        for (rid, mid, staker), (stake, out) in m.exits.items():
            r = m.rounds[rid]
            assert r.posted_at and out == stake - exit_burn(stake, r.clip, r.burn)
            leaf = m.leaf_value(r, (mid, staker), stake)
            if leaf is not None:
                assert out <= leaf, f"the exit of {(rid, mid, staker)} paid {out} > its leaf {leaf}"
        for rid, r in m.rounds.items():
            paid = m.round_paid.get(rid, 0)
            assert paid == r.claimed
            if r.posted_at:
                assert paid <= r.claimable, f"round {rid}: paid {paid} > claimable {r.claimable}"
            else:
                assert paid <= r.total_staked

    def _check_rounds(self):
        e, m = self.evm, self.m
        for rid, r in m.rounds.items():
            have = e.get_round(rid)
            want = {
                "openTime": r.open, "closeTime": r.close, "resolveTime": r.resolve, "clipBps": r.clip,
                "minStake": r.min_stake, "stakeCap": r.cap, "totalStaked": r.total_staked,
                "stakeCount": r.count, "funded": r.funded, "postedAt": r.posted_at, "root": r.root,
                "totalPayout": r.payout, "totalBurn": r.burn, "claimable": r.claimable,
                "claimed": r.claimed, "settled": r.settled,
            }
            have = {k: have[k] for k in want}
            assert have == want, f"round {rid}: contract {have} != model {want}"
        for rid in self.touched:
            rnd = m.rounds.get(rid)
            if rnd is None:
                continue
            for key in rnd.stakes:
                assert e.get_stake(rid, *key) == rnd.stored_stake(key), f"round {rid}: stake {key}"
        self.touched.clear()


# The most productive actions first: hypothesis' simplest draws pick the first entries.
ACTION_ORDER = ["post_result", "claim", "stake", "progress", "finalise", "claim_many", "fund"]
ACTION_NAMES = ACTION_ORDER + sorted(set(ACTIONS) - set(ACTION_ORDER))


def test_tournament_state_machine(chain, tournament, harness, token, owner, oracle, manager, pauser,
                                  alice, bob, carol, treasury, stranger):
    accounts = {"owner": owner, "oracle": oracle, "manager": manager, "pauser": pauser, "alice": alice,
                "bob": bob, "carol": carol, "treasury": treasury, "stranger": stranger}
    assert token.balanceOf(stranger) == 0 and token.allowance(stranger, tournament) == 0
    TournamentMachine.ctx = {
        "evm": Evm(chain, {"tour": tournament, "nmr": token}, accounts),
        "harness": harness,
        "chain": chain,
    }
    for k in STATS:
        STATS[k] = 0
    OUTCOMES.clear()
    PICKED.clear()
    started = time.monotonic()
    run_state_machine_as_test(
        TournamentMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    elapsed = time.monotonic() - started
    print(
        f"\nstateful fuzzing: {STATS['examples']} examples, {STATS['steps']} steps, {STATS['txs']} transactions "
        f"({STATS['reverted']} reverted as predicted with state unchanged), {STATS['posts']} results posted, "
        f"{STATS['claims']} stakes claimed, {STATS['exits']} exited, {elapsed:.1f} s"
    )
    if os.environ.get("NMRSTAKE_FUZZ_VERBOSE"):
        print("  actions picked:", ", ".join(f"{k} {v}" for k, v in sorted(PICKED.items())))
        for (fname, outcome), n in sorted(OUTCOMES.items()):
            print(f"  {fname:18} {outcome:34} {n}")
    assert STATS["steps"] > 0
