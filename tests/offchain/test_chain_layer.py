"""The chain layer's ways of keeping a command light: contract instances without their errors'
NatSpec, ape's embedded chain left out of a fresh process on a node (tests/nodes/test_cli_anvil.py
runs that process), and a wallet decrypted while the command connects."""

from __future__ import annotations

import pytest
from ape import accounts, chain

from nmrstake.chain.connect import is_embedded_network, leave_out_embedded_chain
from nmrstake.chain.contracts import instance_at, without_error_docs
from nmrstake.chain.signers import AccountUnlocking
from nmrstake.chain.transactions import send
from nmrstake.errors import ChainError, InputError


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


@pytest.mark.parametrize(("choice", "embedded"), [
    ("ethereum:local:test", True), ("ethereum:local", True), ("ethereum:local:", True),
    ("ethereum:local:foundry", False), ("ethereum:mainnet:node", False), ("ethereum:sepolia:alchemy", False),
])
def test_is_embedded_network(choice, embedded):
    assert is_embedded_network(choice) is embedded


def test_leave_out_embedded_chain__never_once_ape_has_its_plugins(tournament):
    # This test session has loaded ape's plugins: the embedded chain and its accounts stay.
    assert leave_out_embedded_chain("ethereum:local:foundry") is False
    assert leave_out_embedded_chain("ethereum:local:test") is False
    from ape.plugins.pluggy_patch import plugin_manager

    assert plugin_manager.has_plugin("ape_test") and not plugin_manager.is_blocked("ape_test")
    assert accounts.test_accounts[0].address


def test_account_unlocking__a_wallet_decrypts_aside_and_signs_as_itself(home):
    from helpers.cli_runner import PASS

    from nmrstake.wallet import Keystore

    address = Keystore(kdf="scrypt", iterations=16).import_key("walt", "0x" + "5a" * 32, PASS)
    unlocking = AccountUnlocking("walt", None)
    assert unlocking.account(chain.provider).address == address


def test_account_unlocking__a_wrong_passphrase_fails_when_the_account_is_asked_for(home, monkeypatch):
    from helpers.cli_runner import PASS

    from nmrstake.wallet import Keystore, WalletError

    Keystore(kdf="scrypt", iterations=16).import_key("walt", "0x" + "5a" * 32, PASS)
    monkeypatch.setenv("NMRSTAKE_PASSPHRASE", "not " + PASS)
    unlocking = AccountUnlocking("walt", None)
    with pytest.raises(WalletError, match="walt"):
        unlocking.account(chain.provider)


def test_account_unlocking__an_alias_or_the_default_is_resolved_on_the_connected_chain():
    assert AccountUnlocking(None, "TEST::2").account(chain.provider) == accounts.test_accounts[2]
    assert AccountUnlocking(None, None).account(chain.provider) == accounts.test_accounts[0]  # local network
    with pytest.raises(InputError, match="not both"):
        AccountUnlocking("walt", "TEST::2")
