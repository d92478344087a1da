"""The chain side of the committee fuzzing (tests/contracts/test_committee_invariants.py): the
tournament adapter (`adapter.Evm`) with a CommitteeTournament as "tour" and its DisputeDesk as
"desk", and their committee and dispute state read back. Like `adapter`, it knows nothing of the
model; it touches the chain, the model module `committee` never does.
"""

from __future__ import annotations

from eth_utils import to_checksum_address

from helpers.fuzz_tournament.adapter import Evm


class CommitteeEvm(Evm):
    """`contracts` must name "nmr", "tour" (a CommitteeTournament) and "desk" (its DisputeDesk)."""

    def committee(self) -> tuple[list[str], int]:
        members, threshold = self.call("tour", "committee")
        return [to_checksum_address(m) for m in members], threshold

    def committee_epoch(self) -> int:
        return self.call("tour", "committeeEpoch")

    def pending_committee(self) -> tuple[list[str], int, int]:
        members, threshold, at = self.call("tour", "pendingCommittee")
        return [to_checksum_address(m) for m in members], threshold, at

    def round_state(self, rid: int) -> int:
        """`roundState` as the next transaction sees it (at the pending block's timestamp)."""
        error, raw = self.pending_call(self.address["owner"], self.addr["tour"], self.data("tour", "roundState", (rid,)))
        assert error is None, error
        return self.decode_return("tour", "roundState", raw)

    def reserve(self) -> int:
        return self.call("desk", "reserve")

    def bonded(self) -> int:
        return self.call("desk", "bonded")

    def dispute_of(self, rid: int) -> tuple[str, int, int, bytes]:
        """(disputer, bond, filed at, disputed root), addresses checksummed; the zero address for
        none open."""
        d = self.call("desk", "disputeOf", rid)
        return to_checksum_address(d["disputer"]), d["bond"], d["filedAt"], bytes(d["disputedRoot"])
