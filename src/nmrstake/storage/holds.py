"""Holds that must be seen by every replica of the service: the per-key hold of an upload being
received, the in-flight ledger the upload limits count, and the upload signatures seen once. All
live in the database (:mod:`nmrstake.storage.tables`), none in one process's memory.

A key hold and an admission are leases: rows whose `expires_at` (on the database's clock) is
pushed `lease` seconds ahead every `renew_every` seconds by one thread of the process that holds
them, for as long as it holds any (an idle process runs no thread). A replica that ends normally
deletes its rows; one killed with -9 (or cut off from the database) stops renewing them, and they
count for nothing once `expires_at` has passed: its key is free again after at most `lease`
seconds. The lease is 30 s, renewed every 5 s: a renewal may be late by several periods (a
stalled database, a loaded machine) before a live upload loses its hold, while a killed replica's
key is blocked for half a minute at most; the worst a lost hold allows is two uploads of one key
received at once, both stored as they would be one after the other.
"""

from __future__ import annotations

import math
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nmrstake.storage import tables
from nmrstake.storage.database import Database

#: Seconds a hold lasts without being renewed (see the module's docstring).
HOLD_LEASE = 30.0
#: Seconds between renewals of this process's holds.
RENEW_EVERY = 5.0
#: Seconds between two deletions of expired rows (signatures seen, admissions) by one process:
#: expired rows count for nothing, so they need not go at once, and a delete on every upload
#: would be a statement more per upload.
PRUNE_EVERY = 60.0

Key = tuple[int, str, str]


@dataclass(frozen=True)
class InFlight:
    """Uploads admitted and not yet stored or refused, as the limits count them: how many for
    one key, the bytes they may reach for its staker in its round, and in all."""

    key_uploads: int
    staker_round_bytes: int
    total_bytes: int


