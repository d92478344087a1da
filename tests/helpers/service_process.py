"""`nmrstake serve` as a real process on a free port, for the tests that talk to it over HTTP.

The service joins the Anvil of the test (APE_FOUNDRY_HOST is inherited). A service that exits or
never answers /healthz fails the test with its log; nothing is skipped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from nmrstake.localchain import free_port


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
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the service exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the service did not answer /healthz within {timeout:.0f} s: {log.read_text(errors='replace')[-2000:]}")


def start_service(deployments: Path, data_dir: Path, log: Path, *extra: str, port: int | None = None,
                  env: dict[str, str] | None = None) -> Service:
    port = port or free_port()
    cmd = serve_cmd(deployments, data_dir, port, *extra)
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env or os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return Service(url, proc, log, cmd)


def stop(service: Service, sig: int = signal.SIGTERM) -> int:
    if service.proc.poll() is None:
        service.proc.send_signal(sig)
        try:
            service.proc.wait(30)
        except subprocess.TimeoutExpired:
            service.proc.kill()
            service.proc.wait()
    return int(service.proc.returncode)


@contextmanager
def running_service(deployments: Path, data_dir: Path, log: Path, *extra: str,
                    env: dict[str, str] | None = None) -> Iterator[Service]:
    service = start_service(deployments, data_dir, log, *extra, env=env)
    try:
        yield service
    finally:
        code = stop(service)
    assert code == 0, f"the service exited with {code} on SIGTERM: {service.log_text()[-2000:]}"
