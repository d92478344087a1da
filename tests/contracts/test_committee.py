"""The oracle committee (contracts/OracleCommittee.sol, CommitteeTournament): M-of-N members post a
round's result by EIP-712 signatures that anyone submits.

Postings by 1-of-1, 2-of-3 and 3-of-5 committees record exactly what ORACLE_ROLE's `postResult`
records; M-1 signatures, a duplicate or unsorted signer, a non-member, a signature over another
round, content, contract, chain or committee epoch, and malformed signatures are refused with the
error naming what is wrong. Committee changes go through the admin delay. Signing helpers:
tests/helpers/committee.py (eth-account's typed-data signing, independent of the contract).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ape
import pytest
from eth_account import Account
from eth_utils import keccak
from helpers.committee import (
    ATTESTATION_TYPE,
    Posting,
    digest,
    malleable,
    member_keys,
    pack,
    sign,
    sign_all,
)
from helpers.harness import T_ADMIN_DELAY, T_CHALLENGE, T_GRACE, T_MAX_PAUSE, THarness, TResult, TRound, nmr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ZERO_ADDRESS = "0x" + "00" * 20
KEYS = member_keys(9)  # sorted by address; any prefix is a valid committee
OUTSIDER = member_keys(1, label="outsider")[0]
RESULTS_HASH = b"\x11" * 32


def recovered(sig: bytes, posting: Posting, epoch: int, chain_id: int, contract: str) -> str:
    """The address a signature recovers to over the digest the contract checks."""
    return Account._recover_hash(digest(posting, epoch, chain_id, contract), signature=sig)


@dataclass
class Setup:
    """A CommitteeTournament with one round ready to post: two stakes, funding, a result."""

    tour: Any
    harness: THarness
    rnd: TRound
    posting: Posting
    keys: list
    chain_id: int
    res: TResult

    def sigs(self, keys=None, posting=None, epoch=None, chain_id=None, contract=None, sort=True) -> bytes:
        return sign_all(self.keys if keys is None else keys, posting or self.posting,
                        self.tour.committeeEpoch() if epoch is None else epoch,
                        self.chain_id if chain_id is None else chain_id,
                        self.tour.address if contract is None else contract, sort=sort)

    def goto_posting(self):
        """The next transaction runs in the round's posting window (never moving time backwards)."""
        head = self.harness.chain.blocks.head.timestamp
        self.harness.at(max(self.rnd.resolve, head + 1))

    def post(self, signatures: bytes, posting=None, sender=None):
        self.goto_posting()
        return self.tour.postResultSigned(*(posting or self.posting).args(), signatures,
                                          sender=sender or self.harness.manager)


@pytest.fixture(scope="module")
def deploy(project, owner, token):
    def _deploy(members, threshold, contract="CommitteeTournament"):
        return owner.deploy(getattr(project, contract), token, owner, T_ADMIN_DELAY, T_CHALLENGE, T_GRACE,
                            T_MAX_PAUSE, [str(m) for m in members], threshold)
    return _deploy


@pytest.fixture(scope="module")
def make(chain, deploy, owner, oracle, manager, pauser, token, alice, bob):
    def _make(n: int, m: int, contract="CommitteeTournament", keys=None) -> Setup:
        keys = KEYS[:n] if keys is None else keys
        t = deploy([k.address for k in keys], m, contract)
        t.grantRole(t.MANAGER_ROLE(), manager, sender=owner)
        t.grantRole(t.ORACLE_ROLE(), oracle, sender=owner)
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
        posting = Posting(rnd.id, res.root, res.total_payout, res.total_burn, len(res.entries), RESULTS_HASH)
        return Setup(t, h, rnd, posting, list(keys), chain.chain_id, res)
    return _make


@pytest.fixture(scope="module")
def committees(make, stranger) -> dict[str, Setup]:
    """The module's shared tournaments, made together before any test's snapshot (each test's
    changes are rolled back): a 2-of-3 committee and, for the property, a 3-of-7 one."""
    return {"2of3": make(3, 2), "3of7": make(7, 3)}


