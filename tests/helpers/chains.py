"""Chain fixtures: run a test module on the embedded EVM, a real Anvil and a real Ganache.

A chain that cannot start fails the test (ape and `localchain` raise); nothing is skipped.
"""

from __future__ import annotations

from contextlib import nullcontext

import pytest

from nmrstake.localchain import anvil_provider, ganache_provider

BACKENDS = ("embedded", "anvil", "ganache")


def backend_context(name: str):
    if name == "embedded":
        from ape import chain

        return nullcontext(chain.provider)
    if name == "anvil":
        return anvil_provider()
    if name == "ganache":
        return ganache_provider()
    raise ValueError(name)


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request):
    """The chain a module's tests run on; parametrized over all three backends."""
    with backend_context(request.param) as provider:
        yield request.param, provider
