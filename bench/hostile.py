"""Hostile-participants benchmark: what an honest staker gets from `nmrstake serve` (on a real Anvil)
while other participants attack it, against the same on an idle service.

    python bench/hostile.py [--honest 30] [--interval 1.0] [--half-open 1000] [--slow-bodies 20]
                            [--max-upload-bytes 1048576] [--stakers 3] [--models 4]
                            [--out bench/results/hostile.json] [--keep]

Run from the repository root with the virtualenv active (`make bench` runs it). Everything listens on
and connects to 127.0.0.1 only; Anvil, the service and the attacker process are stopped on the way
out, whatever happened (also on Ctrl-C). Phases (each timed):

1. chain:         Anvil (npm, automine) on a free port; ape joins it.
2. setup:         deploy, mint NMR to --stakers honest stakers (tests/helpers/scenario.py `make_world`),
                  open one round for a day of chain time and fund it.
3. service_start: `python -m nmrstake.cli serve --max-upload-bytes N` as a process, until /healthz.
4. warm_up:       one honest upload per key (--stakers x --models keys): the service's first requests,
                  not counted, and the accepted signatures the slow bodies replay below.
5. idle:          --honest honest uploads one after another, one started every --interval s: a small
                  valid predictions CSV (40 rows) signed with a fresh EIP-712 signature (signed before
                  the clock starts), the keys rotating over the stakers and models. Latency: the POST
                  on a new connection, request to the answer (201 with the signed receipt).
6. attack_start:  the attackers, in a process of their own (this one measures the honest uploads
                  alone, without sharing its interpreter with them), all at once:
                  - --half-open connections, each sending a request line and one header, then nothing;
                    one that the service closes is opened again at once, so the pressure lasts;
                  - --slow-bodies requests replaying the accepted signatures of step 4 (every honest
                    key is a target), declaring the largest upload and sending the file 1 byte a second;
                    one that the service ends is sent again;
                  - a flood, in a background thread: fresh keys without NMR, one after another, each
                    posting the largest file the service takes (--max-upload-bytes).
                  Ready once every connection is open and the flood has started.
7. under_attack:  the same honest uploads as in step 5, while the attack goes on.
8. drain:         the attackers stop and hang up; until the service holds no more client connections
                  than when idle (at most HEADER_SECONDS + 5 s).

Figures: honest latencies (p50, p90, max) and how many were answered 201, idle and under attack; how
long the service took to close a half-open connection (from the connection's opening, and past its
deadline, HEADER_SECONDS) and a slow body (its 408 and its closing, past its deadline,
BODY_GRACE_SECONDS + bytes sent / MIN_BODY_RATE), as the attacker saw them; what the flood got; the
sockets the service process held (/proc/<pid>/fd, sockets only; and of those the connections on its
port, from /proc/net/tcp) when idle, under attack and once the attackers left; the service's CPU
time. Nothing here asserts a time. Prints a table, writes one JSON object to --out. Exits 1 if any
honest upload was not answered 201 with its receipt, or anything else failed.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from helpers.uploads import MULTIPART_TYPE, csv_file, multipart, signed_fields  # noqa: E402 - the tests' upload builders
from load import phase_clock  # noqa: E402 - the load benchmark's phase clock
from service import (  # noqa: E402 - the service benchmark's processes and figures
    anvil_node,
    machine,
    ms,
    percentile,
    process_cpu_seconds,
)

OUT = ROOT / "bench" / "results" / "hostile.json"
HOST = "127.0.0.1"
DAY = 24 * 3600
ROUND_ID = 1
MIB = 1024 * 1024
HALF_OPEN_REQUEST = b"POST /v1/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # never finished


# ---------------------------------------------------------------------------------------- figures


def latency_ms(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50": ms(percentile(values, 50)), "p90": ms(percentile(values, 90)),
            "max": ms(max(values, default=None)), "min": ms(min(values, default=None)),
            "mean": ms(sum(values) / len(values)) if values else None}


def seconds_stats(values: list[float]) -> dict[str, Any]:
    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 3)

    return {"n": len(values), "p50": r(percentile(values, 50)), "p90": r(percentile(values, 90)),
            "max": r(max(values, default=None)), "min": r(min(values, default=None))}


def service_sockets(pid: int, port: int, peer_port: int) -> dict[str, int]:
    """The sockets the process holds (/proc/<pid>/fd); of those, the TCP connections on `port`
    other than the listening one (its clients), and those to `peer_port` (Anvil), by /proc/net/tcp."""
    fd_dir = f"/proc/{pid}/fd"
    inodes = set()
    for entry in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{entry}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    clients = peers = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) <= 9 or f[9] not in inodes:
                continue
            if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] != "0A":  # 0A: LISTEN
                clients += 1
            elif int(f[2].rsplit(":", 1)[1], 16) == peer_port:
                peers += 1
    return {"sockets": len(inodes), "client_connections": clients, "anvil_connections": peers}


# ---------------------------------------------------------------------------------------- honest staker


def honest_upload(url: str, domain: Any, staker: Any, model: str, seed: int) -> tuple[float, int | None, str]:
    """One honest upload: (seconds from the POST to its answer, HTTP status or None, what went wrong)."""
    from nmrstake.hashing import keccak_bytes, to_hex

    content = csv_file(seed=seed)
    fields = signed_fields(domain, staker.address, staker, round_id=ROUND_ID, model=model, content=content)
    body = multipart([*fields.items(), ("file", content)])
    t0 = time.perf_counter()
    try:
        resp = requests.post(f"{url}/v1/submissions", data=body, headers={"Content-Type": MULTIPART_TYPE}, timeout=60)
    except requests.RequestException as exc:
        return time.perf_counter() - t0, None, f"{type(exc).__name__}: {str(exc)[:300]}"
    seconds = time.perf_counter() - t0
    if resp.status_code != 201:
        return seconds, resp.status_code, resp.text[:300]
    got = resp.json().get("commitment")
    if got != to_hex(keccak_bytes(content)) or not resp.json().get("receipt"):
        return seconds, resp.status_code, f"201 without the file's receipt: commitment {got}"
    return seconds, resp.status_code, ""


def honest_phase(url: str, domain: Any, keys: list[tuple[Any, str]], count: int, interval: float, seed0: int,
                 sockets: Any) -> dict[str, Any]:
    """`count` honest uploads, one started every `interval` s (at once if the previous took longer);
    the service's sockets sampled after each (outside the timed POST)."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    errors: list[str] = []
    samples: list[dict[str, int]] = []
    started_at: list[float] = []
    start = time.perf_counter()
    for k in range(count):
        delay = start + k * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        staker, model = keys[(seed0 + k) % len(keys)]
        started_at.append(time.perf_counter() - start)
        seconds, status, error = honest_upload(url, domain, staker, model, seed0 + k)
        latencies.append(seconds)
        statuses[str(status)] += 1
        if error:
            errors.append(f"honest upload {k} ({model}, {staker.address}): HTTP {status} after {seconds:.3f} s: {error}")
        samples.append(sockets())
    return {"latencies": latencies, "ok": len(latencies) - len(errors), "statuses": dict(statuses), "errors": errors,
            "samples": samples, "started_at": started_at, "window_s": round(time.perf_counter() - start, 2)}


