"""Gas benchmark of contracts/Tournament.sol on a real Anvil.

Run from the repository root with the virtualenv active:  python bench/gas.py

Starts its own Anvil on a free port (through ape-foundry, host "auto"), deploys NMR and the
Tournament, makes a few real stakes, then writes the remaining stakes of a 10,000-stake round
straight into storage with `anvil_setStorageAt` (stake slots, the round's totals; the NMR they
represent is minted to the tournament so balances and supply stay consistent). It posts a result
whose Merkle tree covers all 10,000 leaves, advances time and measures `gasUsed` of real
transactions.

Then the operator's path through allocation strategies (`strategies` in the JSON): a
StrategyFactory, a StrategyInvoker, and model-rounds in batches of 100 entries (100 strategies x 1
model, then 10 strategies x 10 models): `stakeMany` (first stakes), then per round
`settleAndStakeMany` (claim round r, stake round r + 1), `settleMany`, with the round settled by
`finalise` beforehand or lazily by the batch's first claim; rounds again hold 10,000 stakes. One
extra batch of 10 entries is traced step by step (`debug_traceTransaction`) to show where the gas
of one model-round goes.

Then the oracle committee (`committee` in the JSON): a CommitteeTournament per committee shape
(1-of-1, 2-of-3, 3-of-5, 5-of-7 members), two identical rounds each, one posted by ORACLE_ROLE's
`postResult` and the other by `postResultSigned` with exactly M signatures (65 bytes each, packed),
submitted by an account with no role. Goal: 3-of-5 at most 130,000 gas.

Prints a table of the strategy figures and one of the committee figures (stderr), then one JSON
object (stdout), which it also writes to bench/results/gas.json.
"""

from __future__ import annotations

import hashlib
import json
import random
import statistics
import sys
import time
from collections import defaultdict
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

# Storage layout of Tournament (checked against the chain below). Slot 3: Pausable's flag (bits
# 0-7), the pause's end (8-55), the re-entrancy lock (56-63, 1 when free) and the pool (64-159).
PAUSE_SLOT = 3
LOCK_SHIFT = 56
ROUNDS_SLOT = 5
STAKES_SLOT = 6
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


def stake_word(amount: int, commitment: bytes) -> int:
    """A stake's one slot: the amount (bits 0-95) and the commitment's first 20 bytes (96-255)."""
    return amount | int.from_bytes(commitment[:20], "big") << 96


def inject(rpc: Rpc, tournament: str, round_id: int, stakes: list[dict]):
    items = [(stake_slot(round_id, s["model"], s["staker"]), stake_word(s["stake"], s["commitment"])) for s in stakes]
    rpc.set_storage(tournament, items)
    # Round slot 1: totalStaked (96) | stakeCount (32) | stakeCap (96) | mmcMultiplierBps (32).
    slot1 = round_slot(round_id) + 1
    cur = rpc.storage(tournament, slot1)
    total = (cur & (2**96 - 1)) + sum(s["stake"] for s in stakes)
    count = ((cur >> 96) & (2**32 - 1)) + len(stakes)
    rest = cur >> 128
    rpc.set_storage(tournament, [(slot1, total | (count << 96) | (rest << 128))])


# ---------------------------------------------------------------- strategies: model-rounds in batches of 100
#
# The operator's path: StrategyFactory clones (one per owner), a StrategyInvoker owned by the
# operator's account, and per round one batch of N_BATCH model entries: `stakeMany` for a model's
# first stake, then each round `settleAndStakeMany` (claim round r into the strategy, stake round
# r + 1), so that one `settleAndStake` is one model-round in steady state. Every round holds
# N_STAKES stakes (the batch's 100 real ones + synthetic ones written into storage, as above), so
# the proofs have the depth of the manual claim figures they are compared with.

N_BATCH = 100
STRATEGY_SHAPES = (("100x1", 100, 1), ("10x10", 10, 10))  # (label, strategies, models per strategy)
N_TRACE = 10  # entries of the extra batch traced step by step (steady state: entries 2..N_TRACE)
BATCH_GAS = 29_000_000  # explicit: an estimate may starve the inner calls, which try/catch would hide
GOAL_PER_MODEL_ROUND = 100_000
FIXED, COMPOUND = 1, 2
CALL_OPS = {"CALL", "STATICCALL", "DELEGATECALL", "CALLCODE"}


def calldata(sig: str, types: list[str], args: list) -> str:
    return "0x" + (keccak(text=sig)[:4] + encode(types, args)).hex()


def intrinsic_gas(data: bytes) -> int:
    return 21_000 + sum(4 if b == 0 else 16 for b in data)


