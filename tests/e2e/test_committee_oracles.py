"""A 2-of-3 oracle committee as real processes on a real Anvil, exchanging attestations through a
real `nmrstake serve`: an honest oracle with the submission store computes, publishes and attests
(from the files themselves: a lying prepared file in the store changes nothing);
a lying member (its totals perturbed by a test hook) attests other content, which is stored,
shown, never agreed and never posted, and which the honest ones name in an ERROR line; a second
honest member on another machine (only `--api`) downloads the published round, recomputes it and
attests, is killed right after attesting, and once restarted signs nothing again and posts the
honest result exactly once with the two honest signatures; an oracle that read the round before
that posting loses the race and takes it as success; an oracle whose own folder holds another root
says so in an ERROR line naming both; the round then resolves with the honest result."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest
import requests
from helpers.committee import make_committee_world
from helpers.scenario import advance_to, deliver_targets, open_funded_round, stake_all, synth_round
from helpers.service_process import running_service

from nmrstake.client.http import ServiceClient
from nmrstake.daemon import EventLog
from nmrstake.hashing import bytes32_from_hex, to_hex
from nmrstake.localchain import anvil_provider
from nmrstake.oracle import CRASH_ENV, LIE_ENV, Oracle
from nmrstake.prepared import SUFFIX, decode, encode
from nmrstake.results.layout import DataLayout
from nmrstake.results.read import load_published
from nmrstake.tournament import RoundState

pytestmark = pytest.mark.nodes  # real Anvil and processes: run after the embedded-EVM tests

ROUND = 31
CRASHED = 86  # the crash hook's exit status
HONEST, REMOTE, LIAR = 6, 7, 8  # test accounts of the three members


def run_oracle(world, member: int, data_dir, api: str, env_extra: dict[str, str] | None = None,
               expect: int = 0) -> str:
    env = os.environ.copy()
    env.pop(CRASH_ENV, None)
    env.pop(LIE_ENV, None)
    env.update(env_extra or {})
    out = subprocess.run(
        [sys.executable, "-m", "nmrstake.cli", "oracle", "run", "--network", "ethereum:local:foundry",
         "--account", f"TEST::{member}", "--data-dir", str(data_dir), "--deployments-dir", str(world.deployments),
         "--api", api, "--once"], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == expect, out.stdout + out.stderr
    return out.stdout


def lines(out: str, event: str) -> list[str]:
    return [line for line in out.splitlines() if line.split(" ")[1:2] == [event]]


def test_committee_round__honest_members_post_by_signatures__the_liar_is_never_counted(project, tmp_path):
    from ape import accounts

    members = {i: accounts.test_accounts[i].address for i in (HONEST, REMOTE, LIAR)}
    with anvil_provider():
        world = make_committee_world(project, tmp_path / "operator", list(members.values()), 2)
        client = world.client
        open_funded_round(world, ROUND)
        inputs = synth_round(tmp_path, ROUND, models=len(world.stakers))
        stake_all(world, ROUND, inputs)
        deliver_targets(world, ROUND, inputs)
        advance_to(client.round(ROUND).resolve_time)
        with running_service(world.deployments, world.layout.root, tmp_path / "service.log") as service:
            api = service.url
            listing = f"{api}/v1/rounds/{ROUND}/attestations"

            # A prepared file in the store that lies (whole, stating its file, other values): a
            # committee's member parses and hashes every file itself, so its result is the files'
            # own, which the remote member's recomputation from the published files agrees with.
            [prepared, *_] = sorted(world.layout.store().files_dir.rglob(f"*.csv{SUFFIX}"))
            honest = decode(prepared.read_bytes())
            assert honest is not None
            prepared.write_bytes(encode(replace(honest, values=honest.values[::-1].copy())))

            # The honest member with the store: computes, publishes, attests; one signature of two.
            out = run_oracle(world, HONEST, world.layout.root, api)
            assert lines(out, "published") and lines(out, "attested"), out
            assert lines(out, "waiting_for_attestations"), out
            pub = load_published(world.layout.published(ROUND))

            # The liar recomputes the service's round, then attests other totals: stored, not agreed.
            liar_dir = tmp_path / "liar"
            out = run_oracle(world, LIAR, liar_dir, api, {LIE_ENV: "1"})
            assert lines(out, "fetched") and lines(out, "attested"), out
            # It names the honest content it will not sign, with both roots.
            [error] = lines(out, "ERROR")
            assert f"round={ROUND}" in error and f"their_root={pub.merkle_root}" in error
            listed = requests.get(listing, timeout=60).json()
            assert sorted(len(c["signers"]) for c in listed["contents"]) == [1, 1]
            assert not any(c["agreed"] for c in listed["contents"])
            assert client.round(ROUND).state is RoundState.CLOSED

            # A member never signs a second, different content for the round: refused, nothing stored.
            out = run_oracle(world, LIAR, liar_dir, api, {LIE_ENV: "2"})
            [refusal] = lines(out, "ERROR")[-1:]
            assert "refusing to sign a second, different result" in refusal and f"round={ROUND}" in refusal
            assert not lines(out, "attested"), out
            assert len(requests.get(listing, timeout=60).json()["attestations"]) == 2

            # The honest member again: says the liar's content differs, signs nothing new, posts nothing.
            out = run_oracle(world, HONEST, world.layout.root, api)
            [error] = lines(out, "ERROR")
            assert f"round={ROUND}" in error and f"my_root={pub.merkle_root}" in error
            assert f"their_payout={pub.total_payout + 1}" in error and members[LIAR] in error
            assert not lines(out, "attested") and not lines(out, "posted"), out

            # The remote honest member: downloads, recomputes, attests, and is killed right then.
            remote_dir = tmp_path / "remote"
            out = run_oracle(world, REMOTE, remote_dir, api, {CRASH_ENV: "attested"}, expect=CRASHED)
            assert lines(out, "fetched") and lines(out, "attested"), out
            listed = requests.get(listing, timeout=60).json()
            [agreed] = [c for c in listed["contents"] if c["agreed"]]
            assert agreed["root"] == pub.merkle_root and agreed["total_payout"] == str(pub.total_payout)
            assert agreed["signers"] == sorted([members[HONEST], members[REMOTE]], key=lambda a: int(a, 16))
            assert client.round(ROUND).state is RoundState.CLOSED  # killed before posting

            # Restarted: it signs nothing again and posts once, with the two honest signatures.
            stale = client.round(ROUND)
            out = run_oracle(world, REMOTE, remote_dir, api)
            assert not lines(out, "attested") and len(lines(out, "posted")) == 1, out
            info = client.round(ROUND)
            assert info.state is RoundState.POSTED
            assert info.root == bytes32_from_hex(pub.merkle_root) and info.results_hash == pub.manifest_hash
            assert info.total_payout == pub.total_payout and info.total_burn == pub.total_burn
            [attested] = client.attested(ROUND)
            on_chain_members, _ = client.tournament.committee()
            bitmap = {str(m) for i, m in enumerate(on_chain_members) if int(attested.signers) >> i & 1}
            assert bitmap == {members[HONEST], members[REMOTE]}

            # An oracle that read the round before that posting loses the race: a success, same root.
            events: list[str] = []
            racer = Oracle(client, accounts.test_accounts[HONEST], world.layout, api=ServiceClient(api),
                           log=EventLog(out=events.append))
            assert racer.attest_and_post(stale) is None
            assert any(" posted_by_another " in e and pub.merkle_root in e for e in events), events

            # Every member again: nothing signed, nothing posted twice.
            for member, folder in ((REMOTE, remote_dir), (HONEST, world.layout.root), (LIAR, liar_dir)):
                out = run_oracle(world, member, folder, api, {LIE_ENV: "1"} if member == LIAR else None)
                assert not lines(out, "attested") and not lines(out, "posted"), (member, out)
            assert len(client.logs("ResultPosted", {"roundId": ROUND})) == 1
            assert len(requests.get(listing, timeout=60).json()["attestations"]) == 3

            # An oracle whose own folder holds another root says so loudly while the round is posted.
            other = DataLayout(tmp_path / "other")
            shutil.copytree(world.layout.published(ROUND), other.published(ROUND))
            manifest = other.published(ROUND) / "manifest.json"
            wrong = "0x" + "ee" * 32
            manifest.write_text(manifest.read_text().replace(pub.merkle_root, wrong))
            events.clear()
            Oracle(client, accounts.test_accounts[HONEST], other, api=ServiceClient(api),
                   log=EventLog(out=events.append)).step(client.round(ROUND))
            [error] = [e for e in events if " ERROR " in e]
            assert f"round={ROUND}" in error and f"posted_root={pub.merkle_root}" in error and f"my_root={wrong}" in error

            # The challenge period passes: the honest result is final, and anyone finalises it.
            advance_to(info.final_at)
            out = run_oracle(world, HONEST, world.layout.root, api)
            assert lines(out, "finalised"), out
            final = client.round(ROUND)
            assert final.state is RoundState.FINAL and to_hex(final.root) == pub.merkle_root
