"""Participants playing the attacker against real processes (a real Anvil, `nmrstake serve`, the
oracle daemon): nothing a participant sends stops a round, holds another staker or fails a page
(docs/security.md, "Nothing a participant sends stops anyone else").

Service side, one world for the module: a round open for a day, honest stakers holding NMR, and a
service with small limits so that they can be reached (uploads of at most MAX_UPLOAD bytes, a store
of STORE_LIMIT bytes for models not staked yet). Each attack is followed by what an honest staker
must still get: a fresh upload answered 201 and pages that answer.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account
from helpers.scenario import (
    WEI,
    advance_to,
    advance_to_final,
    deliver_targets,
    make_world,
    open_funded_round,
    oracle_once,
    stake_all,
    synth_round,
    with_tournament,
)
from helpers.service_process import running_service, wait_for_hold
from helpers.uploads import MULTIPART_TYPE, csv_file, multipart, signed_fields

from nmrstake.chain.signers import key_account
from nmrstake.hashing import keccak_bytes
from nmrstake.localchain import anvil_provider
from nmrstake.models import model_id
from nmrstake.signing import Domain
from nmrstake.submissions import SubmissionStore

pytestmark = pytest.mark.nodes  # real Anvil and processes: run after the embedded-EVM tests

ROUND = 301
MAX_UPLOAD = 32 * 1024
STORE_LIMIT = 8 * MAX_UPLOAD
PAGES = ["/", f"/rounds/{ROUND}", "/v1/rounds", f"/v1/rounds/{ROUND}", "/healthz"]


class Arena:
    def __init__(self, url: str, data: Path, domain: Domain, world: Any) -> None:
        self.url, self.data, self.domain, self.world = url, data, domain, world
        self.honest = world.stakers

    @property
    def store(self) -> SubmissionStore:
        return SubmissionStore(self.data / "service")

    def upload(self, staker: Any, model: str, content: bytes, *, signer: Any = None,
               fields: dict[str, str] | None = None) -> requests.Response:
        sent = fields or signed_fields(self.domain, staker.address, signer or staker, round_id=ROUND, model=model,
                                       content=content)
        body = multipart([*sent.items(), ("file", content)])
        return requests.post(f"{self.url}/v1/submissions", data=body, headers={"Content-Type": MULTIPART_TYPE},
                             timeout=60)

    def honest_upload_is_taken(self, k: int) -> None:
        """An honest staker's fresh upload is answered 201 and every page answers (the request's
        timeout only keeps a broken service from hanging the test; nothing here measures time)."""
        staker = self.honest[k % len(self.honest)]
        resp = self.upload(staker, f"honest_{k}", csv_file(seed=k))
        assert resp.status_code == 201, resp.text
        for path in PAGES:
            page = requests.get(self.url + path, timeout=60)
            assert page.status_code == 200, (path, page.status_code, page.text[:300])

    def stored(self) -> list[tuple[int, str, str, bytes, bytes]]:
        """Every upload row with the bytes of its file (which must still hash to the row's hash)."""
        return [(u.upload_id, u.model, u.staker, u.file_hash, u.path.read_bytes()) for u in self.store.uploads(ROUND)]


@pytest.fixture(autouse=True)
def _function_isolation() -> Any:
    """No snapshot and revert around each test here (ape's plugin would take one): the attacks
    share one round on purpose, and the last tests resolve it with everything the others left.
    Without this, whether a test sees the stakes of the tests before it depends on whether ape's
    snapshots still work when this module runs, i.e. on which tests ran before it."""
    yield


@pytest.fixture(scope="module")
def arena(project, tmp_path_factory) -> Any:
    tmp = tmp_path_factory.mktemp("hostile")
    with anvil_provider():
        world = make_world(project, tmp)
        open_funded_round(world, ROUND, close_after=24 * 3600)
        with running_service(world.deployments, world.layout.root, tmp / "service.log",
                             "--max-upload-bytes", str(MAX_UPLOAD), "--max-store-bytes", str(STORE_LIMIT),
                             "--min-free-disk", "0") as service:
            yield Arena(service.url, world.layout.root, world.client.domain, world)
        assert "Traceback" not in service.log_text(), service.log_text()


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=60)


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    """True once the server has closed the connection (reads return b'' or reset), waiting at most
    `within` seconds for it."""
    sock.settimeout(within)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


# ---------------------------------------------------------------------------------------- replay