def send_unsigned(rpc: Rpc, txs: list[dict], chunk: int = 100) -> list[dict]:
    """Sends transactions from unlocked/impersonated senders (one per sender per request unless
    nonces are given) and waits for every receipt; all must succeed."""
    receipts = []
    for k in range(0, len(txs), chunk):
        hashes = rpc.batch([("eth_sendTransaction", [{"gas": hex(3_000_000), **t}]) for t in txs[k:k + chunk]])
        pending = dict(enumerate(hashes))
        got: dict[int, dict] = {}
        deadline = time.time() + 60
        while pending:
            res = rpc.batch([("eth_getTransactionReceipt", [h]) for h in pending.values()])
            for i, r in zip(list(pending), res):
                if r is not None:
                    got[i] = r
                    del pending[i]
            if pending:
                if time.time() > deadline:
                    raise RuntimeError(f"{len(pending)} transactions not mined")
                time.sleep(0.05)
        for i in range(len(hashes)):
            if got[i]["status"] != "0x1":
                raise RuntimeError(f"setup transaction failed: {hashes[i]}")
            receipts.append(got[i])
    return receipts


def check_batch(invoker, tx, n: int) -> None:
    """Every entry of an invoker batch must have succeeded (failures are only events)."""
    failed = tx.decode_logs(invoker.InvocationFailed)
    if failed:
        raise RuntimeError(f"{len(failed)} of {n} entries failed, first: {failed[0]}")


def trace_breakdown(rpc: Rpc, tx_hash: str, names: dict[str, str], slot_names: dict[tuple[str, int], str],
                    data: bytes, gas_used: int) -> dict:
    """Gas of one invoker batch by entry, contract (storage context) and kind of work, from
    Anvil's step trace. Each step's own cost: the gas difference to the next step at its depth,
    minus what a call's callee used. Entry k = the k-th call the invoker makes and the invoker's
    work until the next one."""
    logs = rpc.call("debug_traceTransaction", [tx_hash, {
        "disableStorage": True, "disableMemory": True, "disableStack": False, "enableReturnData": False,
    }])["structLogs"]
    n = len(logs)
    cost = [0] * n
    acc, pending = [0], []
    for i, s in enumerate(logs):
        d, nxt = s["depth"], logs[i + 1]["depth"] if i + 1 < n else 0
        if nxt == d:
            cost[i] = s["gas"] - logs[i + 1]["gas"]
            acc[-1] += cost[i]
        elif nxt == d + 1:
            pending.append(i)
            acc.append(0)
        else:
            cost[i] = s["gasCost"]
            acc[-1] += cost[i]
            if i + 1 < n:
                child, ci = acc.pop(), pending.pop()
                incl = logs[ci]["gas"] - logs[i + 1]["gas"]
                cost[ci] = incl - child
                acc[-1] += incl
    execution = acc[0]
    intrinsic = intrinsic_gas(data)
    # Attribution.
    ctx = {1: "invoker"}
    entry = 0
    per_entry: list[defaultdict[tuple, int]] = [defaultdict(int)]  # (who, kind) -> gas, ("count", who, kind) -> steps
    detail: list[list] = [[]]
    for i, s in enumerate(logs):
        d, op, c = s["depth"], s["op"], cost[i]
        who = ctx[d]
        if op == "SSTORE":
            kind = {22_100: "SSTORE new slot (cold)", 20_000: "SSTORE new slot", 5_000: "SSTORE update (cold)",
                    2_900: "SSTORE update", 100: "SSTORE dirty/no-op"}.get(c, f"SSTORE {c}")
        elif op == "SLOAD":
            kind = "SLOAD cold" if c >= 2_100 else "SLOAD warm"
        elif op.startswith("LOG"):
            kind = "LOG (events)"
        elif op in ("KECCAK256", "SHA3"):
            kind = "KECCAK256"
        elif op in CALL_OPS:
            kind = "call (account access)"
        else:
            kind = "compute"
        if d == 1 and op == "CALL" and i + 1 < n and logs[i + 1]["depth"] == 2:
            entry += 1
            per_entry.append(defaultdict(int))
            detail.append([])
        per_entry[entry][(who, kind)] += c
        per_entry[entry][("count", who, kind)] += 1
        if op in ("SSTORE", "SLOAD") and (c >= 2_100 or op == "SSTORE") or op.startswith("LOG") or op in CALL_OPS:
            slot = int(s["stack"][-1], 16) if op in ("SSTORE", "SLOAD") else None
            what = "" if slot is None else slot_names.get((who, slot), hex(slot))
            if op in CALL_OPS and i + 1 < n and logs[i + 1]["depth"] == d + 1:
                target = to_checksum_address("0x" + s["stack"][-2][2:].rjust(64, "0")[-40:])
                what = "-> " + names.get(target, target)
            detail[entry].append([who, op, c, what])
        if op in CALL_OPS and i + 1 < n and logs[i + 1]["depth"] == d + 1:
            target = to_checksum_address("0x" + s["stack"][-2][2:].rjust(64, "0")[-40:])
            ctx[d + 1] = who if op == "DELEGATECALL" else names.get(target, target)
    return {"steps": n, "execution": execution, "intrinsic": intrinsic, "gas_used": gas_used,
            "refund": intrinsic + execution - gas_used, "per_entry": per_entry, "detail": detail}


