"""Rounds, as the chain has them: every round (``/v1/rounds``) and one (``/v1/rounds/{round_id}``,
with whether its results are published). What was published for a round is
`nmrstake.service.routes.results`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from nmrstake.service import schemas
from nmrstake.service.args import RoundId
from nmrstake.service.routes.deps import Context
from nmrstake.service.schemas import problems

router = APIRouter(tags=["rounds"])


@router.get("/v1/rounds", summary="Every round: state, times, parameters, totals, result",
            response_model=list[schemas.Round], responses=problems(502, 503))
def rounds(ctx: Context) -> Any:
    return [r.to_json() for r in ctx.rounds()]


@router.get("/v1/rounds/{round_id}", summary="One round", response_model=schemas.RoundDetail,
            responses=problems(404, 422, 502, 503, s404="unknown-round"))
def one_round(round_id: RoundId, ctx: Context) -> Any:
    rid = round_id
    info = ctx.round(rid)
    data = info.to_json()
    data["published"] = ctx.results.is_published(rid)
    return data


__all__ = ["router"]
