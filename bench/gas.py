"""Gas benchmark of contracts/Tournament.sol on a real Anvil.

Run from the repository root with the virtualenv active:  python bench/gas.py

Starts its own Anvil on a free port (through ape-foundry, host "auto"), deploys NMR and the
Tournament, makes a few real stakes, then writes the remaining stakes of a 10,000-stake round
straight into storage with `anvil_setStorageAt` (stake slots, the round's totals; the NMR they
represent is minted to the tournament so balances and supply stay consistent). It posts a result
whose Merkle tree covers all 10,000 leaves, advances time and measures `gasUsed` of real
transactions. Prints one JSON object and writes it to bench/results/gas.json.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from pathlib import Path

import requests
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "gas.json"

N_STAKES = 10_000
N_SMALL = 100
N_CLAIMS = 50
N_MANY = 10
N_HOLDERS = 20
NMR = 10**18
CHALLENGE = 86_400
GRACE = 7 * 86_400
MAX_PAUSE = 3 * 86_400
CLIP_BPS = 500

# Storage layout of Tournament (checked against the chain below).
ROUNDS_SLOT = 6
STAKES_SLOT = 7
LEAF_TYPES = ["uint256", "bytes32", "address", "uint256", "uint256", "uint256"]


# ---------------------------------------------------------------- Merkle (OZ StandardMerkleTree)

def leaf_hash(values) -> bytes:
    return keccak(keccak(encode(LEAF_TYPES, values)))


def node_hash(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


class Tree:
    """OpenZeppelin StandardMerkleTree layout: leaves sorted by hash, array tree, sorted pairs."""

    def __init__(self, leaves: list[bytes]):
        order = sorted(range(len(leaves)), key=lambda i: leaves[i])
        n = len(leaves)
        self.tree: list[bytes] = [b""] * (2 * n - 1)
        self.pos: dict[int, int] = {}
        for k, i in enumerate(order):
            self.tree[len(self.tree) - 1 - k] = leaves[i]
            self.pos[i] = len(self.tree) - 1 - k
        for j in range(len(self.tree) - 1 - n, -1, -1):
            self.tree[j] = node_hash(self.tree[2 * j + 1], self.tree[2 * j + 2])
        self.root = self.tree[0]

    def proof(self, i: int) -> list[bytes]:
        j, out = self.pos[i], []
        while j > 0:
            out.append(self.tree[j + 1] if j % 2 == 1 else self.tree[j - 1])
            j = (j - 1) // 2
        return out


# ---------------------------------------------------------------- storage helpers

def word(x: int) -> bytes:
    return x.to_bytes(32, "big")


def mapping_slot(key: bytes, slot: int) -> int:
    return int.from_bytes(keccak(key + word(slot)), "big")


def stake_slot(round_id: int, model_id: bytes, staker: str) -> int:
    s1 = mapping_slot(word(round_id), STAKES_SLOT)
    s2 = mapping_slot(model_id, s1)
    return mapping_slot(bytes(12) + bytes.fromhex(staker[2:]), s2)


def round_slot(round_id: int) -> int:
    return mapping_slot(word(round_id), ROUNDS_SLOT)


def model_id(name: str) -> bytes:
    return name.encode().ljust(32, b"\0")


class Rpc:
    def __init__(self, uri: str):
        self.uri = uri
        self.session = requests.Session()
        self.next_id = 1

    def call(self, method, params):
        return self.batch([(method, params)])[0]

    def batch(self, calls):
        body = []
        for method, params in calls:
            body.append({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
            self.next_id += 1
        res = self.session.post(self.uri, json=body, timeout=120).json()
        res.sort(key=lambda r: r["id"])
        for r in res:
            if "error" in r:
                raise RuntimeError(r["error"])
        return [r["result"] for r in res]

    def set_storage(self, address: str, items: list[tuple[int, int]], chunk: int = 2000):
        for k in range(0, len(items), chunk):
            self.batch([
                ("anvil_setStorageAt", [address, "0x" + word(s).hex(), "0x" + word(v).hex()])
                for s, v in items[k:k + chunk]
            ])

    def storage(self, address: str, slot: int) -> int:
        return int(self.call("eth_getStorageAt", [address, hex(slot), "latest"]), 16)


# ---------------------------------------------------------------- benchmark

def permit_signature(token, owner_acct, spender, value, deadline):
    nonce = token.nonces(owner_acct.address)
    typehash = keccak(b"Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)")
    struct = keccak(encode(
        ["bytes32", "address", "address", "uint256", "uint256", "uint256"],
        [typehash, owner_acct.address, spender, value, nonce, deadline],
    ))
    digest = keccak(b"\x19\x01" + bytes(token.DOMAIN_SEPARATOR()) + struct)
    sig = Account.unsafe_sign_hash(digest, owner_acct.private_key)
    return sig.v, word(sig.r), word(sig.s)


def synthetic_stakes(rng: random.Random, round_id: int, n: int, min_stake: int, cap: int):
    out = []
    for i in range(n):
        staker = "0x" + keccak(b"staker" + word(round_id) + word(i))[12:].hex()
        out.append({
            "model": model_id(f"m{round_id}_{i}"),
            "staker": to_checksum_address(staker),
            "stake": rng.randint(min_stake, cap),
            "commitment": keccak(b"file" + word(round_id) + word(i)),
        })
    return out


def results_for(rng: random.Random, round_id: int, stakes: list[dict], clip_bps: int):
    """Random per-stake results within the clip: payout or burn of up to clip * stake."""
    leaves = []
    for s in stakes:
        r = rng.random()
        amount = s["stake"]
        if r < 0.45:
            payout, burn = amount * rng.randint(1, clip_bps) // 10_000, 0
        elif r < 0.9:
            payout, burn = 0, -(-amount * rng.randint(1, clip_bps) // 10_000)
        else:
            payout, burn = 0, 0
        s["payout"], s["burn"] = payout, burn
        leaves.append(leaf_hash([round_id, s["model"], s["staker"], amount, payout, burn]))
    return Tree(leaves)


def inject(rpc: Rpc, tournament: str, round_id: int, stakes: list[dict]):
    items = []
    for s in stakes:
        base = stake_slot(round_id, s["model"], s["staker"])
        items.append((base, s["stake"]))
        items.append((base + 1, int.from_bytes(s["commitment"], "big")))
    rpc.set_storage(tournament, items)
    # Round slot 1: totalStaked (96) | stakeCount (32) | stakeCap (96) | mmcMultiplierBps (32).
    slot1 = round_slot(round_id) + 1
    cur = rpc.storage(tournament, slot1)
    total = (cur & (2**96 - 1)) + sum(s["stake"] for s in stakes)
    count = ((cur >> 96) & (2**32 - 1)) + len(stakes)
    rest = cur >> 128
    rpc.set_storage(tournament, [(slot1, total | (count << 96) | (rest << 128))])


def main() -> dict:
    from ape import accounts, chain, networks, project

    rng = random.Random(20260101)
    t_start = time.time()
    with networks.parse_network_choice("ethereum:local:foundry", provider_settings={"host": "auto"}) as provider:
        rpc = Rpc(provider.uri)
        acc = accounts.test_accounts
        owner, oracle, manager, funder, a1, a2, a3, a4, submitter = (acc[i] for i in range(9))
        token = owner.deploy(project.NMR, owner)
        tour = owner.deploy(project.Tournament, token, owner, 86_400, CHALLENGE, GRACE, MAX_PAUSE)
        tour.grantRole(tour.MANAGER_ROLE(), manager, sender=owner)
        tour.grantRole(tour.ORACLE_ROLE(), oracle, sender=owner)
        for a in (funder, a1, a2, a3, a4):
            token.mint(a, 10_000 * NMR, sender=owner)

        now = chain.pending_timestamp
        open_t, close_t, resolve_t = now, now + 3_600, now + 7_200
        min_stake, cap = NMR // 100, 5_000 * NMR
        params = (open_t, close_t, resolve_t, 5_000, 20_000, CLIP_BPS, 72_000 * NMR, cap, min_stake)
        big, small, lonely = 1, 2, 3
        for rid in (big, small, lonely):
            tour.openRound(rid, params, sender=manager)

        gas = {}
        # Real stakes into the big round: a1 first (unmeasured), then a2 (stake_first),
        # a3 with a permit, a2 again (stake_increase).
        def real_stake(acct, rid, name, amount, permit=False):
            mid, com = model_id(name), keccak(name.encode() + word(rid))
            if permit:
                deadline = chain.pending_timestamp + 3_600
                v, r, s = permit_signature(token, acct, tour.address, amount, deadline)
                tx = tour.stakeWithPermit(rid, mid, amount, com, deadline, v, r, s, sender=acct)
            else:
                token.approve(tour, amount, sender=acct)
                tx = tour.stake(rid, mid, amount, com, sender=acct)
            return tx, {"model": mid, "staker": acct.address, "commitment": com}

        _, s1 = real_stake(a1, big, "alpha", 100 * NMR)
        tx, s2 = real_stake(a2, big, "bravo", 250 * NMR)
        gas["stake_first"] = tx.gas_used
        tx, s3 = real_stake(a3, big, "charlie", 400 * NMR, permit=True)
        gas["stake_with_permit"] = tx.gas_used
        tx, _ = real_stake(a2, big, "bravo", 50 * NMR)
        gas["stake_increase"] = tx.gas_used
        s1["stake"], s2["stake"], s3["stake"] = 100 * NMR, 300 * NMR, 400 * NMR
        real = [s1, s2, s3]
        _, t1 = real_stake(a1, small, "alpha", 100 * NMR)
        t1["stake"] = 100 * NMR
        _, _ = real_stake(a4, lonely, "delta", 77 * NMR)

        # Check the storage layout assumption against the real stakes.
        for s in real:
            assert rpc.storage(tour.address, stake_slot(big, s["model"], s["staker"])) == s["stake"]
            assert rpc.storage(tour.address, stake_slot(big, s["model"], s["staker"]) + 1) == int.from_bytes(
                s["commitment"], "big")

        # Synthetic stakes straight into storage; mint the NMR they stand for to the tournament.
        t_inject = time.time()
        syn_big = synthetic_stakes(rng, big, N_STAKES - len(real), min_stake, 1_000 * NMR)
        syn_small = synthetic_stakes(rng, small, N_SMALL - 1, min_stake, 1_000 * NMR)
        inject(rpc, tour.address, big, syn_big)
        inject(rpc, tour.address, small, syn_small)
        token.mint(tour, sum(s["stake"] for s in syn_big + syn_small), sender=owner)
        stakes_big = real + syn_big
        stakes_small = [t1] + syn_small
        rb, rs = tour.getRound(big), tour.getRound(small)
        assert rb.stakeCount == N_STAKES and rs.stakeCount == N_SMALL
        assert rb.totalStaked == sum(s["stake"] for s in stakes_big)
        inject_s = time.time() - t_inject

        # Funding: a pool allocation and a direct funding.
        clipped_big = rb.totalStaked * CLIP_BPS // 10_000
        clipped_small = rs.totalStaked * CLIP_BPS // 10_000
        token.mint(funder, clipped_big + clipped_small, sender=owner)
        token.approve(tour, clipped_big + clipped_small, sender=funder)
        tour.fundPool(clipped_big, sender=funder)
        tour.allocate(big, clipped_big, sender=manager)
        tour.fund(small, clipped_small, sender=funder)

        # Results: trees over every leaf, totals within the clip.
        t_tree = time.time()
        while True:
            tree_big = results_for(rng, big, stakes_big, CLIP_BPS)
            pay_b, burn_b = sum(s["payout"] for s in stakes_big), sum(s["burn"] for s in stakes_big)
            if pay_b <= clipped_big and burn_b <= clipped_big + N_STAKES:
                break
        tree_small = results_for(rng, small, stakes_small, CLIP_BPS)
        pay_s, burn_s = sum(s["payout"] for s in stakes_small), sum(s["burn"] for s in stakes_small)
        tree_s = time.time() - t_tree

        chain.mine(timestamp=resolve_t)
        tx = tour.postResult(big, tree_big.root, pay_b, burn_b, N_STAKES, keccak(b"manifest-big"), sender=oracle)
        gas["post_result"] = tx.gas_used
        tx = tour.postResult(small, tree_small.root, pay_s, burn_s, N_SMALL, keccak(b"manifest-small"),
                             sender=oracle)
        gas["post_result_100_stakes"] = tx.gas_used

        chain.mine(timestamp=resolve_t + CHALLENGE + 1)
        supply0 = token.totalSupply()
        tx = tour.finalise(big, sender=submitter)
        gas["finalise"] = tx.gas_used
        assert supply0 - token.totalSupply() == burn_b

        # 50 random claims, one transaction each, submitted by a third party.
        picks = rng.sample(range(len(stakes_big)), N_CLAIMS + N_MANY + N_HOLDERS)
        picks_holders = picks[N_CLAIMS + N_MANY:]
        claim_gas = []
        for i in picks[:N_CLAIMS]:
            s = stakes_big[i]
            tx = tour.claim(big, s["model"], s["staker"], s["payout"], s["burn"], tree_big.proof(i),
                            sender=submitter)
            claim_gas.append(tx.gas_used)
        # The same with recipients that already hold some NMR (the common case: no fresh balance slot).
        holder_gas = []
        for i in picks_holders:
            token.mint(stakes_big[i]["staker"], 1, sender=owner)
        for i in picks_holders:
            s = stakes_big[i]
            tx = tour.claim(big, s["model"], s["staker"], s["payout"], s["burn"], tree_big.proof(i),
                            sender=submitter)
            holder_gas.append(tx.gas_used)
        claims = [
            (big, stakes_big[i]["model"], stakes_big[i]["staker"], stakes_big[i]["payout"],
             stakes_big[i]["burn"], tree_big.proof(i))
            for i in picks[N_CLAIMS:N_CLAIMS + N_MANY]
        ]
        tx = tour.claimMany(claims, sender=submitter)
        gas["claim_many_per_stake"] = tx.gas_used // N_MANY

        # A round without result expires: its staker withdraws in full.
        chain.mine(timestamp=resolve_t + GRACE)
        tx = tour.emergencyWithdraw(lonely, model_id("delta"), sender=a4)
        gas["emergency_withdraw"] = tx.gas_used

        claim_gas.sort()
        gas["claim_median"] = int(statistics.median(claim_gas))
        gas["claim_p95"] = claim_gas[int(0.95 * (len(claim_gas) - 1) + 0.5)]
        gas["claim_min"] = claim_gas[0]
        gas["claim_max"] = claim_gas[-1]
        gas["claim_median_recipient_holds_nmr"] = int(statistics.median(holder_gas))
        gas["n_stakes"] = N_STAKES
        gas["n_claims_measured"] = N_CLAIMS
        gas["anvil"] = rpc.call("web3_clientVersion", [])
        gas["notes"] = (
            "gasUsed incl. 21,000 base. claim_*: random leaves of the 10,000-leaf tree, submitted by a "
            "third party, the round already settled by `finalise`; recipients hold no NMR (their balance "
            "slot is fresh, worst case) except claim_median_recipient_holds_nmr. stake_first: exact "
            "approve, others already staked in the round. claim_many_per_stake: 10 claims in one tx / 10."
        )
        gas["seconds"] = {"inject": round(inject_s, 1), "trees": round(tree_s, 1),
                          "total": round(time.time() - t_start, 1)}
    return gas


if __name__ == "__main__":
    result = main()
    text = json.dumps(result, indent=2)
    print(text)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text + "\n")
