"""A pure Python model of allocation strategies and of what they use: the NMR token (balances,
allowances, burns), the Tournament (rounds, stakes, results, claims, restakes, exits, expiry, pause), the
AllocationStrategy clones (per model {perRound, mode, net, lastRound}, operator, idle NMR) and the
StrategyInvoker (batches that report failures instead of reverting).

Every action is a method `World.<action>(sender, ...)` written in the order the contracts check
and act, so that the first failing check is the error the contract reverts with; nested calls
(invoker -> strategy -> tournament -> token) are nested method calls, and a revert is the `Revert`
exception, which unwinds every change of the action (`World.attempt`) or, inside a batch, of the
one call (`World._sub`). `attempt` returns an `Outcome`: the error's name, or success with the NMR
transfers made (in order; a burn is a transfer to the zero address), the return value and, for a
batch, the calls that failed.

Besides what the contracts store, the model keeps the books the invariants need: per strategy its
deposits (including plain transfers to it), withdrawals and results (per resolved stake
`returned - stake`: `payout - burn` for a claim, whoever made it, `out - stake` for an exit and 0
for an expired stake taken back).

The model never reads the chain: the machine gives it the addresses and the starting balances.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from eth_abi import encode
from eth_utils import keccak

BPS = 10_000
OFF, FIXED, COMPOUND = 0, 1, 2
MODES = (OFF, FIXED, COMPOUND)
UINT64_MAX = 2**64 - 1
UINT96_MAX = 2**96 - 1
MAX_UINT = 2**256 - 1
INT88_MIN, INT88_MAX = -(2**87), 2**87 - 1
INT256_MIN, INT256_MAX = -(2**255), 2**255 - 1
ZERO_ADDRESS = "0x" + "00" * 20
ZERO32 = bytes(32)
LEAF_TYPES = ["uint256", "bytes32", "address", "uint256", "uint256", "uint256"]

NONE, SCHEDULED, OPEN, CLOSED, POSTED, FINAL, EXPIRED = range(7)


class Revert(Exception):
    """A predicted revert; `args[0]` is the error's name ("Panic" for a panic, "0x" for no data)."""


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


def leaf_hash(rid: int, mid: bytes, staker: str, stake: int, payout: int, burn: int) -> bytes:
    """Tournament.leafHash: OpenZeppelin StandardMerkleTree, double keccak."""
    return keccak(keccak(encode(LEAF_TYPES, [rid, mid, staker, stake, payout, burn])))


def verify_proof(proof, root: bytes, leaf: bytes) -> bool:
    """OpenZeppelin MerkleProof.verify: sorted pairs."""
    h = leaf
    for p in proof:
        p = bytes(p)
        h = keccak(min(h, p) + max(h, p))
    return h == root