class Holds:
    """This process's holds in `database`, under one holder name (host, pid and a random part)."""

    def __init__(self, database: Database, *, lease: float = HOLD_LEASE, renew_every: float = RENEW_EVERY,
                 prune_every: float = PRUNE_EVERY) -> None:
        self.database = database
        self.lease = lease
        self.renew_every = renew_every
        self.prune_every = prune_every
        self._pruned: dict[str, float] = {}
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._lock = threading.Lock()
        self._live = 0
        self._renewer: threading.Thread | None = None
        self._wake = threading.Event()

    def _expiry(self) -> sa.ColumnElement[float]:
        """The end of a lease taken or renewed now, on the database's clock."""
        return self.database.now() + sa.literal(float(self.lease), sa.Float)

    # ------------------------------------------------------------------ the per-key hold

    def hold_key(self, key: Key, size: int = 0) -> bool:
        """Take the hold of (round, model, checksummed staker) if no live hold has it (a free key,
        or one whose lease expired); False if another upload holds it, in any process."""
        with self.database.write() as conn:
            taken = self.take_key(conn, key, size)
        if taken:
            self.started()
        return taken

    def take_key(self, conn: Connection, key: Key, size: int = 0) -> bool:
        """:meth:`hold_key` in `conn`'s write transaction: the caller calls :meth:`started` once it
        has committed a hold taken (True), and releases it as any other."""
        h = tables.key_holds
        expires = self._expiry()
        insert = self.database.insert(h).values(round_id=str(key[0]), model=key[1], staker=key[2],
                                                holder=self.holder, size=size, expires_at=expires)
        stmt = insert.on_conflict_do_update(
            index_elements=[h.c.round_id, h.c.model, h.c.staker],
            set_={"holder": self.holder, "size": size, "expires_at": expires},
            where=h.c.expires_at < self.database.now()).returning(h.c.holder)
        return conn.execute(stmt).first() is not None  # a row: inserted, or an expired one taken over

    def release_key(self, key: Key) -> None:
        """Give the hold back (only this process's: one that expired and was taken since stays)."""
        self.release(key=key)

    def release(self, *, key: Key | None = None, admission: int | None = None) -> None:
        """Give back the hold of `key` and end the admission `admission` (either may be None), in
        one transaction: an upload's end is one database write."""
        ended = (key is not None) + (admission is not None)
        try:
            if ended:
                with self.database.write() as conn:
                    self.release_rows(conn, key=key, admission=admission)
        finally:
            self.ended(ended)

    def release_rows(self, conn: Connection, *, key: Key | None = None, admission: int | None = None) -> int:
        """:meth:`release`'s deletes in `conn`'s write transaction (an upload's row's, so that the
        row and the end of its hold are one commit); how many ended, for :meth:`ended` once the
        transaction has committed."""
        h, a = tables.key_holds, tables.admissions
        if key is not None:
            conn.execute(sa.delete(h).where(h.c.round_id == str(key[0]), h.c.model == key[1],
                                            h.c.staker == key[2], h.c.holder == self.holder))
        if admission is not None:
            conn.execute(sa.delete(a).where(a.c.id == admission))
        return (key is not None) + (admission is not None)

    def ended(self, count: int) -> None:
        """Count `count` holds or admissions of this process's as ended (their rows deleted)."""
        for _ in range(count):
            self._ended()

    # ------------------------------------------------------------------ the in-flight ledger

    def in_flight(self, conn: Connection, key: Key) -> InFlight:
        """What live admissions count (expired ones count for nothing), read in `conn` (a write
        transaction, after the admission being checked has committed); the expired rows are dropped at most every
        `prune_every` seconds by this process (:meth:`_due`)."""
        a = tables.admissions
        if self._due("admissions"):
            conn.execute(sa.delete(a).where(a.c.expires_at < self.database.now()))
        live = a.c.expires_at >= self.database.now()
        staker_round = sa.and_(a.c.round_id == str(key[0]), a.c.staker == key[2])
        row: tuple[Any, ...] = tuple(conn.execute(sa.select(  # one round trip for the three
            sa.func.coalesce(sa.func.sum(sa.case((sa.and_(staker_round, a.c.model == key[1]), 1), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((staker_round, a.c.size), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(a.c.size), 0)).where(live)).one())
        count, staker, total = row
        return InFlight(int(count), int(staker), int(total))

    def add_admission(self, conn: Connection, key: Key, size: int) -> int:
        """Record an admitted upload in `conn`'s transaction; its id, for :meth:`end_admission`.
        The caller calls :meth:`started` once the transaction has committed."""
        a = tables.admissions
        new_id: int = conn.execute(sa.insert(a).values(
            round_id=str(key[0]), model=key[1], staker=key[2], holder=self.holder, size=size,
            expires_at=self._expiry()).returning(a.c.id)).scalar_one()
        return int(new_id)

    def end_admission(self, admission: int) -> None:
        self.release(admission=admission)

    # ------------------------------------------------------------------ signatures seen once

    def first_seen(self, authorisation: str, expiry: int, now: int, *, conn: Connection | None = None) -> bool:
        """True the first time `authorisation` (0x-hex) is seen by any process sharing the
        database, False ever after, until its signature's `expiry` has passed `now` (a row whose
        signature has expired is taken over as a new one). `conn`: the caller's write transaction
        (else one of its own). Expired rows are deleted at most every `prune_every` seconds by
        this process (on the `expires_at` index), not on every call."""
        if conn is None:
            with self.database.write() as own:
                return self.first_seen(authorisation, expiry, now, conn=own)
        s = tables.seen_signatures
        if self._due("seen_signatures"):
            conn.execute(sa.delete(s).where(s.c.expires_at <= now))
        inserted = conn.execute(self.database.insert(s).values(authorisation=authorisation, expires_at=expiry)
                                .on_conflict_do_update(index_elements=[s.c.authorisation],
                                                       set_={"expires_at": expiry}, where=s.c.expires_at <= now)
                                .returning(s.c.authorisation))
        return inserted.first() is not None  # no row: it was there already, unexpired

    def _due(self, what: str) -> bool:
        """True at most once every `prune_every` seconds per table and process: time to delete
        the table's expired rows (which count for nothing meanwhile)."""
        now = time.monotonic()
        with self._lock:
            if now - self._pruned.get(what, -math.inf) < self.prune_every:
                return False
            self._pruned[what] = now
            return True

    # ------------------------------------------------------------------ renewing

    def renew(self) -> None:
        """Push every lease this process holds `lease` seconds ahead."""
        expires = self._expiry()
        with self.database.write() as conn:
            for table in (tables.key_holds, tables.admissions):
                conn.execute(sa.update(table).where(table.c.holder == self.holder).values(expires_at=expires))

    def started(self) -> None:
        """Count one more hold or admission of this process's as live (its lease is renewed
        until it ends)."""
        with self._lock:
            self._live += 1
            if self._renewer is None:
                self._wake.clear()
                self._renewer = threading.Thread(target=self._renew_while_held, name="nmrstake-hold-renewer",
                                                 daemon=True)
                self._renewer.start()

    def _ended(self) -> None:
        with self._lock:
            self._live -= 1
            if self._live == 0:
                self._wake.set()

    def _renew_while_held(self) -> None:
        while True:
            self._wake.wait(self.renew_every)
            with self._lock:
                self._wake.clear()
                if self._live == 0:
                    self._renewer = None
                    return
            try:
                self.renew()
            except sa.exc.SQLAlchemyError:  # the database is away: try again next period
                pass


__all__ = ["HOLD_LEASE", "PRUNE_EVERY", "RENEW_EVERY", "Holds", "InFlight", "Key"]
