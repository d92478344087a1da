"""The token walk-through: deploy, mint, transfer, permit, burn, with balances and supply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nmrstake.amounts import format_nmr
from nmrstake.deploy import deploy, deployments_dir
from nmrstake.permit import sign_token_permit

WEI = 10**18


def run_token_demo(project: Any, echo: Callable[[str], None] = print) -> dict[str, Any]:
    from ape import accounts, chain

    owner, alice, bob, carol = accounts.test_accounts[:4]
    dep, path = deploy(project, owner, directory=deployments_dir(project.path), log=echo)
    token = project.NMR.at(dep.address("NMR"))
    supply_before = token.totalSupply()

    def show(step: str) -> None:
        echo(f"\n{step}")
        echo(f"  {'account':<8} {'address':<44} {'NMR':>14}")
        for label, acct in (("alice", alice), ("bob", bob), ("carol", carol)):
            echo(f"  {label:<8} {acct.address:<44} {format_nmr(token.balanceOf(acct)):>14}")
        echo(f"  totalSupply {format_nmr(token.totalSupply())} NMR (cap {format_nmr(token.cap())})")

    token.mint(alice, 100 * WEI, sender=owner)
    show("1. owner mints 100 NMR to alice")
    token.transfer(bob, 30 * WEI, sender=alice)
    show("2. alice transfers 30 NMR to bob")
    permit = sign_token_permit(token, alice.private_key, alice.address, carol.address, 20 * WEI,
                               chain.pending_timestamp + 3600)
    token.permit(permit.owner, permit.spender, permit.value, permit.deadline, permit.v, permit.r, permit.s,
                 sender=carol)
    token.transferFrom(alice, carol, 20 * WEI, sender=carol)
    show("3. alice signs a permit off-chain (no gas); carol submits it and pulls 20 NMR")
    token.burn(10 * WEI, sender=bob)
    show("4. bob burns 10 NMR: the supply falls")
    burned = supply_before + 100 * WEI - token.totalSupply()
    echo(f"\nburned {format_nmr(burned)} NMR; deployment recorded in {path}")
    return {"token": token.address, "burned": burned, "supply": token.totalSupply()}