def exit_burn(stake: int, clip: int, total_burn: int) -> int:
    """Tournament.exitBurn."""
    return min((stake * clip + BPS - 1) // BPS, total_burn)


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
class Round:
    id: int
    open: int
    close: int
    resolve: int
    clip: int
    min_stake: int
    cap: int
    stakes: dict = field(default_factory=dict)  # (model id, staker) -> amount held (0 once taken)
    staked: dict = field(default_factory=dict)  # (model id, staker) -> amount staked (kept)
    commitments: dict = field(default_factory=dict)  # (model id, staker) -> commitment
    total_staked: int = 0
    count: int = 0
    funded: int = 0
    posted_at: int = 0
    root: bytes = ZERO32
    payout: int = 0
    burn: int = 0
    claimable: int = 0
    claimed: int = 0
    settled: bool = False
    tree: Tree | None = None  # the posted tree (None: none posted, or rejected)
    old_trees: list = field(default_factory=list)  # rejected trees


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


@dataclass
class Outcome:
    error: str | None = None
    transfers: list = field(default_factory=list)  # (from, to, amount); to = zero address: a burn
    value: object = None
    failures: list = field(default_factory=list)  # batches: (index, strategy, error)


class World:
    """The token, the tournament, the strategies and the invoker, with the clock (`now` = the
    timestamp of the next transaction)."""

    def __init__(self, *, now: int, challenge: int, grace: int, max_pause: int, addresses: dict,
                 balances: dict, supply: int, allowances: dict, strategies: list):
        self.now = now
        self.C, self.G, self.M = challenge, grace, max_pause
        a = addresses
        self.nmr, self.tour, self.invoker = a["nmr"], a["tour"], a["invoker"]
        self.keeper, self.admin, self.oracle = a["keeper"], a["admin"], a["oracle"]
        self.manager, self.pauser = a["manager"], a["pauser"]
        self.balances = dict(balances)
        self.supply = supply
        self.allowances = dict(allowances)  # (holder, spender) -> allowance
        self.strategies = {s: Strategy(s, o, op) for s, o, op in strategies}
        self.rounds: dict[int, Round] = {}
        self.last_id = 0
        self.pool = 0
        self.pause_flag = False
        self.pause_end = 0
        self.payments: dict = {}  # (round, model id, staker) -> number of payments
        self.log: list = []
        self.failures: list = []

    # ---------------------------------------------------------------- running actions

    def attempt(self, method: str, *args) -> Outcome:
        """Runs an action: on success the world has changed and the outcome lists what moved; on a
        revert the world is as it was."""
        saved = copy.deepcopy(self.__dict__)
        self.log, self.failures = [], []
        try:
            value = getattr(self, method)(*args)
        except Revert as exc:
            self.__dict__.clear()
            self.__dict__.update(saved)
            return Outcome(exc.args[0])
        out = Outcome(None, self.log, value, self.failures)
        self.log, self.failures = [], []
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

    def tick(self) -> None:
        """A transaction was mined: the next one runs a second later."""
        self.now += 1

    def travel(self, t: int) -> None:
        assert t >= self.now
        self.now = t

    # ---------------------------------------------------------------- token

    def balance(self, a: str) -> int:
        return self.balances.get(a, 0)

    def _transfer(self, src: str, dst: str, amount: int) -> None:
        have = self.balance(src)
        if have < amount:
            raise Revert("ERC20InsufficientBalance")
        self.balances[src] = have - amount
        self.balances[dst] = self.balance(dst) + amount
        self.log.append((src, dst, amount))

    def _transfer_from(self, spender: str, src: str, dst: str, amount: int) -> None:
        allowed = self.allowances.get((src, spender), 0)
        if allowed != MAX_UINT:
            if allowed < amount:
                raise Revert("ERC20InsufficientAllowance")
            self.allowances[(src, spender)] = allowed - amount
        self._transfer(src, dst, amount)

    def _burn(self, src: str, amount: int) -> None:
        have = self.balance(src)
        if have < amount:
            raise Revert("ERC20InsufficientBalance")
        self.balances[src] = have - amount
        self.supply -= amount
        self.log.append((src, ZERO_ADDRESS, amount))

    def token_transfer(self, sender: str, to: str, amount: int) -> None:
        self._transfer(sender, to, amount)

    def token_transfer_from(self, sender: str, src: str, to: str, amount: int) -> None:
        self._transfer_from(sender, src, to, amount)

    def donate(self, sender: str, s: str, amount: int) -> None:
        """A plain transfer to a strategy: idle NMR of the strategy, booked as a deposit."""
        self._transfer(sender, s, amount)
        self.strategies[s].deposits += amount

    # ---------------------------------------------------------------- tournament

    def paused(self) -> bool:
        return self.pause_flag and self.now < self.pause_end

    def state(self, rid: int) -> int:
        r = self.rounds.get(rid)
        now = self.now
        if r is None:
            return NONE
        if now < r.open:
            return SCHEDULED
        if now < r.close:
            return OPEN
        if r.posted_at:
            return FINAL if now >= r.posted_at + self.C else POSTED
        if now >= r.resolve + self.G:
            return EXPIRED
        return CLOSED

    def stake_of(self, rid: int, mid: bytes, staker: str) -> int:
        r = self.rounds.get(rid)
        return r.stakes.get((mid, staker), 0) if r else 0

    def open_round(self, sender, rid, o, c, r, clip, min_stake, cap) -> None:
        if sender != self.manager:
            raise Revert("AccessControlUnauthorizedAccount")
        if rid <= self.last_id:
            raise Revert("RoundIdNotIncreasing")
        if not (o < c <= r and c > self.now):
            raise Revert("InvalidRoundTimes")
        if clip == 0 or clip > BPS:
            raise Revert("InvalidClip")
        if min_stake == 0 or cap < min_stake:
            raise Revert("InvalidStakeLimits")
        self.last_id = rid
        self.rounds[rid] = Round(rid, o, c, r, clip, min_stake, cap)

    def fund(self, sender, rid, amount) -> None:
        if self.paused():
            raise Revert("EnforcedPause")
        if amount == 0:
            raise Revert("ZeroAmount")
        st = self.state(rid)
        if st == NONE:
            raise Revert("UnknownRound")
        if st in (FINAL, EXPIRED):
            raise Revert("FundingClosed")
        self.rounds[rid].funded += amount
        self._transfer_from(self.tour, sender, self.tour, amount)

    def tour_stake(self, sender, rid, mid, amount, commitment) -> None:
        if self.paused():
            raise Revert("EnforcedPause")
        self._record_stake(sender, rid, mid, amount, commitment)
        if amount:
            self._transfer_from(self.tour, sender, self.tour, amount)

    def _record_stake(self, sender, rid, mid, amount, commitment) -> None:
        if commitment == ZERO32:
            raise Revert("ZeroCommitment")
        if mid == ZERO32:
            raise Revert("ZeroModelId")
        r = self.rounds.get(rid)
        if r is None:
            raise Revert("UnknownRound")
        if self.now < r.open or self.now >= r.close:
            raise Revert("RoundNotOpen")
        key = (mid, sender)
        cur = r.stakes.get(key, 0)
        if amount == 0:
            if cur == 0:
                raise Revert("NoStake")
        else:
            new = cur + amount
            if new < r.min_stake:
                raise Revert("StakeBelowMinimum")
            if new > r.cap:
                raise Revert("StakeAboveCap")
            r.stakes[key] = r.staked[key] = new
            if cur == 0:
                r.count += 1
            r.total_staked += amount
        r.commitments[key] = commitment

    def post_result(self, sender, rid, root, payout, burn, n, tree) -> None:
        if sender != self.oracle:
            raise Revert("AccessControlUnauthorizedAccount")
        if self.paused():
            raise Revert("EnforcedPause")
        r = self.rounds.get(rid)
        if r is None:
            raise Revert("UnknownRound")
        if self.now < r.resolve:
            raise Revert("PostingTooEarly")
        if self.now > r.resolve + self.G - self.C:
            raise Revert("PostingTooLate")
        if r.posted_at:
            raise Revert("ResultAlreadyPosted")
        if root == ZERO32:
            raise Revert("ZeroRoot")
        if n != r.count:
            raise Revert("LeafCountMismatch")
        if payout > r.funded:
            raise Revert("PayoutExceedsFunding")
        if burn > r.total_staked:
            raise Revert("BurnExceedsTotalStake")
        clipped = r.total_staked * r.clip // BPS
        if burn > clipped + r.count:
            raise Revert("BurnExceedsClip")
        if payout > clipped:
            raise Revert("PayoutExceedsClip")
        r.posted_at, r.root, r.payout, r.burn = self.now, root, payout, burn
        r.claimable = r.total_staked - burn + payout
        r.tree = tree if tree is not None and tree.root == root else None

    def reject_result(self, sender, rid) -> None:
        if sender != self.admin:
            raise Revert("AccessControlUnauthorizedAccount")
        r = self.rounds.get(rid)
        if r is None or not r.posted_at or self.now >= r.posted_at + self.C:
            raise Revert("NotInChallengePeriod")
        if r.tree is not None:
            r.old_trees.append(r.tree)
        r.posted_at, r.root, r.payout, r.burn, r.claimable, r.tree = 0, ZERO32, 0, 0, 0, None

    def _settle_final(self, r: Round) -> None:
        r.settled = True
        self.pool += r.funded - r.payout
        if r.burn:
            self._burn(self.tour, r.burn)

    def finalise(self, sender, rid) -> None:
        if self.paused():
            raise Revert("EnforcedPause")
        r = self.rounds.get(rid)
        if r is not None and r.settled:
            raise Revert("AlreadySettled")
        st = self.state(rid)
        if st == FINAL:
            self._settle_final(r)
        elif st == EXPIRED:
            r.settled = True
            self.pool += r.funded
        else:
            raise Revert("RoundNotFinal")

    def _final_round(self, rid) -> Round:
        r = self.rounds.get(rid)
        if r is None or not r.posted_at or self.now < r.posted_at + self.C:
            raise Revert("RoundNotFinal")
        if not r.settled:
            self._settle_final(r)
        return r

    def _take(self, r: Round, mid, staker) -> int:
        key = (mid, staker)
        amount = r.stakes.get(key, 0)
        if amount == 0:
            raise Revert("AlreadyClaimed" if key in r.commitments else "NoStake")
        r.stakes[key] = 0
        return amount

    def _add_claimed(self, r: Round, out: int) -> None:
        if r.claimed + out > r.claimable:
            raise Revert("ClaimExceedsRound")
        r.claimed += out

    def _paid(self, rid, mid, staker, amount, out, how) -> None:
        k = (rid, mid, staker)
        self.payments[k] = self.payments.get(k, 0) + 1
        s = self.strategies.get(staker)
        if s is not None:
            s.results += out - amount
            s.resolved.append((rid, mid, amount, out, how))
            if how.startswith("claim by ") and how != "claim by " + staker:  # not through the strategy
                s.bypassed.append((rid, mid, out - amount))

    def claim(self, sender, rid, mid, staker, payout, burn, proof) -> None:
        if self.paused():
            raise Revert("EnforcedPause")
        out = self._record_claim(sender, rid, mid, staker, payout, burn, proof, "claim by " + sender)
        if out:
            self._transfer(self.tour, staker, out)

    def restake(self, sender, claim_rid, mid, payout, burn, proof, stake_rid, amount, commitment) -> int:
        """Tournament.restake: the caller's claim and a new stake, netted."""
        if self.paused():
            raise Revert("EnforcedPause")
        if amount == 0:
            raise Revert("ZeroAmount")
        out = self._record_claim(sender, claim_rid, mid, sender, payout, burn, proof, "restake")
        self._record_stake(sender, stake_rid, mid, amount, commitment)
        if amount > out:
            self._transfer_from(self.tour, sender, self.tour, amount - out)
        elif out > amount:
            self._transfer(self.tour, sender, out - amount)
        return out

    def _record_claim(self, sender, rid, mid, staker, payout, burn, proof, how) -> int:
        if sender != staker and staker in self.strategies:  # every strategy claims only by itself
            raise Revert("ClaimOnlyByStaker")
        r = self._final_round(rid)
        amount = self._take(r, mid, staker)
        if burn > amount:
            raise Revert("BurnExceedsStake")
        clipped = amount * r.clip
        if payout > clipped // BPS or burn > (clipped + BPS - 1) // BPS:
            raise Revert("LeafExceedsClip")
        if not verify_proof(proof, r.root, leaf_hash(rid, mid, staker, amount, payout, burn)):
            raise Revert("InvalidProof")
        out = amount - burn + payout
        self._add_claimed(r, out)
        self._paid(rid, mid, staker, amount, out, how)
        return out

    def emergency_withdraw(self, sender, rid, mid) -> None:
        if self.state(rid) != EXPIRED:
            raise Revert("RoundNotExpired")
        r = self.rounds[rid]
        amount = self._take(r, mid, sender)
        r.claimed += amount
        self._paid(rid, mid, sender, amount, amount, "expired")
        self._transfer(self.tour, sender, amount)

    def exit_unclaimed(self, sender, rid, mid) -> None:
        self._exit(sender, rid, mid)

    def _exit(self, sender, rid, mid) -> int:
        if self.paused():
            raise Revert("EnforcedPause")
        r = self._final_round(rid)
        if self.now < r.posted_at + self.C + self.G:
            raise Revert("ExitNotOpen")
        amount = self._take(r, mid, sender)
        out = amount - exit_burn(amount, r.clip, r.burn)
        self._add_claimed(r, out)
        self._paid(rid, mid, sender, amount, out, "exit")
        if out:
            self._transfer(self.tour, sender, out)
        return out

    def pause(self, sender) -> None:
        if sender != self.pauser:
            raise Revert("AccessControlUnauthorizedAccount")
        if self.paused():
            raise Revert("EnforcedPause")
        if self.pause_end and self.now < self.pause_end + self.M:
            raise Revert("PauseCooldown")
        self.pause_flag, self.pause_end = True, self.now + self.M

    def unpause(self, sender) -> None:
        if sender != self.pauser:
            raise Revert("AccessControlUnauthorizedAccount")
        if not self.paused():
            raise Revert("ExpectedPause")
        self.pause_flag, self.pause_end = False, self.now

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

    # ---------------------------------------------------------------- views for the invariants

    def open_stakes(self, staker: str) -> dict:
        """(round, model id) -> amount of the staker's stakes still held by the tournament."""
        return {(rid, mid): amount for rid, r in self.rounds.items()
                for (mid, who), amount in r.stakes.items() if who == staker and amount}

    def all_stakes(self, staker: str) -> dict:
        """(round, model id) -> amount held (0 once taken) of every stake the staker ever made."""
        return {(rid, mid): amount for rid, r in self.rounds.items()
                for (mid, who), amount in r.stakes.items() if who == staker}
