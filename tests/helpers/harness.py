"""Helpers of the contract tests: NMR amounts, the tournament's test settings, and a harness that
opens rounds, builds result trees (OpenZeppelin StandardMerkleTree layout), posts and claims.

Time: every helper computes times relative to `chain.pending_timestamp` when a round is opened and
moves time only forward, so the tests run on the embedded EVM and on a real node alike.
"""

from __future__ import annotations

NMR_WEI = 10**18


def nmr(amount: int | float | str) -> int:
    """NMR to wei, exactly (strings for fractions: `nmr("12.5")`)."""
    from decimal import Decimal

    return int(Decimal(str(amount)) * NMR_WEI)


T_ADMIN_DELAY = 3_600
T_CHALLENGE = 86_400
T_GRACE = 3 * 86_400
T_MAX_PAUSE = 86_400
T_LEAF_TYPES = ["uint256", "bytes32", "address", "uint256", "uint256", "uint256"]


def t_model_id(name: str) -> bytes:
    """docs/interfaces.md: the name's UTF-8 bytes, right-padded with zeros to 32 bytes."""
    raw = name.encode()
    assert 1 <= len(raw) <= 32
    return raw.ljust(32, b"\0")


def t_leaf(round_id, model, staker, stake, payout, burn) -> bytes:
    """OpenZeppelin StandardMerkleTree leaf: keccak256(keccak256(abi.encode(values)))."""
    from eth_abi import encode
    from eth_utils import keccak

    return keccak(keccak(encode(T_LEAF_TYPES, [round_id, model, str(staker), stake, payout, burn])))


class TTree:
    """A StandardMerkleTree-compatible tree (leaves sorted by hash, array layout, sorted pairs)."""

    def __init__(self, leaves: list[bytes]):
        from eth_utils import keccak

        assert leaves
        n = len(leaves)
        order = sorted(range(n), key=lambda i: leaves[i])
        self.nodes: list[bytes] = [b""] * (2 * n - 1)
        self.index: dict[int, int] = {}
        for k, i in enumerate(order):
            self.nodes[2 * n - 2 - k] = leaves[i]
            self.index[i] = 2 * n - 2 - k
        for j in range(n - 2, -1, -1):
            a, b = self.nodes[2 * j + 1], self.nodes[2 * j + 2]
            self.nodes[j] = keccak(min(a, b) + max(a, b))
        self.root = self.nodes[0]

    def proof(self, i: int) -> list[bytes]:
        j, out = self.index[i], []
        while j > 0:
            out.append(self.nodes[j + 1] if j % 2 == 1 else self.nodes[j - 1])
            j = (j - 1) // 2
        return out


class TResult:
    """A round result: entries (model bytes, staker address, stake, payout, burn) and their tree."""

    def __init__(self, round_id: int, entries: list[tuple]):
        self.round_id = round_id
        self.entries = [tuple(e) for e in entries]
        self.tree = TTree([t_leaf(round_id, *e) for e in self.entries])
        self.root = self.tree.root
        self.total_payout = sum(e[3] for e in self.entries)
        self.total_burn = sum(e[4] for e in self.entries)

    def find(self, model: bytes, staker) -> int:
        for i, e in enumerate(self.entries):
            if e[0] == model and str(e[1]) == str(staker):
                return i
        raise KeyError((model, staker))

    def claim_args(self, i: int) -> tuple:
        m, s, _stake, payout, burn = self.entries[i]
        return (self.round_id, m, s, payout, burn, self.tree.proof(i))


class TRound:
    def __init__(self, round_id, open_time, close_time, resolve_time, params):
        self.id = round_id
        self.open = open_time
        self.close = close_time
        self.resolve = resolve_time
        self.params = params
        self.last_post = resolve_time + T_GRACE - T_CHALLENGE
        self.expiry = resolve_time + T_GRACE


class THarness:
    """Drives a Tournament in tests: rounds relative to now, stakes, results, time travel.

    Also carries the helpers and constants so test modules need no imports from conftest."""

    model_id = staticmethod(t_model_id)
    leaf = staticmethod(t_leaf)
    Tree = TTree
    Result = TResult
    ADMIN_DELAY = T_ADMIN_DELAY
    CHALLENGE = T_CHALLENGE
    GRACE = T_GRACE
    MAX_PAUSE = T_MAX_PAUSE

    def __init__(self, chain, tour, token, owner, oracle, manager, pauser):
        self.chain, self.tour, self.token = chain, tour, token
        self.owner, self.oracle, self.manager, self.pauser = owner, oracle, manager, pauser
        self.tx_time = None

    # time -------------------------------------------------------------------------------
    def now(self) -> int:
        return self.chain.pending_timestamp

    def at(self, t: int):
        """The next transaction runs at exactly `t` (never moves backwards)."""
        self.chain.pending_timestamp = t

    def view_at(self, t: int):
        """Mines an empty block at `t` so that calls see `block.timestamp == t`."""
        self.chain.mine(timestamp=t)

    # rounds ------------------------------------------------------------------------------
    def open_round(self, start_in=0, duration=1_000, resolve_after=1_000, clip=500,
                   min_stake=10**18, cap=1_000 * 10**18, threshold=72_000 * 10**18,
                   corr=5_000, mmc=20_000, round_id=None) -> TRound:
        now = self.now()
        open_t = now + start_in
        close_t = open_t + duration
        resolve_t = close_t + resolve_after
        rid = round_id if round_id is not None else self.tour.lastRoundId() + 1
        params = (open_t, close_t, resolve_t, corr, mmc, clip, threshold, cap, min_stake)
        self.tour.openRound(rid, params, sender=self.manager)
        return TRound(rid, open_t, close_t, resolve_t, params)

    def stake(self, acct, rnd, name: str, amount: int, commitment: bytes | None = None):
        from eth_utils import keccak

        com = commitment or keccak(f"{rnd.id}:{name}:{acct.address}".encode())
        return self.tour.stake(rnd.id, t_model_id(name), amount, com, sender=acct)

    def fund(self, funder, rnd, amount: int):
        return self.tour.fund(rnd.id, amount, sender=funder)

    def result(self, rnd, rows: list[tuple]) -> TResult:
        """rows: (name, account, payout, burn); the stake is read from the chain."""
        entries = []
        for name, acct, payout, burn in rows:
            m = t_model_id(name)
            amount, _c = self.tour.getStake(rnd.id, m, acct)
            entries.append((m, acct.address, amount, payout, burn))
        return TResult(rnd.id, entries)

    def post(self, rnd, res: TResult, at: int | None = None, results_hash: bytes = b"\x11" * 32):
        self.at(rnd.resolve if at is None else at)
        return self.tour.postResult(rnd.id, res.root, res.total_payout, res.total_burn,
                                    len(res.entries), results_hash, sender=self.oracle)

    def post_final(self, rnd, res: TResult):
        """Posts at resolveTime and moves time to the end of the challenge period."""
        self.post(rnd, res)
        self.at(rnd.resolve + T_CHALLENGE)

    def claim(self, res: TResult, i: int, sender):
        return self.tour.claim(*res.claim_args(i), sender=sender)
