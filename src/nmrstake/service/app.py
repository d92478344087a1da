"""The tournament service's HTTP API (FastAPI, served by uvicorn): ``/v1/...`` and ``/healthz``.

What the chain knows (rounds, stakes, the posted root) is read from the chain on each request;
what the oracle published is read from its published folders; uploads come from the submission
store. Nothing the chain knows is kept twice. Every error is an RFC 9457 problem document
(``application/problem+json``) with a status that says what went wrong; see docs/service.md.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse
from fastapi.routing import APIRoute
from pydantic import WithJsonSchema as _schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartParser

from nmrstake import __version__
from nmrstake.errors import ChainError, InputError, NmrstakeError, RequestError, UnknownRoundError
from nmrstake.hashing import bytes32_from_hex, checksum_address, to_hex
from nmrstake.intake import MAX_SIGNATURE_LIFETIME, Intake, describe, guarded_chain_read, parse_uint
from nmrstake.models import check_model_name
from nmrstake.service import schemas
from nmrstake.service.args import AccountAddress, ModelLabel, RoundId, StakerAddress
from nmrstake.service.args import round_arg as _round_arg
from nmrstake.service.dashboard import SORT_KEYS
from nmrstake.service.schemas import problem, problems
from nmrstake.signing import UploadAuthorisation

#: Multipart overhead allowed beyond the file itself (boundaries, headers, the other fields).
FORM_OVERHEAD = 64 * 1024
UPLOAD_FIELDS = ("round", "model", "staker", "nonce", "expiry", "signature")
#: A request body must keep arriving: within BODY_GRACE_SECONDS of the request, then at
#: MIN_BODY_RATE bytes a second on average (so the largest upload, 16 MiB, has about 4.5 minutes).
#: A slower one is refused (408) and its connection closed, and with it any hold on its key.
BODY_GRACE_SECONDS = 10.0
MIN_BODY_RATE = 64 * 1024


@dataclass
class ServiceContext:
    """What the app serves: one deployment's chain client, data layout and intake."""

    client: Any  # TournamentClient
    layout: Any  # DataLayout
    intake: Intake
    chain_lock: threading.Lock = field(default_factory=threading.Lock)
    faucet: Any = None  # nmrstake.service.faucet.Faucet: POST /v1/faucet (None: off)
    _published: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    _published_lock: threading.Lock = field(default_factory=threading.Lock)

    def chain(self, fn: Any, *args: Any) -> Any:
        """Run one chain read; ape's provider is shared by the request threads, one at a time."""
        return guarded_chain_read(self.chain_lock, fn, *args)

    def published(self, round_id: int) -> Any:
        """The round's published results (PublishedRound), or a 404 problem before publication;
        InputError if its files are malformed. One reading per identity of the files read
        (``published_stamp``): read once, by one thread, and read again whenever any changes."""
        from nmrstake.results.read import load_published, published_stamp

        folder = self.layout.published(round_id)
        stamp = published_stamp(folder)
        if stamp is None:
            raise RequestError(404, "not-published", f"round {round_id}: no results are published yet")
        with self._published_lock:
            cached = self._published.get(round_id)
            if cached is None or cached[0] != stamp:
                try:
                    cached = (stamp, load_published(folder))
                except InputError as exc:  # kept too: a damaged folder is not read again until it changes
                    cached = (stamp, exc.message)
                self._published[round_id] = cached
        if isinstance(cached[1], str):
            raise InputError(cached[1])
        return cached[1]


class _UploadParser(MultiPartParser):
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


def _upload_key(fields: dict[str, str], intake: Intake, now: float) -> tuple[int, str, str] | None:
    """(round, model, checksummed staker) as Intake.receive keys an upload, if the fields sent
    before the file carry the staker's own signature over the declared `file_hash`, unexpired,
    never stored and never before asked to hold a key; else None (receive then checks everything
    once the file is in). So only the staker, with a signature the service has never seen, can
    hold its key: a stranger's slow upload, or a replay of a signature seen once (whether its
    upload was taken or refused), never blocks the staker's."""
    try:
        key = (parse_uint(fields["round"], "round"), check_model_name(fields["model"]),
               checksum_address(fields["staker"]))
        expiry = parse_uint(fields["expiry"], "expiry")
        if not now < expiry <= now + MAX_SIGNATURE_LIFETIME:
            return None
        auth = UploadAuthorisation(key[2], key[0], key[1], bytes32_from_hex(fields["file_hash"]),
                                   parse_uint(fields["nonce"], "nonce"), expiry)
        if auth.signer(intake.domain, fields["signature"]) != key[2]:
            return None
        digest = auth.digest(intake.domain)
        if intake.store.authorisation_used(digest) or not intake.first_hold(digest, expiry):
            return None
        return key
    except (KeyError, NmrstakeError):
        return None


