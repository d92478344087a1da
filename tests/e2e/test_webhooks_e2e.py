"""Alerts without an account, end to end (issue 23, line 2): a real `nmrstake serve` on a real
Anvil calls a real local HTTP receiver (http.server on a free port, in a thread of this process).

One world for the module, in chain order: staker 0 registers a webhook (signed with its key);
round 31 opens (a delivery); staker 0 stakes without uploading (a "no upload" delivery, the round
closing within the service's --alert-hours); the receiver goes down (its port closed); the round is
resolved by the oracle and published; the "resolved" delivery fails and is retried until the
receiver is back on the same port, then delivered once. Every delivery's signature verifies to the
service's receipt signer; the delivery list shows statuses, attempts and the last error; the Atom
feeds carry the same events.

Then an allocation strategy's owner (its own webhook, for its own address): round 32 opens while
the owner's strategy has model_s enabled but not staked (a "no upload" to the owner); the strategy
stakes it and the owner uploads; the result is posted, rejected by the guardian and posted again
with corrected targets (a "resolved" for each posting); the round becomes final (a "claimable"),
and well after that the stake is claimed (a "claimed" at the claim's block time).
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
from helpers.scenario import (
    HOUR,
    WEI,
    advance_to,
    advance_to_final,
    deliver_targets,
    make_world,
    open_funded_round,
    oracle_once,
    stake_all,
    synth_round,
)
from helpers.service_process import Service, running_service

from nmrstake.client.results import LocalResults
from nmrstake.hashing import keccak_file, to_hex
from nmrstake.localchain import anvil_provider, free_port
from nmrstake.models import model_id
from nmrstake.participant import LocalDelivery, deliver
from nmrstake.service.feeds import ATOM
from nmrstake.signing import Domain, WebhookRequest, body_signer
from nmrstake.strategies.chain import ZERO_ADDRESS

pytestmark = pytest.mark.nodes  # real Anvil and a real service process: run after the embedded-EVM tests

ROUND = 31
STRATEGY_ROUND = 32
STRATEGY_MODEL = "model_s"
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
    owner: Any = None  # a strategy's owner (stakes nothing itself)
    owner_hook: int = 0  # the owner's webhook for its address
    strategy: str = ""  # the owner's allocation strategy
    resolved: str = ""  # the id of round 31's "resolved" for staker 0's model_00
    roots: tuple[str, str] = ("", "")  # round 32's rejected and reposted roots
    claim_time: int = 0  # the block time of the strategy's claim of round 32
    final_at: int = 0  # round 32's final time

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
    from ape import accounts

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
            ctx.owner = accounts.test_accounts[6]
            answer = register(service.url, ctx.domain, ctx.owner, receiver.url + "&owner=1", nonce=3)
            assert answer.status_code == 201, answer.text
            ctx.owner_hook = answer.json()["id"]
            log.append("registered")

            open_funded_round(w, ROUND)  # closes in an hour: within --alert-hours
            wait_for("the round-opened deliveries", lambda: len(receiver.of(f"round-opened:{ROUND}")) == 3, service)
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
            resolved = ctx.resolved = f"resolved:{ROUND}:model_00:{ctx.staker.address}:{to_hex(w.client.round(ROUND).root)}"
            failing = wait_for("the resolved delivery failing twice", lambda: (d := ctx.delivery(resolved)) is not None
                               and d["attempts"] >= 2 and d["status"] == "pending" and d, service)
            log.append(f"failing:{json.dumps(failing)}")
            receiver.up()
            wait_for("the resolved delivery delivered", lambda: (d := ctx.delivery(resolved)) is not None
                     and d["status"] == "delivered", service)
            strategy_round(ctx, w, tmp)
            time.sleep(2)  # several worker passes more: nothing may be sent again
            yield ctx
        assert "Traceback" not in service.log_text(), service.log_text()[-3000:]
    receiver.down()


def strategy_round(ctx: World, w: Any, tmp: Path) -> None:
    """Round 32 with the owner's strategy (see the module), each step waited for."""
    from nmrstake.strategies.chain import StrategyClient
    from nmrstake.strategy_operator import StrategyOperator

    service, receiver, owner = ctx.service, ctx.receiver, ctx.owner
    strategies = StrategyClient(w.client)
    strategies.factory.create(ZERO_ADDRESS, sender=owner)
    ctx.strategy = strategies.require_strategy_of(owner.address)
    contract = strategies.contract(ctx.strategy)
    w.client.token.mint(owner, 20 * WEI, sender=w.owner)
    w.client.token.approve(ctx.strategy, 20 * WEI, sender=owner)
    contract.deposit(20 * WEI, sender=owner)
    mid = model_id(STRATEGY_MODEL)
    contract.setModel(mid, 10 * WEI, 1, sender=owner)  # Fixed: the strategy will stake it every round

    open_funded_round(w, STRATEGY_ROUND)  # closes in an hour: within --alert-hours
    no_upload = f"no-upload:{STRATEGY_ROUND}:{mid.hex()}:{ctx.strategy}"
    wait_for("the owner's no-upload for its enabled, unstaked model", lambda: receiver.of(no_upload, ctx.owner_hook),
             service)
    wait_for("round 32's openings", lambda: len(receiver.of(f"round-opened:{STRATEGY_ROUND}")) == 3, service)
    ctx.log.append("strategy-no-upload")

    inputs = synth_round(tmp, STRATEGY_ROUND, models=1, rows=200)
    predictions = inputs / "predictions" / "model_00.csv"
    contract.stake(STRATEGY_ROUND, mid, keccak_file(predictions), sender=owner)
    deliver(LocalDelivery(w.client, w.layout), w.client.domain, owner, STRATEGY_ROUND, STRATEGY_MODEL, predictions,
            keccak_file(predictions), staker=ctx.strategy)

    advance_to(w.client.round(STRATEGY_ROUND).resolve_time)
    deliver_targets(w, STRATEGY_ROUND, inputs)
    oracle_once(w)
    first = to_hex(w.client.round(STRATEGY_ROUND).root)
    resolved = f"resolved:{STRATEGY_ROUND}:{STRATEGY_MODEL}:{ctx.strategy}:"
    wait_for("the first posting's resolved", lambda: receiver.of(resolved + first, ctx.owner_hook), service)
    w.client.tournament.rejectResult(STRATEGY_ROUND, "wrong targets", sender=w.owner)
    targets = w.layout.targets_dir / f"round-{STRATEGY_ROUND}.csv"
    header, *lines = targets.read_text().splitlines()
    targets.write_text("\n".join([header, *(f"{i},{1 - float(v)!r}" for i, v in (x.split(",") for x in lines))]) + "\n")
    oracle_once(w)  # corrected targets: a new result, posted in the rejected one's place
    second = to_hex(w.client.round(STRATEGY_ROUND).root)
    assert second != first
    ctx.roots = (first, second)
    wait_for("the second posting's resolved", lambda: receiver.of(resolved + second, ctx.owner_hook), service)

    info = w.client.round(STRATEGY_ROUND)
    assert info.final_at is not None
    ctx.final_at = info.final_at
    advance_to_final(info)
    claimable = f"claimable:{STRATEGY_ROUND}:{mid.hex()}:{ctx.strategy}"
    wait_for("the owner's claimable", lambda: receiver.of(claimable, ctx.owner_hook), service)
    wait_for("round 31's claimable for staker 0",
             lambda: (d := ctx.delivery(f"claimable:{ROUND}:{model_id('model_00').hex()}:{ctx.staker.address}"))
             is not None and d["status"] == "delivered", service)
    advance_to(info.final_at + 5 * HOUR)  # the claim comes well after the round became final
    operator = StrategyOperator(w.client, LocalResults(w.layout), None, log=lambda *a, **k: None)
    (claim,) = [c for c in operator.unclaimed(w.client.round(STRATEGY_ROUND)) if c.staker == ctx.strategy]
    receipt = contract.settle(STRATEGY_ROUND, mid, claim.payout, claim.burn, list(claim.proof), sender=owner)
    from ape import chain

    ctx.claim_time = int(chain.blocks[receipt.block_number].timestamp)
    wait_for("the owner's claimed", lambda: receiver.of(f"claimed:{STRATEGY_ROUND}:{mid.hex()}:{ctx.strategy}",
                                                        ctx.owner_hook), service)
    ctx.log.append("strategy-claimed")


