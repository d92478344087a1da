"""Local development chains beside ape's embedded EVM: Anvil and Ganache, each a real node
process on a localhost port.

All are started with ape's test mnemonic so that ape's test accounts hold ether on them.

- :func:`moving_anvil`: the project's own local chain (`nmrstake node`, `nmrstake demo`): an Anvil
  that mines a transaction at once, and a :class:`Heartbeat` that mines a block whenever none came
  for a second, so chain time moves while the chain is idle, as it does on a real network.
  Several processes (the service, the daemons, participants) share it through its URL; it stops
  with the block, and dies with the process that started it even if that one is killed.
- :func:`anvil_provider`: a fresh Anvil started by ape-foundry for one test (mines only on
  demand: time stands still unless the test moves it).
- :func:`ganache_process` / :func:`ganache_provider`: Ganache 7.9.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from nmrstake.errors import ConfigError

TEST_MNEMONIC = "test test test test test test test test test test test junk"
GANACHE_CHAIN_ID = 1337  # ape's local network signs for 1337
TEST_HD_PATH = "m/44'/60'/0'/0"  # ape's test accounts (ape-config.yaml `test:`)
TEST_ACCOUNTS = 10
TEST_BALANCE_ETHER = 10_000
ANVIL_PORT = 8545  # `nmrstake node`'s default, where ape-foundry looks without APE_FOUNDRY_HOST
BLOCK_TIME = 1  # seconds between the blocks a moving Anvil mines while idle


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


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the kernel sends the child SIGTERM when the process that started it dies, even by
    SIGKILL, so no node or daemon outlives whoever started it."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def spawn(cmd: Sequence[str], *, log: Path | None = None, env: dict[str, str] | None = None,
          inherit_output: bool = False) -> subprocess.Popen[bytes]:
    """Start a child process tied to this one (it gets SIGTERM if this process dies). Its
    output goes to `log` (appended), to this process's stdout (`inherit_output`), else to a pipe
    that :func:`_wait_for_port` reads on failure."""
    out: IO[bytes] | int | None = None if inherit_output else subprocess.PIPE
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = open(log, "ab")  # noqa: SIM115 - the child holds it; closed here right after the fork
    try:
        return subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env or os.environ.copy(), preexec_fn=_die_with_parent)
    finally:
        if out is not None and not isinstance(out, int):
            out.close()


def is_interrupt(exc: BaseException) -> bool:
    """Ctrl-C or SIGTERM: a KeyboardInterrupt, or the SystemExit(130 / 143) that ape's own
    signal handlers raise (importing ape installs one for SIGINT)."""
    return isinstance(exc, KeyboardInterrupt) or (isinstance(exc, SystemExit) and exc.code in (130, 143))


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float = 10, sig: int = signal.SIGTERM) -> int:
    """`sig` (SIGTERM), then SIGKILL after `timeout` s; returns the exit status (reaped: no zombie)."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)


@contextmanager
def node_process(cmd: list[str], port: int, what: str, timeout: float = 60, log: Path | None = None,
                 inherit_output: bool = False) -> Iterator[subprocess.Popen[bytes]]:
    """Run a local node (`cmd` listens on `port`) for the block: waits until the port opens (a
    node that exits or never listens is a ConfigError), and stops it on exit."""
    proc = spawn(cmd, log=log, inherit_output=inherit_output)
    try:
        _wait_for_port(port, proc, timeout, what if log is None else f"{what} (log in {log})")
        yield proc
    finally:
        stop_process(proc)


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
def foundry_host(url: str) -> Iterator[None]:
    """Point ape-foundry (`--network ethereum:local:foundry`) at the node at `url` for the block,
    in this process and in every process started from it (`APE_FOUNDRY_HOST`)."""
    saved = os.environ.get("APE_FOUNDRY_HOST")
    os.environ["APE_FOUNDRY_HOST"] = url
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("APE_FOUNDRY_HOST", None)
        else:
            os.environ["APE_FOUNDRY_HOST"] = saved


@contextmanager
def anvil_provider(port: int | None = None) -> Iterator[Any]:
    """Start a fresh Anvil through ape-foundry on a free port of its own (never a node someone
    else left on 8545) and connect ape to it for the block; other processes reach the same node
    with `APE_FOUNDRY_HOST` (set for the duration of the block)."""
    from ape import networks

    ensure_tools_on_path()
    with foundry_host(f"http://127.0.0.1:{port or free_port()}"):
        with networks.parse_network_choice("ethereum:local:foundry", disconnect_after=True) as provider:
            yield provider