@pytest.fixture(scope="module")
def s23(committees) -> Setup:
    return committees["2of3"]


@pytest.fixture(scope="module")
def s37(committees) -> Setup:
    return committees["3of7"]


# ============================================================================ deployment and views


def test_deploy__committee_threshold_epoch_and_membership_readable(s23):
    t = s23.tour
    members, threshold = t.committee()
    assert list(members) == [k.address for k in KEYS[:3]] and threshold == 2
    assert t.committeeEpoch() == 1
    assert all(t.isCommitteeMember(k.address) for k in KEYS[:3])
    assert not t.isCommitteeMember(KEYS[3].address) and not t.isCommitteeMember(ZERO_ADDRESS)
    assert t.MAX_COMMITTEE_SIZE() == 31
    assert t.pendingCommittee() == ([], 0, 0)


def test_deploy__emits_committee_changed_epoch_one(s23):
    logs = list(s23.tour.CommitteeChanged.range(0, s23.harness.chain.blocks.head.number + 1))
    assert len(logs) == 1
    ev = logs[0]
    assert ev.epoch == 1 and list(ev.members) == [k.address for k in KEYS[:3]] and ev.threshold == 2


def test_attestation_digest__equals_eth_account_typed_data_digest(s23):
    t, p = s23.tour, s23.posting
    assert t.ATTESTATION_TYPEHASH() == keccak(text=ATTESTATION_TYPE)
    for epoch in (1, 2, 77):
        assert t.attestationDigest(*p.args(), epoch) == digest(p, epoch, s23.chain_id, t.address)


def test_eip712_domain__names_chain_and_contract(s23):
    fields, name, version, chain_id, contract, _salt, _ext = s23.tour.eip712Domain()
    assert (name, version, chain_id, contract) == ("nmrstake oracle committee", "1", s23.chain_id,
                                                   s23.tour.address)
    assert s23.tour.ATTESTATION_DOMAIN_NAME() == name


# ============================================================================ posting succeeds


@pytest.mark.parametrize("n, m", [(1, 1), (3, 2), (5, 3)])
def test_post_signed__m_of_n__records_exactly_what_the_oracle_records(make, chain, n, m):
    s = make(n, m)
    t, p = s.tour, s.posting
    snap = chain.snapshot()
    s.goto_posting()
    tx = t.postResult(*p.args(), sender=s.harness.oracle)
    by_oracle, ev_oracle = t.getRound(p.round_id), tx.events.filter(t.ResultPosted)[0]
    when_oracle = chain.blocks[tx.block_number].timestamp
    chain.restore(snap)

    assert t.getRound(p.round_id).postedAt == 0  # undone
    signers = s.keys[:m]
    s.harness.at(when_oracle)
    tx = t.postResultSigned(*p.args(), s.sigs(signers), sender=s.harness.manager)
    assert t.getRound(p.round_id) == by_oracle
    assert tx.events.filter(t.ResultPosted)[0] == ev_oracle
    attested = tx.events.filter(t.ResultAttested)[0]
    assert attested.roundId == p.round_id and attested.epoch == 1
    assert attested.digest == t.attestationDigest(*p.args(), 1)
    assert attested.signers == (1 << m) - 1
    assert t.roundState(p.round_id) == 4  # Posted


def test_post_signed__by_anyone__no_role_needed(s23, stranger):
    t = s23.tour
    assert not t.hasRole(t.ORACLE_ROLE(), stranger)
    s23.post(s23.sigs(s23.keys[:2]), sender=stranger)
    assert t.getRound(s23.posting.round_id).root == s23.posting.root


def test_post_signed__more_than_m_signatures__all_recorded_in_bitmap(s23):
    tx = s23.post(s23.sigs(s23.keys))
    assert tx.events.filter(s23.tour.ResultAttested)[0].signers == 0b111


def test_post_signed__any_m_members__bitmap_names_them(s23):
    tx = s23.post(s23.sigs([s23.keys[0], s23.keys[2]]))
    assert tx.events.filter(s23.tour.ResultAttested)[0].signers == 0b101