def _fields_key(fields: dict[str, str]) -> tuple[int, str, str] | None:
    """(round, model, checksummed staker) named by the fields sent before the file, signed or not."""
    try:
        return parse_uint(fields["round"], "round"), check_model_name(fields["model"]), checksum_address(fields["staker"])
    except (KeyError, NmrstakeError):
        return None


class _Body:
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
        self.admitted: tuple[int, str, str] | None = None
        self.held_key: tuple[int, str, str] | None = None

    def on_file(self, fields: dict[str, str]) -> None:
        self.fields = fields

    async def _admit(self, fields: dict[str, str]) -> None:
        key = _fields_key(fields)
        if key is None:
            return  # receive names what is wrong once the body is in
        intake = self.ctx.intake
        # Counted in flight from now until the route ends (stored or refused by then).
        await run_in_threadpool(self.held.enter_context, intake.admitted(*key, self.declared))
        self.admitted = key
        if await run_in_threadpool(_upload_key, fields, intake, self.started) == key:
            await run_in_threadpool(self.held.enter_context, intake.exclusive(key))  # a database write
            self.held_key = key

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


def _operation_id(route: APIRoute) -> str:
    """The operationId of a route: its function's name (what a generated client calls it)."""
    return route.name


def _row_json(row: Any) -> dict[str, Any]:
    return {"model": row.model, "staker": row.staker, "stake": str(row.stake), "valid": row.valid,
            "reason": row.reason, "corr": row.corr, "mmc": row.mmc, "score": row.score, "fraction": row.fraction,
            "payout": str(row.payout), "burn": str(row.burn), "leaf_index": row.leaf_index}


_UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": schemas.UPLOAD_FORM_SCHEMA}},
    },
}