# ---------------------------------------------------------------------------------------- moving Anvil


def anvil_command(port: int, *, quiet: bool = True) -> list[str]:
    """Anvil as ape-foundry starts it (ape's test accounts, no base fee, no gas price), mining
    each transaction at once. Not `--block-time`: Anvil then reports automine off
    (`anvil_getAutomine`, also with `--mixed-mining`), and ape-foundry answers every transaction
    it sends with a receipt of a block not yet mined (deployments fail: "did not create a
    contract"). :class:`Heartbeat` moves time instead."""
    return [
        find_executable("anvil"), "--host", "127.0.0.1", "--port", str(port),
        "--mnemonic", TEST_MNEMONIC, "--accounts", str(TEST_ACCOUNTS), "--derivation-path", f"{TEST_HD_PATH}/",
        "--balance", str(TEST_BALANCE_ETHER), "--block-base-fee-per-gas", "0", "--gas-price", "0",
        *(["--quiet"] if quiet else []),
    ]


def port_in_use(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def rpc(url: str, method: str, params: list[Any] | None = None, timeout: float = 5) -> Any:
    """One JSON-RPC call (for the node's own methods, without ape)."""
    import requests

    answer = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []},
                           timeout=timeout).json()
    if "error" in answer:
        raise ConfigError(f"{url}: {method} failed: {answer['error']}")
    return answer.get("result")


class Heartbeat(threading.Thread):
    """Mines an empty block (`evm_mine`) whenever the node has mined none for `block_time`
    seconds, so chain time moves while nobody transacts, as on a real network; a busy chain gets
    no extra blocks. A daemon thread; :meth:`stop` ends it."""

    def __init__(self, url: str, block_time: float = BLOCK_TIME) -> None:
        super().__init__(name="nmrstake-heartbeat", daemon=True)
        self.url, self.block_time = url, block_time
        self._halt = threading.Event()

    def run(self) -> None:
        last = None
        while not self._halt.wait(self.block_time):
            try:
                number = rpc(self.url, "eth_blockNumber")
                if number == last:
                    rpc(self.url, "evm_mine")
                    number = rpc(self.url, "eth_blockNumber")
                last = number
            except Exception:  # noqa: BLE001 - the node is stopping or busy: try again next beat
                last = None

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(self.block_time + 6)


@dataclass(frozen=True)
class LocalNode:
    """A running local chain: its JSON-RPC URL and process id."""

    url: str
    port: int
    pid: int


@contextmanager
def moving_anvil(port: int | None = None, *, block_time: float = BLOCK_TIME, log: Path | None = None,
                 inherit_output: bool = False, timeout: float = 30) -> Iterator[LocalNode]:
    """Start the project's local chain on `port` (default: a free one) for the block: Anvil plus
    a :class:`Heartbeat` in this process. It stops on leaving the block (an error, Ctrl-C), and
    dies with this process if this one is killed. Its output goes to `log`, or to this
    process's stdout with `inherit_output` (`nmrstake node`), else nowhere."""
    if block_time <= 0:
        raise ConfigError(f"--block-time: above 0 seconds, got {block_time}")
    port = port or free_port()
    if port_in_use(port):
        raise ConfigError(f"port {port} is in use (another node?): stop it or choose another port")
    cmd = anvil_command(port, quiet=not inherit_output)
    with node_process(cmd, port, "anvil", timeout, log=log, inherit_output=inherit_output) as proc:
        node = LocalNode(f"http://127.0.0.1:{port}", port, proc.pid)
        beat = Heartbeat(node.url, block_time)
        beat.start()
        try:
            yield node
        finally:
            beat.stop()


def fast_forward(provider: Any, timestamp: int) -> int:
    """Move a local chain's time to at least `timestamp` and mine a block there (Anvil's RPC:
    `evm_setNextBlockTimestamp` + `evm_mine`; ape does the same on the embedded EVM). On a moving
    Anvil an interval block may take the timestamp first: the mined block is then a second or
    two later, never earlier. Returns the new latest block's timestamp."""
    from ape import chain

    if chain.pending_timestamp < timestamp:
        chain.pending_timestamp = timestamp
    chain.mine(1)
    return int(provider.get_block("latest").timestamp)
