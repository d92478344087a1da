"""Disputing a posted result, the participant's side of the deployment's `DisputeDesk`
(docs/disputes.md): a bond in NMR, and the result is rejected at once, so it never becomes final;
the bond comes back (with a reward) when another result is posted or the arbiter agrees, and is
lost when the same result outlives a new challenge period or the arbiter disagrees.

`nmrstake verify ROUND --dispute` files one when its recomputation disagrees with the chain, with
the first difference as evidence (:meth:`nmrstake.client.api.Participant.dispute`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from nmrstake.amounts import format_nmr
from nmrstake.errors import ChainError, ConfigError
from nmrstake.hashing import to_hex
from nmrstake.tournament import RoundState

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from nmrstake.chain.node import ContractHandle
    from nmrstake.client.chain import Chain
    from nmrstake.verify import VerifyReport

Say = Callable[[str], None]
ZERO_ADDRESS = "0x" + "00" * 20
#: The evidence is emitted in the desk's `Disputed` event: kept short, it costs little calldata.
MAX_EVIDENCE_BYTES = 1024


@dataclass(frozen=True)
class DisputeFiled:
    """A dispute sent: the round, the disputed root, the bond (NMR wei), the evidence, the transaction."""

    round_id: int
    disputed_root: str
    bond: int
    evidence: str
    txn: str
    gas_used: int

    def to_json(self) -> dict[str, str | int]:
        return {**asdict(self), "bond": str(self.bond)}


#: A difference `verify` names at a leaf: a stake's validity, payout or burn recomputed otherwise.
_LEAF_DIFFERENCE = re.compile(r"model \S+ staker 0x[0-9a-fA-F]{40}: ")


def evidence_of(report: VerifyReport) -> str:
    """The evidence a dispute carries: the first difference that names a leaf (a stake whose
    validity, payout or burn the published round gets wrong), else the first difference (a root or
    a total that differs from the chain, when the published leaves are right and only the posting
    is not)."""
    if not report.differences:
        raise ValueError("the round verifies: there is no evidence to dispute it with")
    return next((d for d in report.differences if _LEAF_DIFFERENCE.search(d)), report.differences[0])


def dispute_desk(chain: Chain) -> ContractHandle:
    """The deployment's DisputeDesk, once its code is checked against the code this release
    carries; a deployment without one is a ConfigError saying so."""
    from nmrstake.abi import code_matches, load

    record = chain.deployment.contracts.get("DisputeDesk")
    if record is None:
        raise ConfigError("this deployment has no dispute desk (deploy one with `ape run deploy --dispute-bond NMR`): "
                          "a wrong result can only be reported to the guardian")
    if not code_matches("DisputeDesk", chain.node.code(record.address)):
        raise ConfigError(f"the DisputeDesk at {record.address} does not hold the DisputeDesk code this nmrstake "
                          "release was built with")
    return chain.node.contract(record.address, load("DisputeDesk"))


def file_dispute(chain: Chain, account: LocalAccount, round_id: int, evidence: str, *,
                 say: Say = lambda _: None) -> DisputeFiled:
    """Dispute the result posted for `round_id` from `account`, depositing the desk's bond, with
    `evidence` (text, emitted with the dispute). Every check is made before anything is sent:
    the round holds a result in its challenge period, nobody disputes it already, the account
    holds the bond."""
    desk = dispute_desk(chain)
    info = chain.round(round_id)
    if info.state is not RoundState.POSTED:
        raise ChainError(f"round {round_id} is {info.state.label}: only a posted result in its challenge period can "
                         "be disputed; nothing was sent")
    raw = evidence.encode()
    if len(raw) > MAX_EVIDENCE_BYTES:
        raw = raw[: MAX_EVIDENCE_BYTES - 3] + b"..."
    disputer = str(desk.functions.disputeOf(round_id).call()[0])
    if int(disputer, 16) != 0:
        raise ChainError(f"round {round_id}'s result is disputed already, by {disputer}; nothing was sent")
    bond = int(desk.functions.bond().call())
    balance = chain.nmr_balance(account.address)
    if balance < bond:
        raise ChainError(f"a dispute deposits a bond of {format_nmr(bond)} NMR; {account.address} holds "
                         f"{format_nmr(balance)} NMR; nothing was sent")
    caps = chain.token_capabilities()
    chain.approve_exactly(account, bond, say, reason="the dispute's bond", spender=str(desk.address),
                          spender_name="the dispute desk", from_zero_only=caps.approve_from_zero_only)
    say(f"disputing round {round_id}'s result {to_hex(info.root)} with a bond of {format_nmr(bond)} NMR")
    sent = chain.send(desk.functions.dispute(round_id, info.root, raw), account,
                      what=f"disputing round {round_id}'s result")
    return DisputeFiled(round_id, to_hex(info.root), bond, raw.decode(errors="replace"), sent.txn_hash,
                        sent.gas_used)
