"""ape's test accounts and `test:` settings without its embedded chain: the two hooks of ape's
core `ape_test` plugin that a process on a node uses, registered by
:func:`nmrstake.chain.connect.leave_out_embedded_chain` in place of the whole plugin. The third,
its provider (the in-process EVM), imports py-evm, which such a process never runs.

Registered under the plugin name ``test``: ape names a plugin's settings after it (``ape_test``
and ``test`` both give the ``test:`` section of ape-config.yaml)."""

from __future__ import annotations

from typing import Any

from ape import plugins


@plugins.register(plugins.Config)
def config_class() -> Any:
    from ape_test.config import ApeTestConfig

    return ApeTestConfig


@plugins.register(plugins.AccountPlugin)
def account_types() -> Any:
    from ape_test.accounts import TestAccount, TestAccountContainer

    return TestAccountContainer, TestAccount
