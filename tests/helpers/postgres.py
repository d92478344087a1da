"""A throwaway PostgreSQL server for the tests (one per session, a fresh database per test), and
the `database_url` fixture that runs a test against SQLite and PostgreSQL alike.

The server is PostgreSQL's own binaries (/usr/lib/postgresql/<version>/bin: initdb, postgres),
on a free port of 127.0.0.1, its data and its socket in a temporary folder, with `trust`
authentication and fsync off (a test's data need not survive the machine). initdb refuses to run
as root, so when the tests run as root the server runs as `nobody` (setpriv), its folder chowned
to it. A server that cannot start fails the test that needs it, naming why (its log); it never
skips. `start_postgres` is a plain function (it raises `PostgresError`) so that the benchmarks
start the same server outside pytest (bench/service.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: How long the server may take to accept connections before the tests give up on it.
START_DEADLINE = 60.0
UNPRIVILEGED = "nobody"


class PostgresError(RuntimeError):
    """The server cannot be installed, initialised or started (the message says why)."""


def postgres_bin() -> Path:
    """The newest PostgreSQL's binaries folder on this machine."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    if not found:
        on_path = shutil.which("postgres")
        if on_path is None:
            raise PostgresError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres, no postgres on PATH): "
                        "`make install-test` installs Debian's postgresql")
        return Path(on_path).parent
    return found[-1].parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """A running server: `url(name)` is the SQLAlchemy URL of one of its databases."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes]

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database; its URL."""
        import psycopg

        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log(self) -> str:
        path = self.folder / "postgres.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # a fast shutdown: the tests' data is thrown away
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def _as_unprivileged(command: list[str]) -> list[str]:
    if os.getuid() != 0:
        return command
    return ["setpriv", f"--reuid={UNPRIVILEGED}", "--regid=nogroup", "--clear-groups", "--", *command]


def start_postgres() -> PostgresServer:
    """initdb a temporary cluster and start `postgres` on it; a PostgresError, with the server's
    log, if it does not accept connections."""
    import psycopg

    binaries = postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="nmrstake-pg-"))
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    if os.getuid() == 0:
        import pwd

        user = pwd.getpwnam(UNPRIVILEGED)
        for path in (folder, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
    init = subprocess.run(_as_unprivileged([str(binaries / "initdb"), "-D", str(data), "-U", "postgres",
                                            "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]),
                          capture_output=True, text=True)
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise PostgresError(f"initdb failed ({init.returncode}): {init.stderr.strip() or init.stdout.strip()}")
    port = free_port()
    log = open(folder / "postgres.log", "wb")  # noqa: SIM115 - the server's, closed with the test process
    process = subprocess.Popen(_as_unprivileged([
        str(binaries / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets),
        "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
        "-c", "full_page_writes=off", "-c", "max_connections=300"]), stdout=log, stderr=subprocess.STDOUT)
    server = PostgresServer(folder, port, process)
    deadline = time.monotonic() + START_DEADLINE
    while True:
        if process.poll() is not None:
            text = server.log()
            server.stop()
            raise PostgresError(f"PostgreSQL exited ({process.returncode}) on start:\n{text}")
        try:
            psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", connect_timeout=2).close()
            return server
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                text = server.log()
                server.stop()
                raise PostgresError(f"PostgreSQL did not accept connections within {START_DEADLINE:.0f} s:\n{text}") from None
            time.sleep(0.1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session, stopped at its end."""
    try:
        server = start_postgres()
    except PostgresError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database of either back end: the default SQLite file of a service
    folder (`tmp_path/service/service.sqlite3`), or a fresh database on the session's server."""
    if request.param == "sqlite":
        (tmp_path / "service").mkdir(exist_ok=True)
        return f"sqlite:///{tmp_path / 'service' / 'service.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()
