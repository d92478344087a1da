"""A pure Python model of the NMR token and the Tournament: NMR balances, allowances and burns;
rounds, stakes, funding, the shared pool, results (posted, rejected, final), claims, restakes,
expired withdrawals, exits and the pause. The tournament fuzzing (tests/contracts/test_invariants.py) runs it
as it is; the strategy fuzzing's model (`fuzz_strategies.model.World`) extends it with the
allocation strategies and the StrategyInvoker.

Every action is a method `Tournament.<action>(sender, ...)` written in the order the contract
checks and acts, so that the first failing check is the error it reverts with; nested calls
(tournament -> token) are nested method calls, and a revert is the `Revert` exception, which unwinds
every change of the action. `Tournament.attempt(action, sender, ...)` runs one and returns an
`Outcome`: the error's name (and the model as it was), or success with the NMR transfers made, in
order (a burn is a transfer to the zero address), and the return value. The clock is the model's
`now`: the timestamp of the next transaction.

Besides what the contracts store, the model keeps the books the invariants need: per stake the
number of payments, per address and per round what claims, exits and withdrawals paid, and the
exits.

The model never reads the chain: the machine gives it the addresses, the starting balances and
supply, and the allowances.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from eth_abi import encode
from eth_utils import keccak

from nmrstake.errors import InputError
from nmrstake.models import model_name

BPS = 10_000
MAX_UINT = 2**256 - 1
ZERO_ADDRESS = "0x" + "00" * 20
ZERO32 = bytes(32)
ZERO20 = bytes(20)
LEAF_TYPES = ["uint256", "bytes32", "address", "uint256", "uint256", "uint256"]

NONE, SCHEDULED, OPEN, CLOSED, POSTED, FINAL, EXPIRED = range(7)


class Revert(Exception):
    """A predicted revert; `args[0]` is the error's name ("Panic" for a panic, "0x" for no data)."""


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


def is_name(mid: bytes) -> bool:
    """ModelIds.isName: the id is a zero-padded model name (the off-chain rule, `model_name`)."""
    try:
        model_name(mid)
    except InputError:
        return False
    return True


