"""Helpers of the oracle committee's tests: members' keys, their EIP-712 attestations of a result
(contracts/OracleCommittee.sol) and the packed signatures `postResultSigned` takes.

An attestation is signed as typed data through eth-account, independently of the contract, so the
tests check the contract's digest against the standard rather than against itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

DOMAIN_NAME = "nmrstake oracle committee"
DOMAIN_VERSION = "1"
ATTESTATION_FIELDS = [
    {"name": "roundId", "type": "uint256"},
    {"name": "root", "type": "bytes32"},
    {"name": "totalPayout", "type": "uint256"},
    {"name": "totalBurn", "type": "uint256"},
    {"name": "leafCount", "type": "uint256"},
    {"name": "resultsHash", "type": "bytes32"},
    {"name": "committeeEpoch", "type": "uint256"},
]
ATTESTATION_TYPE = "Attestation(" + ",".join(f"{f['type']} {f['name']}" for f in ATTESTATION_FIELDS) + ")"
# secp256k1's group order: s above n/2 is the malleable twin of a signature.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def member_keys(n: int, label: str = "committee") -> list[LocalAccount]:
    """`n` deterministic keys, sorted by address (the order the contract wants)."""
    keys = [Account.from_key(keccak(f"{label}:{i}".encode())) for i in range(n)]
    return sorted(keys, key=lambda a: int(a.address, 16))


@dataclass(frozen=True)
class Posting:
    """What a posting carries: the arguments of `postResult` and of `postResultSigned`."""

    round_id: int
    root: bytes
    total_payout: int
    total_burn: int
    leaf_count: int
    results_hash: bytes

    def args(self) -> tuple:
        return (self.round_id, self.root, self.total_payout, self.total_burn, self.leaf_count, self.results_hash)

    def replace(self, **changes) -> Posting:
        return Posting(**{**self.__dict__, **changes})


def typed_data(posting: Posting, epoch: int, chain_id: int, contract: str) -> dict:
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Attestation": ATTESTATION_FIELDS,
        },
        "primaryType": "Attestation",
        "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": chain_id,
                   "verifyingContract": str(contract)},
        "message": {
            "roundId": posting.round_id,
            "root": posting.root,
            "totalPayout": posting.total_payout,
            "totalBurn": posting.total_burn,
            "leafCount": posting.leaf_count,
            "resultsHash": posting.results_hash,
            "committeeEpoch": epoch,
        },
    }


def sign(key: LocalAccount, posting: Posting, epoch: int, chain_id: int, contract: str) -> bytes:
    """One member's attestation: 65 bytes r ‖ s ‖ v."""
    sig = Account.sign_typed_data(key.key, full_message=typed_data(posting, epoch, chain_id, contract))
    return sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v])


def digest(posting: Posting, epoch: int, chain_id: int, contract: str) -> bytes:
    """The EIP-712 digest eth-account signs (what `attestationDigest` must return)."""
    from eth_account.messages import encode_typed_data

    msg = encode_typed_data(full_message=typed_data(posting, epoch, chain_id, contract))
    return keccak(b"\x19" + msg.version + msg.header + msg.body)


def pack(signatures: list[bytes]) -> bytes:
    """The `signatures` argument: the 65-byte signatures concatenated, in the order given."""
    return b"".join(signatures)


def sign_all(keys: list[LocalAccount], posting: Posting, epoch: int, chain_id: int, contract: str,
             sort: bool = True) -> bytes:
    """Packed signatures of `keys` (sorted by address unless `sort` is false)."""
    if sort:
        keys = sorted(keys, key=lambda a: int(a.address, 16))
    return pack([sign(k, posting, epoch, chain_id, contract) for k in keys])


def malleable(signature: bytes) -> bytes:
    """The same signature with s -> n - s and v flipped: ecrecover accepts it, the contract must not."""
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    return r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])


def make_committee_world(project, tmp, members: list[str], threshold: int, n_stakers: int = 3):
    """helpers.scenario.make_world, but the deployment is a CommitteeTournament with `members`
    (addresses) and `threshold`, and nobody holds ORACLE_ROLE: results are posted with signatures."""
    from ape import accounts

    from helpers.scenario import SETTINGS, WEI, World
    from nmrstake.deploy import deploy
    from nmrstake.results.layout import DataLayout
    from nmrstake.tournament import TournamentClient

    owner = accounts.test_accounts[0]
    deployments = tmp / "deployments"
    dep, _ = deploy(project, owner, directory=deployments, force=True, settings=SETTINGS, committee=members,
                    threshold=threshold, log=lambda m: None)
    client = TournamentClient(project, dep)
    stakers = list(accounts.test_accounts[3: 3 + n_stakers])
    for s in [*stakers, accounts.test_accounts[2]]:
        client.token.mint(s, 10_000 * WEI, sender=owner)
    return World(client, deployments, DataLayout(tmp / "data"), owner, accounts.test_accounts[1], stakers)