# ---------------------------------------------------------------------------------------- attacker process


class _Conn:
    __slots__ = ("kind", "opened", "replay", "body_bytes", "answered", "status")

    def __init__(self, kind: str, opened: float, replay: int = -1, body_bytes: int = 0) -> None:
        self.kind, self.opened, self.replay, self.body_bytes = kind, opened, replay, body_bytes
        self.answered: float | None = None
        self.status = ""


class Crowd:
    """The half-open connections and the slow bodies, on one selector: each connection the service
    closes is recorded (seconds since it was opened) and opened again; every second, each slow body
    gets one more byte."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.addr = (cfg["host"], cfg["port"])
        self.heads = [bytes.fromhex(h) for h in cfg["replay_heads"]]
        self.request_head = (f"POST /v1/submissions HTTP/1.1\r\nHost: {cfg['host']}:{cfg['port']}\r\n"
                             f"Content-Type: {cfg['multipart_type']}\r\nContent-Length: {cfg['declared']}\r\n\r\n").encode()
        self.header_s, self.grace_s, self.rate = cfg["header_seconds"], cfg["body_grace_seconds"], cfg["min_body_rate"]
        self.sel = selectors.DefaultSelector()
        self.stopping = False
        self.half_opened = self.half_resets = self.half_answered = 0
        self.half_lifetimes: list[float] = []
        self.slow_started = 0
        self.slow_answer_s: list[float] = []
        self.slow_close_s: list[float] = []
        self.slow_answer_past: list[float] = []
        self.slow_close_past: list[float] = []
        self.slow_statuses: Counter[str] = Counter()
        self.connect_errors: Counter[str] = Counter()
        self.bytes_trickled = 0

    def _connect(self) -> socket.socket | None:
        try:
            return socket.create_connection(self.addr, timeout=10)
        except OSError as exc:
            self.connect_errors[type(exc).__name__] += 1
            return None

    def open_half(self) -> None:
        sock = self._connect()
        if sock is None:
            return
        try:
            sock.sendall(HALF_OPEN_REQUEST)
        except OSError as exc:
            self.connect_errors[type(exc).__name__] += 1
            sock.close()
            return
        sock.setblocking(False)
        self.sel.register(sock, selectors.EVENT_READ, _Conn("half", time.monotonic()))
        self.half_opened += 1

    def open_slow(self, replay: int) -> None:
        sock = self._connect()
        if sock is None:
            return
        head = self.heads[replay % len(self.heads)]
        try:
            sock.sendall(self.request_head + head)
        except OSError as exc:
            self.connect_errors[type(exc).__name__] += 1
            sock.close()
            return
        sock.setblocking(False)
        self.sel.register(sock, selectors.EVENT_READ, _Conn("slow", time.monotonic(), replay, len(head)))
        self.slow_started += 1

    def _readable(self, key: selectors.SelectorKey) -> None:
        sock, conn = key.fileobj, key.data
        assert isinstance(sock, socket.socket)
        try:
            data = sock.recv(65536)
            reset = False
        except BlockingIOError:
            return
        except OSError:
            data, reset = b"", True
        now = time.monotonic()
        if data:
            if conn.answered is None:
                conn.answered = now
                conn.status = data.split(b" ", 2)[1].decode(errors="replace") if data.startswith(b"HTTP/") else "?"
            return
        self.sel.unregister(sock)
        sock.close()
        if conn.kind == "half":
            self.half_lifetimes.append(now - conn.opened)
            self.half_resets += reset
            self.half_answered += conn.answered is not None
            if not self.stopping:
                self.open_half()
        else:
            deadline = self.grace_s + (conn.body_bytes + 1) / self.rate
            self.slow_statuses[conn.status or ("reset" if reset else "closed without an answer")] += 1
            if conn.answered is not None:
                self.slow_answer_s.append(conn.answered - conn.opened)
                self.slow_answer_past.append(conn.answered - conn.opened - deadline)
            self.slow_close_s.append(now - conn.opened)
            self.slow_close_past.append(now - conn.opened - deadline)
            if not self.stopping:
                self.open_slow(conn.replay)

    def _trickle(self) -> None:
        for key in list(self.sel.get_map().values()):
            conn = key.data
            if conn.kind == "slow" and conn.answered is None:
                try:
                    assert isinstance(key.fileobj, socket.socket)
                    key.fileobj.send(b"0")
                    conn.body_bytes += 1
                    self.bytes_trickled += 1
                except OSError:
                    pass  # closed by the service: the selector reports it

    def run(self, stop: threading.Event) -> None:
        next_tick = time.monotonic() + 1.0
        while not stop.is_set():
            for key, _ in self.sel.select(max(0.0, next_tick - time.monotonic())):
                self._readable(key)
            if time.monotonic() >= next_tick:
                self._trickle()
                next_tick += 1.0

    def close_all(self) -> dict[str, int]:
        self.stopping = True
        still = Counter(key.data.kind for key in self.sel.get_map().values())
        for key in list(self.sel.get_map().values()):
            self.sel.unregister(key.fileobj)
            assert isinstance(key.fileobj, socket.socket)
            key.fileobj.close()
        return dict(still)


def post_raw(addr: tuple[str, int], data: bytes) -> tuple[str, int]:
    """Send a whole request on a new connection, then read the status line: (status or what
    happened instead, bytes the kernel took before the service closed)."""
    sent = 0
    try:
        sock = socket.create_connection(addr, timeout=15)
    except OSError as exc:
        return f"connect: {type(exc).__name__}", 0
    with sock:
        view = memoryview(data)
        try:
            while sent < len(data):
                sent += sock.send(view[sent:sent + 256 * 1024])
        except OSError:
            pass  # the service answered and closed before the file was in: its answer may still be there
        answer = b""
        try:
            while b"\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except OSError as exc:
            if not answer:
                return f"no answer ({type(exc).__name__})", sent
        if answer.startswith(b"HTTP/"):
            return answer.split(b" ", 2)[1].decode(errors="replace"), sent
        return "no answer (closed)", sent


def flood(cfg: dict[str, Any], stop: threading.Event, out: dict[str, Any]) -> None:
    """Fresh keys without NMR, one after another, each posting the largest file the service takes."""
    from eth_account import Account

    from nmrstake.chain.signers import key_account
    from nmrstake.signing import Domain

    domain = Domain(cfg["chain_id"], cfg["tournament"])
    largest = Path(cfg["largest_file"]).read_bytes()
    addr = (cfg["host"], cfg["port"])
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    sent_total = 0
    started = time.monotonic()
    k = 0
    try:
        while not stop.is_set():
            fresh = Account.create()
            fields = signed_fields(domain, fresh.address, key_account(fresh.key), round_id=cfg["round"],
                                   model=f"flood_{k}", content=largest)
            body = multipart([*fields.items(), ("file", largest)])
            request = (f"POST /v1/submissions HTTP/1.1\r\nHost: {addr[0]}:{addr[1]}\r\nContent-Type: "
                       f"{cfg['multipart_type']}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
            t0 = time.monotonic()
            status, sent = post_raw(addr, request)
            latencies.append(time.monotonic() - t0)
            statuses[status] += 1
            sent_total += sent
            k += 1
    except Exception as exc:  # noqa: BLE001 - reported with the figures
        out["flood_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    out["flood"] = {"requests": k, "statuses": dict(statuses), "seconds": round(time.monotonic() - started, 2),
                    "latencies": latencies, "bytes_sent": sent_total, "file_bytes": len(largest)}


def attack(config: Path) -> int:
    """The attacker process: until SIGTERM or SIGINT, then its figures to cfg["out"]."""
    import resource

    cfg = json.loads(config.read_text())
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = cfg["half_open"] + cfg["slow_bodies"] + 256
    if soft < want and (hard == resource.RLIM_INFINITY or hard >= want):
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    out: dict[str, Any] = {}
    crowd = Crowd(cfg)
    t0 = time.monotonic()
    for _ in range(cfg["half_open"]):
        crowd.open_half()
    for i in range(cfg["slow_bodies"]):
        crowd.open_slow(i)
    out["open_s"] = round(time.monotonic() - t0, 2)
    flooder = threading.Thread(target=flood, args=(cfg, stop, out), name="flood", daemon=True)
    flooder.start()
    Path(cfg["ready"]).write_text("ready\n")
    try:
        crowd.run(stop)
    finally:
        still = crowd.close_all()
        flooder.join(timeout=30)
        times = os.times()
        out.update({
            "half_open": {"opened": crowd.half_opened, "closed_by_service": len(crowd.half_lifetimes),
                          "resets": crowd.half_resets, "answered": crowd.half_answered,
                          "open_at_stop": still.get("half", 0), "lifetimes": crowd.half_lifetimes},
            "slow_bodies": {"started": crowd.slow_started, "statuses": dict(crowd.slow_statuses),
                            "open_at_stop": still.get("slow", 0), "bytes_trickled": crowd.bytes_trickled,
                            "answer_s": crowd.slow_answer_s, "close_s": crowd.slow_close_s,
                            "answer_past_deadline_s": crowd.slow_answer_past,
                            "close_past_deadline_s": crowd.slow_close_past},
            "connect_errors": dict(crowd.connect_errors),
            "attack_s": round(time.monotonic() - t0, 2),
            "cpu_s": round(times.user + times.system, 2),
        })
        Path(cfg["out"]).write_text(json.dumps(out))
    return 0


# ---------------------------------------------------------------------------------------- main


def run(args: argparse.Namespace, seconds: dict[str, float], notes: dict[str, Any]) -> dict[str, Any]:
    from ape.logging import logger

    from nmrstake.chain.connect import load_project

    logger.set_level("ERROR")
    load_project().load_contracts()  # compile (cached) before the clock starts
    phase = phase_clock(seconds, "hostile-bench")
    work = Path(tempfile.mkdtemp(prefix="nmrstake-hostile-bench-"))
    try:
        return _run(args, phase, work, notes)
    finally:
        if args.keep:
            print(f"[hostile-bench] kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, phase: Any, work: Path, notes: dict[str, Any]) -> dict[str, Any]:
    from helpers.scenario import make_world, open_funded_round
    from helpers.service_process import start_service, stop

    from nmrstake.chain.connect import load_project
    from nmrstake.localchain import anvil_provider, spawn, stop_process
    from nmrstake.service.server import HEADER_SECONDS
    from nmrstake.service.upload import BODY_GRACE_SECONDS, MIN_BODY_RATE

    errors: list[str] = []
    failures: Counter[str] = Counter()
    with anvil_node() as (anvil_port, _anvil), anvil_provider(anvil_port):
        phase("chain")
        world = make_world(load_project(), work, n_stakers=args.stakers)
        open_funded_round(world, ROUND_ID, close_after=DAY)
        domain = world.client.domain
        keys = [(world.stakers[k % args.stakers], f"honest_{(k // args.stakers) % args.models}")
                for k in range(args.stakers * args.models)]
        phase("setup")

        log = work / "service.log"
        service = start_service(world.deployments, world.layout.root, log, "--host", HOST,
                                "--max-upload-bytes", str(args.max_upload_bytes))
        port = int(service.url.rsplit(":", 1)[1])

        def sockets() -> dict[str, int]:
            return service_sockets(service.proc.pid, port, anvil_port)

        service_exit: int | None = None
        try:
            if service.url != f"http://{HOST}:{port}":
                raise RuntimeError(f"the service is not on {HOST}: {service.url}")
            phase("service_start")

            # ---- warm-up: one accepted upload per key; their signatures are what the slow bodies replay
            heads = []
            for k, (staker, model) in enumerate(keys):
                content = csv_file(seed=10_000 + k)
                fields = signed_fields(domain, staker.address, staker, round_id=ROUND_ID, model=model, content=content)
                body = multipart([*fields.items(), ("file", content)])
                resp = requests.post(f"{service.url}/v1/submissions", data=body,
                                     headers={"Content-Type": MULTIPART_TYPE}, timeout=60)
                if resp.status_code != 201:
                    failures["warm_up"] += 1
                    errors.append(f"warm-up upload {model} ({staker.address}): HTTP {resp.status_code}: {resp.text[:300]}")
                heads.append(body[:body.index(content)].hex())
            time.sleep(0.5)  # the warm-up's connections closed on both sides
            idle_sockets = sockets()
            phase("warm_up")

            # ---- honest uploads on the idle service
            cpu0 = process_cpu_seconds(service.proc.pid)
            idle = honest_phase(service.url, domain, keys, args.honest, args.interval, 0, sockets)
            cpu1 = process_cpu_seconds(service.proc.pid)
            phase("idle")

            # ---- the attackers, in a process of their own
            largest = csv_file(rows=args.max_upload_bytes // 14 + 1)[: args.max_upload_bytes]
            largest = largest[: largest.rindex(b"\n") + 1]
            (work / "largest.csv").write_bytes(largest)
            ready, attack_out = work / "attacker.ready", work / "attacker.json"
            cfg = {"host": HOST, "port": port, "half_open": args.half_open, "slow_bodies": args.slow_bodies,
                   "replay_heads": heads, "declared": args.max_upload_bytes, "multipart_type": MULTIPART_TYPE,
                   "largest_file": str(work / "largest.csv"), "chain_id": domain.chain_id, "tournament": domain.tournament,
                   "round": ROUND_ID, "header_seconds": HEADER_SECONDS, "body_grace_seconds": BODY_GRACE_SECONDS,
                   "min_body_rate": MIN_BODY_RATE, "ready": str(ready), "out": str(attack_out)}
            (work / "attacker-config.json").write_text(json.dumps(cfg))
            attacker = spawn([sys.executable, str(Path(__file__).resolve()), "--attacker", str(work / "attacker-config.json")],
                             log=work / "attacker.log")
            attacker_exit: int | None = None
            try:
                give_up = time.monotonic() + 120
                while not ready.exists():
                    if attacker.poll() is not None:
                        raise RuntimeError(f"the attacker exited with {attacker.returncode}: "
                                           f"{(work / 'attacker.log').read_text(errors='replace')[-2000:]}")
                    if time.monotonic() > give_up:
                        raise RuntimeError("the attacker did not open its connections within 120 s")
                    time.sleep(0.05)
                phase("attack_start")
                cpu2 = process_cpu_seconds(service.proc.pid)
                hostile = honest_phase(service.url, domain, keys, args.honest, args.interval, args.honest, sockets)
                cpu3 = process_cpu_seconds(service.proc.pid)
                service_alive = service.proc.poll() is None
                phase("under_attack")
            finally:
                attacker_exit = stop_process(attacker, timeout=40)
            if attacker_exit != 0 or not attack_out.exists():
                raise RuntimeError(f"the attacker exited with {attacker_exit}: "
                                   f"{(work / 'attacker.log').read_text(errors='replace')[-2000:]}")
            attacked = json.loads(attack_out.read_text())

            # ---- the attackers left: until the service holds no more client connections than idle
            t_left = time.monotonic()
            after = sockets()
            while after["client_connections"] > idle_sockets["client_connections"] \
                    and time.monotonic() - t_left < HEADER_SECONDS + 5:
                time.sleep(0.2)
                after = sockets()
            drained_s = round(time.monotonic() - t_left, 2)
            phase("drain")
        finally:
            service_exit = stop(service)
        service_log = log.read_text(errors="replace") if log.exists() else ""

    # ---- figures
    for name, part in (("idle", idle), ("under_attack", hostile)):
        failures[f"honest_{name}"] += len(part["errors"])
        errors.extend(part["errors"][:20])
    if not service_alive:
        failures["service_died"] += 1
    if service_exit != 0:
        failures["service_exit"] += 1
        errors.append(f"the service exited with {service_exit} on SIGTERM")
    if "flood_error" in attacked:
        errors.append(f"flood: {attacked['flood_error']}")
    tracebacks = service_log.count("Traceback")
    half, slow, fl = attacked["half_open"], attacked["slow_bodies"], attacked["flood"]
    under_samples = hostile["samples"]

    def cpu(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(b - a, 2)

    def honest_figures(part: dict[str, Any]) -> dict[str, Any]:
        return {"uploads": len(part["latencies"]), "ok_201": part["ok"], "statuses": part["statuses"],
                "latency_ms": latency_ms(part["latencies"]), "window_s": part["window_s"],
                "each": [[round(t, 1), ms(x)] for t, x in zip(part["started_at"], part["latencies"])],
                "each_what": "[seconds from the phase's start (the attack's, under attack) to the upload's start, ms]"}

    return {
        "honest": {"idle": {**honest_figures(idle), "service_cpu_s": cpu(cpu0, cpu1)},
                   "under_attack": {**honest_figures(hostile), "service_cpu_s": cpu(cpu2, cpu3)}},
        "half_open": {
            "connections": args.half_open, "opened": half["opened"], "closed_by_service": half["closed_by_service"],
            "closed_with_reset": half["resets"], "answered_before_closing": half["answered"],
            "open_when_the_attack_stopped": half["open_at_stop"],
            "seconds_to_close": seconds_stats(half["lifetimes"]),
            "seconds_past_deadline": seconds_stats([x - HEADER_SECONDS for x in half["lifetimes"]]),
            "what": f"from the attacker's connect to the service's close; the deadline is {HEADER_SECONDS:g} s "
                    "after the service accepts the connection"},
        "slow_bodies": {
            "bodies": args.slow_bodies, "started": slow["started"], "statuses": slow["statuses"],
            "open_when_the_attack_stopped": slow["open_at_stop"], "bytes_trickled": slow["bytes_trickled"],
            "seconds_to_answer": seconds_stats(slow["answer_s"]), "seconds_to_close": seconds_stats(slow["close_s"]),
            "answer_seconds_past_deadline": seconds_stats(slow["answer_past_deadline_s"]),
            "close_seconds_past_deadline": seconds_stats(slow["close_past_deadline_s"]),
            "what": f"a replayed accepted signature, the file sent 1 byte a second; from the request sent to the "
                    f"408 and to the close; the deadline is {BODY_GRACE_SECONDS:g} s + body bytes / {MIN_BODY_RATE} B/s "
                    "of waiting for the body"},
        "flood": {"requests": fl["requests"], "statuses": fl["statuses"], "seconds": fl["seconds"],
                  "requests_per_s": round(fl["requests"] / fl["seconds"], 1) if fl["seconds"] else None,
                  "file_bytes": fl["file_bytes"], "megabytes_sent": round(fl["bytes_sent"] / 1e6, 1),
                  "latency_ms": latency_ms(fl["latencies"]),
                  "what": "fresh keys without NMR, one after another, each posting the largest file taken; "
                          "bytes sent = what the kernel took before the service closed"},
        "attacker": {"open_s": attacked["open_s"], "attack_s": attacked["attack_s"], "cpu_s": attacked["cpu_s"],
                     "connect_errors": attacked["connect_errors"]},
        "service_sockets": {
            "idle": idle_sockets,
            "under_attack_peak": {k: max(s[k] for s in under_samples) for k in under_samples[0]}
            if under_samples else None,
            "under_attack_last": under_samples[-1] if under_samples else None,
            "after_the_attackers_left": after, "after_the_attackers_left_s": drained_s,
            "what": "sockets in /proc/<pid>/fd of the service process; client_connections: of those, the TCP "
                    "connections on the service's port (/proc/net/tcp), not the listening one; anvil_connections: "
                    "those to Anvil; under attack sampled after each honest upload"},
        "deadlines": {"header_s": HEADER_SECONDS, "body_grace_s": BODY_GRACE_SECONDS,
                      "min_body_rate_bytes_per_s": MIN_BODY_RATE},
        "service_exit": service_exit,
        "service_log_tracebacks": tracebacks,
        "failures": sum(failures.values()),
        "failures_by_kind": dict(failures),
        "errors": errors[:50],
    }


def summary(result: dict[str, Any]) -> str:
    lines = [f"hostile benchmark: honest uploads to one `nmrstake serve` (--max-upload-bytes {result['max_upload_bytes']}), "
             f"{result['honest_uploads']} per phase, one every {result['interval_s']} s, "
             f"{result['machine'].get('cpus')} CPUs"]
    honest = result.get("honest")
    if honest:
        lines.append(f"  {'':<14}{'uploads':>8}{'201':>6}{'p50 ms':>9}{'p90 ms':>9}{'max ms':>9}{'service CPU s':>15}")
        for name, part in honest.items():
            lat = part["latency_ms"]
            lines.append(f"  {name.replace('_', ' '):<14}{part['uploads']:>8}{part['ok_201']:>6}{lat['p50']:>9}"
                         f"{lat['p90']:>9}{lat['max']:>9}{part['service_cpu_s']!s:>15}")
        h, s, f = result["half_open"], result["slow_bodies"], result["flood"]
        hs, hp = h["seconds_to_close"], h["seconds_past_deadline"]
        lines.append(f"  half-open:     {h['connections']} held, {h['opened']} opened in all, {h['closed_by_service']} closed "
                     f"by the service: p50 {hs['p50']} s, max {hs['max']} s after opening "
                     f"({hp['p50']:+} s / {hp['max']:+} s past the {result['deadlines']['header_s']:g} s deadline)"
                     if hs["n"] else f"  half-open:     {h['opened']} opened, none closed by the service")
        sa, sc = s["answer_seconds_past_deadline"], s["close_seconds_past_deadline"]
        lines.append(f"  slow bodies:   {s['bodies']} held, {s['started']} sent in all, answers {s['statuses']}; "
                     f"408 p50 {s['seconds_to_answer']['p50']} s (max {s['seconds_to_answer']['max']} s), closed "
                     f"p50 {s['seconds_to_close']['p50']} s (max {s['seconds_to_close']['max']} s); past the deadline: "
                     f"408 {sa['p50']} / {sa['max']} s, close {sc['p50']} / {sc['max']} s (p50 / max)"
                     if sc["n"] else f"  slow bodies:   {s['started']} sent, none ended by the service")
        lines.append(f"  flood:         {f['requests']} uploads of {f['file_bytes']} bytes from fresh keys without NMR "
                     f"({f['requests_per_s']}/s), answers {f['statuses']}")
        ss = result["service_sockets"]
        lines.append(f"  service:       sockets (client connections): idle {ss['idle']['sockets']} "
                     f"({ss['idle']['client_connections']}), under attack peak {ss['under_attack_peak']['sockets']} "
                     f"({ss['under_attack_peak']['client_connections']}), last {ss['under_attack_last']['sockets']} "
                     f"({ss['under_attack_last']['client_connections']}), {ss['after_the_attackers_left_s']} s after "
                     f"the attackers left {ss['after_the_attackers_left']['sockets']} "
                     f"({ss['after_the_attackers_left']['client_connections']}); tracebacks in its log: "
                     f"{result['service_log_tracebacks']}")
    lines.append(f"  failures:      {result['failures']} {result.get('failures_by_kind', '')}")
    lines.append("  phases (s):    " + ", ".join(f"{k} {v}" for k, v in result["seconds"].items()))
    if result.get("error"):
        lines.append(f"  error:         {result['error']}")
    for e in result.get("errors", [])[:10]:
        lines.append(f"    {e}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--honest", type=int, default=30, help="honest uploads in each phase")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between the starts of honest uploads")
    parser.add_argument("--half-open", type=int, default=1000, help="half-open connections held")
    parser.add_argument("--slow-bodies", type=int, default=20, help="slow bodies held (replayed signatures)")
    parser.add_argument("--max-upload-bytes", type=int, default=MIB, help="the service's limit: the flood's file size")
    parser.add_argument("--stakers", type=int, default=3, help="honest stakers (the keys rotate over them)")
    parser.add_argument("--models", type=int, default=4, help="models per honest staker")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (service and attacker logs)")
    parser.add_argument("--attacker", type=Path, help=argparse.SUPPRESS)  # the attacker process (internal)
    args = parser.parse_args()
    if args.attacker:
        return attack(args.attacker)
    if args.honest < 1 or args.interval < 0 or args.half_open < 0 or args.slow_bodies < 0 or not 1 <= args.stakers <= 7 \
            or args.models < 1 or args.max_upload_bytes < 4096:
        parser.error("need --honest >= 1, --interval >= 0, --half-open >= 0, --slow-bodies >= 0, 1 <= --stakers <= 7, "
                     "--models >= 1, --max-upload-bytes >= 4096")
    if (2 * args.honest) // (args.stakers * args.models) + 2 > 16:
        parser.error("more honest uploads per key than the service keeps (16): raise --stakers or --models")

    def terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds: the attacker, the service and Anvil are stopped

    signal.signal(signal.SIGTERM, terminate)
    seconds: dict[str, float] = {}
    notes: dict[str, Any] = {}
    params = {"honest_uploads": args.honest, "interval_s": args.interval, "half_open": args.half_open,
              "slow_bodies": args.slow_bodies, "max_upload_bytes": args.max_upload_bytes, "stakers": args.stakers,
              "models": args.models}
    info = machine()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    t0 = time.perf_counter()
    try:
        figures = run(args, seconds, notes)
    except BaseException as exc:  # noqa: BLE001 - a failed run is still a result, with what failed
        import traceback

        traceback.print_exc()
        figures = {"failures": 1, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:800]}",
                   "failed_after_phase": list(seconds)[-1] if seconds else None}
        if not isinstance(exc, Exception):
            print(summary({**params, **figures, "seconds": seconds, "machine": info}))
            raise
    try:
        info["loadavg_at_end"] = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        pass
    result = {
        "benchmark": "hostile",
        **params,
        **figures,
        "seconds": {**seconds, "total": round(time.perf_counter() - t0, 2)},
        "setup": {"anvil": "own process on 127.0.0.1, automine, no fees",
                  "service": "python -m nmrstake.cli serve --max-upload-bytes N (uvicorn, one process) on 127.0.0.1",
                  "honest": "this process, one upload at a time on a new connection (requests), signed before the "
                            "clock starts; latency = POST to the answer",
                  "attackers": "one process of their own: half-open connections and slow bodies on one selector, "
                               "the flood in a background thread"},
        "machine": info,
        "started_at": started,
    }
    print(summary(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")
    return 0 if result["failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
