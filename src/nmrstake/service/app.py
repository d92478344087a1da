"""The tournament service's HTTP API (FastAPI, served by uvicorn): ``/v1/...`` and ``/healthz``.

What the chain knows (rounds, stakes, the posted root) is read from the chain on each request,
but for the rounds, read from the event index (`nmrstake.index`) where the service keeps one;
what the oracle published is read from its published folders; uploads come from the submission
store. Nothing the chain knows is kept twice. Every error is an RFC 9457 problem document
(``application/problem+json``) with a status that says what went wrong; see docs/service.md.

`create_app` builds one deployment's app: its state (``app.state``: the ServiceContext, the
dashboard's Dashboard, the committee's attestations), the routers of :mod:`nmrstake.service.routes`
(one per resource), the exception handlers that turn every error into a problem document, and the
OpenAPI document with the schemas no route references by itself.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from nmrstake import __version__
from nmrstake.errors import ChainError, InputError, NmrstakeError, RequestError, UnknownRoundError
from nmrstake.service import schemas
from nmrstake.service.context import ServiceContext
from nmrstake.service.dashboard import STATIC, WATCH_SECONDS, Dashboard
from nmrstake.service.routes import ROUTERS
from nmrstake.service.routes.attestations import Committee
from nmrstake.service.routes.pages import compile_templates, is_page_path, not_found_page
from nmrstake.service.schemas import problem

#: Seconds a client is told to wait (Retry-After) when the service's database does not answer.
DATABASE_RETRY_AFTER = 5


def _operation_id(route: APIRoute) -> str:
    """The operationId of a route: its function's name (what a generated client calls it)."""
    return route.name


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """As long as the app runs, a thread reads the published rounds ahead of their first visitor
    (Dashboard.watch), after compiling the pages' templates."""
    stop = threading.Event()
    dash: Dashboard = app.state.dashboard

    def read_ahead() -> None:
        compile_templates()
        dash.watch(stop, WATCH_SECONDS)

    threading.Thread(target=read_ahead, name="dashboard-watch", daemon=True).start()
    try:
        yield
    finally:
        stop.set()


def create_app(ctx: ServiceContext) -> FastAPI:
    """The FastAPI application of one deployment."""
    app = FastAPI(title="nmrstake tournament service", version=__version__, description=schemas.API_DESCRIPTION,
                  generate_unique_id_function=_operation_id, lifespan=_lifespan)
    app.state.ctx = ctx
    app.state.dashboard = Dashboard(ctx)
    app.state.committee = Committee(ctx)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

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

    async def _database_away(request: Request, exc: Exception) -> JSONResponse:
        """The service's database (SQLite, or PostgreSQL shared by the replicas) does not answer:
        the request may succeed on a retry, so a 503, never a 500; nothing was stored (the
        transaction did not commit)."""
        import logging

        logging.getLogger("nmrstake.service").warning("the database does not answer on %s: %s",
                                                      request.url.path, exc)
        return problem(503, "database-unavailable", f"the service's database does not answer "
                       f"({type(exc).__name__}); try again shortly", instance=request.url.path,
                       headers={"Retry-After": str(DATABASE_RETRY_AFTER)})

    for away in (OperationalError, InterfaceError, PoolTimeout):  # not IntegrityError: that is a bug, a 500
        app.add_exception_handler(away, _database_away)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and exc.detail == "Not Found" and is_page_path(request):
            return not_found_page(ctx, request)  # a reader's mistyped path: a page, not JSON
        kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = exc.headers
        if exc.status_code == 405:
            # Starlette names the methods of the first route on the path; a path may have several.
            from starlette.routing import Match

            allowed: set[str] = set()
            for route in iter_route_contexts(app.routes):  # the routers' routes, as included
                if isinstance(route.original_route, APIRoute) and route.matches(request.scope)[0] is not Match.NONE:
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

    return app


__all__ = ["ServiceContext", "create_app", "problem"]
