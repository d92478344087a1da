"""The participant's uploads against a real service that fails under them, over real processes.

`participant.deliver` (what `nmrstake stake` and `submit` run) uploads through a ServiceClient
that keeps trying while the service is killed with SIGKILL in the middle of the upload and
restarted on the same port and data folder, while it crashes once the file is stored but before
the upload is logged, and while the service's 201 is lost after the upload was logged. Each time
the client ends with the service's receipt for the file, and the store holds the file once, as
the key's only and latest upload. A service that never comes back gives the CLI's one-line
error, with the retry budget in it.

Between the client and the service, a relay in this process plays the network (and a reverse
proxy's 502 while the service is down): it stalls the first upload half-way, or drops the
service's first answer, so each failure lands where the test means it to.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers.scenario import World, make_world, open_funded_round
from helpers.service_process import Service, start_service, stop
from helpers.uploads import csv_file

from nmrstake.client.http import RETRY_SECONDS_ENV, RetryPolicy, ServiceClient
from nmrstake.hashing import keccak_file, to_hex
from nmrstake.intake import UploadAnswer
from nmrstake.localchain import anvil_provider, free_port
from nmrstake.participant import deliver
from nmrstake.prepared import SUFFIX
from nmrstake.signing import DeliveryReceipt
from nmrstake.submissions import CRASH_ENV

ROUND = 43
CRASHED = 86  # the exit status of the service's crash hook (os._exit, as a kill)
#: Long enough for any restart on a loaded machine: the client must outlast it, not race it.
PATIENT = RetryPolicy(budget=600)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked on it
    except OSError:
        pass
    sock.close()


def _content_length(head: bytes) -> int:
    found = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    return int(found.group(1)) if found else 0


def _read_message(sock: socket.socket) -> bytes:
    """One HTTP message (head and a Content-Length body) from `sock`; what came before EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0]
    total = len(head) + 4 + _content_length(head)
    while len(data) < total and (chunk := sock.recv(65536)):
        data += chunk
    return data


class Relay:
    """A TCP relay from a port of its own to the service's port. It passes everything, except:
    with `stall_upload`, the first connection (the client's upload: its first request) passes its
    head and half of its body, then nothing more; with `drop_answer`, the first connection's
    request passes whole and the service's answer to it is read and dropped, the connection
    closed. A connection the service refuses (it is down) gets 502, as from a reverse proxy."""

    def __init__(self, service_port: int, *, stall_upload: bool = False, drop_answer: bool = False) -> None:
        self.service_port = service_port
        self.stall_upload, self.drop_answer = stall_upload, drop_answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        self.bad_gateways = 0
        self.stalled = threading.Event()
        self.stalled_at: tuple[int, int] = (0, 0)  # bytes passed, bytes of the whole request
        self.dropped = threading.Event()
        self.dropped_answer = b""
        self.first_request = b""
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        _close(self.listener)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(client, self.connections == 1), daemon=True).start()

    def _serve(self, client: socket.socket, first: bool) -> None:
        try:
            service = socket.create_connection(("127.0.0.1", self.service_port), timeout=10)
        except OSError:
            self.bad_gateways += 1
            try:
                _read_message(client)
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n"
                               b"Connection: close\r\n\r\nbad gateway")
            except OSError:
                pass
            _close(client)
            return
        service.settimeout(None)
        threading.Thread(target=self._forward, args=(client, service, first and self.stall_upload),
                         daemon=True).start()
        self._back(service, client, first and self.drop_answer)

    def _forward(self, client: socket.socket, service: socket.socket, stall: bool) -> None:
        """Client to service; with `stall`, only the head and half of the body of the first request."""
        passed, seen, limit, whole = 0, b"", None, 0
        try:
            while chunk := client.recv(65536):
                if not self.first_request:
                    self.first_request = chunk.split(b"\r\n", 1)[0]
                if stall and limit is None:
                    seen += chunk
                    if b"\r\n\r\n" in seen:
                        head = seen.split(b"\r\n\r\n", 1)[0]
                        whole = len(head) + 4 + _content_length(head)
                        limit = len(head) + 4 + _content_length(head) // 2
                if limit is not None and passed + len(chunk) >= limit:
                    service.sendall(chunk[: limit - passed])
                    self.stalled_at = (limit, whole)
                    self.stalled.set()
                    return  # nothing more passes: the service waits for the rest of the body
                service.sendall(chunk)
                passed += len(chunk)
        except OSError:
            pass
        _close(service)

    def _back(self, service: socket.socket, client: socket.socket, drop: bool) -> None:
        """Service to client, until the service closes (or dies); with `drop`, its first answer
        is read and never passed on."""
        try:
            if drop:
                self.dropped_answer = _read_message(service)
                self.dropped.set()
            else:
                while chunk := service.recv(65536):
                    client.sendall(chunk)
        except OSError:
            pass
        finally:
            _close(client)
            _close(service)


