"""A pure Python model of the oracle committee and the dispute desk, extending the tournament's
model (`model.Tournament`): contracts/OracleCommittee.sol as inherited by CommitteeTournament
(M-of-N signed posting, committee changes through the admin delay, epochs) and
contracts/DisputeDesk.sol (bonded disputes that reject a posted result at once through the
tournament's REJECTER_ROLE, settlement, the arbiter's rulings, the reserve). The committee fuzzing
(tests/contracts/test_committee_invariants.py) runs it.

Signatures are modelled by what was signed, not by bytes: a `Signature` is the signing key's
address and the attestation it signed (chain id, contract, round, root, totals, leaf count, results
hash, epoch). Over the posted content in the current epoch, on this chain and contract, it recovers
its signer; over anything else it recovers an unrelated address, which is no member
(`NotCommitteeMember`). The machine signs the same attestations with the real keys.

As in `model`, every action is written in the order the contract checks and acts, nested calls
(desk -> tournament, desk -> token) are nested method calls, and `attempt` unwinds a revert. The
model never reads the chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from helpers.fuzz_tournament.model import EXPIRED, FINAL, POSTED, ZERO32, ZERO_ADDRESS, Revert, Tournament

MAX_COMMITTEE_SIZE = 31
UPHELD, DISMISSED, EXPIRED_OUTCOME = 1, 2, 3


@dataclass(frozen=True)
class Attestation:
    """What a member signs: the posting, the committee epoch and the EIP-712 domain's chain and
    contract."""

    chain_id: int
    contract: str
    round_id: int
    root: bytes
    total_payout: int
    total_burn: int
    leaf_count: int
    results_hash: bytes
    epoch: int


@dataclass(frozen=True)
class Signature:
    signer: str  # the address of the key that signed
    over: Attestation
    # "valid"; "malleable": s replaced by n - s (and v flipped), which ecrecover would accept;
    # "unrecoverable": r = 0, which recovers no address.
    form: str = "valid"


@dataclass
class Dispute:
    disputer: str
    bond: int
    filed_at: int
    root: bytes


class CommitteeTournament(Tournament):
    """The token, a CommitteeTournament and its DisputeDesk. Besides `Tournament`'s arguments:
    the tournament's `chain_id`, the first committee (`members`, ascending, and `threshold`), the
    `admin_delay` (of committee changes), and the desk: its address `desk`, its `arbiter`, `bond`
    and `reward` (the desk's admin is the tournament's, `roles["owner"]`); `approved` may name
    allowances to the desk through `allowances`."""

    def __init__(self, *, chain_id: int, members: list, threshold: int, admin_delay: int, desk: str,
                 arbiter: str, bond: int, reward: int, **kwargs):
        super().__init__(**kwargs)
        self.chain_id = chain_id
        self.admin_delay = admin_delay
        self.epoch = 0
        self.members: list = []
        self.threshold = 0
        self.membership: dict = {}  # address -> (epoch, index + 1), as the contract's words
        self.pending: tuple | None = None  # (members, threshold, applicable at)
        self._set_committee(list(members), threshold)
        self.desk, self.arbiter, self.bond, self.reward = desk, arbiter, bond, reward
        self.reserve = 0
        self.bonded = 0
        self.disputes: dict[int, Dispute] = {}  # round -> its open dispute
        self.outcomes: list = []  # (round, disputer, outcome, paid, forfeited) of every dispute closed

    # ---------------------------------------------------------------- committee

    def is_member(self, address: str) -> bool:
        epoch, position = self.membership.get(address, (0, 0))
        return epoch == self.epoch and position != 0

    def attestation(self, rid, root, payout, burn, n, results_hash, epoch=None) -> Attestation:
        """The attestation of a posting in this tournament's domain (the current epoch by default)."""
        return Attestation(self.chain_id, self.tour, rid, root, payout, burn, n, results_hash,
                           self.epoch if epoch is None else epoch)

    def post_result_signed(self, sender, rid, root, payout, burn, n, results_hash, signatures, bad_length,
                           tree) -> int:
        """`postResultSigned` by anyone; `signatures`: the `Signature`s packed in order, with one
        stray byte if `bad_length`. Returns the bitmap of the signers."""
        want = self.attestation(rid, root, payout, burn, n, results_hash)
        if bad_length:
            raise Revert("SignaturesLengthInvalid")
        if len(signatures) < self.threshold:
            raise Revert("TooFewSignatures")
        previous, bitmap = 0, 0
        for sig in signatures:
            if sig.form != "valid":
                raise Revert("SignatureMalleable" if sig.form == "malleable" else "SignatureInvalid")
            if sig.over != want or not self.is_member(sig.signer):
                raise Revert("NotCommitteeMember")  # over anything else it recovers an unrelated address
            signer = int(sig.signer, 16)
            if signer <= previous:
                raise Revert("DuplicateSigner" if signer == previous else "SignersNotAscending")
            bitmap |= 1 << (self.membership[sig.signer][1] - 1)
            previous = signer
        Tournament.post_result(self, self.oracle, rid, root, payout, burn, n, tree)
        return bitmap

    def _check_committee(self, members: list, threshold: int) -> None:
        size = len(members)
        if size == 0 or size > MAX_COMMITTEE_SIZE:
            raise Revert("InvalidCommitteeSize")
        if threshold == 0 or threshold > size:
            raise Revert("InvalidCommitteeThreshold")
        previous = 0
        for member in members:
            if member == ZERO_ADDRESS:
                raise Revert("ZeroCommitteeMember")
            if int(member, 16) <= previous:
                raise Revert("DuplicateCommitteeMember" if int(member, 16) == previous
                             else "CommitteeMembersNotAscending")
            previous = int(member, 16)

    def _set_committee(self, members: list, threshold: int) -> None:
        self.epoch += 1
        self.members, self.threshold = list(members), threshold
        for i, member in enumerate(members):
            self.membership[member] = (self.epoch, i + 1)

    def propose_committee(self, sender, members, threshold) -> None:
        if sender != self.admin:
            raise Revert("AccessControlUnauthorizedAccount")
        self._check_committee(members, threshold)
        self.pending = (list(members), threshold, self.now + self.admin_delay)

    def apply_committee(self, sender) -> None:
        if self.pending is None:
            raise Revert("NoCommitteeProposal")
        members, threshold, at = self.pending
        if self.now < at:
            raise Revert("CommitteeProposalNotReady")
        self.pending = None
        self._set_committee(members, threshold)

    def cancel_committee_proposal(self, sender) -> None:
        if sender != self.admin:
            raise Revert("AccessControlUnauthorizedAccount")
        if self.pending is None:
            raise Revert("NoCommitteeProposal")
        self.pending = None

    # ---------------------------------------------------------------- the tournament's rejecter

    def reject_result(self, sender, rid) -> None:
        """The guardian or REJECTER_ROLE (the desk) rejects a result in its challenge period."""
        super().reject_result(self.admin if sender == self.desk else sender, rid)

    # ---------------------------------------------------------------- the desk

    def dispute(self, sender, rid, named_root) -> None:
        if rid in self.disputes:
            raise Revert("AlreadyDisputed")
        r = self.rounds.get(rid)
        root = r.root if r is not None else ZERO32
        if root == ZERO32 or root != named_root:
            raise Revert("NotThePostedRoot")
        if self.state(rid) != POSTED:
            raise Revert("NotDisputable")
        self.disputes[rid] = Dispute(sender, self.bond, self.now, named_root)
        self.bonded += self.bond
        self._transfer_from(self.desk, sender, self.desk, self.bond)
        self.reject_result(self.desk, rid)

    def _open_dispute(self, rid) -> Dispute:
        d = self.disputes.get(rid)
        if d is None:
            raise Revert("NoOpenDispute")
        return d

    def settle(self, sender, rid) -> None:
        d = self._open_dispute(rid)
        state = self.state(rid)
        r = self.rounds.get(rid)
        root = r.root if r is not None else ZERO32
        if root != ZERO32 and root != d.root:
            self._close(rid, d, UPHELD)
        elif root == d.root and state == FINAL:
            self._close(rid, d, DISMISSED)
        elif state == EXPIRED:
            self._close(rid, d, EXPIRED_OUTCOME)
        else:
            raise Revert("NotSettledYet")

    def rule(self, sender, rid, right: bool) -> None:
        if sender != self.arbiter:
            raise Revert("AccessControlUnauthorizedAccount")
        d = self._open_dispute(rid)
        self._close(rid, d, UPHELD if right else DISMISSED)
        r = self.rounds[rid]
        if right and r.root == d.root and self.state(rid) == POSTED:
            self.reject_result(self.desk, rid)

    def fund_reserve(self, sender, amount) -> None:
        self.reserve += amount
        self._transfer_from(self.desk, sender, self.desk, amount)

    def withdraw_reserve(self, sender, to, amount) -> None:
        if sender != self.admin:
            raise Revert("AccessControlUnauthorizedAccount")
        if to == ZERO_ADDRESS:
            raise Revert("DeskZeroAddress")
        if amount > self.reserve:
            raise Revert("ReserveTooSmall")
        self.reserve -= amount
        self._transfer(self.desk, to, amount)

    def _close(self, rid, d: Dispute, outcome: int) -> None:
        del self.disputes[rid]
        self.bonded -= d.bond
        paid = forfeited = 0
        if outcome == UPHELD:
            earned = min(self.reward, self.reserve)
            self.reserve -= earned
            paid = d.bond + earned
        elif outcome == DISMISSED:
            forfeited = d.bond
            self.reserve += forfeited
        else:
            paid = d.bond
        self.outcomes.append((rid, d.disputer, outcome, paid, forfeited))
        if paid:
            self._transfer(self.desk, d.disputer, paid)

    def desk_owed(self) -> int:
        """What the desk must hold: its reserve and the bonds of the open disputes."""
        return self.reserve + sum(d.bond for d in self.disputes.values())
