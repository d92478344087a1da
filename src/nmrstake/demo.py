"""`make demo`: a whole tournament on a local chain.

Deploy; create participant wallets and give them NMR; run overlapping rounds in which every
participant stakes on its model with committed predictions; the round closes, the targets arrive,
the oracle resolves it (the daemon's own code: in-process on the embedded chain, a separate
`nmrstake oracle run` process on Anvil), the challenge period passes, everyone claims. Then the
books are checked and the results, a table per round and a picture are written to `out/`.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from nmrstake.amounts import format_nmr
from nmrstake.cli_common import Signer, table
from nmrstake.deploy import TournamentSettings, deploy
from nmrstake.errors import ChainError
from nmrstake.oracle import DataLayout, EventLog, Oracle
from nmrstake.participant import LocalDelivery, LocalResults, claim_all, stake_predictions
from nmrstake.rounds import PAYOUT_PRESETS, RoundSpec, fund_round, open_round
from nmrstake.tournament import RoundState, TournamentClient

WEI = 10**18
HOUR = 3600
CHALLENGE = 2 * HOUR
ROUND_ID_BASE = 1001
#: Numerai's payout settings since its 2026 on-chain staking: 5 x CORR + 10 x MMC, clip 1, factor 1.
PAYOUTS = PAYOUT_PRESETS["numerai-2026"]


@dataclass
class Participant:
    name: str
    model: str
    signer: Signer


def _advance_to(timestamp: int) -> None:
    from ape import chain

    if chain.pending_timestamp < timestamp:
        chain.pending_timestamp = timestamp
    chain.mine(1)


def _create_participants(project: Any, out: Path, n: int, owner: Any, token: Any) -> list[Participant]:
    """n wallets in out/wallets (light scrypt so the demo is quick), each with ether and NMR."""
    from ape import accounts
    from ape_accounts.accounts import KeyfileAccount

    from nmrstake.wallet import Keystore

    store = Keystore(out / "wallets", kdf="scrypt", iterations=2**10)
    people: list[Participant] = []
    with click.progressbar(range(n), label="creating wallets and funding them", show_pos=True, file=sys.stderr) as bar:
        for i in bar:
            name = f"participant{i:02d}"
            passphrase = f"demo-passphrase-{i}"
            if not store.exists(name):
                store.create(name, passphrase)
            local = store.load(name, passphrase)
            account = KeyfileAccount(keyfile_path=store.path(name))
            account.set_autosign(True, passphrase=passphrase)
            owner.transfer(account, 10**18)  # ether for gas
            token.mint(account.address, 1_000 * WEI, sender=owner)
            people.append(Participant(name, f"model_{i:02d}", Signer(account, local.key)))
    _ = accounts
    return people


def _start_daemon(network: str, data_dir: Path, deployments: Path, log_path: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "nmrstake.cli", "oracle", "run", "--network", network, "--account", "TEST::1",
           "--data-dir", str(data_dir), "--deployments-dir", str(deployments), "--interval", "0.5", "--log-json"]
    log = open(log_path, "wb")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())


def _wait_for(client: TournamentClient, round_id: int, states: set[RoundState], timeout: float, daemon: Any) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.round(round_id).state in states:
            return
        if daemon is not None and daemon.poll() is not None:
            raise ChainError(f"the oracle daemon exited with code {daemon.returncode}")
        time.sleep(0.3)
    raise ChainError(f"round {round_id} did not reach {sorted(s.label for s in states)} within {timeout:.0f} s")


def run_demo(*, network: str, out: Path, participants: int, n_rounds: int, rows: int, seed: int,
             quiet: bool = False) -> dict[str, Any]:
    """Run the tournament; returns the summary (also written to out/summary.json). With `quiet`,
    tables go nowhere and progress to stderr (for `--json`)."""
    from ape import accounts, chain

    from nmrstake.chain import connect, load_project
    from nmrstake.synth import generate, write

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    data_dir, deployments = out / "data", out / "deployments"
    layout = DataLayout(data_dir)
    echo = (lambda *a, **k: None) if quiet else click.echo
    project = load_project()
    embedded = network.split(":")[-1] in ("test", "")
    with connect(network) as provider:
        echo(f"nmrstake demo on {network} (chain {provider.chain_id}); files in {out}/")
        owner, oracle_acct, treasury = accounts.test_accounts[0], accounts.test_accounts[1], accounts.test_accounts[2]
        dep, _ = deploy(project, owner, directory=deployments, force=True, oracle=oracle_acct.address,
                        settings=TournamentSettings(challenge_period=CHALLENGE, grace_period=7 * 24 * HOUR,
                                                    admin_delay=HOUR, max_pause=24 * HOUR),
                        log=lambda m: echo(f"  {m}"))
        client = TournamentClient(project, dep)
        token = client.token
        supply_start = int(token.totalSupply())
        people = _create_participants(project, out, participants, owner, token)
        token.mint(treasury, 100_000 * WEI, sender=owner)
        supply_before = int(token.totalSupply())

        daemon = None
        oracle = None
        if embedded:
            oracle = Oracle(client, oracle_acct, layout, log=EventLog(out=lambda line: None))
        else:
            daemon = _start_daemon(network, data_dir, deployments, out / "oracle.log")
            echo(f"  oracle daemon started (pid {daemon.pid}), log in {out / 'oracle.log'}")

        delivery = LocalDelivery(client, layout)
        rng = random.Random(seed)
        round_ids = [ROUND_ID_BASE + k for k in range(n_rounds)]
        synth = {}
        t0 = chain.pending_timestamp
        try:
            # Rounds open an hour apart and stay open two hours: they overlap.
            for k, rid in enumerate(round_ids):
                _advance_to(t0 + k * HOUR)
                spec = RoundSpec(round_id=rid, open_in=0, close_after=2 * HOUR, resolve_after=2 * HOUR,
                                 corr_multiplier_bps=PAYOUTS.corr_multiplier_bps,
                                 mmc_multiplier_bps=PAYOUTS.mmc_multiplier_bps, clip_bps=PAYOUTS.clip_bps,
                                 stake_threshold=PAYOUTS.stake_threshold, stake_cap=1_000 * WEI, min_stake=WEI // 10)
                open_round(client, owner, spec)
                fund_round(client, Signer(treasury, treasury.private_key), rid, 500 * WEI)
                d = generate(rows=rows, models=participants, seed=seed, round_index=k)
                synth[rid] = d
                src = out / "inputs" / f"round-{rid}"
                write(d, src)
                open_now = [r for r in round_ids[: k + 1] if client.round(r).state is RoundState.OPEN]
                with click.progressbar(people, label=f"round {rid}: staking (open rounds: {open_now})", file=sys.stderr) as bar:
                    for i, p in enumerate(bar):
                        amount = rng.randrange(10, 200) * WEI
                        if i == participants - 1 and participants > 2:
                            # This one stakes but never delivers the committed file: an invalid stake.
                            stake_predictions(client, p.signer, None, rid, p.model, amount,
                                              src / "predictions" / f"{p.model}.csv")
                            continue
                        stake_predictions(client, p.signer, delivery, rid, p.model, amount,
                                          src / "predictions" / f"{p.model}.csv")
                        if i == 0:  # the first adds to its stake with the same predictions
                            stake_predictions(client, p.signer, delivery, rid, p.model, 5 * WEI,
                                              src / "predictions" / f"{p.model}.csv")
            # Targets arrive as each round reaches its resolve time; the oracle resolves.
            for rid in round_ids:
                info = client.round(rid)
                _advance_to(info.resolve_time)
                layout.targets_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(out / "inputs" / f"round-{rid}" / "targets.csv", layout.targets_dir / f"round-{rid}.csv")
                echo(f"round {rid}: targets arrived; the oracle resolves it")
                if oracle is not None:
                    oracle.tick()
                else:
                    _wait_for(client, rid, {RoundState.POSTED}, 120, daemon)
            # The challenge periods pass; the oracle settles (burns); everyone claims.
            last = max(client.round(r).final_at or 0 for r in round_ids)
            _advance_to(last)
            if oracle is not None:
                oracle.tick()
            for rid in round_ids:
                _wait_for(client, rid, {RoundState.FINAL}, 60, daemon)
                deadline = time.monotonic() + 60
                while not client.round(rid).settled:
                    if time.monotonic() > deadline:
                        raise ChainError(f"round {rid} was not settled by the oracle")
                    time.sleep(0.3)
            claimed: dict[tuple[int, str], int] = {}
            with click.progressbar(people, label="everyone claims", file=sys.stderr) as bar:
                for p in bar:
                    res = claim_all(client, p.signer, LocalResults(layout), None)
                    for c in res["claims"]:
                        claimed[(c["round"], p.signer.address)] = claimed.get((c["round"], p.signer.address), 0) + int(c["amount"])
        finally:
            if daemon is not None:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(30)
                except subprocess.TimeoutExpired:
                    daemon.kill()
        return _report(client, layout, round_ids, people, out, supply_start, supply_before, claimed, echo)


def _report(client: TournamentClient, layout: DataLayout, round_ids: list[int], people: list[Participant],
            out: Path, supply_start: int, supply_before: int, claimed: dict[tuple[int, str], int],
            echo: Any = click.echo) -> dict[str, Any]:
    from nmrstake.results import load_published
    from nmrstake.verify import verify_round

    summary: dict[str, Any] = {"rounds": []}
    all_ok = True
    total_burned = 0
    for rid in round_ids:
        info = client.round(rid)
        pub = load_published(layout.published(rid))
        rows = []
        for r in pub.rows:
            rows.append((r.model, r.staker[:10] + "…", format_nmr(r.stake),
                         "-" if r.corr is None else f"{r.corr:+.4f}", "-" if r.mmc is None else f"{r.mmc:+.4f}",
                         format_nmr(r.payout), format_nmr(r.burn), "" if r.valid else r.reason[:30]))
        echo(f"\nround {rid} ({info.state.label}, root {pub.merkle_root[:12]}…)")
        echo(table(rows, ["model", "staker", "stake", "CORR", "MMC", "payout", "burn", "invalid"]))
        paid = sum(r.payout for r in pub.rows)
        burned = sum(r.burn for r in pub.rows)
        staked = sum(r.stake for r in pub.rows)
        got = sum(v for (r, _), v in claimed.items() if r == rid)
        books = got == staked - burned + paid and info.claimed == got and info.total_burn == burned
        all_ok &= books
        total_burned += burned
        report = verify_round(client, rid, layout.published(rid))
        all_ok &= report.ok
        echo(f"  staked {format_nmr(staked)}  paid {format_nmr(paid)}  burned {format_nmr(burned)}  "
             f"claimed {format_nmr(got)} = staked − burned + paid: {'yes' if books else 'NO'}; "
             f"nmrstake verify: {'ok' if report.ok else report.differences[0]}")
        summary["rounds"].append({"round": rid, "staked": str(staked), "paid": str(paid), "burned": str(burned),
                                  "claimed": str(got), "books_balance": books, "verified": report.ok,
                                  "results": str(layout.published(rid))})
    supply_after = int(client.token.totalSupply())
    contract_balance = int(client.token.balanceOf(client.tournament.address))
    pool = int(client.tournament.pool())
    supply_ok = supply_before - supply_after == total_burned
    balance_ok = contract_balance == pool
    all_ok &= supply_ok and balance_ok
    echo(f"\nNMR supply before {format_nmr(supply_before)}, after {format_nmr(supply_after)}: "
         f"fell by {format_nmr(supply_before - supply_after)} = burned {format_nmr(total_burned)}: {'yes' if supply_ok else 'NO'}")
    echo(f"contract holds {format_nmr(contract_balance)} NMR = unallocated pool {format_nmr(pool)}: {'yes' if balance_ok else 'NO'}")
    picture = _plot(layout, round_ids, out / "payouts.png")
    summary.update(supply_before=str(supply_before), supply_after=str(supply_after), burned=str(total_burned),
                   books_balance=all_ok, picture=str(picture))
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    echo(f"\nthe books balance: {'yes' if all_ok else 'NO'}")
    echo(f"published results in {layout.results_dir}/, picture {picture}, summary {out / 'summary.json'}")
    if not all_ok:
        raise ChainError("the books do not balance")
    return summary


def _plot(layout: DataLayout, round_ids: list[int], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nmrstake.results import load_published

    fig, axes = plt.subplots(1, len(round_ids), figsize=(5 * len(round_ids), 4), sharey=True, squeeze=False)
    for ax, rid in zip(axes[0], round_ids):
        pub = load_published(layout.published(rid))
        valid = [r for r in pub.rows if r.valid and r.score is not None]
        xs = [r.score for r in valid]
        ys = [(r.payout - r.burn) / r.stake * 100 for r in valid]
        ax.scatter(xs, ys, c=["tab:green" if y >= 0 else "tab:red" for y in ys])
        clip = pub.params.clip_bps / 100
        ax.axhline(clip, ls="--", c="grey", lw=0.8)
        ax.axhline(-clip, ls="--", c="grey", lw=0.8)
        ax.axhline(0, c="black", lw=0.5)
        ax.set_title(f"round {rid}")
        ax.set_xlabel("score = 0.5 × CORR + 2 × MMC")
    axes[0][0].set_ylabel("payout − burn, % of stake")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
