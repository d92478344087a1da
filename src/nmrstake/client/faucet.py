"""The participant's side of the service's faucet (``POST /v1/faucet``): :func:`ask_faucet` asks
for test NMR and ether for gas, and :class:`FaucetGrant` is what the faucet sent
(`nmrstake faucet --api`, `Participant.faucet()`). The faucet itself, which mints and sends, is
:mod:`nmrstake.service.faucet`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from nmrstake.jsontypes import json_int, json_object

if TYPE_CHECKING:
    from nmrstake.client.http import ServiceClient


class FaucetGrantJson(TypedDict):
    """:class:`FaucetGrant` as `nmrstake faucet --api --json` prints it (wei, decimal strings)."""

    address: str
    nmr: str
    ether: str
    nmr_txn: str
    ether_txn: str
    next_at: int


@dataclass(frozen=True)
class FaucetGrant:
    """What the faucet sent to `address`: NMR and ether (wei), their transactions, and the Unix
    time from which the address may ask again."""

    address: str
    nmr: int
    ether: int
    nmr_txn: str
    ether_txn: str
    next_at: int

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> FaucetGrant:
        """The faucet's answer (the service's `FaucetGrant` document)."""
        return cls(str(data["address"]), json_int(data["nmr"]), json_int(data["ether"]), str(data["nmr_txn"]),
                   str(data["ether_txn"]), json_int(data["next_at"]))

    def to_json(self) -> FaucetGrantJson:
        return {"address": self.address, "nmr": str(self.nmr), "ether": str(self.ether), "nmr_txn": self.nmr_txn,
                "ether_txn": self.ether_txn, "next_at": self.next_at}


def ask_faucet(service: ServiceClient, address: str) -> FaucetGrant:
    """Ask the service's faucet for test NMR and ether for `address`: one request, never retried
    (a retry could not send twice, the service records each grant, but a refusal is final)."""
    from dataclasses import replace

    from nmrstake.client.http import _Attempts

    once = _Attempts(replace(service.policy, budget=0.0))
    response = service._request("POST", "/v1/faucet", attempts=once, json={"address": address})
    return FaucetGrant.from_json(json_object(service._json(response), "the faucet's answer"))


__all__ = ["FaucetGrant", "FaucetGrantJson", "ask_faucet"]
