"""Submissions: the upload (``POST /v1/submissions``: predictions for (round, model), signed by
the staker, answered with a signed receipt) and what the service received for (round, model,
staker), with the file itself once the round's results are published.

The upload's body is read as it streams in by `nmrstake.service.upload` (its size, its pace, the
key it holds); the complete upload is checked and stored by the intake (`nmrstake.intake`).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from nmrstake.errors import InputError, RequestError
from nmrstake.hashing import bytes32_from_hex, checksum_address, to_hex
from nmrstake.intake import Admitted, Authorised, describe, parse_uint
from nmrstake.service import schemas
from nmrstake.service.args import ModelLabel, RoundId, StakerAddress, round_arg
from nmrstake.service.context import ServiceContext
from nmrstake.service.routes.deps import Context
from nmrstake.service.routes.downloads import PREDICTIONS_CONTENT, file_response
from nmrstake.service.schemas import problem, problems
from nmrstake.service.upload import FORM_OVERHEAD, UPLOAD_FIELDS, UploadBody, UploadParser

router = APIRouter(tags=["submissions"])

#: The upload's request body as the document declares it (the route reads the body itself).
_UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": schemas.UPLOAD_FORM_SCHEMA}},
    },
}


@router.post("/v1/submissions", status_code=201, openapi_extra=_UPLOAD_SCHEMA,
             summary="Upload predictions for (round, model), signed by the staker; returns a signed receipt",
             response_model=schemas.Upload,
             responses=problems(400, 401, 403, 404, 408, 409, 411, 413, 415, 422, 429, 502, 503,
                                s403="wrong-signer, cannot-stake", s404="unknown-round"))
async def upload(request: Request, ctx: Context) -> Any:
    started = time.time()
    length = request.headers.get("content-length")
    if length is None or "transfer-encoding" in request.headers:
        # A chunked body would be framed by its chunks, not by Content-Length: no size bound.
        raise RequestError(411, "length-required", "the request needs a Content-Length header and no "
                           "Transfer-Encoding (chunked uploads are not taken)")
    try:
        declared = int(length)
    except ValueError:
        raise RequestError(400, "malformed-request", f"Content-Length: {length!r} is not a number") from None
    if declared > ctx.intake.max_bytes + FORM_OVERHEAD:
        raise RequestError(413, "file-too-large", f"file: the request ({declared} bytes) is larger than the "
                           f"service's limit of {ctx.intake.max_bytes} bytes", field="file")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise RequestError(415, "unsupported-media-type", "the upload must be multipart/form-data")
    held = ExitStack()  # the upload's key, held from the file part's first byte (a 409 meanwhile)
    body: UploadBody | None = None
    try:
        body = UploadBody(request, declared, ctx, held, started)
        parser = UploadParser(request.headers, body.chunks(), max_files=1,
                              max_fields=len(UPLOAD_FIELDS) + 2, on_file=body.on_file)
        try:
            form = await parser.parse()
        except RequestError as exc:
            # The body was not read to its end: answer, and close the connection behind it.
            return problem(exc.status, exc.kind, exc.message, instance=request.url.path, field=exc.field,
                           close=not body.complete)
        except Exception as exc:  # noqa: BLE001 - python-multipart and starlette raise several types
            detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
            return problem(400, "malformed-multipart", f"the multipart body cannot be parsed ({detail}); "
                           "was the upload cut short?", instance=request.url.path, close=not body.complete)
        try:
            if not parser.complete:
                raise RequestError(400, "malformed-multipart", "the multipart body ends before its closing "
                                   "boundary: the upload was cut short; send it again")
            return await _receive(ctx, form, started, body.authorised, body.holding)
        finally:
            await form.close()
    finally:
        if body is not None and body.holding is not None and body.holding.ended:
            held.close()  # ended in the upload's row's transaction: nothing left to write
        else:
            await run_in_threadpool(held.close)  # releasing a hold is a database write: not on the event loop


async def _receive(ctx: ServiceContext, form: Any, started: float, authorised: Authorised | None,
                   holding: Admitted | None) -> Any:
    """The complete form, checked field by field, then handed to the intake (in a thread, one of
    `ctx.upload_work` at once)."""
    fields = {name: form.get(name) for name in (*UPLOAD_FIELDS, "file_hash")}
    upload_file = form.get("file")
    if not fields["signature"]:
        raise RequestError(401, "unsigned", "signature: the upload is not signed; sign the Upload message "
                           "(EIP-712) with the staker's key", field="signature")
    missing = [n for n in UPLOAD_FIELDS if not isinstance(fields[n], str) or not fields[n]]
    if missing:
        raise RequestError(422, "missing-field", f"{missing[0]}: missing from the form", field=missing[0])
    if upload_file is None or isinstance(upload_file, str):
        raise RequestError(422, "missing-field", "file: no file part in the form", field="file")
    file_hash = None
    if fields["file_hash"]:
        try:
            file_hash = bytes32_from_hex(str(fields["file_hash"]), argument="file_hash")
        except InputError as exc:
            raise RequestError(422, "invalid-field", exc.message, field="file_hash") from None
    round_id = round_arg(str(fields["round"]))

    def work() -> Any:
        stored = ctx.intake.receive(
            round_id=round_id, model=str(fields["model"]), staker=str(fields["staker"]),
            nonce=parse_uint(fields["nonce"], "nonce"), expiry=parse_uint(fields["expiry"], "expiry"),
            signature=str(fields["signature"]), source=upload_file.file, file_hash=file_hash,
            started_at=started, authorised=authorised, holding=holding)
        return describe(stored, ctx.intake.receipt_signer)

    return await anyio.to_thread.run_sync(work, limiter=ctx.upload_slots())


@router.get("/v1/rounds/{round_id}/submissions/{model}/{staker}",
            summary="What the service received for (round, model, staker): hashes and times, never the file",
            response_model=schemas.Submission, responses=problems(404, 422, s404="no-upload"))
def submission(round_id: RoundId, model: ModelLabel, staker: StakerAddress, ctx: Context) -> Any:
    rid, m, who = round_id, model, staker
    uploads = ctx.intake.store.uploads(rid, m, who)
    if not uploads:
        raise RequestError(404, "no-upload", f"round {rid}: nothing received for model {m} of {who}")
    return {"round": rid, "model": m, "staker": who, "latest": describe(uploads[-1], ctx.intake.receipt_signer),
            "uploads": len(uploads),
            "history": [{"commitment": to_hex(u.file_hash), "received_at": u.received_at} for u in uploads]}


@router.get("/v1/rounds/{round_id}/submissions/{model}/{staker}/file",
            summary="The file a stake was scored with: only once the round's results are published",
            response_class=FileResponse,
            responses={200: {"description": "the file, byte for byte: CSV (text/csv) or Parquet "
                                            "(application/octet-stream)", "content": PREDICTIONS_CONTENT},
                       **problems(403, 404, 422, s403="submission-private", s404="no-submission")})
def submission_file(round_id: RoundId, model: ModelLabel, staker: StakerAddress, ctx: Context) -> Any:
    rid, m, who = round_id, model, staker
    try:
        pub = ctx.published(rid)
    except RequestError:
        raise RequestError(403, "submission-private", f"round {rid}: submissions stay private until the round's "
                           "results are published") from None
    staked = any(r.model == m and checksum_address(r.staker) == who for r in pub.rows)
    path = pub.inputs.predictions.get((m, who)) or (pub.inputs.predictions.get(m) if staked else None)
    found = None if path is None else ctx.published_file(pub, path)
    if found is None:
        raise RequestError(404, "no-submission", f"round {rid}: no published predictions for model {m} of {who}")
    return file_response(found, filename=found.name)


__all__ = ["router"]
