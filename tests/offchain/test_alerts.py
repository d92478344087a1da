"""Alerts without an account (issue 23, line 2), in one process: the signed Webhook request, the
service's signature on a delivery's body, the URL checks that keep the service from calling
private targets (SSRF), the webhooks' store and its outbox (at most one row per (hook, event),
leased sends, the backoff schedule) against SQLite and PostgreSQL alike, and the Atom feed with a
hostile model id. The end-to-end run on a real Anvil is tests/e2e/test_webhooks_e2e.py."""

from __future__ import annotations

import dataclasses
import json
import threading
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from eth_account import Account

from nmrstake.chain.signers import key_account
from nmrstake.errors import InputError
from nmrstake.service.alerts import AlertEvent, check_url
from nmrstake.service.feeds import ATOM, atom_feed
from nmrstake.signing import Domain, WebhookRequest, body_signer, sign_body
from nmrstake.storage.database import open_database
from nmrstake.storage.webhooks import DELIVERED, FAILED, PENDING, RetryPolicy, WebhookRefused, WebhookStore, backoff

KEY = "0x" + "5a" * 32
ADDRESS = Account.from_key(KEY).address
ACCOUNT = key_account(bytes.fromhex(KEY[2:]))
OTHER = Account.from_key("0x" + "6b" * 32)
DOMAIN = Domain(31337, "0x" + "12" * 20)
URL = "https://hooks.example.com/nmrstake?token=s3cret"


def request(**changes: Any) -> WebhookRequest:
    return dataclasses.replace(WebhookRequest(ADDRESS, "register", URL, 42, 1_900_000_000), **changes)


# ------------------------------------------------------------------------------------------ signatures


def test_webhook_request__signed_by_the_address__recovers_the_address():
    req = request()
    assert req.signer(DOMAIN, req.sign(DOMAIN, ACCOUNT)) == ADDRESS


def test_webhook_request__signed_with_an_eth_account_key__recovers_the_same_address():
    req = request()
    assert req.signer(DOMAIN, req.sign(DOMAIN, Account.from_key(KEY))) == ADDRESS


@pytest.mark.parametrize("change", [{"action": "delete"}, {"url": URL + "x"}, {"nonce": 43}, {"expiry": 1_900_000_001},
                                    {"account": OTHER.address}, {"models": ("model_a",)}])
def test_webhook_request__signature_for_other_fields__recovers_someone_else(change):
    signature = request().sign(DOMAIN, ACCOUNT)
    assert request(**change).signer(DOMAIN, signature) != ADDRESS


def test_webhook_request__signature_for_another_deployment__recovers_someone_else():
    signature = request().sign(DOMAIN, ACCOUNT)
    assert request().signer(Domain(1, DOMAIN.tournament), signature) != ADDRESS
    assert request().digest(DOMAIN) != request().digest(Domain(1, DOMAIN.tournament))


def test_webhook_request__an_action_it_does_not_know__is_an_input_error_naming_it():
    with pytest.raises(InputError, match="action"):
        request(action="steal").digest(DOMAIN)


def test_webhook_request__garbage_signature__is_an_input_error_not_a_crash():
    with pytest.raises(InputError, match="signature"):
        request().signer(DOMAIN, "0x1234")


def test_delivery_body__signed_by_the_service__verifies_and_any_change_does_not():
    body = b'{"event":"round-opened","id":"round-opened:7"}'
    signature = sign_body(body, ACCOUNT)
    assert body_signer(body, signature) == ADDRESS
    assert body_signer(body + b" ", signature) != ADDRESS


# ------------------------------------------------------------------------------------------ URLs (SSRF)


