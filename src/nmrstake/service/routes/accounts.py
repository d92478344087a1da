"""Accounts: an address's NMR and ether and its NMR allowance for the tournament
(``/v1/accounts/{address}``, what `nmrstake balance --api` shows). The faucet, tagged with the
accounts too, is `nmrstake.service.routes.faucet`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from nmrstake.service import schemas
from nmrstake.service.args import AccountAddress
from nmrstake.service.routes.deps import Context
from nmrstake.service.schemas import problems

router = APIRouter(tags=["accounts"])


@router.get("/v1/accounts/{address}",
            summary="An address's NMR and ether, and its NMR allowance for the tournament (`nmrstake balance --api`)",
            response_model=schemas.Account, responses=problems(422, 502, 503))
def account(address: AccountAddress, ctx: Context) -> Any:
    who = address

    def read() -> dict[str, Any]:
        token, tournament = ctx.client.token, ctx.client.tournament
        return {"address": who, "nmr": str(int(token.balanceOf(who))),
                "ether": str(int(ctx.client.provider.get_balance(who))),
                "allowance": str(int(token.allowance(who, tournament.address))),
                "tournament": str(tournament.address), "chain_time": ctx.client.now()}

    return ctx.chain(read)


__all__ = ["router"]
