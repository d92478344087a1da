"""Alerts (docs/service.md, "Alerts"): a participant's webhooks, registered and deleted with a
request its address signs (`nmrstake.signing.WebhookRequest`), and their deliveries' statuses;
the Atom feeds of a model's and an address's alerts.

What a participant sends is checked here before anything is stored: the address (422), the URL
(`nmrstake.service.alerts.check_url`: a 422 naming ``url`` for a scheme, credentials or a private
target refused), the expiry (401), the signature (401) and its signer (403 naming both addresses);
the store then uses the signature once (409) and bounds the hooks of an address (429). No route
calls a webhook: the worker does, in a thread of its own.
"""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from nmrstake.errors import InputError, RequestError
from nmrstake.intake import parse_uint
from nmrstake.service import schemas
from nmrstake.service.alerts import AlertSettings, check_url, delivery_json, shared_cache
from nmrstake.service.args import AccountAddress, ModelLabel, model_arg, staker_arg
from nmrstake.service.context import ServiceContext
from nmrstake.service.feeds import CONTENT_TYPE, atom_feed
from nmrstake.service.routes.deps import Context
from nmrstake.signing import WebhookRequest
from nmrstake.storage.webhooks import Webhook, WebhookRefused, WebhookStore

router = APIRouter(tags=["alerts"])

#: The longest a registration's signature may be valid for (its digest is kept until it expires).
MAX_LIFETIME = 86_400

_REFUSED = {"signature-reused": 409, "webhook-exists": 409, "too-many-webhooks": 429, "no-such-webhook": 404}


def _settings(ctx: ServiceContext) -> AlertSettings:
    settings: AlertSettings = ctx.alerts or AlertSettings()
    return settings


def _store(ctx: ServiceContext) -> WebhookStore:
    if ctx.webhooks is None or ctx.index is None:
        raise RequestError(404, "alerts-off", "this service sends no alerts (it keeps no event index: a chain "
                           "without a node URL)")
    store: WebhookStore = ctx.webhooks
    return store


def _checked(ctx: ServiceContext, body: schemas.WebhookRequestBody, action: str) -> tuple[WebhookRequest, bytes]:
    """The request `body` asks, checked (see the module); with its EIP-712 digest."""
    address = staker_arg(body.address, field="address")
    try:
        check_url(body.url, allow_private=_settings(ctx).allow_private)
    except InputError as exc:
        raise RequestError(422, "invalid-field", exc.message, field="url") from None
    nonce, expiry = parse_uint(body.nonce, "nonce"), parse_uint(body.expiry, "expiry")
    models = tuple(sorted({model_arg(m) for m in body.models}))
    now = int(time.time())
    if expiry < now:
        raise RequestError(401, "signature-expired", f"expiry: the request expired at {expiry} (now {now}); sign a "
                           "new one", field="expiry")
    if expiry > now + MAX_LIFETIME:
        raise RequestError(422, "invalid-field", f"expiry: at most {MAX_LIFETIME} s from now", field="expiry")
    request = WebhookRequest(address, action, body.url, nonce, expiry, models)
    domain = ctx.intake.domain
    try:
        signer = request.signer(domain, body.signature)
    except InputError as exc:
        raise RequestError(401, "bad-signature", exc.message, field="signature") from None
    if signer != address:
        raise RequestError(403, "wrong-signer", f"signature: signed by {signer}, not by {address}: an address "
                           "registers webhooks only for itself", field="signature")
    return request, request.digest(domain)


def _refused(exc: WebhookRefused) -> RequestError:
    return RequestError(_REFUSED.get(exc.kind, 409), exc.kind, exc.message)


def _info(hook: Webhook, url: str) -> dict[str, Any]:
    return {"id": hook.hook_id, "address": hook.address, "url": url, "models": list(hook.models),
            "created_at": hook.created_at}


def _shown(url: str) -> str:
    """A webhook's URL as listed to anyone: its origin only (a path or query may hold a secret)."""
    parts = urllib.parse.urlsplit(url)
    tail = "/…" if parts.path not in ("", "/") or parts.query else "/"
    return f"{parts.scheme}://{parts.netloc}{tail}"


@router.post("/v1/webhooks", status_code=201, response_model=schemas.WebhookInfo,
             summary="Register a webhook for the signer's own address's alerts (a signed Webhook request)",
             responses=schemas.problems(400, 401, 403, 404, 409, 422, 429, 503,
                                        s401="bad-signature, signature-expired",
                                        s403="wrong-signer: signed by another address than the one named",
                                        s404="alerts-off", s409="signature-reused, webhook-exists",
                                        s429="too-many-webhooks"))
