"""Service benchmark on a real Anvil: 1,000 participants with Numerai-sized live files (5,000 rows)
upload to one tournament service (`nmrstake serve`) and stake from concurrent processes; the
oracle resolves the round from the service's store, everyone claims with proofs served by the
service, and the books must balance.

    python bench/service.py [--participants 1000] [--rows 5000] [--workers 4] [--seed 1]
                            [--claim-batch 50] [--replicas 1|2|1,2] [--shared] [--profile]
                            [--out bench/results/service.json] [--keep]

Replicas (issue 21): `--replicas 1` (the default) is one service on SQLite and its data folder, as
above, written to bench/results/service.json. Any other `--replicas` (or `--shared`) measures
each listed configuration in turn in one run (`--replicas 1,2`: one replica, then two), written
to bench/results/service-replicas.json: a throwaway PostgreSQL and a SeaweedFS S3 server (the
tests' starters, tests/helpers/postgres.py and object_store.py) are started once; each
configuration gets its own Anvil, deployment, participants and round, a fresh database and
bucket and one receipt key, and N `nmrstake serve` processes on free ports, each with its own
--data-dir (N machines) and `--database-url`, `--store-url s3://bench-rN/nmrstake`,
`--receipt-key-file`. Each worker sends its uploads to the replicas in turn (a round-robin load
balancer) and fetches its proofs from one of them. The upload window measures the service, not
its clients nor the chain: each worker signs its Uploads and encodes their requests with the
participant client's own session before the workers start together (a participant's client signs
before it sends, on its own machine), its timed loop only POSTs those bytes one after another over
a keep-alive connection per replica (`PreparedPoster`),
the bench checks every receipt (as `participant.deliver` does: this file, this key, signed by the
service's receipt signer) once all uploads are in, and the stakes are a phase of their own after
that (the service takes an upload from an address holding the round's minimum stake, staked or
not), so that Anvil mining a thousand permit-and-stake transactions is not on the same two cores
during the uploads. The 4 workers (`--workers`) are 4 uploads in flight: 2 per replica with two,
enough to keep each replica's one core busy while the other upload waits on the database, the
bucket or the chain, and few enough that the latency is the service's work rather than a queue
(a closed loop: latency is about workers / throughput). Per configuration: uploads/s, p50/p99,
each replica's CPU and the CPU of Anvil, PostgreSQL and SeaweedFS (process trees), the workers'
and the whole machine's (/proc/stat: other users too) over the upload phase, and each of them
per upload (`cpu_ms_per_upload`: with r a replica's and o everything else's, one replica is bound
by its core at 1/r uploads a second and two by the machine's two cores at 2/(r+o); `bounds` gives
r, o, those ceilings and the busy CPU none of them accounts for: other users of the machine);
storage growth over the round
(objects and bytes in the bucket by prefix, pg_database_size and rows and bytes by table, each
data folder); every acknowledged upload checked to be a row of the database with its file in the
bucket or on a replica's disk; the oracle, on a data folder of its own with the same database and
bucket, resolves the round and the books are checked as above (while the submission files stay on
the replicas' disks, the bench copies them into the oracle's folder first, as a shared disk
would). The ratio of the last configuration to the first (uploads/s, p50, p99) is reported
against the goal (>= 1.5x with p99 under 250 ms). `--profile` runs the replicas under cProfile,
every thread on its CPU clock (bench/profile_serve.py), leaving replica-N.pstats in the kept work
folder.

Run from the repository root with the virtualenv active (anvil on PATH or in node_modules/.bin).
Everything listens on 127.0.0.1 only; Anvil and the service are stopped on the way out, whatever
happened. Phases (each timed):

1. chain:           Anvil (npm, automine, no step tracing) on a free port; ape joins it.
2. setup:           deploy NMR and the Tournament, open one round (open a day of chain time), fund it.
3. fund:            N participant keys derived from the seed; ether by `anvil_setBalance`, NMR by one
                    `mint` each (signed locally, sent in JSON-RPC batches, every receipt checked).
4. files:           one synthetic round (`nmrstake.synth.generate`): a predictions file per participant
                    (`id,prediction`, --rows rows) and the targets.
5. service_start:   `python -m nmrstake.cli serve` as a process with its own data dir, until /healthz.
6. upload_stake:    `--workers` processes, each over its share of participants, one after another:
                    `nmrstake.participant.deliver` (sign the EIP-712 Upload, POST /v1/submissions through
                    `ServiceClient`, check the signed receipt), then `stakeWithPermit` with the file's
                    keccak as commitment (raw signed transaction, sent right after the receipt). Each
                    upload's latency is the POST, request to the 201 with its receipt. The workers start
                    together (a barrier) once their imports and connections are ready. (With --replicas:
                    signed before, receipts checked after, stakes a phase after, as above.)
7. check_stakes:    the contract counts N stakes and their total; the service's store holds N uploads,
                    each received before close and hashing to its stake's commitment.
8. resolve:         chain time past the resolve time, targets put at <data>/targets/round-<id>.csv, the
                    oracle (`nmrstake.oracle.Oracle(...).tick()` in this process) scores the files from
                    the service's store, publishes and posts.
9. finalise:        past the challenge period; the oracle's next tick finalises (burns).
10. claim:          the workers again: each fetches its participants' proofs from the service
                    (GET /v1/rounds/R/proofs/M/S) and sends `claimMany` in batches of --claim-batch.
11. books:          every stake valid; claimed == staked - burned + paid; the contract holds exactly the
                    pool; totalSupply fell by exactly the burns; every participant holds exactly
                    minted - stake + (stake - burn + payout); the service's proofs equal the published rows.

Prints a summary, writes one JSON object to --out. Exits 1 on any failure or if the books do not balance.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak

if TYPE_CHECKING:
    from nmrstake.client.http import ProofJson
    from nmrstake.intake import UploadAnswer

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.object_store import ObjectStore, start_object_store  # noqa: E402 - the tests' S3 server
from helpers.postgres import PostgresServer, start_postgres  # noqa: E402 - the tests' PostgreSQL
from load import (  # noqa: E402 - the load benchmark's JSON-RPC helpers, reused
    SEL_BALANCE_OF,
    SEL_CLAIM_MANY,
    SEL_NONCES,
    Rpc,
    advance_to,
    chain_blocks,
    fund_participants,
    model_id,
    phase_clock,
    sign_tx,
    split,
    stake_with_permit_tx,
    time_method,
    time_oracle,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "service.json"
OUT_REPLICAS = ROOT / "bench" / "results" / "service-replicas.json"
HOST = "127.0.0.1"

WEI = 10**18
HOUR = 3600
DAY = 24 * HOUR
STAKE_WINDOW = DAY  # chain time the round stays open
FUNDING = 2_000 * WEI
ROUND_ID = 1


# ---------------------------------------------------------------------------------------- participants


def participant_key(seed: int, index: int) -> bytes:
    """A deterministic private key (a valid secp256k1 scalar with overwhelming probability)."""
    return keccak(f"nmrstake-service-bench/{seed}/{index}".encode())


def stake_amounts(seed: int, participants: int) -> list[int]:
    """Stake of participant i: 0.01 .. 100 NMR in steps of 0.001 (deterministic)."""
    import numpy as np

    rng = np.random.default_rng([seed, 11])
    return (rng.integers(10, 100_000, size=participants).astype(object) * 10**15).tolist()


def cpu_bounds(replica_cpu: list[float | None], other_cpu: dict[str, float | None], workers_cpu: float,
               busy: float | None, uploads: int) -> dict[str, Any] | None:
    """The arithmetic of the upload window, from its CPU seconds: r, a replica's CPU per upload;
    o, everything else the benchmark runs (Anvil, PostgreSQL, SeaweedFS, the workers) per upload;
    the most uploads a second one replica's core allows (1/r) and the machine's cores allow with
    every replica (cores/(r+o)), and the ratio they allow two replicas (2r/(r+o), at most 2); and
    the machine's busy CPU that none of them account for (other users, the kernel's network
    work, the bench's own process), which takes cores from all of them."""
    if not uploads or None in replica_cpu or None in other_cpu.values() or busy is None:
        return None
    r = sum(x for x in replica_cpu if x is not None) / uploads
    o = (sum(x for x in other_cpu.values() if x is not None) + workers_cpu) / uploads
    cores = os.cpu_count() or 1
    return {"r_ms": round(r * 1000, 1), "o_ms": round(o * 1000, 1),
            "one_replica_core_uploads_per_s": round(1 / r, 1) if r else None,
            "machine_cores_uploads_per_s": round(cores / (r + o), 1) if r + o else None,
            "two_to_one_at_most": round(min(2.0, 2 * r / (r + o), cores * r / (r + o)), 2) if r + o else None,
            "unaccounted_busy_cpu_ms": round((busy / uploads - r - o) * 1000, 1)}


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n q / 100), at least 1
    return ordered[int(rank) - 1]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