def test_post_signed__then_final_and_claimable(s23, alice):
    s23.post(s23.sigs(s23.keys[1:]))
    h = s23.harness
    h.at(s23.rnd.resolve + T_CHALLENGE + 10)
    before = h.token.balanceOf(alice)
    s23.tour.claim(*s23.res.claim_args(s23.res.find(h.model_id("alpha"), alice)), sender=alice)
    assert h.token.balanceOf(alice) - before == nmr(103)


def test_numeraire_committee_tournament__posts_signed(make):
    s = make(3, 2, contract="NumeraireCommitteeTournament")
    s.post(s.sigs(s.keys[:2]))
    assert s.tour.getRound(s.posting.round_id).root == s.posting.root


def test_oracle_role__still_posts_directly(s23):
    s23.goto_posting()
    s23.tour.postResult(*s23.posting.args(), sender=s23.harness.oracle)
    assert s23.tour.getRound(s23.posting.round_id).root == s23.posting.root


# ============================================================================ posting refused


def test_post_signed__m_minus_one_signatures__reverts_too_few(make):
    s = make(5, 3)
    with ape.reverts(s.tour.TooFewSignatures, got=2, threshold=3):
        s.post(s.sigs(s.keys[:2]))


def test_post_signed__no_signatures__reverts_too_few(s23):
    with ape.reverts(s23.tour.TooFewSignatures, got=0, threshold=2):
        s23.post(b"")


def test_post_signed__length_not_a_multiple_of_65__reverts(s23):
    sigs = s23.sigs(s23.keys[:2])
    with ape.reverts(s23.tour.SignaturesLengthInvalid, length=129):
        s23.post(sigs[:-1])


def test_post_signed__duplicate_signer__reverts_duplicate(s23):
    one = sign(s23.keys[0], s23.posting, 1, s23.chain_id, s23.tour.address)
    with ape.reverts(s23.tour.DuplicateSigner, signer=s23.keys[0].address):
        s23.post(pack([one, one]))


def test_post_signed__unsorted_signers__reverts_not_ascending(s23):
    a, b = s23.keys[0], s23.keys[1]
    with ape.reverts(s23.tour.SignersNotAscending, previous=b.address, next=a.address):
        s23.post(s23.sigs([b, a], sort=False))


def test_post_signed__non_member__reverts_not_member(s23):
    with ape.reverts(s23.tour.NotCommitteeMember, signer=OUTSIDER.address):
        s23.post(s23.sigs([s23.keys[0], OUTSIDER]))


def test_post_signed__m_minus_one_members_plus_outsider__reverts_not_member(make):
    s = make(5, 3)
    with ape.reverts(s.tour.NotCommitteeMember, signer=KEYS[5].address):
        s.post(s.sigs([s.keys[0], s.keys[1], KEYS[5]]))


def _refused_as_stranger(s: Setup, sig_posting: Posting, **sign_kw):
    """A member's signature over something else recovers to an unrelated address: NotCommitteeMember."""
    good = sign(s.keys[0], s.posting, 1, s.chain_id, s.tour.address)
    bad = sign(s.keys[1], sig_posting, sign_kw.get("epoch", 1), sign_kw.get("chain_id", s.chain_id),
               sign_kw.get("contract", s.tour.address))
    who = recovered(bad, s.posting, 1, s.chain_id, s.tour.address)
    assert who != s.keys[1].address
    if int(who, 16) < int(s.keys[0].address, 16):  # keep the pair ascending so membership is what fails
        sigs = pack([bad, good])
    else:
        sigs = pack([good, bad])
    with ape.reverts(s.tour.NotCommitteeMember, signer=who):
        s.post(sigs)


def test_post_signed__signature_for_another_round__reverts_not_member(s23):
    _refused_as_stranger(s23, s23.posting.replace(round_id=s23.posting.round_id + 1))


