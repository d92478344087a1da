"""The webhooks participants register for their own address's alerts, and the outbox of their
deliveries, in the service's database (:mod:`nmrstake.storage.tables`: ``webhooks``,
``webhook_deliveries``), shared by every replica.

* A registration's signature is used once: its EIP-712 digest goes into ``seen_signatures`` (the
  table uploads' signatures use, until the signature's own expiry), and a digest already there is
  refused, whichever replica saw it first.
* An address holds at most :attr:`WebhookStore.max_per_address` hooks.
* The outbox has one row per (hook, event): :meth:`WebhookStore.enqueue` inserts with ON CONFLICT
  DO NOTHING, so two replicas that see the same event queue it once. A replica sends a row only
  after :meth:`WebhookStore.claim` leased it to it (`holder`, `lease_until`); it then records the
  outcome with :meth:`WebhookStore.delivered` or :meth:`WebhookStore.failed`, which count only
  while it still holds the lease. A row is sent again only after a failure, at the time
  :func:`backoff` gives, or after its holder's lease ran out (a replica killed mid-send: the one
  case a receiver can see an event twice, which the event's id in every delivery lets it drop).

Times are unix seconds of the replica's clock (the hosts' clocks are expected to agree, as the
holds' leases expect of the database's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from nmrstake.errors import NmrstakeError
from nmrstake.storage import tables

if TYPE_CHECKING:
    from nmrstake.storage.database import Database

#: Statuses of a delivery.
PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"


class WebhookRefused(NmrstakeError):
    """A registration the store refuses: `kind` says why (``signature-reused``, ``too-many-webhooks``,
    ``webhook-exists``, ``no-such-webhook``), for the route's problem document."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed delivery is tried again: `base` seconds after the first failure, doubling
    each time up to `cap`, for at most `attempts` attempts in all (then it is ``failed``)."""

    base: float = 30.0
    cap: float = 3600.0
    attempts: int = 10


def backoff(policy: RetryPolicy, attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed attempt (1, 2, ...) before the next:
    ``min(base * 2**(attempts - 1), cap)``."""
    if attempts < 1:
        raise ValueError(f"attempts: must be 1 or more, got {attempts}")
    return float(min(policy.base * 2 ** min(attempts - 1, 62), policy.cap))


@dataclass(frozen=True)
class Webhook:
    """One registered webhook."""

    hook_id: int
    address: str
    url: str
    since_block: int
    created_at: int
    #: The labels of the models it wants alerts of; empty: all of the address's.
    models: tuple[str, ...] = ()

    def wants(self, model: str | None) -> bool:
        """Whether an event of `model` (None: of no model, a round's opening) is for this hook."""
        return model is None or not self.models or model in self.models


@dataclass(frozen=True)
class Delivery:
    """One (hook, event) of the outbox and where its delivery stands."""

    delivery_id: int
    hook_id: int
    event_key: str
    event: str
    payload: str
    status: str
    attempts: int
    next_at: float
    last_error: str | None
    created_at: float
    delivered_at: float | None


def _hook(row: sa.Row[tuple[object, ...]]) -> Webhook:
    m = row._mapping
    w = tables.webhooks.c
    models = str(m[w.models])
    return Webhook(int(m[w.id]), str(m[w.address]), str(m[w.url]), int(m[w.since_block]), int(m[w.created_at]),
                   tuple(models.split(",")) if models else ())


def _delivery(row: sa.Row[tuple[object, ...]]) -> Delivery:
    m = row._mapping
    d = tables.webhook_deliveries.c
    return Delivery(int(m[d.id]), int(m[d.hook_id]), str(m[d.event_key]), str(m[d.event]), str(m[d.payload]),
                    str(m[d.status]), int(m[d.attempts]), float(m[d.next_at]),
                    None if m[d.last_error] is None else str(m[d.last_error]), float(m[d.created_at]),
                    None if m[d.delivered_at] is None else float(m[d.delivered_at]))


