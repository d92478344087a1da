"""The embedded chain's log index (src/nmrstake/chain/evm_logs.py) answers exactly as eth-tester does,
across snapshot reverts that replace blocks at the same numbers."""

from __future__ import annotations

from eth_tester.main import EthereumTester
from eth_utils import keccak

from nmrstake.chain import evm_logs


def _original_logs(tester, **params):
    """eth-tester's own get_logs (the undecorated generator of the class's original method)."""
    original = EthereumTester.__dict__.get("_nmrstake_original_get_logs")
    return tuple(original(tester, **params))


def test_indexed_logs__equal_eth_testers_own__after_reverts_and_new_blocks(chain, token, owner, alice, bob):
    tester = chain.provider.tester.ethereum_tester if hasattr(chain.provider.tester, "ethereum_tester") \
        else chain.provider.tester
    evm_logs.install()
    assert EthereumTester.get_logs is not None
    token.mint(alice, 5, sender=owner)
    snap = chain.snapshot()
    token.mint(bob, 7, sender=owner)
    transfer = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
    params = {"from_block": 0, "to_block": "latest", "address": str(token.address), "topics": [transfer]}
    first = tester.get_logs(**params)
    assert first == _original_logs(tester, **params)
    chain.restore(snap)  # the block with bob's mint is gone; a new block takes its number
    token.mint(alice, 9, sender=owner)
    again = tester.get_logs(**params)
    assert again == _original_logs(tester, **params)
    values = [int.from_bytes(bytes.fromhex(str(entry["data"]).removeprefix("0x")), "big") for entry in again]
    assert 7 not in values and values[-2:] == [5, 9]