# ---------------------------------------------------------------------------------------- worker jobs

_BARRIER: Any = None


def _worker_init(barrier: Any) -> None:
    global _BARRIER
    _BARRIER = barrier
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # two cores: one BLAS thread per worker


class TimedDelivery:
    """The participant's ServiceClient, with the POST's latency (request to the 201 with its
    receipt) and status recorded."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self.status: int | None = None
        self.seconds = 0.0
        service.session.hooks["response"].append(self._hook)

    def _hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.status = response.status_code

    @property
    def receipt_signer(self) -> str:
        return self.service.receipt_signer

    def upload(self, **kwargs: Any) -> UploadAnswer:
        self.status = None
        t0 = time.perf_counter()
        try:
            return self.service.upload(**kwargs)
        finally:
            self.seconds = time.perf_counter() - t0


class PreparedPoster:
    """One replica's keep-alive connection that sends uploads encoded before the clock: the
    participant client's own request (ServiceClient's session makes the multipart body and its
    headers, byte for byte what `ServiceClient.upload` sends), so the timed loop costs the machine
    only the send and the answer's read. A participant's client runs on its own machine; here it
    shares the service's two cores, so the less of them it takes, the more the figures are the
    service's. Records the POST's latency (request to the 201 with its receipt) and status."""

    def __init__(self, service: Any) -> None:
        from urllib.parse import urlsplit

        self.service = service
        parts = urlsplit(service.url)
        self.host, self.port = str(parts.hostname), int(parts.port or 80)
        self.conn: Any = None
        self.status: int | None = None
        self.seconds = 0.0

    @property
    def receipt_signer(self) -> str:
        return str(self.service.receipt_signer)

    def prepare(self, *, round_id: int, model: str, staker: str, nonce: int, expiry: int, signature: str,
                path: Path, file_hash: bytes) -> tuple[bytes, dict[str, str]]:
        fields = {"round": str(round_id), "model": model, "staker": staker, "nonce": str(nonce),
                  "expiry": str(expiry), "signature": signature, "file_hash": "0x" + file_hash.hex()}
        request = requests.Request("POST", f"{self.service.url}/v1/submissions", data=fields,
                                   files={"file": (path.name, path.read_bytes(), "application/octet-stream")})
        prepared = self.service.session.prepare_request(request)
        body = prepared.body if isinstance(prepared.body, bytes) else str(prepared.body).encode()
        return body, {k: v for k, v in prepared.headers.items() if k.lower() != "content-length"}

    def post(self, body: bytes, headers: dict[str, str]) -> Any:
        import http.client

        self.status = None
        t0 = time.perf_counter()
        try:
            for attempt in (1, 2):  # a keep-alive connection the server closed: reconnect once
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
                try:
                    self.conn.request("POST", "/v1/submissions", body=body, headers=headers)
                    response = self.conn.getresponse()
                    data = response.read()
                    break
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                    self.conn.close()
                    self.conn = None
                    if attempt == 2:
                        raise
            self.status = response.status
            if response.getheader("connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            return json.loads(data)
        finally:
            self.seconds = time.perf_counter() - t0


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def upload_stake_job(job: dict[str, Any]) -> dict[str, Any]:
    """One worker: for each participant of its share, deliver the file to the service (signed
    Upload, checked receipt), then stake on chain with the file's keccak as commitment.

    With `job["stake_after"]` (--replicas) the worker only uploads, as a participant's client
    would with its signatures made beforehand: every Upload is signed before the workers start
    together, and the timed loop POSTs them one after another; the answers go back to the bench,
    which checks every receipt once all the uploads are in (the same checks as
    `participant.deliver`), and the stakes are :func:`stake_job`'s, a phase of their own after."""
    from nmrstake.chain.signers import key_account
    from nmrstake.client.http import ServiceClient
    from nmrstake.hashing import keccak_file
    from nmrstake.participant import deliver
    from nmrstake.signing import Domain, UploadAuthorisation

    rpc = Rpc(job["uri"])
    chain_id, tournament, token, rid = job["chain_id"], job["tournament"], job["token"], job["round"]
    indices = job["indices"]
    keys = {i: Account.from_key(participant_key(job["seed"], i)) for i in indices}
    addresses = {i: job["addresses"][i] for i in indices}
    assert all(keys[i].address == addresses[i] for i in indices)
    stake_after = bool(job.get("stake_after"))
    accounts_by_index = {} if stake_after else {i: key_account(bytes(keys[i].key)) for i in indices}
    if not stake_after:
        tx_nonce = dict(zip(indices, (int(x, 16) for x in rpc.batch(
            [("eth_getTransactionCount", [addresses[i], "latest"]) for i in indices]))))
        permit_nonce = dict(zip(indices, rpc.uint_calls(token, [SEL_NONCES + encode(["address"], [addresses[i]])
                                                                for i in indices])))
    domain = Domain(chain_id, tournament)
    deliveries: list[Any] = []  # one client per replica, used in turn: a round-robin load balancer
    for url in job["urls"]:
        service = ServiceClient(url)
        service.check_deployment(domain)  # also fetches /v1/info (the receipt signer) once
        deliveries.append(PreparedPoster(service) if stake_after else TimedDelivery(service))
    files = Path(job["files"])
    signed: dict[int, tuple[UploadAuthorisation, str, bytes]] = {}
    requests_ready: dict[int, tuple[bytes, dict[str, str]]] = {}
    if stake_after:  # sign and encode every upload before the clock starts (an hour's validity: the whole run)
        for turn, i in enumerate(indices):
            path = files / f"{job['models'][i]}.csv"
            commitment = keccak_file(path)
            auth = UploadAuthorisation.new(addresses[i], rid, job["models"][i], commitment, now=int(time.time()),
                                           lifetime=3600)
            signed[i] = (auth, auth.sign(domain, keys[i]), commitment)
            poster = deliveries[(job["offset"] + turn) % len(deliveries)]
            requests_ready[i] = poster.prepare(round_id=rid, model=job["models"][i], staker=addresses[i],
                                               nonce=auth.nonce, expiry=auth.expiry, signature=signed[i][1],
                                               path=path, file_hash=commitment)

    _BARRIER.wait(timeout=300)  # every worker ready: start together
    start_wall, cpu0 = time.time(), _cpu_seconds()
    latencies: list[float] = []  # the POST: request to 201 + receipt
    deliver_seconds: list[float] = []
    stake_send_seconds: list[float] = []
    errors: list[str] = []
    failed_uploads = 0
    hashes: list[str] = []
    refused = 0
    upload_bytes = 0
    acknowledged: list[tuple[str, str, str]] = []  # (model, staker, commitment) of every 201
    per_replica = [0] * len(deliveries)
    later: list[tuple[int, str, str]] = []  # (index, model, commitment) to stake after the uploads
    answers: list[tuple[int, Any, Any]] = []  # (index, answer, delivery): receipts checked after the loop

    def stake(i: int, name: str, commitment: bytes) -> int:
        """The stake, committing to the acknowledged file: permit + stakeWithPermit in one
        transaction; returns 1 if the node refused it."""
        t1 = time.perf_counter()
        raw = stake_with_permit_tx(keys[i], chain_id, tx_nonce[i], tournament, job["permit_domain"], permit_nonce[i],
                                   rid, name, job["amounts"][i], commitment, job["deadline"])
        permit_nonce[i] += 1
        tx_nonce[i] += 1
        try:
            accepted, bad = rpc.send_raw([raw])
        except Exception as exc:  # noqa: BLE001
            accepted, bad = [], 1
            if len(errors) < 20:
                errors.append(f"stake {name}: {type(exc).__name__}: {str(exc)[:300]}")
        hashes.extend(accepted)
        stake_send_seconds.append(time.perf_counter() - t1)
        return int(bad)

    for turn, i in enumerate(indices):
        delivery = deliveries[(job["offset"] + turn) % len(deliveries)]
        name = job["models"][i]
        path = files / f"{name}.csv"
        t0 = time.perf_counter()
        try:
            if stake_after:
                commitment = signed[i][2]
                answer = delivery.post(*requests_ready[i])
                answers.append((i, answer, delivery))
            else:
                commitment = keccak_file(path)
                answer = deliver(delivery, domain, accounts_by_index[i], rid, name, path, commitment)
            if delivery.status != 201:
                raise RuntimeError(f"HTTP {delivery.status} instead of 201")
            if answer.get("commitment") != "0x" + commitment.hex():
                raise RuntimeError(f"the service acknowledged {answer.get('commitment')}, not 0x{commitment.hex()}")
        except Exception as exc:  # noqa: BLE001 - every failure is counted, the run goes on
            failed_uploads += 1
            if len(errors) < 20:
                errors.append(f"upload {name} (HTTP {delivery.status}, {delivery.seconds:.3f} s): "
                              f"{type(exc).__name__}: {str(exc)[:300]}")
            continue  # no stake on a file the service did not take
        deliver_seconds.append(time.perf_counter() - t0)
        latencies.append(delivery.seconds)
        acknowledged.append((name, addresses[i], "0x" + commitment.hex()))
        per_replica[(job["offset"] + turn) % len(deliveries)] += 1
        upload_bytes += path.stat().st_size

        if stake_after:
            later.append((i, name, "0x" + commitment.hex()))
        else:
            refused += stake(i, name, commitment)
    uploads_done_wall = time.time()
    cpu_seconds = _cpu_seconds() - cpu0
    ok, reverted, gas = rpc.wait_receipts(hashes) if hashes else (0, 0, 0)
    return {"uploads": len(latencies), "upload_failures": failed_uploads, "upload_bytes": upload_bytes,
            "answers": [(i, answer, delivery.receipt_signer, "0x" + signed[i][2].hex()) for i, answer, delivery in answers],
            "latencies": latencies, "deliver_seconds": deliver_seconds, "stake_send_seconds": stake_send_seconds,
            "stakes_sent": len(hashes) + refused, "stakes_ok": ok, "stake_failures": refused + reverted, "gas": gas,
            "errors": errors, "acknowledged": acknowledged, "per_replica": per_replica, "later": later,
            "start_wall": start_wall, "uploads_done_wall": uploads_done_wall,
            "end_wall": time.time(), "cpu_seconds": cpu_seconds}


