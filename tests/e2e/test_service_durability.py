"""The tournament service as a real process against a real Anvil, killed while it takes uploads.

`kill -9` in the middle of an upload's body, or the crash hook (`os._exit`, as a kill) once the
file is received, once it is stored, and while the receipt's row is being written: after a plain
restart on the same data folder, every acknowledged upload is listed with its intact file and
receipt, no unacknowledged upload has a row, nothing partial is visible (`tmp/` is emptied, every
file under `files/` is complete, no row points to a missing file), the crashed upload can be made
again with a fresh signature, and the round resolves with every acknowledged stake valid.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from helpers.scenario import WEI, World, advance_to, deliver_targets, make_world, open_funded_round, synth_round
from helpers.service_process import Service, kill_all, start_service, stop

from nmrstake.client.http import RetryPolicy, ServiceClient
from nmrstake.errors import ConfigError, RequestError
from nmrstake.hashing import keccak_file, to_hex
from nmrstake.jsontypes import json_int, json_object
from nmrstake.localchain import anvil_provider
from nmrstake.participant import stake_predictions
from nmrstake.prepared import SUFFIX, decode
from nmrstake.results.read import load_published
from nmrstake.signing import DeliveryReceipt, UploadAuthorisation
from nmrstake.submissions import CRASH_ENV
from nmrstake.tournament import RoundState
from nmrstake.verify import verify_round

pytestmark = pytest.mark.nodes  # real Anvil and real service processes: run after the embedded-EVM tests

CRASHED = 86  # the exit code of the crash hook (os._exit: no cleanup, like a kill)
STAKERS = 5


@dataclass(frozen=True)
class Acknowledged:
    """An upload the service answered 201 to, with the receipt it signed."""

    model: str
    staker: str
    commitment: bytes
    upload_id: int
    receipt: DeliveryReceipt


class ServiceRound:
    """One deployment, one open round, and the service processes started on its data folder."""

    def __init__(self, world: World, round_id: int, inputs: Path, tmp: Path) -> None:
        self.world, self.round_id, self.inputs, self.tmp = world, round_id, inputs, tmp
        self.store = world.layout.store()
        self.domain = world.client.domain
        self.acknowledged: list[Acknowledged] = []
        self.staked: dict[tuple[str, str], bytes] = {}
        self.services: list[Service] = []
        self.receipt_signer: str | None = None

    # ---------------------------------------------------------------- processes

    def start(self, crash_at: str | None = None, port: int | None = None) -> Service:
        env = os.environ.copy()  # carries APE_FOUNDRY_HOST: the service joins this test's Anvil
        env.pop(CRASH_ENV, None)
        if crash_at:
            env[CRASH_ENV] = crash_at
        log = self.tmp / f"service-{len(self.services)}.log"
        service = start_service(self.world.deployments, self.world.layout.root, log, port=port, env=env)
        self.services.append(service)
        signer_now = ServiceClient(service.url).receipt_signer
        if self.receipt_signer is None:
            self.receipt_signer = signer_now
        assert signer_now == self.receipt_signer, "a restart must keep the receipt key"
        return service

    def stop_all(self) -> None:
        kill_all(self.services)

    # ---------------------------------------------------------------- participants

    def predictions(self, i: int) -> Path:
        return self.inputs / "predictions" / f"model_{i:02d}.csv"

    def stake(self, service: Service, i: int) -> None:
        """Staker i uploads model_i's file through the service and stakes on it."""
        acct = self.world.stakers[i]
        model = f"model_{i:02d}"
        result = stake_predictions(self.world.client, acct, ServiceClient(service.url), self.round_id, model,
                                   (i + 1) * 10 * WEI, self.predictions(i))
        upload = result["upload"]
        assert upload is not None
        receipt = DeliveryReceipt.from_json(upload["receipt"])
        assert receipt.signer(self.domain) == self.receipt_signer
        commitment = keccak_file(self.predictions(i))
        self.acknowledged.append(Acknowledged(model, acct.address, commitment, int(upload["upload_id"]), receipt))
        self.staked[(model, acct.address)] = commitment

    def authorise(self, i: int, model: str, path: Path) -> tuple[UploadAuthorisation, str]:
        acct = self.world.stakers[i]
        auth = UploadAuthorisation.new(acct.address, self.round_id, model, keccak_file(path), now=int(time.time()))
        return auth, auth.sign(self.domain, acct)

    def upload_fields(self, auth: UploadAuthorisation, signature: str) -> dict[str, str]:
        return {"round": str(self.round_id), "model": auth.model, "staker": auth.staker, "nonce": str(auth.nonce),
                "expiry": str(auth.expiry), "signature": signature, "file_hash": to_hex(auth.file_hash)}

    # ---------------------------------------------------------------- what the store shows

    def authorisations(self) -> set[str]:
        db = sqlite3.connect(self.store.db_path)
        try:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            return {row[0] for row in db.execute("SELECT authorisation FROM uploads")}
        finally:
            db.close()

    def unreferenced_files(self) -> set[Path]:
        """Files and prepared values (nmrstake.prepared) no row refers to."""
        referenced = {p for u in self.store.uploads(self.round_id) for p in (u.path, Path(f"{u.path}{SUFFIX}"))}
        return {p for p in self.store.files_dir.rglob("*") if p.is_file()} - referenced

    def check_nothing_lost_nothing_partial(self, service: Service) -> None:
        """After a restart: every acknowledged upload is listed (store and API) with its intact
        file and receipt; no row points to a missing or altered file; every file under files/ is
        complete (its name is its keccak); tmp/ is empty."""
        rows = self.store.uploads(self.round_id)
        by_id = {u.upload_id: u for u in rows}
        for ack in self.acknowledged:
            row = by_id.get(ack.upload_id)
            assert row is not None, f"acknowledged upload {ack.upload_id} ({ack.model}) is gone"
            assert (row.model, row.staker, row.file_hash) == (ack.model, ack.staker, ack.commitment)
            assert row.receipt == ack.receipt
        for row in rows:
            assert row.path.is_file(), f"row {row.upload_id} points to a missing file {row.path}"
            assert keccak_file(row.path) == row.file_hash
            assert row.path.stat().st_size == row.size
            assert row.receipt.signer(self.domain) == self.receipt_signer
        for path in self.store.files_dir.rglob("*"):
            if path.is_file() and path.name.endswith(SUFFIX):  # whole, and its file's
                prepared = decode(path.read_bytes())
                assert prepared is not None, f"{path} is not a whole prepared file"
                assert path.name.startswith(to_hex(prepared.keccak)), f"{path} is not its file's"
            elif path.is_file():
                assert path.stem == to_hex(keccak_file(path)), f"{path} is not a complete file"
        assert list(self.store.tmp_dir.iterdir()) == []

        api = ServiceClient(service.url)
        for key in {(a.model, a.staker) for a in self.acknowledged}:
            mine = [a for a in self.acknowledged if (a.model, a.staker) == key]
            seen = api.get_object(f"/v1/rounds/{self.round_id}/submissions/{key[0]}/{key[1]}")
            assert seen["uploads"] == len(self.store.uploads(self.round_id, *key))
            assert json_int(seen["uploads"]) >= len(mine)
            assert json_int(json_object(seen["latest"])["upload_id"]) >= mine[-1].upload_id
            assert any(u.upload_id == mine[-1].upload_id for u in self.store.uploads(self.round_id, *key))

    def latest_id(self, model: str, staker: str) -> int | None:
        found = self.store.latest(self.round_id, model, staker)
        return found.upload_id if found else None

    # ---------------------------------------------------------------- resolution

    def resolve(self) -> None:
        """Advance to resolve time, deliver targets, run the oracle once: every acknowledged and
        staked model is scored valid with the acknowledged file, and the round verifies."""
        rid, client = self.round_id, self.world.client
        advance_to(client.round(rid).resolve_time)
        deliver_targets(self.world, rid, self.inputs)
        env = os.environ.copy()
        env.pop("NMRSTAKE_ORACLE_CRASH_AT", None)
        cmd = [sys.executable, "-m", "nmrstake.cli", "oracle", "run", "--once", "--network", "ethereum:local:foundry",
               "--account", "TEST::1", "--data-dir", str(self.world.layout.root),
               "--deployments-dir", str(self.world.deployments), "--log-json"]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stdout + out.stderr
        assert client.round(rid).state is RoundState.POSTED
        folder = self.world.layout.published(rid)
        pub = load_published(folder)
        rows = {(r.model, r.staker): r for r in pub.rows}
        assert set(rows) == set(self.staked)
        for key, commitment in self.staked.items():
            assert rows[key].valid, f"{key}: {rows[key].reason}"
            assert pub.commitments[key] == commitment
        report = verify_round(client, rid, folder)
        assert report.ok, report.differences


