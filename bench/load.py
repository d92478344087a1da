"""Load benchmark on a real Anvil: many participants stake into overlapping rounds from concurrent
processes, the oracle resolves every round, everyone claims concurrently, and the books must balance.

    python bench/load.py [--participants 1000] [--rounds 5] [--workers 4] [--rows 500]
                         [--seed 1] [--out bench/results/load.json]

Run from the repository root with the virtualenv active. Phases (each timed):

1. chain:      a fresh Anvil through ape-foundry (`nmrstake.localchain.anvil_provider()`).
2. setup:      deploy NMR and the Tournament (`nmrstake.deploy.deploy`), open the rounds (all open at
               once, closing an hour apart: they overlap), fund each round.
3. fund:       N participant keys derived from the seed; ether with `anvil_setBalance` (batched
               JSON-RPC), NMR with one `mint` each, signed locally and sent without waiting for
               receipts (batched), then every receipt checked.
4. stake:      `--workers` processes (raw JSON-RPC + eth_account, no ape): each puts its
               participants' predictions files (`nmrstake.synth.generate`, a file per model and
               round) straight into the service's submission store (the upload path over HTTP is
               bench/service.py's to measure), signs an EIP-2612 permit per stake
               (nonces counted per participant) and sends `stakeWithPermit` for every round.
5. resolve:    time moves past every resolve time, targets are delivered, the oracle
               (`nmrstake.oracle.Oracle(...).tick()`, in this process) scores, publishes and posts.
6. finalise:   time moves past the challenge period; the oracle's next tick finalises (burns).
7. claim:      the workers again: each participant sends one `claimMany` over its stakes, with the
               proofs of the published results (`nmrstake.results.read.load_published`).
8. books:      per round claimed == staked - burned + paid, the contract holds exactly the pool,
               totalSupply fell by exactly the burns, and every participant holds exactly
               minted - staked + (stake - burn + payout) over its stakes.

Prints one JSON object and writes it to --out. Exits 1 if anything failed or the books do not balance.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "load.json"

WEI = 10**18
HOUR = 3600
DAY = 24 * HOUR
STAKE_WINDOW = DAY  # every round stays open at least this long (plus an hour per round: overlap)
FUNDING = 2_000 * WEI  # per round
GAS_PRICE = {"maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 10**9}
BATCH = 100  # JSON-RPC requests per HTTP batch

SEL_MINT = keccak(b"mint(address,uint256)")[:4]
SEL_STAKE_WITH_PERMIT = keccak(b"stakeWithPermit(uint256,bytes32,uint256,bytes32,uint256,uint8,bytes32,bytes32)")[:4]
SEL_CLAIM_MANY = keccak(b"claimMany((uint256,bytes32,address,uint256,uint256,bytes32[])[])")[:4]
SEL_NONCES = keccak(b"nonces(address)")[:4]
SEL_BALANCE_OF = keccak(b"balanceOf(address)")[:4]


# ---------------------------------------------------------------------------------------- JSON-RPC


class Rpc:
    """Plain JSON-RPC over one HTTP session, with batches (Anvil answers a batch in one request)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.session = requests.Session()
        self._id = 0

    def call(self, method: str, params: list[Any]) -> Any:
        [out] = self.batch([(method, params)])
        return out

    def batch(self, calls: list[tuple[str, list[Any]]], *, errors_ok: bool = False) -> list[Any]:
        """Results in order; an error raises unless `errors_ok` (then it is returned as an Exception)."""
        results: list[Any] = []
        for start in range(0, len(calls), BATCH):
            chunk = calls[start:start + BATCH]
            payload = []
            for method, params in chunk:
                self._id += 1
                payload.append({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
            reply = self.session.post(self.uri, json=payload, timeout=120)
            reply.raise_for_status()
            by_id = {r["id"]: r for r in reply.json()}
            for p in payload:
                r = by_id[p["id"]]
                if "error" in r:
                    err = RuntimeError(f"{p['method']}: {r['error']}")
                    if not errors_ok:
                        raise err
                    results.append(err)
                else:
                    results.append(r["result"])
        return results

    def send_raw(self, raws: list[bytes]) -> tuple[list[str], int]:
        """Send signed transactions; returns the hashes of those accepted and how many were refused."""
        out = self.batch([("eth_sendRawTransaction", ["0x" + r.hex()]) for r in raws], errors_ok=True)
        hashes = [h for h in out if isinstance(h, str)]
        for h in out:
            if not isinstance(h, str):
                print(f"refused: {h}", file=sys.stderr)
        return hashes, len(out) - len(hashes)

    def wait_receipts(self, hashes: list[str], timeout: float = 300) -> tuple[int, int, int]:
        """Wait until every transaction has a receipt; returns (succeeded, reverted, gas used)."""
        pending, ok, failed, gas = list(hashes), 0, 0, 0
        deadline = time.monotonic() + timeout
        while pending:
            receipts = self.batch([("eth_getTransactionReceipt", [h]) for h in pending])
            still = []
            for h, r in zip(pending, receipts):
                if r is None:
                    still.append(h)
                elif int(r["status"], 16) == 1:
                    ok += 1
                    gas += int(r["gasUsed"], 16)
                else:
                    failed += 1
                    print(f"reverted: {h}", file=sys.stderr)
            pending = still
            if pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(pending)} transactions without a receipt after {timeout:.0f} s")
                time.sleep(0.05)
        return ok, failed, gas

    def eth_call(self, to: str, data: bytes) -> list[Any]:
        return self.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])

    def uint_calls(self, to: str, datas: list[bytes]) -> list[int]:
        out = self.batch([("eth_call", [{"to": to, "data": "0x" + d.hex()}, "latest"]) for d in datas])
        return [int(x, 16) for x in out]


