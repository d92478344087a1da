"""`nmrstake demo` as the whole system in separate processes, and `nmrstake node`.

The demo runs as a real process at a small size (4 participants × 2 rounds: one staking through an
allocation strategy, one topping its stake up, one that never uploads); it starts its own Anvil,
`nmrstake serve`, the oracle and the operator daemons, and must leave none of them behind, also
when interrupted. In a terminal it keeps the chain and the service (the dashboard) up after the
summary until Ctrl-C, then stops them too.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from nmrstake.localchain import free_port

pytestmark = pytest.mark.nodes  # starts Anvil and daemons: runs after the embedded-EVM tests

DEMO = [sys.executable, "-m", "nmrstake.cli", "demo"]


def alive(pid: int) -> bool:
    """A live process (not a zombie) with that pid."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in status


def test_demo__as_processes__books_balance_operator_stakes_the_strategy_and_nothing_is_left_running(tmp_path):
    out = tmp_path / "demo"
    run = subprocess.run([*DEMO, "--participants", "4", "--rounds", "2", "--rows", "300", "--out", str(out),
                          "--no-keep", "--json"], capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout[run.stdout.index("{"):])
    # Progress from the first second, on stderr.
    assert run.stderr.startswith("nmrstake demo: starting"), run.stderr[:200]
    # The books: claimed = staked − burned + paid in every round, verified; supply fell by the burns.
    assert summary["books_balance"] is True
    assert [r["verified"] for r in summary["rounds"]] == [True, True]
    for r in summary["rounds"]:
        assert int(r["claimed"]) == int(r["staked"]) - int(r["burned"]) + int(r["paid"])
        assert r["stakes"] == 4 and r["invalid"] == 1
    assert int(summary["supply_before"]) - int(summary["supply_after"]) == int(summary["burned"]) > 0
    # The whole system ran as processes, and none is left.
    assert set(summary["processes"]) == {"anvil", "service", "oracle", "operator"}
    assert not [name for name, pid in summary["processes"].items() if alive(pid)]
    # The dashboard answered while the demo ran; the published files and the picture exist.
    assert summary["dashboard"]["pages"] == {"/": 200, "/rounds/1001": 200}
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", summary["dashboard"]["url"])
    assert (out / "payouts.png").read_bytes()[:4] == b"\x89PNG"
    for rid in (1001, 1002):
        assert (out / "data" / "results" / f"round-{rid}" / "manifest.json").is_file()
    # The strategy participant only uploaded: the operator staked its strategy, valid, every round.
    [owner] = [p for p in summary["participants"] if p["role"] == "strategy"]
    stakes = summary["strategy_stakes"]
    assert [s["round"] for s in stakes] == [1001, 1002]
    assert {s["sent_by"] for s in stakes} == {summary["operator"]} and summary["operator"] != owner["address"]
    assert {s["strategy"] for s in stakes} == {owner["strategy"]}
    for rid in (1001, 1002):
        with open(out / "data" / "results" / f"round-{rid}" / "results.csv") as fh:
            rows = [r for r in csv.DictReader(fh) if r["staker"].lower() == owner["strategy"].lower()]
        assert [(r["model"], r["valid"].lower()) for r in rows] == [(owner["model"], "true")]


def _pids_from(stderr: str) -> dict[str, int]:
    found = {m.group(1): int(m.group(2)) for m in re.finditer(r"started (\w+) \(pid (\d+)\)", stderr)}
    anvil = re.search(r"Anvil at \S+ \(pid (\d+)\)", stderr)
    if anvil:
        found["anvil"] = int(anvil.group(1))
    return found


def test_demo__interrupted_with_ctrl_c__stops_every_process_it_started(tmp_path):
    log = tmp_path / "stderr.log"
    with open(log, "w") as err:
        demo = subprocess.Popen([*DEMO, "--participants", "4", "--rounds", "2", "--rows", "300",
                                 "--out", str(tmp_path / "demo"), "--no-keep"], stdout=subprocess.DEVNULL, stderr=err,
                                cwd=tmp_path)
    try:
        deadline = time.monotonic() + 300
        while "started oracle" not in log.read_text() and time.monotonic() < deadline:
            assert demo.poll() is None, log.read_text()[-2000:]
            time.sleep(0.2)
        pids = _pids_from(log.read_text())
        assert {"anvil", "service", "oracle"} <= set(pids), log.read_text()[-2000:]
        assert all(alive(pid) for pid in pids.values())
        demo.send_signal(signal.SIGINT)
        assert demo.wait(120) == 130, log.read_text()[-2000:]
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert "interrupted: every process the demo started is stopped" in log.read_text()
    assert not [name for name, pid in pids.items() if alive(pid)]


