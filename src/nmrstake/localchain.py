"""Local development chains beside ape's embedded EVM: Anvil (through ape-foundry) and Ganache
(through ape's generic node provider), each a real node process on a localhost port.

Both are started with ape's test mnemonic so that ape's test accounts hold ether on them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nmrstake.errors import ConfigError

TEST_MNEMONIC = "test test test test test test test test test test test junk"
GANACHE_CHAIN_ID = 1337  # ape's local network signs for 1337


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise ConfigError(f"{what} exited with code {proc.returncode} while starting: {out.strip()[-500:]}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise ConfigError(f"{what} did not open port {port} within {timeout:.0f} s")


def project_bin_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "node_modules" / ".bin"


def ensure_tools_on_path() -> None:
    """Put the project's node_modules/.bin (anvil, ganache) on PATH if it is not there, so that
    ape-foundry finds `anvil` even when the virtualenv was not activated."""
    bin_dir = project_bin_dir()
    if bin_dir.is_dir() and shutil.which("anvil") is None:
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def find_executable(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    local = project_bin_dir() / name
    if local.exists():
        return str(local)
    raise ConfigError(f"`{name}` not found on PATH nor in node_modules/.bin: run `make install`")


@contextmanager
def node_process(cmd: list[str], port: int, what: str, timeout: float = 60) -> Iterator[subprocess.Popen[bytes]]:
    """Run a local node (`cmd` listens on `port`) for the block: waits until the port opens (a
    node that exits or never listens is a ConfigError), and stops it on exit."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        _wait_for_port(port, proc, timeout, what)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def ganache_process(port: int | None = None, accounts: int = 10) -> Iterator[str]:
    """Start Ganache 7.9 on a free localhost port; yields its URI; stops it on exit."""
    port = port or free_port()
    cmd = [
        find_executable("ganache"), "--host", "127.0.0.1", "--port", str(port),
        "--wallet.mnemonic", TEST_MNEMONIC, "--wallet.totalAccounts", str(accounts),
        "--wallet.defaultBalance", "1000000", "--chain.chainId", str(GANACHE_CHAIN_ID),
        "--chain.hardfork", "shanghai", "--logging.quiet",
    ]
    with node_process(cmd, port, "ganache"):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def ganache_provider() -> Iterator[Any]:
    """Connect ape to a fresh Ganache for the duration of the block."""
    from ape import networks

    with ganache_process() as uri:
        with networks.ethereum.local.use_provider("node", provider_settings={"uri": uri}, disconnect_after=True) as provider:
            yield provider


@contextmanager
def anvil_provider(port: int | None = None) -> Iterator[Any]:
    """Start a fresh Anvil through ape-foundry on a free port of its own (never a node someone
    else left on 8545) and connect ape to it for the block; other processes reach the same node
    with `APE_FOUNDRY_HOST` (set for the duration of the block)."""
    from ape import networks

    ensure_tools_on_path()
    host = f"http://127.0.0.1:{port or free_port()}"
    saved = os.environ.get("APE_FOUNDRY_HOST")
    os.environ["APE_FOUNDRY_HOST"] = host
    try:
        with networks.parse_network_choice("ethereum:local:foundry", disconnect_after=True) as provider:
            yield provider
    finally:
        if saved is None:
            os.environ.pop("APE_FOUNDRY_HOST", None)
        else:
            os.environ["APE_FOUNDRY_HOST"] = saved
