"""Finding the ape project and connecting to a chain, for the CLI and the daemon."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from nmrstake.errors import ConfigError

DEFAULT_NETWORK = "ethereum:local:test"

#: The command line's `-v`: whether ape's logger shows its lines (None: ape's logger left as it is).
_ape_verbose: bool | None = None


def set_ape_verbosity(verbose: bool) -> None:
    """Record the command line's `-v` (show ape's own log lines, else only its errors). It is
    applied where ape is brought up (:func:`load_project`, :func:`connect`), so that a command
    which never needs ape never imports it; at once if ape's logger is loaded already."""
    global _ape_verbose
    _ape_verbose = verbose
    if "ape.logging" in sys.modules:
        _apply_ape_verbosity()


def _apply_ape_verbosity() -> None:
    if _ape_verbose is not None:
        from ape.logging import logger

        logger.set_level("INFO" if _ape_verbose else "ERROR")


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
    _apply_ape_verbosity()
    from ape import Project

    return Project(root or project_root())


def is_local_network(choice: str) -> bool:
    parts = choice.split(":")
    return len(parts) >= 2 and parts[1] == "local"


def is_embedded_network(choice: str) -> bool:
    """Whether `choice` is ape's in-process chain (`ethereum:local:test`, or `ethereum:local`
    with the project's default provider, which is the embedded one)."""
    return choice.split(":")[-1] in ("", "test") or choice.endswith(":local")


def leave_out_embedded_chain(network: str) -> bool:
    """Keep ape's embedded chain (its in-process EVM, py-evm with its BLS tables: about 0.8 s of
    imports) out of a process that connects to a node, where it never runs but ape's provider
    lookup would import it. ape's core `ape_test` plugin, which brings it, is blocked through
    pluggy (which ape loads its plugins with), and its two other hooks, the TEST::N accounts and
    the `test:` settings, are registered in its place (:mod:`nmrstake.chain.test_accounts_plugin`).

    Only in a process where ape has not loaded its plugins yet (a command run from the shell);
    one that has (a test session, the demo in one process) keeps them all. Returns whether the
    embedded chain was left out."""
    if is_embedded_network(network):
        return False
    from ape.plugins.pluggy_patch import plugin_manager

    if plugin_manager.get_plugins():  # ape has loaded its plugins: too late, and not ours to undo
        return False
    from nmrstake.chain import test_accounts_plugin

    plugin_manager.set_blocked("ape_test")
    plugin_manager.register(test_accounts_plugin, name="test")
    return True


@contextmanager
def connect(network: str = DEFAULT_NETWORK) -> Iterator[Any]:
    """Connect ape to `network` (an ape network choice) for the block; yields the provider. In a
    fresh process, a node's connection leaves ape's embedded chain unloaded
    (:func:`leave_out_embedded_chain`)."""
    _apply_ape_verbosity()
    from ape import networks
    from ape.exceptions import ApeException

    from nmrstake.chain import evm_logs
    from nmrstake.localchain import ensure_tools_on_path

    ensure_tools_on_path()
    leave_out_embedded_chain(network)
    if is_embedded_network(network):
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
