"""A pure Python model of allocation strategies: the Tournament's model
(`fuzz_tournament.model.Tournament`: the NMR token and the Tournament) extended with the
AllocationStrategy clones of the StrategyFactory (per model {perRound, mode, net, lastRound},
operator, idle NMR) and the StrategyInvoker (batches that report failures instead of reverting).

Every action is a method `World.<action>(sender, ...)` written in the order the contracts check
and act, so that the first failing check is the error the contract reverts with; nested calls
(invoker -> strategy -> tournament -> token) are nested method calls, and a revert is the `Revert`
exception, which unwinds every change of the action (`World.attempt`) or, inside a batch, of the
one call (`World._sub`). `attempt` returns an `Outcome`: the error's name, or success with the NMR
transfers made (in order; a burn is a transfer to the zero address), the return value and, for a
batch, the calls that failed.

Besides the Tournament's books, the model keeps the ones the strategy invariants need: per strategy
its deposits (including plain transfers to it), withdrawals and results (per resolved stake
`returned - stake`: `payout - burn` for a claim, whoever made it, `out - stake` for an exit and 0
for an expired stake taken back).

The model never reads the chain: the machine gives it the addresses and the starting balances.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from helpers.fuzz_tournament.model import BPS, ZERO32, ZERO_ADDRESS, Outcome, Revert, Tournament, is_name

__all__ = ["BPS", "COMPOUND", "FIXED", "OFF", "UINT64_MAX", "UINT96_MAX", "ZERO32", "ZERO_ADDRESS", "Tree", "World"]

OFF, FIXED, COMPOUND = 0, 1, 2
MODES = (OFF, FIXED, COMPOUND)
UINT64_MAX = 2**64 - 1
UINT96_MAX = 2**96 - 1
INT88_MIN, INT88_MAX = -(2**87), 2**87 - 1
INT256_MIN, INT256_MAX = -(2**255), 2**255 - 1


def signed256(x: int) -> int:
    """Solidity's `int256(x)` of a uint256: the same bits, two's complement."""
    return x - 2**256 if x >= 2**255 else x


def checked_int256(x: int) -> int:
    if not INT256_MIN <= x <= INT256_MAX:
        raise Revert("Panic")  # 0x11, arithmetic overflow
    return x


def to_int88(x: int) -> int:
    """SafeCast.toInt88."""
    if not INT88_MIN <= x <= INT88_MAX:
        raise Revert("SafeCastOverflowedIntDowncast")
    return x


@dataclass
class Config:
    """IAllocationStrategy.ModelConfig."""

    per_round: int = 0
    mode: int = OFF
    net: int = 0
    last_round: int = 0

    def as_tuple(self) -> tuple:
        return (self.per_round, self.mode, self.net, self.last_round)

    def stake_amount(self) -> int:
        """AllocationStrategy.stakeAmount."""
        if self.mode == OFF:
            return 0
        if self.mode == FIXED:
            return self.per_round
        return max(self.per_round + self.net, 0)


class Tree(dict):
    """A posted result: (model id, staker) -> (stake, payout, burn, proof), and its root. Never
    changed once posted, so copies of the world share it."""

    def __init__(self, root: bytes, leaves: dict):
        super().__init__(leaves)
        self.root = root

    def __deepcopy__(self, memo):
        return self


@dataclass
class Strategy:
    address: str
    owner: str
    operator: str
    models: dict = field(default_factory=dict)  # model id -> Config (absent: all zero)
    deposits: int = 0  # deposits and plain transfers in
    withdrawals: int = 0
    results: int = 0  # sum over resolved stakes of (returned - stake)
    resolved: list = field(default_factory=list)  # (round, model id, stake, returned, how)
    # Claims made for the strategy directly on the tournament: their result never reaches the
    # model's `net` (a Compound model then stakes as if the round had not happened).
    bypassed: list = field(default_factory=list)  # (round, model id, returned - stake)

    def config(self, mid: bytes) -> Config:
        return self.models.get(mid) or Config()


class World(Tournament):
    """The token and the tournament, the strategies and the invoker, with the clock (`now` = the
    timestamp of the next transaction). `addresses`: those of the contracts "nmr", "tour" and
    "invoker", and of "keeper" (the invoker's owner), "admin", "oracle", "manager" and "pauser";
    `strategies`: (address, owner, operator) of each clone."""

    def __init__(self, *, now: int, challenge: int, grace: int, max_pause: int, addresses: dict,
                 balances: dict, supply: int, allowances: dict, strategies: list):
        a = addresses
        super().__init__(now=now, challenge=challenge, grace=grace, max_pause=max_pause,
                         roles={**a, "owner": a["admin"]}, balances=balances, supply=supply, allowances=allowances)
        self.invoker, self.keeper = a["invoker"], a["keeper"]
        self.strategies = {s: Strategy(s, o, op) for s, o, op in strategies}
        self.claims_by_self_only.update(self.strategies)  # every clone calls setClaimsBySelfOnly(true)
        self.failures: list = []

    # ---------------------------------------------------------------- running actions

    def attempt(self, method: str, *args) -> Outcome:
        """`Tournament.attempt`, with the calls of a batch that failed."""
        self.failures = []
        out = super().attempt(method, *args)
        out.failures, self.failures = self.failures, []
        return out

    def _sub(self, fn, *args):
        """A call inside a batch (try/catch): (error, None) with its changes undone, or (None, value)."""
        saved = copy.deepcopy(self.__dict__)
        try:
            return None, fn(*args)
        except Revert as exc:
            self.__dict__.clear()
            self.__dict__.update(saved)
            return exc.args[0], None

    # ---------------------------------------------------------------- the token and the tournament, for strategies

    def donate(self, sender: str, s: str, amount: int) -> None:
        """A plain transfer to a strategy: idle NMR of the strategy, booked as a deposit."""
        self._transfer(sender, s, amount)
        self.strategies[s].deposits += amount

    def _paid(self, rid, mid, staker, amount, out, how) -> None:
        super()._paid(rid, mid, staker, amount, out, how)
        s = self.strategies.get(staker)
        if s is not None:
            s.results += out - amount
            s.resolved.append((rid, mid, amount, out, how))
            if how.startswith("claim by ") and how != "claim by " + staker:  # not through the strategy
                s.bypassed.append((rid, mid, out - amount))

    # ---------------------------------------------------------------- strategies

    def _owner_only(self, sender, s) -> Strategy:
        st = self.strategies[s]
        if sender != st.owner:
            raise Revert("NotOwner")
        return st

    def _owner_or_operator(self, sender, s) -> Strategy:
        st = self.strategies[s]
        if sender != st.operator and sender != st.owner:
            raise Revert("NotOwnerOrOperator")
        return st

    def s_initialize(self, sender, s, owner, operator) -> None:
        raise Revert("InvalidInitialization")  # clones are initialized at creation, the implementation never

    def s_deposit(self, sender, s, amount) -> None:
        st = self._owner_only(sender, s)
        self._transfer_from(s, sender, s, amount)
        st.deposits += amount

    def s_withdraw(self, sender, s, amount) -> None:
        st = self._owner_only(sender, s)
        if amount > self.balance(s):
            raise Revert("InsufficientIdle")
        self._transfer(s, sender, amount)
        st.withdrawals += amount

    def s_set_model(self, sender, s, mid, per_round, mode) -> None:
        if mode not in MODES:
            raise Revert("0x")  # the ABI decoder refuses an enum out of range, before any check
        st = self._owner_only(sender, s)
        if not is_name(mid):
            raise Revert("InvalidModelId")
        if mode != OFF and per_round == 0:
            raise Revert("ZeroPerRound")
        if per_round > UINT96_MAX:
            raise Revert("AmountTooLarge")
        cfg = st.models.setdefault(mid, Config())
        if cfg.mode != mode:
            cfg.mode, cfg.net = mode, 0
        cfg.per_round = per_round

    def s_set_operator(self, sender, s, new) -> None:
        st = self._owner_only(sender, s)
        st.operator = new

    def s_exit_unclaimed(self, sender, s, rid, mid) -> None:
        st = self._owner_only(sender, s)
        amount = self.stake_of(rid, mid, s)
        if amount == 0:
            raise Revert("NothingToSettle")
        out = self._exit(s, rid, mid)
        cfg = st.models.setdefault(mid, Config())
        cfg.net = to_int88(checked_int256(checked_int256(cfg.net + out) - amount))

    def s_stake(self, sender, s, rid, mid, commitment) -> int:
        st = self._owner_or_operator(sender, s)
        return self._s_stake(st, rid, mid, commitment)

    def s_recommit(self, sender, s, rid, mid, commitment) -> None:
        st = self._owner_or_operator(sender, s)
        if st.config(mid).last_round != rid:
            raise Revert("NotStakedInRound")
        self.tour_stake(s, rid, mid, 0, commitment)

    def s_settle(self, sender, s, rid, mid, payout, burn, proof) -> None:
        self._s_settle(self.strategies[s], rid, mid, payout, burn, proof)

    def s_settle_and_stake(self, sender, s, srid, mid, payout, burn, proof, rid, commitment) -> int:
        """One `restake` on the tournament: the result goes into the net first, then the model
        stakes its amount; only the difference moves."""
        st = self._owner_or_operator(sender, s)
        cfg = st.models.setdefault(mid, Config())
        if cfg.mode == OFF:
            raise Revert("ModelNotEnabled")
        if rid <= cfg.last_round:
            raise Revert("RoundNotAfterLast")
        cfg.net = to_int88(checked_int256(checked_int256(cfg.net + signed256(payout)) - signed256(burn)))
        amount = cfg.stake_amount()
        if amount == 0:
            raise Revert("NothingToStake")
        if rid > UINT64_MAX:
            raise Revert("SafeCastOverflowedUintDowncast")
        cfg.last_round = rid
        self.restake(s, srid, mid, payout, burn, proof, rid, amount, commitment)
        return amount

    def s_withdraw_expired(self, sender, s, rid, mid) -> None:
        if self.stake_of(rid, mid, s) == 0:
            raise Revert("NothingToSettle")
        self.emergency_withdraw(s, rid, mid)

    def _s_stake(self, st: Strategy, rid, mid, commitment) -> int:
        cfg = st.models.setdefault(mid, Config())
        if cfg.mode == OFF:
            raise Revert("ModelNotEnabled")
        if rid <= cfg.last_round:
            raise Revert("RoundNotAfterLast")
        amount = cfg.stake_amount()
        if amount == 0:
            raise Revert("NothingToStake")
        if amount > self.balance(st.address):
            raise Revert("InsufficientIdle")
        if rid > UINT64_MAX:
            raise Revert("SafeCastOverflowedUintDowncast")
        cfg.last_round = rid
        self.tour_stake(st.address, rid, mid, amount, commitment)
        return amount

    def _s_settle(self, st: Strategy, rid, mid, payout, burn, proof) -> None:
        cfg = st.models.setdefault(mid, Config())
        cfg.net = to_int88(checked_int256(checked_int256(cfg.net + signed256(payout)) - signed256(burn)))
        self.claim(st.address, rid, mid, st.address, payout, burn, proof)

    # ---------------------------------------------------------------- invoker

    def _batch(self, sender, fn, calls) -> int:
        if sender != self.keeper:
            raise Revert("OwnableUnauthorizedAccount")
        ok = 0
        for i, call in enumerate(calls):
            err, _value = self._sub(fn, self.invoker, *call)
            if err:
                self.failures.append((i, call[0], err))
            else:
                ok += 1
        return ok

    def stake_many(self, sender, calls) -> int:
        """calls: (strategy, round, model id, commitment)."""
        return self._batch(sender, self.s_stake, calls)

    def recommit_many(self, sender, calls) -> int:
        """calls: (strategy, round, model id, commitment)."""
        return self._batch(sender, self.s_recommit, calls)

    def settle_many(self, sender, calls) -> int:
        """calls: (strategy, round, model id, payout, burn, proof)."""
        return self._batch(sender, self.s_settle, calls)

    def settle_and_stake_many(self, sender, calls) -> int:
        """calls: (strategy, settle round, model id, payout, burn, proof, stake round, commitment)."""
        return self._batch(sender, self.s_settle_and_stake, calls)
