"""The service itself: ``/healthz`` (the chain connection), ``/v1/info`` (the deployment, the
receipt signer, the upload rules) and ``/v1/deployment`` (as `ape run deploy` recorded it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from nmrstake import __version__
from nmrstake.service import schemas
from nmrstake.service.routes.deps import Context
from nmrstake.service.schemas import problem, problems

router = APIRouter(tags=["service"])


@router.get("/healthz", summary="The chain connection", response_model=schemas.Health, responses=problems(503))
def healthz(ctx: Context) -> Any:
    try:
        block = ctx.chain(ctx.client.head)
        now = ctx.chain(ctx.client.chain_time)
    except Exception as exc:  # noqa: BLE001 - any RPC failure means unhealthy
        return problem(503, "chain-unavailable", f"the chain does not answer: {type(exc).__name__}: {str(exc)[:200]}")
    return {"status": "ok", "chain_id": ctx.intake.domain.chain_id, "block": block, "chain_time": now}


@router.get("/v1/info", summary="The deployment, the receipt signer and the upload rules",
            response_model=schemas.Info, responses=problems())
def info(ctx: Context) -> Any:
    from nmrstake.signing import RECEIPT_TYPES, UPLOAD_TYPES

    return {
        "api": "v1", "version": __version__, "chain_id": ctx.intake.domain.chain_id,
        "tournament": ctx.intake.domain.tournament, "token": str(ctx.client.token.address),
        "receipt_signer": ctx.intake.receipt_signer, "max_upload_bytes": ctx.intake.max_bytes,
        "eip712": {"domain": ctx.intake.domain.as_dict(), "types": {**UPLOAD_TYPES, **RECEIPT_TYPES}},
    }


@router.get("/v1/deployment", summary="The deployment served (addresses, blocks, code hashes), as `ape run deploy` "
            "recorded it", response_model=schemas.Deployment, responses=problems())
def deployment(ctx: Context) -> Any:
    import json

    return json.loads(ctx.client.deployment.to_json())


__all__ = ["router"]