def summarize_trace(tr: dict) -> dict:
    """Steady-state entry (mean of entries 2..N), grouped as contract -> kind -> [gas, count]."""
    entries = tr["per_entry"][2:]
    k = len(entries)
    table: dict[str, dict[str, list]] = defaultdict(dict)
    keys = {key for e in entries for key in e if key[0] != "count"}
    for who, kind in sorted(keys):
        g = sum(e.get((who, kind), 0) for e in entries) / k
        cnt = sum(e.get(("count", who, kind), 0) for e in entries) / k
        table[who][kind] = [round(g), round(cnt, 1)]
    total = sum(v for e in entries for key, v in e.items() if key[0] != "count") / k
    first = sum(v for key, v in tr["per_entry"][1].items() if key[0] != "count")
    head = sum(v for key, v in tr["per_entry"][0].items() if key[0] != "count")
    return {"entry_execution_mean": round(total), "first_entry_execution": first, "head_execution": head,
            "by_contract": dict(table)}


def slot_labels(tour: str, token: str, entries: list[dict], rounds: tuple[int, ...]) -> dict[tuple[str, int], str]:
    """Names of the storage slots a settleAndStake touches (layouts: Tournament as above; strategy
    owner 0, operator 1, models 2; NMR balances 0, allowances 1)."""
    out: dict[tuple[str, int], str] = {
        ("tournament", PAUSE_SLOT): "_paused|_pauseEnd|_lock|_pool",
        ("strategy", 0): "owner", ("strategy", 1): "operator",
    }
    for e in entries:
        st = e["strategy"]
        out[("strategy", mapping_slot(e["model"], 2))] = "models[model]"
        out[("nmr", mapping_slot(bytes(12) + bytes.fromhex(st[2:]), 0))] = "balance[strategy]"
        allowances = mapping_slot(bytes(12) + bytes.fromhex(st[2:]), 1)
        out[("nmr", mapping_slot(bytes(12) + bytes.fromhex(tour[2:]), allowances))] = "allowance[strategy][tournament]"
        for k, rid in enumerate(rounds):
            out[("tournament", stake_slot(rid, e["model"], st))] = f"stake[r{k + 2}] (amount|commitment prefix)"
    out[("nmr", mapping_slot(bytes(12) + bytes.fromhex(tour[2:]), 0))] = "balance[tournament]"
    for k, rid in enumerate(rounds):
        for j in range(7):
            out[("tournament", round_slot(rid) + j)] = f"round[r{k + 2}] slot {j}"
    return out