def receipt_problem(answer: Any, domain: Any, receipt_signer: str, round_id: int, model: str, staker: str,
                    commitment: bytes) -> str | None:
    """What is wrong with an upload's answer, as `nmrstake.client.staking.deliver` checks it (a
    receipt for this very file and stake key, signed by the service's receipt signer); None if
    nothing."""
    from nmrstake.signing import DeliveryReceipt

    if not isinstance(answer, dict) or not isinstance(answer.get("receipt"), dict):
        return "no receipt"
    receipt = DeliveryReceipt.from_json(answer["receipt"])
    if (receipt.round_id, receipt.model, receipt.staker, receipt.commitment) != (round_id, model, staker, commitment):
        return f"a receipt for {receipt.round_id}/{receipt.model}/{receipt.staker}/0x{receipt.commitment.hex()}"
    if receipt.signer(domain) != receipt_signer:
        return "not signed by the service's receipt signer"
    return None


def stake_job(job: dict[str, Any]) -> dict[str, Any]:
    """One worker (--replicas), once every worker's uploads are in: stake each acknowledged file
    of its share (permit + stakeWithPermit, the file's keccak as commitment), sent in one JSON-RPC
    batch, every receipt waited for."""
    rpc = Rpc(job["uri"])
    chain_id, tournament, token, rid = job["chain_id"], job["tournament"], job["token"], job["round"]
    later = job["later"]
    keys = {i: Account.from_key(participant_key(job["seed"], i)) for i, _, _ in later}
    addresses = [keys[i].address for i, _, _ in later]
    t0 = time.time()
    tx_nonce = [int(x, 16) for x in rpc.batch([("eth_getTransactionCount", [a, "latest"]) for a in addresses])] \
        if later else []
    permit_nonce = rpc.uint_calls(token, [SEL_NONCES + encode(["address"], [a]) for a in addresses]) if later else []
    raws = [stake_with_permit_tx(keys[i], chain_id, tx_nonce[k], tournament, job["permit_domain"], permit_nonce[k],
                                 rid, name, job["amounts"][i], bytes.fromhex(commitment[2:]), job["deadline"])
            for k, (i, name, commitment) in enumerate(later)]
    errors: list[str] = []
    try:
        hashes, refused = rpc.send_raw(raws) if raws else ([], 0)
    except Exception as exc:  # noqa: BLE001
        hashes, refused = [], len(raws)
        errors.append(f"stakes: {type(exc).__name__}: {str(exc)[:300]}")
    ok, reverted, gas = rpc.wait_receipts(hashes) if hashes else (0, 0, 0)
    return {"stakes_sent": len(raws), "stakes_ok": ok, "stake_failures": refused + reverted, "gas": gas,
            "errors": errors, "start_wall": t0, "end_wall": time.time()}


def claim_job(job: dict[str, Any]) -> dict[str, Any]:
    """One worker: fetch its participants' proofs from the service, then claim them in claimMany
    batches sent from the share's first participant (anyone may claim for a staker)."""
    from nmrstake.client.http import ServiceClient

    rpc = Rpc(job["uri"])
    service = ServiceClient(job["url"])
    rid, indices = job["round"], job["indices"]
    errors: list[str] = []
    proofs: dict[int, ProofJson] = {}
    latencies: list[float] = []
    t0 = time.perf_counter()
    for i in indices:
        t = time.perf_counter()
        try:
            data = service.proof(rid, job["models"][i], job["addresses"][i])
            if data is None:
                raise RuntimeError("the round is not published")
            proofs[i] = data
            latencies.append(time.perf_counter() - t)
        except Exception as exc:  # noqa: BLE001
            if len(errors) < 20:
                errors.append(f"proof {job['models'][i]}: {type(exc).__name__}: {str(exc)[:300]}")
    proofs_s = time.perf_counter() - t0

    sender_index = indices[0]
    sender = Account.from_key(participant_key(job["seed"], sender_index))
    nonce = int(rpc.call("eth_getTransactionCount", [sender.address, "latest"]), 16)
    raws = []
    got = sorted(proofs)
    for start in range(0, len(got), job["batch"]):
        entries = [(rid, model_id(proofs[i]["model"]), proofs[i]["staker"], int(proofs[i]["payout"]),
                    int(proofs[i]["burn"]), [bytes.fromhex(p[2:]) for p in proofs[i]["proof"]])
                   for i in got[start:start + job["batch"]]]
        call = SEL_CLAIM_MANY + encode(["(uint256,bytes32,address,uint256,uint256,bytes32[])[]"], [entries])
        raws.append(sign_tx(sender, job["chain_id"], nonce, job["tournament"], call, 150_000 + 80_000 * len(entries)))
        nonce += 1
    hashes, refused = rpc.send_raw(raws)
    ok, reverted, gas = rpc.wait_receipts(hashes)
    return {"proofs": {i: {k: dict(proofs[i])[k] for k in ("model", "staker", "stake", "payout", "burn", "valid", "proof")}
                       for i in got},
            "proof_failures": len(indices) - len(proofs), "proof_latencies": latencies, "proofs_s": proofs_s,
            "claims": len(got), "txs": len(raws), "tx_failures": refused + reverted, "gas": gas, "errors": errors,
            "total_s": time.perf_counter() - t0}


# ---------------------------------------------------------------------------------------- processes


@contextmanager
def anvil_node() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """The npm `anvil` on a free loopback port (ape's test mnemonic, no fees, automine); stopped on exit."""
    from nmrstake.localchain import TEST_MNEMONIC, find_executable, free_port, node_process

    port = free_port()
    assert port != 8545
    cmd = [find_executable("anvil"), "--host", HOST, "--port", str(port), "--mnemonic", TEST_MNEMONIC,
           "--accounts", "10", "--balance", "1000000", "--block-base-fee-per-gas", "0", "--gas-price", "0",
           "--silent"]
    with node_process(cmd, port, "anvil") as proc:
        yield port, proc


