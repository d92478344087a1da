"""Shared fixtures: roles as accounts, the NMR token, and helpers for amounts and time.

Unit tests run on ape's embedded EVM (the default network of `ape test`). Integration tests
that need a real node use the `anvil` / `ganache` fixtures in `tests/chains.py`.
"""

from __future__ import annotations

import pytest

NMR_WEI = 10**18


def nmr(amount: int | float | str) -> int:
    """NMR to wei, exactly (strings for fractions: `nmr("12.5")`)."""
    from decimal import Decimal

    return int(Decimal(str(amount)) * NMR_WEI)


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
