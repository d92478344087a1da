"""The participant's delivery receipts, kept on the participant's own machine.

A receipt is the service's signed statement that it received a file hashing to a commitment, for
(round, model, staker), at a chain time (:class:`nmrstake.signing.DeliveryReceipt`). `nmrstake
stake` and `nmrstake submit` keep every receipt they get; `nmrstake verify` reports a stake that
holds a receipt from before close yet is treated as undelivered in the published round.

Layout: ``$NMRSTAKE_HOME/receipts/<chainid>-<tournament>/round-<id>/<model>/<staker>/<commitment>-<receivedAt>.json``,
each file ``{"receipt": ..., "signer": ...}`` written atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nmrstake.errors import InputError
from nmrstake.fsutil import write_atomic
from nmrstake.hashing import checksum_address, to_hex
from nmrstake.signing import DeliveryReceipt, Domain
from nmrstake.wallet import nmrstake_home


@dataclass(frozen=True)
class KeptReceipt:
    receipt: DeliveryReceipt
    signer: str  # the service's receipt signer the receipt was checked against when it arrived
    path: Path


class ReceiptBook:
    """Receipts of one deployment (a Domain) on this machine."""

    def __init__(self, domain: Domain, root: Path | None = None) -> None:
        self.domain = domain
        self.root = (root or nmrstake_home() / "receipts") / f"{domain.chain_id}-{domain.tournament.lower()}"

    def path(self, receipt: DeliveryReceipt) -> Path:
        return (self.root / f"round-{receipt.round_id}" / receipt.model / checksum_address(receipt.staker)
                / f"{to_hex(receipt.commitment)}-{receipt.received_at}.json")

    def keep(self, receipt: DeliveryReceipt, signer: str) -> Path:
        """Check that `signer` signed the receipt, then keep it."""
        if receipt.signer(self.domain) != checksum_address(signer):
            raise InputError(f"receipt for round {receipt.round_id} model {receipt.model}: not signed by the "
                             f"service's receipt signer {signer}")
        path = self.path(receipt)
        write_atomic(path, json.dumps({"receipt": receipt.to_json(), "signer": checksum_address(signer)}, indent=2) + "\n",
                     mode=0o600)
        return path

    def for_round(self, round_id: int) -> list[KeptReceipt]:
        out = []
        for path in sorted((self.root / f"round-{round_id}").glob("*/*/*.json")):
            try:
                data = json.loads(path.read_text())
                out.append(KeptReceipt(DeliveryReceipt.from_json(data["receipt"]), str(data["signer"]), path))
            except (OSError, ValueError, KeyError, InputError) as exc:
                raise InputError(f"{path}: not a readable receipt ({exc})") from None
        return out
