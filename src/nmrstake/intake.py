"""Taking in an upload: every check, in the order of what they cost, then one durable store.

Shared by the HTTP service and by local delivery (a participant on the operator's machine), so
both refuse exactly the same things with the same messages. Every refusal is a RequestError
(an HTTP status, a problem type, a message naming the field) and leaves nothing behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, NotRequired, TypedDict

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from nmrstake.errors import InputError, NmrstakeError, RequestError, UnknownRoundError
from nmrstake.hashing import checksum_address, keccak_hasher, to_hex
from nmrstake.models import check_model_name
from nmrstake.prepared import Prepared
from nmrstake.signing import DeliveryReceipt, Domain, ReceiptJson, UploadAuthorisation
from nmrstake.storage.holds import HOLD_LEASE, Holds
from nmrstake.submissions import StoredUpload, StoreUsage, SubmissionStore, crash_point

#: Numerai's live predictions files are about 6,000 rows (~0.3 MB); this leaves a wide margin.
DEFAULT_MAX_UPLOAD_BYTES = 16 * 1024 * 1024
#: How many uploaded files are checked (parsed) at once: one per core; more would only share them.
FILE_CHECKS_AT_ONCE = 2
#: The longest an upload signature may stay valid: bounds how long a leaked one is any use.
MAX_SIGNATURE_LIFETIME = 24 * 3600
_CHUNK = 1 << 20
MIB = 1 << 20


@dataclass(frozen=True)
class UploadLimits:
    """What uploads may cost the operator, whoever sends them (docs/service.md, "Limits").

    A stake needs NMR, so an upload is taken only from an address that could stake it: one holding
    at least the round's minimum stake, an allocation strategy, or a key already staked in the
    round. Each (round, model, staker) keeps at most `uploads_per_key` uploads and each staker at
    most `bytes_per_staker_round` bytes in a round. Uploads of keys not staked yet also stop when
    the store holds `store_bytes` (if set) or the disk would keep less than `min_free_disk` bytes
    free: a staked key's upload is never refused for room, so a flood of unstaked uploads cannot
    keep a staker from delivering, until the disk itself is full (`reserved_disk`). Uploads being
    received count against every limit from the moment they are admitted (a ledger of what is in
    flight), so concurrent uploads cannot pass a limit together. Every refusal is a 4xx that
    names the limit; nothing stored is touched.

    With the files in a bucket (a store URL) the disk is only where uploads are received (``tmp/``):
    `reserved_disk` still keeps room there for any upload, `min_free_disk` does not apply (a
    bucket has no disk to fill; `store_bytes` bounds it)."""

    uploads_per_key: int = 16
    bytes_per_staker_round: int = 256 * MIB
    store_bytes: int | None = None
    min_free_disk: int = 1024 * MIB
    #: Free disk kept against every upload, a staked model's too: below it the disk is full.
    reserved_disk: int = 64 * MIB


DEFAULT_LIMITS = UploadLimits()


@dataclass(frozen=True)
class Standing:
    """What the chain says of an uploader in a round: whether this (round, model, staker) is
    staked already, and whether the staker could stake it (the round's minimum stake in NMR, or
    an allocation strategy, whose NMR its operator stakes)."""

    staked: bool
    may_stake: bool
    min_stake: int = 0


@dataclass(frozen=True)
class RoundWindow:
    """When a round takes uploads: from `open_time` until before `close_time` (chain time)."""

    round_id: int
    open_time: int
    close_time: int
    min_stake: int = 0


@dataclass(frozen=True)
class Authorised:
    """An upload signature checked before the file arrived (``nmrstake.service.upload.upload_key``):
    recovered as the staker's own over these fields (`file_hash` the declared keccak), with
    `authorisation` its EIP-712 digest, never stored and seen first by this request. `receive`
    takes it for the same request instead of recovering the signature again once the file is in,
    when the file hashes to `file_hash` and every other field is the same."""

    key: tuple[int, str, str]
    file_hash: bytes
    nonce: int
    expiry: int
    signature: str
    authorisation: bytes


@dataclass
class Admitted:
    """What an HTTP upload holds while its body streams in (:meth:`Intake.admit_and_hold`): its
    admission of `key` in the in-flight ledger and, when the fields before its file carried the
    staker's fresh signature, the key's hold (`held`). Both end in the transaction that commits the
    upload's row (:meth:`Intake.receive`), else by :meth:`Intake.end` when the request ends."""

    key: tuple[int, str, str]
    admission: int
    held: bool = False
    ended: bool = False

    @property
    def held_key(self) -> tuple[int, str, str] | None:
        return self.key if self.held else None


