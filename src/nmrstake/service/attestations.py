"""The oracle committee's attestations, exchanged through the tournament service (no new server):
``POST /v1/rounds/{round_id}/attestations`` publishes a member's signed Attestation of a round's
result (:class:`nmrstake.signing.Attestation`, docs/committee.md), ``GET`` lists a round's, with
per distinct content the signers and whether M of the current committee agree, so that any
member, or anyone, can post ``postResultSigned`` once they do.

Only a current member's valid signature in the current epoch is kept: the signature must recover
the `signer` it names, and the chain (``isCommitteeMember`` through ``committee()``,
``committeeEpoch()``) must say the signer is a member now. A stranger's request therefore stores
nothing, and a member stores at most MAX_PER_SIGNER distinct attestations per round, so the store
is bounded by the committee's size times the rounds on chain. Sending the same attestation again
(same round, signer and digest) is harmless and stores nothing new. A member's second, different
attestation for the same round and epoch is kept and flagged ``equivocation``: it is shown, and a
member counts at most once for any content.

Kept in the service's database (:mod:`nmrstake.storage.database`, table ``attestations``), shared
by every replica: each attestation is one row written in one transaction, so a crash leaves it
stored or not, never half; (round, signer, digest) is UNIQUE, and the count against
MAX_PER_SIGNER is read and written under the database's lock of that round and signer.
This module imports no web framework and no ape at its top; the routes are
:mod:`nmrstake.service.routes.attestations`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from nmrstake.errors import ConfigError, InputError, RequestError
from nmrstake.hashing import bytes32_from_hex, to_hex
from nmrstake.signing import Attestation
from nmrstake.storage.database import Database
from nmrstake.storage.tables import attestations as table

#: Distinct attestations one member may have stored for one round (across epochs): an honest
#: member needs one per epoch; a few more let an equivocation show.
MAX_PER_SIGNER = 4
#: secp256k1's group order; the contract refuses `s` above half of it (a malleable twin).
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

@dataclass(frozen=True)
class Signed:
    """One stored attestation: what was signed, by whom, and the signature."""

    attestation: Attestation
    signer: str
    signature: str
    digest: bytes
    received_at: int

    def to_json(self, equivocation: bool) -> dict[str, Any]:
        a = self.attestation
        return {"signer": self.signer, "signature": self.signature, "digest": to_hex(self.digest),
                "root": to_hex(a.root), "total_payout": str(a.total_payout), "total_burn": str(a.total_burn),
                "leaf_count": a.leaf_count, "results_hash": to_hex(a.results_hash), "epoch": a.epoch,
                "received_at": self.received_at, "equivocation": equivocation}


@dataclass(frozen=True)
class Agreement:
    """One distinct content attested for a round: its signers (ascending) and whether M agree."""

    attestation: Attestation
    digest: bytes
    signers: list[str]
    signatures: dict[str, str]
    agreed: bool


def agreements(signed: list[Signed], members: list[str], threshold: int, epoch: int) -> list[Agreement]:
    """Per distinct digest, in the order first seen: its distinct signers, ascending by address,
    and whether at least `threshold` of them are current `members` signing in the current `epoch`."""
    current = set(members)
    by_digest: dict[bytes, tuple[Attestation, dict[str, str]]] = {}
    for s in signed:
        by_digest.setdefault(s.digest, (s.attestation, {}))[1].setdefault(s.signer, s.signature)
    out = []
    for digest, (attestation, signatures) in by_digest.items():
        signers = sorted(signatures, key=lambda a: int(a, 16))
        counted = [a for a in signers if a in current] if attestation.epoch == epoch else []
        out.append(Agreement(attestation, digest, signers, signatures, len(counted) >= threshold))
    return out


def equivocators(signed: list[Signed]) -> set[tuple[str, int]]:
    """(signer, epoch) pairs that attested more than one content for the round."""
    seen: dict[tuple[str, int], set[bytes]] = {}
    for s in signed:
        seen.setdefault((s.signer, s.attestation.epoch), set()).add(s.digest)
    return {key for key, digests in seen.items() if len(digests) > 1}


class AttestationStore:
    """The service's attestations, in its database."""

    def __init__(self, database: Database) -> None:
        self.database = database.migrate()

    def add(self, attestation: Attestation, signer: str, signature: str, digest: bytes) -> tuple[Signed, bool]:
        """Store one verified attestation; (the stored one, whether it is new). The same (round,
        signer, digest) again returns the one stored. A 429 problem when the signer has
        MAX_PER_SIGNER attestations of the round already."""
        rid, t = str(attestation.round_id), table
        with self.database.write(f"attestations {rid} {signer}") as conn:
            row = conn.execute(sa.select(table).where(t.c.round_id == rid, t.c.signer == signer,
                                                      t.c.digest == to_hex(digest))).first()
            if row is not None:
                return _from_row(tuple(row)), False
            count = conn.execute(sa.select(sa.func.count()).select_from(t).where(
                t.c.round_id == rid, t.c.signer == signer)).scalar_one()
            if count >= MAX_PER_SIGNER:
                raise RequestError(429, "too-many-attestations", f"signer: {signer} has {count} attestations of round "
                                   f"{rid} stored already, the most the service keeps per member and round",
                                   field="signer")
            now = int(time.time())
            a = attestation
            conn.execute(sa.insert(t).values(
                round_id=rid, signer=signer, digest=to_hex(digest), epoch=str(a.epoch), root=to_hex(a.root),
                total_payout=str(a.total_payout), total_burn=str(a.total_burn), leaf_count=str(a.leaf_count),
                results_hash=to_hex(a.results_hash), signature=signature, received_at=now))
        return Signed(attestation, signer, signature, digest, now), True

    def round(self, round_id: int) -> list[Signed]:
        """The round's attestations, in the order they were stored."""
        with self.database.read() as conn:
            rows = conn.execute(sa.select(table).where(table.c.round_id == str(round_id)).order_by(table.c.id)).all()
        return [_from_row(tuple(r)) for r in rows]