def exit_burn(stake: int, clip: int, total_burn: int) -> int:
    """Tournament.exitBurn."""
    return min((stake * clip + BPS - 1) // BPS, total_burn)


@dataclass
class Round:
    """A round. Its `tree` is the posted tree as the machine built it, with the `root` it was posted
    with (None: none posted, it was rejected or the posted root is not its root); `old_trees` are
    the rejected ones. The model only compares roots; `Tournament.leaf_value` reads the tournament
    fuzzing's trees (tests/conftest.py's `TResult`: `root`, `entries` of (model id, staker, stake,
    payout, burn))."""

    id: int
    open: int
    close: int
    resolve: int
    clip: int
    min_stake: int
    cap: int
    stakes: dict = field(default_factory=dict)  # (model id, staker) -> amount held (0 once taken)
    staked: dict = field(default_factory=dict)  # (model id, staker) -> amount staked (kept)
    # (model id, staker) -> the key's last logged commitment (kept once taken); the contract
    # stores its first 20 bytes while the stake is held (`stored_stake`).
    commitments: dict = field(default_factory=dict)
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
    # The posted tree (None: none posted, or rejected): the tournament fuzzing's `TResult`, the
    # strategy fuzzing's `fuzz_strategies.model.Tree`.
    tree: Any = None
    old_trees: list = field(default_factory=list)  # rejected trees

    def stored_stake(self, key) -> tuple[int, bytes]:
        """What `getStake` returns for `key` (model id, staker): the amount held and the first 20
        bytes of its commitment; both zero if never staked and once taken (the slot is cleared)."""
        amount = self.stakes.get(key, 0)
        return (amount, self.commitments[key][:20]) if amount else (0, ZERO20)


@dataclass
class Outcome:
    error: str | None = None
    transfers: list = field(default_factory=list)  # (from, to, amount); to = zero address: a burn
    value: object = None
    failures: list = field(default_factory=list)  # the strategy model's batches: (index, strategy, error)


class Tournament:
    """The token and the Tournament, with the clock (`now` = the timestamp of the next
    transaction). `roles`: the addresses of "owner" (the admin), "oracle", "manager" and "pauser",
    and of the contracts "nmr" and "tour"; `approved`: the accounts that approved the tournament
    without limit; `allowances`: any other allowance, (holder, spender) -> amount (every allowance
    not given is 0)."""

    def __init__(self, *, now: int, challenge: int, grace: int, max_pause: int, roles: dict,
                 balances: dict, supply: int, approved=(), allowances=None):
        self.now = now
        self.C, self.G, self.M = challenge, grace, max_pause
        self.nmr, self.tour, self.admin = roles["nmr"], roles["tour"], roles["owner"]
        self.oracle, self.manager, self.pauser = roles["oracle"], roles["manager"], roles["pauser"]
        self.balances = dict(balances)
        self.supply = supply
        self.allowances = dict(allowances or {})  # (holder, spender) -> allowance
        self.allowances.update({(a, self.tour): MAX_UINT for a in approved})
        self.claims_by_self_only: set = set()  # the stakers that called setClaimsBySelfOnly(true)
        self.rounds: dict[int, Round] = {}
        self.last_id = 0
        self.pool = 0
        self.pause_flag = False
        self.pause_end = 0
        self.payments: dict = {}  # (round, model id, staker) -> number of payments
        self.paid: dict = {}  # address -> NMR paid to it by claims, exits and withdrawals
        self.round_paid: dict = {}  # round -> NMR paid by its claims, exits and withdrawals
        self.exits: dict = {}  # (round, model id, staker) -> (stake, amount paid by its exit)
        self.log: list = []

    # ---------------------------------------------------------------- running actions

    def attempt(self, method: str, *args) -> Outcome:
        """Runs an action: on success the model has changed and the outcome lists what moved; on a
        revert the model is as it was."""
        saved = copy.deepcopy(self.__dict__)
        self.log = []
        try:
            value = getattr(self, method)(*args)
        except Revert as exc:
            self.__dict__.clear()
            self.__dict__.update(saved)
            return Outcome(exc.args[0])
        out = Outcome(None, self.log, value)
        self.log = []
        return out

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
        if commitment[:20] == ZERO20:  # the stored prefix is never zero
            raise Revert("ZeroCommitment")
        if not is_name(mid):
            raise Revert("ZeroModelId" if mid == ZERO32 else "InvalidModelId")
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
            if commitment[:20] == r.commitments[key][:20]:
                return  # the same stored commitment: no change, no event
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
            assert r is not None  # a round that does not exist is NONE
            self._settle_final(r)
        elif st == EXPIRED:
            assert r is not None
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
        if amount == 0:  # never staked or already taken: the contract keeps no trace of which
            raise Revert("NoStake")
        r.stakes[key] = 0
        return amount

    def _add_claimed(self, r: Round, out: int) -> None:
        if r.claimed + out > r.claimable:
            raise Revert("ClaimExceedsRound")
        r.claimed += out

    def _paid(self, rid, mid, staker, amount, out, how) -> None:
        """Books a payment of `out` for the stake of `amount`; `how`: "claim by <sender>",
        "restake", "expired" or "exit"."""
        k = (rid, mid, staker)
        self.payments[k] = self.payments.get(k, 0) + 1
        self.paid[staker] = self.paid.get(staker, 0) + out
        self.round_paid[rid] = self.round_paid.get(rid, 0) + out
        if how == "exit":
            self.exits[k] = (amount, out)

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
        if sender != staker and staker in self.claims_by_self_only:
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

    # ---------------------------------------------------------------- the pool; claimMany

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

    # ---------------------------------------------------------------- views and books for the invariants

    def open_stakes(self, staker: str) -> dict:
        """(round, model id) -> amount of the staker's stakes still held by the tournament."""
        return {(rid, mid): amount for rid, r in self.rounds.items()
                for (mid, who), amount in r.stakes.items() if who == staker and amount}

    def all_stakes(self, staker: str) -> dict:
        """(round, model id) -> amount held (0 once taken) of every stake the staker ever made."""
        return {(rid, mid): amount for rid, r in self.rounds.items()
                for (mid, who), amount in r.stakes.items() if who == staker}

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
