"""The participant's side, on web3.py and eth-account alone (no ape, no compiler, no project):
the Python API (:class:`~nmrstake.client.api.Participant`), the chain reads and transactions it
stands on (:mod:`nmrstake.client.chain`), the participant's key (:mod:`nmrstake.client.signer`),
the HTTP client of the tournament service (:mod:`nmrstake.client.http`) and the asking side of its
faucet (:mod:`nmrstake.client.faucet`). See docs/python-api.md."""

from nmrstake.client import signer
from nmrstake.client.api import Balances, Claimed, ClaimResult, Participant, Position, StakeResult, Upload

__all__ = ["Balances", "ClaimResult", "Claimed", "Participant", "Position", "StakeResult", "Upload", "signer"]
