"""Building blocks for end-to-end tests: a deployed tournament, rounds with real stakes on real
predictions files, and time travel. Uses the package's own functions, as the CLI does."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nmrstake.deploy import TournamentSettings, deploy
from nmrstake.participant import LocalDelivery, stake_predictions
from nmrstake.results.layout import DataLayout
from nmrstake.rounds import RoundSpec, fund_round, open_round
from nmrstake.synth import generate, write
from nmrstake.tournament import RoundInfo, TournamentClient

WEI = 10**18
HOUR = 3600
SETTINGS = TournamentSettings(challenge_period=HOUR, grace_period=3 * 24 * HOUR, admin_delay=HOUR, max_pause=HOUR)


@dataclass
class World:
    client: TournamentClient
    deployments: Path
    layout: DataLayout
    owner: Any
    oracle: Any
    stakers: list[Any]


def make_world(project: Any, tmp: Path, n_stakers: int = 3) -> World:
    from ape import accounts

    owner, oracle = accounts.test_accounts[0], accounts.test_accounts[1]
    deployments = tmp / "deployments"
    dep, _ = deploy(project, owner, directory=deployments, force=True, oracle=oracle.address,
                    settings=SETTINGS, log=lambda m: None)
    client = TournamentClient(project, dep)
    stakers = list(accounts.test_accounts[3 : 3 + n_stakers])
    for s in [*stakers, accounts.test_accounts[2]]:
        client.token.mint(s, 10_000 * WEI, sender=owner)
    return World(client, deployments, DataLayout(tmp / "data"), owner, oracle, stakers)


def with_tournament(world: World, project: Any, kind: str) -> World:
    """The world with its Tournament replaced by a new `kind` (a contract with Tournament's
    constructor, e.g. the test double AnyModelIdTournament), roles granted as `deploy` grants them,
    and the deployments file rewritten to record it (without the strategy contracts, which are
    bound to the old one). Every process started from `world.deployments` then uses it."""
    from nmrstake.chain.transactions import send
    from nmrstake.deploy import _record, deployment_path
    from nmrstake.fsutil import write_atomic

    dep = world.client.deployment
    old = world.client.tournament
    new = world.owner.deploy(getattr(project, kind), world.client.token.address, world.owner,
                             SETTINGS.admin_delay, SETTINGS.challenge_period, SETTINGS.grace_period, SETTINGS.max_pause)
    for role in ("ORACLE_ROLE", "MANAGER_ROLE", "PAUSER_ROLE"):
        for holder in dep.roles.get(role, []):
            send(new.grantRole, getattr(new, role)(), holder, sender=world.owner, what=f"granting {role}")
    assert int(old.challengePeriod()) == int(new.challengePeriod())
    dep.contracts["Tournament"] = _record(world.client.provider, new)
    for name in ("StrategyFactory", "StrategyInvoker"):
        dep.contracts.pop(name, None)
    dep.settings["tournament_contract"] = kind
    write_atomic(deployment_path(world.client.provider, world.deployments), dep.to_json())
    world.client = TournamentClient(project, dep)
    return world


def open_funded_round(world: World, round_id: int, *, fund: int = 100 * WEI, close_after: int = HOUR,
                      payouts: str = "numerai-2024") -> None:
    from nmrstake.rounds import payout_preset

    p = payout_preset(payouts)
    spec = RoundSpec(round_id=round_id, open_in=0, close_after=close_after, resolve_after=HOUR,
                     corr_multiplier_bps=p.corr_multiplier_bps, mmc_multiplier_bps=p.mmc_multiplier_bps,
                     clip_bps=p.clip_bps, stake_threshold=p.stake_threshold, stake_cap=1_000 * WEI,
                     min_stake=WEI // 10)
    open_round(world.client, world.owner, spec)
    if fund:
        import ape

        fund_round(world.client, ape.accounts.test_accounts[2], round_id, fund)


def deployed_with_open_round(project: Any, owner: Any, tmp: Path, round_id: int, **deploy_options: Any) -> TournamentClient:
    """A fresh deployment (SETTINGS, in `tmp`/deployments; `deploy_options` as deploy takes them: a
    committee) with round `round_id` open for an hour and unfunded: a service's routes to call."""
    dep, _ = deploy(project, owner, directory=tmp / "deployments", force=True, settings=SETTINGS,
                    log=lambda m: None, **deploy_options)
    client = TournamentClient(project, dep)
    open_round(client, owner, RoundSpec(round_id=round_id, open_in=0, close_after=HOUR, resolve_after=HOUR,
                                        corr_multiplier_bps=5000, mmc_multiplier_bps=0, clip_bps=500,
                                        stake_threshold=0, stake_cap=1_000 * WEI, min_stake=WEI // 10))
    return client


def synth_round(tmp: Path, round_id: int, models: int, rows: int = 400, seed: int = 7) -> Path:
    """Write a synthetic data set for a round; returns its folder (targets.csv, predictions/)."""
    folder = tmp / "inputs" / f"round-{round_id}"
    write(generate(rows=rows, models=models, seed=seed, round_index=round_id % 97), folder)
    return folder


def stake_all(world: World, round_id: int, inputs: Path, amounts: list[int] | None = None,
              undelivered: tuple[int, ...] = ()) -> None:
    """Staker i stakes on model_i with that model's file, uploaded to the submission store (on
    this machine), except the stakers in `undelivered`, whose files never arrive."""
    delivery = LocalDelivery(world.client, world.layout)
    for i, acct in enumerate(world.stakers):
        amount = (amounts[i] if amounts else (i + 1) * 10 * WEI)
        stake_predictions(world.client, acct, None if i in undelivered else delivery, round_id,
                          f"model_{i:02d}", amount, inputs / "predictions" / f"model_{i:02d}.csv")


def advance_to(timestamp: int) -> None:
    from ape import chain

    if chain.pending_timestamp < timestamp:
        chain.pending_timestamp = timestamp
    chain.mine(1)


def advance_to_final(info: RoundInfo) -> None:
    """`advance_to` the time the round's posted result becomes final."""
    assert info.final_at is not None, f"round {info.round_id} has no posted result"
    advance_to(info.final_at)


def deliver_targets(world: World, round_id: int, inputs: Path) -> None:
    import shutil

    world.layout.targets_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(inputs / "targets.csv", world.layout.targets_dir / f"round-{round_id}.csv")


def oracle_once(world: World, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`nmrstake oracle run --once` as a process on the Anvil the test runs (ape-foundry's, at
    $APE_FOUNDRY_HOST), as TEST::1 with the world's data folder and deployments; it must exit 0."""
    out = subprocess.run(
        [sys.executable, "-m", "nmrstake.cli", "oracle", "run", "--network", "ethereum:local:foundry",
         "--account", "TEST::1", "--data-dir", str(world.layout.root), "--deployments-dir", str(world.deployments),
         "--once", *extra], env=os.environ.copy(), capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out