def stop_gracefully(service: Service) -> None:
    """SIGTERM: the service finishes what is in flight and exits cleanly."""
    assert stop(service) == 0, service.log_text()


def _multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[str, bytes]:
    boundary = f"nmrstake-{secrets.token_hex(12)}"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return boundary, b"".join(parts)


def start_raw_upload(service: Service, fields: dict[str, str], path: Path, send: float) -> socket.socket:
    """Open an upload over a raw socket and send its headers and the first `send` fraction of its
    multipart body (Content-Length announces all of it)."""
    boundary, body = _multipart(fields, path.name, path.read_bytes())
    host, port = service.url.removeprefix("http://").split(":")
    head = (f"POST /v1/submissions HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(head + body[: int(len(body) * send)])
    return sock


def answer_after_kill(sock: socket.socket) -> bytes:
    """What the client got on the upload's connection once the service was killed."""
    sock.settimeout(30)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return data


@pytest.fixture
def deployment(project, tmp_path):
    with anvil_provider():
        world = make_world(project, tmp_path, n_stakers=STAKERS)
        round_id = 41
        open_funded_round(world, round_id)
        h = ServiceRound(world, round_id, synth_round(tmp_path, round_id, models=STAKERS), tmp_path)
        try:
            yield h
        finally:
            h.stop_all()


def test_sigkill_during_an_upload_keeps_every_acknowledged_upload_shows_nothing_partial_and_the_round_resolves(deployment):
    h = deployment
    service = h.start()
    for i in (0, 1, 2):
        h.stake(service, i)
    h.check_nothing_lost_nothing_partial(service)
    staker0 = h.world.stakers[0].address
    acknowledged0 = h.latest_id("model_00", staker0)

    # 1. Half of a replacement file for staker 0's model_00 is in flight when the service is killed.
    replacement = h.tmp / "replacement.csv"
    shutil.copyfile(h.predictions(4), replacement)
    auth, signature = h.authorise(0, "model_00", replacement)
    sock = start_raw_upload(service, h.upload_fields(auth, signature), replacement, send=0.5)
    assert requests.get(f"{service.url}/healthz", timeout=30).status_code == 200  # alive, reading the body
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):  # no answer to a body still in flight
        sock.recv(1)
    port = int(service.url.rsplit(":", 1)[1])
    assert stop(service, signal.SIGKILL) == -signal.SIGKILL
    assert not answer_after_kill(sock).startswith(b"HTTP/")  # never acknowledged

    service = h.start(port=port)  # the same data folder and port; no repair
    h.check_nothing_lost_nothing_partial(service)
    assert to_hex(auth.digest(h.domain)) not in h.authorisations()
    assert h.latest_id("model_00", staker0) == acknowledged0
    assert keccak_file(replacement) not in {u.file_hash for u in h.store.uploads(h.round_id)}
    assert not h.store.file_path(h.round_id, "model_00", staker0, auth.file_hash, ".csv").exists()

    # 2. A whole body is sent and the service is killed at once, wherever it is in the upload
    #    (parsing, checking, storing or answering): whichever way it went, nothing is partial.
    spare = h.tmp / "spare.csv"
    shutil.copyfile(h.predictions(3), spare)
    auth, signature = h.authorise(1, "spare", spare)
    sock = start_raw_upload(service, h.upload_fields(auth, signature), spare, send=1.0)
    assert stop(service, signal.SIGKILL) == -signal.SIGKILL
    acknowledged = answer_after_kill(sock).startswith(b"HTTP/1.1 201")
    service = h.start()  # a new port this time
    h.check_nothing_lost_nothing_partial(service)
    stored = h.store.uploads(h.round_id, "spare", h.world.stakers[1].address)
    if acknowledged:
        assert [u.file_hash for u in stored] == [keccak_file(spare)]
    assert len(stored) <= 1

    # 3. The round goes on: more stakes through the restarted service, then it resolves.
    for i in (3, 4):
        h.stake(service, i)
    h.check_nothing_lost_nothing_partial(service)
    h.resolve()
    stop_gracefully(service)