class Background:
    """A call run in a thread of its own: the participant, who keeps trying while the test kills
    and restarts the service."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.result = call()
            except BaseException as exc:  # noqa: BLE001 - handed to the test by outcome()
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def outcome(self) -> Any:
        self.thread.join(PATIENT.budget + 120)
        assert not self.thread.is_alive(), "the client never finished"
        if self.error is not None:
            raise self.error
        return self.result


class Arena:
    """One deployment with an open round, its data folder, and the services started on it."""

    def __init__(self, world: World, tmp: Path) -> None:
        self.world, self.tmp = world, tmp
        self.store = world.layout.store()
        self.domain = world.client.domain
        self.services: list[Service] = []

    def start(self, *, port: int | None = None, crash_at: str | None = None) -> Service:
        env = os.environ.copy()  # APE_FOUNDRY_HOST: the service joins this test's Anvil
        env.pop(CRASH_ENV, None)
        if crash_at:
            env[CRASH_ENV] = crash_at
        log = self.tmp / f"service-{len(self.services)}.log"
        service = start_service(self.world.deployments, self.world.layout.root, log, port=port, env=env)
        self.services.append(service)
        return service

    def predictions(self, name: str, seed: int) -> Path:
        path = self.tmp / f"{name}.csv"
        path.write_bytes(csv_file(rows=3000, seed=seed))  # tens of KiB: a body cut half-way is mid-file
        return path

    def upload(self, url: str, staker: int, model: str, path: Path) -> UploadAnswer:
        """What `nmrstake stake --api URL` does to upload: sign with the staker's key, upload, and
        check the receipt (this file, this key, the service's receipt signer)."""
        return deliver(ServiceClient(url, policy=PATIENT), self.domain, self.world.stakers[staker], ROUND, model,
                       path, keccak_file(path))

    def check_held_once(self, service: Service, staker: int, model: str, path: Path,
                        answer: UploadAnswer, *, uploads: int = 1) -> None:
        """The client holds the service's receipt for `path`, and the store holds the file once:
        `uploads` rows for the key, the latest being the answer's, one file named by its keccak,
        nothing left in tmp/."""
        who, commitment = self.world.stakers[staker].address, keccak_file(path)
        receipt = DeliveryReceipt.from_json(answer["receipt"])
        assert (receipt.round_id, receipt.model, receipt.staker, receipt.commitment) == (ROUND, model, who, commitment)
        assert receipt.signer(self.domain) == ServiceClient(service.url).receipt_signer == answer["receipt_signer"]
        rows = self.store.uploads(ROUND, model, who)
        assert len(rows) == uploads and all(r.file_hash == commitment for r in rows)
        latest = self.store.latest(ROUND, model, who)
        assert latest is not None and latest.upload_id == answer["upload_id"] and latest.receipt == receipt
        # The file, and its prepared values (nmrstake.prepared) when it is a plain CSV.
        assert sorted(self.store.files_dir.rglob(f"{to_hex(commitment)}.*")) == sorted(
            [latest.path, *([Path(f"{latest.path}{SUFFIX}")] if latest.path.suffix == ".csv" else [])])
        assert keccak_file(latest.path) == commitment
        assert list(self.store.tmp_dir.iterdir()) == []
        seen = requests.get(f"{service.url}/v1/rounds/{ROUND}/submissions/{model}/{who}", timeout=30).json()
        assert seen["uploads"] == uploads and seen["latest"] == {k: dict(answer)[k] for k in seen["latest"]}

    def stop_all(self) -> None:
        for service in self.services:
            if service.proc.poll() is None:
                service.proc.kill()
                service.proc.wait()


@pytest.fixture
def arena(project, tmp_path):
    with anvil_provider():
        world = make_world(project, tmp_path, n_stakers=3)
        open_funded_round(world, ROUND)
        a = Arena(world, tmp_path)
        try:
            yield a
        finally:
            a.stop_all()


def _port(service: Service) -> int:
    return int(service.url.rsplit(":", 1)[1])


@pytest.mark.nodes
def test_sigkill_in_the_middle_of_an_upload__the_client_keeps_trying_through_the_restart_and_holds_a_receipt(arena):
    service = arena.start()
    port = _port(service)
    relay = Relay(port, stall_upload=True)
    path = arena.predictions("killed", seed=1)
    try:
        participant = Background(lambda: arena.upload(relay.url, 0, "killed", path))
        assert relay.stalled.wait(120), "the upload never started"
        passed, whole = relay.stalled_at
        assert relay.first_request.startswith(b"POST /v1/submissions ") and passed < whole
        assert requests.get(f"{service.url}/healthz", timeout=30).status_code == 200  # alive, half a body in
        assert stop(service, signal.SIGKILL) == -signal.SIGKILL

        service = arena.start(port=port)  # the same port and data folder; the client tries meanwhile
        answer = participant.outcome()
    finally:
        relay.close()
    assert relay.connections >= 2  # the cut upload, then attempts until the service was back
    arena.check_held_once(service, 0, "killed", path, answer)
    assert stop(service) == 0, service.log_text()


@pytest.mark.nodes
@pytest.mark.parametrize("point", ["stored", "signed"])
def test_a_crash_once_the_file_is_stored__the_answer_is_lost_and_the_retry_after_the_restart_ends_with_a_receipt(
        arena, point):
    # "stored": the file is under its content address, no row yet; "signed": the receipt's row
    # is written but not committed. Either way the 201 never leaves the service.
    service = arena.start(crash_at=point)
    port = _port(service)
    path = arena.predictions(f"crash_{point}", seed=2)
    who = arena.world.stakers[1].address
    participant = Background(lambda: arena.upload(service.url, 1, "crashed", path))
    assert service.proc.wait(120) == CRASHED, service.log_text()
    assert arena.store.uploads(ROUND, "crashed", who) == []  # not logged: the retry is the upload

    service = arena.start(port=port)  # without the hook; the client is still trying
    answer = participant.outcome()
    arena.check_held_once(service, 1, "crashed", path, answer)
    assert stop(service) == 0, service.log_text()


@pytest.mark.nodes
def test_an_answer_lost_after_the_upload_was_logged__the_client_takes_its_receipt_and_a_second_upload_is_safe(arena):
    service = arena.start()
    relay = Relay(_port(service), drop_answer=True)
    path = arena.predictions("lost_answer", seed=3)
    try:
        answer = arena.upload(relay.url, 2, "lost", path)
    finally:
        relay.close()
    # The service logged the upload and answered 201; the participant never saw that answer. Its
    # retry, with the same signature, was refused as replayed, and the client read the receipt
    # of the key's latest upload: the very one in the lost answer.
    assert relay.dropped.is_set() and relay.dropped_answer.startswith(b"HTTP/1.1 201 ")
    lost = json.loads(relay.dropped_answer.split(b"\r\n\r\n", 1)[1])
    assert answer == lost
    arena.check_held_once(service, 2, "lost", path, answer)

    # The same file uploaded again on purpose (a new signature): a second upload with its own
    # receipt, the latest; the file is still stored once.
    again = arena.upload(service.url, 2, "lost", path)
    assert again["upload_id"] > answer["upload_id"] and again["commitment"] == answer["commitment"]
    arena.check_held_once(service, 2, "lost", path, again, uploads=2)
    assert stop(service) == 0, service.log_text()


def test_a_service_that_never_comes_back__the_cli_says_so_in_one_line_with_the_retry_budget():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there, and nothing will
    env = dict(os.environ, **{RETRY_SECONDS_ENV: "2"})
    out = subprocess.run([sys.executable, "-m", "nmrstake.cli", "balance", "0x5d5c99EdF529335160FF180fA141Dd4967fc00D2",
                          "--api", url], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 4, out.stdout + out.stderr
    assert out.stdout == ""
    line, = out.stderr.splitlines()
    found = re.fullmatch(rf"error: cannot reach the tournament service at {re.escape(url)} \(ConnectionError; "
                         rf"(\d+) attempts in \d+ s, retry budget 2 s, set by \${RETRY_SECONDS_ENV}\)", line)
    assert found, line
    assert int(found.group(1)) >= 2  # it tried again before giving up


def test_a_dead_service_with_a_long_retry_budget__the_cli_says_once_at_the_start_that_it_keeps_trying():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there, and nothing will
    env = dict(os.environ, **{RETRY_SECONDS_ENV: "7"})
    out = subprocess.run([sys.executable, "-m", "nmrstake.cli", "rounds", "--json", "--api", url],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 4, out.stdout + out.stderr
    assert out.stdout == ""  # --json's stdout stays clean: the notice is on stderr
    notice, error = out.stderr.splitlines()
    found = re.fullmatch(rf"no answer from the tournament service at {re.escape(url)}; trying again for up to "
                         rf"(\d+) s \(Ctrl-C stops; \${RETRY_SECONDS_ENV} sets how long\)", notice)
    assert found and 5 <= int(found.group(1)) <= 7, notice
    assert error.startswith(f"error: cannot reach the tournament service at {url} (ConnectionError; "), error