def test_webhook__round_opened__delivered_signed_by_the_service(world):
    (got,) = world.receiver.of(f"round-opened:{ROUND}", world.hook)
    body = got.json()
    assert (body["event"], body["round"], body["address"]) == ("round-opened", ROUND, None)
    assert body["chain_id"] == world.domain.chain_id and body["tournament"] == world.domain.tournament
    assert got.headers["x-nmrstake-signer"] == world.signer
    assert body_signer(got.body, got.headers["x-nmrstake-signature"]) == world.signer


def test_webhook__staked_model_without_upload_near_close__delivered_for_that_model_only(world):
    found = [r.json() for r in world.receiver.got if r.json()["event"] == "no-upload" and r.json()["hook"] == world.hook]
    assert [(b["round"], b["model"], b["address"]) for b in found] == [(ROUND, "model_00", world.staker.address)]


def test_webhook__receiver_down_then_back__delivered_once_after_retries(world):
    resolved = world.resolved
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
    assert [(b["event"], b["round"]) for b in theirs] == [("round-opened", ROUND), ("round-opened", STRATEGY_ROUND)]


def _owners(world: World, kind: str) -> list[dict[str, Any]]:
    return [r.json() for r in world.receiver.got if r.json()["hook"] == world.owner_hook and r.json()["event"] == kind]


