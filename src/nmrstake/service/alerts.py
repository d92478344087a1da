"""Alerts without an account (issue 23, line 2; docs/service.md, "Alerts"): what happened to an
address's stakes, sent to the webhooks it registered and listed in Atom feeds.

* :func:`collect` derives the events from the event index (`nmrstake.index`), the published
  results and the submission store: a round opened (for every address); a staked model, or a model
  an allocation strategy has enabled (it will stake it), without an upload within `hours` of the
  round's close; a stake's result (score, payout, burn) as each posting has it; a stake claimable;
  a stake claimed. Each has a stable key (its id in deliveries and feeds). An event of a
  strategy's stake concerns the strategy's owner too (`owner`): its webhooks and feeds get it.
* :func:`check_url` refuses what a webhook may not be (SSRF): any scheme but http and https,
  credentials in the URL, and, unless the operator allows private targets, a host that is or
  resolves to a loopback, private, link-local, reserved or multicast address. It is checked at
  registration and again before every delivery, which connects to the very address it checked
  (a name that resolves elsewhere between the two is never followed).
* :class:`AlertWorker` runs in a thread of its own, never on a request's: it queues each new
  event for each hook (the outbox of :mod:`nmrstake.storage.webhooks`), and sends what is due,
  with timeouts, without following redirects, reading at most a few bytes of the answer. Every
  body is signed by the service's receipt signer (``X-Nmrstake-Signature``: EIP-191 of the
  body's keccak-256; :func:`nmrstake.signing.body_signer` checks it).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import re
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nmrstake.errors import InputError, NmrstakeError
from nmrstake.jsontypes import JsonValue
from nmrstake.storage.webhooks import Delivery

if TYPE_CHECKING:
    from nmrstake.service.context import ServiceContext
    from nmrstake.storage.webhooks import Webhook, WebhookStore

log = logging.getLogger("nmrstake.service.alerts")

#: The kinds of event, in the order of a round's life.
ROUND_OPENED, NO_UPLOAD, RESOLVED, CLAIMABLE, CLAIMED = "round-opened", "no-upload", "resolved", "claimable", "claimed"
#: Events that describe the state now (queued for a hook whenever they hold): the others are the
#: chain's history, queued for a hook only when they happened after it was registered.
STATE_EVENTS = (NO_UPLOAD, CLAIMABLE)

MAX_URL = 2048
#: Seconds to connect, and for each read and write of a delivery.
TIMEOUT = 10.0
#: Seconds a whole delivery may take (a receiver that answers a byte at a time is cut off then).
DEADLINE = 30.0
#: Deliveries sent at once by one replica (a slow receiver holds one sender, not the others').
SENDERS = 8
#: Bytes of a receiver's answer read (its status is what counts).
MAX_ANSWER = 4096


@dataclass(frozen=True)
class AlertSettings:
    """The service's alert options (`nmrstake serve`, docs/service.md)."""

    #: Hours before a round's close from which a staked or strategy-enabled model without an upload is an alert.
    hours: float = 24.0
    #: Webhooks may target loopback and private addresses (tests, a private network): off by default.
    allow_private: bool = False
    #: Seconds between two passes of the worker.
    every: float = 5.0


@dataclass(frozen=True)
class AlertEvent:
    """One event: `key` is stable (the same event always has the same key), `address` the
    staker it concerns (None: every address), `at` its chain time (unix seconds), `block` the
    block of its log for the events of the chain's history (None for the state events), `owner`
    the owner of the staker when the staker is an allocation strategy (it concerns the owner too)."""

    key: str
    kind: str
    round_id: int
    address: str | None
    model: str | None
    at: int
    block: int | None
    data: dict[str, JsonValue] = field(default_factory=dict)
    owner: str | None = None

    def concerns(self, address: str) -> bool:
        """Whether the event is for `address`: everyone's, its staker's, or its strategy's owner's."""
        return self.address is None or address in (self.address, self.owner)

    def title(self) -> str:
        who = f"{self.model} of {self.address}" if self.model else (self.address or "everyone")
        if self.owner:
            who += f" (the strategy of {self.owner})"
        return {ROUND_OPENED: f"round {self.round_id} opened",
                NO_UPLOAD: f"round {self.round_id}: no upload yet for {who}",
                RESOLVED: f"round {self.round_id} resolved for {who}",
                CLAIMABLE: f"round {self.round_id}: claimable for {who}",
                CLAIMED: f"round {self.round_id}: claimed for {who}"}.get(self.kind, self.kind)

    def to_json(self) -> dict[str, JsonValue]:
        return {"id": self.key, "event": self.kind, "round": self.round_id, "address": self.address,
                "owner": self.owner, "model": self.model, "at": self.at, "data": self.data}


