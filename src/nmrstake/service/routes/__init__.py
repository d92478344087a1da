"""The tournament service's routes: one FastAPI `APIRouter` per resource, which
`nmrstake.service.app.create_app` includes in the order of `ROUTERS` (that order is the order of
the paths in the OpenAPI document).

* `service`: ``/healthz``, ``/v1/info``, ``/v1/deployment``;
* `submissions`: the upload (``POST /v1/submissions``) and what the service received;
* `accounts`: an address's balances; `rounds`: the rounds on chain;
* `results`: a published round's leaderboard, files and proofs;
* `dashboard`: the dashboard's JSON; `pages`: its web pages and the chart library's files;
* `faucet`: ``POST /v1/faucet``; `attestations`: the oracle committee's attestations;
* `webhooks`: alerts: a participant's webhooks, their deliveries, the Atom feeds.

The routes take what they serve through dependencies (`deps`: the ServiceContext and the
Dashboard, from ``request.app.state``) and their path arguments checked (`nmrstake.service.args`:
`RoundId`, `ModelLabel`, `StakerAddress`, `AccountAddress`). A router holds no state of its own:
the same module-level router serves every app built.
"""

from __future__ import annotations

from fastapi import APIRouter

from nmrstake.service.routes import (
    accounts,
    attestations,
    dashboard,
    faucet,
    pages,
    results,
    rounds,
    service,
    submissions,
    webhooks,
)

#: Every router, in the order the app includes them.
ROUTERS: tuple[APIRouter, ...] = (service.router, submissions.router, accounts.router, rounds.router, results.router,
                                  dashboard.router, pages.router, faucet.router, attestations.router,
                                  webhooks.router)

__all__ = ["ROUTERS"]