def test_webhook__strategy_enabled_model_not_yet_staked__owner_gets_no_upload_once(world):
    found = _owners(world, "no-upload")
    assert [(b["round"], b["model"], b["address"], b["owner"]) for b in found] == [
        (STRATEGY_ROUND, STRATEGY_MODEL, world.strategy, world.owner.address)]  # once: staking it kept its id
    assert found[0]["data"]["stake"] == "0" and found[0]["data"]["strategy_per_round"] == str(10 * WEI)


def test_webhook__strategy_owner__gets_resolved_claimable_and_claimed_for_its_strategys_stakes(world):
    for kind in ("resolved", "claimable", "claimed"):
        found = _owners(world, kind)
        assert found and all((b["round"], b["model"], b["address"], b["owner"]) == (
            STRATEGY_ROUND, STRATEGY_MODEL, world.strategy, world.owner.address) for b in found), (kind, found)
    assert not [r for r in world.receiver.got if r.json()["hook"] != world.owner_hook
                and r.json()["address"] == world.strategy]  # nobody else's webhook gets the strategy's stakes
    statuses = {d["event_id"]: d["status"] for d in requests.get(
        f"{world.url}/v1/webhooks/{world.owner.address}", timeout=30).json()["deliveries"]}
    assert statuses and all(s == "delivered" for s in statuses.values()), statuses


def test_webhook__result_rejected_and_posted_again__each_posting_delivered_once_with_its_numbers(world):
    found = _owners(world, "resolved")
    first, second = world.roots
    prefix = f"resolved:{STRATEGY_ROUND}:{STRATEGY_MODEL}:{world.strategy}:"
    assert [b["id"] for b in found] == [prefix + first, prefix + second]
    assert [b["data"]["root"] for b in found] == [first, second]
    assert found[0]["data"]["score"] != found[1]["data"]["score"]  # the corrected targets' numbers
    assert all(b["data"]["valid"] for b in found)


def test_webhook__claimed__is_at_the_claims_block_time_not_the_rounds_final_time(world):
    (claimed,) = _owners(world, "claimed")
    assert claimed["at"] == world.claim_time and claimed["at"] != world.final_at
    (claimable,) = _owners(world, "claimable")
    assert claimable["at"] == world.final_at


def test_feed__of_a_strategys_owner__has_its_strategys_stakes(world):
    answer = requests.get(f"{world.url}/v1/feeds/addresses/{world.owner.address}.atom", timeout=60)
    assert answer.status_code == 200, answer.text
    ids = [e.findtext(f"{{{ATOM}}}id") or "" for e in ET.fromstring(answer.content).findall(f"{{{ATOM}}}entry")]
    for kind in ("resolved", "claimed"):  # (claimable no longer: it was claimed)
        assert any(f":{kind}:{STRATEGY_ROUND}:" in i and world.strategy in i for i in ids), (kind, ids)


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
    assert any(i and i.endswith(world.resolved) for i in ids), ids
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
