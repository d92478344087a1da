"""Dependencies that give a route what its app serves, from ``request.app.state`` (set by
`nmrstake.service.app.create_app`): the ServiceContext (`Context`) and the dashboard's reader
and caches (`Dash`). A route names them in its signature (``ctx: Context``) rather than closing
over them, so that one module-level router serves any app; FastAPI leaves them out of the
OpenAPI document, which names only the request's own parameters.

The path arguments' dependencies (`RoundId` and the others) are in `nmrstake.service.args`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from nmrstake.service.context import ServiceContext
from nmrstake.service.dashboard import Dashboard


async def service_context(request: Request) -> ServiceContext:
    """The app's ServiceContext (async: no thread is taken to read an attribute)."""
    ctx: ServiceContext = request.app.state.ctx
    return ctx


async def dashboard(request: Request) -> Dashboard:
    """The app's Dashboard: its readings of the published rounds, shared by the pages and the routes."""
    dash: Dashboard = request.app.state.dashboard
    return dash


#: The app's ServiceContext.
Context = Annotated[ServiceContext, Depends(service_context)]
#: The app's Dashboard.
Dash = Annotated[Dashboard, Depends(dashboard)]

__all__ = ["Context", "Dash", "dashboard", "service_context"]
