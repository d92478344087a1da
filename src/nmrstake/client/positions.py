"""What a participant's position says, in words and fields: whether the service holds the file a
stake commits to, the short reason of an invalid stake, the `upload / result` cell of the status
table, and where a stake's NMR stands (:func:`stake_phase`, :func:`phase_totals`: at stake,
awaiting results, claimable, claimed, and when each changes). Pure functions of what the chain
and the service said, with no web3 import, so that `nmrstake status --api` (which reads
everything from the service) stays light."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict


def utc(ts: int) -> str:
    """A Unix time as `YYYY-MM-DD HH:MM:SS UTC`."""
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class UploadStateJson(TypedDict):
    """What the service holds for a stake (:func:`upload_state`)."""

    upload: str | None
    uploaded_at: int | None
    uploaded_at_iso: str | None


UPLOAD_NOTES = {"none": "no upload yet", "differs": "upload differs from the commitment"}


def upload_state(commitment: bytes, uploads: list[tuple[bytes, int]] | None,
                 close_time: int | None = None) -> UploadStateJson:
    """What the service holds for a stake not resolved yet, from its uploads ((keccak-256,
    received_at), oldest first; None: not known here): `upload` is "matches" (an upload hashes to
    the stake's commitment: the one scored), "differs" (uploads, none of them the committed file),
    "none" or None (unknown), with the matching upload's time. Uploads at or after `close_time`
    do not count, as for the oracle."""
    if uploads is None:
        return {"upload": None, "uploaded_at": None, "uploaded_at_iso": None}
    if close_time is not None:
        uploads = [u for u in uploads if u[1] < close_time]
    matching = [at for digest, at in uploads if digest == commitment]
    if matching:
        return {"upload": "matches", "uploaded_at": matching[-1], "uploaded_at_iso": utc(matching[-1])}
    return {"upload": "differs" if uploads else "none", "uploaded_at": None, "uploaded_at_iso": None}


def short_reason(reason: str | None) -> str:
    """A published reason of an invalid stake, short enough for a table cell."""
    from nmrstake.results.spec import NOT_A_NAME, NOT_COMMITTED, UNDELIVERED

    if not reason:
        return "invalid"
    if reason == UNDELIVERED:
        return "invalid: no file delivered by close"
    if NOT_COMMITTED in reason:
        return "invalid: file differs from the commitment"
    if reason == NOT_A_NAME:
        return "invalid: model id is not a name"
    return "invalid: " + (reason if len(reason) <= 48 else reason[:47] + "…")


def position_note(p: Mapping[str, object]) -> str:
    """The table's `upload / result` cell of a position (my_positions or the service's history)."""
    if p.get("valid") is False:
        reason = p.get("reason")
        return short_reason(None if reason is None else str(reason))
    if p.get("valid") is True:
        return "valid"
    if p.get("upload") == "matches":
        return f"uploaded {p.get('uploaded_at_iso')}"
    return UPLOAD_NOTES.get(str(p.get("upload") or ""), "")


# -- stake and pending apart: where each stake's NMR stands, and when that changes

#: The phases of a stake's NMR, in the order it goes through them.
AT_STAKE, AWAITING, CLAIMABLE, CLAIMED = "at stake now", "awaiting results", "claimable", "claimed"
PHASES = (AT_STAKE, AWAITING, CLAIMABLE, CLAIMED)


@dataclass(frozen=True)
class Phase:
    """Where one stake's NMR stands. `amount` (wei): the stake while at stake or awaiting a
    result, the expected return once a result is posted (`expected`), what can be claimed, or
    what was paid. `changes_at` (Unix s, None: it does not change by itself) is when it moves
    on, and `event` says to what: "closes", "results due", "final"; `late`: results were due
    before `now` and none is posted."""

    name: str
    amount: int
    expected: bool = False
    changes_at: int | None = None
    event: str | None = None
    late: bool = False

    def to_json(self) -> PhaseJson:
        return {"phase": self.name, "amount": str(self.amount), "expected": self.expected,
                "changes_at": self.changes_at, "changes_at_iso": utc(self.changes_at) if self.changes_at else None,
                "event": self.event, "late": self.late}


class PhaseJson(TypedDict):
    """:class:`Phase` for machines (amount in wei as a string)."""

    phase: str
    amount: str
    expected: bool
    changes_at: int | None
    changes_at_iso: str | None
    event: str | None
    late: bool


def _wei(value: object) -> int:
    return int(str(value)) if value not in (None, "") else 0


def _time(value: object) -> int | None:
    return int(str(value)) if value not in (None, "", 0, "0") else None


def stake_phase(p: Mapping[str, object], round_info: Mapping[str, object] | None, now: int | None = None) -> Phase:
    """The phase of a position (`my_positions`' or the service's history entry) in a round (its
    JSON, for the round's times; None: unknown), at chain time `now` (None: unknown, no
    "late"). A stake is at stake while its round is open, awaiting results from its close until
    its result is final (with the expected return once a result is posted), then claimable, then
    claimed; in an expired round it is withdrawable (claimable) until withdrawn (claimed)."""
    r = round_info or {}
    state, claim, stake = str(p.get("state", "")), str(p.get("claim") or ""), _wei(p.get("stake"))
    close, resolve = _time(r.get("close_time")), _time(r.get("resolve_time"))
    if state == "open" and not (now is not None and close is not None and now >= close):
        return Phase(AT_STAKE, stake, changes_at=close, event="closes" if close else None)
    if state in ("open", "closed"):
        return Phase(AWAITING, stake, changes_at=resolve, event="results due" if resolve else None,
                     late=now is not None and resolve is not None and now > resolve)
    if state == "posted":
        expected = p.get("expected")
        final_at = _time(p.get("final_at")) or _time(r.get("final_at"))
        return Phase(AWAITING, _wei(expected) if expected is not None else stake, expected=expected is not None,
                     changes_at=final_at, event="final" if final_at else None)
    if claim in ("claimed", "withdrawn"):
        paid = stake if claim == "withdrawn" or p.get("payout") is None else \
            stake - _wei(p.get("burn")) + _wei(p.get("payout"))
        return Phase(CLAIMED, paid)
    if state in ("final", "expired"):
        return Phase(CLAIMABLE, _wei(p.get("claimable")))
    return Phase(AT_STAKE, stake)  # scheduled: staked ahead of the round's opening


@dataclass(frozen=True)
class PhaseTotal:
    """One phase's stakes (`count`) and NMR (`amount`, wei; `expected`: some of it is a posted
    result's expected return), and the next time one of them moves on (`next_change`, with its
    `event`); `late`: some stakes are past their results' due time with none posted."""

    name: str
    count: int
    amount: int
    expected: bool
    next_change: int | None
    event: str | None
    late: int

    def to_json(self) -> PhaseTotalJson:
        return {"phase": self.name, "stakes": self.count, "amount": str(self.amount), "expected": self.expected,
                "next_change": self.next_change,
                "next_change_iso": utc(self.next_change) if self.next_change else None,
                "event": self.event, "late": self.late}