# ------------------------------------------------------------------------------------------ URLs


def _private(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


@dataclass(frozen=True)
class Target:
    """Where a webhook's URL sends: scheme, host name, port, path with its query, and the address
    checked to connect to."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def check_url(url: str, *, allow_private: bool, resolve: bool = False) -> Target | None:
    """Check a webhook's URL (InputError naming ``url`` and why); with `resolve`, also resolve its
    host and return the address to connect to, every address it resolves to checked."""
    if not isinstance(url, str) or not url:
        raise InputError("url: empty")
    if len(url) > MAX_URL:
        raise InputError(f"url: longer than {MAX_URL} characters")
    if any(ord(c) < 33 or ord(c) >= 127 for c in url):
        raise InputError("url: contains spaces, control or non-ASCII characters (percent-encode them; an "
                         "internationalised host in its xn-- form)")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InputError(f"url: not a URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise InputError(f"url: the scheme must be http or https, not {parts.scheme!r}")
    if parts.username is not None or parts.password is not None:
        raise InputError("url: credentials in the URL are not taken")
    host = parts.hostname
    if not host:
        raise InputError("url: no host")
    port = port or (443 if parts.scheme == "https" else 80)
    literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
        name = host.rstrip(".")
        if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)*", name) or not re.fullmatch(r"[a-z][a-z0-9-]*",
                                                                                   name.rsplit(".", 1)[-1]):
            # 127.1, 2130706433, 0x7f.1: the resolver reads them as addresses; a name ends in letters
            raise InputError(f"url: {host!r} is neither an IP address nor a domain name") from None
        if not allow_private and (name == "localhost" or name.endswith((".localhost", ".local", ".internal"))):
            raise InputError(f"url: {host} is a local name; the service does not call private addresses") from None
    if literal is not None and not allow_private and _private(literal):
        raise InputError(f"url: {host} is a loopback, private or reserved address; the service does not call those")
    if not resolve:
        return None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise InputError(f"url: {host} does not resolve ({exc})") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise InputError(f"url: {host} does not resolve")
    if not allow_private:
        bad = [a for a in addresses if _private(ipaddress.ip_address(a.split("%")[0]))]
        if bad:
            raise InputError(f"url: {host} resolves to {bad[0]}, a private address; the service does not call those")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, path, addresses[0])


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to the checked address, the certificate checked against the URL's host name."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def post(url: str, body: bytes, headers: dict[str, str], *, allow_private: bool, timeout: float = TIMEOUT,
         deadline: float = DEADLINE) -> None:
    """POST `body` to `url`, checked again and pinned to the address checked; no redirect is
    followed (a 3xx is a failure); `timeout` seconds for each socket operation and `deadline` for
    the whole delivery. Raises DeliveryError saying why it failed."""
    try:
        target = check_url(url, allow_private=allow_private, resolve=True)
    except InputError as exc:
        raise DeliveryError(exc.message) from None
    assert target is not None
    kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    conn = kind(target.host, target.address, target.port, timeout)
    watchdog = threading.Timer(deadline, _cut, (conn,))  # a receiver that drips bytes is cut off
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.request("POST", target.path, body=body, headers={"Content-Type": "application/json",
                                                              "User-Agent": "nmrstake-alerts", **headers})
        answer = conn.getresponse()
        answer.read(MAX_ANSWER)
        if not 200 <= answer.status < 300:
            raise DeliveryError(f"HTTP {answer.status} {answer.reason}"[:200])
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300]) from None
    finally:
        watchdog.cancel()
        conn.close()


def _cut(conn: http.client.HTTPConnection) -> None:
    """End a delivery past its deadline: a shutdown wakes the sending thread's blocked read."""
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class DeliveryError(NmrstakeError):
    """A delivery that failed, and why (kept as the delivery's last error)."""


# ------------------------------------------------------------------------------------------ events


class EventCache:
    """The events as :func:`collect` last read them, read again at most every `ttl` seconds and by
    one thread at a time: the worker and every feed request share one reading, so that requests,
    however many, cost no more reads of the index than the worker's own."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._read: tuple[float, list[AlertEvent]] | None = None

    def events(self, ctx: ServiceContext, *, hours: float, address: str | None = None,
               model: str | None = None) -> list[AlertEvent]:
        read = self._read
        if read is None or time.monotonic() - read[0] >= self.ttl:
            # One reader at a time; while it reads, the others answer with the last reading (if any)
            # rather than wait, so that a flood of feed requests never holds the request threads.
            if self._lock.acquire(blocking=read is None):
                try:
                    read = self._read
                    if read is None or time.monotonic() - read[0] >= self.ttl:
                        read = self._read = (time.monotonic(), collect(ctx, hours=hours))
                finally:
                    self._lock.release()
        assert read is not None
        found = read[1]
        return [e for e in found if e.address is None or ((address is None or e.concerns(address))
                                                          and (model is None or e.model == model))]


def collect(ctx: ServiceContext, *, hours: float, address: str | None = None,
            model: str | None = None) -> list[AlertEvent]:
    """Every event the index, the published results and the submission store show now (of
    `address`, or of `model`, when given; a round's opening concerns everyone), in round order.
    Empty where the service keeps no event index (a chain without a node URL). The service reads
    them through an :class:`EventCache`.

    The stakes of an allocation strategy (the staker is the strategy's contract) concern its owner
    too, from the factory's `StrategyCreated` in the index. A model a strategy has enabled (its
    last `ModelSet` not off) is one the strategy will stake: near a round's close without an upload
    it is a ``no-upload`` before the strategy stakes it, with the key it keeps once staked. A
    ``resolved`` is one posting's (its root in the key): a result rejected and posted again is a
    new event, sent once the new posting's rows are published here. A ``claimed`` is at its
    block's time."""
    from nmrstake.hashing import checksum_address
    from nmrstake.index import queries
    from nmrstake.models import model_label
    from nmrstake.tournament import RoundState

    index = ctx.index
    if index is None:
        return []
    index.fresh()
    engine, stream = index.indexer.engine, index.indexer.stream
    state = queries.status(engine, stream)
    now = state.head_time if state else int(time.time())
    opened = {r.round_id: r for r in queries.opened_rounds(engine, stream)}
    tournament = index.address("Tournament")
    factory = index.address("StrategyFactory")
    owners = {checksum_address(s.strategy): checksum_address(s.owner)
              for s in (queries.strategies(engine, stream, factory=factory) if factory else [])}
    enabled: dict[str, dict[bytes, tuple[int, int]]] | None = None  # read only when a round is near its close
    found: list[AlertEvent] = []

    def mine(who: str, label: str) -> bool:
        return (address is None or who == address or owners.get(who) == address) and (model is None or label == model)

    for info in index.rounds():
        rid = info.round_id
        if rid in opened:
            found.append(AlertEvent(f"round-opened:{rid}", ROUND_OPENED, rid, None, None, info.open_time,
                                    opened[rid].block_number,
                                    {"open_time": info.open_time, "close_time": info.close_time,
                                     "resolve_time": info.resolve_time}))
        all_stakes = queries.stakes(engine, stream, rid)
        stakes = [s for s in all_stakes if mine(checksum_address(s.staker), s.model)]
        if info.state == RoundState.OPEN and info.close_time - now <= hours * 3600:
            due = max(info.close_time - int(hours * 3600), info.open_time)
            staked = {(s.model_id, checksum_address(s.staker)) for s in all_stakes}
            for s in stakes:
                who = checksum_address(s.staker)
                if ctx.intake.store.latest(rid, s.model, who) is None:
                    found.append(AlertEvent(f"no-upload:{rid}:{s.model_id.hex()}:{who}", NO_UPLOAD, rid, who, s.model,
                                            due, None, {"close_time": info.close_time, "stake": str(s.amount)},
                                            owners.get(who)))
            if owners:
                if enabled is None:
                    enabled = index.strategy_models(owners, state.cursor if state else 0)
                for who, models in enabled.items():
                    for mid, (per_round, mode) in models.items():
                        label = model_label(mid)
                        if (mode == 0 or (mid, who) in staked or not mine(who, label)
                                or ctx.intake.store.latest(rid, label, who) is not None):
                            continue
                        found.append(AlertEvent(f"no-upload:{rid}:{mid.hex()}:{who}", NO_UPLOAD, rid, who, label, due,
                                                None, {"close_time": info.close_time, "stake": "0",
                                                       "strategy_per_round": str(per_round)}, owners.get(who)))
        if not stakes:
            continue
        posted = [r for r in queries.results(engine, stream, rid) if r.rejected is None]
        if posted and info.posted_at:
            root = "0x" + posted[-1].root.hex()
            try:
                pub = ctx.published(rid)
                # the rows of this posting: until the new posting's rows are published, none
                rows = pub.rows if str(pub.merkle_root).lower() == root else []
            except NmrstakeError:
                rows = []  # posted but not published here (yet): the result's event waits for the rows
            for row in rows:
                who = checksum_address(row.staker)
                if mine(who, row.model):
                    found.append(AlertEvent(
                        f"resolved:{rid}:{row.model}:{who}:{root}", RESOLVED, rid, who, row.model, info.posted_at,
                        posted[-1].block_number,
                        {"stake": str(row.stake), "valid": row.valid, "reason": row.reason, "score": row.score,
                         "payout": str(row.payout), "burn": str(row.burn), "final_at": info.final_at, "root": root},
                        owners.get(who)))
        claims = {(c.model_id, checksum_address(c.staker)): c for c in queries.claims(engine, stream, rid)}
        taken = {(s.model_id, checksum_address(s.staker)) for s in stakes}
        exited = {(bytes.fromhex(str(e.args.get("modelId", "0x"))[2:]).rjust(32, b"\0"), str(e.args.get("staker")))
                  for e in queries.round_events(engine, stream, rid, ["StakeExited", "EmergencyWithdrawal"],
                                                contract=tournament)}
        for (mid, who), c in claims.items():
            if (mid, who) in taken:
                found.append(AlertEvent(f"claimed:{rid}:{mid.hex()}:{who}", CLAIMED, rid, who, c.model,
                                        index.block_time(c.block_hash), c.block_number,
                                        {"payout": str(c.payout), "burn": str(c.burn),
                                         "amount_sent": str(c.amount_sent), "tx": c.tx_hash}, owners.get(who)))
        if info.state == RoundState.FINAL:
            for s in stakes:
                key = (s.model_id, checksum_address(s.staker))
                if key not in claims and key not in exited:
                    found.append(AlertEvent(f"claimable:{rid}:{s.model_id.hex()}:{key[1]}", CLAIMABLE, rid, key[1],
                                            s.model, info.final_at or now, None, {"stake": str(s.amount)},
                                            owners.get(key[1])))
    return found


# ------------------------------------------------------------------------------------------ the worker


def delivery_body(event: AlertEvent, hook: Webhook, *, chain_id: int, tournament: str) -> bytes:
    """The JSON body of `event` for `hook`: what is signed and sent, byte for byte."""
    document = {**event.to_json(), "hook": hook.hook_id, "chain_id": chain_id, "tournament": tournament}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


class AlertWorker:
    """Queues the events for the hooks and sends what is due, in a daemon thread, every
    `settings.every` seconds (see the module). Whatever fails is logged and tried at the next pass."""

    def __init__(self, ctx: ServiceContext, store: WebhookStore, settings: AlertSettings, *, account: Any,
                 signer: str) -> None:
        self.ctx = ctx
        self.store = store
        self.settings = settings
        self.account = account
        self.signer = signer
        self.cache = shared_cache(ctx)
        self.holder = f"{socket.gethostname()}:{uuid.uuid4().hex[:12]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> AlertWorker:
        self._thread = threading.Thread(target=self._run, name="nmrstake-alerts", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT + 5)

    def _run(self) -> None:
        while not self._stop.wait(self.settings.every):
            self.step()

    def step(self) -> None:
        """One pass: queue, then send."""
        try:
            self.enqueue()
        except Exception:  # noqa: BLE001 - the index, the database: logged, next pass
            log.exception("alerts: queueing the events failed; next pass in %.0f s", self.settings.every)
        try:
            self.send_due()
        except Exception:  # noqa: BLE001
            log.exception("alerts: sending failed; next pass in %.0f s", self.settings.every)

    def enqueue(self) -> int:
        """Queue every event each hook has not had queued (see STATE_EVENTS); how many were queued."""
        hooks = self.store.hooks()
        if not hooks:
            return 0
        events = self.cache.events(self.ctx, hours=self.settings.hours)
        domain = self.ctx.intake.domain
        queued = 0
        now = time.time()
        for hook in hooks:
            have = self.store.queued(hook.hook_id)
            for event in events:
                if event.key in have or not event.concerns(hook.address) or not hook.wants(event.model):
                    continue
                if event.kind not in STATE_EVENTS and (event.block is None or event.block <= hook.since_block):
                    continue  # history from before the hook
                body = delivery_body(event, hook, chain_id=domain.chain_id, tournament=domain.tournament)
                queued += self.store.enqueue(hook.hook_id, event.key, event.kind, body.decode(), now=now)
        return queued

    def send_due(self) -> int:
        """Send the deliveries due now; how many were delivered."""
        from concurrent.futures import ThreadPoolExecutor

        from nmrstake.signing import sign_body

        hooks = {h.hook_id: h for h in self.store.hooks()}
        due = [d for d in self.store.claim(self.holder, now=time.time(), limit=2 * SENDERS) if d.hook_id in hooks]
        if not due:
            return 0  # (a delivery whose hook was deleted meanwhile went with it)

        def send(delivery: Delivery) -> bool:
            hook = hooks[delivery.hook_id]
            body = delivery.payload.encode()
            headers = {"X-Nmrstake-Event": delivery.event_key, "X-Nmrstake-Delivery": str(delivery.delivery_id),
                       "X-Nmrstake-Signer": self.signer, "X-Nmrstake-Signature": sign_body(body, self.account)}
            try:
                post(hook.url, body, headers, allow_private=self.settings.allow_private)
            except DeliveryError as exc:
                status = self.store.failed(delivery.delivery_id, self.holder, exc.message, now=time.time())
                log.warning("alerts: delivery %s to hook %s failed (%s): %s", delivery.delivery_id, hook.hook_id,
                            exc.message, status)
                return False
            return self.store.delivered(delivery.delivery_id, self.holder, now=time.time())

        with ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="nmrstake-alert-send") as pool:
            return sum(pool.map(send, due))


def shared_cache(ctx: ServiceContext) -> EventCache:
    """The app's one EventCache (on the context), made on first use; its lifetime the worker's period."""
    with _CACHE_LOCK:
        cache: EventCache | None = ctx.alert_events
        if cache is None:
            settings: AlertSettings = ctx.alerts or AlertSettings()
            cache = EventCache(ttl=settings.every)
            ctx.alert_events = cache
        return cache


_CACHE_LOCK = threading.Lock()


def delivery_json(d: Delivery) -> dict[str, JsonValue]:
    return {"id": d.delivery_id, "hook": d.hook_id, "event_id": d.event_key, "event": d.event, "status": d.status,
            "attempts": d.attempts, "next_at": d.next_at, "last_error": d.last_error, "created_at": d.created_at,
            "delivered_at": d.delivered_at}


__all__ = ["AlertEvent", "AlertSettings", "AlertWorker", "DeliveryError", "EventCache", "shared_cache", "Target", "check_url", "collect",
           "delivery_body", "delivery_json", "post"]
