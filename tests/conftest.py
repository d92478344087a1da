"""Shared fixtures: roles as accounts, the NMR token, and helpers for amounts and time.

Unit tests run on ape's embedded EVM (the default network of `ape test`). Integration tests
that need a real node use the `anvil` / `ganache` fixtures in `tests/helpers/chains.py`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from helpers.harness import T_ADMIN_DELAY, T_CHALLENGE, T_GRACE, T_MAX_PAUSE, THarness, nmr
from helpers.object_store import blob_url, object_store, s3_bucket, s3_env  # noqa: F401 - fixtures: a real S3 server
from helpers.postgres import database_url, postgres_server  # noqa: F401 - fixtures: SQLite and PostgreSQL alike

from nmrstake.chain import evm_logs

evm_logs.install()  # the embedded chain's log queries read each block once (src/nmrstake/chain/evm_logs.py)

COMPILE_TOOL = Path(__file__).resolve().parents[1] / "tools" / "compile.py"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """A full compile when any contract (or the compiler settings) changed since the last one
    (tools/compile.py): ape's incremental compile would leave the contracts that import or embed a
    changed one stale. This runs before ape's own pytest_configure loads the project's build, so
    `ape test` run directly never tests stale bytecode either. Only the controller of an xdist run
    compiles (its workers start after this hook); the tool's file lock serialises concurrent
    sessions."""
    if hasattr(config, "workerinput") or getattr(config.option, "help", False):
        return
    spec = importlib.util.spec_from_file_location("nmrstake_compile_tool", COMPILE_TOOL)
    assert spec is not None and spec.loader is not None  # a .py file: the source loader
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    try:
        compiled = tool.ensure_compiled(log=lambda message: print(message, file=sys.stderr, flush=True))
    except tool.CompileError as err:
        raise pytest.UsageError(str(err)) from None
    if compiled:
        # Should anything have loaded ape's project before this hook, it must not keep the old build.
        from ape.utils.basemodel import ManagerAccessMixin

        loaded = ManagerAccessMixin.__dict__["local_project"]._cache
        if loaded is not None:
            loaded.load_manifest()


def pytest_collection_modifyitems(config, items):
    """Tests marked `nodes` start real nodes (Anvil, Ganache) and switch ape's provider, which
    disturbs the embedded chain's snapshot isolation for the tests that follow. They run last,
    after every embedded-EVM test (a stable sort keeps the order within each group)."""
    items.sort(key=lambda item: item.get_closest_marker("nodes") is not None)

@pytest.fixture(scope="session")
def owner(accounts):
    """Deploys contracts; holds the admin and minter roles of the token."""
    return accounts[0]


@pytest.fixture(scope="session")
def oracle(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def manager(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def alice(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def bob(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def carol(accounts):
    return accounts[5]


@pytest.fixture(scope="session")
def treasury(accounts):
    return accounts[6]


@pytest.fixture(scope="session")
def stranger(accounts):
    """An account with no role anywhere."""
    return accounts[7]


@pytest.fixture(scope="session")
def token(project, owner):
    """A fresh NMR token; `owner` is admin and minter."""
    return owner.deploy(project.NMR, owner)


# --------------------------------------------------------------------------------------------
# Tournament fixtures (the harness is tests/helpers/harness.py).
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pauser(accounts):
    """Holds PAUSER_ROLE of the tournament."""
    return accounts[8]


@pytest.fixture(scope="module")
def tournament(project, owner, oracle, manager, pauser, token, alice, bob, carol, treasury, stranger):
    """A Tournament on `token`: owner = admin (guardian), roles granted, and 10,000 NMR plus an
    unlimited approval for alice, bob, carol and treasury."""
    t = owner.deploy(project.Tournament, token, owner, T_ADMIN_DELAY, T_CHALLENGE, T_GRACE, T_MAX_PAUSE)
    t.grantRole(t.MANAGER_ROLE(), manager, sender=owner)
    t.grantRole(t.ORACLE_ROLE(), oracle, sender=owner)
    t.grantRole(t.PAUSER_ROLE(), pauser, sender=owner)
    for a in (alice, bob, carol, treasury):
        token.mint(a, nmr(10_000), sender=owner)
        token.approve(t, 2**256 - 1, sender=a)
    return t


@pytest.fixture(scope="module")
def harness(chain, tournament, token, owner, oracle, manager, pauser):
    return THarness(chain, tournament, token, owner, oracle, manager, pauser)
