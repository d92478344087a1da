"""`nmrstake serve` as a real process on a free port, for the tests that talk to it over HTTP.

The service joins the Anvil of the test (APE_FOUNDRY_HOST is inherited). A service that exits or
never answers /healthz fails the test with its log; nothing is skipped.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nmrstake.client.http import wait_until_healthy
from nmrstake.errors import ConfigError
from nmrstake.localchain import free_port, spawn, stop_process


@dataclass
class Service:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    cmd: list[str]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def serve_cmd(deployments: Path, data_dir: Path, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "nmrstake.cli", "serve", "--network", "ethereum:local:foundry",
            "--deployments-dir", str(deployments), "--data-dir", str(data_dir), "--port", str(port), *extra]


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    def alive() -> None:
        if proc.poll() is not None:
            raise AssertionError(f"the service exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")

    try:
        wait_until_healthy(url, alive, timeout=timeout)
    except ConfigError as exc:
        raise AssertionError(f"{exc}: {log.read_text(errors='replace')[-2000:]}") from None


def start_service(deployments: Path, data_dir: Path, log: Path, *extra: str, port: int | None = None,
                  env: dict[str, str] | None = None) -> Service:
    port = port or free_port()
    cmd = serve_cmd(deployments, data_dir, port, *extra)
    proc = spawn(cmd, log=log, env=env)  # tied to the test process: never left running after it
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return Service(url, proc, log, cmd)


def wait_for_hold(database_url: str, round_id: int, model: str, staker: str) -> None:
    """Until the service's database shows (round, model, staker) held. A service takes an upload's
    hold on a thread of its own once the file part starts to arrive, so a test that needs the key
    held waits for the row rather than race the service with a second upload (which could take
    the hold itself first)."""
    import time

    import sqlalchemy as sa

    from nmrstake.storage import tables

    h = tables.key_holds
    engine = sa.create_engine(database_url)
    try:
        deadline = time.monotonic() + 120  # a bound on the wait, not a timing the test asserts
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.execute(sa.select(h.c.holder).where(h.c.round_id == str(round_id), h.c.model == model,
                                                            h.c.staker == staker)).first() is not None:
                    return
            time.sleep(0.1)
    finally:
        engine.dispose()
    raise AssertionError(f"the service never held round {round_id}, model {model}, staker {staker}")


def kill_all(services: list[Service]) -> None:
    """Kill every service still running (a test's cleanup, whatever state it left them in)."""
    for service in services:
        if service.proc.poll() is None:
            service.proc.kill()
            service.proc.wait()


def stop(service: Service, sig: int = signal.SIGTERM) -> int:
    return stop_process(service.proc, timeout=30, sig=sig)


def chain_reading_app(client: Any, layout: Any) -> Any:
    """The service's app (a FastAPI TestClient, not entered: no read-ahead thread) in the test's
    process on its chain, with no event index: every round, transaction, attestation, dispute and
    stake read from the chain (ape's log scans, `getRound`, `getStake`), as on ape's embedded EVM.
    What a served process that keeps the index must read the same as. Its submission store is the
    served process's (`layout`'s), read here, never written."""
    import threading

    from fastapi.testclient import TestClient

    from nmrstake.intake import chain_intake
    from nmrstake.service.app import create_app
    from nmrstake.service.context import ServiceContext

    lock = threading.Lock()
    ctx = ServiceContext(client=client, layout=layout, intake=chain_intake(client, layout.store(), lock=lock),
                         chain_lock=lock, index=None)
    return TestClient(create_app(ctx))


@contextmanager
def running_service(deployments: Path, data_dir: Path, log: Path, *extra: str,
                    env: dict[str, str] | None = None) -> Iterator[Service]:
    service = start_service(deployments, data_dir, log, *extra, env=env)
    try:
        yield service
    finally:
        code = stop(service)
    assert code == 0, f"the service exited with {code} on SIGTERM: {service.log_text()[-2000:]}"