@pytest.mark.parametrize("field, value", [
    ("total_payout", nmr(3) + 1), ("total_burn", nmr(4) - 1), ("root", b"\x22" * 32),
    ("leaf_count", 3), ("results_hash", b"\x33" * 32),
])
def test_post_signed__signature_over_other_content__reverts_not_member(s23, field, value):
    _refused_as_stranger(s23, s23.posting.replace(**{field: value}))


def test_post_signed__signature_for_another_chain__reverts_not_member(s23):
    _refused_as_stranger(s23, s23.posting, chain_id=s23.chain_id + 1)


def test_post_signed__signature_for_another_contract__reverts_not_member(s23, deploy):
    other = deploy([k.address for k in s23.keys], 2)
    assert other.attestationDigest(*s23.posting.args(), 1) != s23.tour.attestationDigest(*s23.posting.args(), 1)
    _refused_as_stranger(s23, s23.posting, contract=other.address)


def test_post_signed__signature_for_another_epoch__reverts_not_member(s23):
    _refused_as_stranger(s23, s23.posting, epoch=2)


def test_post_signed__malleable_s__reverts_malleable(s23):
    good = sign(s23.keys[0], s23.posting, 1, s23.chain_id, s23.tour.address)
    twin = malleable(sign(s23.keys[1], s23.posting, 1, s23.chain_id, s23.tour.address))
    with ape.reverts(s23.tour.SignatureMalleable, index=1, s=twin[32:64]):
        s23.post(pack([good, twin]))


@pytest.mark.parametrize("corrupt", ["v", "r_zero"])
def test_post_signed__unrecoverable_signature__reverts_invalid(s23, corrupt):
    good = sign(s23.keys[0], s23.posting, 1, s23.chain_id, s23.tour.address)
    other = sign(s23.keys[1], s23.posting, 1, s23.chain_id, s23.tour.address)
    bad = other[:64] + bytes([29]) if corrupt == "v" else bytes(32) + other[32:]
    with ape.reverts(s23.tour.SignatureInvalid, index=0):
        s23.post(pack([bad, good]))


def test_post_signed__existing_checks_apply__too_early(s23):
    # Signed first, as `post` does: the signing reads the committee's epoch, and a read between
    # setting the next block's time and sending could leave that time equal to the head's.
    signatures = s23.sigs(s23.keys[:2])
    s23.harness.at(s23.harness.chain.blocks.head.timestamp + 1)
    assert s23.harness.now() < s23.rnd.resolve
    with ape.reverts(s23.tour.PostingTooEarly):
        s23.tour.postResultSigned(*s23.posting.args(), signatures, sender=s23.harness.manager)


def test_post_signed__existing_checks_apply__already_posted(s23):
    s23.post(s23.sigs(s23.keys[:2]))
    with ape.reverts(s23.tour.ResultAlreadyPosted, roundId=s23.posting.round_id):
        s23.post(s23.sigs(s23.keys[1:]))


def test_post_signed__existing_checks_apply__payout_beyond_funding(s23):
    p = s23.posting.replace(total_payout=nmr(21))
    with ape.reverts(s23.tour.PayoutExceedsFunding):
        s23.post(s23.sigs(s23.keys[:2], posting=p), posting=p)


def test_post_signed__while_paused__reverts(s23):
    s23.tour.pause(sender=s23.harness.pauser)
    with ape.reverts(s23.tour.EnforcedPause):
        s23.post(s23.sigs(s23.keys[:2]))


def test_post_signed__rejected_result_reposted_by_committee(s23, owner):
    s23.post(s23.sigs(s23.keys[:2]))
    s23.tour.rejectResult(s23.posting.round_id, "wrong", sender=owner)
    p = s23.posting.replace(results_hash=b"\x44" * 32)
    s23.post(s23.sigs(s23.keys[1:], posting=p), posting=p)
    assert s23.tour.getRound(p.round_id).resultsHash == p.results_hash


# ============================================================================ committee changes


def _propose(s: Setup, members, threshold, owner):
    return s.tour.proposeCommittee([k.address for k in members], threshold, sender=owner)


