"""Alerts without an account, end to end (issue 23, line 2): a real `nmrstake serve` on a real
Anvil calls a real local HTTP receiver (http.server on a free port, in a thread of this process).

One world for the module, in chain order: staker 0 registers a webhook (signed with its key);
round 31 opens (a delivery); staker 0 stakes without uploading (a "no upload" delivery, the round
closing within the service's --alert-hours); the receiver goes down (its port closed); the round is
resolved by the oracle and published; the "resolved" delivery fails and is retried until the
receiver is back on the same port, then delivered once. Every delivery's signature verifies to the
service's receipt signer; the delivery list shows statuses, attempts and the last error; the Atom
feeds carry the same events.
"""

from __future__ import annotations

import json
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers.scenario import advance_to, deliver_targets, make_world, open_funded_round, oracle_once, stake_all, synth_round
from helpers.service_process import Service, running_service

from nmrstake.localchain import anvil_provider, free_port
from nmrstake.service.feeds import ATOM
from nmrstake.signing import Domain, WebhookRequest, body_signer

pytestmark = pytest.mark.nodes  # real Anvil and a real service process: run after the embedded-EVM tests

ROUND = 31
WAIT = 180.0  # a bound on each wait, not a timing any test asserts


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.body)
        return doc


@dataclass
class Receiver:
    """A local HTTP receiver that records every POST and answers 204; `down()` closes its port,
    `up()` opens it again on the same port."""

    port: int
    got: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/nmrstake?token=t0k3n"

    def up(self) -> Receiver:
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                size = int(self.headers.get("Content-Length", "0"))
                got.append(Received({k.lower(): v for k, v in self.headers.items()}, self.rfile.read(size)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def down(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    def of(self, event_id: str, hook: int | None = None) -> list[Received]:
        return [r for r in self.got if r.headers.get("x-nmrstake-event") == event_id
                and (hook is None or r.json()["hook"] == hook)]


def wait_for(what: str, check: Callable[[], Any], service: Service) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"never: {what}\n{service.log_text()[-3000:]}")


@dataclass
class World:
    service: Service
    receiver: Receiver
    domain: Domain
    staker: Any
    other: Any
    signer: str
    log: list[str]
    hook: int = 0  # staker 0's webhook for all its models
    filtered: int = 0  # staker 0's webhook for model_99 only

    @property
    def url(self) -> str:
        return self.service.url

    def deliveries(self) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.url}/v1/webhooks/{self.staker.address}", timeout=30)
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()["deliveries"]
        return found

    def delivery(self, event_id: str) -> dict[str, Any] | None:
        return next((d for d in self.deliveries() if d["event_id"] == event_id), None)


def register(url: str, domain: Domain, who: Any, hook: str, *, signer: Any = None, action: str = "register",
             method: str = "POST", nonce: int = 1, models: tuple[str, ...] = ()) -> requests.Response:
    req = WebhookRequest(who.address, action, hook, nonce, int(time.time()) + 600, models)
    body = {"address": who.address, "url": hook, "nonce": str(req.nonce), "expiry": str(req.expiry),
            "signature": req.sign(domain, signer or who), "models": list(models)}
    path = "/v1/webhooks" if method == "POST" else f"/v1/webhooks/{who.address}"
    return requests.request(method, f"{url}{path}", json=body, timeout=30)


@pytest.fixture(scope="module")
def world(project, tmp_path_factory) -> Any:
    tmp = tmp_path_factory.mktemp("webhooks_e2e")
    receiver = Receiver(free_port()).up()
    log: list[str] = []
    with anvil_provider():
        w = make_world(project, tmp)
        with running_service(w.deployments, w.layout.root, tmp / "service.log", "--allow-private-webhooks",
                             "--alerts-every", "0.3", "--webhook-retry-seconds", "0.5",
                             "--alert-hours", "24") as service:
            signer = requests.get(f"{service.url}/v1/info", timeout=30).json()["receipt_signer"]
            ctx = World(service, receiver, w.client.domain, w.stakers[0], w.stakers[1], signer, log)
            answer = register(service.url, ctx.domain, ctx.staker, receiver.url)
            assert answer.status_code == 201, answer.text
            ctx.hook = answer.json()["id"]
            answer = register(service.url, ctx.domain, ctx.staker, receiver.url + "&only=99", models=("model_99",),
                              nonce=2)
            assert answer.status_code == 201 and answer.json()["models"] == ["model_99"], answer.text
            ctx.filtered = answer.json()["id"]
            log.append("registered")

            open_funded_round(w, ROUND)  # closes in an hour: within --alert-hours
            wait_for("the round-opened deliveries", lambda: len(receiver.of(f"round-opened:{ROUND}")) == 2, service)
            log.append("opened")
            inputs = synth_round(tmp, ROUND, models=len(w.stakers), rows=200)
            stake_all(w, ROUND, inputs, undelivered=(0,))  # staker 0's file never arrives
            wait_for("the no-upload delivery", lambda: [r for r in receiver.got if r.json()["event"] == "no-upload"],
                     service)
            log.append("no-upload")

            receiver.down()
            advance_to(w.client.round(ROUND).resolve_time)
            deliver_targets(w, ROUND, inputs)
            oracle_once(w)
            resolved = f"resolved:{ROUND}:model_00:{ctx.staker.address}"
            failing = wait_for("the resolved delivery failing twice", lambda: (d := ctx.delivery(resolved)) is not None
                               and d["attempts"] >= 2 and d["status"] == "pending" and d, service)
            log.append(f"failing:{json.dumps(failing)}")
            receiver.up()
            wait_for("the resolved delivery delivered", lambda: (d := ctx.delivery(resolved)) is not None
                     and d["status"] == "delivered", service)
            time.sleep(2)  # several worker passes more: nothing may be sent again
            yield ctx
        assert "Traceback" not in service.log_text(), service.log_text()[-3000:]
    receiver.down()


def test_webhook__round_opened__delivered_signed_by_the_service(world):
    (got,) = world.receiver.of(f"round-opened:{ROUND}", world.hook)
    body = got.json()
    assert (body["event"], body["round"], body["address"]) == ("round-opened", ROUND, None)
    assert body["chain_id"] == world.domain.chain_id and body["tournament"] == world.domain.tournament
    assert got.headers["x-nmrstake-signer"] == world.signer
    assert body_signer(got.body, got.headers["x-nmrstake-signature"]) == world.signer


def test_webhook__staked_model_without_upload_near_close__delivered_for_that_model_only(world):
    found = [r.json() for r in world.receiver.got if r.json()["event"] == "no-upload"]
    assert [(b["round"], b["model"], b["address"]) for b in found] == [(ROUND, "model_00", world.staker.address)]


def test_webhook__receiver_down_then_back__delivered_once_after_retries(world):
    resolved = f"resolved:{ROUND}:model_00:{world.staker.address}"
    failing = json.loads(next(e for e in world.log if e.startswith("failing:"))[len("failing:"):])
    assert failing["last_error"] and "Connection" in failing["last_error"], failing
    (got,) = world.receiver.of(resolved)  # once, however many attempts failed before (and not to the other hook)
    body = got.json()
    assert body["address"] == world.staker.address and body["model"] == "model_00"
    assert {"score", "payout", "burn", "stake", "valid"} <= set(body["data"])
    assert body["data"]["valid"] is False  # its file never arrived
    assert body_signer(got.body, got.headers["x-nmrstake-signature"]) == world.signer
    delivery = world.delivery(resolved)
    assert delivery is not None and delivery["status"] == "delivered" and delivery["attempts"] >= 3


def test_webhook_list__shows_every_delivery_with_its_status_and_hides_the_urls_secret(world):
    answer = requests.get(f"{world.url}/v1/webhooks/{world.staker.address}", timeout=30).json()
    assert answer["signer"] == world.signer
    hooks = answer["webhooks"]
    assert [(h["id"], h["models"]) for h in hooks] == [(world.hook, []), (world.filtered, ["model_99"])]
    assert "t0k3n" not in json.dumps(answer)
    assert {h["url"] for h in hooks} == {f"http://127.0.0.1:{world.receiver.port}/…"}
    statuses = {(d["hook"], d["event_id"]): d["status"] for d in answer["deliveries"]}
    assert statuses[(world.hook, f"round-opened:{ROUND}")] == "delivered"
    assert all(s == "delivered" for s in statuses.values()), statuses
    sent = [(r.json()["hook"], r.headers["x-nmrstake-event"]) for r in world.receiver.got]
    assert len(sent) == len(set(sent))  # no (hook, event) twice


def test_webhook_for_some_models__gets_the_rounds_but_no_other_models_alerts(world):
    theirs = [r.json() for r in world.receiver.got if r.json()["hook"] == world.filtered]
    assert [(b["event"], b["round"]) for b in theirs] == [("round-opened", ROUND)]


def test_webhook__registered_for_another_address__is_a_403_naming_both(world):
    answer = register(world.url, world.domain, world.other, world.receiver.url + "&x=1", signer=world.staker)
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    detail = answer.json()["detail"]
    assert world.staker.address in detail and world.other.address in detail


def test_webhook__a_replayed_signature__is_a_409(world):
    req = WebhookRequest(world.other.address, "register", world.receiver.url + "&r=1", 77, int(time.time()) + 600)
    body = {"address": world.other.address, "url": req.url, "nonce": "77", "expiry": str(req.expiry),
            "signature": req.sign(world.domain, world.other)}
    first = requests.post(f"{world.url}/v1/webhooks", json=body, timeout=30)
    again = requests.post(f"{world.url}/v1/webhooks", json=body, timeout=30)
    assert first.status_code == 201, first.text
    assert again.status_code == 409 and again.json()["type"].endswith("signature-reused"), again.text


def test_webhook__a_url_of_another_scheme__is_a_422_naming_url(world):
    answer = register(world.url, world.domain, world.other, "file:///etc/passwd", nonce=5)
    assert answer.status_code == 422 and answer.json()["field"] == "url", answer.text


def test_webhook__deleted_with_a_signed_request__is_gone(world):
    hook = world.receiver.url + "&d=1"
    assert register(world.url, world.domain, world.other, hook, nonce=11).status_code == 201
    answer = register(world.url, world.domain, world.other, hook, action="delete", method="DELETE", nonce=12)
    assert answer.status_code == 200, answer.text
    listed = requests.get(f"{world.url}/v1/webhooks/{world.other.address}", timeout=30).json()["webhooks"]
    assert all(not h["url"].endswith("d=1") for h in listed)


@pytest.mark.parametrize("path", ["addresses/{address}", "models/model_00"])
def test_feed__atom_of_an_address_and_of_a_model__has_the_same_events_with_stable_ids(world, path):
    url = f"{world.url}/v1/feeds/{path.format(address=world.staker.address)}.atom"
    first, second = requests.get(url, timeout=60), requests.get(url, timeout=60)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(first.content)
    ids = [e.findtext(f"{{{ATOM}}}id") for e in root.findall(f"{{{ATOM}}}entry")]
    assert any(i and i.endswith(f"resolved:{ROUND}:model_00:{world.staker.address}") for i in ids), ids
    assert any(i and i.endswith(f"round-opened:{ROUND}") for i in ids), ids
    assert ids == [e.findtext(f"{{{ATOM}}}id") for e in ET.fromstring(second.content).findall(f"{{{ATOM}}}entry")]


def test_feed__of_a_model_staked_by_no_one__is_a_valid_empty_but_for_rounds_feed(world, tmp_path: Path):
    answer = requests.get(f"{world.url}/v1/feeds/models/nobody_stakes_this.atom", timeout=60)
    assert answer.status_code == 200
    kinds = {c.get("term") for c in ET.fromstring(answer.content).iter(f"{{{ATOM}}}category")}
    assert kinds <= {"round-opened"}


def _cli(*args: str) -> dict[str, Any]:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "nmrstake.cli", *args, "--json"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    found: dict[str, Any] = json.loads(out.stdout)
    return found


def test_webhook_cli__add_list_remove__signed_with_the_participants_key(world):
    from ape import accounts

    who = accounts.test_accounts[5]  # TEST::5: the participant's key, read without ape by the command
    hook = world.receiver.url + "&cli=1"
    added = _cli("webhook", "add", hook, "--api", world.url, "--account", "TEST::5")
    assert added["address"] == who.address and added["url"] == hook
    listed = _cli("webhook", "list", "--api", world.url, "--address", who.address)
    assert [h["id"] for h in listed["webhooks"]] == [added["id"]] and listed["signer"] == world.signer
    removed = _cli("webhook", "remove", hook, "--api", world.url, "--account", "TEST::5")
    assert removed["id"] == added["id"]
    assert _cli("webhook", "list", "--api", world.url, "--address", who.address)["webhooks"] == []


def test_python_api__verify_alert__accepts_the_services_signature_and_refuses_a_changed_body(world):
    from nmrstake.client.http import ServiceClient

    (got,) = world.receiver.of(f"round-opened:{ROUND}", world.hook)
    service = ServiceClient(world.url)
    assert service.verify_alert(got.body, got.headers["x-nmrstake-signature"])
    assert not service.verify_alert(got.body.replace(b"round-opened", b"round-closed"),
                                    got.headers["x-nmrstake-signature"])
    assert not service.verify_alert(got.body, "0xdead")