@pytest.mark.parametrize("url, why", [
    ("ftp://example.com/x", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("gopher://example.com/", "scheme"),
    ("https://user:pw@example.com/", "credentials"),
    ("http://127.0.0.1:8080/", "private"),
    ("http://[::1]/", "private"),
    ("http://10.1.2.3/", "private"),
    ("http://192.168.0.1/", "private"),
    ("http://169.254.169.254/latest/meta-data/", "private"),  # a cloud's metadata service
    ("http://[::ffff:127.0.0.1]/", "private"),
    ("http://0.0.0.0/", "private"),
    ("http://localhost:9000/", "local name"),
    ("http://localhost./", "local name"),
    ("http://127.1/", "neither"),
    ("http://2130706433/", "neither"),
    ("http://0x7f.1/", "neither"),
    ("http://metadata.google.internal/", "local name"),
    ("http:///nohost", "no host"),
    ("https://example.com/a b", "spaces"),
    ("https://example.com/\ud800", "non-ASCII"),  # a lone surrogate JSON can carry: never reaches the signature
    ("https://exämple.com/", "non-ASCII"),
    ("https://example.com/" + "a" * 3000, "longer"),
    ("http://example.com:99999/", "not a URL"),
    ("", "empty"),
])
def test_check_url__a_refused_target__is_an_input_error_saying_why(url, why):
    with pytest.raises(InputError, match=why):
        check_url(url, allow_private=False)


def test_check_url__a_name_that_resolves_to_loopback__is_refused_before_delivery(monkeypatch):
    # A public-looking name whose DNS answer is a loopback address (DNS rebinding): it passes the
    # syntax checks, the resolution's check refuses it. The resolver answers as such a DNS would
    # (this machine's own names are not the same everywhere the tests run).
    import socket

    def rebinding(host, port, *args, **kwargs):
        assert host == "hooks.example.com"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port or 80))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(InputError, match="resolves to .*private"):
        check_url("http://hooks.example.com/hook", allow_private=False, resolve=True)


def test_check_url__private_targets_allowed_by_the_operator__are_taken_and_pinned():
    target = check_url("http://127.0.0.1:8080/hook?x=1", allow_private=True, resolve=True)
    assert target is not None
    assert (target.scheme, target.host, target.port, target.path, target.address) == (
        "http", "127.0.0.1", 8080, "/hook?x=1", "127.0.0.1")


def test_check_url__a_public_https_url__is_taken_without_resolving():
    assert check_url(URL, allow_private=False) is None


# ------------------------------------------------------------------------------------------ the store


@pytest.fixture
def store(database_url, tmp_path) -> WebhookStore:
    database = open_database(database_url, tmp_path).migrate()
    return WebhookStore(database, max_per_address=2, policy=RetryPolicy(base=10, cap=60, attempts=4), lease=30)


def _register(store: WebhookStore, url: str = URL, nonce: int = 1, address: str = ADDRESS) -> int:
    req = WebhookRequest(address, "register", url, nonce, 1_900_000_000)
    return store.register(address, url, digest=req.digest(DOMAIN), expiry=req.expiry, since_block=5, now=100).hook_id


def test_register__a_signature_used_once__is_refused_the_second_time(store):
    req = request()
    store.register(ADDRESS, URL, digest=req.digest(DOMAIN), expiry=req.expiry, since_block=0, now=1)
    with pytest.raises(WebhookRefused) as refused:
        store.register(ADDRESS, URL + "2", digest=req.digest(DOMAIN), expiry=req.expiry, since_block=0, now=1)
    assert refused.value.kind == "signature-reused"
    assert [h.url for h in store.hooks(ADDRESS)] == [URL]


def test_register__more_hooks_than_the_bound__is_refused_naming_it(store):
    _register(store, URL + "1", 1)
    _register(store, URL + "2", 2)
    with pytest.raises(WebhookRefused, match="at most|most the service keeps") as refused:
        _register(store, URL + "3", 3)
    assert refused.value.kind == "too-many-webhooks"
    _register(store, URL + "1", 4, address=OTHER.address)  # another address has its own bound


def test_register__with_models__keeps_them_and_the_hook_wants_only_theirs_and_the_rounds(store):
    req = request()
    hook = store.register(ADDRESS, URL, digest=req.digest(DOMAIN), expiry=req.expiry, since_block=0, now=1,
                          models=("model_b", "model_a"))
    (kept,) = store.hooks(ADDRESS)
    assert kept == hook and kept.models == ("model_a", "model_b")
    assert kept.wants("model_a") and kept.wants(None) and not kept.wants("model_c")
    assert dataclasses.replace(kept, models=()).wants("model_c")


def test_webhook_request__models_in_any_order__sign_the_same_message():
    one, two = request(models=("b", "a")), request(models=("a", "b"))
    assert one.digest(DOMAIN) == two.digest(DOMAIN)


