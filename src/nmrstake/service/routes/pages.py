"""The dashboard's web pages, server-rendered from the Jinja2 templates in the service's
``templates/`` (``/``, ``/standings``, ``/rounds/{id}``, ``/models/{name}``, ``/stakers/{address}``),
and the chart library's files (``/static/vendor/...``). Each page carries the Content-Security-Policy
of `nmrstake.service.dashboard.CSP` (this origin only); none is in the OpenAPI document. A page that
cannot be shown is an HTML error page with the status a JSON route would answer, and a path that is
no page (outside the API's ``/v1/`` and ``/static/``) an HTML 404 page (`not_found_page`, which the
app's 404 handler answers with; see `is_page_path`).

The rest of ``/static/`` is the package's ``static/`` folder, mounted by the app.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from nmrstake.errors import NmrstakeError, RequestError, UnknownRoundError
from nmrstake.service.args import model_arg, round_arg, staker_arg
from nmrstake.service.context import ServiceContext
from nmrstake.service.dashboard import CSP, PAGE_SIZE, PAGE_TEMPLATES, STAKES_SHOWN, TEMPLATES, VENDOR_FILES, vendor_dir
from nmrstake.service.routes.deps import Context, Dash

if TYPE_CHECKING:
    from jinja2 import Environment

router = APIRouter(include_in_schema=False)


@cache
def templates() -> Environment:
    """The pages' templates and their filters, one environment for the process (the templates are
    the package's, the same for every app)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from nmrstake import __version__
    from nmrstake.rounds import NO_THRESHOLD
    from nmrstake.service.dashboard import duration_text, float_text, nmr_exact, nmr_fixed, nmr_short
    from nmrstake.tournament import iso_time

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["nmr"] = nmr_fixed
    env.filters["nmr_trim"] = nmr_short
    env.filters["nmr_exact"] = nmr_exact
    env.filters["num"] = float_text
    env.filters["duration"] = duration_text
    env.filters["iso"] = iso_time
    env.globals["version"] = __version__
    env.globals["NO_THRESHOLD"] = NO_THRESHOLD
    return env


def compile_templates() -> None:
    """Compile every page's template now (the app's read-ahead thread does it when the service
    starts) rather than on a page's first view."""
    for name in PAGE_TEMPLATES:
        templates().get_template(name)


