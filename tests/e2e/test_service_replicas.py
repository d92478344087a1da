"""Several `nmrstake serve` replicas on one PostgreSQL database and one S3 bucket (SeaweedFS), each
with its own data folder as if on its own machine, against a real Anvil: no other coordination
between them than the database and the store.

- The same (round, model, staker) uploaded on both replicas at once: one 201, one 409, whether the
  two uploads overlap in time (a slow body on one replica holds the key on both) or carry the same
  signature (it is used once, whichever replica takes it).
- A replica killed with SIGKILL in the middle of an upload: the other still serves every
  acknowledged upload, intact in the bucket; the killed upload's key is free again once its hold's
  lease ends; an oracle on a third machine (its own data folder, nothing local) resolves the round
  from the database and the bucket, and both replicas then serve its published result.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from helpers.object_store import ObjectStore
from helpers.postgres import PostgresServer
from helpers.scenario import WEI, World, advance_to, make_world, open_funded_round, synth_round
from helpers.service_process import Service, kill_all, start_service, stop, wait_for_hold

from nmrstake.client.http import ServiceClient
from nmrstake.hashing import keccak_bytes, keccak_file, to_hex
from nmrstake.jsontypes import json_int, json_object
from nmrstake.localchain import anvil_provider
from nmrstake.participant import stake_predictions
from nmrstake.results.layout import DataLayout
from nmrstake.signing import DeliveryReceipt, UploadAuthorisation
from nmrstake.tournament import RoundState
from nmrstake.verify import verify_round

pytestmark = pytest.mark.nodes  # real Anvil, PostgreSQL, SeaweedFS and service processes

STAKERS = 4
ROUND = 51
#: How long a test waits, at most, for a dead replica's hold to lapse (its lease is 30 s): a
#: bound on a wait, not a timing the test asserts.
LEASE_WAIT = 180


@dataclass
class Replicas:
    """One deployment, one open round, and the replicas started on the shared database and bucket."""

    world: World
    inputs: Path
    tmp: Path
    database_url: str
    store_url: str
    key_file: Path
    env: dict[str, str]
    services: list[Service]

    def machine(self, name: str) -> Path:
        return self.tmp / "machines" / name

    def start(self, name: str, port: int | None = None) -> Service:
        folder = self.machine(name)
        folder.mkdir(parents=True, exist_ok=True)
        service = start_service(self.world.deployments, folder, self.tmp / f"{name}-{len(self.services)}.log",
                                "--database-url", self.database_url, "--store-url", self.store_url,
                                "--receipt-key-file", str(self.key_file), port=port, env=self.env)
        self.services.append(service)
        return service

    def stop_all(self) -> None:
        kill_all(self.services)

    def layout(self, name: str) -> DataLayout:
        """The data layout of machine `name` on the shared database and bucket (as its processes see it)."""
        return DataLayout(self.machine(name), store_url=self.store_url, database_url=self.database_url,
                          receipt_key_file=self.key_file)

    def authorise(self, i: int, model: str, content: bytes) -> tuple[UploadAuthorisation, str]:
        acct = self.world.stakers[i]
        auth = UploadAuthorisation.new(acct.address, ROUND, model, keccak_bytes(content), now=int(time.time()))
        return auth, auth.sign(self.world.client.domain, acct)

    def predictions(self, i: int) -> Path:
        return self.inputs / "predictions" / f"model_{i:02d}.csv"


def fields_of(auth: UploadAuthorisation, signature: str) -> dict[str, str]:
    return {"round": str(auth.round_id), "model": auth.model, "staker": auth.staker, "nonce": str(auth.nonce),
            "expiry": str(auth.expiry), "signature": signature, "file_hash": to_hex(auth.file_hash)}


def multipart(fields: dict[str, str], content: bytes) -> tuple[str, bytes]:
    """The body a client sends: the signed fields first (so the service can hold the key from the
    file's first byte), then the file."""
    boundary = f"nmrstake-{secrets.token_hex(12)}"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="preds.csv"\r\n'
                 "Content-Type: text/csv\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return boundary, b"".join(parts)


class RawUpload:
    """An upload over a raw socket, its body sent in two parts on the test's command."""

    def __init__(self, service: Service, fields: dict[str, str], content: bytes) -> None:
        import socket

        boundary, self.body = multipart(fields, content)
        host, port = service.url.removeprefix("http://").split(":")
        head = (f"POST /v1/submissions HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(self.body)}\r\n"
                "Connection: close\r\n\r\n").encode()
        self.sock = socket.create_connection((host, int(port)), timeout=60)
        self.half = len(self.body) // 2
        self.sock.sendall(head + self.body[: self.half])

    def finish(self) -> tuple[int, str]:
        """Send the rest of the body; the status and the body of the answer."""
        self.sock.sendall(self.body[self.half:])
        return self.answer()

    def answer(self) -> tuple[int, str]:
        data = b""
        try:
            while chunk := self.sock.recv(65536):
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        finally:
            self.sock.close()
        if not data.startswith(b"HTTP/1.1 "):
            return 0, data.decode(errors="replace")
        return int(data[9:12]), data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace")


def post(service: Service, fields: dict[str, str], content: bytes) -> requests.Response:
    boundary, body = multipart(fields, content)
    return requests.post(f"{service.url}/v1/submissions", data=body, timeout=120,
                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})