#: The media type of a file download, by its extension (published names and the store's carry the
#: format found in the content: `.parquet` for a Parquet file, `.csv` for text).
_MEDIA_TYPES = {".csv": "text/csv", ".json": "application/json"}
_PREDICTIONS_CONTENT = {
    "text/csv": {"schema": {"type": "string"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
}
_PUBLISHED_CONTENT = {
    "application/json": {"schema": {"anyOf": [{"$ref": "#/components/schemas/Manifest"},
                                              {"$ref": "#/components/schemas/MerkleTreeDump"}]}},
    **_PREDICTIONS_CONTENT,
}


def _file(path: Path, *, filename: str | None = None) -> FileResponse:
    """A file download with its real media type: text/csv, application/json or application/octet-stream."""
    return FileResponse(path, filename=filename, media_type=_MEDIA_TYPES.get(path.suffix, "application/octet-stream"))


def create_app(ctx: ServiceContext) -> FastAPI:
    """The FastAPI application of one deployment."""
    app = FastAPI(title="nmrstake tournament service", version=__version__, description=schemas.API_DESCRIPTION,
                  generate_unique_id_function=_operation_id)
    app.state.ctx = ctx

    def openapi() -> dict[str, Any]:
        """FastAPI's document, plus the schemas no route references by itself (the problem document,
        the published formats, the encodings a client needs)."""
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description,
                                   routes=app.routes)
            document.setdefault("components", {}).setdefault("schemas", {}).update(schemas.extra_schemas())
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    # ------------------------------------------------------------------ errors

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, exc: RequestError) -> JSONResponse:
        return problem(exc.status, exc.kind, exc.message, instance=request.url.path, field=exc.field)

    @app.exception_handler(NmrstakeError)
    async def _nmrstake_error(request: Request, exc: NmrstakeError) -> JSONResponse:
        if isinstance(exc, UnknownRoundError):
            return problem(404, "unknown-round", exc.message, instance=request.url.path)
        if isinstance(exc, ChainError):
            return problem(502, "chain-error", exc.message, instance=request.url.path)
        if isinstance(exc, InputError):  # e.g. a malformed published folder: the operator's, not the client's
            return problem(500, "bad-published-data", exc.message, instance=request.url.path)
        return problem(500, "misconfigured", exc.message, instance=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = exc.headers
        if exc.status_code == 405:
            # Starlette names the methods of the first route on the path; a path may have several.
            from starlette.routing import Match

            allowed: set[str] = set()
            for route in app.routes:
                if isinstance(route, APIRoute) and route.matches(request.scope)[0] is not Match.NONE:
                    allowed |= set(route.methods or ())
            if allowed:
                headers = {**(headers or {}), "Allow": ", ".join(sorted(allowed))}
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such resource: {request.method} {request.url.path}"
        return problem(exc.status_code, kind, detail, instance=request.url.path, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": ["request"], "msg": "invalid"}
        where = ".".join(str(x) for x in first.get("loc", [])[1:]) or "request"
        return problem(422, "invalid-field", f"{where}: {first.get('msg')}", instance=request.url.path, field=where)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        import logging

        logging.getLogger("nmrstake.service").exception("unexpected error on %s", request.url.path)
        return problem(500, "internal-error", f"{type(exc).__name__}: the service failed; see its log",
                       instance=request.url.path)

    # ------------------------------------------------------------------ health and info

    @app.get("/healthz", tags=["service"], summary="The chain connection", response_model=schemas.Health,
             responses=problems(503))
    def healthz() -> Any:
        try:
            block = ctx.chain(ctx.client.head)
            now = ctx.chain(ctx.client.chain_time)
        except Exception as exc:  # noqa: BLE001 - any RPC failure means unhealthy
            return problem(503, "chain-unavailable", f"the chain does not answer: {type(exc).__name__}: {str(exc)[:200]}")
        return {"status": "ok", "chain_id": ctx.intake.domain.chain_id, "block": block, "chain_time": now}

    @app.get("/v1/info", tags=["service"], summary="The deployment, the receipt signer and the upload rules",
             response_model=schemas.Info, responses=problems())
    def info() -> Any:
        from nmrstake.signing import RECEIPT_TYPES, UPLOAD_TYPES

        return {
            "api": "v1", "version": __version__, "chain_id": ctx.intake.domain.chain_id,
            "tournament": ctx.intake.domain.tournament, "token": str(ctx.client.token.address),
            "receipt_signer": ctx.intake.receipt_signer, "max_upload_bytes": ctx.intake.max_bytes,
            "eip712": {"domain": ctx.intake.domain.as_dict(), "types": {**UPLOAD_TYPES, **RECEIPT_TYPES}},
        }

    @app.get("/v1/deployment", tags=["service"],
             summary="The deployment served (addresses, blocks, code hashes), as `ape run deploy` recorded it",
             response_model=schemas.Deployment, responses=problems())
    def deployment() -> Any:
        import json

        return json.loads(ctx.client.deployment.to_json())

    # ------------------------------------------------------------------ uploads

    @app.post("/v1/submissions", status_code=201, tags=["submissions"], openapi_extra=_UPLOAD_SCHEMA,
              summary="Upload predictions for (round, model), signed by the staker; returns a signed receipt",
              response_model=schemas.Upload,
              responses=problems(400, 401, 403, 404, 408, 409, 411, 413, 415, 422, 429, 502, 503,
                                 s403="wrong-signer, cannot-stake", s404="unknown-round"))
    async def upload(request: Request) -> Any:
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
        with held:
            body = _Body(request, declared, ctx, held, started)
            parser = _UploadParser(request.headers, body.chunks(), max_files=1,
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
                return await _receive(form, body.held_key, body.admitted, started)
            finally:
                await form.close()

    async def _receive(form: Any, held_key: tuple[int, str, str] | None, admitted: tuple[int, str, str] | None,
                       started: float) -> Any:
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
        round_id = _round_arg(str(fields["round"]))

        def work() -> Any:
            stored = ctx.intake.receive(
                round_id=round_id, model=str(fields["model"]), staker=str(fields["staker"]),
                nonce=parse_uint(fields["nonce"], "nonce"), expiry=parse_uint(fields["expiry"], "expiry"),
                signature=str(fields["signature"]), source=upload_file.file, file_hash=file_hash, held=held_key,
                started_at=started, admitted=admitted)
            return describe(stored, ctx.intake.receipt_signer)

        return await run_in_threadpool(work)

    @app.get("/v1/rounds/{round_id}/submissions/{model}/{staker}", tags=["submissions"],
             summary="What the service received for (round, model, staker): hashes and times, never the file",
             response_model=schemas.Submission, responses=problems(404, 422, s404="no-upload"))
    def submission(round_id: RoundId, model: ModelLabel, staker: StakerAddress) -> Any:
        rid, m, who = round_id, model, staker
        uploads = ctx.intake.store.uploads(rid, m, who)
        if not uploads:
            raise RequestError(404, "no-upload", f"round {rid}: nothing received for model {m} of {who}")
        return {"round": rid, "model": m, "staker": who, "latest": describe(uploads[-1], ctx.intake.receipt_signer),
                "uploads": len(uploads),
                "history": [{"commitment": to_hex(u.file_hash), "received_at": u.received_at} for u in uploads]}

    @app.get("/v1/rounds/{round_id}/submissions/{model}/{staker}/file", tags=["submissions"],
             summary="The file a stake was scored with: only once the round's results are published",
             response_class=FileResponse,
             responses={200: {"description": "the file, byte for byte: CSV (text/csv) or Parquet "
                                             "(application/octet-stream)", "content": _PREDICTIONS_CONTENT},
                        **problems(403, 404, 422, s403="submission-private", s404="no-submission")})
    def submission_file(round_id: RoundId, model: ModelLabel, staker: StakerAddress) -> Any:
        rid, m, who = round_id, model, staker
        try:
            pub = ctx.published(rid)
        except RequestError:
            raise RequestError(403, "submission-private", f"round {rid}: submissions stay private until the round's "
                               "results are published") from None
        staked = any(r.model == m and checksum_address(r.staker) == who for r in pub.rows)
        path = pub.inputs.predictions.get((m, who)) or (pub.inputs.predictions.get(m) if staked else None)
        if path is None:
            raise RequestError(404, "no-submission", f"round {rid}: no published predictions for model {m} of {who}")
        return _file(Path(path), filename=Path(path).name)

    # ------------------------------------------------------------------ accounts, rounds and results

    @app.get("/v1/accounts/{address}", tags=["accounts"],
             summary="An address's NMR and ether, and its NMR allowance for the tournament (`nmrstake balance --api`)",
             response_model=schemas.Account, responses=problems(422, 502, 503))
    def account(address: AccountAddress) -> Any:
        who = address

        def read() -> dict[str, Any]:
            token, tournament = ctx.client.token, ctx.client.tournament
            return {"address": who, "nmr": str(int(token.balanceOf(who))),
                    "ether": str(int(ctx.client.provider.get_balance(who))),
                    "allowance": str(int(token.allowance(who, tournament.address))),
                    "tournament": str(tournament.address), "chain_time": ctx.client.now()}

        return ctx.chain(read)

    @app.get("/v1/rounds", tags=["rounds"], summary="Every round: state, times, parameters, totals, result",
             response_model=list[schemas.Round], responses=problems(502, 503))
    def rounds() -> Any:
        return [r.to_json() for r in ctx.chain(ctx.client.rounds)]

    @app.get("/v1/rounds/{round_id}", tags=["rounds"], summary="One round", response_model=schemas.RoundDetail,
             responses=problems(404, 422, 502, 503, s404="unknown-round"))
    def one_round(round_id: RoundId) -> Any:
        rid = round_id
        info = ctx.chain(ctx.client.round, rid)
        data = info.to_json()
        data["published"] = (ctx.layout.published(rid) / "manifest.json").is_file()
        return data

    @app.get("/v1/rounds/{round_id}/leaderboard", tags=["results"],
             summary="The rows of the round's published results; optionally sorted (sort, order) and searched (q)",
             response_model=schemas.Leaderboard, responses=problems(404, 422, s404="not-published"))
    def leaderboard(round_id: RoundId,
                    offset: Annotated[int, Query(description="the first row"), _schema(
                        {"type": "integer", "minimum": 0})] = 0,
                    limit: Annotated[int, Query(description="rows at most"), _schema(
                        {"type": "integer", "minimum": 1, "maximum": 10_000})] = 1000,
                    sort: Annotated[str | None, Query(description="the column to sort by (net: payout - burn); "
                                                      "without it and `q`, the published order"), _schema(
                        {"type": "string", "enum": list(SORT_KEYS)})] = None,
                    order: Annotated[str, Query(description="the order of `sort`"), _schema(
                        {"type": "string", "enum": ["asc", "desc"]})] = "asc",
                    q: Annotated[str | None, Query(description="only rows whose model or staker contains this "
                                                   "(case-insensitive)"), _schema(
                        {"type": "string", "maxLength": 100})] = None) -> Any:
        rid = round_id
        if offset < 0:
            raise RequestError(422, "invalid-field", f"offset: must be 0 or more, got {offset}", field="offset")
        if not 1 <= limit <= 10_000:
            raise RequestError(422, "invalid-field", f"limit: must be 1 to 10000, got {limit}", field="limit")
        pub = ctx.published(rid)
        rows, matched = app.state.dashboard.leaderboard(rid, offset=offset, limit=limit, sort=sort, order=order, q=q)
        return {"round": rid, "merkle_root": pub.merkle_root, "results_hash": pub.results_hash,
                "total": len(pub.rows), "matched": matched, "offset": offset, "rows": [_row_json(r) for r in rows]}

    @app.get("/v1/rounds/{round_id}/files", tags=["results"],
             summary="The published files, manifest.json first, each with its keccak-256",
             response_model=schemas.FileListing, responses=problems(404, 422, s404="not-published"))
    def files(round_id: RoundId) -> Any:
        rid = round_id
        pub = ctx.published(rid)
        listed = [{"path": "manifest.json", "keccak": pub.results_hash, "size": (pub.path / "manifest.json").stat().st_size}]
        listed += [{"path": name, "keccak": digest, "size": (pub.path / name).stat().st_size}
                   for name, digest in sorted(pub.manifest.get("files", {}).items())]
        listed += [{"path": i["path"], "keccak": i["keccak"], "size": i["size"]} for i in pub.manifest.get("inputs", [])]
        return {"round": rid, "results_hash": pub.results_hash, "files": listed}

    @app.get("/v1/rounds/{round_id}/files/{path:path}", tags=["results"], summary="One published file, byte for byte",
             response_class=FileResponse,
             responses={200: {"description": "the file, byte for byte: manifest.json and tree.json as JSON, CSV files "
                                             "as text/csv, Parquet files as application/octet-stream",
                              "content": _PUBLISHED_CONTENT},
                        **problems(404, 422, s404="not-published, no-such-file")})
    def published_file(round_id: RoundId, path: Annotated[str, PathParam(
            description="the file's path in the round's folder, as the listing gives it: it may hold '/' "
                        "(inputs/predictions/my_model.csv), sent as is or as %2F", min_length=1,
            examples=["manifest.json", "inputs/targets.csv"])]) -> Any:
        rid = round_id
        pub = ctx.published(rid)
        allowed = {"manifest.json", *pub.manifest.get("files", {}), *(i["path"] for i in pub.manifest.get("inputs", []))}
        if path not in allowed:
            raise RequestError(404, "no-such-file", f"round {rid}: {path!r} is not a published file", field="path")
        if not (pub.path / path).is_file():
            raise InputError(f"round {rid}: {path} is listed in the manifest but missing from the published folder")
        return _file(pub.path / path)

    @app.get("/v1/rounds/{round_id}/proofs/{model}/{staker}", tags=["results"],
             summary="The claim of (round, model, staker): stake, payout, burn and the Merkle proof",
             response_model=schemas.Proof, responses=problems(404, 422, s404="not-published, no-stake"))
    def proof(round_id: RoundId, model: ModelLabel, staker: StakerAddress) -> Any:
        rid, m, who = round_id, model, staker
        pub = ctx.published(rid)
        for row in pub.rows:
            if row.model == m and checksum_address(row.staker) == who:
                return {"round": rid, "merkle_root": pub.merkle_root, "results_hash": pub.results_hash,
                        **_row_json(row), "proof": row.proof}
        raise RequestError(404, "no-stake", f"round {rid}: the published results have no stake of model {m} by {who}")

    from nmrstake.service.dashboard import mount_dashboard  # the web pages and their JSON routes

    mount_dashboard(app, ctx)
    from nmrstake.service.faucet import mount_faucet  # POST /v1/faucet: test NMR (off unless configured)

    mount_faucet(app, ctx)
    from nmrstake.service.attestations import mount_attestations  # the oracle committee's attestations

    mount_attestations(app, ctx)
    return app


__all__ = ["ServiceContext", "create_app", "problem"]