def test_propose__only_admin(s23, stranger, oracle):
    t = s23.tour
    for who in (stranger, oracle):
        with ape.reverts(t.AccessControlUnauthorizedAccount, account=who.address, neededRole=b"\x00" * 32):
            _propose(s23, KEYS[:4], 3, who)


def test_propose__records_pending_and_emits(s23, owner):
    tx = _propose(s23, KEYS[:4], 3, owner)
    when = s23.harness.chain.blocks[tx.block_number].timestamp
    ev = tx.events.filter(s23.tour.CommitteeProposed)[0]
    assert list(ev.members) == [k.address for k in KEYS[:4]] and ev.threshold == 3
    assert ev.applicableAt == when + T_ADMIN_DELAY
    assert s23.tour.pendingCommittee() == ([k.address for k in KEYS[:4]], 3, when + T_ADMIN_DELAY)
    assert s23.tour.committeeEpoch() == 1  # nothing changes before it is applied


def test_apply__before_the_delay__reverts_not_ready(s23, owner, stranger):
    tx = _propose(s23, KEYS[:4], 3, owner)
    ready = s23.harness.chain.blocks[tx.block_number].timestamp + T_ADMIN_DELAY
    s23.harness.at(ready - 1)
    with ape.reverts(s23.tour.CommitteeProposalNotReady, applicableAt=ready):
        s23.tour.applyCommittee(sender=stranger)


def test_apply__after_the_delay__by_anyone__new_committee_and_epoch(s23, owner, stranger):
    t = s23.tour
    tx = _propose(s23, KEYS[2:6], 3, owner)
    s23.harness.at(s23.harness.chain.blocks[tx.block_number].timestamp + T_ADMIN_DELAY)
    tx = t.applyCommittee(sender=stranger)
    ev = tx.events.filter(t.CommitteeChanged)[0]
    assert ev.epoch == 2 and list(ev.members) == [k.address for k in KEYS[2:6]] and ev.threshold == 3
    assert t.committee() == ([k.address for k in KEYS[2:6]], 3)
    assert t.committeeEpoch() == 2
    assert not t.isCommitteeMember(KEYS[0].address) and not t.isCommitteeMember(KEYS[1].address)
    assert all(t.isCommitteeMember(k.address) for k in KEYS[2:6])
    assert t.pendingCommittee() == ([], 0, 0)
    with ape.reverts(t.NoCommitteeProposal):
        t.applyCommittee(sender=stranger)


def test_apply__new_committee_posts_with_new_epoch(s23, owner):
    t = s23.tour
    tx = _propose(s23, KEYS[2:6], 3, owner)
    s23.harness.at(s23.harness.chain.blocks[tx.block_number].timestamp + T_ADMIN_DELAY)
    t.applyCommittee(sender=owner)
    keys = KEYS[3:6]
    tx = s23.post(s23.sigs(keys, epoch=2))
    ev = tx.events.filter(t.ResultAttested)[0]
    assert ev.epoch == 2 and ev.signers == 0b1110  # members[1..3] of the new committee


def test_apply__removed_member_signature__reverts_not_member(s23, owner):
    """KEYS[0] and KEYS[1] leave; their signatures, even over the new epoch, no longer count."""
    t = s23.tour
    tx = _propose(s23, KEYS[1:4], 2, owner)
    s23.harness.at(s23.harness.chain.blocks[tx.block_number].timestamp + T_ADMIN_DELAY)
    t.applyCommittee(sender=owner)
    with ape.reverts(t.NotCommitteeMember, signer=KEYS[0].address):
        s23.post(s23.sigs([KEYS[0], KEYS[2]], epoch=2))


def test_apply__old_epoch_signatures_of_the_old_committee__reverts(s23, owner):
    """The same committee re-applied: signatures gathered for epoch 1 no longer post."""
    t = s23.tour
    old = s23.sigs(s23.keys[:2], epoch=1)
    tx = _propose(s23, s23.keys, 2, owner)
    s23.harness.at(s23.harness.chain.blocks[tx.block_number].timestamp + T_ADMIN_DELAY)
    t.applyCommittee(sender=owner)
    with ape.reverts(t.NotCommitteeMember):
        s23.post(old)
    s23.post(s23.sigs(s23.keys[:2], epoch=2))