def _from_row(row: tuple[Any, ...]) -> Signed:
    _, rid, signer, digest, epoch, root, payout, burn, leaves, results_hash, signature, received_at = row
    attestation = Attestation(int(rid), bytes32_from_hex(root), int(payout), int(burn), int(leaves),
                              bytes32_from_hex(results_hash), int(epoch))
    return Signed(attestation, signer, signature, bytes32_from_hex(digest), int(received_at))


# ------------------------------------------------------------------------------------------ checks


def _invalid(field: str, message: str) -> RequestError:
    return RequestError(422, "invalid-field", f"{field}: {message}", field=field)


def _wei(text: str, field: str) -> int:
    if not isinstance(text, str) or not text.isascii() or not text.isdigit():
        raise _invalid(field, f"{text!r} is not a whole number of wei (decimal digits)")
    value = int(text)
    if value >= 2**256:
        raise _invalid(field, f"{value} is out of range (0 to 2**256-1)")
    return value


def _uint(value: int, field: str) -> int:
    if not 0 <= int(value) < 2**256:
        raise _invalid(field, f"{value} is out of range (0 to 2**256-1)")
    return int(value)


def _hash(text: str, field: str) -> bytes:
    try:
        return bytes32_from_hex(text, argument=field)
    except InputError as exc:
        raise RequestError(422, "invalid-field", exc.message, field=field) from None


def _signature(text: str) -> str:
    raw = text.removeprefix("0x") if isinstance(text, str) and text.startswith("0x") else None
    if raw is None or len(raw) != 130 or any(c not in "0123456789abcdefABCDEF" for c in raw):
        raise RequestError(422, "invalid-field", "signature: expected 0x and 65 bytes of hex (r ‖ s ‖ v)",
                           field="signature")
    data = bytes.fromhex(raw)
    if data[64] not in (27, 28) or int.from_bytes(data[32:64], "big") > _SECP256K1_N // 2:
        raise RequestError(401, "bad-signature", "signature: v must be 27 or 28 and s in the lower half of the curve "
                           "order, as the contract requires", field="signature")
    return "0x" + raw.lower()


def parse(round_id: int, body: Any) -> tuple[Attestation, str, str]:
    """(the attestation, the checksummed signer, the signature) of a request body; 422 naming the
    first malformed field."""
    from nmrstake.service.args import staker_arg

    signer = staker_arg(body.signer, field="signer")
    signature = _signature(body.signature)
    attestation = Attestation(round_id, _hash(body.root, "root"), _wei(body.total_payout, "total_payout"),
                              _wei(body.total_burn, "total_burn"), _uint(body.leaf_count, "leaf_count"),
                              _hash(body.results_hash, "results_hash"), _uint(body.epoch, "epoch"))
    return attestation, signer, signature