class PhaseTotalJson(TypedDict):
    """:class:`PhaseTotal` for machines."""

    phase: str
    stakes: int
    amount: str
    expected: bool
    next_change: int | None
    next_change_iso: str | None
    event: str | None
    late: int


def phase_totals(positions: Sequence[Mapping[str, object]], rounds: Sequence[Mapping[str, object]],
                 now: int | None = None) -> list[PhaseTotal]:
    """Every phase (:data:`PHASES`, in order, empty ones too) with its stakes' totals: stake and
    pending apart, as `nmrstake status`, the API and the dashboard show them."""
    by_round = {int(str(r["round"])): r for r in rounds if "round" in r}
    phases: dict[str, list[Phase]] = {name: [] for name in PHASES}
    for p in positions:
        phase = stake_phase(p, by_round.get(int(str(p["round"]))), now)
        phases[phase.name].append(phase)
    out = []
    for name, items in phases.items():
        coming = sorted((ph.changes_at, ph.event or "") for ph in items if ph.changes_at and not ph.late)
        out.append(PhaseTotal(name, len(items), sum(ph.amount for ph in items), any(ph.expected for ph in items),
                              coming[0][0] if coming else None, coming[0][1] or None if coming else None,
                              sum(1 for ph in items if ph.late)))
    return out
