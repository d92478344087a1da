"""The participant's side, on the node's JSON-RPC (:mod:`nmrstake.chain.node`) and eth-account
alone (no ape, no web3.py, no compiler, no project):
the Python API (:class:`~nmrstake.client.api.Participant`), the chain reads and transactions it
stands on (:mod:`nmrstake.client.chain`), the participant's key (:mod:`nmrstake.client.signer`),
the HTTP client of the tournament service (:mod:`nmrstake.client.http`) and the asking side of its
faucet (:mod:`nmrstake.client.faucet`). See docs/python-api.md.

`from nmrstake.client import Participant, signer` loads the API on first use: a command that only
talks to the service (`nmrstake.client.http`) does not pay for eth-account's and eth-abi's imports."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nmrstake.client import signer
    from nmrstake.client.api import Balances, Claimed, ClaimResult, Participant, Position, StakeResult, Upload

__all__ = ["Balances", "ClaimResult", "Claimed", "Participant", "Position", "StakeResult", "Upload", "signer"]


def __getattr__(name: str) -> Any:
    if name == "signer":
        return importlib.import_module("nmrstake.client.signer")
    if name in __all__:
        return getattr(importlib.import_module("nmrstake.client.api"), name)
    raise AttributeError(f"module 'nmrstake.client' has no attribute {name!r}")