def test_delete__removes_the_hook_and_its_deliveries(store):
    hook = _register(store)
    store.enqueue(hook, "round-opened:1", "round-opened", "{}", now=0)
    req = WebhookRequest(ADDRESS, "delete", URL, 9, 1_900_000_000)
    store.delete(ADDRESS, URL, digest=req.digest(DOMAIN), expiry=req.expiry)
    assert store.hooks(ADDRESS) == [] and store.deliveries([hook]) == []
    with pytest.raises(WebhookRefused) as refused:
        again = WebhookRequest(ADDRESS, "delete", URL, 10, 1_900_000_000)
        store.delete(ADDRESS, URL, digest=again.digest(DOMAIN), expiry=again.expiry)
    assert refused.value.kind == "no-such-webhook"


def test_enqueue__the_same_event_by_two_replicas_at_once__is_queued_once(store):
    hook = _register(store)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(store.enqueue(hook, "resolved:3:m:a", "resolved", "{}",
                                                                            now=0))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    assert len(store.deliveries([hook])) == 1


def test_claim__a_due_delivery__is_leased_to_one_replica_only(store):
    hook = _register(store)
    store.enqueue(hook, "round-opened:1", "round-opened", "{}", now=0)
    first = store.claim("replica-a", now=1)
    second = store.claim("replica-b", now=2)
    assert [d.event_key for d in first] == ["round-opened:1"] and second == []
    assert not store.delivered(first[0].delivery_id, "replica-b", now=3)  # not its lease
    assert store.delivered(first[0].delivery_id, "replica-a", now=3)
    assert store.claim("replica-b", now=10_000) == []  # delivered: never sent again
    (row,) = store.deliveries([hook])
    assert (row.status, row.attempts, row.delivered_at) == (DELIVERED, 1, 3)


def test_claim__a_lease_that_ran_out__is_taken_by_another_replica(store):
    hook = _register(store)
    store.enqueue(hook, "claimable:1:m:a", "claimable", "{}", now=0)
    (held,) = store.claim("killed", now=1)
    assert store.claim("survivor", now=1 + 29) == []
    (taken,) = store.claim("survivor", now=1 + 31)
    assert taken.delivery_id == held.delivery_id
    assert store.failed(held.delivery_id, "killed", "late", now=40) is None  # the killed one's outcome is ignored


def test_failed__retried_with_exponential_backoff_capped__then_failed_after_the_last_attempt(store):
    hook = _register(store)
    store.enqueue(hook, "round-opened:2", "round-opened", "{}", now=0)
    now, waits = 0.0, []
    for attempt in range(1, 5):
        (d,) = store.claim("r", now=now)
        assert store.claim("r", now=now) == []
        status = store.failed(d.delivery_id, "r", f"HTTP 503 (attempt {attempt})", now=now)
        (row,) = store.deliveries([hook])
        assert row.attempts == attempt and row.last_error == f"HTTP 503 (attempt {attempt})"
        if attempt < 4:
            assert status == PENDING
            waits.append(row.next_at - now)
            assert store.claim("r", now=row.next_at - 0.5) == []  # not due before its time
            now = row.next_at
        else:
            assert status == FAILED
    assert waits == [10, 20, 40]
    assert store.claim("r", now=now + 10_000) == []  # failed: no more attempts


def test_backoff__doubles_from_the_base_up_to_the_cap():
    policy = RetryPolicy(base=30, cap=3600, attempts=10)
    assert [backoff(policy, n) for n in range(1, 10)] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert backoff(policy, 10_000) == 3600


# ------------------------------------------------------------------------------------------ Atom


HOSTILE = "<script>alert(1)</script>&amp;]]>\x00\x07\x1b\ufffe model"