@contextmanager
def service_process(deployments: Path, data_dir: Path, log: Path, shared: list[str] | None = None,
                    profile: Path | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`nmrstake serve` on a free loopback port (it joins the Anvil of APE_FOUNDRY_HOST), with
    `shared` options (the database, the store, the receipt key of the replicas), under cProfile
    into `profile` if given (bench/profile_serve.py); waits for /healthz; stopped (SIGTERM, then
    SIGKILL) on exit."""
    from nmrstake.client.http import wait_until_healthy
    from nmrstake.localchain import free_port, spawn, stop_process

    port = free_port()
    runner = [str(ROOT / "bench" / "profile_serve.py"), str(profile)] if profile else ["-m", "nmrstake.cli"]
    cmd = [sys.executable, *runner, "serve", "--network", "ethereum:local:foundry",
           "--deployments-dir", str(deployments), "--data-dir", str(data_dir), "--host", HOST, "--port", str(port),
           *(shared or [])]
    url = f"http://{HOST}:{port}"
    proc = spawn(cmd, log=log)  # tied to the benchmark: never left running after it
    def alive() -> None:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited with {proc.returncode}: {tail(log)}")

    try:
        wait_until_healthy(url, alive, timeout=120)
        yield url, proc
    finally:
        stop_process(proc, timeout=30)


@dataclass
class Shared:
    """What the replicas of one configuration share: a database on the bench's PostgreSQL, a
    bucket on its SeaweedFS, one receipt key. None of it in the single-replica default (SQLite and
    the data folder, as before)."""

    postgres: PostgresServer
    s3: ObjectStore
    database_url: str
    bucket: str
    store_url: str
    receipt_key_file: Path

    def serve_args(self) -> list[str]:
        return ["--database-url", self.database_url, "--store-url", self.store_url,
                "--receipt-key-file", str(self.receipt_key_file)]


@contextmanager
def shared_servers(work: Path) -> Iterator[tuple[PostgresServer, ObjectStore]]:
    """The tests' throwaway PostgreSQL and SeaweedFS S3 servers (tests/helpers), their endpoint and
    credentials in this process's environment (boto3 here, in the oracle and in the replicas);
    both stopped on exit."""
    from nmrstake.localchain import stop_process

    pg = start_postgres()
    try:
        s3 = start_object_store(work / "s3")
        try:
            os.environ.update(s3.env())
            for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
                os.environ.pop(name, None)
            yield pg, s3
        finally:
            stop_process(s3.proc, timeout=30)
    finally:
        pg.stop()


def new_shared(pg: PostgresServer, s3: ObjectStore, work: Path, name: str) -> Shared:
    """A fresh database, bucket and receipt key for one configuration."""
    bucket = f"bench-{name}"
    s3.client().create_bucket(Bucket=bucket)
    key = work / f"receipt-{name}.key"
    key.write_text("0x" + os.urandom(32).hex() + "\n")
    key.chmod(0o600)
    return Shared(pg, s3, pg.create_database(), bucket, f"s3://{bucket}/nmrstake", key)


def bucket_usage(shared: Shared) -> dict[str, Any]:
    """Objects and bytes in the configuration's bucket, by the first path part under its prefix
    (submissions/, results/, ...)."""
    client = shared.s3.client()
    prefix = shared.store_url.split("/", 3)[3].rstrip("/") + "/"
    parts: dict[str, dict[str, int]] = defaultdict(lambda: {"objects": 0, "bytes": 0})
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=shared.bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            top = obj["Key"][len(prefix):].split("/", 1)[0]
            parts[top]["objects"] += 1
            parts[top]["bytes"] += int(obj["Size"])
    return {"objects": sum(p["objects"] for p in parts.values()), "bytes": sum(p["bytes"] for p in parts.values()),
            "by_prefix": dict(parts)}


def bucket_keys(shared: Shared) -> list[str]:
    client = shared.s3.client()
    return [obj["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=shared.bucket)
            for obj in page.get("Contents", [])]


def database_usage(database_url: str) -> dict[str, Any]:
    """pg_database_size and every table's rows and total bytes (with indexes and TOAST)."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            size = int(conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one())
            tables = {}
            found: list[tuple[str, int]] = [(str(r[0]), int(r[1])) for r in conn.execute(sa.text(
                "SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables ORDER BY relname"))]
            for name, total in found:
                rows = int(conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one())
                tables[name] = {"rows": rows, "bytes": total}
    finally:
        engine.dispose()
    return {"database_bytes": size, "tables": tables}


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def storage_snapshot(shared: Shared | None, folders: dict[str, Path]) -> dict[str, Any]:
    out: dict[str, Any] = {"folders": {name: folder_bytes(f) for name, f in folders.items()}}
    if shared is not None:
        out["bucket"] = bucket_usage(shared)
        out["postgres"] = database_usage(shared.database_url)
    return out


def storage_growth(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """after - before, number by number, at every level."""
    if isinstance(after, dict):
        return {k: storage_growth(before.get(k, 0) if isinstance(before, dict) else 0, v) for k, v in after.items()}
    return after - (before or 0) if isinstance(after, int) else after


def machine_busy_seconds() -> float | None:
    """CPU seconds every core spent busy so far (user, nice, system, irq, softirq, steal): /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return None
    busy = sum(fields[i] for i in (0, 1, 2, 5, 6, 7) if i < len(fields))
    return busy / os.sysconf("SC_CLK_TCK")


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process and its live descendants (Linux /proc): the
    npm `anvil` is a node wrapper around the real binary."""
    try:
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parents[int(entry.name)] = int(_stat(int(entry.name))[1])
                except (OSError, IndexError, ValueError):
                    pass
        tree, frontier = {pid}, [pid]
        while frontier:
            kids = [p for p, pp in parents.items() if pp in frontier and p not in tree]
            tree.update(kids)
            frontier = kids
        total = 0
        for p in tree:
            try:
                fields = _stat(p)
                total += int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                pass
        return total / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def process_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                            "python": platform.python_version()}
    try:
        info["cpu_model"] = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                                 if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        info["memory_gb"] = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024**2, 1)
    except (OSError, IndexError, ValueError):
        pass
    try:
        info["loadavg_at_start"] = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        pass
    return info


# ---------------------------------------------------------------------------------------- main


