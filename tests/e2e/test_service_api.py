"""The tournament service's bad-request suite: a real `nmrstake serve` process on a real Anvil.

Every bad request must get the right 4xx as an RFC 9457 problem document
(`application/problem+json` with type, title, status and a detail naming the field or the
problem) and must leave the submission store exactly as it was: the upload rows of every round
involved, and the files under `<data>/service/files` and `<data>/service/tmp`.

One world for the module, so that the file stays fast (rounds are opened in id order, and
chain time only moves forward once, before the service starts):
- round 101: staked through the operator's store, closed, resolved by the oracle and published;
- round 102: open for 30 days (every upload that should get past the round checks);
- round 103: opens in 20 days.
Round 999 does not exist. The service takes files of at most MAX_UPLOAD bytes (`--max-upload-bytes`);
the good files are well below it.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers.scenario import advance_to, deliver_targets, make_world, open_funded_round, stake_all, synth_round
from helpers.service_process import Service, running_service, start_service, stop, wait_for_hold
from helpers.uploads import MULTIPART_TYPE, csv_file, multipart

from nmrstake.hashing import keccak_bytes, to_hex
from nmrstake.localchain import anvil_provider
from nmrstake.rounds import RoundSpec, open_round
from nmrstake.signing import DeliveryReceipt, Domain, UploadAuthorisation
from nmrstake.submissions import SubmissionStore

pytestmark = pytest.mark.nodes  # real Anvil and a real service process: run after the embedded-EVM tests

HOUR, DAY = 3600, 86_400
R_PUB, R_OPEN, R_FUTURE, R_UNKNOWN = 101, 102, 103, 999
ROUNDS = (R_PUB, R_OPEN, R_FUTURE, R_UNKNOWN)
MAX_UPLOAD = 4096
FORM_OVERHEAD = 64 * 1024  # the service's allowance for the multipart framing (service/upload.py)
PROBLEM = "urn:nmrstake:problem:"


# ---------------------------------------------------------------------------------------- files


GOOD = csv_file()
assert len(GOOD) < MAX_UPLOAD // 2


# ---------------------------------------------------------------------------------------- requests


@dataclass
class Ctx:
    """What the tests need: the service, the data folder, the deployment's EIP-712 domain, stakers."""

    service: Service
    data: Path
    domain: Domain
    stakers: list[Any]
    token: str

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def store_dir(self) -> Path:
        return self.data / "service"


def upload_parts(ctx: Ctx, *, round_id: int = R_OPEN, model: str = "bad_cases", staker: Any = None,
                 content: bytes = GOOD, signer: Any = None, sign_round: int | None = None,
                 sign_model: str | None = None, sign_content: bytes | None = None, domain: Domain | None = None,
                 expiry: int | None = None, file_hash: str | None = "auto",
                 fields: dict[str, str | None] | None = None) -> list[tuple[str, str | bytes]]:
    """The parts of an upload signed as participant.deliver() signs one; every `sign_*` argument
    signs something other than what is sent. `fields` overrides what is sent after signing (None:
    leave the field out), e.g. a model name no one can sign for."""
    staker = staker or ctx.stakers[0]
    signer = signer or staker
    now = int(time.time())
    auth = UploadAuthorisation(staker.address, sign_round if sign_round is not None else round_id,
                               sign_model or model, keccak_bytes(sign_content if sign_content is not None else content),
                               secrets.randbits(64), expiry if expiry is not None else now + 600)
    values: dict[str, str | None] = {
        "round": str(round_id), "model": model, "staker": staker.address, "nonce": str(auth.nonce),
        "expiry": str(auth.expiry), "signature": auth.sign(domain or ctx.domain, signer),
        "file_hash": to_hex(keccak_bytes(content)) if file_hash == "auto" else file_hash,
    }
    values.update(fields or {})
    parts: list[tuple[str, str | bytes]] = [(k, v) for k, v in values.items() if v is not None]
    return [*parts, ("file", content)]


def post(ctx: Ctx, body: bytes, *, content_type: str = MULTIPART_TYPE, **headers: str) -> requests.Response:
    return requests.post(f"{ctx.url}/v1/submissions", data=body, headers={"Content-Type": content_type, **headers},
                         timeout=60)


def upload(ctx: Ctx, **kwargs: Any) -> requests.Response:
    return post(ctx, multipart(upload_parts(ctx, **kwargs)))