@pytest.fixture
def replicas(project, tmp_path, postgres_server: PostgresServer, object_store: ObjectStore, s3_bucket: str):
    with anvil_provider():
        world = make_world(project, tmp_path / "operator", n_stakers=STAKERS)
        open_funded_round(world, ROUND)
        inputs = synth_round(tmp_path, ROUND, models=STAKERS)
        key_file = tmp_path / "receipt-signer.key"
        key_file.write_text(to_hex(secrets.token_bytes(32)) + "\n")
        key_file.chmod(0o600)
        env = os.environ.copy() | object_store.env()  # carries APE_FOUNDRY_HOST: this test's Anvil
        h = Replicas(world, inputs, tmp_path, postgres_server.create_database(), f"s3://{s3_bucket}/nmrstake",
                     key_file, env, [])
        saved = {k: os.environ.get(k) for k in object_store.env()}
        os.environ.update(object_store.env())  # for the test's own reads of the bucket (boto3)
        try:
            yield h
        finally:
            h.stop_all()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def test_the_same_key_uploaded_on_two_replicas_at_once__one_201_one_409(replicas: Replicas):
    h = replicas
    a, b = h.start("a"), h.start("b")
    assert ServiceClient(a.url).receipt_signer == ServiceClient(b.url).receipt_signer
    staker = h.world.stakers[0].address
    first, second = h.predictions(0).read_bytes(), h.predictions(1).read_bytes()

    # 1. Overlapping in time: half of an upload's file is in on replica a when the same key arrives
    #    on replica b with its own valid signature.
    auth_a, sig_a = h.authorise(0, "model_00", first)
    slow = RawUpload(a, fields_of(auth_a, sig_a), first)
    auth_b, sig_b = h.authorise(0, "model_00", second)
    wait_for_hold(h.database_url, ROUND, "model_00", staker)
    refused = post(b, fields_of(auth_b, sig_b), second)
    assert refused.status_code == 409 and "upload-in-progress" in refused.text, refused.text
    status, text = slow.finish()
    assert status == 201, text
    # b's refusal stored nothing and used nothing: the same signature is taken once the key is free.
    again = post(b, fields_of(auth_b, sig_b), second)
    assert again.status_code == 201, again.text

    # 2. The same signature sent to both replicas at the same moment: one takes it.
    auth, sig = h.authorise(0, "model_00", first)
    answers: list[requests.Response] = []
    go = threading.Barrier(2)

    def send(service: Service) -> None:
        go.wait()
        answers.append(post(service, fields_of(auth, sig), first))

    threads = [threading.Thread(target=send, args=(s,)) for s in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
    assert any(k in answers[0].text + answers[1].text for k in ("upload-in-progress", "signature-replayed"))

    # Both replicas list the same three uploads of the key, oldest first, from the shared database.
    seen_a = ServiceClient(a.url).get_object(f"/v1/rounds/{ROUND}/submissions/model_00/{staker}")
    seen_b = ServiceClient(b.url).get_object(f"/v1/rounds/{ROUND}/submissions/model_00/{staker}")
    assert seen_a == seen_b and seen_a["uploads"] == 3
    uploads = h.layout("verifier").store().uploads(ROUND, "model_00", staker)
    assert [u.file_hash for u in uploads] == [keccak_bytes(first), keccak_bytes(second), keccak_bytes(first)]


def test_a_replica_killed_mid_upload__the_other_serves_every_acknowledged_upload_and_a_third_machine_resolves(
        replicas: Replicas):
    h = replicas
    a, b = h.start("a"), h.start("b")
    signer = ServiceClient(a.url).receipt_signer
    domain = h.world.client.domain
    acknowledged: dict[tuple[str, str], int] = {}
    staked: dict[tuple[str, str], bytes] = {}
    for i in range(STAKERS - 1):  # staker i through replica a or b in turn
        service = (a, b)[i % 2]
        acct, model = h.world.stakers[i], f"model_{i:02d}"
        result = stake_predictions(h.world.client, acct, ServiceClient(service.url), ROUND, model,
                                   (i + 1) * 10 * WEI, h.predictions(i))
        upload = result["upload"]
        assert upload is not None
        assert DeliveryReceipt.from_json(upload["receipt"]).signer(domain) == signer
        acknowledged[(model, acct.address)] = int(upload["upload_id"])
        staked[(model, acct.address)] = keccak_file(h.predictions(i))

    # Half of the last staker's file is in on replica a when it is killed.
    last = STAKERS - 1
    acct, model = h.world.stakers[last], f"model_{last:02d}"
    content = h.predictions(last).read_bytes()
    auth, sig = h.authorise(last, model, content)
    cut = RawUpload(a, fields_of(auth, sig), content)
    wait_for_hold(h.database_url, ROUND, model, acct.address)
    refused = post(b, fields_of(*h.authorise(last, model, content)), content)
    assert refused.status_code == 409 and "upload-in-progress" in refused.text, refused.text
    assert stop(a, signal.SIGKILL) == -signal.SIGKILL
    status, _ = cut.answer()
    assert status == 0  # never acknowledged

    # Replica b serves every acknowledged upload, each intact in the bucket; the cut one left no row.
    store = h.layout("verifier").store()
    rows = store.uploads(ROUND)
    assert {(u.model, u.staker): u.upload_id for u in rows} == acknowledged
    for row in rows:
        assert keccak_file(store.local_path(row)) == row.file_hash
        seen = ServiceClient(b.url).get_object(f"/v1/rounds/{ROUND}/submissions/{row.model}/{row.staker}")
        assert json_int(json_object(seen["latest"])["upload_id"]) == row.upload_id

    # The dead replica's hold lapses with its lease: then the upload goes through replica b.
    deadline = time.monotonic() + LEASE_WAIT
    while True:
        answer = post(b, fields_of(*h.authorise(last, model, content)), content)
        if answer.status_code != 409 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert answer.status_code == 201, answer.text
    stake_predictions(h.world.client, acct, None, ROUND, model, (last + 1) * 10 * WEI, h.predictions(last))
    staked[(model, acct.address)] = keccak_bytes(content)

    # An oracle on a third machine: its own data folder (the targets only), the shared database and bucket.
    oracle_dir = h.machine("oracle")
    (oracle_dir / "targets").mkdir(parents=True)
    shutil.copyfile(h.inputs / "targets.csv", oracle_dir / "targets" / f"round-{ROUND}.csv")
    client = h.world.client
    advance_to(client.round(ROUND).resolve_time)
    out = subprocess.run(
        [sys.executable, "-m", "nmrstake.cli", "oracle", "run", "--once", "--network", "ethereum:local:foundry",
         "--account", "TEST::1", "--data-dir", str(oracle_dir), "--deployments-dir", str(h.world.deployments),
         "--database-url", h.database_url, "--store-url", h.store_url],
        env=h.env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert client.round(ROUND).state is RoundState.POSTED
    # Anyone with the bucket gets the whole round, and it verifies against the chain.
    folder = h.layout("verifier").published_store().pull(ROUND)
    assert folder is not None and folder.is_relative_to(h.machine("verifier"))
    report = verify_round(client, ROUND, folder)
    assert report.ok, report.differences

    # Every replica, the restarted one on a new machine too, serves the published result.
    c = h.start("c")
    for service in (b, c):
        board = requests.get(f"{service.url}/v1/rounds/{ROUND}/leaderboard", timeout=60)
        assert board.status_code == 200, board.text
        rows_served = {(r["model"], r["staker"]): r for r in board.json()["rows"]}
        assert set(rows_served) == set(staked)
        assert all(r["valid"] for r in rows_served.values()), rows_served
    assert stop(b) == 0 and stop(c) == 0