def test_atom_feed__a_hostile_model_id__is_escaped_and_the_feed_stays_valid_xml():
    events = [AlertEvent(f"resolved:7:{HOSTILE}:{ADDRESS}", "resolved", 7, ADDRESS, HOSTILE, 1_700_000_000, 12,
                         {"reason": HOSTILE, "payout": "1"}),
              AlertEvent("round-opened:7", "round-opened", 7, None, None, 1_690_000_000, 3, {})]
    body = atom_feed(events, title=f"model {HOSTILE}", feed_id="urn:x", self_url="http://s/f?a=1&b=<2>",
                     chain_id=1, tournament="0x" + "AB" * 20)
    assert b"<script>" not in body and b"]]>" not in body and b"\x00" not in body and b"\x07" not in body
    root = ET.fromstring(body)  # well-formed XML 1.0
    assert root.tag == f"{{{ATOM}}}feed"
    entries = root.findall(f"{{{ATOM}}}entry")
    assert [e.findtext(f"{{{ATOM}}}updated") for e in entries] == ["2023-11-14T22:13:20Z", "2023-07-22T04:26:40Z"]
    assert entries[0].findtext(f"{{{ATOM}}}id") == f"urn:nmrstake:1:0x{'ab' * 20}:resolved:7:{HOSTILE[:33]}" + \
        "\ufffd" * 4 + f" model:{ADDRESS}"
    content = json.loads(entries[0].findtext(f"{{{ATOM}}}content") or "")
    assert content["model"].startswith("<script>alert(1)</script>&amp;]]>")
    assert root.find(f"{{{ATOM}}}link").get("href") == "http://s/f?a=1&b=<2>"  # type: ignore[union-attr]
    for entry in entries:  # what RFC 4287 requires of every entry
        assert {c.tag.split("}")[1] for c in entry} >= {"id", "title", "updated"}


def test_atom_feed__the_same_events__give_the_same_entry_ids():
    event = AlertEvent("claimed:3:ab:0x1", "claimed", 3, ADDRESS, "m", 5, 9, {})
    one = atom_feed([event], title="t", feed_id="urn:x", self_url="u", chain_id=1, tournament="0xAA")
    two = atom_feed([event], title="t", feed_id="urn:x", self_url="u", chain_id=1, tournament="0xAA")
    assert one == two


def test_alert_event__of_a_strategys_stake__concerns_the_strategy_and_its_owner_only():
    strategy, owner = "0x" + "5e" * 20, ADDRESS
    event = AlertEvent("claimed:3:ab:" + strategy, "claimed", 3, strategy, "m", 5, 9, {}, owner)
    assert event.concerns(strategy) and event.concerns(owner) and not event.concerns(OTHER.address)
    assert event.to_json()["owner"] == owner and owner in event.title()
    opened = AlertEvent("round-opened:3", "round-opened", 3, None, None, 5, 9, {})
    assert opened.concerns(OTHER.address) and opened.to_json()["owner"] is None


# ------------------------------------------------------------------------------------------ hostile receivers


class _Hostile:
    """A local receiver on a free port: `redirect` answers 302 to another local receiver (which
    counts what it gets); `drip` sends its status line a byte at a time, for ever."""

    def __init__(self, mode: str) -> None:
        import socket

        self.mode = mode
        self.hits: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import time

        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.hits.append(conn.recv(65536))
                try:
                    if self.mode == "redirect":
                        conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\n"
                                     b"Content-Length: 0\r\n\r\n")
                    elif self.mode == "drip":
                        while not self.stop.is_set():
                            conn.sendall(b"H")
                            time.sleep(0.2)
                    else:
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def hostile(request):
    made: list[_Hostile] = []

    def make(mode: str) -> _Hostile:
        made.append(_Hostile(mode))
        return made[-1]

    yield make
    for h in made:
        h.close()


def test_post__a_redirect__is_a_failure_and_never_followed(hostile):
    from nmrstake.service.alerts import DeliveryError, post

    receiver = hostile("redirect")
    with pytest.raises(DeliveryError, match="HTTP 302"):
        post(f"http://127.0.0.1:{receiver.port}/hook", b"{}", {}, allow_private=True)
    assert len(receiver.hits) == 1


def test_post__a_receiver_that_drips_bytes_for_ever__is_cut_off_at_the_deadline(hostile):
    from nmrstake.service.alerts import DeliveryError, post

    receiver = hostile("drip")
    with pytest.raises(DeliveryError):
        post(f"http://127.0.0.1:{receiver.port}/hook", b"{}", {}, allow_private=True, timeout=5, deadline=1)


def test_post__a_private_target_without_the_operators_allowance__is_never_connected_to(hostile):
    from nmrstake.service.alerts import DeliveryError, post

    receiver = hostile("ok")
    with pytest.raises(DeliveryError, match="private"):
        post(f"http://127.0.0.1:{receiver.port}/hook", b"{}", {}, allow_private=False)
    post(f"http://127.0.0.1:{receiver.port}/hook", b"{}", {}, allow_private=True)
    assert len(receiver.hits) == 1  # the allowed one only
