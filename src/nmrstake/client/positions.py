"""What a participant's position says, in words and fields: whether the service holds the file a
stake commits to, the short reason of an invalid stake, the `upload / result` cell of the status
table. Pure functions of what the chain and the service said, with no web3 import, so that
`nmrstake status --api` (which reads everything from the service) stays light."""

from __future__ import annotations

from collections.abc import Mapping
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