def _slow_replay(arena: Arena, fields: dict[str, str], content: bytes) -> tuple[socket.socket, threading.Event]:
    """A replay of `fields` whose body then drips a byte a second (stop it with the event)."""
    body = multipart([*fields.items(), ("file", content)])
    sock = _connect(arena.url)
    sock.sendall((f"POST /v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Type: {MULTIPART_TYPE}\r\n"
                  f"Content-Length: {MAX_UPLOAD}\r\n\r\n").encode() + body[:body.index(content)])
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(1.0):
            try:
                sock.sendall(b"0")
            except OSError:
                return

    threading.Thread(target=trickle, daemon=True).start()
    return sock, stop


def test_replayed_signature_with_a_slow_body__never_holds_the_stakers_key(arena):
    """Someone who saw one of a staker's accepted uploads (on the wire, in a proxy's log) sends the
    same fields again with a huge Content-Length and the body one byte at a time: the staker's
    fresh uploads are taken meanwhile, and the slow request is refused (408) and its connection
    closed by the service."""
    staker, model = arena.honest[0], "replayed"
    first = csv_file(seed=1)
    fields = signed_fields(arena.domain, staker.address, staker, round_id=ROUND, model=model, content=first)
    assert arena.upload(staker, model, first, fields=fields).status_code == 201
    sock, stop = _slow_replay(arena, fields, first)  # the same fields, the file's part headers, a trickle
    try:
        for k in range(3):  # the staker replaces its file while the replay drips
            resp = arena.upload(staker, model, csv_file(seed=10 + k))
            assert resp.status_code == 201, resp.text
            time.sleep(1)
        replayed = arena.upload(staker, model, first, fields=fields)  # the replay sent whole: refused as used
        assert replayed.status_code == 409 and "signature-replayed" in replayed.json()["type"], replayed.text
        # The slow request gets its answer and loses its connection.
        sock.settimeout(120)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            assert chunk, f"closed without an answer: {answer!r}"
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
        assert b"connection: close" in answer.lower(), answer[:600]
        assert _closed_by_server(sock, within=60)
    finally:
        stop.set()
        sock.close()
    assert arena.store.latest(ROUND, model, staker.address).path.read_bytes() == csv_file(seed=12)
    arena.honest_upload_is_taken(0)


def test_a_refused_uploads_signature_replayed_with_a_slow_body__never_holds_the_key(arena):
    """A signature whose upload the service refused (here its file: 422) is unused, yet it was
    seen once: replayed with a slow body, it holds nothing, and the staker's fresh uploads are taken."""
    staker, model = arena.honest[0], "refused_then_replayed"
    bad = b"id,prediction\nx,2.5\n"  # a value outside [0, 1]: refused after the body is in
    fields = signed_fields(arena.domain, staker.address, staker, round_id=ROUND, model=model, content=bad)
    refused = arena.upload(staker, model, bad, fields=fields)
    assert refused.status_code == 422, refused.text
    sock, stop = _slow_replay(arena, fields, bad)
    try:
        time.sleep(1.5)  # the replay's fields are in: it would hold the key now if it could
        for k in range(3):
            resp = arena.upload(staker, model, csv_file(seed=40 + k))
            assert resp.status_code == 201, resp.text
    finally:
        stop.set()
        sock.close()