def test_crash_once_received_stored_or_while_writing_the_receipt_leaves_no_row_the_upload_can_be_redone_and_the_round_resolves(
        deployment):
    h = deployment
    service = h.start()
    h.stake(service, 0)
    h.check_nothing_lost_nothing_partial(service)
    stop_gracefully(service)

    for i, point in enumerate(("received", "stored", "signed"), start=1):
        acct = h.world.stakers[i]
        model = f"model_{i:02d}"
        path = h.predictions(i)
        service = h.start(crash_at=point)
        auth, signature = h.authorise(i, model, path)
        with pytest.raises(ConfigError, match="cannot reach"):  # the connection dropped: not acknowledged
            once = ServiceClient(service.url, policy=RetryPolicy(budget=0))  # the crash is what is tested
            once.upload(round_id=h.round_id, model=model, staker=acct.address, nonce=auth.nonce, expiry=auth.expiry,
                        signature=signature, path=path, file_hash=auth.file_hash)
        assert service.proc.wait(30) == CRASHED, service.log_text()

        # What the crash left, before any restart: never a row; a file, if any, only complete.
        assert to_hex(auth.digest(h.domain)) not in h.authorisations()
        target = h.store.file_path(h.round_id, model, acct.address, auth.file_hash, ".csv")
        leftovers = h.unreferenced_files()
        if point == "received":  # still in tmp/, under a name no reader looks at
            assert [p.suffix for p in h.store.tmp_dir.iterdir()] == [".part"]
            assert leftovers == set()
        else:  # stored under its content address, but no row refers to it
            assert list(h.store.tmp_dir.iterdir()) == []
            assert leftovers == {target, Path(f"{target}{SUFFIX}")}  # and its prepared values, written first
            assert keccak_file(target) == auth.file_hash
        assert h.latest_id(model, acct.address) is None

        service = h.start()  # no hook, the same data folder; no repair
        h.check_nothing_lost_nothing_partial(service)
        assert to_hex(auth.digest(h.domain)) not in h.authorisations()
        with pytest.raises(RequestError) as missing:
            ServiceClient(service.url).get(f"/v1/rounds/{h.round_id}/submissions/{model}/{acct.address}")
        assert (missing.value.status, missing.value.kind) == (404, "no-upload")

        h.stake(service, i)  # the same file again, with a fresh signature, and a stake on it
        h.check_nothing_lost_nothing_partial(service)
        assert h.unreferenced_files() == set()
        stop_gracefully(service)

    service = h.start()
    h.stake(service, 4)
    h.check_nothing_lost_nothing_partial(service)
    h.resolve()
    stop_gracefully(service)