def test_apply__member_removed_then_readded__counts_again(s23, owner):
    t = s23.tour
    for members in (KEYS[1:3], KEYS[:3]):
        tx = _propose(s23, members, 2, owner)
        s23.harness.at(s23.harness.chain.blocks[tx.block_number].timestamp + T_ADMIN_DELAY)
        t.applyCommittee(sender=owner)
    assert t.committeeEpoch() == 3 and t.isCommitteeMember(KEYS[0].address)
    s23.post(s23.sigs(KEYS[:2], epoch=3))


def test_cancel__removes_the_proposal(s23, owner, stranger):
    t = s23.tour
    tx = _propose(s23, KEYS[:4], 3, owner)
    ready = s23.harness.chain.blocks[tx.block_number].timestamp + T_ADMIN_DELAY
    with ape.reverts(t.AccessControlUnauthorizedAccount):
        t.cancelCommitteeProposal(sender=stranger)
    tx = t.cancelCommitteeProposal(sender=owner)
    assert tx.events.filter(t.CommitteeProposalCancelled)[0].applicableAt == ready
    assert t.pendingCommittee() == ([], 0, 0)
    s23.harness.at(ready + 1)
    with ape.reverts(t.NoCommitteeProposal):
        t.applyCommittee(sender=stranger)
    with ape.reverts(t.NoCommitteeProposal):
        t.cancelCommitteeProposal(sender=owner)
    assert t.committeeEpoch() == 1


def test_propose__again__replaces_and_restarts_the_delay(s23, owner):
    t = s23.tour
    _propose(s23, KEYS[:4], 3, owner)
    s23.harness.at(s23.harness.chain.blocks.head.timestamp + 100)
    tx = _propose(s23, KEYS[:2], 1, owner)
    ready = s23.harness.chain.blocks[tx.block_number].timestamp + T_ADMIN_DELAY
    assert t.pendingCommittee() == ([k.address for k in KEYS[:2]], 1, ready)
    s23.harness.at(ready)
    t.applyCommittee(sender=owner)
    assert t.committee() == ([k.address for k in KEYS[:2]], 1)


BAD_COMMITTEES = [
    (lambda: [], 1, "InvalidCommitteeSize", {"size": 0, "maxSize": 31}),
    (lambda: member_keys(32, "big"), 1, "InvalidCommitteeSize", {"size": 32, "maxSize": 31}),
    (lambda: KEYS[:3], 0, "InvalidCommitteeThreshold", {"threshold": 0, "size": 3}),
    (lambda: KEYS[:3], 4, "InvalidCommitteeThreshold", {"threshold": 4, "size": 3}),
    (lambda: [ZERO_ADDRESS, *KEYS[:2]], 1, "ZeroCommitteeMember", {}),
    (lambda: [KEYS[0], KEYS[1], KEYS[1]], 1, "DuplicateCommitteeMember", {"member": KEYS[1].address}),
    (lambda: [KEYS[1], KEYS[0]], 1, "CommitteeMembersNotAscending",
     {"previous": KEYS[1].address, "next": KEYS[0].address}),
]


def _addresses(members) -> list[str]:
    return [m if isinstance(m, str) else m.address for m in members]


@pytest.mark.parametrize("members, threshold, error, args", BAD_COMMITTEES)
def test_constructor__invalid_committee__reverts(project, deploy, members, threshold, error, args):
    with ape.reverts(getattr(project.CommitteeTournament, error), **args):
        deploy(_addresses(members()), threshold)


@pytest.mark.parametrize("members, threshold, error, args", BAD_COMMITTEES)
def test_propose__invalid_committee__reverts(s23, owner, members, threshold, error, args):
    with ape.reverts(getattr(s23.tour, error), **args):
        s23.tour.proposeCommittee(_addresses(members()), threshold, sender=owner)


