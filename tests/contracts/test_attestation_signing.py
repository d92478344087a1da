"""The committee's Attestation as `nmrstake.signing` makes it: its digest is the contract's
`attestationDigest(...)`, a signature made with it by ape accounts is accepted by
`postResultSigned`, and recovery names the signer (contracts/OracleCommittee.sol)."""

from __future__ import annotations

import dataclasses

import pytest
from helpers.harness import T_ADMIN_DELAY, T_CHALLENGE, T_GRACE, T_MAX_PAUSE, THarness, nmr

from nmrstake.errors import InputError
from nmrstake.signing import Attestation, Domain, committee_domain, pack_signatures

RESULTS_HASH = b"\x22" * 32


@pytest.fixture(scope="module")
def committee(alice, bob, carol):
    return sorted([alice, bob, carol], key=lambda a: int(a.address, 16))


@pytest.fixture(scope="module")
def setup(chain, project, owner, oracle, manager, pauser, token, alice, bob, committee):
    t = owner.deploy(project.CommitteeTournament, token, owner, T_ADMIN_DELAY, T_CHALLENGE, T_GRACE, T_MAX_PAUSE,
                     [a.address for a in committee], 2)
    t.grantRole(t.MANAGER_ROLE(), manager, sender=owner)
    t.grantRole(t.PAUSER_ROLE(), pauser, sender=owner)
    for a in (alice, bob):
        token.mint(a, nmr(1_000), sender=owner)
        token.approve(t, 2**256 - 1, sender=a)
    h = THarness(chain, t, token, owner, oracle, manager, pauser)
    rnd = h.open_round()
    h.stake(alice, rnd, "alpha", nmr(100))
    h.stake(bob, rnd, "bravo", nmr(200))
    h.fund(alice, rnd, nmr(20))
    res = h.result(rnd, [("alpha", alice, nmr(3), 0), ("bravo", bob, 0, nmr(4))])
    attestation = Attestation(rnd.id, res.root, res.total_payout, res.total_burn, len(res.entries), RESULTS_HASH,
                              int(t.committeeEpoch()))
    return t, h, rnd, attestation, committee_domain(chain.chain_id, t.address)


def test_attestation__digest__equals_the_contracts_attestation_digest(setup):
    t, _, _, att, domain = setup
    for epoch in (1, 2, 99):
        moved = dataclasses.replace(att, epoch=epoch)
        assert moved.digest(domain) == bytes(t.attestationDigest(*moved.posting_args(), epoch))
    # The participants' domain is another one: its digest is not the committee's.
    assert att.digest(Domain(domain.chain_id, domain.tournament)) != att.digest(domain)


def test_attestation__signed_by_ape_accounts__recovers_each_and_is_deterministic(setup, committee):
    _, _, _, att, domain = setup
    for member in committee:
        signature = att.sign(domain, member)
        assert att.signer(domain, signature) == member.address
        assert att.sign(domain, member) == signature  # RFC 6979: the same signature again


def test_attestation__a_malformed_signature__is_an_input_error_naming_the_field(setup):
    _, _, _, att, domain = setup
    with pytest.raises(InputError, match=r"^signature: expected 65 bytes, got 3$"):
        att.signer(domain, "0x010203")
    with pytest.raises(InputError, match=r"^signature: not hex$"):
        att.signer(domain, "0xzz")


def test_attestation__m_signatures_packed_by_signer__are_accepted_by_post_result_signed(setup, committee, stranger):
    t, h, rnd, att, domain = setup
    signed = [(m.address, att.sign(domain, m)) for m in reversed(committee[1:])]  # given out of order
    h.at(rnd.resolve)
    receipt = t.postResultSigned(*att.posting_args(), pack_signatures(signed), sender=stranger)
    [posted] = [e for e in receipt.events if e.event_name == "ResultPosted"]
    assert bytes(posted.root) == att.root
    [event] = [e for e in receipt.events if e.event_name == "ResultAttested"]
    assert bytes(event.digest) == att.digest(domain)
    assert int(event.signers) == 0b110  # members[1] and members[2]
