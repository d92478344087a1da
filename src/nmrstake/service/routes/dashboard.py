"""The dashboard's JSON (docs/dashboard.md): a round's verification against the chain, its
transactions and its chart; every model's all-time standing; a model's and a staker's stakes
across rounds. The numbers come from
the app's `nmrstake.service.dashboard.Dashboard`, which the pages (`pages`) read too; the rounds,
transactions and histories from the event index where the service keeps one (`ServiceContext.index`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from nmrstake.service import schemas
from nmrstake.service.args import ModelLabel, RoundId, StakerAddress
from nmrstake.service.routes.deps import Context, Dash
from nmrstake.service.schemas import problems

router = APIRouter(tags=["dashboard"])


@router.get("/v1/rounds/{round_id}/verification",
            summary="Whether the published result is the one on chain (manifest hash, Merkle root, stake count)",
            response_model=schemas.Verification, response_model_exclude_unset=True,
            responses=problems(404, 422, 502, 503, s404="unknown-round"))
def verification(round_id: RoundId, ctx: Context, dash: Dash) -> Any:
    info = ctx.round(round_id)
    return dash.verification(info)


@router.get("/v1/rounds/{round_id}/transactions",
            summary="The transactions of the round's events: opened, funded, result posted or rejected, settled",
            response_model=schemas.Transactions, responses=problems(404, 422, 502, 503, s404="unknown-round"))
def transactions(round_id: RoundId, ctx: Context, dash: Dash) -> Any:
    info = ctx.round(round_id)
    return {"round": info.round_id, "explorer": dash.explorer, "transactions": dash.transactions(info)}


@router.get("/v1/rounds/{round_id}/chart",
            summary="Score and net result (payout - burn, NMR) of every scored stake, by score",
            response_model=schemas.Chart, responses=problems(404, 422, s404="not-published"))
def chart(round_id: RoundId, dash: Dash) -> Any:
    return dash.chart(round_id)


@router.get("/v1/standings",
            summary="Every model that ever staked, all rounds: rounds, total staked, payout, burn, net, mean scores",
            response_model=schemas.Standings, responses=problems(502, 503))
def standings(dash: Dash) -> Any:
    return dash.standings()


@router.get("/v1/models/{model}",
            summary="A model's stakes across rounds (every staker of that name), what is claimable, strategy settings",
            response_model=schemas.ModelHistory, responses=problems(422, 502, 503))
def model_history(model: ModelLabel, dash: Dash) -> Any:
    return dash.model_json(model)


@router.get("/v1/stakers/{staker}",
            summary="A staker's stakes across rounds, what is claimable now, its allocation strategy's settings",
            response_model=schemas.StakerHistory, responses=problems(422, 502, 503))
def staker_history(staker: StakerAddress, dash: Dash) -> Any:
    return dash.staker_json(staker)


__all__ = ["router"]