class Terminal:
    """A pseudo-terminal for a child's stdout (so that it sees a tty), read as it writes."""

    def __init__(self) -> None:
        import pty

        self.master, self.slave = pty.openpty()
        self.text = ""
        self._reader = threading.Thread(target=self._read, daemon=True)

    def start(self) -> None:
        os.close(self.slave)  # the child holds it now
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: every writer closed the terminal
                return
            if not chunk:
                return
            self.text += chunk.decode(errors="replace")

    def close(self) -> None:
        self._reader.join(10)
        os.close(self.master)


def test_demo__in_a_terminal__keeps_the_dashboard_up_after_the_summary_until_ctrl_c(tmp_path):
    log = tmp_path / "stderr.log"
    terminal = Terminal()
    with open(log, "w") as err:
        demo = subprocess.Popen([*DEMO, "--participants", "4", "--rounds", "1", "--rows", "300",
                                 "--out", str(tmp_path / "demo")], stdin=subprocess.DEVNULL, stdout=terminal.slave,
                                stderr=err, cwd=tmp_path)
    terminal.start()
    try:
        # No --keep: stdout is a terminal, so the demo keeps the chain and the service after the summary.
        deadline = time.monotonic() + 600
        while (found := re.search(r"dashboard: (http://127\.0\.0\.1:\d+/) \(rounds at (\S+)\) .*Ctrl-C to stop",
                                  terminal.text)) is None:
            assert demo.poll() is None, terminal.text[-2000:] + log.read_text()[-2000:]
            assert time.monotonic() < deadline, "no summary line naming the dashboard"
            time.sleep(0.2)
        url, round_url = found.group(1), found.group(2)
        assert round_url == f"{url}rounds/1001"
        time.sleep(4)  # the daemons were stopped before the report: nothing may take the dashboard down
        assert demo.poll() is None, log.read_text()[-2000:]
        assert "the dashboard stopped" not in log.read_text()
        for page in (url, round_url):
            answer = requests.get(page, timeout=60)
            assert answer.status_code == 200, (page, answer.text[:500])
            assert answer.headers["content-type"].startswith("text/html") and "<html" in answer.text.lower()
        assert "Round 1001" in requests.get(round_url, timeout=60).text
        pids = _pids_from(log.read_text())
        assert set(pids) == {"anvil", "service", "oracle", "operator"}, log.read_text()[-2000:]
        assert alive(pids["anvil"]) and alive(pids["service"])
        assert not alive(pids["oracle"]) and not alive(pids["operator"])  # stopped before the report
        demo.send_signal(signal.SIGINT)
        assert demo.wait(120) == 0, log.read_text()[-2000:]
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        terminal.close()
    assert "stopping the service" in log.read_text()
    assert not [name for name, pid in pids.items() if alive(pid)]
    with pytest.raises(requests.RequestException):
        requests.get(url, timeout=5)


def test_node__mines_a_block_every_second_while_idle_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    node = subprocess.Popen([sys.executable, "-m", "nmrstake.cli", "node", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def call(method: str) -> Any:  # the JSON-RPC result
        return requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": []}, timeout=5).json()["result"]

    try:
        deadline = time.monotonic() + 60
        while True:
            assert node.poll() is None, node.stderr.read() if node.stderr else ""
            try:
                first = int(str(call("eth_blockNumber")), 16)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "the node never answered"
                time.sleep(0.2)
        assert call("eth_accounts")[0] == "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"  # ape's test account 0
        assert call("anvil_getAutomine") is True  # transactions are mined at once (ape relies on it)
        # Idle, yet blocks keep coming (polled: a loaded machine may run the heartbeat late).
        idle_until = time.monotonic() + 60
        while int(str(call("eth_blockNumber")), 16) < first + 2:
            assert time.monotonic() < idle_until, "no block was mined while the node was idle"
            time.sleep(0.5)
        anvil_pid = int(re.search(r"pid (\d+)", node.stderr.readline()).group(1))  # type: ignore[union-attr]
        node.send_signal(signal.SIGINT)
        assert node.wait(30) == 0
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
    assert not alive(anvil_pid)
    with pytest.raises(requests.RequestException):
        call("eth_blockNumber")


def test_node__port_in_use__is_one_line_error(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "nmrstake.cli", "node", "--port", str(port)],
                             capture_output=True, text=True, timeout=60, env=os.environ.copy())
    assert run.returncode == 4, run.stderr
    assert run.stderr.strip() == f"error: port {port} is in use (another node?): stop it or choose another port"