@dataclass
class WebhookStore:
    """The webhooks and their outbox in `database` (see the module)."""

    database: Database
    max_per_address: int = 5
    policy: RetryPolicy = RetryPolicy()
    lease: float = 300.0

    # ------------------------------------------------------------------ registrations

    def _use_signature(self, conn: sa.Connection, digest: bytes, expiry: int) -> None:
        s = tables.seen_signatures
        inserted = conn.execute(self.database.insert(s).values(authorisation="0x" + digest.hex(), expires_at=expiry)
                                .on_conflict_do_nothing(index_elements=[s.c.authorisation])
                                .returning(s.c.authorisation))
        if inserted.first() is None:  # no row: it was there already
            raise WebhookRefused("signature-reused", "signature: this request was already used once; sign a new "
                                 "one (a fresh nonce)")

    def register(self, address: str, url: str, *, digest: bytes, expiry: int, since_block: int, now: int,
                 models: tuple[str, ...] = ()) -> Webhook:
        """Register `url` for `address` (checked and signed by the caller), using the signature
        whose EIP-712 digest is `digest` once; WebhookRefused if it was used, if `address` has
        :attr:`max_per_address` hooks, or this one already."""
        w = tables.webhooks
        with self.database.write("webhooks") as conn:
            self._use_signature(conn, digest, expiry)
            found = [str(r[0]) for r in conn.execute(sa.select(w.c.url).where(w.c.address == address)).all()]
            if url in found:
                raise WebhookRefused("webhook-exists", f"url: {address} has this webhook already")
            if len(found) >= self.max_per_address:
                raise WebhookRefused("too-many-webhooks", f"{address} has {len(found)} webhooks, the most the "
                                     f"service keeps per address ({self.max_per_address}); delete one first")
            hook_id: int = conn.execute(sa.insert(w).values(address=address, url=url, models=",".join(sorted(models)),
                                                            since_block=since_block, created_at=now)
                                        .returning(w.c.id)).scalar_one()
        return Webhook(int(hook_id), address, url, since_block, now, tuple(sorted(models)))

    def delete(self, address: str, url: str, *, digest: bytes, expiry: int) -> Webhook:
        """Delete `address`'s webhook `url` and its deliveries (the signature used once);
        WebhookRefused ``no-such-webhook`` if there is none."""
        w, d = tables.webhooks, tables.webhook_deliveries
        with self.database.write("webhooks") as conn:
            self._use_signature(conn, digest, expiry)
            row = conn.execute(sa.select(w).where(w.c.address == address, w.c.url == url)).first()
            if row is None:
                raise WebhookRefused("no-such-webhook", f"url: {address} has no such webhook")
            conn.execute(sa.delete(d).where(d.c.hook_id == row.id))
            conn.execute(sa.delete(w).where(w.c.id == row.id))
        return _hook(row)

    def hooks(self, address: str | None = None) -> list[Webhook]:
        """Every webhook (of `address`, if given), oldest first."""
        w = tables.webhooks
        query = sa.select(w).order_by(w.c.id)
        if address is not None:
            query = query.where(w.c.address == address)
        with self.database.read() as conn:
            rows = conn.execute(query).all()
        return [_hook(r) for r in rows]

    # ------------------------------------------------------------------ the outbox

    def enqueue(self, hook_id: int, event_key: str, event: str, payload: str, *, now: float) -> bool:
        """Queue `event_key` for hook `hook_id` (due now); False if it was queued before (by any
        replica): a (hook, event) has one row, ever."""
        d = tables.webhook_deliveries
        with self.database.write() as conn:
            done = conn.execute(self.database.insert(d).values(
                hook_id=hook_id, event_key=event_key, event=event, payload=payload, status=PENDING, attempts=0,
                next_at=now, created_at=now).on_conflict_do_nothing(index_elements=[d.c.hook_id, d.c.event_key])
                .returning(d.c.id))
            return done.first() is not None  # no row: queued before

    def queued(self, hook_id: int) -> set[str]:
        """The event keys queued for hook `hook_id`, whatever their status."""
        d = tables.webhook_deliveries
        with self.database.read() as conn:
            return set(conn.execute(sa.select(d.c.event_key).where(d.c.hook_id == hook_id)).scalars())

    def claim(self, holder: str, *, now: float, limit: int = 20) -> list[Delivery]:
        """Lease to `holder` up to `limit` deliveries that are due (pending and past their
        `next_at`, or sending under a lease that ran out), oldest first."""
        d = tables.webhook_deliveries
        due = sa.or_(sa.and_(d.c.status == PENDING, d.c.next_at <= now),
                     sa.and_(d.c.status == SENDING, d.c.lease_until < now))
        with self.database.write("webhook-outbox") as conn:
            picked = conn.execute(sa.select(d.c.id).where(due).order_by(d.c.next_at, d.c.id).limit(limit)).all()
            ids = [int(r[0]) for r in picked]
            if not ids:
                return []
            conn.execute(sa.update(d).where(d.c.id.in_(ids), due).values(status=SENDING, holder=holder,
                                                                          lease_until=now + self.lease))
            rows = conn.execute(sa.select(d).where(d.c.id.in_(ids), d.c.holder == holder, d.c.status == SENDING)
                                .order_by(d.c.next_at, d.c.id)).all()
        return [_delivery(r) for r in rows]

    def delivered(self, delivery_id: int, holder: str, *, now: float) -> bool:
        """Record delivery `delivery_id` as delivered, if `holder` still holds it (else False)."""
        d = tables.webhook_deliveries
        with self.database.write() as conn:
            done = conn.execute(sa.update(d).where(d.c.id == delivery_id, d.c.holder == holder, d.c.status == SENDING)
                                .values(status=DELIVERED, attempts=d.c.attempts + 1, delivered_at=now,
                                        last_error=None, holder=None, lease_until=None))
        return bool(done.rowcount)

    def failed(self, delivery_id: int, holder: str, error: str, *, now: float) -> str | None:
        """Record a failed attempt of `delivery_id` by `holder` (its lease held): pending again
        after :func:`backoff`, or ``failed`` after the policy's last attempt. The status it is left
        in; None if `holder` no longer held it."""
        d = tables.webhook_deliveries
        with self.database.write() as conn:
            row = conn.execute(sa.select(d.c.attempts).where(d.c.id == delivery_id, d.c.holder == holder,
                                                             d.c.status == SENDING)).first()
            if row is None:
                return None
            attempts = int(row[0]) + 1
            status = FAILED if attempts >= self.policy.attempts else PENDING
            next_at = now + backoff(self.policy, attempts) if status == PENDING else now
            conn.execute(sa.update(d).where(d.c.id == delivery_id).values(
                status=status, attempts=attempts, next_at=next_at, last_error=error[:500], holder=None,
                lease_until=None))
        return status

    def deliveries(self, hook_ids: list[int], *, limit: int = 100) -> list[Delivery]:
        """The latest `limit` deliveries of the hooks `hook_ids`, newest first."""
        if not hook_ids:
            return []
        d = tables.webhook_deliveries
        with self.database.read() as conn:
            rows = conn.execute(sa.select(d).where(d.c.hook_id.in_(hook_ids)).order_by(d.c.id.desc())
                                .limit(limit)).all()
        return [_delivery(r) for r in rows]


__all__ = ["DELIVERED", "FAILED", "PENDING", "SENDING", "Delivery", "RetryPolicy", "Webhook", "WebhookRefused",
           "WebhookStore", "backoff"]
