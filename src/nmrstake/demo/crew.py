"""Who runs the tournament's side while the participants play: the tournament service (where
uploads go), the oracle and the operator.

- :class:`ProcessCrew`: the real thing, each a separate process sharing only the chain, the data
  folder and URLs: `nmrstake serve`, `nmrstake oracle run`, `nmrstake operator run --api URL`.
  The demo waits for what they do on chain, as anyone would.
- :class:`InProcessCrew`: the same code in this process on the embedded chain (one process has
  the chain): uploads go straight into the service's store through the service's own checks, and
  the oracle's and the operator's passes run when the demo waits for them.

Both offer ``delivery`` (where participants upload) and ``until(done, what, timeout)``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nmrstake.demo.progress import Progress
from nmrstake.errors import ChainError, ConfigError
from nmrstake.localchain import free_port, spawn, stop_process

POLL = 0.25
DAEMON_INTERVAL = "0.5"  # seconds between the daemons' passes


class Crew(Protocol):
    @property
    def delivery(self) -> Any: ...

    def until(self, done: Callable[[], bool], what: str, timeout: float) -> None: ...


def _quiet(_line: str) -> None:
    pass


class InProcessCrew:
    """The oracle and the operator as objects of this process, on the embedded chain."""

    def __init__(self, client: Any, layout: Any, oracle_account: Any, operator_account: Any) -> None:
        from nmrstake.client.results import LocalResults
        from nmrstake.daemon import EventLog
        from nmrstake.oracle import Oracle
        from nmrstake.participant import LocalDelivery
        from nmrstake.strategy_operator import StrategyOperator

        self.delivery = LocalDelivery(client, layout)
        self.oracle = Oracle(client, oracle_account, layout, log=EventLog(out=_quiet))
        self.operator = StrategyOperator(client, LocalResults(layout), operator_account, log=EventLog(out=_quiet))

    def until(self, done: Callable[[], bool], what: str, timeout: float) -> None:
        """A few passes of the oracle and the operator (each pass does all it can now)."""
        for _ in range(3):
            if done():
                return
            self.oracle.tick()
            self.operator.tick()
        if not done():
            raise ChainError(f"the demo waited for {what}, and the oracle's and operator's passes did not do it")


@dataclass
class Daemon:
    name: str
    proc: Any
    log: Path

    def tail(self, chars: int = 1500) -> str:
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        return text[-chars:].strip()


class ProcessCrew:
    """`nmrstake serve`, `oracle run` and `operator run` as child processes of the demo, on the
    chain of `network` (Anvil: APE_FOUNDRY_HOST is inherited). Each dies with the demo (see
    :func:`nmrstake.localchain.spawn`) and is stopped by :meth:`stop` or on leaving the block."""

    def __init__(self, network: str, deployments: Path, data_dir: Path, logs: Path, progress: Progress, *,
                 oracle_account: str = "TEST::1", operator_account: str = "TEST::3") -> None:
        self.network, self.deployments, self.data_dir, self.logs = network, deployments, data_dir, logs
        self.progress = progress
        self.oracle_account, self.operator_account = oracle_account, operator_account
        #: the processes that run now: one stopped on purpose (:meth:`stop`) leaves the crew
        self.daemons: dict[str, Daemon] = {}
        self.started: dict[str, Daemon] = {}  # every process started, in order
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._service_client: Any = None

    def __enter__(self) -> ProcessCrew:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ processes

    def _start(self, name: str, *args: str, env: dict[str, str] | None = None) -> Daemon:
        cmd = [sys.executable, "-m", "nmrstake.cli", *args, "--network", self.network,
               "--deployments-dir", str(self.deployments)]
        log = self.logs / f"{name}.log"
        daemon = Daemon(name, spawn(cmd, log=log, env=env), log)
        self.daemons[name] = self.started[name] = daemon
        self.progress.line(f"started {name} (pid {daemon.proc.pid}), log in {log}")
        return daemon

    def start_service(self) -> None:
        self._start("service", "serve", "--data-dir", str(self.data_dir), "--port", str(self.port))

    def start_oracle(self, *, name: str = "oracle", account: str | None = None, data_dir: Path | None = None,
                     api: str | None = None, env: dict[str, str] | None = None) -> None:
        """The oracle daemon (by default the one oracle, with the service's data folder); a
        committee's members each with its own `name`, account, folder, the service's URL (`api`)
        and environment (see :mod:`nmrstake.demo.committee`)."""
        self._start(name, "oracle", "run", "--account", account or self.oracle_account,
                    "--data-dir", str(data_dir or self.data_dir), *(("--api", api) if api else ()),
                    "--interval", DAEMON_INTERVAL, "--log-json", env=env)

    def start_operator(self) -> None:
        """The operator reads uploads and results from the service: start it once the service answers."""
        self._start("operator", "operator", "run", "--account", self.operator_account, "--api", self.url,
                    "--interval", DAEMON_INTERVAL, "--log-json")

    def check_alive(self) -> None:
        """A ChainError naming the first process of the crew that exited without being stopped."""
        for d in self.daemons.values():
            if d.proc.poll() is not None:
                raise ChainError(f"the {d.name} process exited with code {d.proc.returncode} ({d.log}): "
                                 f"{d.tail(600)}")

    def wait_for_service(self, client: Any, timeout: float = 90) -> None:
        """Until the service answers /healthz; then check that it serves our deployment."""
        from nmrstake.client.http import ServiceClient, wait_until_healthy

        try:
            wait_until_healthy(self.url, self.check_alive, timeout=timeout, poll=POLL)
        except ConfigError as exc:
            raise ConfigError(f"{exc} (log {self.daemons['service'].log})") from None
        service = ServiceClient(self.url)
        service.check_deployment(client.domain)
        self._service_client = service

    @property
    def delivery(self) -> Any:
        """The participants' way in: the service's HTTP API."""
        if self._service_client is None:
            raise ConfigError("the service is not up yet")
        return self._service_client

    def until(self, done: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            self.check_alive()
            if time.monotonic() > deadline:
                logs = ", ".join(str(d.log) for d in self.daemons.values())
                raise ChainError(f"waited {timeout:.0f} s for {what}; see the logs: {logs}")
            time.sleep(POLL)

    def stop(self, *names: str) -> dict[str, int]:
        """Stop the named daemons (all by default): SIGTERM, then SIGKILL after 20 s. Returns
        their exit codes. A daemon stopped on purpose leaves the crew: :meth:`check_alive` no
        longer asks after it (the service keeps serving the dashboard without the oracle)."""
        codes = {}
        for name in names or list(self.daemons):
            daemon = self.daemons.get(name)
            if daemon is not None:
                codes[name] = stop_process(daemon.proc, timeout=20)
                del self.daemons[name]
        return codes

    def pids(self) -> dict[str, int]:
        """Every process the crew started, running or stopped, by name."""
        return {name: int(d.proc.pid) for name, d in self.started.items()}