def test_largest_committee__31_of_31_posts(make):
    keys = member_keys(31, "largest")
    s = make(31, 31, keys=keys)
    tx = s.post(s.sigs(keys))
    assert tx.events.filter(s.tour.ResultAttested)[0].signers == 2**31 - 1


# ============================================================================ property


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(chosen=st.sets(st.integers(0, 6), max_size=7))
def test_property__any_m_distinct_members_post_fewer_revert(chain, s37, chosen):
    """3-of-7: any set of >= 3 distinct members' sorted signatures posts, and records exactly
    them in the bitmap; any smaller set reverts TooFewSignatures."""
    snap = chain.snapshot()
    try:
        keys = [s37.keys[i] for i in sorted(chosen)]
        if len(keys) >= 3:
            tx = s37.post(s37.sigs(keys))
            assert tx.events.filter(s37.tour.ResultAttested)[0].signers == sum(1 << i for i in chosen)
        else:
            with ape.reverts(s37.tour.TooFewSignatures, got=len(keys), threshold=3):
                s37.post(s37.sigs(keys))
    finally:
        chain.restore(snap)


# ------------------------------------------------------------------ dishonest or absent committees


def _books(s: Setup) -> tuple[int, int]:
    """(the tournament's NMR, the token's supply)."""
    return int(s.harness.token.balanceOf(s.tour)), int(s.harness.token.totalSupply())


def test_committee_offline__the_round_expires_and_every_stake_comes_back_in_full(s23, alice, bob):
    """Nobody signs: no result can be posted, the round expires, and each staker withdraws
    exactly the stake; the tournament keeps only the round's funding, to the wei."""
    h = s23.harness
    held, supply = _books(s23)
    h.at(s23.rnd.resolve + T_GRACE)
    with ape.reverts(s23.tour.PostingTooLate):
        s23.tour.postResultSigned(*s23.posting.args(), s23.sigs(), sender=alice)
    before = {who: int(h.token.balanceOf(who)) for who in (alice, bob)}
    s23.tour.emergencyWithdraw(s23.rnd.id, h.model_id("alpha"), sender=alice)
    s23.tour.emergencyWithdraw(s23.rnd.id, h.model_id("bravo"), sender=bob)
    assert int(h.token.balanceOf(alice)) - before[alice] == nmr(100)
    assert int(h.token.balanceOf(bob)) - before[bob] == nmr(200)
    assert _books(s23) == (held - nmr(300), supply)  # nothing burned, only the stakes left


def test_key_rotation_mid_round__old_signatures_refused__new_committee_posts__books_balance(s23, owner, alice, bob):
    """Signatures gathered for the round before a committee change no longer post after it; the
    new committee's do, and the claims then pay exactly the leaves: the tournament's NMR falls by
    the claims and the supply by the burn, to the wei."""
    t, h = s23.tour, s23.harness
    gathered = s23.sigs(s23.keys[:2], epoch=1)
    tx = _propose(s23, KEYS[3:6], 2, owner)
    h.at(h.chain.blocks[tx.block_number].timestamp + T_ADMIN_DELAY)
    t.applyCommittee(sender=owner)
    with ape.reverts(t.NotCommitteeMember):
        s23.post(gathered)
    s23.post(s23.sigs(KEYS[3:5], epoch=2))
    h.at(int(t.getRound(s23.rnd.id).postedAt) + T_CHALLENGE)
    held, supply = _books(s23)
    paid = 0
    for who, name in ((alice, "alpha"), (bob, "bravo")):
        before = int(h.token.balanceOf(who))
        t.claim(*s23.res.claim_args(s23.res.find(h.model_id(name), who)), sender=who)
        paid += int(h.token.balanceOf(who)) - before
    assert paid == nmr(100) + nmr(3) + nmr(200) - nmr(4)
    held_after, supply_after = _books(s23)
    assert held - held_after == paid + nmr(4) and supply - supply_after == nmr(4)