def test_concurrent_uploads_of_keys_holding_nmr__cannot_pass_the_store_limit_together(arena, tmp_path):
    """Uploads admitted at the same time count against the limits while they are in flight: a
    burst of keys, each sending the largest file at once, stores no more than the limit allows."""
    from concurrent.futures import ThreadPoolExecutor

    world = arena.world
    min_stake = world.client.round(ROUND).min_stake
    before = sum(u.size for u in arena.store.uploads(ROUND))
    largest = csv_file(rows=MAX_UPLOAD // 16)
    largest = largest[: largest[: MAX_UPLOAD - 200].rindex(b"\n") + 1]
    keys = [Account.create() for _ in range(12)]
    for key in keys:
        world.client.token.mint(key.address, min_stake, sender=world.owner)
    requests_ = [(key, signed_fields(arena.domain, key.address, key_account(key.key), round_id=ROUND,
                                     model=f"burst_{k}", content=largest)) for k, key in enumerate(keys)]
    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        answers = list(pool.map(lambda kf: arena.upload(_Who(kf[0].address), kf[1]["model"], largest, fields=kf[1]),
                                requests_))
    taken = [a for a in answers if a.status_code == 201]
    assert all(a.status_code in (201, 429) for a in answers), [a.text for a in answers]
    total = sum(u.size for u in arena.store.uploads(ROUND))
    assert total - before == len(taken) * len(largest)
    assert 0 < len(taken) < len(keys) and total <= STORE_LIMIT, (len(taken), total, STORE_LIMIT)


def test_a_small_parquet_file_of_millions_of_rows__refused_from_its_metadata_and_the_service_stays_up(arena, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    bomb = tmp_path / "bomb.parquet"
    pq.write_table(pa.table({"id": ["same"] * 3_000_000, "prediction": [0.5] * 3_000_000}), bomb, compression="zstd")
    content = bomb.read_bytes()
    assert len(content) < MAX_UPLOAD  # about 23 kB on the wire, gigabytes once parsed
    staker = arena.honest[1]
    resp = arena.upload(staker, "bomb", content)
    assert resp.status_code == 422 and "3000000 rows" in resp.json()["detail"], resp.text
    arena.honest_upload_is_taken(400)


def test_a_slow_body_of_the_stakers_own_fresh_signature__holds_the_key_only_until_its_deadline(arena):
    """A fresh, signed upload whose body stalls holds its key (a second upload meanwhile is 409),
    but only until the body's deadline: then it is refused and the key takes uploads again."""
    staker, model = arena.honest[1], "stalled"
    content = csv_file(seed=2)
    fields = signed_fields(arena.domain, staker.address, staker, round_id=ROUND, model=model, content=content)
    body = multipart([*fields.items(), ("file", content)])
    cut = body.index(content) + 10
    host, port = arena.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        conn.putrequest("POST", "/v1/submissions")
        conn.putheader("Content-Type", MULTIPART_TYPE)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        conn.send(body[:cut])
        # Once the service has read the fields, it holds the key (in its database): only then probe,
        # or a probe could take the hold first.
        wait_for_hold(arena.store.database.url, ROUND, model, staker.address)
        probe = b"id,prediction\nx,2.5\n"  # refused (422) if it were taken, so probing stores nothing
        held = arena.upload(staker, model, probe)
        assert held.status_code == 409 and "upload-in-progress" in held.json()["type"], held.text
        response = conn.getresponse()  # the stalled body's answer comes from its deadline
        assert response.status == 408, response.read()
        assert response.getheader("connection", "").lower() == "close"
    finally:
        conn.close()
    again = arena.upload(staker, model, csv_file(seed=3))
    assert again.status_code == 201, again.text


# ---------------------------------------------------------------------------------------- connections


def test_a_thousand_half_open_connections__honest_uploads_taken_and_the_connections_closed(arena):
    socks = []
    try:
        for k in range(1000):
            sock = _connect(arena.url)
            # A request line and one header, never finished; every tenth sends nothing at all.
            if k % 10:
                sock.sendall(b"POST /v1/submissions HTTP/1.1\r\nHost: x\r\n")
            socks.append(sock)
        for k in range(3):
            arena.honest_upload_is_taken(100 + k)
        # The service closes them (its header deadline), instead of keeping a socket each for ever.
        assert _closed_by_server(socks[0], within=60) and _closed_by_server(socks[1], within=60)
        assert sum(_closed_by_server(s, within=5) for s in socks[2:]) == len(socks) - 2
    finally:
        for sock in socks:
            sock.close()
    arena.honest_upload_is_taken(200)


# ---------------------------------------------------------------------------------------- floods


def test_a_flood_of_fresh_keys__without_nmr__stores_nothing(arena):
    before = arena.stored()
    largest = csv_file(rows=MAX_UPLOAD // 16)[: MAX_UPLOAD - 100]
    largest = largest[: largest.rindex(b"\n") + 1]
    for k in range(30):
        fresh = Account.create()
        resp = arena.upload(_Who(fresh.address), f"flood_{k}", largest, signer=key_account(fresh.key))
        assert resp.status_code == 403 and resp.json()["type"].endswith("cannot-stake"), resp.text
    assert arena.stored() == before
    assert not list((arena.data / "service" / "tmp").iterdir())
    arena.honest_upload_is_taken(300)


def test_a_flood_of_keys_holding_nmr__stops_at_the_store_limit__a_staked_model_is_still_taken(arena):
    world = arena.world
    round_info = world.client.round(ROUND)
    largest = csv_file(rows=MAX_UPLOAD // 16)
    largest = largest[: largest[: MAX_UPLOAD - 200].rindex(b"\n") + 1]
    before = arena.stored()
    refused = None
    for k in range(STORE_LIMIT // len(largest) + 3):
        flood = Account.create()
        world.client.token.mint(flood.address, round_info.min_stake, sender=world.owner)
        resp = arena.upload(_Who(flood.address), f"filler_{k}", largest, signer=key_account(flood.key))
        if resp.status_code != 201:
            refused = resp
            break
    assert refused is not None and refused.status_code == 429, refused.text if refused else "never refused"
    assert refused.json()["type"].endswith("store-full"), refused.text
    kept = arena.stored()
    assert kept[: len(before)] == before  # nothing anyone stored before was touched
    assert all(keccak_bytes(content) == digest for _, _, _, digest, content in kept)
    # An honest staker whose model is staked (commitment = the file's keccak) is still taken.
    staker, content = arena.honest[2], csv_file(seed=77)
    from nmrstake.chain.transactions import send

    world.client.token.approve(world.client.tournament.address, WEI, sender=staker)
    send(world.client.tournament.stake, ROUND, model_id("staked_first"), round_info.min_stake, keccak_bytes(content),
         sender=staker, what="staking before the upload")
    resp = arena.upload(staker, "staked_first", content)
    assert resp.status_code == 201, resp.text
    # A model not staked yet is refused by the same rule, with a message that says what to do.
    unstaked = arena.upload(arena.honest[0], "not_staked_yet", largest)
    assert unstaked.status_code == 429 and "stake model not_staked_yet" in unstaked.json()["detail"], unstaked.text
    # The participant's own path does that by itself: refused for room, it stakes first, then uploads.
    from nmrstake.client.http import ServiceClient
    from nmrstake.participant import stake_predictions

    path = arena.data.parent / "stake_then_upload.csv"
    path.write_bytes(largest)
    done = stake_predictions(world.client, arena.honest[0], ServiceClient(arena.url), ROUND, "stake_then_upload",
                             round_info.min_stake, path)
    assert done["txn"] and done["upload"] is not None, done
    assert done["upload"]["commitment"] == "0x" + keccak_bytes(largest).hex(), done
    assert world.client.stake(ROUND, model_id("stake_then_upload"), arena.honest[0].address).amount == round_info.min_stake


def test_uploads_per_key__past_the_limit__429_and_the_kept_ones_unchanged(arena):
    staker, model = arena.honest[2], "many_versions"
    world = arena.world
    content = csv_file(seed=500)
    from nmrstake.chain.transactions import send

    world.client.token.approve(world.client.tournament.address, WEI, sender=staker)
    send(world.client.tournament.stake, ROUND, model_id(model), world.client.round(ROUND).min_stake,
         keccak_bytes(content), sender=staker, what="staking")  # staked: the store's room is not the limit here
    for k in range(16):
        resp = arena.upload(staker, model, csv_file(seed=500 + k, rows=5))
        assert resp.status_code == 201, (k, resp.text)
    kept = arena.store.uploads(ROUND, model, staker.address)
    resp = arena.upload(staker, model, csv_file(seed=999, rows=5))
    assert resp.status_code == 429 and resp.json()["type"].endswith("too-many-uploads"), resp.text
    assert arena.store.uploads(ROUND, model, staker.address) == kept


class _Who:
    """An address, as the helpers take a staker (anything with `.address`)."""

    def __init__(self, address: str) -> None:
        self.address = address


def test_pages_of_every_attacker__answer(arena):
    for path in ["/stakers/0x000000000000000000000000000000000000dEaD", "/models/flood_0",
                 "/v1/stakers/0x000000000000000000000000000000000000dEaD",
                 "/models/0x" + "ff" * 32, "/v1/models/0x" + "ff" * 32]:
        page = requests.get(arena.url + path, timeout=60)
        assert page.status_code == 200, (path, page.status_code, page.text[:300])


def test_after_every_attack_above__the_round_resolves_and_honest_stakes_are_paid_to_the_wei(arena, tmp_path):
    """The round the attacks above were aimed at: two more honest stakes through the service, then
    the oracle daemon (a process) resolves it; the honest stakes get, to the wei, what a round of
    theirs alone gives, and every stake claims what its row says."""
    from nmrstake.chain.transactions import send
    from nmrstake.client.http import ServiceClient
    from nmrstake.participant import stake_predictions
    from nmrstake.results.evaluate import evaluate_round
    from nmrstake.results.read import load_published
    from nmrstake.results.spec import PredictionKey, RoundInputs, RoundStake
    from nmrstake.tournament import RoundState

    world, client = arena.world, arena.world.client
    files: dict[PredictionKey, Path] = {}
    for k, staker in enumerate(arena.honest[:2]):
        path = tmp_path / f"final_{k}.csv"
        path.write_bytes(csv_file(seed=900 + k))
        stake_predictions(client, staker, ServiceClient(arena.url), ROUND, f"final_{k}", WEI, path)
        files[(f"final_{k}", staker.address)] = path
    earlier = tmp_path / "staked_first.csv"
    earlier.write_bytes(csv_file(seed=77))  # staked before its upload, in the store-limit test
    files[("staked_first", arena.honest[2].address)] = earlier
    targets = tmp_path / "targets.csv"
    targets.write_text("id,target\n" + "".join(f"id_{i:04d},{(i * 37 % 5) / 4}\n" for i in range(40)))
    info = client.round(ROUND)
    advance_to(info.resolve_time)
    world.layout.targets_dir.mkdir(parents=True, exist_ok=True)
    (world.layout.targets_dir / f"round-{ROUND}.csv").write_bytes(targets.read_bytes())
    oracle = oracle_once(world)
    assert client.round(ROUND).state is RoundState.POSTED, oracle.stdout + oracle.stderr

    rows = {(r.model, r.staker): r for r in load_published(world.layout.published(ROUND)).rows}
    honest = [s for s in client.stakes_at_close(ROUND) if (s.model, s.staker) in files]
    alone = evaluate_round(ROUND, info.payout_params(), [RoundStake(s.model, s.staker, s.amount, s.commitment)
                                                         for s in honest], RoundInputs(targets, files))
    assert len(alone.rows) == 3 and all(r.valid for r in alone.rows), alone.rows
    for expected in alone.rows:
        got = rows[(expected.model, expected.staker)]
        assert (got.valid, got.payout, got.burn) == (True, expected.payout, expected.burn), (got, expected)
    advance_to_final(client.round(ROUND))
    for (model, staker), row in rows.items():
        before = int(client.token.balanceOf(staker))
        send(client.tournament.claim, ROUND, model_id(model), staker, row.payout, row.burn, row.proof,
             sender=world.owner, what=f"claiming {model} for {staker}")
        assert int(client.token.balanceOf(staker)) - before == row.stake - row.burn + row.payout, (model, staker)


# ---------------------------------------------------------------------------------------- the round


JUNK_IDS = [
    b"<img src=x onerror=alert(1)>".ljust(32, b"\0"),  # HTML
    b"\xff" * 32,  # all 0xff
    b"Upper_Case".ljust(32, b"\0"),  # upper case
    "modèle".encode().ljust(32, b"\0"),  # non-ASCII
]
R_MIXED, R_ALONE = 311, 312


def test_junk_model_ids_and_junk_files__the_round_resolves_and_honest_stakes_are_paid_to_the_wei(project, tmp_path):
    """On a Tournament that takes any model id (as one deployed before ids were checked): junk ids
    sent straight to the contract, a stake from a contract account (it can sign no upload), and a
    file that shares no id with the targets, beside three honest stakers; and the same file alone
    in a round of its own. The oracle daemon (a process) resolves both rounds; every junk stake is
    refunded; every honest stake gets, to the wei, what it gets without the attackers; every page
    of the attacker answers; every stake claims what its row says."""
    from ape import accounts

    from nmrstake.chain.transactions import send
    from nmrstake.models import label_model_id, model_label
    from nmrstake.oracle import alarm_hold_until
    from nmrstake.participant import LocalDelivery, stake_predictions
    from nmrstake.results.evaluate import evaluate_round
    from nmrstake.results.read import load_published
    from nmrstake.results.spec import NOT_A_NAME, UNDELIVERED, PredictionKey, RoundInputs, RoundStake
    from nmrstake.tournament import RoundState

    with anvil_provider():
        world = with_tournament(make_world(project, tmp_path / "operator"), project, "AnyModelIdTournament")
        client, token = world.client, world.client.token
        tournament = client.tournament
        attacker = accounts.test_accounts[6]
        token.mint(attacker, 1_000 * WEI, sender=world.owner)
        for rid in (R_MIXED, R_ALONE):
            open_funded_round(world, rid)
        min_stake = client.round(R_MIXED).min_stake
        inputs = synth_round(tmp_path, R_MIXED, models=len(world.stakers))
        stake_all(world, R_MIXED, inputs)
        token.approve(tournament.address, 100 * WEI, sender=attacker)
        for junk in JUNK_IDS:
            send(tournament.stake, R_MIXED, junk, min_stake, keccak_bytes(junk), sender=attacker, what="a junk stake")
        contract_staker = world.owner.deploy(project.ContractStaker)
        token.mint(contract_staker.address, WEI, sender=world.owner)
        contract_staker.stake(token.address, tournament.address, R_MIXED, model_id("from_a_contract"), min_stake,
                              b"\x02" * 32, sender=attacker)
        disjoint = tmp_path / "disjoint.csv"
        disjoint.write_bytes(csv_file(rows=50, ids=lambda i: f"not_a_target_{i}"))
        delivery = LocalDelivery(client, world.layout)
        for rid, model in ((R_MIXED, "no_shared_ids"), (R_ALONE, "alone")):
            stake_predictions(client, attacker, delivery, rid, model, min_stake, disjoint)
        advance_to(max(client.round(r).resolve_time for r in (R_MIXED, R_ALONE)))
        deliver_targets(world, R_MIXED, inputs)
        deliver_targets(world, R_ALONE, inputs)
        # The lone junk file raises an alarm, which holds its round's posting for half the posting
        # window (for the operator to check the targets): past it, the round is posted all the same.
        advance_to(alarm_hold_until(client.round(R_ALONE)))

        oracle = oracle_once(world, "--log-json")
        assert "round_error" not in oracle.stdout, oracle.stdout
        assert '"alarm"' in oracle.stdout and "round-312" in oracle.stdout, oracle.stdout  # the lone junk file
        for rid in (R_MIXED, R_ALONE):
            assert client.round(rid).state is RoundState.POSTED, oracle.stdout

        pub = load_published(world.layout.published(R_MIXED))
        rows = {(r.model, r.staker): r for r in pub.rows}
        for junk in JUNK_IDS:
            row = rows[(model_label(junk), attacker.address)]
            assert (row.valid, row.reason, row.payout, row.burn) == (False, NOT_A_NAME, 0, 0)
        assert rows[("from_a_contract", contract_staker.address)].reason == UNDELIVERED
        assert not rows[("no_shared_ids", attacker.address)].valid
        # The honest stakers' rows are those of the same round without any attacker, to the wei.
        honest = [s for s in client.stakes_at_close(R_MIXED) if s.staker in {a.address for a in world.stakers}]
        files: dict[PredictionKey, Path] = {(s.model, s.staker): inputs / "predictions" / f"{s.model}.csv"
                                            for s in honest}
        alone = evaluate_round(R_MIXED, client.round(R_MIXED).payout_params(),
                               [RoundStake(s.model, s.staker, s.amount, s.commitment) for s in honest],
                               RoundInputs(inputs / "targets.csv", files))
        assert alone.rows and all(r.valid for r in alone.rows)
        for expected in alone.rows:
            got = rows[(expected.model, expected.staker)]
            assert (got.valid, got.payout, got.burn) == (True, expected.payout, expected.burn), (got, expected)
        lone = load_published(world.layout.published(R_ALONE)).rows
        assert [(r.valid, r.payout, r.burn) for r in lone] == [(False, 0, 0)]

        with running_service(world.deployments, world.layout.root, tmp_path / "service.log") as service:
            html_label = model_label(JUNK_IDS[0])
            for path in [f"/rounds/{R_MIXED}", f"/stakers/{attacker.address}", f"/v1/stakers/{attacker.address}",
                         f"/models/{html_label}", f"/v1/models/{html_label}", f"/v1/rounds/{R_MIXED}/leaderboard",
                         f"/v1/rounds/{R_MIXED}/proofs/{html_label}/{attacker.address}",
                         f"/?to={html_label}", f"/stakers/{contract_staker.address}"]:
                page = requests.get(service.url + path, timeout=60)
                assert page.status_code == 200, (path, page.status_code, page.text[:300])
                assert "<img src=x" not in page.text, path

        # Final: every stake claims stake - burn + payout (the junk ones their whole stake).
        advance_to_final(client.round(R_MIXED))
        for (label, staker), row in rows.items():
            before = int(token.balanceOf(staker))
            send(tournament.claim, R_MIXED, label_model_id(label), staker, row.payout, row.burn, row.proof,
                 sender=world.owner, what=f"claiming {label} for {staker}")
            assert int(token.balanceOf(staker)) - before == row.stake - row.burn + row.payout, (label, staker)