def assert_problem(resp: requests.Response, status: int, kind: str, *words: str, field: str | None = None) -> dict:
    """An RFC 9457 problem document with this status and type, whose detail contains `words`."""
    assert resp.status_code == status, f"{resp.status_code} {resp.text}"
    assert resp.headers["content-type"].split(";")[0].strip() == "application/problem+json", resp.headers
    body = resp.json()
    assert {"type", "title", "status", "detail"} <= set(body), body
    assert body["status"] == status, body
    assert body["type"] == PROBLEM + kind, body
    assert isinstance(body["title"], str) and body["title"], body
    assert isinstance(body["detail"], str) and body["detail"], body
    for word in words:
        assert word in body["detail"], body
    if field is not None:
        assert body.get("field") == field, body
    return body


def snapshot(ctx: Ctx) -> dict[str, Any]:
    """Everything an upload can change: every round's upload rows, and the files under files/ and tmp/."""
    store = SubmissionStore(ctx.store_dir)
    rows = {r: [(u.upload_id, u.model, u.staker, to_hex(u.file_hash), u.size, u.received_at, u.receipt.signature)
                for u in store.uploads(r)] for r in ROUNDS}

    def listing(folder: Path) -> list[tuple[str, int]]:
        return sorted((str(p.relative_to(folder)), p.stat().st_size if p.is_file() else -1) for p in folder.rglob("*"))

    return {"rows": rows, "files": listing(ctx.store_dir / "files"), "tmp": listing(ctx.store_dir / "tmp")}


def latest(ctx: Ctx, round_id: int, model: str, staker: Any) -> requests.Response:
    return requests.get(f"{ctx.url}/v1/rounds/{round_id}/submissions/{model}/{staker.address}", timeout=30)


# ---------------------------------------------------------------------------------------- the world


@pytest.fixture(scope="module")
def ctx(project, tmp_path_factory) -> Any:
    tmp = tmp_path_factory.mktemp("service_api")
    with anvil_provider():
        world = make_world(project, tmp)
        open_funded_round(world, R_PUB)  # closes in 1 h, resolvable 1 h later
        inputs = synth_round(tmp, R_PUB, models=len(world.stakers), rows=200)
        stake_all(world, R_PUB, inputs)  # through the operator's store, as `nmrstake stake` on this machine
        open_round(world.client, world.owner, RoundSpec(round_id=R_OPEN, open_in=0, close_after=30 * DAY,
                                                        resolve_after=HOUR))
        open_round(world.client, world.owner, RoundSpec(round_id=R_FUTURE, open_in=20 * DAY, close_after=DAY,
                                                        resolve_after=HOUR))
        advance_to(world.client.round(R_PUB).resolve_time)
        deliver_targets(world, R_PUB, inputs)
        oracle = subprocess.run(
            [sys.executable, "-m", "nmrstake.cli", "oracle", "run", "--network", "ethereum:local:foundry",
             "--account", "TEST::1", "--data-dir", str(world.layout.root), "--deployments-dir", str(world.deployments),
             "--once"], env=os.environ.copy(), capture_output=True, text=True, timeout=300)
        assert oracle.returncode == 0, oracle.stdout + oracle.stderr
        assert (world.layout.published(R_PUB) / "manifest.json").is_file(), oracle.stdout + oracle.stderr
        domain = world.client.domain
        with running_service(world.deployments, world.layout.root, tmp / "service.log",
                             "--max-upload-bytes", str(MAX_UPLOAD)) as service:
            yield Ctx(service, world.layout.root, domain, world.stakers, str(world.client.token.address))
        assert "Traceback" not in service.log_text(), service.log_text()


# ---------------------------------------------------------------------------------------- bad uploads


def _truncated(ctx: Ctx) -> requests.Response:
    """The body ends in the middle of the file: no closing boundary, but a correct Content-Length."""
    body = multipart(upload_parts(ctx))
    cut = body.index(GOOD) + len(GOOD) // 2
    return post(ctx, body[:cut])


def _truncated_after_file(ctx: Ctx) -> requests.Response:
    """The file part is complete, the field after it and the closing boundary are cut off."""
    parts = upload_parts(ctx, file_hash=None)
    body = multipart([*parts, ("file_hash", to_hex(keccak_bytes(GOOD)))])
    return post(ctx, body[: body.rindex(b"file_hash") + 20])