def print_strategy_table(res: dict) -> None:
    """The strategy figures as a table (stderr: stdout stays one JSON object)."""
    shapes = res["shapes"]
    labels = list(shapes)
    w = 12

    def row(name, values, mark=""):
        cells = "".join(f"{v:>{w},}" if isinstance(v, int) else f"{v:>{w}}" for v in values)
        print(f"{name:<62}{cells}  {mark}", file=sys.stderr)

    per = {k: shapes[k]["per_model_round"] for k in labels}
    bat = {k: shapes[k]["batch"] for k in labels}
    goal, manual = res["goal_per_model_round"], res["manual_stake_plus_claim"]
    print(f"\nStrategies: gas per model entry of a batch of {N_BATCH} (gasUsed incl. 21,000 base, / {N_BATCH}); "
          f"rounds of {N_STAKES:,} stakes", file=sys.stderr)
    row("", [f"{shapes[k]['strategies']}x{shapes[k]['models_per_strategy']}" for k in labels])
    row("stakeMany, first stake of each model", [per[k]["stake_many"] for k in labels])
    row("settleAndStakeMany, round settled before (steady state)", [per[k]["settle_and_stake"] for k in labels],
        "<- one model-round")
    row("  + finalise of the round / 100", [per[k]["settle_and_stake_incl_finalise"] for k in labels])
    row("  lazy: the batch's first claim settles the round", [per[k]["settle_and_stake_lazy"] for k in labels])
    row("  round 1 -> 2 (round settled before)", [per[k]["settle_and_stake_r1"] for k in labels])
    row("settleMany, round settled before", [per[k]["settle"] for k in labels])
    row("  + finalise / 100", [per[k]["settle_incl_finalise"] for k in labels])
    row("  lazy", [per[k]["settle_lazy"] for k in labels])
    row("  of which calldata of a settleAndStake entry", [per[k]["calldata_settle_and_stake"] for k in labels])
    row("finalise (one per round)", [bat[k]["finalise"] for k in labels])
    row("factory.create (clone + initialize), median", [bat[k]["create"]["median"] for k in labels])
    row("goal per model-round", [goal] * len(labels))
    row("steady state - goal", [per[k]["settle_and_stake"] - goal for k in labels])
    row("manual stake_first + claim_median", [manual] * len(labels))
    row("  steady state / manual", [f"{per[k]['settle_and_stake'] / manual:.0%}" for k in labels])
    d = res["deploy"]
    print(f"deploy: StrategyFactory (with the implementation) {d['factory_with_implementation']:,}; "
          f"StrategyInvoker {d['invoker']:,}", file=sys.stderr)
    for k in labels:
        t = shapes[k]["trace"]
        print(f"\n{k}: where one steady-state settleAndStake entry goes (execution, mean of entries 2..{t['entries']} "
              f"of a traced batch; + calldata {per[k]['calldata_settle_and_stake']:,}; refunds "
              f"{t['refund'] // t['entries']:,} per entry)", file=sys.stderr)
        for who, kinds in t["by_contract"].items():
            total = sum(v[0] for v in kinds.values())
            parts = ", ".join(f"{kind} {v[0]:,}" + (f" ({v[1]:g}x)" if not kind.startswith("compute") else "")
                              for kind, v in sorted(kinds.items(), key=lambda kv: -kv[1][0]))
            print(f"  {who:<11}{total:>8,}  {parts}", file=sys.stderr)
        print(f"  {'total':<11}{t['entry_execution_mean']:>8,}", file=sys.stderr)


