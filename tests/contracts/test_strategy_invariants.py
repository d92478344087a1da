"""Stateful fuzzing of allocation strategies: a hypothesis `RuleBasedStateMachine` over the real NMR,
Tournament, StrategyFactory clones and StrategyInvoker on ape's embedded EVM.

The model (tests/helpers/fuzz_strategies/model.py) predicts every call, the adapter
(tests/helpers/fuzz_strategies/adapter.py) sends it and reads the chain; this machine only picks the
actions and checks that both agree.

Actors, acting at random:

* three strategy owners (alice, bob, carol): deposit, withdraw (some, all, more than idle),
  setModel (Off, Fixed, Compound, an invalid mode; amounts zero, below the round minimum, above the
  cap, beyond uint96; ids that are not model names), setOperator (the invoker, the malicious EOA,
  none), exitUnclaimed, and their own stake / recommit / settleAndStake;
* the honest operator: the keeper EOA through the StrategyInvoker (stakeMany, recommitMany,
  settleMany, settleAndStakeMany over the strategies it operates, sometimes all of them; failures
  are reported as events and must be exactly the predicted ones);
* a malicious operator (mallory, carol's first operator, an EOA without NMR) that calls every
  strategy function with crafted arguments: disabled and unknown models, the zero model, a round
  staked already or earlier, rounds beyond uint64, zero commitments, forged payouts, burns and
  proofs (another leaf's proof, a rejected tree's, empty, beyond the leaf's clip, values that wrap
  int256 or overflow int88), settling early or twice, owner functions, `initialize` of a clone and
  of the implementation, `transferFrom` of a strategy's NMR, the invoker, and the tournament's claim
  and exits for the strategies' stakes;
* manual stakers (dave, erin) staking, claiming, restaking (`Tournament.restake`), exiting and
  withdrawing directly on the tournament, and a third party (stranger) that claims strategies'
  leaves on the tournament, settles them through the strategy, withdraws expired stakes, finalises
  rounds and sends NMR to a strategy;
* the round lifecycle: the manager opens (and the treasury funds) up to 5 rounds, the oracle posts valid
  trees (every stake of the round, strategy stakes included, random payouts and burns within the
  clip and the funding) at random moments of the posting window, the admin rejects some, the pauser
  pauses, and time moves forward by random amounts or to a round's boundaries (open, close,
  resolve, finality, exit window postedAt + CHALLENGE + GRACE, expiry).

Every call is first predicted by the model, then run as an `eth_call` at the pending block (the
contract must agree on success or revert and on the error's name, and on the return value), then
mined. A reverted transaction must leave the storage of every contract as it was. A successful one
must emit exactly the NMR transfers the model predicted (and, for a batch, exactly the predicted
`InvocationFailed` events); NMR may leave a strategy only to its owner (in `withdraw`), to the
tournament (in a stake) or by a burn; the malicious operator never receives NMR and succeeds only
at what an operator or anyone may do. After every step:

* per strategy, idle NMR + its stakes still held by the tournament == deposits - withdrawals + its
  results (per resolved stake: returned - staked, whoever claimed it), read from the chain;
* every NMR balance followed, the total supply, every model's `model(id)`, the operators, the
  strategies' stakes (amount and commitment) and the rounds equal the model's;
* no stake was paid twice; the malicious operator's NMR balance is 0.

Actions are picked with weights that follow the state (staking when a model can be staked,
posting when a round has stakes, settling when a tree is posted...) so that short examples get
through whole lifecycles.

`NMRSTAKE_FUZZ_EXAMPLES` (default 10) and `NMRSTAKE_FUZZ_STEPS` (default 25) set the size of the
run. Examples are derandomized and no example database is kept, so a run is reproducible;
`NMRSTAKE_FUZZ_RANDOM=1` draws new examples instead. With `-s`: `NMRSTAKE_FUZZ_VERBOSE=1` prints
counts of actions and outcomes, `NMRSTAKE_FUZZ_TRACE=1` every call. `NMRSTAKE_FUZZ_NO_SHRINK=1`
reports a failing example as found (shrinking replays it many times);
`NMRSTAKE_FUZZ_SLOW_READS=1` reads the chain with plain `eth_call`s (see the adapter).
"""

from __future__ import annotations

import copy
import os
import time
from typing import ClassVar

from eth_utils import keccak
from helpers.fuzz_strategies import adapter as chainlib
from helpers.fuzz_strategies.model import (
    BPS,
    COMPOUND,
    FIXED,
    OFF,
    UINT64_MAX,
    UINT96_MAX,
    ZERO32,
    ZERO_ADDRESS,
    Tree,
    World,
)
from helpers.harness import T_CHALLENGE, T_GRACE, T_MAX_PAUSE, TResult, t_model_id
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

EXAMPLES = int(os.environ.get("NMRSTAKE_FUZZ_EXAMPLES", "10"))
STEPS = int(os.environ.get("NMRSTAKE_FUZZ_STEPS", "25"))
VERBOSE = bool(os.environ.get("NMRSTAKE_FUZZ_VERBOSE"))
TRACE = bool(os.environ.get("NMRSTAKE_FUZZ_TRACE"))  # every call and its outcome (with -s)

NMR = 10**18
C, G, M = T_CHALLENGE, T_GRACE, T_MAX_PAUSE
OWNERS = ("alice", "bob", "carol")
FIRST_OPERATOR = {"alice": "invoker", "bob": "invoker", "carol": "mallory"}
MANUAL = ("dave", "erin")
MODELS = ("m0", "m1", "m2")
MIDS = tuple(t_model_id(n) for n in MODELS)
UNKNOWN_MID = t_model_id("never-set")  # not a model name (the hyphen): setModel refuses it, so never set
CHECKED_MIDS = MIDS + (UNKNOWN_MID, ZERO32)
COMMITMENTS = tuple(keccak(f"predictions {i}".encode()) for i in range(3))
MAX_ROUNDS = 5
ACCOUNTS = ("owner", "oracle", "manager", "pauser", "alice", "bob", "carol", "treasury", "stranger",
            "dave", "erin", "mallory", "keeper")
CONTRACTS = ("tour", "nmr", "invoker", "factory", "implementation")
STAKING_FNS = {"stake", "settleAndStake", "stakeMany", "settleAndStakeMany"}
OPERATOR_FNS = {"stake", "recommit", "settleAndStake"}  # owner or operator
ANYONE_FNS = {"settle", "withdrawExpired", "claim", "finalise"}  # anyone