def _no_content_length(ctx: Ctx) -> requests.Response:
    body = multipart(upload_parts(ctx))
    return requests.post(f"{ctx.url}/v1/submissions", data=iter([body[:100], body[100:]]),
                         headers={"Content-Type": MULTIPART_TYPE}, timeout=60)  # chunked: no Content-Length


def _declared_too_large(ctx: Ctx) -> requests.Response:
    big = csv_file(rows=(MAX_UPLOAD + FORM_OVERHEAD) // 10 + 100)
    assert len(big) > MAX_UPLOAD + FORM_OVERHEAD
    return upload(ctx, content=big)


def _two_files(ctx: Ctx) -> requests.Response:
    return post(ctx, multipart([*upload_parts(ctx), ("file", GOOD)]))


def _file_first(ctx: Ctx, **kwargs: Any) -> requests.Response:
    """The file part before the fields (allowed); `kwargs` as for upload_parts."""
    parts = upload_parts(ctx, **kwargs)
    return post(ctx, multipart([parts[-1], *parts[:-1]]))


# (id, expected status, problem type, words the detail must contain, field, the request)
BAD_UPLOADS: list[tuple[str, int, str, tuple[str, ...], str | None, Callable[[Ctx], requests.Response]]] = [
    ("unsigned", 401, "unsigned", ("signature", "not signed"), "signature",
     lambda c: upload(c, fields={"signature": None})),
    ("empty_signature", 401, "unsigned", ("signature", "not signed"), "signature",
     lambda c: upload(c, fields={"signature": ""})),
    ("signature_not_hex", 401, "bad-signature", ("signature", "not hex"), "signature",
     lambda c: upload(c, fields={"signature": "0xzz"})),
    ("signature_too_short", 401, "bad-signature", ("signature", "65 bytes"), "signature",
     lambda c: upload(c, fields={"signature": "0x" + "ab" * 64})),
    ("signed_by_someone_else", 403, "wrong-signer", ("signature", "not by staker"), "signature",
     lambda c: upload(c, signer=c.stakers[1])),
    ("signed_for_another_round", 403, "wrong-signer", ("signature", "not by staker"), "signature",
     lambda c: upload(c, sign_round=R_FUTURE)),
    ("signed_for_another_model", 403, "wrong-signer", ("signature", "not by staker"), "signature",
     lambda c: upload(c, sign_model="other_model")),
    ("signed_for_another_chain", 403, "wrong-signer", ("signature", "chain"), "signature",
     lambda c: upload(c, domain=Domain(c.domain.chain_id + 1, c.domain.tournament))),
    ("signed_for_another_tournament", 403, "wrong-signer", ("signature", "tournament"), "signature",
     lambda c: upload(c, domain=Domain(c.domain.chain_id, c.token))),
    ("signed_for_another_file", 403, "wrong-signer", ("signature", "file"), "signature",
     lambda c: upload(c, sign_content=csv_file(seed=1), file_hash=None)),
    ("signed_for_another_staker", 403, "wrong-signer", ("signature", "not by staker"), "signature",
     lambda c: upload(c, staker=c.stakers[1], signer=c.stakers[0])),
    ("signature_expired", 401, "signature-expired", ("expiry", "expired"), "expiry",
     lambda c: upload(c, expiry=int(time.time()) - HOUR)),
    ("expiry_too_far_ahead", 422, "invalid-field", ("expiry",), "expiry",
     lambda c: upload(c, expiry=int(time.time()) + 2 * DAY)),
    ("round_not_open_yet", 409, "round-not-open", (f"round {R_FUTURE}", "opens"), "round",
     lambda c: upload(c, round_id=R_FUTURE)),
    ("round_closed_by_chain_time", 409, "round-closed", (f"round {R_PUB}", "closed"), "round",
     lambda c: upload(c, round_id=R_PUB)),
    ("unknown_round", 404, "unknown-round", (f"round {R_UNKNOWN}", "does not exist"), "round",
     lambda c: upload(c, round_id=R_UNKNOWN)),
    ("round_not_a_number", 422, "invalid-field", ("round", "not a whole number"), "round",
     lambda c: upload(c, fields={"round": "round-102"})),
    ("round_negative", 422, "invalid-field", ("round",), "round",
     lambda c: upload(c, fields={"round": "-1"})),
    ("nonce_not_a_number", 422, "invalid-field", ("nonce", "not a whole number"), "nonce",
     lambda c: upload(c, fields={"nonce": "0x12"})),
    ("missing_nonce", 422, "missing-field", ("nonce", "missing"), "nonce",
     lambda c: upload(c, fields={"nonce": None})),
    ("missing_staker", 422, "missing-field", ("staker", "missing"), "staker",
     lambda c: upload(c, fields={"staker": None})),
    ("missing_file_part", 422, "missing-field", ("file",), "file",
     lambda c: post(c, multipart(upload_parts(c)[:-1]))),
    ("file_sent_as_a_field", 422, "missing-field", ("file",), "file",
     lambda c: post(c, multipart([*upload_parts(c)[:-1], ("file", GOOD.decode())]))),
    ("staker_not_an_address", 422, "invalid-field", ("staker",), "staker",
     lambda c: upload(c, fields={"staker": "0x1234"})),
    ("model_with_slash", 422, "invalid-field", ("model", "not a valid model name"), "model",
     lambda c: upload(c, fields={"model": "a/b"})),
    ("model_with_dotdot", 422, "invalid-field", ("model", "not a valid model name"), "model",
     lambda c: upload(c, fields={"model": "../../etc"})),
    ("model_with_backslash", 422, "invalid-field", ("model", "not a valid model name"), "model",
     lambda c: upload(c, fields={"model": "..\\x"})),
    ("model_uppercase", 422, "invalid-field", ("model", "not a valid model name"), "model",
     lambda c: upload(c, fields={"model": "Model"})),
    ("file_hash_malformed", 422, "invalid-field", ("file_hash",), "file_hash",
     lambda c: upload(c, file_hash="0x1234")),
    ("file_hash_of_another_file", 422, "file-hash-mismatch", ("file", "differs from file_hash"), "file",
     lambda c: upload(c, file_hash=to_hex(keccak_bytes(csv_file(seed=2))))),
    ("empty_file", 422, "empty-file", ("file", "empty"), "file",
     lambda c: upload(c, content=b"")),
    ("file_over_the_limit", 413, "file-too-large", ("file", str(MAX_UPLOAD)), "file",
     lambda c: upload(c, content=csv_file(rows=MAX_UPLOAD // 10 + 50))),
    ("request_declared_over_the_limit", 413, "file-too-large", ("file", str(MAX_UPLOAD)), "file",
     _declared_too_large),
    ("no_content_length", 411, "length-required", ("Content-Length",), None, _no_content_length),
    ("not_multipart", 415, "unsupported-media-type", ("multipart/form-data",), None,
     lambda c: post(c, b'{"round": 102}', content_type="application/json")),
    ("multipart_without_boundary", 400, "malformed-multipart", ("multipart",), None,
     lambda c: post(c, multipart(upload_parts(c)), content_type="multipart/form-data")),
    ("truncated_multipart", 400, "malformed-multipart", ("multipart", "cut short"), None, _truncated),
    ("truncated_after_the_file", 400, "malformed-multipart", ("multipart", "cut short"), None,
     _truncated_after_file),
    ("two_files", 400, "malformed-multipart", ("multipart",), None, _two_files),
    ("binary_junk", 415, "unsupported-format", ("file", "neither a CSV"), "file",
     lambda c: upload(c, content=bytes(range(256)) * 4)),
    ("parquet_magic_then_junk", 415, "unsupported-format", ("file", "Parquet"), "file",
     lambda c: upload(c, content=b"PAR1" + b"\x00\xff" * 200 + b"PAR1")),
    ("two_prediction_columns", 422, "invalid-file", ("file", "one prediction column"), "file",
     lambda c: upload(c, content=csv_file(header="id,a,b", value=lambda i: "0.5,0.5"))),
    ("no_id_column", 422, "invalid-file", ("file", "no 'id' column"), "file",
     lambda c: upload(c, content=csv_file(header="row,prediction"))),
    ("only_id_column", 422, "invalid-file", ("file", "no prediction column"), "file",
     lambda c: upload(c, content=b"id\nid_0001\nid_0002\n")),
    ("nan_prediction", 422, "invalid-file", ("file", "NaN"), "file",
     lambda c: upload(c, content=csv_file(value=lambda i: "nan" if i == 5 else "0.5"))),
    ("empty_prediction", 422, "invalid-file", ("file", "missing"), "file",
     lambda c: upload(c, content=csv_file(value=lambda i: "" if i == 3 else "0.5"))),
    ("infinite_prediction", 422, "invalid-file", ("file", "infinite"), "file",
     lambda c: upload(c, content=csv_file(value=lambda i: "inf" if i == 7 else "0.5"))),
    ("negative_infinite_prediction", 422, "invalid-file", ("file", "infinite"), "file",
     lambda c: upload(c, content=csv_file(value=lambda i: "-inf" if i == 7 else "0.5"))),
    ("prediction_outside_0_1", 422, "invalid-file", ("file", "outside"), "file",
     lambda c: upload(c, content=csv_file(value=lambda i: "1.5" if i == 2 else "0.5"))),
    ("prediction_not_a_number", 422, "invalid-file", ("file", "not a number"), "file",
     lambda c: upload(c, content=csv_file(value=lambda i: "high" if i == 2 else "0.5"))),
    ("duplicate_ids", 422, "invalid-file", ("file", "duplicate ids"), "file",
     lambda c: upload(c, content=csv_file(ids=lambda i: f"id_{min(i, 10):04d}"))),
    ("header_only", 422, "invalid-file", ("file", "no rows"), "file",
     lambda c: upload(c, content=b"id,prediction\n")),
    ("bad_file_before_the_fields", 422, "invalid-file", ("file", "NaN"), "file",
     lambda c: _file_first(c, content=csv_file(value=lambda i: "nan"))),
]


@pytest.mark.parametrize("case", BAD_UPLOADS, ids=[c[0] for c in BAD_UPLOADS])
def test_upload__bad_request__is_a_4xx_problem_and_stores_nothing(ctx, case):
    _name, status, kind, words, field, send = case
    before = snapshot(ctx)
    resp = send(ctx)
    assert_problem(resp, status, kind, *words, field=field)
    assert snapshot(ctx) == before


def test_upload__signed_for_another_round__is_403_and_stores_nothing(ctx):
    before = snapshot(ctx)
    body = assert_problem(upload(ctx, sign_round=R_FUTURE), 403, "wrong-signer", "signature", field="signature")
    assert ctx.stakers[0].address in body["detail"]
    assert snapshot(ctx) == before


def test_upload__replayed_signature__is_409_and_stores_nothing(ctx):
    body = multipart(upload_parts(ctx, model="replayed"))
    first = post(ctx, body)
    assert first.status_code == 201, first.text
    before = snapshot(ctx)
    assert_problem(post(ctx, body), 409, "signature-replayed", "signature", "used already", field="signature")
    assert snapshot(ctx) == before
    assert latest(ctx, R_OPEN, "replayed", ctx.stakers[0]).json()["uploads"] == 1


@contextmanager
def half_sent(ctx: Ctx, body: bytes, *, holds: tuple[str, Any] | None = None):
    """An upload in progress: its fields, the file's headers and half the file are sent and read
    by the service; the block gets `finish()`, which sends the rest and returns (status, body).
    `holds=(model, staker)`: the upload is the staker's own, and the block starts once the service's
    database shows that key held (the hold is taken on a worker thread, so round trips through the
    event loop alone do not prove it)."""
    cut = body.index(GOOD) + len(GOOD) // 2
    host, port = ctx.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.putrequest("POST", "/v1/submissions")
        conn.putheader("Content-Type", MULTIPART_TYPE)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        conn.send(body[:cut])
        if holds is not None:
            model, staker = holds
            wait_for_hold(f"sqlite:///{ctx.store_dir / 'service.sqlite3'}", R_OPEN, model, staker.address)
        # Two round trips through the service's event loop: it has read what was sent so far.
        for _ in range(2):
            assert requests.get(f"{ctx.url}/v1/info", timeout=30).status_code == 200

        def finish() -> tuple[int, bytes]:
            conn.send(body[cut:])
            response = conn.getresponse()
            return response.status, response.read()

        yield finish
    finally:
        conn.close()


def test_upload__while_another_for_the_same_key_is_in_progress__is_409_and_stores_nothing(ctx):
    model, staker = "concurrent", ctx.stakers[1]
    with half_sent(ctx, multipart(upload_parts(ctx, model=model, staker=staker)), holds=(model, staker)) as finish:
        before = snapshot(ctx)
        second = upload(ctx, model=model, staker=staker, content=csv_file(seed=3))
        assert_problem(second, 409, "upload-in-progress", f"round {R_OPEN}", model, staker.address, "in progress")
        assert snapshot(ctx) == before
        # Another key is not held up by it.
        other = upload(ctx, model=model, staker=ctx.stakers[2])
        assert other.status_code == 201, other.text
        status, answer = finish()
        assert status == 201, answer
    got = latest(ctx, R_OPEN, model, staker).json()
    assert got["uploads"] == 1 and got["latest"]["commitment"] == to_hex(keccak_bytes(GOOD))
    # Once it has finished, the key takes uploads again.
    again = upload(ctx, model=model, staker=staker, content=csv_file(seed=3))
    assert again.status_code == 201, again.text


def test_upload__a_strangers_slow_upload_in_a_stakers_name__does_not_hold_the_staker_up(ctx):
    model, staker, stranger = "squatted", ctx.stakers[1], ctx.stakers[2]
    with half_sent(ctx, multipart(upload_parts(ctx, model=model, staker=staker, signer=stranger))) as finish:
        mine = upload(ctx, model=model, staker=staker)  # the staker's own upload goes through meanwhile
        assert mine.status_code == 201, mine.text
        status, answer = finish()
        assert status == 403, answer
    assert latest(ctx, R_OPEN, model, staker).json()["uploads"] == 1


def test_upload__file_before_the_fields__is_accepted(ctx):
    resp = _file_first(ctx, model="file_first")
    assert resp.status_code == 201, resp.text


# ---------------------------------------------------------------------------------------- good uploads


def test_upload__valid__is_201_with_a_receipt_signed_by_the_services_receipt_signer(ctx):
    info = requests.get(f"{ctx.url}/v1/info", timeout=30).json()
    assert info["chain_id"] == ctx.domain.chain_id and info["tournament"] == ctx.domain.tournament
    assert info["max_upload_bytes"] == MAX_UPLOAD
    staker = ctx.stakers[0]
    resp = upload(ctx, model="receipted", staker=staker)
    assert resp.status_code == 201, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    answer = resp.json()
    receipt = DeliveryReceipt.from_json(answer["receipt"])
    assert receipt.signer(ctx.domain) == info["receipt_signer"] == answer["receipt_signer"]
    assert (receipt.round_id, receipt.model, receipt.staker, receipt.commitment) == (
        R_OPEN, "receipted", staker.address, keccak_bytes(GOOD))
    assert answer["commitment"] == to_hex(keccak_bytes(GOOD)) and answer["size"] == len(GOOD)
    stored = SubmissionStore(ctx.store_dir).latest(R_OPEN, "receipted", staker.address)
    assert stored is not None and stored.upload_id == answer["upload_id"]
    assert stored.path.read_bytes() == GOOD
    assert not list((ctx.store_dir / "tmp").iterdir())
    # A receipt checked against another chain's domain does not recover to the signer.
    other = Domain(ctx.domain.chain_id + 1, ctx.domain.tournament)
    assert receipt.signer(other) != info["receipt_signer"]


def test_upload__second_for_the_same_key__replaces_the_first_as_latest(ctx):
    staker = ctx.stakers[2]
    first = upload(ctx, model="replaced", staker=staker, content=csv_file(seed=4))
    second = upload(ctx, model="replaced", staker=staker, content=csv_file(seed=5))
    assert first.status_code == 201 and second.status_code == 201, (first.text, second.text)
    got = latest(ctx, R_OPEN, "replaced", staker)
    assert got.status_code == 200
    data = got.json()
    assert data["uploads"] == 2
    assert data["latest"]["upload_id"] == second.json()["upload_id"] != first.json()["upload_id"]
    assert data["latest"]["commitment"] == to_hex(keccak_bytes(csv_file(seed=5)))
    assert "file" not in data["latest"] and "path" not in data["latest"]  # never the file itself


# ---------------------------------------------------------------------------------------- reads


def test_submission_file__before_publication__is_403_and_private(ctx):
    staker = ctx.stakers[0]
    assert upload(ctx, model="private", staker=staker).status_code == 201
    resp = requests.get(f"{ctx.url}/v1/rounds/{R_OPEN}/submissions/private/{staker.address}/file", timeout=30)
    body = assert_problem(resp, 403, "submission-private", f"round {R_OPEN}", "private", "published")
    assert GOOD.decode()[:20] not in resp.text and body["instance"].endswith("/file")


def test_submission_file__after_publication__is_the_scored_file(ctx):
    staker = ctx.stakers[0]
    resp = requests.get(f"{ctx.url}/v1/rounds/{R_PUB}/submissions/model_00/{staker.address}/file", timeout=30)
    assert resp.status_code == 200, resp.text
    stored = SubmissionStore(ctx.store_dir).latest(R_PUB, "model_00", staker.address)
    assert stored is not None and resp.content == stored.path.read_bytes()


def test_proof__round_not_published__is_404(ctx):
    resp = requests.get(f"{ctx.url}/v1/rounds/{R_OPEN}/proofs/model_00/{ctx.stakers[0].address}", timeout=30)
    assert_problem(resp, 404, "not-published", f"round {R_OPEN}", "no results are published")


def test_proof__key_without_a_stake_in_a_published_round__is_404(ctx):
    resp = requests.get(f"{ctx.url}/v1/rounds/{R_PUB}/proofs/nobody_model/{ctx.stakers[0].address}", timeout=30)
    assert_problem(resp, 404, "no-stake", f"round {R_PUB}", "nobody_model", ctx.stakers[0].address)
    # A staker's model under another staker is not theirs either.
    resp = requests.get(f"{ctx.url}/v1/rounds/{R_PUB}/proofs/model_00/{ctx.stakers[1].address}", timeout=30)
    assert_problem(resp, 404, "no-stake", "model_00", ctx.stakers[1].address)


def test_proof__staked_key_in_a_published_round__is_its_row_and_proof(ctx):
    resp = requests.get(f"{ctx.url}/v1/rounds/{R_PUB}/proofs/model_01/{ctx.stakers[1].address.lower()}", timeout=30)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["model"] == "model_01" and data["staker"] == ctx.stakers[1].address
    assert data["proof"] and data["merkle_root"].startswith("0x")


BAD_READS = [
    ("round_not_a_number", "/v1/rounds/abc", 422, "invalid-field", ("round",)),
    ("unknown_round", f"/v1/rounds/{R_UNKNOWN}", 404, "unknown-round", (f"round {R_UNKNOWN}",)),
    ("submission_bad_model", f"/v1/rounds/{R_OPEN}/submissions/Bad..Model/0x0000000000000000000000000000000000000001",
     422, "invalid-field", ("model",)),
    ("submission_bad_staker", f"/v1/rounds/{R_OPEN}/submissions/model_00/0xnothex", 422, "invalid-field", ("staker",)),
    ("submission_none", f"/v1/rounds/{R_OPEN}/submissions/never_uploaded/0x0000000000000000000000000000000000000001",
     404, "no-upload", ("never_uploaded",)),
    ("file_path_traversal", f"/v1/rounds/{R_PUB}/files/..%2F..%2Fservice%2Freceipt-signer.key", 404, "no-such-file",
     ("not a published file",)),
    ("leaderboard_bad_limit", f"/v1/rounds/{R_PUB}/leaderboard?limit=0", 422, "invalid-field", ("limit",)),
    ("leaderboard_not_published", f"/v1/rounds/{R_OPEN}/leaderboard", 404, "not-published", ("no results",)),
    ("unknown_route", "/v1/nothing/here", 404, "not-found", ("/v1/nothing/here",)),
    ("account_bad_address", "/v1/accounts/0xnothex", 422, "invalid-field", ("address",)),
]


@pytest.mark.parametrize("case", BAD_READS, ids=[c[0] for c in BAD_READS])
def test_read__bad_request__is_a_4xx_problem(ctx, case):
    _name, path, status, kind, words = case
    before = snapshot(ctx)
    assert_problem(requests.get(f"{ctx.url}{path}", timeout=30), status, kind, *words)
    assert snapshot(ctx) == before


def test_wrong_method__is_405_problem(ctx):
    before = snapshot(ctx)
    assert_problem(requests.get(f"{ctx.url}/v1/submissions", timeout=30), 405, "method-not-allowed", "Method Not Allowed")
    assert_problem(requests.delete(f"{ctx.url}/v1/rounds/{R_OPEN}", timeout=30), 405, "method-not-allowed")
    assert snapshot(ctx) == before


# ---------------------------------------------------------------------------------------- service


def test_openapi__lists_the_v1_routes(ctx):
    spec = requests.get(f"{ctx.url}/openapi.json", timeout=30).json()
    paths = set(spec["paths"])
    assert {"/v1/info", "/v1/submissions", "/v1/rounds", "/v1/rounds/{round_id}",
            "/v1/rounds/{round_id}/submissions/{model}/{staker}",
            "/v1/rounds/{round_id}/submissions/{model}/{staker}/file", "/v1/rounds/{round_id}/leaderboard",
            "/v1/rounds/{round_id}/files", "/v1/rounds/{round_id}/proofs/{model}/{staker}", "/healthz"} <= paths
    form = spec["paths"]["/v1/submissions"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"round", "model", "staker", "nonce", "expiry", "signature", "file"} <= set(form["required"])


def test_healthz__reports_the_chain(ctx):
    resp = requests.get(f"{ctx.url}/healthz", timeout=30)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["status"] == "ok" and data["chain_id"] == ctx.domain.chain_id
    assert isinstance(data["block"], int) and data["block"] > 0 and isinstance(data["chain_time"], int)


def test_accounts__an_address__is_its_nmr_ether_and_allowance_on_chain(ctx, project):
    from ape import chain

    token = project.NMR.at(ctx.token)
    for staker in ctx.stakers[:2]:
        got = requests.get(f"{ctx.url}/v1/accounts/{staker.address.lower()}", timeout=30).json()
        assert got["address"] == staker.address  # checksummed
        assert int(got["nmr"]) == token.balanceOf(staker) > 0
        assert int(got["ether"]) == chain.provider.get_balance(staker.address) > 0
        assert int(got["allowance"]) == token.allowance(staker, ctx.domain.tournament)
        assert got["tournament"] == ctx.domain.tournament


def test_balance_cli__with_api__reads_through_the_service_without_a_chain(ctx, tmp_path):
    """`nmrstake balance ADDRESS --api URL` answers from the service alone: its --network names a
    chain it cannot reach (mainnet without an RPC), so any chain read would fail the command."""
    staker = ctx.stakers[0].address
    env = dict(os.environ, NMRSTAKE_HOME=str(tmp_path))
    env.pop("APE_FOUNDRY_HOST", None)
    out = subprocess.run([sys.executable, "-m", "nmrstake.cli", "balance", staker, "--api", ctx.url,
                          "--network", "ethereum:mainnet:node", "--json"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    shown = json.loads(out.stdout)
    served = requests.get(f"{ctx.url}/v1/accounts/{staker}", timeout=30).json()
    assert {k: shown[k] for k in ("address", "nmr", "ether", "allowance", "tournament")} == \
        {k: served[k] for k in ("address", "nmr", "ether", "allowance", "tournament")}


def test_rounds__report_each_rounds_state(ctx):
    states = {r["round"]: r["state"] for r in requests.get(f"{ctx.url}/v1/rounds", timeout=30).json()}
    assert (states[R_PUB], states[R_OPEN], states[R_FUTURE]) == ("posted", "open", "scheduled"), states
    assert requests.get(f"{ctx.url}/v1/rounds/{R_PUB}", timeout=30).json()["published"] is True
    assert requests.get(f"{ctx.url}/v1/rounds/{R_OPEN}", timeout=30).json()["published"] is False


def test_upload__chunked_with_a_small_content_length__is_411_and_stores_nothing(ctx):
    """Transfer-Encoding frames the body, whatever Content-Length says: no size bound, so refused."""
    body = multipart(upload_parts(ctx, model="chunked"))
    host, port = ctx.url.removeprefix("http://").split(":")
    before = snapshot(ctx)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.putrequest("POST", "/v1/submissions")
        conn.putheader("Content-Type", MULTIPART_TYPE)
        conn.putheader("Content-Length", "10")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        conn.send(f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
        response = conn.getresponse()
        status, answer = response.status, response.read()
    except (ConnectionError, http.client.HTTPException) as exc:  # the server may refuse the framing itself
        status, answer = 400, str(exc).encode()
    finally:
        conn.close()
    assert status in (400, 411), answer
    assert snapshot(ctx) == before


def test_chain_down__reads_and_health_are_503_problems_and_the_service_stays_up(project, tmp_path):
    with anvil_provider():
        world = make_world(project, tmp_path)
        open_funded_round(world, 7)
        service = start_service(world.deployments, world.layout.root, tmp_path / "service.log")
    try:  # Anvil is gone; the service is not
        assert_problem(requests.get(f"{service.url}/v1/rounds", timeout=60), 503, "chain-unavailable", "does not answer")
        assert_problem(requests.get(f"{service.url}/healthz", timeout=60), 503, "chain-unavailable")
        assert requests.get(f"{service.url}/v1/info", timeout=60).status_code == 200
        assert service.proc.poll() is None
    finally:
        assert stop(service) == 0, service.log_text()