#: How long the service trusts its last reading of the committee. A change goes through the admin
#: delay (days), so a reading this old is still right but for the seconds after a change, when a
#: new member's attestation is refused and its oracle sends it again on its next tick.
COMMITTEE_MAX_AGE = 10.0


class CommitteeReading:
    """The committee (members, M, epoch) as last read from the chain, read again at most every
    `max_age` seconds: a flood of attestations, valid or not, costs the chain (and the service's
    one chain connection, which uploads and pages share) one reading per `max_age`."""

    def __init__(self, max_age: float = COMMITTEE_MAX_AGE) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._value: tuple[list[str], int, int] | None = None

    def get(self, ctx: Any) -> tuple[list[str], int, int]:
        client = ctx.client
        if not client.has_committee:
            raise RequestError(404, "no-committee", "this deployment's Tournament has no oracle committee: it takes "
                               "no attestations (deployed without --committee)")
        with self._lock:
            if self._value is None or time.monotonic() - self._read_at >= self.max_age:
                try:
                    self._value = ctx.chain(client.committee)
                except ConfigError as exc:
                    raise RequestError(404, "no-committee", exc.message) from None
                self._read_at = time.monotonic()
            return self._value


def _check_round(ctx: Any, round_id: int) -> None:
    """A 404 unknown-round for a round the chain does not have (the event index's read where the
    service keeps one, else one chain read)."""
    ctx.round(round_id)  # UnknownRoundError: a 404 unknown-round


def _committee(ctx: Any, reading: CommitteeReading, round_id: int) -> tuple[list[str], int, int]:
    """The current committee (members, M, epoch) after checking the round exists; 404 problems
    for a deployment without a committee and for an unknown round."""
    found = reading.get(ctx)
    _check_round(ctx, round_id)
    return found


def listing(ctx: Any, store: Callable[[], AttestationStore], reading: CommitteeReading,
            round_id: int) -> dict[str, Any]:
    """The GET's answer; `store` opens the store (only once the deployment is known to have a committee)."""
    members, threshold, epoch = _committee(ctx, reading, round_id)
    signed = store().round(round_id)
    flagged = equivocators(signed)
    return {
        "round": round_id, "epoch": epoch, "threshold": threshold, "members": members,
        "attestations": [s.to_json((s.signer, s.attestation.epoch) in flagged) for s in signed],
        "contents": [{"digest": to_hex(g.digest), "root": to_hex(g.attestation.root),
                      "total_payout": str(g.attestation.total_payout), "total_burn": str(g.attestation.total_burn),
                      "leaf_count": g.attestation.leaf_count, "results_hash": to_hex(g.attestation.results_hash),
                      "epoch": g.attestation.epoch, "signers": g.signers, "agreed": g.agreed}
                     for g in agreements(signed, members, threshold, epoch)],
    }


def publish(ctx: Any, store: Callable[[], AttestationStore], reading: CommitteeReading, round_id: int,
            body: Any) -> dict[str, Any]:
    """The POST's answer: checks, then stores (see the module's docstring). What costs nothing
    comes first: the body, the signature, the membership against the committee's last reading;
    only a current member's attestation makes the service read the round from the chain."""
    members, _, epoch = reading.get(ctx)
    attestation, signer, signature = parse(round_id, body)
    if attestation.epoch != epoch:
        raise RequestError(409, "wrong-epoch", f"epoch: {attestation.epoch} is not the committee's current epoch "
                           f"{epoch}; sign the attestation again for epoch {epoch}", field="epoch")
    domain = ctx.client.committee_domain
    try:
        recovered = attestation.signer(domain, signature)
    except InputError as exc:
        raise RequestError(401, "bad-signature", exc.message, field="signature") from None
    if recovered != signer:
        raise RequestError(401, "bad-signature", f"signature: recovers {recovered}, not the signer {signer}, over "
                           "this attestation in the committee's domain", field="signature")
    if signer not in members:
        raise RequestError(403, "not-committee-member", f"signer: {signer} is not a member of the current committee "
                           f"(epoch {epoch})", field="signer")
    _check_round(ctx, round_id)
    stored, new = store().add(attestation, signer, signature, attestation.digest(domain))
    flagged = (signer, epoch) in equivocators(store().round(round_id))
    return {"new": new, "attestation": stored.to_json(flagged)}


__all__ = ["AttestationStore", "MAX_PER_SIGNER", "agreements", "equivocators"]
