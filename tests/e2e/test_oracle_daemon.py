"""The oracle daemon as a real process against a real Anvil: killed at every point of its work,
restarted, it ends with exactly one posted result per round, identical to the published files;
it rides out an Anvil outage and restart, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.scenario import advance_to, deliver_targets, make_world, open_funded_round, stake_all, synth_round

from nmrstake.hashing import bytes32_from_hex
from nmrstake.localchain import anvil_provider, free_port
from nmrstake.results.read import load_published
from nmrstake.tournament import RoundState
from nmrstake.verify import verify_round

pytestmark = pytest.mark.nodes  # real Anvil/Ganache: run after the embedded-EVM tests

CRASHED = 86  # the exit code of the crash hook (os._exit: no cleanup, like a kill)


def daemon_cmd(world, *extra: str) -> list[str]:
    return [sys.executable, "-m", "nmrstake.cli", "oracle", "run", "--network", "ethereum:local:foundry",
            "--account", "TEST::1", "--data-dir", str(world.layout.root),
            "--deployments-dir", str(world.deployments), "--log-json", *extra]


def run_once(world, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = os.environ.copy()  # carries APE_FOUNDRY_HOST: the daemon joins this test's Anvil
    env.pop("NMRSTAKE_ORACLE_CRASH_AT", None)
    if crash_at:
        env["NMRSTAKE_ORACLE_CRASH_AT"] = crash_at
    return subprocess.run(daemon_cmd(world, "--once"), env=env, capture_output=True, text=True, timeout=180)


def postings(world, round_id: int) -> list:
    return list(world.client.tournament.ResultPosted.range(
        world.client.start_block, world.client.head() + 1, search_topics={"roundId": round_id}))


def test_crash_at_every_point_then_exactly_one_posting(project, tmp_path):
    with anvil_provider():
        world = make_world(project, tmp_path)
        rounds = {21: "computed", 22: "published", 23: "sent"}
        inputs = {}
        for rid in rounds:
            open_funded_round(world, rid)
            inputs[rid] = synth_round(tmp_path, rid, models=len(world.stakers))
            stake_all(world, rid, inputs[rid])
        advance_to(max(world.client.round(r).resolve_time for r in rounds))

        for rid, point in rounds.items():
            # Earlier rounds are posted already, so the crash happens while working on this one.
            deliver_targets(world, rid, inputs[rid])
            out = run_once(world, crash_at=point)
            assert out.returncode == CRASHED, out.stdout + out.stderr
            info = world.client.round(rid)
            published = world.layout.published(rid).is_dir()
            if point == "computed":
                assert not published and info.state is RoundState.CLOSED
            elif point == "published":
                assert published and info.state is RoundState.CLOSED
            else:  # sent: the transaction went out, the process died before its receipt
                assert published and info.state is RoundState.POSTED
            # Restart (twice: the second run must find nothing to do).
            for _ in range(2):
                out = run_once(world)
                assert out.returncode == 0, out.stdout + out.stderr
            info = world.client.round(rid)
            assert info.state is RoundState.POSTED
            assert len(postings(world, rid)) == 1
            pub = load_published(world.layout.published(rid))
            assert info.root == bytes32_from_hex(pub.merkle_root)
            assert info.results_hash == pub.manifest_hash
            assert verify_round(world.client, rid, world.layout.published(rid)).ok
        assert not list(world.layout.results_dir.glob(".round-*.tmp"))


def _lines(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def _wait(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_outage_restart_and_sigterm(project, tmp_path):
    port = free_port()
    log_path = tmp_path / "daemon.log"
    with anvil_provider(port):
        world = make_world(project, tmp_path)
        open_funded_round(world, 31)
        env = os.environ.copy()
        with open(log_path, "w") as log:
            daemon = subprocess.Popen(daemon_cmd(world, "--interval", "0.3"), env=env, stdout=log, stderr=subprocess.STDOUT)
        _wait(lambda: any(e.get("event") == "round" for e in _lines(log_path)), 90, "the daemon's first pass")
    try:
        # Anvil is gone: the daemon logs the outage and keeps retrying.
        _wait(lambda: any(e.get("event") in ("rpc_unavailable", "error") for e in _lines(log_path)), 60, "an outage log line")
        assert daemon.poll() is None, log_path.read_text()
        with anvil_provider(port):  # a restarted, empty Anvil on the same port
            _wait(lambda: any("run `ape run deploy`" in str(e.get("error", "")) for e in _lines(log_path)), 60,
                  "the daemon to notice the deployment vanished")
            assert daemon.poll() is None
            world = make_world(project, tmp_path / "again")
            # Same deployer nonce -> same addresses; the daemon's deployments dir is the first one.
            os.replace(world.deployments / os.listdir(world.deployments)[0],
                       tmp_path / "deployments" / os.listdir(world.deployments)[0])
            open_funded_round(world, 32)
            inputs = synth_round(tmp_path, 32, models=len(world.stakers))
            world.layout = type(world.layout)(tmp_path / "data")
            stake_all(world, 32, inputs)
            advance_to(world.client.round(32).resolve_time)
            deliver_targets(world, 32, inputs)
            _wait(lambda: world.client.round(32).state is RoundState.POSTED, 90, "round 32 to be posted after the restart")
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    events = [e.get("event") for e in _lines(log_path)]
    assert "posted" in events and events[-1] == "stopped"


def test_oracle__finalising_a_round_someone_else_settled__logs_AlreadySettled_by_name_on_anvil(project, tmp_path, capfd):
    """On Anvil ape keeps only the node's words for a reverting call (`custom error 0x8fec535e: …`)
    and nothing for a mined failure: the oracle's log line must still name the error."""
    from helpers.races import LosesTheRace

    from nmrstake.chain.transactions import send
    from nmrstake.daemon import EventLog
    from nmrstake.errors import ChainError
    from nmrstake.oracle import Oracle

    with anvil_provider():
        world = make_world(project, tmp_path)
        open_funded_round(world, 41)
        inputs = synth_round(tmp_path, 41, models=len(world.stakers))
        stake_all(world, 41, inputs)
        advance_to(world.client.round(41).resolve_time)
        deliver_targets(world, 41, inputs)
        lines: list[str] = []
        log = EventLog(json_lines=True, out=lines.append)
        Oracle(world.client, world.oracle, world.layout, log=log).tick()
        posted = world.client.round(41)
        assert posted.final_at is not None  # posted by the oracle's pass
        advance_to(posted.final_at)
        read_before = world.client.round(41)
        assert read_before.state is RoundState.FINAL and not read_before.settled
        capfd.readouterr()

        # The oracle simulates its finalise, then someone else's lands first: its transaction fails when mined.
        def someone_else_settles() -> None:
            send(world.client.tournament.finalise, 41, sender=world.stakers[0], what="settling first")

        racing = LosesTheRace(world.oracle, someone_else_settles)
        Oracle(world.client, racing, world.layout, log=log).tick()
        assert racing.raced and world.client.round(41).settled
        [error] = [json.loads(line) for line in lines if '"round_error"' in line]
        assert error["round"] == 41
        assert error["error"].startswith("finalising round 41 reverted: AlreadySettled(roundId=41) (transaction 0x")

        # The oracle acts on what it read before someone else settled: its simulation reverts.
        with pytest.raises(ChainError) as refused:
            Oracle(world.client, world.oracle, world.layout, log=log).step(read_before)
        assert str(refused.value) == "finalising round 41 would revert: AlreadySettled(roundId=41); nothing was sent"
        # Nothing else reached the daemon's stdout (its log): no call trace printed by ape.
        printed = capfd.readouterr().out
        assert "custom error" not in printed and "trace" not in printed.lower(), printed
