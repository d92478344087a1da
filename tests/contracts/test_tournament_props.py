"""Property test of the Tournament's accounting.

For random sequences of stakes, fundings (direct and through the pool), postings of valid trees
with random payouts and burns within the limits (sometimes rejected and re-posted), settlements,
claims (single and batched) and emergency withdrawals of expired rounds, after every step:

* the contract's NMR balance equals exactly what it owes: the shared pool, plus for each round
  its unclaimed stakes and funding (unsettled), or its `claimable - claimed` (settled with a final
  result), or its unwithdrawn stakes (settled after expiry);
* `totalSupply` has fallen by exactly the burns of settled rounds;
* every staker has received exactly `stake - burn + payout` for each claimed leaf and the full
  stake for each emergency withdrawal.

The expected values come from a Python model of the rules, not from the contract's getters.
Each example runs inside a chain snapshot that is restored afterwards.
"""

from __future__ import annotations

import ape
from helpers.harness import nmr  # noqa: E402
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ZERO32 = b"\x00" * 32
NAMES = ["m0", "m1"]
CLIPS = [1, 500, 2_500, 10_000]


class Model:
    def __init__(self):
        self.pool = 0
        self.rounds: dict[int, dict] = {}
        self.burned = 0
        self.received: dict[str, int] = {}

    def owed(self) -> int:
        total = self.pool
        for r in self.rounds.values():
            if not r["settled"]:
                total += r["staked"] + r["funded"] - r["claimed"]
            elif r["final"]:
                total += r["staked"] - r["burn"] + r["payout"] - r["claimed"]
            else:
                total += r["staked"] - r["claimed"]
        return total


def _check(t, token, model, supply0, balances0, people):
    assert token.balanceOf(t) == model.owed()
    assert t.pool() == model.pool
    assert token.totalSupply() == supply0 - model.burned
    for p in people:
        assert token.balanceOf(p) == balances0[p.address] + model.received.get(p.address, 0)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_balance_equals_obligations(chain, tournament, harness, token, alice, bob, carol, treasury,
                                    manager, oracle, owner, stranger, data):
    t, h = tournament, harness
    stakers = [alice, bob, carol]
    snap = chain.snapshot()
    try:
        _scenario(chain, t, h, token, stakers, treasury, manager, oracle, owner, stranger, data)
    finally:
        chain.restore(snap)


def _goto(chain, h, when: int):
    """Next transaction at `when`, or just after the last block if that is later."""
    h.at(max(when, chain.blocks.head.timestamp + 1))