def run(args: argparse.Namespace, seconds: dict[str, float], notes: dict[str, Any]) -> dict[str, Any]:
    """The whole benchmark; `seconds` receives each phase's time as it ends."""
    from ape.logging import logger

    from nmrstake.chain.connect import load_project

    logger.set_level("ERROR")
    load_project().load_contracts()  # compile (cached) before the clock starts
    phase = phase_clock(seconds, "service-bench")

    work = Path(tempfile.mkdtemp(prefix="nmrstake-service-bench-"))
    notes["work_dir"] = str(work)
    try:
        if not args.shared:
            return _run(args, phase, work, notes)
        return _run_replicas(args, phase, work, notes)
    finally:
        if args.keep:
            print(f"[service-bench] kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def _run_replicas(args: argparse.Namespace, phase: Any, work: Path, notes: dict[str, Any]) -> dict[str, Any]:
    """Each configuration of --replicas in turn, on one PostgreSQL server and one S3 server (a
    database, a bucket and a receipt key of its own each); the ratio of the last to the first."""
    configurations = []
    with shared_servers(work) as (pg, s3):
        phase("shared_servers")
        for replicas in args.replicas:
            name = f"r{replicas}"
            shared = new_shared(pg, s3, work, name)
            seconds: dict[str, float] = {}
            own: dict[str, Any] = {}
            try:
                figures = _run(args, phase_clock(seconds, f"service-bench {name}"), work / name, own, replicas, shared)
            except Exception as exc:  # noqa: BLE001 - the other configurations are still measured
                import traceback

                traceback.print_exc()
                figures = {"failures": 1, "books_balance": False,
                           "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:800]}",
                           "failed_after_phase": list(seconds)[-1] if seconds else None}
            configurations.append({"replicas": replicas, **figures, "seconds": seconds, "notes": own,
                                   "database": shared.database_url, "store": shared.store_url})
            phase(f"replicas_{replicas}")
    first, last = configurations[0], configurations[-1]
    ratio = None
    if len(configurations) > 1 and first.get("upload") and last.get("upload"):
        a, b = first["upload"]["uploads_per_s"], last["upload"]["uploads_per_s"]
        ratio = {"of": f"{last['replicas']} replicas to {first['replicas']}",
                 "uploads_per_s": round(b / a, 2) if a and b else None,
                 "p50": round(last["upload"]["latency_ms"]["p50"] / first["upload"]["latency_ms"]["p50"], 2),
                 "p99": round(last["upload"]["latency_ms"]["p99"] / first["upload"]["latency_ms"]["p99"], 2),
                 "goal": "uploads_per_s >= 1.5 with p99 under 250 ms"}
        ratio["goal_met"] = bool(ratio["uploads_per_s"] and ratio["uploads_per_s"] >= 1.5
                                 and (last["upload"]["latency_ms"]["p99"] or 1e9) < 250)
    return {"configurations": configurations, "ratio": ratio,
            "failures": sum(c["failures"] for c in configurations),
            "books_balance": all(c["books_balance"] for c in configurations)}


def _run(args: argparse.Namespace, phase: Any, work: Path, notes: dict[str, Any], replicas: int = 1,
         shared: Shared | None = None) -> dict[str, Any]:
    """One configuration: its own Anvil, deployment, participants and round; `replicas` services
    (each its own data folder) sharing `shared`'s database, bucket and receipt key if given, else
    one service on the oracle's data folder (SQLite, files on its disk)."""
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
    from nmrstake.signing import Domain
    from nmrstake.synth import generate
    from nmrstake.tournament import RoundState, TournamentClient

    n, rid = args.participants, ROUND_ID
    failures: dict[str, int] = defaultdict(int)
    errors: list[str] = []
    project = load_project()
    data_dir = work / "data"  # the oracle's (and, without `shared`, the one service's)
    layout = DataLayout(data_dir, store_url=shared.store_url if shared else None,
                        database_url=shared.database_url if shared else None, receipt_key_file=None)
    replica_dirs = [work / f"replica-{k + 1}" for k in range(replicas)] if shared else [data_dir]
    deployments = work / "deployments"
    files_dir = work / "predictions"
    service_logs = [work / f"service-{k + 1}.log" for k in range(len(replica_dirs))]
    notes["service_logs"] = [str(x) for x in service_logs]
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(args.workers)
    with anvil_node() as (port, anvil), anvil_provider(port) as provider:
        uri = os.environ["APE_FOUNDRY_HOST"]
        assert uri.startswith(f"http://{HOST}:")
        rpc = Rpc(uri)
        chain_id = int(provider.chain_id)
        owner, oracle_acct, funder = accounts.test_accounts[0], accounts.test_accounts[1], accounts.test_accounts[2]
        phase("chain")

        # ---- setup: deploy, open the round, fund it
        settings = TournamentSettings(challenge_period=HOUR, grace_period=3 * DAY, admin_delay=HOUR, max_pause=HOUR)
        dep, _ = deploy(project, owner, directory=deployments, force=True, oracle=oracle_acct.address,
                        settings=settings, log=lambda m: None)
        client = TournamentClient(project, dep)
        tournament, token = str(client.tournament.address), str(client.token.address)
        t0 = int(chain.pending_timestamp) + 5
        open_round(client, owner, RoundSpec(round_id=rid, open_in=0, close_after=STAKE_WINDOW, resolve_after=HOUR,
                                            stake_cap=1_000 * WEI, min_stake=WEI // 100), start=t0)
        client.token.mint(funder, FUNDING, sender=owner)
        fund_round(client, funder, rid, FUNDING)
        advance_to(t0)  # the round is open from here on
        phase("setup")

        # ---- fund the participants: ether by anvil_setBalance, NMR by mint transactions
        amounts = stake_amounts(args.seed, n)
        addresses = [Account.from_key(participant_key(args.seed, i)).address for i in range(n)]
        minted = [a + WEI for a in amounts]  # one NMR more than the stake
        _, failed = fund_participants(rpc, provider, owner, chain_id, token, addresses, minted)
        failures["mint"] += failed
        balances = rpc.uint_calls(token, [SEL_BALANCE_OF + encode(["address"], [a]) for a in addresses])
        failures["mint"] += sum(b != m for b, m in zip(balances, minted))
        phase("fund_participants")

        # ---- the files: one predictions file per participant, and the round's targets
        data = generate(rows=args.rows, models=n, seed=args.seed, round_index=rid)
        models = data.model_names
        ids = [str(x) for x in data.predictions.index]
        files_dir.mkdir(parents=True)
        matrix = data.predictions.to_numpy()
        sizes = []
        for j, name in enumerate(models):
            raw = ("id,prediction\n" + "".join(f"{a},{v!r}\n" for a, v in zip(ids, matrix[:, j].tolist()))).encode()
            (files_dir / f"{name}.csv").write_bytes(raw)
            sizes.append(len(raw))
        targets_csv = "id,target\n" + "".join(f"{i},{t!r}\n" for i, t in zip(ids, data.targets.to_numpy().tolist()))
        del data, matrix
        phase("files")

        # ---- the service, and the workers (spawned now: their start-up is not counted below)
        with ExitStack() as services, \
                ctx.Pool(args.workers, initializer=_worker_init, initargs=(barrier,)) as pool:
            started = [services.enter_context(service_process(
                deployments, folder, log, shared.serve_args() if shared else None,
                work / f"replica-{k + 1}.pstats" if args.profile else None))
                for k, (folder, log) in enumerate(zip(replica_dirs, service_logs))]
            urls, procs = [u for u, _ in started], [p for _, p in started]
            notes["service_urls"] = urls
            phase("service_start")
            folders = {f"replica-{k + 1}": d for k, d in enumerate(replica_dirs)}
            if shared:
                folders["oracle"] = data_dir
            storage_before = storage_snapshot(shared, folders)

            deadline = int(chain.pending_timestamp) + STAKE_WINDOW
            common = {"uri": uri, "urls": urls, "chain_id": chain_id, "tournament": tournament, "token": token,
                      "round": rid, "seed": args.seed, "deadline": deadline, "permit_domain": permit_domain(client.token),
                      "files": str(files_dir), "stake_after": bool(shared)}
            shares = split(list(range(n)), args.workers)
            if len(shares) != args.workers:
                raise ValueError("need at least one participant per worker")
            jobs = [{**common, "indices": part, "amounts": {i: amounts[i] for i in part}, "offset": w,
                     "addresses": {i: addresses[i] for i in part}, "models": {i: models[i] for i in part}}
                    for w, part in enumerate(shares)]
            others = {"anvil": anvil.pid}
            if shared:
                others |= {"postgres": shared.postgres.process.pid, "seaweedfs": shared.s3.proc.pid}
            cpu0 = [process_cpu_seconds(p.pid) for p in procs]
            others0 = {k: process_cpu_seconds(pid) for k, pid in others.items()}
            busy0 = machine_busy_seconds()
            t_phase = time.time()
            done = pool.map(upload_stake_job, jobs, chunksize=1)
            busy1, map_wall = machine_busy_seconds(), time.time() - t_phase
            cpu1 = [process_cpu_seconds(p.pid) for p in procs]
            others1 = {k: process_cpu_seconds(pid) for k, pid in others.items()}
            replica_cpu = [None if a is None or b is None else b - a for a, b in zip(cpu0, cpu1)]
            service_cpu0 = 0.0 if None not in cpu0 else None
            service_cpu1 = sum(x for x in replica_cpu if x is not None) if None not in replica_cpu else None
            other_cpu: dict[str, float | None] = {}
            for k in others:
                a0, a1 = others0[k], others1[k]
                other_cpu[k] = None if a0 is None or a1 is None else round(a1 - a0, 2)
            anvil_cpu0, anvil_cpu1 = 0.0, other_cpu["anvil"]
            for d in done:
                errors.extend(d["errors"])
            failures["upload"] += sum(d["upload_failures"] for d in done)
            # Every receipt, checked as participant.deliver checks it, once the uploads are in.
            for d in done:
                for i, answer, signer, commitment in d["answers"]:
                    problem = receipt_problem(answer, Domain(chain_id, tournament), signer, rid, models[i],
                                              addresses[i], bytes.fromhex(commitment[2:]))
                    if problem:
                        failures["receipt"] += 1
                        errors.append(f"receipt {models[i]}: {problem}")
            receipts_checked = sum(len(d["answers"]) for d in done)
            failures["stake"] += sum(d["stake_failures"] for d in done)
            stake_phase = None
            if shared:  # the stakes, a phase of their own once every upload is in
                t_stakes = time.time()
                staked = pool.map(stake_job, [{**job, "later": d["later"]} for job, d in zip(jobs, done)], chunksize=1)
                for c in staked:
                    errors.extend(c["errors"])
                failures["stake"] += sum(c["stake_failures"] for c in staked)
                stake_phase = {"sent": sum(c["stakes_sent"] for c in staked), "ok": sum(c["stakes_ok"] for c in staked),
                               "gas": sum(c["gas"] for c in staked), "wall": time.time() - t_stakes}
            latencies = [x for d in done for x in d["latencies"]]
            delivers = [x for d in done for x in d["deliver_seconds"]]
            uploads = len(latencies)
            first = min(d["start_wall"] for d in done)
            uploads_window = max(d["uploads_done_wall"] for d in done) - first
            stakes_window = max(d["end_wall"] for d in done) - first
            stakes_ok = sum(d["stakes_ok"] for d in done)
            stakes_sent = sum(d["stakes_sent"] for d in done)
            stakes_gas = sum(d["gas"] for d in done)
            if stake_phase is not None:
                stakes_window, stakes_ok = stake_phase["wall"], stake_phase["ok"]
                stakes_sent, stakes_gas = stake_phase["sent"], stake_phase["gas"]
            upload_stats = {
                "uploads": uploads,
                "failures": sum(d["upload_failures"] for d in done),
                "uploads_per_s": round(uploads / uploads_window, 2) if uploads_window > 0 else None,
                "window_s": round(uploads_window, 2),
                "latency_ms": {"p50": ms(percentile(latencies, 50)), "p90": ms(percentile(latencies, 90)),
                               "p99": ms(percentile(latencies, 99)), "max": ms(max(latencies, default=None)),
                               "min": ms(min(latencies, default=None)),
                               "mean": ms(sum(latencies) / len(latencies)) if latencies else None},
                "deliver_ms": {"p50": ms(percentile(delivers, 50)), "p99": ms(percentile(delivers, 99)),
                               "what": ("the POST of a request encoded before the clock" if shared
                                        else "sign the Upload + POST + check the receipt's signature")},
                "file_bytes": {"min": min(sizes), "max": max(sizes), "mean": round(sum(sizes) / len(sizes))},
                "megabytes_per_s": round(sum(d["upload_bytes"] for d in done) / 1e6 / uploads_window, 2)
                if uploads_window > 0 else None,
                "service_cpu_s": round(service_cpu1 - service_cpu0, 2) if service_cpu0 is not None and service_cpu1 is not None else None,
                "service_cpu_ms_per_upload": round((service_cpu1 - service_cpu0) * 1000 / uploads, 1)
                if uploads and service_cpu0 is not None and service_cpu1 is not None else None,
                "anvil_cpu_s": round(anvil_cpu1 - anvil_cpu0, 2) if anvil_cpu0 is not None and anvil_cpu1 is not None else None,
                "receipts_checked": receipts_checked if shared else uploads,
                "replicas": len(procs),
                "replica_cpu_s": [None if x is None else round(x, 2) for x in replica_cpu],
                "replica_uploads": [sum(d["per_replica"][r] for d in done) for r in range(len(urls))],
                "other_cpu_s": other_cpu,
                "machine_busy_cpu_s": round(busy1 - busy0, 2) if busy0 is not None and busy1 is not None else None,
                "machine_cpu_s": round((os.cpu_count() or 1) * map_wall, 2),
                "what_cpu": ("CPU seconds over the upload phase (map_wall_s; the stakes are a phase of their own "
                             "after it): each replica, Anvil, PostgreSQL and SeaweedFS (their process trees), the "
                             "workers (their uploads and the receipts' checks); machine_busy_cpu_s is every process "
                             "of the machine (other users too), machine_cpu_s the cores' total") if shared else
                            ("CPU seconds over the upload and stake phase (map_wall_s): the service, Anvil, the "
                             "workers; machine_busy_cpu_s is every process of the machine (other users too), "
                             "machine_cpu_s the cores' total"),
                "cpu_ms_per_upload": {k: round(v * 1000 / uploads, 1) for k, v in
                                      {**{f"replica-{r + 1}": x for r, x in enumerate(replica_cpu)}, **other_cpu,
                                       "workers": sum(d["cpu_seconds"] for d in done),
                                       "machine_busy": (busy1 - busy0) if busy0 is not None and busy1 is not None
                                       else None}.items() if v is not None and uploads},
                "bounds": cpu_bounds(replica_cpu, other_cpu, sum(d["cpu_seconds"] for d in done),
                                     (busy1 - busy0) if busy0 is not None and busy1 is not None else None, uploads),
                "map_wall_s": round(map_wall, 2),
                "workers_cpu_s": [round(d["cpu_seconds"], 2) for d in done],
                "per_worker": [{"uploads": d["uploads"], "failures": d["upload_failures"],
                                "p50_ms": ms(percentile(d["latencies"], 50)), "p99_ms": ms(percentile(d["latencies"], 99)),
                                "seconds": round(d["end_wall"] - d["start_wall"], 2)} for d in done],
            }
            stake_stats = {"sent": stakes_sent, "ok": stakes_ok,
                           "failures": failures["stake"],
                           "stakes_per_s": round(stakes_ok / stakes_window, 2) if stakes_window > 0 else None,
                           "send_ms_p50": ms(percentile([x for d in done for x in d["stake_send_seconds"]], 50)),
                           "gas_mean": stakes_gas // max(1, stakes_ok),
                           "window_s": round(stakes_window, 2),
                           "what": "a phase of its own after every upload (each worker's stakes in one JSON-RPC "
                                   "batch)" if shared else "each stake sent right after its upload's receipt"}
            notes["upload_stake_wall_s"] = round(time.time() - t_phase, 2)
            phase("upload_stake")

            # ---- check: the chain's stakes and the service's store agree
            info = client.round(rid)
            expected_total = sum(amounts)
            if info.stake_count != n or info.total_staked != expected_total:
                failures["stake_totals"] += 1
                errors.append(f"round {rid}: {info.stake_count} stakes, {info.total_staked} wei; "
                              f"expected {n}, {expected_total}")
            store = layout.store()
            stored = store.uploads(rid)
            commitments = {(s.model, s.staker): s.commitment for s in client.stakes_at_close(rid)} \
                if info.stake_count else {}
            late = sum(u.received_at >= info.close_time for u in stored)
            unmatched = sum(commitments.get((u.model, u.staker)) != u.file_hash for u in stored)
            missing = sum(store.delivered(rid, m, s, c, info.close_time) is None for (m, s), c in commitments.items())
            if len(stored) != n or late or unmatched or missing:
                failures["store"] += 1
                errors.append(f"store: {len(stored)} uploads for {n} participants, {late} received at or after "
                              f"close, {unmatched} not matching their stake, {missing} stakes without a file")
            # Every acknowledged upload is a row of the shared database, its file in the bucket or on
            # the disk of a replica (until the submission files move to the store).
            rows = {(u.model, u.staker, "0x" + u.file_hash.hex()): u for u in stored}
            acked = [a for d in done for a in d["acknowledged"]]
            keys = "\n".join(bucket_keys(shared)) if shared else ""
            replica_stores = [DataLayout(folder).store() for folder in replica_dirs]

            def file_kept(u: Any) -> str | None:
                if u.file_hash.hex() in keys:
                    return "bucket"
                ext = u.path.suffix
                if any(r.file_path(u.round_id, u.model, u.staker, u.file_hash, ext).is_file() for r in replica_stores):
                    return "replica_disk"
                return None

            without_row = sum(tuple(a) not in rows for a in acked)
            kept = [file_kept(rows[tuple(a)]) for a in acked if tuple(a) in rows]
            without_file = sum(k is None for k in kept)
            if without_row or without_file:
                failures["acknowledged_not_stored"] += without_row + without_file
                errors.append(f"{without_row} acknowledged uploads without their row, {without_file} without their file")
            store_stats = {"uploads": len(stored), "late": late, "unmatched": unmatched, "stakes_without_file": missing,
                           "acknowledged": len(acked), "acknowledged_without_row": without_row,
                           "acknowledged_without_file": without_file,
                           "files_in_bucket": sum(k == "bucket" for k in kept),
                           "files_on_replica_disks": sum(k == "replica_disk" for k in kept),
                           "db_bytes": store.db_path.stat().st_size if store.db_path.exists() else None}
            phase("check_stakes")

            if shared:
                # Until the submission files are in the store, the oracle (its own data folder) gets
                # the replicas' files as a shared disk or an rsync would give them; nothing to copy
                # once they are in the bucket.
                for folder in replica_dirs:
                    source = DataLayout(folder).store().files_dir
                    if source.is_dir() and any(source.iterdir()):
                        shutil.copytree(source, layout.store().files_dir, dirs_exist_ok=True)
                        notes["oracle_files_copied_from_replicas"] = True

            # ---- resolve: past the resolve time, targets delivered, the oracle scores and posts
            supply_before = int(client.token.totalSupply())
            advance_to(client.round(rid).resolve_time)
            layout.targets_dir.mkdir(parents=True, exist_ok=True)
            (layout.targets_dir / f"round-{rid}.csv").write_text(targets_csv)
            events: list[str] = []
            oracle = Oracle(client, oracle_acct, layout, log=EventLog(json_lines=True, out=events.append))
            oracle_seconds = time_oracle(oracle)
            time_method(oracle.layout.store().__class__, "delivered", "store_lookups", oracle_seconds)
            oracle.tick()
            if client.round(rid).state is not RoundState.POSTED:
                failures["post"] += 1
                errors.extend(e for e in events if "error" in e)
            failures["oracle_errors"] += sum('"round_error"' in e or '"event": "error"' in e for e in events)
            phase("resolve")

            # ---- finalise after the challenge period
            advance_to(client.round(rid).final_at or 0)
            oracle.tick()
            info = client.round(rid)
            if info.state is not RoundState.FINAL or not info.settled:
                failures["finalise"] += 1
            phase("finalise")

            # ---- claims, concurrently, with proofs served by the service
            jobs = [{"uri": uri, "url": urls[w % len(urls)], "chain_id": chain_id, "tournament": tournament,
                     "round": rid, "seed": args.seed, "batch": args.claim_batch, "indices": part,
                     "addresses": {i: addresses[i] for i in part}, "models": {i: models[i] for i in part}}
                    for w, part in enumerate(shares)]
            claimed = pool.map(claim_job, jobs, chunksize=1)
            for c in claimed:
                errors.extend(c["errors"])
            failures["proof"] += sum(c["proof_failures"] for c in claimed)
            failures["claim"] += sum(c["tx_failures"] for c in claimed)
            if sum(c["claims"] for c in claimed) != n:
                failures["claim_count"] += 1
            proof_latencies = [x for c in claimed for x in c["proof_latencies"]]
            claim_stats = {"claims": sum(c["claims"] for c in claimed), "txs": sum(c["txs"] for c in claimed),
                           "batch": args.claim_batch,
                           "gas_per_claim": sum(c["gas"] for c in claimed) // max(1, sum(c["claims"] for c in claimed)),
                           "proof_ms": {"p50": ms(percentile(proof_latencies, 50)),
                                        "p99": ms(percentile(proof_latencies, 99)),
                                        "max": ms(max(proof_latencies, default=None))},
                           "proofs_s": [round(c["proofs_s"], 2) for c in claimed]}
            phase("claim")
            storage_after = storage_snapshot(shared, folders)
            storage = {"before_uploads": storage_before, "after_round": storage_after,
                       "growth_per_round": storage_growth(storage_before, storage_after),
                       "what": f"one round of {n} uploads, resolved and claimed: the bucket by prefix, "
                               "PostgreSQL (pg_database_size, rows and bytes by table), each data folder"}
            phase("storage")
            rss = [process_rss_mb(p.pid) for p in procs]
            notes["service_peak_rss_mb"] = rss[0] if len(rss) == 1 else rss
            failures["service_died"] += sum(p.poll() is not None for p in procs)

        # ---- the books
        pub = load_published(layout.published(rid))
        index_of = {a.lower(): i for i, a in enumerate(addresses)}
        expected_out = [0] * n
        invalid = []
        for row in pub.rows:
            i = index_of[row.staker.lower()]
            expected_out[i] += row.stake - row.burn + row.payout
            if not row.valid:
                invalid.append(f"{row.model}: {row.reason}")
        served = {i: p for c in claimed for i, p in c["proofs"].items()}
        proof_mismatch = 0
        by_key = {(r.model, r.staker.lower()): r for r in pub.rows}
        for p in served.values():
            r = by_key.get((p["model"], p["staker"].lower()))
            if r is None or (int(p["stake"]), int(p["payout"]), int(p["burn"]), bool(p["valid"]), list(p["proof"])) \
                    != (r.stake, r.payout, r.burn, r.valid, list(r.proof)):
                proof_mismatch += 1
        if invalid:
            failures["invalid_stakes"] += len(invalid)
            errors.extend(invalid[:20])
        if proof_mismatch:
            failures["proof_mismatch"] += proof_mismatch
        info = client.round(rid)
        round_ok = info.claimed == info.total_staked - info.total_burn + info.total_payout and info.settled
        contract_balance = int(client.token.balanceOf(tournament))
        pool_left = int(client.tournament.pool())
        supply_after = int(client.token.totalSupply())
        final_balances = rpc.uint_calls(token, [SEL_BALANCE_OF + encode(["address"], [a]) for a in addresses])
        participants_ok = all(b == m - a + out for b, m, a, out in zip(final_balances, minted, amounts, expected_out))
        supply_ok = supply_before - supply_after == info.total_burn
        books = {
            "round_claimed_eq_staked_minus_burn_plus_paid": round_ok,
            "contract_holds_pool": contract_balance == pool_left,
            "supply_fell_by_burn": supply_ok,
            "participants_ok": participants_ok,
            "all_stakes_valid": not invalid and len(pub.rows) == n,
            "service_proofs_match_published": proof_mismatch == 0 and len(served) == n,
            "staked": str(info.total_staked), "burned": str(info.total_burn), "paid": str(info.total_payout),
            "claimed": str(info.claimed), "funded": str(info.funded), "contract_balance": str(contract_balance),
            "pool": str(pool_left), "supply_fell_by": str(supply_before - supply_after),
            "valid_stakes": sum(r.valid for r in pub.rows), "published_rows": len(pub.rows),
        }
        books_balance = all(v for k, v in books.items() if isinstance(v, bool))
        blocks = chain_blocks(rpc)
        phase("books")

    return {
        "upload": upload_stats,
        "stake": stake_stats,
        "store": store_stats,
        "storage": storage,
        "claim": claim_stats,
        "oracle_seconds": {k: round(v, 2) for k, v in oracle_seconds.items()},
        "chain": blocks,
        "books": books,
        "books_balance": books_balance,
        "failures": sum(failures.values()),
        "failures_by_kind": {k: v for k, v in failures.items()},
        "errors": errors[:50],
    }


def summary(result: dict[str, Any]) -> str:
    if "configurations" in result:
        return replicas_summary(result)
    lines = [f"service benchmark: {result['participants']} participants, {result['rows']} rows per file, "
             f"{result['workers']} worker processes, {result['machine'].get('cpus')} CPUs"]
    up = result.get("upload")
    if up:
        lat = up["latency_ms"]
        lines += [
            f"  uploads:        {up['uploads']} in {up['window_s']} s = {up['uploads_per_s']} uploads/s "
            f"({up['megabytes_per_s']} MB/s, files of ~{up['file_bytes']['mean'] // 1000} kB)",
            f"  upload latency: p50 {lat['p50']} ms, p90 {lat['p90']} ms, p99 {lat['p99']} ms, max {lat['max']} ms "
            f"(POST to 201 with receipt)",
            f"  service CPU:    {up['service_cpu_s']} s over the uploads = {up['service_cpu_ms_per_upload']} ms per upload",
        ]
        st = result["stake"]
        lines.append(f"  stakes:         {st['ok']} of {st['sent']} mined, {st['stakes_per_s']} stakes/s "
                     f"(upload + stake, {st['window_s']} s), {st['gas_mean']} gas each")
        cl = result["claim"]
        lines.append(f"  claims:         {cl['claims']} in {cl['txs']} claimMany txs; proofs from the service "
                     f"p50 {cl['proof_ms']['p50']} ms, p99 {cl['proof_ms']['p99']} ms")
    lines.append(f"  failures:       {result['failures']} {result.get('failures_by_kind', '')}")
    lines.append("  phases (s):     " + ", ".join(f"{k} {v}" for k, v in result["seconds"].items()))
    if "oracle_seconds" in result:
        lines.append("  oracle (s):     " + ", ".join(f"{k} {v}" for k, v in result["oracle_seconds"].items()))
    lines.append(f"  books balance:  {'yes' if result['books_balance'] else 'NO'}")
    if result.get("error"):
        lines.append(f"  error:          {result['error']}")
    for e in result.get("errors", [])[:10]:
        lines.append(f"    {e}")
    return "\n".join(lines)


def replicas_summary(result: dict[str, Any]) -> str:
    lines = [f"service benchmark, replicas {result['replicas']}: {result['participants']} participants per "
             f"configuration, {result['rows']} rows per file, {result['workers']} worker processes, "
             f"{result['machine'].get('cpus')} CPUs, one PostgreSQL, one S3 bucket"]
    header = ["replicas", "uploads/s", "p50 ms", "p99 ms", "replica CPU s", "ms/upload", "anvil", "pg", "s3",
              "workers", "busy/cores s", "bucket kB", "pg kB", "disks kB", "books"]
    rows = []
    for c in result["configurations"]:
        up = c.get("upload")
        if not up:
            rows.append([str(c["replicas"]), "failed", c.get("error", "")[:60]] + [""] * (len(header) - 3))
            continue
        growth = c["storage"]["growth_per_round"]
        other = up["other_cpu_s"]
        rows.append([
            str(c["replicas"]), f"{up['uploads_per_s']}", f"{up['latency_ms']['p50']}", f"{up['latency_ms']['p99']}",
            "+".join(f"{x}" for x in up["replica_cpu_s"]), f"{up['service_cpu_ms_per_upload']}",
            f"{other.get('anvil')}", f"{other.get('postgres')}", f"{other.get('seaweedfs')}",
            f"{round(sum(up['workers_cpu_s']), 1)}", f"{up['machine_busy_cpu_s']}/{up['machine_cpu_s']}",
            f"{growth.get('bucket', {}).get('bytes', 0) // 1000}",
            f"{growth.get('postgres', {}).get('database_bytes', 0) // 1000}",
            f"{sum(growth['folders'].values()) // 1000}", "yes" if c["books_balance"] else "NO"])
    widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(header)]
    lines.append("  " + "  ".join(h.rjust(w) for h, w in zip(header, widths)))
    lines += ["  " + "  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
    for c in result["configurations"]:
        b = (c.get("upload") or {}).get("bounds")
        if b:
            lines.append(f"  [{c['replicas']}] per upload r {b['r_ms']} ms (replicas), o {b['o_ms']} ms (the rest): one "
                         f"replica's core allows {b['one_replica_core_uploads_per_s']}/s, the cores "
                         f"{b['machine_cores_uploads_per_s']}/s, two to one at most {b['two_to_one_at_most']}x; "
                         f"busy CPU no one here accounts for: {b['unaccounted_busy_cpu_ms']} ms per upload")
    ratio = result.get("ratio")
    if ratio:
        lines.append(f"  ratio {ratio['of']}: {ratio['uploads_per_s']}x uploads/s, p50 x{ratio['p50']}, "
                     f"p99 x{ratio['p99']}; goal ({ratio['goal']}): {'met' if ratio['goal_met'] else 'NOT met'}")
    lines.append(f"  failures:       {result['failures']}")
    lines.append("  phases (s):     " + ", ".join(f"{k} {v}" for k, v in result["seconds"].items()))
    for c in result["configurations"]:
        for e in c.get("errors", [])[:5]:
            lines.append(f"    [{c['replicas']}] {e}")
    if result.get("error"):
        lines.append(f"  error:          {result['error']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=5000, help="rows of each predictions file")
    parser.add_argument("--workers", type=int, default=4, help="participant processes uploading concurrently")
    parser.add_argument("--claim-batch", type=int, default=50, help="claims per claimMany transaction")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--replicas", default="1",
                        help="service replicas, or several configurations measured one after the other in this "
                             "run (1,2); anything but the default 1 shares one PostgreSQL and one S3 bucket")
    parser.add_argument("--shared", action="store_true",
                        help="PostgreSQL and S3 even for --replicas 1 (implied by any other --replicas)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"default {OUT.relative_to(ROOT)}, with PostgreSQL and S3 {OUT_REPLICAS.relative_to(ROOT)}")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (data dir, service log)")
    parser.add_argument("--profile", action="store_true",
                        help="run each replica under cProfile, every thread on its CPU clock "
                             "(bench/profile_serve.py): replica-N.pstats in the work folder (implies --keep); "
                             "slower, so its figures are not the benchmark's")
    args = parser.parse_args()
    args.keep = args.keep or args.profile
    try:
        args.replicas = [int(x) for x in str(args.replicas).split(",")]
    except ValueError:
        parser.error(f"--replicas {args.replicas}: a number of replicas or a list of them (1,2)")
    if not args.replicas or min(args.replicas) < 1:
        parser.error("--replicas: at least one replica per configuration")
    args.shared = args.shared or args.replicas != [1]
    if args.out is None:
        args.out = OUT_REPLICAS if args.shared else OUT
    if args.participants < 2 or args.workers < 1 or args.rows < 10 or args.claim_batch < 1 \
            or args.workers > args.participants:
        parser.error("need --participants >= 2, 1 <= --workers <= --participants, --rows >= 10, --claim-batch >= 1")

    def terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds: Anvil, the service and the workers are stopped

    signal.signal(signal.SIGTERM, terminate)
    seconds: dict[str, float] = {}
    notes: dict[str, Any] = {}
    params: dict[str, Any] = {"participants": args.participants, "rows": args.rows, "workers": args.workers,
                              "claim_batch": args.claim_batch, "seed": args.seed}
    if args.shared:
        params["replicas"] = args.replicas
    info = machine()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    t0 = time.perf_counter()
    try:
        figures = run(args, seconds, notes)
    except BaseException as exc:  # noqa: BLE001 - a failed run is still a result, with what failed
        import traceback

        traceback.print_exc()
        figures = {"failures": 1, "books_balance": False,
                   "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:800]}",
                   "failed_after_phase": list(seconds)[-1] if seconds else None}
        if not isinstance(exc, Exception):
            result = {**params, **figures, "seconds": seconds, "machine": info}
            print(summary(result))
            raise
    result = {
        **params,
        **figures,
        "seconds": {**seconds, "total": round(time.perf_counter() - t0, 2)},
        "setup": {"anvil": "own process on 127.0.0.1, automine, no step tracing, no fees",
                  "service": "python -m nmrstake.cli serve (uvicorn, one process) on 127.0.0.1"
                             + (" per replica, each its own --data-dir, all on one PostgreSQL database (the tests' "
                                "throwaway server, fsync off), one SeaweedFS S3 bucket and one --receipt-key-file; "
                                "each worker sends its uploads to the replicas in turn" if args.shared else ""),
                  "oracle": "nmrstake.oracle.Oracle.tick() in the benchmark's process",
                  "upload": "nmrstake.participant.deliver through ServiceClient; each worker one upload at a time",
                  "stake": "stakeWithPermit, raw signed transaction right after the receipt"},
        "machine": info,
        "started_at": started,
    }
    try:
        info["loadavg_at_end"] = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        pass
    if notes.get("service_peak_rss_mb") is not None:
        result["service_peak_rss_mb"] = notes["service_peak_rss_mb"]
    print(summary(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")
    return 0 if result["failures"] == 0 and result["books_balance"] else 1


if __name__ == "__main__":
    sys.exit(main())
