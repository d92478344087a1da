"""`nmrstake demo --oracles 3 --liar 3` as a real process, in a pseudo-terminal so that it keeps the
chain and the service up after its summary: a CommitteeTournament of three oracle keys (2 of 3 to
post) with a dispute desk, three oracle daemons as processes, oracle 3 lying. Checked from the
service (the round's attestations), the chain (JSON-RPC on the demo's Anvil: `ResultPosted`,
`ResultAttested` and its signers' bitmap) and the dashboard's round page, not only from what the
demo prints: the liar's content is listed, never agreed and never posted; each round is posted
once, by the two honest oracles' signatures, with the honest result.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_utils import keccak
from test_demo_processes import Terminal, _pids_from, alive

from nmrstake.results.read import load_published

pytestmark = pytest.mark.nodes  # starts Anvil and daemons: runs after the embedded-EVM tests

DEMO = [sys.executable, "-m", "nmrstake.cli", "demo"]
ROUNDS = (1001, 1002)
LIAR = 3
RESULT_POSTED = "0x" + keccak(b"ResultPosted(uint256,bytes32,uint256,uint256,uint256,bytes32,uint256)").hex()
RESULT_ATTESTED = "0x" + keccak(b"ResultAttested(uint256,bytes32,uint256,uint256)").hex()


def rpc(url: str, method: str, *params: Any) -> Any:
    answer = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                           timeout=30).json()
    assert "error" not in answer, answer
    return answer["result"]


def round_logs(url: str, address: str, topic: str, rid: int) -> list[dict[str, Any]]:
    return list(rpc(url, "eth_getLogs", {"address": address, "fromBlock": "0x0", "toBlock": "latest",
                                         "topics": [topic, "0x" + rid.to_bytes(32, "big").hex()]}))


def words(data: str) -> list[int]:
    raw = bytes.fromhex(data.removeprefix("0x"))
    return [int.from_bytes(raw[i:i + 32], "big") for i in range(0, len(raw), 32)]


def test_demo_with_three_oracles_and_a_liar__posts_the_honest_result_by_two_signatures_and_refuses_the_lie(
        tmp_path):
    out = tmp_path / "demo"
    log = tmp_path / "stderr.log"
    terminal = Terminal()
    with open(log, "w") as err:
        demo = subprocess.Popen([*DEMO, "--participants", "4", "--rounds", str(len(ROUNDS)), "--rows", "300",
                                 "--oracles", "3", "--liar", str(LIAR), "--out", str(out)],
                                stdin=subprocess.DEVNULL, stdout=terminal.slave, stderr=err, cwd=tmp_path)
    terminal.start()
    pids: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 900
        while (found := re.search(r"dashboard: (http://127\.0\.0\.1:\d+/) \(rounds at (\S+)\) .*Ctrl-C to stop",
                                  terminal.text)) is None:
            assert demo.poll() is None, terminal.text[-3000:] + log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no summary line naming the dashboard"
            time.sleep(0.5)
        url = found.group(1).rstrip("/")
        pids = _pids_from(log.read_text())
        assert set(pids) == {"anvil", "service", "oracle1", "oracle2", "oracle3", "operator"}, log.read_text()[-2000:]
        anvil = re.search(r"Anvil at (\S+) \(pid", log.read_text())
        assert anvil is not None
        chain_url = anvil.group(1)

        summary = json.loads((out / "summary.json").read_text())
        assert summary["books_balance"] is True
        committee = summary["committee"]
        members = {m["oracle"]: m["address"] for m in committee["members"]}
        liar, honest = members[LIAR], sorted((a for k, a in members.items() if k != LIAR), key=lambda a: int(a, 16))
        assert committee["threshold"] == 2 and committee["liar"] == LIAR and committee["ok"] is True
        [deployment_file] = (out / "deployments").glob("*.json")
        deployment = json.loads(deployment_file.read_text())
        tournament = deployment["contracts"]["Tournament"]["address"]
        on_chain_members = deployment["settings"]["committee"]  # ascending, as the contract holds them
        assert sorted(on_chain_members) == sorted(members.values()) and deployment["settings"]["threshold"] == 2
        assert committee["dispute_desk"] == deployment["contracts"]["DisputeDesk"]["address"]
        assert "ORACLE_ROLE" not in deployment["roles"] or not deployment["roles"]["ORACLE_ROLE"]

        for rid in ROUNDS:
            pub = load_published(out / "data" / "results" / f"round-{rid}")  # oracle 1's, published by the service
            honest_root, honest_payout = pub.merkle_root, pub.total_payout
            # The service: the liar's content stored and shown, never agreed; the honest one agreed by the two.
            listing = requests.get(f"{url}/v1/rounds/{rid}/attestations", timeout=60).json()
            by_signers = {tuple(c["signers"]): c for c in listing["contents"]}
            assert set(by_signers) == {(liar,), tuple(honest)}, listing
            lie, truth = by_signers[(liar,)], by_signers[tuple(honest)]
            assert lie["agreed"] is False and truth["agreed"] is True
            assert int(lie["total_payout"]) == honest_payout + 1 and truth["root"] == honest_root
            assert int(truth["total_payout"]) == honest_payout
            # The chain: posted once, with the honest result, by the honest signatures only.
            [posted] = round_logs(chain_url, tournament, RESULT_POSTED, rid)
            root, payout = words(posted["data"])[:2]
            assert "0x" + root.to_bytes(32, "big").hex() == honest_root and payout == honest_payout
            [attested] = round_logs(chain_url, tournament, RESULT_ATTESTED, rid)
            digest, bitmap = words(attested["data"])
            assert "0x" + digest.to_bytes(32, "big").hex() == truth["digest"] != lie["digest"]
            assert [m for i, m in enumerate(on_chain_members) if bitmap >> i & 1] == honest
            # The summary says the same; the dashboard's round page shows it.
            [r] = [r for r in committee["rounds"] if r["round"] == rid]
            assert r["honest_posted"] is True and r["lie_refused"] is True and r["posted_by"] == [
                k for k in sorted(members) if k != LIAR]
            page = requests.get(f"{url}/rounds/{rid}", timeout=60)
            assert page.status_code == 200
            assert re.search(rf'data-digest="{lie["digest"]}"[^>]*data-agreed="false" data-posted="false" '
                             rf'data-signers="{liar}"', page.text), page.text[-3000:]
            assert re.search(rf'data-digest="{truth["digest"]}"[^>]*data-agreed="true" data-posted="true"', page.text)
            assert 'id="disputes"' in page.text and 'id="no-disputes"' in page.text
        assert "the lie" in terminal.text and "reached the threshold: no, refused" in terminal.text
        for k in (1, 2, 3):
            assert not alive(pids[f"oracle{k}"])  # stopped before the report
        demo.send_signal(signal.SIGINT)
        assert demo.wait(120) == 0, log.read_text()[-2000:]
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        terminal.close()
    assert not [name for name, pid in pids.items() if alive(pid)]


def test_demo_liar_without_oracles__is_a_one_line_error(tmp_path: Path):
    run = subprocess.run([*DEMO, "--liar", "1", "--out", str(tmp_path / "demo"), "--no-keep"], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[-1].startswith("error: --liar: only with --oracles"), run.stderr