def _scenario(chain, t, h, token, stakers, treasury, manager, oracle, owner, stranger, data):
    draw = data.draw
    model = Model()
    supply0 = token.totalSupply()
    # Money the contract may hold from earlier tests in this module is part of its balance;
    # the model starts from the contract's current books.
    assert token.balanceOf(t) == 0
    people = stakers + [treasury]
    balances0 = {p.address: token.balanceOf(p) for p in people}

    def paid_in(acct, amount):
        model.received[acct.address] = model.received.get(acct.address, 0) - amount

    def check():
        _check(t, token, model, supply0, balances0, people)

    # Rounds: same times, so every phase below applies to all of them.
    n_rounds = draw(st.integers(1, 2), label="rounds")
    rounds = []
    for _ in range(n_rounds):
        clip = draw(st.sampled_from(CLIPS), label="clip")
        rnd = h.open_round(duration=1_000, resolve_after=1_000, clip=clip, min_stake=1, cap=nmr(100))
        rounds.append(rnd)
        model.rounds[rnd.id] = dict(staked=0, funded=0, claimed=0, payout=0, burn=0, settled=False,
                                    final=False, clip=clip, stakes={})

    # Stakes and fundings, interleaved.
    ops = draw(st.lists(st.tuples(st.integers(0, n_rounds - 1), st.integers(0, 5),
                                  st.integers(1, nmr(40))), min_size=1, max_size=6), label="ops")
    for ri, kind, amount in ops:
        rnd = rounds[ri]
        mr = model.rounds[rnd.id]
        if kind <= 2:
            acct, name = stakers[kind], NAMES[amount % 2]
            key = (h.model_id(name), acct.address)
            # A key's total stays within the round's cap (100 NMR; the contract rightly refuses more).
            amount = min(amount, nmr(100) - mr["stakes"].get(key, 0))
            if amount <= 0:
                continue
            h.stake(acct, rnd, name, amount)
            mr["stakes"][key] = mr["stakes"].get(key, 0) + amount
            mr["staked"] += amount
            paid_in(acct, amount)
        elif kind == 3:
            small = amount // 10 + 1
            h.fund(treasury, rnd, small)
            mr["funded"] += small
            paid_in(treasury, small)
        else:
            small = amount // 10 + 1
            t.fundPool(small, sender=treasury)
            paid_in(treasury, small)
            model.pool += small
            if kind == 5:
                part = draw(st.integers(0, small), label="allocate")
                if part:
                    t.allocate(rnd.id, part, sender=manager)
                    model.pool -= part
                    mr["funded"] += part
        check()

    # Results: each round is posted (maybe rejected once first) or left to expire.
    results = {}
    last_posted = 0
    for rnd in rounds:
        mr = model.rounds[rnd.id]
        fate = draw(st.sampled_from(["post", "reject-repost", "expire"]), label="fate")
        if fate == "expire":
            continue
        entries = []
        clip = mr["clip"]
        for (m, staker), amount in sorted(mr["stakes"].items()):
            max_move = amount * clip // 10_000
            kind = draw(st.integers(0, 3), label="leaf")
            if kind == 0:
                payout, burn = draw(st.integers(0, max_move), label="payout"), 0
            elif kind == 1:
                payout, burn = 0, draw(st.integers(0, -(-amount * clip // 10_000)), label="burn")
            elif kind == 2:
                payout, burn = 0, 0
            else:
                payout = draw(st.integers(0, max_move), label="payout")
                burn = draw(st.integers(0, -(-amount * clip // 10_000)), label="burn")
            entries.append([m, staker, amount, payout, burn])
        # Payouts are limited by the funding and the clip: scale them down if needed.
        limit = min(mr["funded"], mr["staked"] * clip // 10_000)
        total = sum(e[3] for e in entries)
        if total > limit:
            for e in entries:
                e[3] = e[3] * limit // total
        if entries:
            res = h.Result(rnd.id, [tuple(e) for e in entries])
            root, pay, burn, n = res.root, res.total_payout, res.total_burn, len(entries)
        else:
            res, root, pay, burn, n = None, b"\x01" * 32, 0, 0, 0
        if fate == "reject-repost":
            _goto(chain, h, rnd.resolve)
            t.postResult(rnd.id, b"\x02" * 32, 0, 0, n, ZERO32, sender=oracle)
            t.rejectResult(rnd.id, "wrong root", sender=owner)
        _goto(chain, h, rnd.resolve)
        tx = t.postResult(rnd.id, root, pay, burn, n, ZERO32, sender=oracle)
        last_posted = max(last_posted, chain.blocks[tx.block_number].timestamp)
        mr.update(payout=pay, burn=burn, final=True)
        results[rnd.id] = res
        check()

    # Final rounds: claims (single or batched, by the staker or a third party), maybe an explicit
    # finalise first. Not every leaf is claimed.
    if results:
        _goto(chain, h, last_posted + h.CHALLENGE)
    for rid, res in results.items():
        mr = model.rounds[rid]
        settled = False
        if draw(st.booleans(), label="finalise first"):
            t.finalise(rid, sender=stranger)
            settled = True
        picks = []
        if res is not None:
            picks = draw(st.lists(st.integers(0, len(res.entries) - 1), unique=True), label="claims")
        if picks:
            if draw(st.booleans(), label="batch"):
                t.claimMany([res.claim_args(i) for i in picks], sender=stranger)
            else:
                for i in picks:
                    h.claim(res, i, stranger)
            settled = True  # the first claim settles the round
            for i in picks:
                _m, staker, amount, payout, burn = res.entries[i]
                out = amount - burn + payout
                mr["claimed"] += out
                model.received[staker] = model.received.get(staker, 0) + out
        elif not settled and draw(st.booleans(), label="finalise late"):
            t.finalise(rid, sender=stranger)
            settled = True
        if settled:
            mr["settled"] = True
            model.pool += mr["funded"] - mr["payout"]
            model.burned += mr["burn"]
        check()

    # Expired rounds: some stakers leave, maybe someone returns the funding to the pool.
    expired = [r for r in rounds if r.id not in results]
    if expired:
        _goto(chain, h, expired[0].expiry)
    for rnd in expired:
        mr = model.rounds[rnd.id]
        if draw(st.booleans(), label="finalise expired"):
            t.finalise(rnd.id, sender=stranger)
            mr["settled"] = True
            model.pool += mr["funded"]
        for (m, staker), amount in sorted(mr["stakes"].items()):
            if draw(st.booleans(), label="withdraw"):
                acct = next(a for a in stakers if a.address == staker)
                t.emergencyWithdraw(rnd.id, m, sender=acct)
                mr["claimed"] += amount
                model.received[staker] = model.received.get(staker, 0) + amount
        check()
        # Nobody else can take what is left.
        with ape.reverts():
            t.withdrawPool(owner, model.pool + 1, sender=owner)
