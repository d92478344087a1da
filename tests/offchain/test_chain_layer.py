"""The chain layer's ways of keeping a command light: contract instances without their errors'
NatSpec, and ape's embedded test chain left out only where nothing can need it."""

from __future__ import annotations

import pytest
from ape import accounts

from nmrstake.chain.connect import is_embedded_network, leave_out_test_chain
from nmrstake.chain.contracts import instance_at, without_error_docs
from nmrstake.chain.signers import uses_test_accounts
from nmrstake.chain.transactions import send
from nmrstake.errors import ChainError


def test_without_error_docs__drops_only_the_errors_natspec(project):
    full = project.Tournament.contract_type
    assert full._error_natspecs  # computed (and cached) on the project's own type first
    kept = without_error_docs(full)
    assert kept.abi == full.abi and kept.name == full.name and kept.runtime_bytecode == full.runtime_bytecode
    assert "errors" in full.devdoc and "errors" not in kept.devdoc  # the project's own type is untouched
    assert kept.devdoc["methods"] == full.devdoc["methods"] and kept.userdoc == full.userdoc
    assert kept._method_natspecs == full._method_natspecs and not kept._error_natspecs
    assert without_error_docs(kept) is kept


def test_instance_at__a_revert_is_still_named_after_the_custom_error(project, tournament, stranger):
    instance = instance_at(project.Tournament, tournament.address)
    with pytest.raises(ChainError, match=r"AccessControlUnauthorizedAccount\("):
        send(instance.pause, sender=stranger, what="pausing")


@pytest.mark.parametrize(("wallet", "account", "uses"), [
    ("me", None, False),           # an nmrstake wallet
    (None, "alice", False),        # an ape alias
    (None, "TEST::2", True),       # a test account by number
    (None, "test::0", True),
    (None, None, True),            # nothing given: test account 0 on a local network
])
def test_uses_test_accounts(wallet, account, uses):
    assert uses_test_accounts(wallet, account) is uses


@pytest.mark.parametrize(("choice", "embedded"), [
    ("ethereum:local:test", True), ("ethereum:local", True), ("ethereum:local:", True),
    ("ethereum:local:foundry", False), ("ethereum:mainnet:node", False), ("ethereum:sepolia:alchemy", False),
])
def test_is_embedded_network(choice, embedded):
    assert is_embedded_network(choice) is embedded


def test_leave_out_test_chain__never_once_ape_has_its_plugins(tournament):
    # This test session has loaded ape's plugins: the embedded chain and its accounts stay.
    assert leave_out_test_chain("ethereum:local:foundry") is False
    assert leave_out_test_chain("ethereum:local:test") is False
    from ape.plugins.pluggy_patch import plugin_manager

    assert plugin_manager.has_plugin("ape_test") and not plugin_manager.is_blocked("ape_test")
    assert accounts.test_accounts[0].address
