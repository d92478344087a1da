"""Reading an upload's multipart body (``POST /v1/submissions``) under the service's rules, while
it streams in: never past its declared length (413), arriving within BODY_GRACE_SECONDS then at
MIN_BODY_RATE (408), admitted by the intake's limits as soon as the fields before the file are
known, and holding the upload's key from the file's first byte when those fields carry the
staker's own fresh signature (so that a second upload of the same key meanwhile is a 409).

The route that uses it is in `nmrstake.service.routes.submissions`; the checks the complete upload
then passes are the intake's (`nmrstake.intake`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from starlette.formparsers import MultiPartParser

from nmrstake.errors import NmrstakeError, RequestError
from nmrstake.hashing import bytes32_from_hex, checksum_address
from nmrstake.intake import MAX_SIGNATURE_LIFETIME, Admitted, Authorised, Intake, in_progress, parse_uint
from nmrstake.models import check_model_name
from nmrstake.service.context import ServiceContext
from nmrstake.signing import UploadAuthorisation

#: Multipart overhead allowed beyond the file itself (boundaries, headers, the other fields).
FORM_OVERHEAD = 64 * 1024
UPLOAD_FIELDS = ("round", "model", "staker", "nonce", "expiry", "signature")
#: A request body must keep arriving: within BODY_GRACE_SECONDS of the request, then at
#: MIN_BODY_RATE bytes a second on average (so the largest upload, 16 MiB, has about 4.5 minutes).
#: A slower one is refused (408) and its connection closed, and with it any hold on its key.
BODY_GRACE_SECONDS = 10.0
MIN_BODY_RATE = 64 * 1024



class UploadParser(MultiPartParser):
    """Starlette's multipart parser with two additions for uploads: it records whether the body
    reached its closing boundary (python-multipart takes a body cut short for a complete one, minus
    its last part), and when the file part begins it calls `on_file` with the fields read so far,
    so that the upload's key is held while the file streams in."""

    def __init__(self, *args: Any, on_file: Callable[[dict[str, str]], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.complete = False
        self._on_file = on_file

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        if self._current_part.file is not None:
            self._on_file({name: value for name, value in self.items if isinstance(value, str)})

    def on_end(self) -> None:
        self.complete = True


def upload_key(fields: dict[str, str], intake: Intake, now: float) -> Authorised | None:
    """The upload's signature as :class:`~nmrstake.intake.Authorised`, if the fields sent before
    the file carry the staker's own signature over the declared `file_hash`, unexpired; else None
    (receive then checks everything once the file is in). Only recovers the signature: whether it
    was stored or seen before is :meth:`Intake.first_hold_key`'s, so that only the staker, with a
    signature the service has never seen, can hold its key: a stranger's slow upload, or a replay
    of a signature seen once (whether its upload was taken or refused), never blocks the
    staker's."""
    try:
        key = (parse_uint(fields["round"], "round"), check_model_name(fields["model"]),
               checksum_address(fields["staker"]))
        expiry = parse_uint(fields["expiry"], "expiry")
        if not now < expiry <= now + MAX_SIGNATURE_LIFETIME:
            return None
        nonce = parse_uint(fields["nonce"], "nonce")
        file_hash = bytes32_from_hex(fields["file_hash"])
        auth = UploadAuthorisation(key[2], key[0], key[1], file_hash, nonce, expiry)
        signer, digest = auth.verify(intake.domain, fields["signature"])
        if signer != key[2]:
            return None
        return Authorised(key, file_hash, nonce, expiry, fields["signature"], digest)
    except (KeyError, NmrstakeError):
        return None


def fields_key(fields: dict[str, str]) -> tuple[int, str, str] | None:
    """(round, model, checksummed staker) named by the fields sent before the file, signed or not."""
    try:
        return parse_uint(fields["round"], "round"), check_model_name(fields["model"]), checksum_address(fields["staker"])
    except (KeyError, NmrstakeError):
        return None


class UploadBody:
    """The request body, as the multipart parser reads it, under the upload's rules: never past
    its declared length (413), arriving within BODY_GRACE_SECONDS then at MIN_BODY_RATE (408),
    and, once the fields before the file are known, admitted by the intake's limits and holding
    the key if they are the staker's fresh signature, before the file's bytes are read on."""

    def __init__(self, request: Request, declared: int, ctx: ServiceContext, held: ExitStack, started: float) -> None:
        self.request, self.declared, self.ctx, self.held = request, declared, ctx, held
        self.started = started
        self.received = 0
        self.waited = 0.0  # seconds spent waiting for the client's bytes (never the service's own work)
        self.complete = False
        self.fields: dict[str, str] | None = None
        self.authorised: Authorised | None = None
        self.holding: Admitted | None = None  # the admission, and the key's hold, while the body streams in

    def on_file(self, fields: dict[str, str]) -> None:
        self.fields = fields

    async def _admit(self, fields: dict[str, str]) -> None:
        key = fields_key(fields)
        if key is None:
            return  # receive names what is wrong once the body is in
        intake = self.ctx.intake
        await run_in_threadpool(self._admit_and_hold, intake, key, fields)

    def _admit_and_hold(self, intake: Intake, key: tuple[int, str, str], fields: dict[str, str]) -> None:
        """(In a worker thread: the signature's recovery, then one database transaction.) Admit
        the upload, counted in flight from now until it is stored or refused; and, if the fields
        carry the staker's fresh signature, hold the key (a 409 if another upload holds it). What
        is taken ends in the transaction that commits the upload's row, else by one database write
        when the route ends."""
        authorised = upload_key(fields, intake, self.started)
        if authorised is not None and authorised.key != key:
            authorised = None
        admission, taken = intake.admit_and_hold(*key, self.declared, authorised)
        holding = Admitted(key, admission)
        self.holding = holding
        self.held.callback(lambda: intake.end(holding))
        if taken is None:
            return
        if not taken:
            raise in_progress(key)
        holding.held = True
        self.authorised = authorised

    def _timeout(self) -> float:
        """Seconds the next byte may take before the body falls behind its minimum rate. Only the
        time spent waiting for the client counts: a busy service (its admission's chain reads, a
        loaded machine) never makes a client's body late."""
        return max(0.0, BODY_GRACE_SECONDS + (self.received + 1) / MIN_BODY_RATE - self.waited)

    async def chunks(self) -> AsyncIterator[bytes]:
        stream = self.request.stream().__aiter__()
        while True:
            if self.fields is not None:
                fields, self.fields = self.fields, None
                await self._admit(fields)
            asked = time.monotonic()
            try:
                chunk = await asyncio.wait_for(stream.__anext__(), timeout=self._timeout())
            except StopAsyncIteration:
                self.complete = True
                return
            except TimeoutError:
                raise RequestError(408, "body-too-slow", f"the request body arrived too slowly ({self.received} of "
                                   f"{self.declared} bytes in {self.waited + time.monotonic() - asked:.0f} s of "
                                   f"waiting; the service needs it within {BODY_GRACE_SECONDS:.0f} s plus one second "
                                   f"per {MIN_BODY_RATE} bytes)") from None
            finally:
                self.waited += time.monotonic() - asked
            self.received += len(chunk)
            if self.received > self.declared:
                raise RequestError(413, "file-too-large", f"the request is larger than its declared {self.declared} bytes")
            yield chunk


__all__ = ["BODY_GRACE_SECONDS", "FORM_OVERHEAD", "MIN_BODY_RATE", "UPLOAD_FIELDS", "UploadBody", "UploadParser",
           "fields_key", "upload_key"]
