"""The demo's rounds, one loop for both crews (processes, or passes in this process).

Rounds open an hour apart and stay open two hours, so they overlap. In each, every participant
uploads its model's predictions (to the service) and stakes from its wallet, or, when it uses an
allocation strategy, only uploads and the operator stakes; one participant tops its stake up and
one never uploads (an invalid stake). Then each round's targets arrive at its resolve time and the
oracle resolves it; the challenge periods pass, the oracle settles the burns and the operator
claims every stake for everyone. Chain time is fast-forwarded between these phases (a block at
the new time), so the daemons see the rounds close, resolve and become final within seconds.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nmrstake.demo.crew import Crew
from nmrstake.demo.participants import Participant, Role
from nmrstake.demo.progress import Progress

WEI = 10**18
HOUR = 3600
ROUND_ID_BASE = 1001
FUNDING = 500 * WEI
TOP_UP = 5 * WEI
#: how long the demo waits for a daemon's work (seconds of wall time)
PATIENCE = 120


@dataclass(frozen=True)
class Stage:
    """The chain and the people the rounds are played on."""

    client: Any
    layout: Any
    owner: Any  # opens the rounds (manager role)
    treasury: Any  # funds their payouts
    people: list[Participant]
    crew: Crew
    inputs: Path  # the synthetic data sets, one folder per round
    progress: Progress
    #: an oracle committee (`demo --oracles N`): nmrstake.demo.committee.CommitteePlan, and the members' addresses
    committee: Any = None
    members: dict[int, str] | None = None


def play(stage: Stage, *, n_rounds: int, rows: int, seed: int, workers: int, say: Any) -> list[int]:
    """Play `n_rounds` overlapping rounds to the end (every stake claimed); returns their ids."""
    from nmrstake.localchain import fast_forward
    from nmrstake.rounds import PAYOUT_PRESETS, RoundSpec, fund_round, open_round
    from nmrstake.tournament import RoundState

    client, crew, progress = stage.client, stage.crew, stage.progress
    payouts = PAYOUT_PRESETS["numerai-2026"]  # Numerai's since 2026: 5 x CORR + 10 x MMC, clip 1, factor 1
    rng = random.Random(seed)
    round_ids = [ROUND_ID_BASE + k for k in range(n_rounds)]
    t0 = client.chain_time()
    for k, rid in enumerate(round_ids):
        with progress.phase("staking", f"round {rid}: opens; the participants upload and stake"):
            if k:
                fast_forward(client.provider, t0 + k * HOUR)
            spec = RoundSpec(round_id=rid, open_in=0, close_after=2 * HOUR, resolve_after=2 * HOUR,
                             corr_multiplier_bps=payouts.corr_multiplier_bps,
                             mmc_multiplier_bps=payouts.mmc_multiplier_bps, clip_bps=payouts.clip_bps,
                             stake_threshold=payouts.stake_threshold, stake_cap=1_000 * WEI, min_stake=WEI // 10)
            open_round(client, stage.owner, spec)
            fund_round(client, stage.treasury, rid, FUNDING)
            files = _write_inputs(stage, rid, k, rows, seed)
            _stake_round(stage, rid, files, rng, workers)
    for rid in round_ids:
        with progress.phase("resolving", f"round {rid}: its targets arrive; the oracle resolves it"):
            with ExitStack() as hold:
                if stage.committee is not None and stage.members is not None:
                    from nmrstake.demo.committee import held, wait_for_the_lie

                    # The honest majority waits for the liar (see nmrstake.demo.committee).
                    hold.enter_context(held(crew, stage.committee))
                fast_forward(client.provider, client.round(rid).resolve_time)
                stage.layout.targets_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(stage.inputs / f"round-{rid}" / "targets.csv",
                                stage.layout.targets_dir / f"round-{rid}.csv")
                if stage.committee is not None and stage.members is not None:
                    wait_for_the_lie(crew, stage.committee, stage.members, rid, PATIENCE)
            crew.until(_posted(client, rid), f"the oracle to post round {rid}", PATIENCE)
    with progress.phase("claiming", "the challenge periods pass; the oracle settles, the operator claims for everyone"):
        fast_forward(client.provider, max(client.round(r).final_at or 0 for r in round_ids))

        def all_claimed() -> bool:
            for r in round_ids:
                info = client.round(r)
                if info.state is not RoundState.FINAL or not info.settled or info.claimed != info.claimable:
                    return False
            return True

        crew.until(all_claimed, "the rounds to be settled and every stake claimed", PATIENCE)
    say(f"{len(round_ids)} rounds played: {', '.join(map(str, round_ids))}")
    return round_ids


def _posted(client: Any, rid: int) -> Callable[[], bool]:
    return lambda: client.round(rid).posted_at > 0


def _write_inputs(stage: Stage, rid: int, k: int, rows: int, seed: int) -> dict[str, Path]:
    """The round's synthetic data: targets (kept by the operator until resolve time) and one
    predictions file per participant's model."""
    from nmrstake.synth import generate, write

    folder = stage.inputs / f"round-{rid}"
    write(generate(rows=rows, models=len(stage.people), seed=seed, round_index=k), folder)
    return {p.model: folder / "predictions" / f"{p.model}.csv" for p in stage.people}


def _stake_round(stage: Stage, rid: int, files: dict[str, Path], rng: random.Random, workers: int) -> None:
    """Every participant's upload and stake, `workers` participants at a time (each sends from its
    own wallet, so their transactions do not compete for nonces); the strategy owners upload
    first, so that the operator stakes them while the others stake."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from nmrstake.hashing import keccak_file
    from nmrstake.participant import deliver, stake_predictions

    client, crew = stage.client, stage.crew
    delivery = crew.delivery
    amounts = {p.name: rng.randrange(10, 200) * WEI for p in stage.people}  # drawn in a fixed order

    def take_part(p: Participant) -> None:
        path = files[p.model]
        if p.role is Role.STRATEGY:  # `nmrstake strategy submit`: upload for the strategy
            deliver(delivery, client.domain, p.account, rid, p.model, path, keccak_file(path), staker=p.strategy)
        elif p.role is Role.INVALID:  # stakes, never uploads
            stake_predictions(client, p.account, None, rid, p.model, amounts[p.name], path)
        else:
            stake_predictions(client, p.account, delivery, rid, p.model, amounts[p.name], path)
            if p.role is Role.TOPS_UP:  # adds to its stake with the same predictions
                stake_predictions(client, p.account, delivery, rid, p.model, TOP_UP, path)

    order = sorted(stage.people, key=lambda p: p.role is not Role.STRATEGY)
    with stage.progress.counter(len(order), f"round {rid}: uploads and stakes") as step, \
            ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="participant") as pool:
        for done in as_completed([pool.submit(take_part, p) for p in order]):
            done.result()
            step()
    owners = [p for p in stage.people if p.role is Role.STRATEGY]
    if owners:
        from nmrstake.models import model_id

        def staked() -> bool:
            return all(client.stored_stake(rid, model_id(p.model), str(p.strategy)).commits_to(keccak_file(files[p.model]))
                       for p in owners)

        crew.until(staked, f"the operator to stake the {len(owners)} strategies in round {rid}", PATIENCE)
