"""A pure Python model of the NMR token and the Tournament for the tournament fuzzing
(tests/test_invariants.py): NMR balances, allowances and burns; rounds, stakes, funding, the shared
pool, results (posted, rejected, final), claims, expired withdrawals, exits and the pause.

The token and the round lifecycle are the strategy fuzzing's model (`fuzz_strategies.model.World`,
here without strategies or invoker), so that one model of the Tournament serves both fuzzings; this
module adds what only the tournament fuzzing calls (the pool: `fund_pool`, `allocate`,
`withdraw_pool`; `claim_many`) and the books its invariants need.

Every action is a method `Tournament.<action>(sender, ...)` written in the order the contract
checks and acts, so that the first failing check is the error it reverts with (`Revert`);
`Tournament.attempt(action, sender, ...)` runs one and returns an `Outcome`: the error's name (and
the model as it was), or success with the NMR transfers made, in order (a burn is a transfer to the
zero address). The clock is the model's `now`: the timestamp of the next transaction.

The model never reads the chain: the machine gives it the addresses, the starting balances and
supply, and who approved the tournament.
"""

from __future__ import annotations

from fuzz_strategies.model import (
    BPS,
    CLOSED,
    EXPIRED,
    FINAL,
    MAX_UINT,
    NONE,
    OPEN,
    SCHEDULED,
    ZERO32,
    ZERO_ADDRESS,
    Outcome,
    Revert,
    Round,
    World,
    exit_burn,
)

__all__ = ["BPS", "ZERO32", "ZERO_ADDRESS", "Outcome", "Revert", "Round", "Tournament", "exit_burn"]


class Tournament(World):
    """The token and the Tournament. `roles`: the addresses of "owner" (the admin), "oracle",
    "manager" and "pauser", and of the contracts "nmr" and "tour"; `approved`: the accounts that
    approved the tournament without limit (every other allowance is 0).

    A round's `tree` is the posted tree as the machine built it (tests/conftest.py's `TResult`:
    `root`, `entries` of (model id, staker, stake, payout, burn)), None if none was posted, it was
    rejected or the posted root is not its root; `old_trees` are the rejected ones."""

    def __init__(self, *, now: int, challenge: int, grace: int, max_pause: int, roles: dict,
                 balances: dict, supply: int, approved):
        addresses = {"nmr": roles["nmr"], "tour": roles["tour"], "admin": roles["owner"],
                     "oracle": roles["oracle"], "manager": roles["manager"], "pauser": roles["pauser"],
                     "invoker": ZERO_ADDRESS, "keeper": ZERO_ADDRESS}
        allowances = {(a, roles["tour"]): MAX_UINT for a in approved}
        super().__init__(now=now, challenge=challenge, grace=grace, max_pause=max_pause, addresses=addresses,
                         balances=balances, supply=supply, allowances=allowances, strategies=[])
        self.paid: dict = {}  # address -> NMR paid to it by claims, exits and withdrawals
        self.round_paid: dict = {}  # round -> NMR paid by its claims, exits and withdrawals
        self.exits: dict = {}  # (round, model id, staker) -> (stake, amount paid by its exit)

    # ---------------------------------------------------------------- actions the strategies do not use

    def fund_pool(self, sender, amount) -> None:
        if self.paused():
            raise Revert("EnforcedPause")
        if amount == 0:
            raise Revert("ZeroAmount")
        self.pool += amount
        self._transfer_from(self.tour, sender, self.tour, amount)

    def allocate(self, sender, rid, amount) -> None:
        if sender != self.manager:
            raise Revert("AccessControlUnauthorizedAccount")
        if amount == 0:
            raise Revert("ZeroAmount")
        state = self.state(rid)
        if state not in (SCHEDULED, OPEN, CLOSED):  # unknown, or posted, final or expired
            raise Revert("UnknownRound" if state == NONE else "AllocationClosed")
        if amount > self.pool:
            raise Revert("InsufficientPool")
        self.pool -= amount
        self.rounds[rid].funded += amount

    def withdraw_pool(self, sender, to, amount) -> None:
        if sender != self.admin:
            raise Revert("AccessControlUnauthorizedAccount")
        if to == ZERO_ADDRESS:
            raise Revert("ZeroAddress")
        if amount == 0:
            raise Revert("ZeroAmount")
        if amount > self.pool:
            raise Revert("InsufficientPool")
        self.pool -= amount
        self._transfer(self.tour, to, amount)

    def claim_many(self, sender, claims) -> None:
        """Tournament.claimMany: each (round, model id, staker, payout, burn, proof) in turn."""
        if self.paused():
            raise Revert("EnforcedPause")  # even for no claims
        for claim in claims:
            self.claim(sender, *claim)

    # ---------------------------------------------------------------- books

    def _paid(self, rid, mid, staker, amount, out, how) -> None:
        super()._paid(rid, mid, staker, amount, out, how)
        self.paid[staker] = self.paid.get(staker, 0) + out
        self.round_paid[rid] = self.round_paid.get(rid, 0) + out
        if how == "exit":
            self.exits[(rid, mid, staker)] = (amount, out)

    def owed(self) -> int:
        """What the tournament owes, hence must hold: the pool, plus per round its unclaimed stakes
        and funding (not settled), `claimable - claimed` (settled with a final result) or its
        stakes not withdrawn (settled after expiry)."""
        total = self.pool
        for r in self.rounds.values():
            if not r.settled:
                total += r.total_staked + r.funded - r.claimed
            elif r.posted_at:
                total += r.claimable - r.claimed
            else:
                total += r.total_staked - r.claimed
        return total

    @staticmethod
    def leaf_value(r: Round, key: tuple, amount: int) -> int | None:
        """What the posted tree's leaf for this stake pays (None: the tree has no leaf for it)."""
        if r.tree is None:
            return None
        for m_, s_, a_, p_, b_ in r.tree.entries:
            if (m_, s_) == key and a_ == amount and b_ <= amount:
                return amount - b_ + p_
        return None

    def allowed(self, address: str) -> int:
        """The most `address` may have been paid: its final leaves, its expired stakes and the exits
        of its final stakes that the tree has no leaf for."""
        total = 0
        for r in self.rounds.values():
            state = self.state(r.id)
            for key, amount in r.staked.items():
                if key[1] != address:
                    continue
                if state == EXPIRED:
                    total += amount
                elif state == FINAL:
                    leaf = self.leaf_value(r, key, amount)
                    total += amount - exit_burn(amount, r.clip, r.burn) if leaf is None else leaf
        return total