def _page(ctx: ServiceContext, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = templates().get_template(name).render(chain_id=ctx.intake.domain.chain_id,
                                                 tournament=ctx.intake.domain.tournament, **values)
    return HTMLResponse(html, status_code=status, headers={
        "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store"})


def _error_page(ctx: ServiceContext, exc: NmrstakeError, what: str) -> HTMLResponse:
    if isinstance(exc, RequestError):
        status = exc.status
    else:  # a round never opened, whether the chain or the event index says so, is not found
        status = 404 if isinstance(exc, UnknownRoundError) or "does not exist" in exc.message else 500
    return _page(ctx, "error.html", status=status, title=what, message=exc.message)


#: What the header's search box takes for a round: "12", "#12", "round 12" (not a model's name).
ROUND_QUERY = re.compile(r"(?:round\s+|#\s*)?([0-9]{1,18})", re.IGNORECASE)
#: Paths that are not pages: the API's and the static files'; a 404 there stays a JSON problem.
API_PREFIXES = ("/v1/", "/static/")
API_PATHS = ("/openapi.json", "/healthz", "/docs", "/redoc")


def search_target(text: str) -> str:
    """Where the header's search box sends `text`: a round number to the round's page, an address
    (0x...) to the staker's page, anything else to the model's page (a model id, 0x and 64 hex
    digits, is a model's label)."""
    target = text.strip()
    found = ROUND_QUERY.fullmatch(target)
    if found:
        return f"/rounds/{int(found.group(1))}"
    if target.lower().startswith("0x") and len(target) != 66:
        return quote(f"/stakers/{target}")
    return quote(f"/models/{target.lower()}")


def is_page_path(request: Request) -> bool:
    """Whether a path no route answers is a reader's (a browser's): not the API's (``/v1/...``,
    the OpenAPI document, the health check), not a static file's, and asked for with a GET or
    HEAD by a client that does not ask for JSON only."""
    path = request.url.path
    if request.method not in ("GET", "HEAD") or path.startswith(API_PREFIXES) or path in API_PATHS:
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept or "json" not in accept


def not_found_page(ctx: ServiceContext, request: Request) -> HTMLResponse:
    """The HTML 404 page of a path that is no page."""
    return _page(ctx, "error.html", status=404, title="Page not found",
                 message=f"There is no page at {request.url.path}.", not_found=True)


@router.get("/", response_class=HTMLResponse)
def rounds_page(ctx: Context, dash: Dash, to: str | None = None) -> Any:
    if to and to.strip():  # the header's box: a round's number, a staker's address or a model's name
        return RedirectResponse(search_target(to), status_code=303)
    infos = ctx.rounds()
    rounds = [{"info": i, "json": i.to_json(), "verification": dash.verification(i)} for i in infos]
    rounds.reverse()  # the newest first
    return _page(ctx, "rounds.html", title="Rounds", rounds=rounds, whole=dash.tournament_view(infos))


@router.get("/standings", response_class=HTMLResponse)
def standings_page(ctx: Context, dash: Dash) -> Any:
    try:
        data = dash.standings()
    except NmrstakeError as exc:
        return _error_page(ctx, exc, "Standings")
    return _page(ctx, "standings.html", title="All-time standings", data=data)


@router.get("/rounds/{round_id}", response_class=HTMLResponse)
def round_page(round_id: str, ctx: Context, dash: Dash, rows: int = PAGE_SIZE) -> Any:
    try:
        info = ctx.round(round_arg(round_id))  # the event index's, where the service keeps one
    except NmrstakeError as exc:
        return _error_page(ctx, exc, f"Round {round_id}")
    pub = dash.published_or_none(info.round_id)
    return _page(ctx, "round.html", title=f"Round {info.round_id}", info=info, round=info.to_json(),
                 page_size=min(max(rows, 1), 1000),
                 verification=dash.verification(info), transactions=dash.transactions(info),
                 files=dash.files(info.round_id), pub=pub, explorer=dash.explorer,
                 committee=dash.committee_view(info), disputes=dash.disputes_view(info),
                 clock=dash.round_clock(info), staked=dash.round_stakes(info.round_id) if pub is None else [],
                 stakes_shown=STAKES_SHOWN)


@router.get("/models/{model}", response_class=HTMLResponse)
def model_page(model: str, ctx: Context, dash: Dash) -> Any:
    try:
        data = dash.model_json(model_arg(model))
    except NmrstakeError as exc:
        return _error_page(ctx, exc, f"Model {model}")
    return _page(ctx, "history.html", title=f"Model {data['model']}", kind="model", data=data)


@router.get("/stakers/{staker}", response_class=HTMLResponse)
def staker_page(staker: str, ctx: Context, dash: Dash) -> Any:
    try:
        data = dash.staker_json(staker_arg(staker))
    except NmrstakeError as exc:
        return _error_page(ctx, exc, f"Staker {staker}")
    return _page(ctx, "history.html", title=f"Staker {data['staker']}", kind="staker", data=data)


@router.get("/static/vendor/{name}")
def vendor(name: str) -> Any:
    folder = vendor_dir()
    if name not in VENDOR_FILES:
        raise RequestError(404, "not-found", f"no such resource: GET /static/vendor/{name}")
    if folder is None:
        raise RequestError(500, "misconfigured", "the chart library (npm package uplot) is not installed: run "
                           "`make install`, which copies it into the package's static/vendor/ folder")
    return FileResponse(folder / name, headers={"Cache-Control": "public, max-age=86400"})


__all__ = ["compile_templates", "is_page_path", "not_found_page", "router", "search_target", "templates"]