def strategy_section(rpc: Rpc, token, tour, owner, oracle, manager, funder, operator, rng: random.Random,
                     manual: dict) -> dict:
    from ape import chain, project

    t0 = time.time()
    # ape recompiles only changed files: after an edit of AllocationStrategy.sol alone, StrategyFactory
    # would still create clones of the old implementation it embeds.
    impl_code = project.AllocationStrategy.contract_type.deployment_bytecode.bytecode
    if impl_code[2:] not in project.StrategyFactory.contract_type.deployment_bytecode.bytecode:
        raise RuntimeError("StrategyFactory embeds an older AllocationStrategy: run `ape compile -f`")
    rpc.call("anvil_autoImpersonateAccount", [True])
    factory = operator.deploy(project.StrategyFactory, tour)
    invoker = operator.deploy(project.StrategyInvoker, operator)
    implementation = factory.implementation()
    deploy = {
        "factory_with_implementation": chain.provider.get_receipt(factory.txn_hash).gas_used,
        "invoker": chain.provider.get_receipt(invoker.txn_hash).gas_used,
    }
    out: dict = {"deploy": deploy, "shapes": {}}
    names = {tour.address: "tournament", token.address: "nmr", invoker.address: "invoker",
             implementation: "strategy"}

    def open_now(rid: int) -> int:
        now = chain.pending_timestamp
        params = (now, now + 3_600, now + 3_600, 5_000, 20_000, CLIP_BPS, 72_000 * NMR, 5_000 * NMR, NMR // 100)
        tour.openRound(rid, params, sender=manager)
        return now + 3_600

    def mint_many(pairs: list[tuple[str, int]]):
        """One mint per receiver, all from the minter: explicit nonces (requests may run concurrently)."""
        nonce = int(rpc.call("eth_getTransactionCount", [owner.address, "pending"]), 16)
        send_unsigned(rpc, [{"from": owner.address, "to": token.address, "nonce": hex(nonce + i),
                             "data": calldata("mint(address,uint256)", ["address", "uint256"], [to, amount])}
                            for i, (to, amount) in enumerate(pairs)])

    def close_and_post(rid: int, resolve: int, real: list[dict]) -> Tree:
        """Fills the round to N_STAKES stakes, funds it, posts a result and waits until it is Final."""
        # Small synthetic stakes: the supply cap (11M NMR) must hold every round of this run.
        syn = synthetic_stakes(rng, rid, N_STAKES - len(real), NMR // 100, 50 * NMR)
        inject(rpc, tour.address, rid, syn)
        token.mint(tour, sum(s["stake"] for s in syn), sender=owner)
        rd = tour.getRound(rid)
        assert rd.stakeCount == N_STAKES
        clipped = rd.totalStaked * CLIP_BPS // 10_000
        token.mint(funder, clipped, sender=owner)
        token.approve(tour, clipped, sender=funder)
        tour.fund(rid, clipped, sender=funder)
        everyone = real + syn
        while True:
            tree = results_for(rng, rid, everyone, CLIP_BPS)
            pay, burn = sum(s["payout"] for s in everyone), sum(s["burn"] for s in everyone)
            if pay <= clipped and burn <= clipped + N_STAKES:
                break
        if chain.pending_timestamp < resolve:
            chain.mine(timestamp=resolve)
        tour.postResult(rid, tree.root, pay, burn, N_STAKES, keccak(b"manifest" + word(rid)), sender=oracle)
        chain.mine(timestamp=chain.pending_timestamp + CHALLENGE + 1)
        return tree

    def read_stakes(rid: int, entries: list[dict]) -> list[dict]:
        res = []
        for e in entries:
            amount, prefix = tour.getStake(rid, e["model"], e["strategy"])
            assert amount > 0 and prefix == e["commitments"][rid][:20]
            res.append({"model": e["model"], "staker": e["strategy"], "stake": amount})
        return res

    def measured(fn, *args):
        snap = chain.snapshot()
        tx = fn(*args)
        chain.restore(snap)
        return tx

    next_round = tour.lastRoundId() + 1
    for label, n_strat, n_models in STRATEGY_SHAPES:
        t_shape = time.time()
        assert n_strat * n_models == N_BATCH
        owners = [to_checksum_address("0x" + keccak(b"strategy-owner" + label.encode() + word(i))[12:].hex())
                  for i in range(n_strat)]
        rpc.batch([("anvil_setBalance", [o, hex(100 * 10**18)]) for o in owners])
        rc = send_unsigned(rpc, [{"from": o, "to": factory.address,
                                  "data": calldata("create(address)", ["address"], [invoker.address])}
                                 for o in owners])
        create_gas = sorted(int(r["gasUsed"], 16) for r in rc)
        strategies = [factory.strategyOf(o) for o in owners]
        entries, deposits = [], []
        for i, st in enumerate(strategies):
            total = 0
            for j in range(n_models):
                per_round = rng.randint(5, 50) * NMR
                total += per_round
                entries.append({"strategy": st, "owner": owners[i], "model": model_id(f"{label}_s{i}_m{j}"),
                                "perRound": per_round, "mode": FIXED if (i * n_models + j) % 2 == 0 else COMPOUND,
                                "commitments": {}})
            deposits.append(total * 10)
        mint_many(list(zip(owners, deposits)))
        send_unsigned(rpc, [{"from": o, "to": token.address,
                             "data": calldata("approve(address,uint256)", ["address", "uint256"], [st, d])}
                            for o, st, d in zip(owners, strategies, deposits)])
        send_unsigned(rpc, [{"from": o, "to": st, "data": calldata("deposit(uint256)", ["uint256"], [d])}
                            for o, st, d in zip(owners, strategies, deposits)])
        for j in range(n_models):  # one request per model index: each owner once per request
            send_unsigned(rpc, [{"from": e["owner"], "to": e["strategy"],
                                 "data": calldata("setModel(bytes32,uint256,uint8)", ["bytes32", "uint256", "uint8"],
                                                  [e["model"], e["perRound"], e["mode"]])}
                                for e in entries[j::n_models]])
        setup_s = time.time() - t_shape
        r1, r2, r3 = next_round, next_round + 1, next_round + 2
        next_round += 3
        for e in entries:
            for rid in (r1, r2, r3):
                e["commitments"][rid] = keccak(b"predictions" + e["model"] + e["strategy"].encode() + word(rid))
        g: dict = {"create": {"median": int(statistics.median(create_gas)), "min": create_gas[0],
                              "max": create_gas[-1], "n": len(create_gas)}}

        def stake_calls(rid, entries=entries):
            return [(e["strategy"], rid, e["model"], e["commitments"][rid]) for e in entries]

        def settle_calls(rid, tree, stakes, entries=entries):
            return [(e["strategy"], rid, e["model"], s["payout"], s["burn"], tree.proof(k))
                    for k, (e, s) in enumerate(zip(entries, stakes))]

        def sas_calls(rid, tree, stakes, nxt, entries=entries):
            return [(e["strategy"], rid, e["model"], s["payout"], s["burn"], tree.proof(k), nxt, e["commitments"][nxt])
                    for k, (e, s) in enumerate(zip(entries, stakes))]

        def batch(method, calls):
            tx = getattr(invoker, method)(calls, sender=operator, gas=BATCH_GAS)
            check_batch(invoker, tx, len(calls))
            return tx

        # Round 1: first stakes.
        resolve1 = open_now(r1)
        tx = batch("stakeMany", stake_calls(r1))
        g["stake_many"] = tx.gas_used
        g["stake_many_calldata_bytes"] = len(tx.transaction.data)
        stakes1 = read_stakes(r1, entries)
        tree1 = close_and_post(r1, resolve1, stakes1)

        # Round 1 -> 2: settle and restake; lazily settled round vs finalise first.
        resolve2 = open_now(r2)
        calls = sas_calls(r1, tree1, stakes1, r2)
        g["settle_and_stake_many_r1_lazy"] = measured(batch, "settleAndStakeMany", calls).gas_used
        g["finalise_r1"] = tour.finalise(r1, sender=oracle).gas_used
        g["settle_and_stake_many_r1"] = batch("settleAndStakeMany", calls).gas_used
        stakes2 = read_stakes(r2, entries)
        tree2 = close_and_post(r2, resolve2, stakes2)

        # Round 2 -> 3: the steady state, every variant from the same chain state.
        resolve3 = open_now(r3)
        calls = sas_calls(r2, tree2, stakes2, r3)
        scalls = settle_calls(r2, tree2, stakes2)
        g["settle_and_stake_many_lazy"] = measured(batch, "settleAndStakeMany", calls).gas_used
        g["settle_many_lazy"] = measured(batch, "settleMany", scalls).gas_used
        g["finalise"] = tour.finalise(r2, sender=oracle).gas_used
        g["settle_many"] = measured(batch, "settleMany", scalls).gas_used
        snap = chain.snapshot()
        small = batch("settleAndStakeMany", calls[:N_TRACE])
        tr = trace_breakdown(rpc, small.txn_hash, {**names, **{s: "strategy" for s in strategies}},
                             slot_labels(tour.address, token.address, entries[:N_TRACE], (r2, r3)),
                             bytes(small.transaction.data), small.gas_used)
        chain.restore(snap)
        tx = batch("settleAndStakeMany", calls)
        g["settle_and_stake_many"] = tx.gas_used
        g["settle_and_stake_many_calldata_bytes"] = len(tx.transaction.data)
        g["settle_and_stake_many_intrinsic"] = intrinsic_gas(bytes(tx.transaction.data))
        stakes3 = read_stakes(r3, entries)
        tree3 = close_and_post(r3, resolve3, stakes3)

        # Round 3: settle the last stakes; every strategy then holds deposit + payouts - burns.
        tour.finalise(r3, sender=oracle)
        g["settle_many_r3"] = batch("settleMany", settle_calls(r3, tree3, stakes3)).gas_used
        for i, st in enumerate(strategies):
            mine = [k for k, e in enumerate(entries) if e["strategy"] == st]
            expect = deposits[i] + sum(ss[k]["payout"] - ss[k]["burn"] for ss in (stakes1, stakes2, stakes3)
                                       for k in mine)
            assert token.balanceOf(st) == expect, (st, token.balanceOf(st), expect)
        for k, e in enumerate(entries):
            if e["mode"] == COMPOUND:  # round 3 staked perRound + net of rounds 1 and 2
                net = sum(ss[k]["payout"] - ss[k]["burn"] for ss in (stakes1, stakes2))
                assert stakes3[k]["stake"] == e["perRound"] + net
            else:
                assert stakes3[k]["stake"] == e["perRound"]

        per = {
            "stake_many": g["stake_many"] // N_BATCH,
            "settle_and_stake": g["settle_and_stake_many"] // N_BATCH,
            "settle_and_stake_incl_finalise": (g["settle_and_stake_many"] + g["finalise"]) // N_BATCH,
            "settle_and_stake_lazy": g["settle_and_stake_many_lazy"] // N_BATCH,
            "settle_and_stake_r1": g["settle_and_stake_many_r1"] // N_BATCH,
            "settle": g["settle_many"] // N_BATCH,
            "settle_incl_finalise": (g["settle_many"] + g["finalise"]) // N_BATCH,
            "settle_lazy": g["settle_many_lazy"] // N_BATCH,
            "calldata_settle_and_stake": (g["settle_and_stake_many_intrinsic"] - 21_000) // N_BATCH,
        }
        out["shapes"][label] = {"strategies": n_strat, "models_per_strategy": n_models, "batch": g,
                                "per_model_round": per, "trace": summarize_trace(tr) | {
                                    "entries": N_TRACE, "steps": tr["steps"], "gas_used": tr["gas_used"],
                                    "intrinsic": tr["intrinsic"], "execution": tr["execution"],
                                    "refund": tr["refund"]},
                                "trace_detail_entry2": tr["detail"][2],
                                "seconds": {"setup": round(setup_s, 1), "total": round(time.time() - t_shape, 1)}}
    rpc.call("anvil_autoImpersonateAccount", [False])
    out["notes"] = (
        f"Per model-round = gasUsed of a batch of {N_BATCH} entries / {N_BATCH} (the 21,000 base shared). Rounds "
        f"hold {N_STAKES:,} stakes (the batch + synthetic ones in storage), so proofs have the manual claims' depth. "
        "settle_and_stake: claim round r into the strategy and stake round r+1, the round settled beforehand by "
        "`finalise` (anyone, once per round: + finalise/100 in settle_and_stake_incl_finalise); settle_and_stake_lazy: "
        "the round not settled, so the batch's first claim pays the settlement (Tournament._finalRound). Every "
        "variant is measured from the same chain state (snapshot/revert). stake_many: each model's first stake. "
        "trace: a batch of the first entries traced step by step; by_contract = storage context (strategy = "
        "clone + implementation), mean gas and count per entry of entries 2.. (all warm shared state); "
        "execution only, before refunds and without calldata. manual_stake_plus_claim = stake_first + "
        "claim_median of this run (the approve before stake_first not counted)."
    )
    out["contracts_sha256"] = {  # the sources measured (12 hex digits each)
        f: hashlib.sha256((ROOT / "contracts" / f).read_bytes()).hexdigest()[:12]
        for f in ("Tournament.sol", "AllocationStrategy.sol", "StrategyFactory.sol", "StrategyInvoker.sol")
    }
    out["goal_per_model_round"] = GOAL_PER_MODEL_ROUND
    out["manual_stake_plus_claim"] = manual["stake_first"] + manual["claim_median"]
    out["manual_stake_plus_claim_recipient_holds_nmr"] = (
        manual["stake_first"] + manual["claim_median_recipient_holds_nmr"])
    out["seconds"] = round(time.time() - t0, 1)
    return out


# ---------------------------------------------------------------- oracle committee: M-of-N signed postings

COMMITTEE_SHAPES = ((1, 1), (3, 2), (5, 3), (7, 5))  # (N members, threshold M)
GOAL_COMMITTEE_3_OF_5 = 130_000


def committee_keys(n: int) -> list:
    """`n` deterministic member keys, sorted by address (the order the contract wants)."""
    keys = [Account.from_key(keccak(f"bench-committee:{i}".encode())) for i in range(n)]
    return sorted(keys, key=lambda a: int(a.address, 16))


def committee_section(project, chain, token, owner, oracle, manager, funder, stakers, submitter) -> dict:
    """Gas of a result posted by M of N committee signatures against ORACLE_ROLE's `postResult`
    of an identical round of the same contract (two stakes, funded; every posting touches the
    round's slots cold, as in production)."""
    min_stake, cap = NMR // 100, 5_000 * NMR
    for a in stakers:
        token.mint(a, 10_000 * NMR, sender=owner)
    token.mint(funder, 1_000 * NMR, sender=owner)
    out: dict = {"shapes": {}}
    for n, m in COMMITTEE_SHAPES:
        keys = committee_keys(n)
        tour = owner.deploy(project.CommitteeTournament, token, owner, 86_400, CHALLENGE, GRACE, MAX_PAUSE,
                            [k.address for k in keys], m)
        tour.grantRole(tour.MANAGER_ROLE(), manager, sender=owner)
        tour.grantRole(tour.ORACLE_ROLE(), oracle, sender=owner)
        for a in (*stakers, funder):
            token.approve(tour, 2**256 - 1, sender=a)
        now = chain.pending_timestamp
        params = (now, now + 3_600, now + 7_200, 5_000, 20_000, CLIP_BPS, 72_000 * NMR, cap, min_stake)
        postings = []
        for rid in (1, 2):
            tour.openRound(rid, params, sender=manager)
            leaves, payout, burn = [], 3 * NMR, 4 * NMR
            for k, (acct, name, amount) in enumerate(((stakers[0], "alpha", 100 * NMR),
                                                      (stakers[1], "bravo", 300 * NMR))):
                mid = model_id(name)
                tour.stake(rid, mid, amount, keccak(name.encode() + word(rid)), sender=acct)
                leaves.append(leaf_hash([rid, mid, acct.address, amount, payout if k == 0 else 0,
                                         burn if k == 1 else 0]))
            tour.fund(rid, 20 * NMR, sender=funder)
            postings.append((rid, Tree(leaves).root, payout, burn, 2, keccak(b"manifest" + word(rid))))
        chain.mine(timestamp=now + 7_200)
        by_oracle = tour.postResult(*postings[0], sender=oracle)
        epoch = tour.committeeEpoch()
        digest = bytes(tour.attestationDigest(*postings[1], epoch))
        signatures = b""
        for k in keys[:m]:
            sig = Account.unsafe_sign_hash(digest, k.key)
            signatures += word(sig.r) + word(sig.s) + bytes([sig.v])
        signed = tour.postResultSigned(*postings[1], signatures, sender=submitter)
        attested = signed.decode_logs(tour.ResultAttested)
        assert attested and attested[0].signers == (1 << m) - 1, attested
        assert tour.getRound(1).root == postings[0][1] and tour.getRound(2).root == postings[1][1]
        # The layout's calldata cost, exactly: packed `bytes` (this contract) against a `bytes[]` of
        # one 65-byte signature per element (the same values ABI-encoded the other way).
        head_types = ["uint256", "bytes32", "uint256", "uint256", "uint256", "bytes32"]
        packed = intrinsic_gas(bytes(4) + encode([*head_types, "bytes"], [*postings[1], signatures]))
        as_array = intrinsic_gas(bytes(4) + encode(
            [*head_types, "bytes[]"], [*postings[1], [signatures[i:i + 65] for i in range(0, len(signatures), 65)]]))
        out["shapes"][f"{m}of{n}"] = {
            "members": n, "threshold": m,
            "post_result_signed": signed.gas_used,
            "post_result_same_contract": by_oracle.gas_used,
            "extra_over_post_result": signed.gas_used - by_oracle.gas_used,
            "signature_bytes": len(signatures),
            "calldata_gas_packed": packed - 21_000,
            "calldata_gas_bytes_array": as_array - 21_000,
        }
    shapes = out["shapes"]
    first, last = shapes["1of1"], shapes["5of7"]
    out["per_signature"] = (last["post_result_signed"] - first["post_result_signed"]) // (5 - 1)
    out["goal_3of5"] = GOAL_COMMITTEE_3_OF_5
    out["goal_3of5_met"] = shapes["3of5"]["post_result_signed"] <= GOAL_COMMITTEE_3_OF_5
    out["contracts_sha256"] = {
        f: hashlib.sha256((ROOT / "contracts" / f).read_bytes()).hexdigest()[:12]
        for f in ("Tournament.sol", "OracleCommittee.sol", "CommitteeTournament.sol")
    }
    out["notes"] = (
        "gasUsed incl. 21,000 base and calldata. post_result_signed: exactly M signatures (the first M members "
        "by address), packed r|s|v, 65 bytes each, submitted by an account without any role; "
        "post_result_same_contract: ORACLE_ROLE's postResult of an identical round on the same CommitteeTournament "
        "(2 stakes; posting costs the same for 10,000: see post_result). per_signature: (5-of-7 - 1-of-1) / 4. "
        "calldata_gas_*: the intrinsic calldata gas of the call (4-byte selector counted as zeros) with the "
        "signatures packed in one `bytes` (as the contract takes them) and, for comparison, as a `bytes[]`."
    )
    return out


def print_committee_table(res: dict) -> None:
    print("\nOracle committee: gas of a posting (gasUsed incl. 21,000 base)", file=sys.stderr)
    print(f"{'':<10}{'signed':>12}{'postResult':>12}{'extra':>10}{'sig bytes':>11}", file=sys.stderr)
    for label, r in res["shapes"].items():
        print(f"{label:<10}{r['post_result_signed']:>12,}{r['post_result_same_contract']:>12,}"
              f"{r['extra_over_post_result']:>10,}{r['signature_bytes']:>11}", file=sys.stderr)
    print(f"per signature {res['per_signature']:,}; goal 3-of-5 <= {res['goal_3of5']:,}: "
          f"{'met' if res['goal_3of5_met'] else 'MISSED'}", file=sys.stderr)


def main() -> dict:
    from ape import accounts, chain, networks, project
    from ape.logging import logger

    logger.set_level("ERROR")  # stdout: the JSON only

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

        # Check the storage layout assumption against the real stakes and the free lock.
        assert (rpc.storage(tour.address, PAUSE_SLOT) >> LOCK_SHIFT) & 0xFF == 1
        for s in real:
            slot = stake_slot(big, s["model"], s["staker"])
            assert rpc.storage(tour.address, slot) == stake_word(s["stake"], s["commitment"])
            assert rpc.storage(tour.address, slot + 1) == 0

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
        gas["strategies"] = strategy_section(rpc, token, tour, owner, oracle, manager, funder, acc[9], rng, gas)
        gas["committee"] = committee_section(project, chain, token, owner, oracle, manager, funder, (a1, a2),
                                             submitter)
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
    import argparse

    # No options: --help prints the description instead of starting the 3-minute run.
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    result = main()
    text = json.dumps(result, indent=2)
    print_strategy_table(result["strategies"])
    print_committee_table(result["committee"])
    print(text)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text + "\n")