async def register_webhook(body: schemas.WebhookRequestBody, ctx: Context) -> Any:
    store = _store(ctx)
    request, digest = _checked(ctx, body, "register")

    def work() -> Any:
        from nmrstake.index import queries

        index = ctx.index
        assert index is not None
        ctx.indexed(index.fresh)
        state = ctx.indexed(queries.status, index.indexer.engine, index.indexer.stream)
        try:
            hook = store.register(request.account, request.url, digest=digest, expiry=request.expiry,
                                  since_block=state.cursor if state else 0, now=int(time.time()),
                                  models=request.models)
        except WebhookRefused as exc:
            raise _refused(exc) from None
        return _info(hook, hook.url)

    return await run_in_threadpool(work)


@router.delete("/v1/webhooks/{address}", response_model=schemas.WebhookInfo,
               summary="Delete a webhook of the address (a signed Webhook request, action \"delete\")",
               responses=schemas.problems(400, 401, 403, 404, 409, 422,
                                          s401="bad-signature, signature-expired",
                                          s403="wrong-signer: signed by another address than the one named",
                                          s404="alerts-off, no-such-webhook", s409="signature-reused"))
async def delete_webhook(address: AccountAddress, body: schemas.WebhookRequestBody, ctx: Context) -> Any:
    store = _store(ctx)
    if staker_arg(body.address, field="address") != address:
        raise RequestError(422, "invalid-field", f"address: the body names {body.address}, the path {address}",
                           field="address")
    request, digest = _checked(ctx, body, "delete")

    def work() -> Any:
        try:
            hook = store.delete(request.account, request.url, digest=digest, expiry=request.expiry)
        except WebhookRefused as exc:
            raise _refused(exc) from None
        return _info(hook, hook.url)

    return await run_in_threadpool(work)


@router.get("/v1/webhooks/{address}", response_model=schemas.WebhookList,
            summary="An address's webhooks (their URLs' origins) and their latest deliveries with their status",
            responses=schemas.problems(404, 422, s404="alerts-off"))
def list_webhooks(address: AccountAddress, ctx: Context) -> Any:
    store = _store(ctx)
    hooks = store.hooks(address)
    deliveries = store.deliveries([h.hook_id for h in hooks])
    return {"address": address, "signer": ctx.intake.receipt_signer,
            "webhooks": [_info(h, _shown(h.url)) for h in hooks],
            "deliveries": [delivery_json(d) for d in deliveries]}


_ATOM: dict[int | str, dict[str, Any]] = {200: {"description": "an Atom 1.0 feed (RFC 4287)",
               "content": {"application/atom+xml": {"schema": {"type": "string"}}}}}


def _feed(request: Request, ctx: ServiceContext, title: str, what: str, **which: str) -> Response:
    if ctx.index is None:
        raise RequestError(404, "alerts-off", "this service keeps no event index: no feeds")
    events = ctx.indexed(shared_cache(ctx).events, ctx, hours=_settings(ctx).hours, **which)
    domain = ctx.intake.domain
    body = atom_feed(events, title=title, feed_id=f"urn:nmrstake:{domain.chain_id}:{domain.tournament.lower()}:{what}",
                     self_url=str(request.url), chain_id=domain.chain_id, tournament=domain.tournament)
    return Response(body, media_type=CONTENT_TYPE)


@router.get("/v1/feeds/models/{model}.atom", response_class=Response, responses={**_ATOM,
            **schemas.problems(404, 422, 503, s404="alerts-off")},
            summary="The Atom feed of a model's alerts (rounds opened, missing uploads, results, claims)")
def model_feed(model: ModelLabel, request: Request, ctx: Context) -> Any:
    return _feed(request, ctx, f"nmrstake: model {model}", f"model:{model}", model=model)


@router.get("/v1/feeds/addresses/{address}.atom", response_class=Response, responses={**_ATOM,
            **schemas.problems(404, 422, 503, s404="alerts-off")},
            summary="The Atom feed of an address's alerts (rounds opened, missing uploads, results, claims)")
def address_feed(address: AccountAddress, request: Request, ctx: Context) -> Any:
    return _feed(request, ctx, f"nmrstake: {address}", f"address:{address}", address=address)


__all__ = ["router"]
