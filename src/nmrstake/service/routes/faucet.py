"""``POST /v1/faucet``: test NMR and ether for gas to an address, from the app's faucet
(`nmrstake.service.faucet.Faucet`, ``ctx.faucet``): a 404 ``faucet-off`` when the service has
none or it is off, a 429 ``faucet-limit`` with a ``Retry-After`` when the address or the hour had
its share."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from nmrstake.errors import RequestError
from nmrstake.service import schemas
from nmrstake.service.args import staker_arg
from nmrstake.service.faucet import Faucet, _Limited
from nmrstake.service.routes.deps import Context

router = APIRouter(tags=["accounts"])


@router.post("/v1/faucet",
             summary="Test NMR and ether for gas to an address (local and test deployments; once a day per address)",
             response_model=schemas.FaucetGrant,
             responses=schemas.problems(400, 404, 422, 429, 502, 503,
                                        s400="http-error: the body is not JSON", s404="faucet-off: this service has no "
                                        "faucet (none configured, mainnet, or a token it cannot mint)",
                                        s429="faucet-limit: the address had its grant this period, or the faucet "
                                        "gave its hourly maximum; Retry-After says when to come back"))
async def faucet(body: schemas.FaucetRequest, ctx: Context) -> Any:
    give: Faucet | None = ctx.faucet
    if give is None or give.off is not None:
        why = give.off if give is not None else "the operator started it without --faucet-account or --faucet-wallet"
        raise RequestError(404, "faucet-off", f"this service gives no test NMR: {why}")
    address = staker_arg(body.address, field="address")
    try:
        granted = await run_in_threadpool(give.give, address)
    except _Limited as exc:
        return schemas.problem(429, exc.kind, exc.message, instance="/v1/faucet", field=exc.field,
                               headers={"Retry-After": str(max(1, exc.back_at - int(time.time())))})
    return granted.to_json()


__all__ = ["router"]