PER_ROUND = st.one_of(
    st.sampled_from([NMR, 2 * NMR, 5 * NMR, 20 * NMR]),
    st.integers(NMR, 60 * NMR),
    st.sampled_from([0, NMR // 2, 150 * NMR, UINT96_MAX, UINT96_MAX + 1]),
)
MODE = st.sampled_from([FIXED, COMPOUND, FIXED, COMPOUND, OFF, 3])
WAIT = st.sampled_from([True, True, False])
WAIT_EXPIRY = st.sampled_from([False, False, True])  # waiting for expiry ends a round's lifecycle: less often

STATS = {"examples": 0, "steps": 0, "txs": 0, "reverted": 0, "posts": 0, "strategy_stakes": 0,
         "strategy_resolved": 0, "mallory_ok": 0, "mallory_refused": 0, "batch_failures": 0,
         "claims_bypassing_net": 0}
OUTCOMES: dict = {}
PICKED: dict = {}

ACTIONS: dict = {}  # name -> base weight


def action(weight: int):
    def register(f):
        ACTIONS[f.__name__] = weight
        return f

    return register


def short(x) -> str:
    if isinstance(x, (bytes, bytearray)):
        return "0x" + bytes(x).hex()[:8]
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(short(i) for i in x) + "]"
    return repr(x)


class StrategyMachine(RuleBasedStateMachine):
    ctx: ClassVar[dict] = {}

    def __init__(self):
        super().__init__()
        ctx = self.ctx
        self.c: chainlib.Chain = ctx["deployment"].chain
        self.snapshot = ctx["chain"].snapshot()
        self.c.reset()
        self.A = self.c.addr
        self.names = ctx["deployment"].names
        self.S = {owner: s for s, owner, _op in ctx["deployment"].strategies}  # owner name -> strategy
        self.strategies = [s for s, _owner, _op in ctx["deployment"].strategies]
        self.w: World = copy.deepcopy(ctx["world0"])
        # The pending block of a restored chain follows the wall clock until time is set: set it,
        # ahead of the wall clock, so that each block is one second after its parent.
        self.w.now = self.c.pending_timestamp() + 3_600
        self.c.travel(self.w.now)
        self.followed = [self.A[n] for n in ACCOUNTS + CONTRACTS] + self.strategies
        self.contracts = [self.A[n] for n in CONTRACTS] + self.strategies
        self.changed = True
        STATS["examples"] += 1

    def teardown(self):
        STATS["strategy_resolved"] += sum(len(m.resolved) for m in self.w.strategies.values())
        STATS["claims_bypassing_net"] += sum(len(m.bypassed) for m in self.w.strategies.values())
        if TRACE:
            print("---- end of example")
        self.ctx["chain"].restore(self.snapshot)

    # ---------------------------------------------------------------- plumbing

    def _fingerprint(self) -> tuple:
        roots = self.c.storage_roots(self.contracts)
        if roots is not None:
            return roots
        c = self.c
        return (tuple(c.balance_of(a) for a in self.followed),
                tuple(c.model_config(s, mid) for s in self.strategies for mid in MIDS),
                tuple(c.get_round(rid)["claimed"] for rid in self.w.rounds))

    def _do(self, sender: str, to: str, abi: str, fname: str, args, method: str, *margs):
        """Predict with the model, check the contract agrees (eth_call), send, check what it did."""
        w, c = self.w, self.c
        STATS["txs"] += 1
        where = f"{self.names.get(to, to)}.{fname}{short(tuple(args))} by {sender} at t={w.now}"
        out = w.attempt(method, self.A[sender], *margs)
        err, value = c.try_call(sender, to, abi, fname, args)
        assert err == out.error, (
            f"{where}: the model expects {out.error or 'success'}, the contract "
            f"{'reverts with ' + err if err else 'succeeds'}")
        if out.error is None and out.value is not None:
            assert value == out.value, f"{where}: returned {value}, the model expects {out.value}"
        before = self._fingerprint() if out.error else None
        receipt = c.transact(sender, to, abi, fname, args)
        w.tick()
        if TRACE:
            print(f"  {where}: {out.error or 'ok'} {short(out.value) if out.value is not None else ''} "
                  f"{out.failures or ''}")
        key = (fname, out.error or "ok")
        OUTCOMES[key] = OUTCOMES.get(key, 0) + 1
        if out.error:
            assert receipt.status == 0, f"{where}: expected to revert ({out.error}) but the transaction succeeded"
            assert self._fingerprint() == before, f"{where}: reverted ({out.error}) but changed state"
            STATS["reverted"] += 1
        else:
            assert receipt.status == 1, f"{where}: the transaction reverted"
            self.changed = True
            assert receipt.transfers == out.transfers, (
                f"{where}: NMR transfers {self._fmt_transfers(receipt.transfers)} != the model's "
                f"{self._fmt_transfers(out.transfers)}")
            assert receipt.failures == out.failures, (
                f"{where}: failed calls {receipt.failures} != the model's {out.failures}")
            STATS["batch_failures"] += len(out.failures)
            for _i, _s, error in out.failures:
                OUTCOMES[(f"{fname}[i]", error)] = OUTCOMES.get((f"{fname}[i]", error), 0) + 1
            self._check_outflows(sender, to, fname, receipt.transfers, where)
        if sender == "mallory":
            self._check_mallory(to, fname, out, receipt, where)
        return out

    def _fmt_transfers(self, transfers) -> str:
        return "[" + ", ".join(f"{self.names.get(a, a)}->{self.names.get(b, b)} {v}" for a, b, v in transfers) + "]"

    def _check_outflows(self, sender, to, fname, transfers, where) -> None:
        """NMR leaves a strategy only to its owner (withdraw), to the tournament (a stake) or by a burn."""
        for src, dst, amount in transfers:
            s = self.w.strategies.get(src)
            if s is None or amount == 0:  # ERC-20 lets anyone move 0 of anyone's tokens
                continue
            if dst == s.owner:
                assert fname == "withdraw" and to == src and self.A[sender] == s.owner, (
                    f"{where}: {amount} NMR left strategy {self.names[src]} to its owner outside withdraw")
            elif dst == self.A["tour"]:
                assert fname in STAKING_FNS, f"{where}: {amount} NMR left strategy {self.names[src]} to the tournament"
            else:
                assert dst == ZERO_ADDRESS, f"{where}: {amount} NMR left strategy {self.names[src]} to {dst}"

    def _check_mallory(self, to, fname, out, receipt, where) -> None:
        assert self.c.balance_of(self.A["mallory"]) == 0, f"{where}: the malicious operator holds NMR"
        if out.error:
            STATS["mallory_refused"] += 1
            return
        STATS["mallory_ok"] += 1
        moved = [t for t in receipt.transfers if t[2]]
        assert fname in OPERATOR_FNS | ANYONE_FNS or not moved, f"{where}: the malicious operator succeeded at {fname}"
        if fname in OPERATOR_FNS:
            assert self.w.strategies[to].operator == self.A["mallory"], f"{where}: not its operator"
        assert all(dst != self.A["mallory"] or v == 0 for _src, dst, v in receipt.transfers), where

    def _travel(self, t) -> None:
        if t is None or t <= self.w.now:
            return
        STATS["steps"] += 1
        self.w.travel(t)
        self.c.travel(t)

    def _strategy_call(self, sender, s, fname, args, method):
        """`s.fname(*args)`, predicted by the model's `method(sender, s, *args)`."""
        return self._do(sender, s, "strategy", fname, args, method, s, *args)

    # ---------------------------------------------------------------- picking

    def _rounds(self, pred=lambda r: True) -> list:
        return [r for _rid, r in sorted(self.w.rounds.items()) if pred(r)]

    def _open_rounds(self) -> list:
        now = self.w.now
        return self._rounds(lambda r: r.open <= now < r.close)

    def _stake_round(self, data, wait=True):
        """A round to stake in: mostly the earliest open one (waiting for a scheduled one to open),
        sometimes any round or one never opened."""
        opened = self._open_rounds()
        if not opened and wait:
            ahead = self._rounds(lambda r: self.w.now < r.open)
            if ahead:
                self._travel(ahead[0].open)
                opened = self._open_rounds()
        kind = data.draw(st.sampled_from(["earliest"] * 5 + ["any-open", "any", "unknown"]), label="stake round")
        if opened and kind == "earliest":
            return opened[0].id
        if opened and kind == "any-open":
            return data.draw(st.sampled_from([r.id for r in opened]), label="open round")
        if self.w.rounds and kind != "unknown":
            return data.draw(st.sampled_from(sorted(self.w.rounds)), label="round")
        return self.w.last_id + 1

    def _strategy_stakes(self, pred=lambda r, s, mid, amount: True) -> list:
        """(strategy, round, model id, amount) of the strategies' stakes still held."""
        out = []
        for rid, r in sorted(self.w.rounds.items()):
            for (mid, who), amount in sorted(r.stakes.items()):
                if amount and who in self.w.strategies and pred(r, who, mid, amount):
                    out.append((who, rid, mid, amount))
        return out

    def _leaves_to_claim(self, stakers) -> list:
        """(round, model id, staker) of held stakes with a leaf in the posted tree."""
        out = []
        for rid, r in sorted(self.w.rounds.items()):
            if r.tree is None:
                continue
            for (mid, who), amount in sorted(r.stakes.items()):
                if amount and who in stakers and (mid, who) in r.tree:
                    out.append((rid, mid, who))
        return out

    def _wait_final(self, rids) -> None:
        times = [self.w.rounds[rid].posted_at + C for rid in rids if self.w.rounds[rid].posted_at]
        if times:
            self._travel(max(times))

    def _honest(self, rid, mid, staker) -> tuple:
        _stake, payout, burn, proof = self.w.rounds[rid].tree[(mid, staker)]
        return payout, burn, list(proof)

    def _forged(self, data, rid, mid, staker) -> tuple:
        """A (payout, burn, proof) for the stake that an honest operator would never send."""
        r = self.w.rounds[rid]
        stake, payout, burn, proof = r.tree[(mid, staker)] if r.tree and (mid, staker) in r.tree else (
            r.staked.get((mid, staker), NMR), 0, 0, ())
        proof = list(proof)
        kind = data.draw(st.sampled_from([
            "payout+1", "burn-1", "burn+1", "other-proof", "old-tree", "empty-proof", "over-clip",
            "burn>stake", "payout=-1", "payout=int256min", "payout=int88", "burn=-1", "burn=int256min",
            "swap"]), label="forgery")
        if kind == "payout+1":
            payout += 1
        elif kind == "burn-1":
            burn = burn - 1 if burn else burn + 1
        elif kind == "burn+1":
            burn += 1
        elif kind == "other-proof":
            others = [k for k in (r.tree or {}) if k != (mid, staker)]
            if others:
                proof = list(r.tree[others[data.draw(st.integers(0, len(others) - 1), label="other leaf")]][3])
            else:
                proof = [keccak(b"not a node")]
        elif kind == "old-tree":
            olds = [t for t in r.old_trees if (mid, staker) in t]
            if olds:
                _s, payout, burn, proof = olds[-1][(mid, staker)]
                proof = list(proof)
            else:
                proof = proof + [keccak(b"extra")]
        elif kind == "empty-proof":
            proof = []
        elif kind == "over-clip":
            payout = stake * r.clip // BPS + 1
        elif kind == "burn>stake":
            burn = stake + 1
        elif kind == "payout=-1":
            payout = 2**256 - 1
        elif kind == "payout=int256min":
            payout = 2**255
        elif kind == "payout=int88":
            payout = 2**87
        elif kind == "burn=-1":
            burn = 2**256 - 1
        elif kind == "burn=int256min":
            burn = 2**255
        elif kind == "swap":
            payout, burn = burn, payout
        return payout, burn, proof

    def _commitment(self, data):
        return data.draw(st.sampled_from(COMMITMENTS), label="commitment")

    # ---------------------------------------------------------------- the round lifecycle

    def _open(self, data) -> None:
        w = self.w
        rid = w.last_id + data.draw(st.sampled_from([1, 1, 1, 3]), label="id step")
        o = w.now + data.draw(st.sampled_from([0, 0, 0, 300]), label="start in")
        c_ = o + data.draw(st.one_of(st.integers(2_000, 20_000), st.integers(100, 2_000)), label="duration")
        r_ = c_ + data.draw(st.integers(0, 5_000), label="resolve after")
        clip = data.draw(st.sampled_from([500, 2_500, BPS]), label="clip")
        min_stake = data.draw(st.sampled_from([NMR, NMR, 1]), label="min stake")
        cap = data.draw(st.sampled_from([100 * NMR, 100 * NMR, 30 * NMR]), label="cap")
        params = (o, c_, r_, 5_000, 20_000, clip, 72_000 * NMR, cap, min_stake)
        out = self._do("manager", self.A["tour"], "tour", "openRound", (rid, params), "open_round",
                       rid, o, c_, r_, clip, min_stake, cap)
        if out.error:
            return
        funding = data.draw(st.sampled_from([0, 2, 10, 40]), label="funding") * NMR
        if funding:
            self._do("treasury", self.A["tour"], "tour", "fund", (rid, funding), "fund", rid, funding)

    @initialize(data=st.data())
    def setup(self, data):
        """A round open now, and each owner with some NMR and some models set, so that examples get far."""
        self._open(data)
        for owner in OWNERS:
            s = self.S[owner]
            amount = data.draw(st.sampled_from([300, 100, 500, 0]), label="deposit") * NMR
            self._strategy_call(owner, s, "deposit", (amount,), "s_deposit")
            for mid in data.draw(st.lists(st.sampled_from(MIDS), min_size=1, max_size=3, unique=True), label="models"):
                per_round = data.draw(st.sampled_from([NMR, 3 * NMR, 10 * NMR, 25 * NMR]), label="per round")
                mode = data.draw(st.sampled_from([FIXED, COMPOUND]), label="mode")
                self._strategy_call(owner, s, "setModel", (mid, per_round, mode), "s_set_model")

    @action(3)
    def open_round(self, data):
        if len(self.w.rounds) < MAX_ROUNDS:
            self._open(data)

    def _postable(self, r) -> bool:
        return not r.posted_at and self.w.now <= r.resolve + G - C

    @action(8)
    def post_result(self, data):
        w = self.w
        candidates = self._rounds(lambda r: self._postable(r) and r.count) or self._rounds(self._postable)
        if candidates and data.draw(st.sampled_from([True, True, True, False]), label="postable"):
            r = candidates[data.draw(st.integers(0, len(candidates) - 1), label="round")]
        elif w.rounds:
            r = w.rounds[data.draw(st.sampled_from(sorted(w.rounds)), label="any round")]
        else:
            return
        when = data.draw(st.sampled_from(["resolve", "resolve", "in-window", "last-post", "now"]), label="when")
        target = {"resolve": r.resolve, "last-post": r.resolve + G - C, "now": None,
                  "in-window": r.resolve + data.draw(st.integers(0, G - C), label="delay")}[when]
        self._travel(target)
        entries = []
        for (mid, who), amount in sorted(r.staked.items()):
            kind = data.draw(st.integers(0, 3), label="leaf kind")
            p = data.draw(st.integers(0, amount * r.clip // BPS), label="payout") if kind in (0, 3) else 0
            b = data.draw(st.integers(0, -(-amount * r.clip // BPS)), label="burn") if kind in (1, 3) else 0
            entries.append([mid, who, amount, p, min(b, amount)])
        limit = min(r.funded, r.total_staked * r.clip // BPS)
        total = sum(e[3] for e in entries)
        if total > limit:
            for e in entries:
                e[3] = e[3] * limit // total
        if entries:
            res = TResult(r.id, [tuple(e) for e in entries])
            root = bytes(res.root)
            leaves = {(e[0], e[1]): (e[2], e[3], e[4], tuple(bytes(p) for p in res.tree.proof(i)))
                      for i, e in enumerate(res.entries)}
            tree = Tree(root, leaves)
            pay, burn = res.total_payout, res.total_burn
        else:
            root, tree, pay, burn = keccak(b"no stakes"), None, 0, 0
        n = len(entries)
        results_hash = keccak(f"manifest {r.id}".encode())
        out = self._do("oracle", self.A["tour"], "tour", "postResult", (r.id, root, pay, burn, n, results_hash),
                       "post_result", r.id, root, pay, burn, n, tree)
        if out.error is None:
            STATS["posts"] += 1

    @action(1)
    def reject_result(self, data):
        now = self.w.now
        pending = self._rounds(lambda r: r.posted_at and now < r.posted_at + C)
        rounds = pending or self._rounds()
        if not rounds:
            return
        rid = data.draw(st.sampled_from([r.id for r in rounds]), label="round")
        self._do("owner", self.A["tour"], "tour", "rejectResult", (rid, "fuzz"), "reject_result", rid)

    @action(2)
    def finalise(self, data):
        rounds = self._rounds(lambda r: not r.settled) or self._rounds()
        if not rounds:
            return
        r = rounds[data.draw(st.integers(0, len(rounds) - 1), label="round")]
        if r.posted_at and data.draw(WAIT, label="wait"):
            self._travel(r.posted_at + C)
        elif data.draw(WAIT_EXPIRY, label="wait for expiry"):
            self._travel(r.resolve + G)
        self._do("stranger", self.A["tour"], "tour", "finalise", (r.id,), "finalise", r.id)

    @action(1)
    def pause(self, data):
        self._do("pauser", self.A["tour"], "tour", "pause", (), "pause")

    @action(1)
    def unpause(self, data):
        self._do("pauser", self.A["tour"], "tour", "unpause", (), "unpause")

    def _boundaries(self) -> list:
        now, out = self.w.now, []
        for r in self.w.rounds.values():
            out += [r.open, r.close, r.resolve, r.resolve + G - C, r.resolve + G]
            if r.posted_at:
                out += [r.posted_at + C, r.posted_at + C + G]
        if self.w.pause_end:
            out.append(self.w.pause_end)
        return sorted(t for t in out if t > now)

    @action(4)
    def advance(self, data):
        dt = data.draw(st.one_of(st.integers(1, 600), st.integers(600, 20_000), st.integers(20_000, G + C)),
                       label="dt")
        self._travel(self.w.now + dt)

    @action(5)
    def progress(self, data):
        ahead = self._boundaries()
        if ahead:
            self._travel(ahead[0])

    @action(3)
    def jump(self, data):
        rounds = self._rounds()
        if not rounds:
            return
        r = rounds[data.draw(st.integers(0, len(rounds) - 1), label="round")]
        phase = data.draw(st.sampled_from(["close", "resolve", "final", "exit", "expiry", "expiry-1"]), label="phase")
        target = {"close": r.close, "resolve": r.resolve, "expiry": r.resolve + G, "expiry-1": r.resolve + G - 1,
                  "final": r.posted_at + C if r.posted_at else None,
                  "exit": r.posted_at + C + G if r.posted_at else None}[phase]
        self._travel(target)

    # ---------------------------------------------------------------- strategy owners

    def _owner_and_target(self, data) -> tuple[str, str]:
        owner = data.draw(st.sampled_from(OWNERS), label="owner")
        if data.draw(st.integers(0, 15), label="confused") == 15:  # another owner's strategy: NotOwner
            return owner, self.S[data.draw(st.sampled_from(OWNERS), label="other")]
        return owner, self.S[owner]

    @action(4)
    def owner_deposit(self, data):
        owner, s = self._owner_and_target(data)
        kind = data.draw(st.sampled_from(["some", "some", "wei", "zero", "over"]), label="deposit kind")
        amount = {"some": data.draw(st.integers(1, 200), label="NMR") * NMR, "wei": data.draw(
            st.integers(1, 10**6), label="wei"), "zero": 0, "over": self.w.balance(self.A[owner]) + 1}[kind]
        self._strategy_call(owner, s, "deposit", (amount,), "s_deposit")

    @action(3)
    def owner_withdraw(self, data):
        owner, s = self._owner_and_target(data)
        idle = self.w.balance(s)
        kind = data.draw(st.sampled_from(["some", "all", "over", "zero"]), label="withdraw kind")
        amount = {"some": idle // 3, "all": idle, "over": idle + 1, "zero": 0}[kind]
        self._strategy_call(owner, s, "withdraw", (amount,), "s_withdraw")

    @action(5)
    def owner_set_model(self, data):
        owner, s = self._owner_and_target(data)
        mid = data.draw(st.sampled_from(MIDS * 4 + (UNKNOWN_MID, ZERO32)), label="model")  # InvalidModelId
        per_round = data.draw(PER_ROUND, label="per round")
        mode = data.draw(MODE, label="mode")
        self._strategy_call(owner, s, "setModel", (mid, per_round, mode), "s_set_model")

    @action(2)
    def owner_set_operator(self, data):
        owner, s = self._owner_and_target(data)
        who = data.draw(st.sampled_from(["invoker", "invoker", "mallory", None]), label="operator")
        new = self.A[who] if who else ZERO_ADDRESS
        self._strategy_call(owner, s, "setOperator", (new,), "s_set_operator")

    @action(3)
    def owner_exit(self, data):
        posted = self._strategy_stakes(lambda r, who, mid, a: r.posted_at)
        if posted and data.draw(st.sampled_from([True, True, False]), label="an owner with a posted stake"):
            s = posted[data.draw(st.integers(0, len(posted) - 1), label="posted stake")][0]
            owner = self.names[self.w.strategies[s].owner]
        else:
            owner, s = self._owner_and_target(data)
        held = self._strategy_stakes(lambda r, who, mid, a: who == s and r.posted_at) or self._strategy_stakes(
            lambda r, who, mid, a: who == s)
        if held:
            _s, rid, mid, _a = held[data.draw(st.integers(0, len(held) - 1), label="stake")]
            r = self.w.rounds[rid]
            if r.posted_at and data.draw(WAIT, label="wait"):
                self._travel(r.posted_at + C + data.draw(st.sampled_from([G, G, G - 1]), label="exit at"))
        else:
            rid, mid = self.w.last_id, data.draw(st.sampled_from(MIDS), label="model")
        self._strategy_call(owner, s, "exitUnclaimed", (rid, mid), "s_exit_unclaimed")

    @action(3)
    def owner_direct(self, data):
        """The owner stakes, recommits or settles and restakes itself (no operator needed)."""
        owner, s = self._owner_and_target(data)
        self._operator_move(owner, s, data)

    def _operator_move(self, sender, s, data) -> None:
        """What an operator does on one strategy: stake, recommit, settleAndStake (honestly)."""
        kind = data.draw(st.sampled_from(["stake", "stake", "recommit", "settle-and-stake"]), label="move")
        mid = data.draw(st.sampled_from(MIDS), label="model")
        cfg = self.w.strategies[s].config(mid)
        if kind == "recommit":
            rid = cfg.last_round if data.draw(st.booleans(), label="last round") else self._stake_round(data)
            self._strategy_call(sender, s, "recommit", (rid, mid, self._commitment(data)), "s_recommit")
            return
        if kind == "settle-and-stake":
            held = [k for k in self._leaves_to_claim({s}) if k[1] == mid] or self._leaves_to_claim({s})
            if held:
                srid, mid, _who = held[data.draw(st.integers(0, len(held) - 1), label="leaf")]
                self._wait_final([srid])
                payout, burn, proof = self._honest(srid, mid, s)
                rid = self._stake_round(data, wait=False)
                args = (srid, mid, payout, burn, proof, rid, self._commitment(data))
                self._strategy_call(sender, s, "settleAndStake", args, "s_settle_and_stake")
                return
        rid = self._stake_round(data)
        out = self._strategy_call(sender, s, "stake", (rid, mid, self._commitment(data)), "s_stake")
        if out.error is None:
            STATS["strategy_stakes"] += 1

    # ---------------------------------------------------------------- the honest operator (keeper + invoker)

    def _keeper(self, fname, calls, method):
        out = self._do("keeper", self.A["invoker"], "invoker", fname, (calls,), method, calls)
        return out

    @action(10)
    def keeper_stake_many(self, data):
        ready = [r.id for r in self._open_rounds() if self._stakeable(r)]
        if ready and data.draw(st.sampled_from([True, True, True, False]), label="ready round"):
            rid = ready[0]
        else:
            rid = self._stake_round(data)
        commitment = self._commitment(data)
        calls = []
        everyone = data.draw(st.integers(0, 3), label="every strategy") == 3  # also those it does not operate
        for s in self.strategies:
            if self.w.strategies[s].operator != self.A["invoker"] and not everyone:
                continue
            for mid in MIDS:
                enabled = self.w.strategies[s].config(mid).mode != OFF
                if enabled or data.draw(st.integers(0, 7), label="disabled too") == 7:
                    calls.append((s, rid, mid, commitment))
        if calls and data.draw(st.integers(0, 3), label="subset") == 3:
            calls = calls[data.draw(st.integers(0, len(calls) - 1), label="from"):]
        out = self._keeper("stakeMany", calls, "stake_many")
        if out.error is None:
            STATS["strategy_stakes"] += out.value

    @action(2)
    def keeper_recommit_many(self, data):
        commitment = self._commitment(data)
        calls = [(s, self.w.strategies[s].config(mid).last_round, mid, commitment)
                 for s in self.strategies for mid in MIDS if self.w.strategies[s].config(mid).last_round]
        self._keeper("recommitMany", calls, "recommit_many")

    @action(8)
    def keeper_settle_many(self, data):
        leaves = self._leaves_to_claim(set(self.strategies))
        if leaves:
            rid = data.draw(st.sampled_from(sorted({k[0] for k in leaves})), label="round")
            leaves = [k for k in leaves if k[0] == rid]
            if data.draw(WAIT, label="wait"):
                self._wait_final([rid])
        calls = [(s, rid, mid, *self._honest(rid, mid, s)) for rid, mid, s in leaves]
        if data.draw(st.integers(0, 4), label="stale") == 4:  # a stake settled already or never made
            s = data.draw(st.sampled_from(self.strategies), label="strategy")
            calls.append((s, self.w.last_id, data.draw(st.sampled_from(MIDS), label="model"), 0, 0, []))
        self._keeper("settleMany", calls, "settle_many")

    @action(8)
    def keeper_settle_and_stake_many(self, data):
        leaves = self._leaves_to_claim(set(self.strategies))
        if not leaves:
            return self.keeper_stake_many(data)
        srid = data.draw(st.sampled_from(sorted({k[0] for k in leaves})), label="round")
        leaves = [k for k in leaves if k[0] == srid]
        if data.draw(WAIT, label="wait"):
            self._wait_final([srid])
        rid = self._stake_round(data, wait=False)
        commitment = self._commitment(data)
        if data.draw(st.integers(0, 4), label="blind") != 4:
            # Like a keeper that reads `model()`: restake only models enabled and not yet staked there
            # (else the stake fails, and with it the settlement).
            fresh = [k for k in leaves if self.w.strategies[k[2]].config(k[1]).mode != OFF
                     and self.w.strategies[k[2]].config(k[1]).last_round < rid]
            settle_only = [k for k in leaves if k not in fresh]
            leaves = fresh
            if settle_only:
                calls = [(s, srid, mid, *self._honest(srid, mid, s)) for srid, mid, s in settle_only]
                self._keeper("settleMany", calls, "settle_many")
        calls = [(s, srid, mid, *self._honest(srid, mid, s), rid, commitment) for srid, mid, s in leaves]
        out = self._keeper("settleAndStakeMany", calls, "settle_and_stake_many")
        if out.error is None:
            STATS["strategy_stakes"] += out.value

    # ---------------------------------------------------------------- the malicious operator

    @action(10)
    def mallory(self, data):
        w, A = self.w, self.A
        mine = [s for s in self.strategies if w.strategies[s].operator == A["mallory"]]
        s = data.draw(st.sampled_from(mine * 3 + self.strategies), label="target") if mine else data.draw(
            st.sampled_from(self.strategies), label="target")
        cfg = lambda mid: w.strategies[s].config(mid)  # noqa: E731
        variants = ["stake-off", "stake-again", "stake-ok", "stake-zero-commitment", "stake-far-round",
                    "stake-zero-model", "recommit", "settle-forged", "settle-early", "settle-nothing", "settle-ok",
                    "settle-and-stake", "withdraw", "set-model", "set-operator", "exit", "withdraw-expired",
                    "initialize", "transfer-from", "invoker", "tour-claim", "tour-exit", "tour-emergency",
                    "tour-restake"]
        if mine and self._open_rounds():
            variants = ["stake-ok"] * 3 + ["recommit"] + variants
        if self._leaves_to_claim(set(self.strategies)):  # forgeries need a posted tree
            variants = ["settle-forged"] * 16 + ["settle-and-stake"] * 4 + ["tour-claim"] * 3 + ["settle-ok"] + variants
        variant = data.draw(st.sampled_from(variants), label="attack")
        if variant == "stake-off":
            off = [mid for mid in MIDS if cfg(mid).mode == OFF] + [UNKNOWN_MID]
            mid = data.draw(st.sampled_from(off), label="model")
            self._strategy_call("mallory", s, "stake", (self._stake_round(data), mid, self._commitment(data)),
                                "s_stake")
        elif variant == "stake-again":
            staked = [mid for mid in MIDS if cfg(mid).last_round] or list(MIDS)
            mid = data.draw(st.sampled_from(staked), label="model")
            rid = max(cfg(mid).last_round - data.draw(st.sampled_from([0, 0, 1]), label="back"), 0)
            self._strategy_call("mallory", s, "stake", (rid, mid, self._commitment(data)), "s_stake")
        elif variant == "stake-ok":
            self._operator_move("mallory", s, data)
        elif variant == "stake-zero-commitment":
            mid = data.draw(st.sampled_from(MIDS), label="model")
            self._strategy_call("mallory", s, "stake", (self._stake_round(data), mid, ZERO32), "s_stake")
        elif variant == "stake-far-round":
            rid = data.draw(st.sampled_from([UINT64_MAX, UINT64_MAX + 1, 2**256 - 1, w.last_id + 100]), label="rid")
            mid = data.draw(st.sampled_from(MIDS), label="model")
            self._strategy_call("mallory", s, "stake", (rid, mid, self._commitment(data)), "s_stake")
        elif variant == "stake-zero-model":
            self._strategy_call("mallory", s, "stake", (self._stake_round(data), ZERO32, self._commitment(data)),
                                "s_stake")
        elif variant == "recommit":
            mid = data.draw(st.sampled_from(MIDS), label="model")
            rid = data.draw(st.sampled_from([cfg(mid).last_round, cfg(mid).last_round + 1, 0]), label="rid")
            commitment = data.draw(st.sampled_from(COMMITMENTS + (ZERO32,)), label="commitment")
            self._strategy_call("mallory", s, "recommit", (rid, mid, commitment), "s_recommit")
        elif variant in ("settle-forged", "settle-ok", "settle-and-stake"):
            leaves = self._leaves_to_claim({s}) or self._leaves_to_claim(set(self.strategies))
            if not leaves:
                variant = "settle-nothing"
            else:
                rid, mid, s = leaves[data.draw(st.integers(0, len(leaves) - 1), label="leaf")]
                if data.draw(WAIT, label="wait"):
                    self._wait_final([rid])
                if variant == "settle-ok":
                    payout, burn, proof = self._honest(rid, mid, s)
                else:
                    payout, burn, proof = self._forged(data, rid, mid, s)
                if variant == "settle-and-stake":
                    if data.draw(st.booleans(), label="honest settle"):
                        payout, burn, proof = self._honest(rid, mid, s)
                    args: tuple = (rid, mid, payout, burn, proof, self._stake_round(data, wait=False), self._commitment(data))
                    self._strategy_call("mallory", s, "settleAndStake", args, "s_settle_and_stake")
                else:
                    self._strategy_call("mallory", s, "settle", (rid, mid, payout, burn, proof), "s_settle")
        if variant == "settle-early":
            held = self._strategy_stakes(lambda r, who, mid, a: not r.posted_at or w.now < r.posted_at + C)
            if held:
                s, rid, mid, amount = held[data.draw(st.integers(0, len(held) - 1), label="stake")]
                payout, burn = 0, data.draw(st.integers(0, amount), label="burn")
                self._strategy_call("mallory", s, "settle", (rid, mid, payout, burn, []), "s_settle")
            else:
                variant = "settle-nothing"
        if variant == "settle-nothing":
            rid = data.draw(st.sampled_from(sorted(w.rounds) + [w.last_id + 1]), label="rid")
            mid = data.draw(st.sampled_from(MIDS + (UNKNOWN_MID,)), label="model")
            self._strategy_call("mallory", s, "settle", (rid, mid, 0, 0, []), "s_settle")
        elif variant == "withdraw":
            amount = data.draw(st.sampled_from([0, 1, w.balance(s)]), label="amount")
            self._strategy_call("mallory", s, "withdraw", (amount,), "s_withdraw")
        elif variant == "set-model":
            args = (data.draw(st.sampled_from(MIDS), label="model"), 10**6 * NMR, data.draw(MODE, label="mode"))
            self._strategy_call("mallory", s, "setModel", args, "s_set_model")
        elif variant == "set-operator":
            new = data.draw(st.sampled_from([A["mallory"], ZERO_ADDRESS]), label="operator")
            self._strategy_call("mallory", s, "setOperator", (new,), "s_set_operator")
        elif variant == "exit":
            held = self._strategy_stakes(lambda r, who, mid, a: who == s)
            rid, mid = (held[0][1], held[0][2]) if held else (w.last_id, MIDS[0])
            self._strategy_call("mallory", s, "exitUnclaimed", (rid, mid), "s_exit_unclaimed")
        elif variant == "withdraw-expired":
            self._withdraw_expired("mallory", data)
        elif variant == "initialize":
            target = data.draw(st.sampled_from([s, A["implementation"]]), label="clone or implementation")
            self._do("mallory", target, "strategy", "initialize", (A["mallory"], A["mallory"]), "s_initialize",
                     target, A["mallory"], A["mallory"])
        elif variant == "transfer-from":
            amount = data.draw(st.sampled_from([1, w.balance(s)]), label="amount")
            self._do("mallory", A["nmr"], "nmr", "transferFrom", (s, A["mallory"], amount), "token_transfer_from",
                     s, A["mallory"], amount)
        elif variant == "invoker":
            fname, method = data.draw(st.sampled_from([("stakeMany", "stake_many"), ("recommitMany", "recommit_many")]),
                                      label="batch")
            calls = [(s, self._stake_round(data), MIDS[0], self._commitment(data))]
            self._do("mallory", A["invoker"], "invoker", fname, (calls,), method, calls)
        elif variant == "tour-claim":
            self._claim("mallory", data, set(self.strategies))
        elif variant in ("tour-exit", "tour-emergency"):
            held = self._strategy_stakes(lambda r, who, mid, a: who == s) or [(s, w.last_id, MIDS[0], 0)]
            _s, rid, mid, _a = held[data.draw(st.integers(0, len(held) - 1), label="stake")]
            fname, method = ("exitUnclaimed", "exit_unclaimed") if variant == "tour-exit" else (
                "emergencyWithdraw", "emergency_withdraw")
            self._do("mallory", A["tour"], "tour", fname, (rid, mid), method, rid, mid)
        elif variant == "tour-restake":  # a strategy's leaf, restaked as if it were the malicious operator's
            leaves = self._leaves_to_claim({s})
            if leaves:
                rid, mid, who = leaves[data.draw(st.integers(0, len(leaves) - 1), label="leaf")]
                payout, burn, proof = self._honest(rid, mid, who)
            else:
                rid, mid, payout, burn, proof = w.last_id, MIDS[0], 0, 0, []
            args = (rid, mid, payout, burn, proof, self._stake_round(data), NMR, self._commitment(data))
            self._do("mallory", A["tour"], "tour", "restake", args, "restake", *args)

    # ---------------------------------------------------------------- manual stakers and third parties

    @action(5)
    def manual_stake(self, data):
        who = data.draw(st.sampled_from(MANUAL), label="staker")
        rid = self._stake_round(data)
        mid = data.draw(st.sampled_from(MIDS), label="model")
        amount = data.draw(st.one_of(st.integers(1, 60), st.sampled_from([0, 200])), label="NMR") * NMR
        commitment = self._commitment(data)
        self._do(who, self.A["tour"], "tour", "stake", (rid, mid, amount, commitment), "tour_stake",
                 rid, mid, amount, commitment)

    def _claim(self, caller, data, stakers) -> None:
        leaves = self._leaves_to_claim(stakers) or self._leaves_to_claim(set(self.w.strategies) | {
            self.A[n] for n in MANUAL})
        if not leaves:
            return
        rid, mid, staker = leaves[data.draw(st.integers(0, len(leaves) - 1), label="leaf")]
        if data.draw(WAIT, label="wait"):
            self._wait_final([rid])
        if data.draw(st.sampled_from([True, True, True, False]), label="honest"):
            payout, burn, proof = self._honest(rid, mid, staker)
        else:
            payout, burn, proof = self._forged(data, rid, mid, staker)
        self._do(caller, self.A["tour"], "tour", "claim", (rid, mid, staker, payout, burn, proof), "claim",
                 rid, mid, staker, payout, burn, proof)

    @action(6)
    def claim(self, data):
        """A third party (or the staker) claims a leaf on the tournament, a strategy's mostly."""
        caller = data.draw(st.sampled_from(["stranger", "stranger", "dave", "keeper"]), label="caller")
        strategies_only = data.draw(st.sampled_from([True, True, False]), label="strategy leaf")
        self._claim(caller, data, set(self.strategies) if strategies_only else {self.A[n] for n in MANUAL})

    @action(3)
    def settle_by_anyone(self, data):
        """A third party settles a strategy's stake through the strategy (honest leaf)."""
        leaves = self._leaves_to_claim(set(self.strategies))
        if not leaves:
            return
        rid, mid, s = leaves[data.draw(st.integers(0, len(leaves) - 1), label="leaf")]
        if data.draw(WAIT, label="wait"):
            self._wait_final([rid])
        self._strategy_call("stranger", s, "settle", (rid, mid, *self._honest(rid, mid, s)), "s_settle")

    def _withdraw_expired(self, caller, data) -> None:
        held = self._strategy_stakes(lambda r, who, mid, a: not r.posted_at) or self._strategy_stakes()
        if held:
            s, rid, mid, _a = held[data.draw(st.integers(0, len(held) - 1), label="stake")]
            r = self.w.rounds[rid]
            if not r.posted_at and data.draw(WAIT_EXPIRY, label="wait"):
                self._travel(r.resolve + G)
        else:
            s = data.draw(st.sampled_from(self.strategies), label="strategy")
            rid, mid = self.w.last_id, MIDS[0]
        self._strategy_call(caller, s, "withdrawExpired", (rid, mid), "s_withdraw_expired")

    @action(3)
    def withdraw_expired(self, data):
        self._withdraw_expired(data.draw(st.sampled_from(["stranger", "keeper", "alice"]), label="caller"), data)

    def _manual_stake_pick(self, data, pred):
        keys = [(rid, mid, who) for rid, r in sorted(self.w.rounds.items())
                for (mid, who), amount in sorted(r.stakes.items())
                if amount and who in {self.A[n] for n in MANUAL} and pred(r)]
        if not keys:
            return None
        return keys[data.draw(st.integers(0, len(keys) - 1), label="manual stake")]

    @action(2)
    def manual_exit(self, data):
        picked = self._manual_stake_pick(data, lambda r: r.posted_at)
        if picked is None:
            return
        rid, mid, who = picked
        if data.draw(WAIT, label="wait"):
            self._travel(self.w.rounds[rid].posted_at + C + G)
        self._do(self.names[who], self.A["tour"], "tour", "exitUnclaimed", (rid, mid), "exit_unclaimed", rid, mid)

    @action(2)
    def manual_emergency(self, data):
        picked = self._manual_stake_pick(data, lambda r: not r.posted_at)
        if picked is None:
            return
        rid, mid, who = picked
        if data.draw(WAIT_EXPIRY, label="wait"):
            self._travel(self.w.rounds[rid].resolve + G)
        self._do(self.names[who], self.A["tour"], "tour", "emergencyWithdraw", (rid, mid), "emergency_withdraw",
                 rid, mid)

    @action(2)
    def manual_restake(self, data):
        """A manual staker claims its leaf and stakes again in one call (`Tournament.restake`)."""
        manual = {self.A[n] for n in MANUAL}
        leaves = self._leaves_to_claim(manual)
        if not leaves:
            return
        rid, mid, who = leaves[data.draw(st.integers(0, len(leaves) - 1), label="leaf")]
        if data.draw(WAIT, label="wait"):
            self._wait_final([rid])
        payout, burn, proof = self._honest(rid, mid, who)
        stake_rid = self._stake_round(data, wait=False)
        amount = data.draw(st.one_of(st.integers(1, 60), st.sampled_from([0, 200])), label="NMR") * NMR
        args = (rid, mid, payout, burn, proof, stake_rid, amount, self._commitment(data))
        self._do(self.names[who], self.A["tour"], "tour", "restake", args, "restake", *args)

    @action(1)
    def donate(self, data):
        s = data.draw(st.sampled_from(self.strategies), label="strategy")
        amount = data.draw(st.integers(1, 5 * NMR), label="amount")
        self._do("dave", self.A["nmr"], "nmr", "transfer", (s, amount), "donate", s, amount)

    # ---------------------------------------------------------------- the one rule

    def _stakeable(self, only=None) -> bool:
        """Through the invoker, some strategy could stake an enabled model in a round open (or
        scheduled) now (in round `only` if given)."""
        w = self.w
        for r in [only] if only else self._rounds(lambda r: w.now < r.close):
            for s, m in w.strategies.items():
                if m.operator != w.invoker:
                    continue
                for cfg in m.models.values():
                    amount = cfg.stake_amount()
                    if amount and cfg.last_round < r.id and r.min_stake <= amount <= min(r.cap, w.balance(s)):
                        return True
        return False

    def _weights(self) -> dict:
        """The actions' weights, raised for what moves the lifecycle on in this state and lowered
        for what cannot get anywhere (it still happens, as a negative test)."""
        w = dict(ACTIONS)
        rounds = list(self.w.rounds.values())
        now = self.w.now
        staking = any(now < r.close for r in rounds)
        w["keeper_stake_many"] = 25 if self._stakeable() else 2
        w["post_result"] = 20 if any(self._postable(r) and r.count for r in rounds) else 1
        strategy_leaves = bool(self._leaves_to_claim(set(self.strategies)))
        w["keeper_settle_many"] = w["keeper_settle_and_stake_many"] = 12 if strategy_leaves else 1
        w["settle_by_anyone"] = 3 if strategy_leaves else 1
        w["mallory"] = 11 if strategy_leaves else w["mallory"]
        if not self._leaves_to_claim(set(self.strategies) | {self.A[n] for n in MANUAL}):
            w["claim"] = 1
        if not staking:
            w["manual_stake"] = 2
            if len(rounds) < MAX_ROUNDS:
                w["open_round"] = 12
        if len(rounds) >= MAX_ROUNDS:
            w["open_round"] = 0
        held = self._strategy_stakes()
        w["owner_exit"] = 6 if any(self.w.rounds[rid].posted_at for _s, rid, _m, _a in held) else 1
        w["withdraw_expired"] = 3 if any(not self.w.rounds[rid].posted_at for _s, rid, _m, _a in held) else 1
        manual = {self.A[n] for n in MANUAL}
        manual_rounds = [r for r in rounds if any(a and who in manual for (_m, who), a in r.stakes.items())]
        w["manual_exit"] = 2 if any(r.posted_at for r in manual_rounds) else 0
        w["manual_emergency"] = 2 if any(not r.posted_at for r in manual_rounds) else 0
        w["manual_restake"] = 2 if self._leaves_to_claim(manual) else 0
        if self.w.paused():
            w["unpause"] = 8
        if not self._boundaries():
            w["progress"] = w["jump"] = 0
        elif w["keeper_stake_many"] < 25 and w["post_result"] < 20 and not strategy_leaves and w["open_round"] < 12:
            w["progress"] = 13  # nothing to do but wait for the next boundary
        return w

    @rule(data=st.data())
    def step(self, data):
        """One action, picked with weights (one rule rather than one per action, so that hypothesis'
        swarm testing does not switch off half the actors in an example)."""
        weights = self._weights()
        # The lifecycle's main line first: hypothesis' simplest draws (index 0) pick it.
        names = sorted(ACTIONS, key=lambda n: (-weights[n], ORDER.index(n) if n in ORDER else len(ORDER), n))
        choices = [n for n in names for _ in range(weights[n])]
        name = data.draw(st.sampled_from(choices), label="action")
        PICKED[name] = PICKED.get(name, 0) + 1
        if TRACE:
            print(f"{name} (t={self.w.now})")
        STATS["steps"] += 1
        getattr(self, name)(data)

    # ---------------------------------------------------------------- invariants

    @invariant()
    def strategies_are_whole(self):
        c, w = self.c, self.w
        assert c.pending_timestamp() == w.now, "the model's clock drifted from the chain's"
        assert c.balance_of(self.A["mallory"]) == 0, "the malicious operator holds NMR"
        assert all(n == 1 for n in w.payments.values()), "a stake was paid twice"
        for s, m in w.strategies.items():
            name = self.names[s]
            idle = c.balance_of(s)
            held = 0
            for (rid, mid), amount in w.all_stakes(s).items():
                got = c.get_stake(rid, mid, s)
                assert got == w.rounds[rid].stored_stake((mid, s)) and got[0] == amount, (
                    f"{name}: stake ({rid}, {mid!r}) on chain {got}, in the model {amount}")
                held += got[0]
            assert idle + held == m.deposits - m.withdrawals + m.results, (
                f"{name}: idle {idle} + staked {held} != deposits {m.deposits} - withdrawals {m.withdrawals} "
                f"+ results {m.results}")
            assert idle == w.balance(s), f"{name}: idle {idle} != the model's {w.balance(s)}"
        if not self.changed:
            return  # nothing succeeded since the last full check (reverts were shown to change nothing)
        self.changed = False
        for a in self.followed:
            assert c.balance_of(a) == w.balance(a), f"NMR balance of {self.names.get(a, a)}"
        assert c.total_supply() == w.supply, "totalSupply != the model's"
        for s, m in w.strategies.items():
            assert c.operator_of(s) == m.operator, f"{self.names[s]}: operator"
            assert c.owner_of(s) == m.owner, f"{self.names[s]}: owner"
            for mid in CHECKED_MIDS:
                got = c.model_config(s, mid)
                assert got == m.config(mid).as_tuple(), (
                    f"{self.names[s]}: model({mid!r}) on chain {got} != the model's {m.config(mid).as_tuple()}")
        for rid, r in w.rounds.items():
            on_chain = c.get_round(rid)
            want = {"totalStaked": r.total_staked, "stakeCount": r.count, "funded": r.funded,
                    "postedAt": r.posted_at, "root": r.root, "totalPayout": r.payout, "totalBurn": r.burn,
                    "claimable": r.claimable, "claimed": r.claimed, "settled": r.settled}
            have = {k: on_chain[k] for k in want}
            assert have == want, f"round {rid}: contract {have} != model {want}"


# Among equal weights, the most productive first (see `step`).
ORDER = ["open_round", "post_result", "keeper_stake_many", "keeper_settle_and_stake_many", "claim",
         "keeper_settle_many", "mallory", "progress"]


def _initial_world(d: chainlib.Deployment) -> World:
    c = d.chain
    A = c.addr
    strategies = [s for s, _o, _op in d.strategies]
    followed = [A[n] for n in ACCOUNTS + CONTRACTS] + strategies
    spenders = [A["tour"], A["mallory"], A["invoker"]] + strategies
    allowances = {}
    for holder in followed:
        for spender in spenders:
            v = c.allowance(holder, spender)
            if v:
                allowances[(holder, spender)] = v
    return World(
        now=c.pending_timestamp(), challenge=C, grace=G, max_pause=M,
        addresses={"nmr": A["nmr"], "tour": A["tour"], "invoker": A["invoker"], "keeper": A["keeper"],
                   "admin": A["owner"], "oracle": A["oracle"], "manager": A["manager"], "pauser": A["pauser"]},
        balances={a: c.balance_of(a) for a in followed},
        supply=c.total_supply(),
        allowances=allowances,
        strategies=[(s, A[owner], A[op] if op else ZERO_ADDRESS) for s, owner, op in d.strategies],
    )


def test_strategy_state_machine(project, chain, tournament, token, owner, oracle, manager, pauser,
                                alice, bob, carol, treasury, stranger):
    accounts = {"owner": owner, "oracle": oracle, "manager": manager, "pauser": pauser, "alice": alice,
                "bob": bob, "carol": carol, "treasury": treasury, "stranger": stranger}
    d = chainlib.deploy(project, chain, accounts, tournament, token, nmr_each=10_000 * NMR,
                        strategy_owners=FIRST_OPERATOR)
    assert token.balanceOf(tournament) == 0
    StrategyMachine.ctx = {"deployment": d, "chain": chain, "world0": _initial_world(d)}
    for k in STATS:
        STATS[k] = 0
    OUTCOMES.clear()
    PICKED.clear()
    started = time.monotonic()
    run_state_machine_as_test(
        StrategyMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=not os.environ.get("NMRSTAKE_FUZZ_RANDOM"),  # =1: new examples each run
            database=None,
            suppress_health_check=list(HealthCheck),
            # NMRSTAKE_FUZZ_NO_SHRINK=1: report the first failing example as found (shrinking an
            # example replays it on the chain hundreds of times).
            phases=[p for p in Phase if p != Phase.shrink or not os.environ.get("NMRSTAKE_FUZZ_NO_SHRINK")],
        ),
    )
    if VERBOSE:
        print(f"\nstrategy fuzzing: {STATS} in {time.monotonic() - started:.1f} s")
        print("  actions picked:", ", ".join(f"{k} {v}" for k, v in sorted(PICKED.items())))
        for (fname, outcome), n in sorted(OUTCOMES.items()):
            print(f"  {fname:20} {outcome:32} {n}")
    assert STATS["txs"] > 0