def sign_tx(account: Any, chain_id: int, nonce: int, to: str, data: bytes, gas: int) -> bytes:
    """`account`: an eth_account LocalAccount (its public key is derived once, not per signature)."""
    tx = {"type": 2, "chainId": chain_id, "nonce": nonce, "to": to, "value": 0, "data": data, "gas": gas, **GAS_PRICE}
    return bytes(account.sign_transaction(tx).raw_transaction)


# ---------------------------------------------------------------------------------------- participants


def stake_with_permit_tx(key: Any, chain_id: int, nonce: int, tournament: str, permit_domain: dict[str, Any],
                         permit_nonce: int, round_id: int, model: str, amount: int, commitment: bytes,
                         deadline: int) -> bytes:
    """A signed `stakeWithPermit` transaction: the EIP-2612 permit and the stake in one."""
    from eth_account.messages import encode_typed_data

    from nmrstake.permit import PERMIT_TYPES

    message = {"owner": key.address, "spender": tournament, "value": amount, "nonce": permit_nonce,
               "deadline": deadline}
    signed = key.sign_message(encode_typed_data(domain_data=permit_domain, message_types=PERMIT_TYPES,
                                                message_data=message))
    call = SEL_STAKE_WITH_PERMIT + encode(
        ["uint256", "bytes32", "uint256", "bytes32", "uint256", "uint8", "bytes32", "bytes32"],
        [round_id, model_id(model), amount, commitment, deadline, signed.v,
         signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")])
    return sign_tx(key, chain_id, nonce, tournament, call, 300_000)


def participant_key(seed: int, index: int) -> bytes:
    """A deterministic private key (valid secp256k1 scalar with overwhelming probability)."""
    return keccak(f"nmrstake-load/{seed}/{index}".encode())


def stake_amounts(seed: int, participants: int, rounds: int) -> list[list[int]]:
    """Stake of participant i in round r: 0.01 .. 100 NMR in steps of 0.001 (deterministic)."""
    import numpy as np

    rng = np.random.default_rng([seed, 7])
    return (rng.integers(10, 100_000, size=(participants, rounds)).astype(object) * 10**15).tolist()


def model_id(name: str) -> bytes:
    return name.encode().ljust(32, b"\0")


# ---------------------------------------------------------------------------------------- worker jobs


def _worker_init() -> None:
    # Two cores: keep numpy/BLAS to one thread per worker.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def stake_job(job: dict[str, Any]) -> dict[str, Any]:
    """One worker: write predictions files and stake with permits for a slice of participants."""
    import numpy as np

    from nmrstake.signing import DeliveryReceipt
    from nmrstake.submissions import SubmissionStore
    from nmrstake.synth import generate

    t0 = time.perf_counter()
    rpc = Rpc(job["uri"])
    chain_id, tournament, token = job["chain_id"], job["tournament"], job["token"]
    rounds, indices, n = job["rounds"], job["indices"], job["participants"]
    keys = {i: Account.from_key(participant_key(job["seed"], i)) for i in indices}
    addresses = {i: job["addresses"][i] for i in indices}
    assert all(keys[i].address == addresses[i] for i in indices)
    # Per participant: its transaction nonce and its permit nonce, counted locally from here on.
    tx_nonce = dict(zip(indices, (int(x, 16) for x in rpc.batch(
        [("eth_getTransactionCount", [addresses[i], "latest"]) for i in indices]))))
    permit_nonce = dict(zip(indices, rpc.uint_calls(token, [SEL_NONCES + encode(["address"], [addresses[i]]) for i in indices])))

    files, sent, refused = 0, 0, 0
    hashes: list[str] = []
    prepare = 0.0
    for r_pos, rid in enumerate(rounds):
        t_round = time.perf_counter()
        raws: list[bytes] = []
        data = generate(rows=job["rows"], models=n, seed=job["seed"], round_index=rid)
        ids = [str(x) for x in data.predictions.index]
        store = SubmissionStore(Path(job["store"]))
        for i in indices:
            name = data.model_names[i]
            values = data.predictions[name].to_numpy(dtype=np.float64).tolist()
            raw = ("id,prediction\n" + "".join(f"{a},{v!r}\n" for a, v in zip(ids, values))).encode()
            commitment = keccak(raw)
            with store.staging() as staged:  # as the service stores an accepted upload
                staged.write_bytes(raw)
                store.store(staged, round_id=rid, model=name, staker=addresses[i], file_hash=commitment,
                            extension=".csv", received_at=job["received_at"],
                            authorisation=keccak(b"bench/load" + rid.to_bytes(32, "big") + model_id(name)
                                                 + bytes.fromhex(addresses[i][2:])),
                            signature="0x", receipt=DeliveryReceipt(addresses[i], rid, name, commitment,
                                                                    job["received_at"]))
            files += 1
            raws.append(stake_with_permit_tx(keys[i], chain_id, tx_nonce[i], tournament, job["domain"],
                                             permit_nonce[i], rid, name, job["amounts"][i][r_pos], commitment,
                                             job["deadline"]))
            permit_nonce[i] += 1
            tx_nonce[i] += 1
        prepare += time.perf_counter() - t_round
        # Each round's transactions go out as soon as they are signed: the node mines them while
        # the next round's are prepared. A participant's nonces rise round after round.
        accepted, bad = rpc.send_raw(raws)
        hashes += accepted
        sent += len(raws)
        refused += bad
    ok, reverted, gas = rpc.wait_receipts(hashes)
    return {"sent": sent, "ok": ok, "failed": refused + reverted, "gas": gas, "files": files,
            "prepare_s": prepare, "total_s": time.perf_counter() - t0}


def claim_job(job: dict[str, Any]) -> dict[str, Any]:
    """One worker: every participant of the slice claims all its stakes in one claimMany."""
    rpc = Rpc(job["uri"])
    chain_id, tournament = job["chain_id"], job["tournament"]
    claims: dict[int, list[tuple[Any, ...]]] = {int(k): v for k, v in job["claims"].items()}
    indices = sorted(claims)
    keys = {i: Account.from_key(participant_key(job["seed"], i)) for i in indices}
    addresses = {i: job["addresses"][i] for i in indices}
    nonces = [int(x, 16) for x in rpc.batch([("eth_getTransactionCount", [addresses[i], "latest"]) for i in indices])]
    t0 = time.perf_counter()
    raws = []
    for i, nonce in zip(indices, nonces):
        entries = [(rid, bytes.fromhex(mid[2:]), staker, payout, burn, [bytes.fromhex(p[2:]) for p in proof])
                   for rid, mid, staker, payout, burn, proof in claims[i]]
        call = SEL_CLAIM_MANY + encode(["(uint256,bytes32,address,uint256,uint256,bytes32[])[]"], [entries])
        raws.append(sign_tx(keys[i], chain_id, nonce, tournament, call, 150_000 + 80_000 * len(entries)))
    prepare = time.perf_counter() - t0
    hashes, refused = rpc.send_raw(raws)
    ok, reverted, gas = rpc.wait_receipts(hashes)
    return {"sent": len(raws), "ok": ok, "failed": refused + reverted, "gas": gas,
            "claims": sum(len(c) for c in claims.values()), "prepare_s": prepare, "total_s": time.perf_counter() - t0}


def chain_blocks(rpc: Rpc) -> dict[str, Any]:
    """How the node packed the transactions so far: blocks, most transactions in one block, base fee."""
    head = int(rpc.call("eth_blockNumber", []), 16)
    blocks = rpc.batch([("eth_getBlockByNumber", [hex(b), False]) for b in range(head + 1)])
    per_block = [len(b["transactions"]) for b in blocks]
    return {"blocks": head + 1, "max_txs_per_block": max(per_block),
            "base_fee_wei": int(blocks[-1].get("baseFeePerGas", "0x0"), 16),
            "max_base_fee_wei": max(int(b.get("baseFeePerGas", "0x0"), 16) for b in blocks)}


def split(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[k::parts] for k in range(parts) if items[k::parts]]


# ---------------------------------------------------------------------------------------- main


@contextmanager
def own_anvil(mode: str) -> Iterator[int | None]:
    """`own`: start the npm `anvil` on a free port (ape's test mnemonic, ape-foundry's fee settings,
    no `--steps-tracing`), which ape-foundry then joins; yields its port. `ape`: ape-foundry starts
    its own (with step tracing); yields None."""
    if mode == "ape":
        yield None
        return
    from nmrstake.localchain import TEST_MNEMONIC, find_executable, free_port, node_process

    port = free_port()
    cmd = [find_executable("anvil"), "--port", str(port), "--mnemonic", TEST_MNEMONIC, "--accounts", "10",
           "--balance", "1000000", "--block-base-fee-per-gas", "0", "--gas-price", "0", "--silent"]
    with node_process(cmd, port, "anvil"):
        yield port


def fund_participants(rpc: Rpc, provider: Any, owner: Any, chain_id: int, token: str, addresses: list[str],
                      minted: list[int]) -> tuple[int, int]:
    """Ether by `anvil_setBalance` and NMR by one `mint` each (signed locally, sent in batches, every
    receipt checked); returns (transactions sent, failures)."""
    rpc.batch([("anvil_setBalance", [a, hex(10 * WEI)]) for a in addresses])
    owner_key = Account.from_key(str(owner.private_key))
    nonce = provider.get_nonce(owner.address)
    raws = [sign_tx(owner_key, chain_id, nonce + i, token, SEL_MINT + encode(["address", "uint256"], [a, m]), 120_000)
            for i, (a, m) in enumerate(zip(addresses, minted))]
    hashes, refused = rpc.send_raw(raws)
    _, reverted, _ = rpc.wait_receipts(hashes)
    return len(raws), refused + reverted


def phase_clock(seconds: dict[str, float], label: str) -> Any:
    """`phase(name)` records the seconds since the previous call (or since now) under `name`."""
    clock = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 2)
        clock = now
        print(f"[{label}] {name}: {seconds[name]:.1f} s", file=sys.stderr, flush=True)

    return phase


def time_method(owner: Any, name: str, label: str, seconds: dict[str, float]) -> None:
    """Add the time spent in `owner.name` to `seconds[label]` (measurement only)."""
    inner = getattr(owner, name)

    def timed(*a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return inner(*a, **k)
        finally:
            seconds[label] += time.perf_counter() - t0

    setattr(owner, name, timed)


def time_oracle(oracle: Any) -> dict[str, float]:
    """Seconds the oracle spends reading stakes from the chain, evaluating, publishing, sending
    (wrappers for measurement only; the oracle's behaviour is unchanged)."""
    import nmrstake.oracle as module

    seconds: dict[str, float] = defaultdict(float)

    def wrap(owner: Any, name: str, label: str) -> None:
        time_method(owner, name, label, seconds)

    wrap(oracle.client, "stakes_at_close", "read_stakes")
    wrap(module, "evaluate_round", "evaluate")
    wrap(module, "publish_round", "publish")
    wrap(oracle, "_send", "send_and_wait")
    return seconds


def advance_to(timestamp: int) -> None:
    from ape import chain

    if chain.pending_timestamp < timestamp:
        chain.pending_timestamp = timestamp
    chain.mine(1)


def run(args: argparse.Namespace, seconds: dict[str, float]) -> dict[str, Any]:
    """The whole benchmark; `seconds` receives each phase's time as it ends."""
    from ape.logging import logger

    from nmrstake.chain.connect import load_project

    logger.set_level("ERROR")
    load_project().load_contracts()  # compile (cached) before the clock starts
    phase = phase_clock(seconds, "load")
    work = Path(tempfile.mkdtemp(prefix="nmrstake-load-"))
    try:
        return _run(args, seconds, phase, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, seconds: dict[str, float], phase: Any, work: Path) -> dict[str, Any]:
    from ape import accounts, chain

    from nmrstake.chain.connect import load_project
    from nmrstake.daemon import EventLog
    from nmrstake.deploy import TournamentSettings, deploy
    from nmrstake.localchain import anvil_provider
    from nmrstake.oracle import Oracle
    from nmrstake.permit import permit_domain
    from nmrstake.results.layout import DataLayout
    from nmrstake.results.read import load_published
    from nmrstake.rounds import RoundSpec, fund_round, open_round
    from nmrstake.synth import generate
    from nmrstake.tournament import RoundState, TournamentClient

    n, n_rounds = args.participants, args.rounds
    txs: dict[str, int] = {}
    failures: dict[str, int] = defaultdict(int)
    project = load_project()
    layout = DataLayout(work / "data")
    ctx = mp.get_context("spawn")
    with own_anvil(args.anvil) as port, anvil_provider(port) as provider, \
            ctx.Pool(args.workers, initializer=_worker_init) as pool:
        uri = os.environ["APE_FOUNDRY_HOST"]
        rpc = Rpc(uri)
        chain_id = int(provider.chain_id)
        owner, oracle_acct, funder = accounts.test_accounts[0], accounts.test_accounts[1], accounts.test_accounts[2]
        phase("chain")

        # ---- setup: deploy, open overlapping rounds, fund them
        settings = TournamentSettings(challenge_period=HOUR, grace_period=3 * DAY, admin_delay=HOUR, max_pause=HOUR)
        nonces0 = {a.address: provider.get_nonce(a.address) for a in (owner, funder)}
        dep, _ = deploy(project, owner, directory=work / "deployments", force=True, oracle=oracle_acct.address,
                        settings=settings, log=lambda m: None)
        client = TournamentClient(project, dep)
        tournament, token = client.tournament.address, client.token.address
        round_ids = list(range(1, n_rounds + 1))
        t0 = int(chain.pending_timestamp) + 5
        for k, rid in enumerate(round_ids):
            open_round(client, owner, RoundSpec(round_id=rid, open_in=0, close_after=STAKE_WINDOW + k * HOUR,
                                                resolve_after=HOUR, stake_cap=1_000 * WEI, min_stake=WEI // 100),
                       start=t0)
        client.token.mint(funder, FUNDING * n_rounds, sender=owner)
        for rid in round_ids:
            fund_round(client, funder, rid, FUNDING)
        advance_to(t0)  # every round is open from here on
        txs["setup"] = sum(provider.get_nonce(a) - n0 for a, n0 in nonces0.items())
        phase("setup")

        # ---- fund the participants: ether by anvil_setBalance, NMR by mint transactions
        amounts = stake_amounts(args.seed, n, n_rounds)
        addresses = [Account.from_key(participant_key(args.seed, i)).address for i in range(n)]
        minted = [sum(a) + WEI for a in amounts]  # one NMR more than the stakes need
        txs["mint"], failed = fund_participants(rpc, provider, owner, chain_id, token, addresses, minted)
        failures["mint"] += failed
        balances = rpc.uint_calls(token, [SEL_BALANCE_OF + encode(["address"], [a]) for a in addresses])
        failures["mint"] += sum(b != m for b, m in zip(balances, minted))
        phase("fund_participants")

        # ---- stake from concurrent processes
        deadline = int(chain.pending_timestamp) + STAKE_WINDOW
        domain = permit_domain(client.token)
        common = {"uri": uri, "chain_id": chain_id, "tournament": tournament, "token": token, "seed": args.seed,
                  "participants": n, "rounds": round_ids, "rows": args.rows, "deadline": deadline, "domain": domain,
                  "store": str(layout.store().open_for_writing(clean=True).root),
                  "received_at": int(chain.pending_timestamp)}
        jobs = [{**common, "indices": part, "amounts": {i: amounts[i] for i in part},
                 "addresses": {i: addresses[i] for i in part}}
                for part in split(list(range(n)), args.workers)]
        staked = pool.map(stake_job, jobs)
        txs["stake"] = sum(s["sent"] for s in staked)
        failures["stake"] += sum(s["failed"] for s in staked)
        for rid, r_pos in zip(round_ids, range(n_rounds)):
            info = client.round(rid)
            expected = sum(a[r_pos] for a in amounts)
            if info.stake_count != n or info.total_staked != expected:
                failures["stake_totals"] += 1
                print(f"round {rid}: {info.stake_count} stakes, {info.total_staked} wei; expected {n}, {expected}",
                      file=sys.stderr)
        stake_gas = sum(s["gas"] for s in staked)
        blocks = chain_blocks(rpc)
        phase("stake")

        # ---- resolve: past every resolve time, targets delivered, the oracle scores and posts
        supply_before = int(client.token.totalSupply())
        advance_to(max(client.round(r).resolve_time for r in round_ids))
        layout.targets_dir.mkdir(parents=True, exist_ok=True)
        for rid in round_ids:
            targets = generate(rows=args.rows, models=n, seed=args.seed, round_index=rid).targets
            (layout.targets_dir / f"round-{rid}.csv").write_text(
                "id,target\n" + "".join(f"{i},{t!r}\n" for i, t in zip(targets.index, targets.to_numpy().tolist())))
        events: list[str] = []
        oracle = Oracle(client, oracle_acct, layout, log=EventLog(json_lines=True, out=events.append))
        oracle_seconds = time_oracle(oracle)
        oracle_nonce0 = provider.get_nonce(oracle_acct.address)
        try:
            oracle.tick()
        except Exception:
            print(json.dumps({"txpool": rpc.call("txpool_status", []), "head": chain_blocks(rpc)}), file=sys.stderr)
            raise
        for rid in round_ids:
            if client.round(rid).state is not RoundState.POSTED:
                failures["post"] += 1
        failures["oracle_errors"] += sum('"round_error"' in e or '"event": "error"' in e for e in events)
        phase("resolve")

        # ---- finalise after the challenge period
        advance_to(max(client.round(r).final_at or 0 for r in round_ids))
        oracle.tick()
        for rid in round_ids:
            info = client.round(rid)
            if info.state is not RoundState.FINAL or not info.settled:
                failures["finalise"] += 1
        txs["oracle"] = provider.get_nonce(oracle_acct.address) - oracle_nonce0
        phase("finalise")

        # ---- claims, concurrently, with proofs from the published results
        claims: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        index_of = {a.lower(): i for i, a in enumerate(addresses)}
        expected_out = [0] * n
        total = {"staked": 0, "burn": 0, "payout": 0}
        for rid in round_ids:
            pub = load_published(layout.published(rid))
            for row in pub.rows:
                i = index_of[row.staker.lower()]
                claims[i].append((rid, "0x" + model_id(row.model).hex(), row.staker, row.payout, row.burn, row.proof))
                expected_out[i] += row.stake - row.burn + row.payout
        phase("claim_proofs")
        jobs = [{"uri": uri, "chain_id": chain_id, "tournament": tournament, "seed": args.seed,
                 "claims": {i: claims[i] for i in part}, "addresses": {i: addresses[i] for i in part}}
                for part in split(sorted(claims), args.workers)]
        claimed = pool.map(claim_job, jobs)
        txs["claim"] = sum(c["sent"] for c in claimed)
        failures["claim"] += sum(c["failed"] for c in claimed)
        if sum(c["claims"] for c in claimed) != n * n_rounds:
            failures["claim_count"] += 1
        phase("claim")

        # ---- the books
        per_round = []
        books = True
        burned_total = 0
        for rid in round_ids:
            info = client.round(rid)
            ok_round = info.claimed == info.total_staked - info.total_burn + info.total_payout and info.settled
            books &= ok_round
            burned_total += info.total_burn
            total["staked"] += info.total_staked
            total["burn"] += info.total_burn
            total["payout"] += info.total_payout
            per_round.append({"round": rid, "stakes": info.stake_count, "staked": str(info.total_staked),
                              "burned": str(info.total_burn), "paid": str(info.total_payout),
                              "claimed": str(info.claimed), "funded": str(info.funded), "balanced": ok_round})
        contract_balance = int(client.token.balanceOf(tournament))
        pool_left = int(client.tournament.pool())
        supply_after = int(client.token.totalSupply())
        books &= contract_balance == pool_left
        books &= supply_before - supply_after == burned_total
        final_balances = rpc.uint_calls(token, [SEL_BALANCE_OF + encode(["address"], [a]) for a in addresses])
        participants_ok = all(b == m - sum(a) + out for b, m, a, out in zip(final_balances, minted, amounts, expected_out))
        books &= participants_ok
        phase("books")

    result = {
        "participants": n,
        "rounds": n_rounds,
        "workers": args.workers,
        "rows": args.rows,
        "stakes": n * n_rounds,
        "transactions": {**txs, "total": sum(txs.values())},
        "failures": sum(failures.values()),
        "failures_by_phase": dict(failures),
        "seconds": {**seconds, "total": round(sum(seconds.values()), 2)},
        "stake_tx_per_s": round(txs["stake"] / seconds["stake"], 1) if seconds.get("stake") else None,
        "claim_tx_per_s": round(txs["claim"] / seconds["claim"], 1) if seconds.get("claim") else None,
        "gas": {"stake_with_permit_mean": stake_gas // max(1, txs["stake"]),
                "claim_many_mean": sum(c["gas"] for c in claimed) // max(1, txs["claim"])},
        "chain_after_staking": blocks,
        "oracle_seconds": {k: round(v, 2) for k, v in oracle_seconds.items()},
        "worker_claim_seconds": [{"prepare": round(c["prepare_s"], 2), "total": round(c["total_s"], 2)} for c in claimed],
        "worker_stake_seconds": [{"prepare": round(s["prepare_s"], 2), "total": round(s["total_s"], 2)} for s in staked],
        "totals": {k: str(v) for k, v in total.items()},
        "books": {"rounds": per_round, "contract_balance": str(contract_balance), "pool": str(pool_left),
                  "supply_fell_by": str(supply_before - supply_after), "burned": str(burned_total),
                  "participants_ok": participants_ok},
        "books_balance": bool(books),
        "anvil": ("own process, automine, no step tracing" if args.anvil == "own"
                  else "started by ape-foundry, automine, --steps-tracing"),
        "cpus": os.cpu_count(),
    }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rows", type=int, default=500, help="rows of each predictions file")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--anvil", choices=("own", "ape"), default="own",
                        help="own: start anvil without step tracing; ape: let ape-foundry start it (with tracing)")
    args = parser.parse_args()
    if args.participants < 2 or args.rounds < 1 or args.workers < 1 or args.rows < 10:
        parser.error("need --participants >= 2, --rounds >= 1, --workers >= 1, --rows >= 10")
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        result = run(args, seconds)
    except Exception as exc:  # noqa: BLE001 - a failed run is still a result, with what failed
        import traceback

        traceback.print_exc()
        result = {"participants": args.participants, "rounds": args.rounds, "workers": args.workers,
                  "failures": 1, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}",
                  "failed_after_phase": list(seconds)[-1] if seconds else None,
                  "seconds": {**seconds, "total": round(time.perf_counter() - t0, 2)}, "books_balance": False}
    text = json.dumps(result, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0 if result["failures"] == 0 and result["books_balance"] else 1


if __name__ == "__main__":
    sys.exit(main())
