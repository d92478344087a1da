"""The NMR token, on the embedded EVM, a real Anvil and a real Ganache (see chains.py)."""

from __future__ import annotations

import ape
import pytest
from helpers.chains import backend  # noqa: F401  (module-scoped, parametrized over the chains)
from helpers.harness import nmr

from nmrstake.permit import sign_token_permit

pytestmark = pytest.mark.nodes  # real Anvil/Ganache: run after the embedded-EVM tests

CAP = 11_000_000 * 10**18


@pytest.fixture
def nmr_token(backend, project, owner):  # noqa: F811
    return owner.deploy(project.NMR, owner)


def test_metadata(nmr_token):
    assert nmr_token.name() == "Numeraire"
    assert nmr_token.symbol() == "NMR"
    assert nmr_token.decimals() == 18
    assert nmr_token.cap() == CAP == nmr_token.MAX_SUPPLY()
    assert nmr_token.totalSupply() == 0


def test_mint_up_to_cap_and_not_beyond(nmr_token, owner, alice):
    nmr_token.mint(alice, CAP - 1, sender=owner)
    nmr_token.mint(alice, 1, sender=owner)
    assert nmr_token.totalSupply() == CAP
    with ape.reverts(nmr_token.ERC20ExceededCap):
        nmr_token.mint(alice, 1, sender=owner)
    assert nmr_token.totalSupply() == CAP


def test_only_minters_mint(nmr_token, owner, alice, bob):
    with ape.reverts(nmr_token.AccessControlUnauthorizedAccount):
        nmr_token.mint(alice, nmr(1), sender=alice)
    nmr_token.grantRole(nmr_token.MINTER_ROLE(), bob, sender=owner)
    nmr_token.mint(alice, nmr(2), sender=bob)
    assert nmr_token.balanceOf(alice) == nmr(2)
    nmr_token.revokeRole(nmr_token.MINTER_ROLE(), bob, sender=owner)
    with ape.reverts(nmr_token.AccessControlUnauthorizedAccount):
        nmr_token.mint(alice, nmr(1), sender=bob)


def test_burn_lowers_supply(nmr_token, owner, alice):
    nmr_token.mint(alice, nmr(10), sender=owner)
    tx = nmr_token.burn(nmr(3), sender=alice)
    assert nmr_token.balanceOf(alice) == nmr(7)
    assert nmr_token.totalSupply() == nmr(7)
    [event] = tx.events.filter(nmr_token.Transfer)
    assert (event["from"], event["to"], event["value"]) == (alice.address, "0x" + "0" * 40, nmr(3))
    with ape.reverts(nmr_token.ERC20InsufficientBalance):
        nmr_token.burn(nmr(8), sender=alice)


def test_burn_from_needs_allowance(nmr_token, owner, alice, bob):
    nmr_token.mint(alice, nmr(10), sender=owner)
    with ape.reverts(nmr_token.ERC20InsufficientAllowance):
        nmr_token.burnFrom(alice, nmr(1), sender=bob)
    nmr_token.approve(bob, nmr(4), sender=alice)
    nmr_token.burnFrom(alice, nmr(4), sender=bob)
    assert nmr_token.allowance(alice, bob) == 0
    assert nmr_token.totalSupply() == nmr(6)
    with ape.reverts(nmr_token.ERC20InsufficientAllowance):
        nmr_token.burnFrom(alice, 1, sender=bob)


def _deadline(seconds: int) -> int:
    return ape.chain.pending_timestamp + seconds


def test_permit_valid_signature(nmr_token, alice, bob):
    p = sign_token_permit(nmr_token, alice, alice.address, bob.address, nmr(5), _deadline(3600))
    nmr_token.permit(p.owner, p.spender, p.value, p.deadline, p.v, p.r, p.s, sender=bob)
    assert nmr_token.allowance(alice, bob) == nmr(5)
    assert nmr_token.nonces(alice) == 1


def test_permit_expired_deadline(nmr_token, alice, bob):
    p = sign_token_permit(nmr_token, alice, alice.address, bob.address, nmr(5), _deadline(-10))
    with ape.reverts(nmr_token.ERC2612ExpiredSignature):
        nmr_token.permit(p.owner, p.spender, p.value, p.deadline, p.v, p.r, p.s, sender=bob)
    assert nmr_token.allowance(alice, bob) == 0


def test_permit_wrong_signer(nmr_token, alice, bob):
    # Bob signs a permit that claims to be Alice's.
    p = sign_token_permit(nmr_token, bob, alice.address, bob.address, nmr(5), _deadline(3600))
    with ape.reverts(nmr_token.ERC2612InvalidSigner):
        nmr_token.permit(p.owner, p.spender, p.value, p.deadline, p.v, p.r, p.s, sender=bob)
    assert nmr_token.allowance(alice, bob) == 0


def test_permit_replay_rejected(nmr_token, alice, bob):
    p = sign_token_permit(nmr_token, alice, alice.address, bob.address, nmr(5), _deadline(3600))
    nmr_token.permit(p.owner, p.spender, p.value, p.deadline, p.v, p.r, p.s, sender=bob)
    nmr_token.approve(bob, 0, sender=alice)
    # Same signature again: the nonce moved on, so it recovers to another address.
    with ape.reverts(nmr_token.ERC2612InvalidSigner):
        nmr_token.permit(p.owner, p.spender, p.value, p.deadline, p.v, p.r, p.s, sender=bob)
    assert nmr_token.allowance(alice, bob) == 0
