"""Finding the ape project and connecting to a chain, for the CLI and the daemon."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from nmrstake.errors import ConfigError

DEFAULT_NETWORK = "ethereum:local:test"


def _is_project(path: Path) -> bool:
    cfg = path / "ape-config.yaml"
    return cfg.is_file() and "name: nmrstake" in cfg.read_text()


def project_root() -> Path:
    """The nmrstake ape project: $NMRSTAKE_PROJECT, else the nearest folder up from the current
    one with nmrstake's ape-config.yaml, else the source tree this package was installed from."""
    env = os.environ.get("NMRSTAKE_PROJECT")
    if env:
        if not _is_project(Path(env)):
            raise ConfigError(f"NMRSTAKE_PROJECT={env} has no nmrstake ape-config.yaml")
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if _is_project(folder):
            return folder
    source = Path(__file__).resolve().parents[3]
    if _is_project(source):
        return source
    raise ConfigError("cannot find the nmrstake project (ape-config.yaml); set NMRSTAKE_PROJECT")


@cache
def load_project(root: Path | None = None) -> Any:
    """The compiled ape project (compiles on first use)."""
    from ape import Project

    return Project(root or project_root())


def is_local_network(choice: str) -> bool:
    parts = choice.split(":")
    return len(parts) >= 2 and parts[1] == "local"


@contextmanager
def connect(network: str = DEFAULT_NETWORK) -> Iterator[Any]:
    """Connect ape to `network` (an ape network choice) for the block; yields the provider."""
    from ape import networks
    from ape.exceptions import ApeException

    from nmrstake.chain import evm_logs
    from nmrstake.localchain import ensure_tools_on_path

    ensure_tools_on_path()
    if network.split(":")[-1] in ("", "test") or network.endswith(":local"):
        # The embedded chain's log queries read each block once (eth-tester is imported only here:
        # it costs about a second that a command on a real node should not pay).
        evm_logs.install()
    try:
        ctx = networks.parse_network_choice(network)
    except ApeException as exc:
        raise ConfigError(f"--network {network}: {exc}") from exc
    try:
        provider = ctx.__enter__()
    except ApeException as exc:
        raise ConfigError(f"--network {network}: cannot connect: {exc}") from exc
    try:
        yield provider
    except BaseException as exc:
        if not ctx.__exit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        ctx.__exit__(None, None, None)