def in_progress(key: tuple[int, str, str]) -> RequestError:
    """The 409 of an upload whose key another upload holds."""
    return RequestError(409, "upload-in-progress", f"another upload for round {key[0]}, model {key[1]}, "
                        f"staker {key[2]} is in progress; retry when it has finished")


def _utc(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def parse_uint(text: object, field: str) -> int:
    try:
        value = int(str(text), 10)
    except (TypeError, ValueError):
        raise RequestError(422, "invalid-field", f"{field}: {text!r} is not a whole number", field=field) from None
    if value < 0 or value >= 2**256:
        raise RequestError(422, "invalid-field", f"{field}: {value} is out of range (0 to 2**256-1)", field=field)
    return value


class Intake:
    """Checks and stores uploads for one deployment.

    `window(round_id)` returns the round's RoundWindow (None: no such round); `chain_now()` the
    chain time the next block would carry (what the contract will compare with closeTime).

    The per-key hold, the signatures seen once and the uploads in flight live in the store's
    database (:mod:`nmrstake.storage.holds`), so they hold across every process and replica
    sharing it; `hold_lease` is how long a killed process's holds outlive it at most."""

    def __init__(self, store: SubmissionStore, domain: Domain, *, window: Callable[[int], RoundWindow | None],
                 chain_now: Callable[[], int], max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
                 wall_now: Callable[[], float] = time.time,
                 owner_of: Callable[[str], str | None] = lambda staker: None,
                 standing: Callable[[int, str, str], Standing] | None = None,
                 limits: UploadLimits = DEFAULT_LIMITS, hold_lease: float = HOLD_LEASE) -> None:
        self.store = store
        self.owner_of = owner_of
        self.standing = standing
        self.limits = limits
        self.domain = domain
        self.window = window
        self.chain_now = chain_now
        self.max_bytes = max_bytes
        self.wall_now = wall_now
        self._receipt_account = store.receipt_account()
        self.receipt_signer = store.claim_receipt_signer()  # the replicas' one signer, or a ConfigError
        self.holds = Holds(store.database, lease=hold_lease, renew_every=min(hold_lease / 6, 5.0))
        self._checks = threading.BoundedSemaphore(FILE_CHECKS_AT_ONCE)

    # ------------------------------------------------------------------ checks

    def known_window(self, round_id: int) -> RoundWindow:
        """The round's window (read once per round, then cached), or a 404 problem."""
        window = self.window(round_id)
        if window is None:
            raise RequestError(404, "unknown-round", f"round: round {round_id} does not exist", field="round")
        return window

    def open_window(self, round_id: int) -> tuple[RoundWindow, int]:
        """The round's window and the chain time, if the round takes uploads now."""
        window = self.known_window(round_id)
        now = self.chain_now()
        if now < window.open_time:
            raise RequestError(409, "round-not-open", f"round {round_id} opens at {_utc(window.open_time)} "
                               f"(chain time {_utc(now)}); uploads are taken from then until close", field="round")
        if now >= window.close_time:
            raise RequestError(409, "round-closed", f"round {round_id} closed at {_utc(window.close_time)} "
                               f"(chain time {_utc(now)}); no upload is taken after close", field="round")
        return window, now

    @contextmanager
    def exclusive(self, key: tuple[int, str, str]) -> Iterator[None]:
        """Hold (round, model, checksummed staker) while one upload for it is received: a second
        upload for the same key meanwhile is refused with 409. `receive` holds the key itself
        unless its caller already does (`holding`): the HTTP route holds it from the moment the file
        starts to arrive, so the whole transfer counts as in progress. The hold is a row in the
        database, leased and renewed while held (:mod:`nmrstake.storage.holds`)."""
        if not self.holds.hold_key(key):
            raise in_progress(key)
        try:
            yield
        finally:
            self.holds.release_key(key)

    def first_hold(self, authorisation: bytes, expiry: int) -> bool:
        """True the first time an upload signature asks to hold its key, False ever after: a
        signature seen once (replayed from the wire or a log, whether its upload was taken or
        refused), by this process or another sharing the database, never holds a key again.
        Entries count until the signature has expired (and are deleted now and then after)."""
        return self.holds.first_seen(to_hex(authorisation), expiry, int(self.wall_now()))

    def first_hold_key(self, key: tuple[int, str, str], authorisation: bytes, expiry: int) -> bool | None:
        """:meth:`first_hold` and :meth:`exclusive`'s hold in one database transaction, for an
        upload signature already recovered as the staker's own: None if the signature was stored
        or seen before (no hold: `receive` checks everything once the file is in); False if it is
        seen first now (recorded so) but another upload holds the key (the caller answers 409);
        True if the key is now held (give it back with :meth:`release`)."""
        with self.store.database.write() as conn:
            taken = self._hold_in(conn, key, authorisation, expiry)
        if taken:
            self.holds.started()
        return taken

    def _hold_in(self, conn: Connection, key: tuple[int, str, str], authorisation: bytes, expiry: int) -> bool | None:
        """:meth:`first_hold_key`'s statements in `conn`'s write transaction."""
        if self.store.authorisation_used(authorisation, conn=conn):
            return None
        if not self.holds.first_seen(to_hex(authorisation), expiry, int(self.wall_now()), conn=conn):
            return None
        return self.holds.take_key(conn, key)

    def release(self, *, key: tuple[int, str, str] | None = None, admission: int | None = None) -> None:
        """Give back a hold taken by :meth:`first_hold_key` and end an admission of
        :meth:`admit_in_flight`, in one database write."""
        self.holds.release(key=key, admission=admission)

    @contextmanager
    def admitted(self, round_id: int, model: str, staker: str, size: int) -> Iterator[None]:
        """Admit an upload of `size` bytes (at most) for (round, model, checksummed staker) under
        the limits (:class:`UploadLimits`), counting it as in flight until the block ends (it is
        stored or refused by then). Raises a RequestError naming the limit it would pass. The
        entry in the ledger is committed before the check counts it with every other (see
        :meth:`admit_and_hold`), so concurrent uploads, in any replicas, cannot pass a limit
        together."""
        admission = self.admit_in_flight(round_id, model, staker, size)
        try:
            yield
        finally:
            self.holds.end_admission(admission)

    def admit_in_flight(self, round_id: int, model: str, staker: str, size: int) -> int:
        """:meth:`admitted`'s admission, left in flight: its id, for :meth:`release`."""
        admission, _ = self.admit_and_hold(round_id, model, staker, size, None)
        return admission

    def admit_and_hold(self, round_id: int, model: str, staker: str, size: int,
                       authorised: Authorised | None) -> tuple[int, bool | None]:
        """:meth:`admit_in_flight` and, when `authorised` is an upload signature already recovered
        as the staker's own for this key, :meth:`first_hold_key` (an HTTP upload's, once the fields
        before its file are in): the admission's id, and the hold as :meth:`first_hold_key` answers
        it (None when not asked). A refused admission (its RequestError) records nothing, the
        signature included.

        No lock is shared by the uploads of every key: the admission is recorded first, in a
        transaction of its own, and the limits are checked after its commit, counting every
        upload stored or admitted by then, this one included. Of two uploads admitted at once,
        whichever checks last counts the other, so they cannot pass a limit together (both may
        be refused when together they would pass it). The check and the hold are the second
        transaction; a refusal deletes the admission there instead."""
        standing = self.standing(round_id, model, staker) if self.standing is not None else Standing(True, True)
        self._check_standing(round_id, model, staker, standing)
        key = (round_id, model, staker)
        with self.store.database.write() as conn:
            admission = self.holds.add_admission(conn, key, size)
        self.holds.started()
        taken, refusal = None, None
        try:
            with self.store.database.write() as conn:
                # In flight first, then stored: an upload stored in between counts twice, never not at all.
                pending = self.holds.in_flight(conn, key)
                usage = self.store.usage(round_id, model, staker, conn=conn,
                                         with_total=self.limits.store_bytes is not None)
                try:
                    self._check_limits(round_id, model, staker, size, standing, replace(  # the others' and this one's
                        usage, key_uploads=usage.key_uploads + pending.key_uploads - 1,
                        staker_round_bytes=usage.staker_round_bytes + pending.staker_round_bytes - size,
                        total_bytes=None if usage.total_bytes is None else usage.total_bytes + pending.total_bytes - size,
                        free_disk_bytes=usage.free_disk_bytes - (pending.total_bytes - size)))
                except RequestError as exc:
                    refusal = exc
                    self.holds.release_rows(conn, admission=admission)  # committed with the transaction
                else:
                    if authorised is not None and authorised.key == key:
                        taken = self._hold_in(conn, key, authorised.authorisation, authorised.expiry)
        except BaseException:
            with suppress(Exception):  # the database away: the admission's lease lapses by itself
                self.holds.release(admission=admission)
            raise
        if refusal is not None:
            self.holds.ended(1)
            raise refusal
        if taken:
            self.holds.started()
        return admission, taken

    def end(self, admitted: Admitted) -> None:
        """Give back what an HTTP upload holds (:class:`Admitted`), unless its row's transaction
        already did: one database write at most."""
        if not admitted.ended:
            admitted.ended = True
            self.holds.release(key=admitted.held_key, admission=admitted.admission)

    def admit(self, round_id: int, model: str, staker: str, size: int) -> None:
        """Raise the RequestError of the first limit an upload of `size` bytes would pass, if any
        (as :meth:`admitted`, without counting it in flight)."""
        with self.admitted(round_id, model, staker, size):
            pass

    def _authorise(self, staker: str, round_id: int, model: str, digest: bytes, nonce: int, expiry: int,
                   signature: str) -> bytes:
        """The upload signature's EIP-712 digest, once it is found to be the staker's (or, for a
        strategy, its owner's) and never used; else the RequestError that says why not."""
        auth = UploadAuthorisation(staker, round_id, model, digest, nonce, expiry)
        try:
            signer, authorisation = auth.verify(self.domain, signature)
        except InputError as exc:
            raise RequestError(401, "bad-signature", exc.message, field="signature") from None
        if signer != staker and signer != self.owner_of(staker):
            raise RequestError(403, "wrong-signer", f"signature: signed by {signer}, not by staker {staker} (nor, "
                               f"for a strategy, by its owner) for "
                               f"this round, model, file, chain {self.domain.chain_id} and tournament "
                               f"{self.domain.tournament}", field="signature")
        if self.store.authorisation_used(authorisation):
            raise RequestError(409, "signature-replayed", "signature: this upload signature was used already; "
                               "each upload needs a fresh one", field="signature")
        return authorisation

    @staticmethod
    def _check_standing(round_id: int, model: str, staker: str, standing: Standing) -> None:
        """The 403 of an address that could not stake the model; asked before anything is written,
        so a flood of keys without NMR never enters the in-flight ledger the limits count."""
        if not standing.staked and not standing.may_stake:
            raise RequestError(403, "cannot-stake", f"staker {staker}: holds less than round {round_id}'s minimum "
                               f"stake ({standing.min_stake} wei of NMR) and has no stake of model {model} in it; "
                               "uploads are taken from addresses that can stake them", field="staker")

    def _check_limits(self, round_id: int, model: str, staker: str, size: int, standing: Standing,
                      usage: StoreUsage) -> None:
        limits = self.limits
        if usage.free_disk_bytes - size < limits.reserved_disk:
            raise RequestError(429, "disk-full", f"the service's disk is full ({usage.free_disk_bytes} bytes free, "
                               f"{limits.reserved_disk} kept in reserve); retry later", field="file")
        if usage.key_uploads >= limits.uploads_per_key:
            raise RequestError(429, "too-many-uploads", f"round {round_id}, model {model}, staker {staker}: already "
                               f"{usage.key_uploads} uploads, the service's limit per model and staker; the latest "
                               "ones stay as they are", field="model")
        if usage.staker_round_bytes + size > limits.bytes_per_staker_round:
            raise RequestError(429, "staker-quota-exceeded", f"staker {staker}: {usage.staker_round_bytes} bytes "
                               f"uploaded for round {round_id}; {size} more would pass the limit of "
                               f"{limits.bytes_per_staker_round} bytes per staker and round", field="staker")
        if standing.staked:
            return
        full = (limits.store_bytes is not None and usage.total_bytes is not None
                and usage.total_bytes + size > limits.store_bytes)
        if full or (usage.store_on_disk and usage.free_disk_bytes - size < limits.min_free_disk):
            raise RequestError(429, "store-full", "the service's store is full for uploads of models not staked yet: "
                               f"stake model {model} in round {round_id} first (the commitment is the file's "
                               "keccak-256), then upload it; a staked model's upload is always taken", field="file")

    def _check_file(self, staged: Path, size: int, key_text: str, digest: bytes) -> tuple[str, Prepared | None]:
        """The file's extension, and its values prepared for the oracle if it is a plain CSV."""
        from nmrstake.prepared import prepare
        from nmrstake.scoring import load_predictions

        if size == 0:
            raise RequestError(422, "empty-file", "file: the file is empty", field="file")
        raw = staged.read_bytes()  # at most max_bytes
        prepared = prepare(raw, digest)
        if prepared is not None:  # the usual file, accepted without pandas
            return ".csv", prepared
        head = raw[:4096]
        is_parquet = head[:4] == b"PAR1"
        if not is_parquet:
            try:
                head.decode("utf-8")
            except UnicodeDecodeError as exc:
                if exc.start < len(head) - 4:  # not a multi-byte character cut by the 4 KiB window
                    raise RequestError(415, "unsupported-format", "file: neither a CSV (UTF-8 text: the byte at offset "
                                       f"{exc.start} is not UTF-8) nor a Parquet file", field="file") from None
        try:
            load_predictions(staged, what="uploaded predictions", name=f"for {key_text}")
        except InputError as exc:
            status = 415 if "not UTF-8 text" in exc.message or "not a readable Parquet" in exc.message else 422
            raise RequestError(status, "invalid-file" if status == 422 else "unsupported-format",
                               f"file: {exc.message}", field="file") from None
        return (".parquet" if is_parquet else ".csv"), None

    # ------------------------------------------------------------------ the upload

    def receive(self, *, round_id: int, model: str, staker: str, nonce: int, expiry: int, signature: str,
                source: BinaryIO, file_hash: bytes | None = None, started_at: float | None = None,
                authorised: Authorised | None = None, holding: Admitted | None = None) -> StoredUpload:
        """Check and store one upload read from `source`; returns it with its signed receipt.
        `started_at`: when the request began to arrive (the signature must have been valid then: a
        large file on a slow link does not expire on the way); `authorised`: the signature as the
        same request's early check found it (:class:`Authorised`), used if it is this upload's;
        `holding`: what the request already holds (:meth:`admit_and_hold`, admitted with a size at
        least the file's: the request's declared length), which this upload then neither takes again
        nor keeps past the transaction that commits its row. Whether the round is open is decided
        once the file is in, by the chain time then, which is also the time the receipt states."""
        try:
            check_model_name(model, argument="model")
            staker = checksum_address(staker, argument="staker")
        except InputError as exc:
            raise RequestError(422, "invalid-field", exc.message, field=exc.message.split(":")[0]) from None
        if not signature:
            raise RequestError(401, "unsigned", "signature: the upload is not signed; sign the Upload message "
                               "(EIP-712) with the staker's key", field="signature")
        wall = int(started_at if started_at is not None else self.wall_now())
        if expiry <= wall:
            raise RequestError(401, "signature-expired", f"expiry: the signature expired at {_utc(expiry)} "
                               f"(now {_utc(wall)}); sign again", field="expiry")
        if expiry > wall + MAX_SIGNATURE_LIFETIME:
            raise RequestError(422, "invalid-field", f"expiry: at most {MAX_SIGNATURE_LIFETIME} s ahead",
                               field="expiry")
        self.known_window(round_id)
        key = (round_id, model, staker)
        held = holding.held_key if holding is not None else None
        in_ledger = holding.key if holding is not None else None
        with nullcontext() if held == key else self.exclusive(key), self.store.staging() as staged:
            size, digest = self._receive_bytes(source, staged)
            if file_hash is not None and file_hash != digest:
                raise RequestError(422, "file-hash-mismatch", f"file: keccak {to_hex(digest)} differs from file_hash "
                                   f"{to_hex(file_hash)} (a truncated or altered upload)", field="file")
            if authorised is not None and authorised == Authorised(key, digest, nonce, expiry, signature,
                                                                    authorised.authorisation):
                # This request's signature, recovered as the staker's before the file came, over this
                # very file, and neither stored nor seen before then: the store's UNIQUE authorisation
                # still refuses a second use that raced it.
                authorisation = authorised.authorisation
            else:
                authorisation = self._authorise(staker, round_id, model, digest, nonce, expiry, signature)
            with nullcontext() if in_ledger == key else self.admitted(round_id, model, staker, size):
                return self._check_and_store(staged, size, round_id=round_id, model=model, staker=staker,
                                             digest=digest, authorisation=authorisation, signature=signature,
                                             holding=holding)

    def _check_and_store(self, staged: Path, size: int, *, round_id: int, model: str, staker: str, digest: bytes,
                         authorisation: bytes, signature: str, holding: Admitted | None = None) -> StoredUpload:
        with self._checks:  # parsing is bounded work, but a round's worth at once would share the cores
            extension, prepared = self._check_file(staged, size, f"model {model} of round {round_id}", digest)
        crash_point("received")
        _, now = self.open_window(round_id)  # by chain time now that the whole file is in
        receipt = DeliveryReceipt(staker, round_id, model, digest, now).signed(self.domain, self._receipt_account)
        ending = holding if holding is not None and not holding.ended else None
        also = None if ending is None else partial(self.holds.release_rows, key=ending.held_key,
                                                   admission=ending.admission)
        try:
            stored = self.store.store(staged, round_id=round_id, model=model, staker=staker, file_hash=digest,
                                      extension=extension, received_at=now, authorisation=authorisation,
                                      signature=signature, receipt=receipt, prepared=prepared, also=also)
        except IntegrityError:
            raise RequestError(409, "signature-replayed", "signature: this upload signature was used already",
                               field="signature") from None
        if ending is not None:  # ended in the row's commit
            ending.ended = True
            self.holds.ended(1 + ending.held)
        return stored

    def _receive_bytes(self, source: BinaryIO, staged: Path) -> tuple[int, bytes]:
        """Copy the file to `staged`, hashed on the way (it is not read again for its hash): its
        size and keccak-256."""
        size = 0
        hasher = keccak_hasher()
        with open(staged, "wb") as out:
            while chunk := source.read(_CHUNK):
                size += len(chunk)
                if size > self.max_bytes:
                    raise RequestError(413, "file-too-large", f"file: larger than the service's limit of "
                                       f"{self.max_bytes} bytes", field="file")
                hasher.update(chunk)
                out.write(chunk)
        return size, hasher.digest()


class UploadAnswer(TypedDict):
    """An upload as the API and the CLI show it (the service's `Upload` document: its answer to an
    upload, and a stake key's latest upload). `receipt_path` is the participant's own addition: where
    its client keeps the receipt (:func:`nmrstake.client.staking.deliver`); the service never sets it."""

    upload_id: int
    round: int
    model: str
    staker: str
    commitment: str
    size: int
    received_at: int
    received_at_iso: str
    receipt: ReceiptJson
    receipt_signer: str
    receipt_path: NotRequired[str]


def describe(upload: StoredUpload, receipt_signer: str) -> UploadAnswer:
    """An upload as the API and the CLI show it."""
    return {
        "upload_id": upload.upload_id, "round": upload.round_id, "model": upload.model, "staker": upload.staker,
        "commitment": to_hex(upload.file_hash), "size": upload.size, "received_at": upload.received_at,
        "received_at_iso": _utc(upload.received_at), "receipt": upload.receipt.to_json(),
        "receipt_signer": receipt_signer,
    }


def chain_intake(client: Any, store: SubmissionStore, *, max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
                 lock: Any = None, limits: UploadLimits = DEFAULT_LIMITS) -> Intake:
    """An Intake for a deployment on the connected chain (a TournamentClient). A round's times
    never change once it is opened, so each is read once; chain time is read for every upload."""
    guard = lock or threading.Lock()
    windows: dict[int, RoundWindow] = {}

    def window(round_id: int) -> RoundWindow | None:
        if round_id not in windows:
            try:
                info = guarded_chain_read(guard, client.round, round_id)
            except UnknownRoundError:
                return None
            windows[round_id] = RoundWindow(round_id, info.open_time, info.close_time, info.min_stake)
        return windows[round_id]

    def chain_now() -> int:
        return int(guarded_chain_read(guard, client.chain_time))

    owners: dict[str, str] = {}  # strategy -> owner: fixed at creation, so cached for good
    strategies = None
    if "StrategyFactory" in client.deployment.contracts:
        from nmrstake.strategies.chain import StrategyClient

        strategies = StrategyClient(client)

    def owner_of(staker: str) -> str | None:
        """The owner whose key signs uploads for `staker` when it is an allocation strategy."""
        if strategies is None:
            return None
        if staker not in owners:
            if not guarded_chain_read(guard, strategies.is_strategy, staker):
                return None
            owners[staker] = str(guarded_chain_read(guard, lambda: strategies.contract(staker).owner()))
        return owners[staker]

    def standing(round_id: int, model: str, staker: str) -> Standing:
        from nmrstake.models import model_id

        known = window(round_id)  # outside the lock: it takes the lock itself on first read
        min_stake = known.min_stake if known is not None else 0

        def read() -> Standing:
            staked, balance = client.stake_and_balance(round_id, model_id(model), staker)  # one request
            if staked > 0:
                return Standing(True, True, min_stake)
            return Standing(False, balance >= min_stake, min_stake)

        found = guarded_chain_read(guard, read)
        if found.may_stake or owner_of(staker) is None or strategies is None:
            return found

        def strategy_read() -> bool:
            """An allocation strategy could stake the model if it has NMR at stake on it still
            (its last round's stake, which the operator claims and restakes; a fresh strategy with
            nothing in it could not)."""
            mid = model_id(model)
            last = int(strategies.contract(staker).model(mid).lastRound)
            return last > 0 and int(client.tournament.getStake(last, mid, staker)[0]) > 0

        return Standing(False, bool(guarded_chain_read(guard, strategy_read)), found.min_stake)

    return Intake(store, client.domain, window=window, chain_now=chain_now, max_bytes=max_bytes, owner_of=owner_of,
                  standing=standing, limits=limits)


def guarded_chain_read(lock: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """One chain read under `lock` (ape's provider is shared by the service's threads). A node
    that does not answer is a 503 problem, not a crash; the chain's own refusals pass through."""
    try:
        with lock:
            return fn(*args)
    except NmrstakeError:
        raise
    except Exception as exc:  # noqa: BLE001 - requests, web3 and ape raise many types for a dead node
        raise RequestError(503, "chain-unavailable", f"the chain does not answer ({type(exc).__name__}); "
                           "try again shortly") from None


__all__ = ["DEFAULT_LIMITS", "Admitted", "Authorised", "Intake", "RoundWindow", "Standing", "UploadLimits", "chain_intake", "describe",
           "parse_uint", "DEFAULT_MAX_UPLOAD_BYTES"]
