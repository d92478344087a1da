"""Reading a stake whose commitment the contract stores only in part: `getStake` holds the amount
and the commitment's first 20 bytes, the full commitment is the key's last `Staked` or
`CommitmentChanged` event. Both readers, the ape client (`TournamentClient`) and the
participant's `Chain` on web3.py, on the embedded EVM."""

from __future__ import annotations

import dataclasses

import pytest
from eth_utils import keccak
from helpers.scenario import WEI, advance_to, make_world, open_funded_round

from nmrstake.client.chain import Chain
from nmrstake.errors import ChainError
from nmrstake.models import model_id
from nmrstake.tournament import ZERO32, StoredStake

ROUND = 71
MID = model_id("model_00")


@pytest.fixture
def world(project, tmp_path):
    world = make_world(project, tmp_path, n_stakers=2)
    open_funded_round(world, ROUND, fund=0)
    return world


def readers(world) -> dict:
    return {"ape": world.client, "web3": Chain(world.client.provider.web3, world.client.deployment)}


def stake(world, acct, amount: int, commitment: bytes) -> None:
    t = world.client.tournament
    if amount:
        world.client.token.approve(t, amount, sender=acct)
    t.stake(ROUND, MID, amount, commitment, sender=acct)


def test_stake__the_full_commitment_is_the_keys_last_event__the_contract_stores_its_first_20_bytes(world):
    alice = world.stakers[0]
    c1, c2, c3 = keccak(b"v1"), keccak(b"v2"), keccak(b"v3")
    # A stake, a replacement of its commitment alone (CommitmentChanged), an addition with a new one (Staked).
    for amount, commitment, total in ((2 * WEI, c1, 2 * WEI), (0, c2, 2 * WEI), (WEI, c3, 3 * WEI)):
        stake(world, alice, amount, commitment)
        for name, reader in readers(world).items():
            s = reader.stake(ROUND, MID, alice.address)
            assert (s.amount, s.commitment) == (total, commitment), name
            stored = reader.stored_stake(ROUND, MID, alice.address)
            assert stored == StoredStake(total, commitment[:20]), name
            assert stored.commits_to(commitment), name
            assert not any(stored.commits_to(c) for c in (c1, c2, c3) if c != commitment), name
    assert [(s.round_id, s.amount, s.commitment) for s in readers(world)["web3"].stakes_of(alice.address)] == [
        (ROUND, 3 * WEI, c3)]


def test_stored_stake__a_commitment_sharing_the_stored_20_bytes_is_the_same_commitment_to_the_contract(world):
    alice = world.stakers[0]
    c1 = keccak(b"v1")
    twin = c1[:20] + bytes(12)
    stake(world, alice, 2 * WEI, c1)
    for name, reader in readers(world).items():
        assert reader.stored_stake(ROUND, MID, alice.address).commits_to(twin), name
        # Replacing c1 with its twin changes nothing on chain: the logs keep c1, which is what counts.
        assert reader.stake(ROUND, MID, alice.address).commitment == c1, name


def test_stake__a_key_that_never_staked_reads_zeros(world):
    bob = world.stakers[1]
    for name, reader in readers(world).items():
        s = reader.stake(ROUND, MID, bob.address)
        assert (s.amount, s.commitment) == (0, ZERO32), name
        stored = reader.stored_stake(ROUND, MID, bob.address)
        assert stored == StoredStake(0, bytes(20)) and not stored.commits_to(keccak(b"v1")), name


def test_stake__a_withdrawn_stake_reads_amount_0_and_still_its_logged_commitment(world):
    alice = world.stakers[0]
    c1 = keccak(b"v1")
    stake(world, alice, 2 * WEI, c1)
    advance_to(world.client.round(ROUND).expires_at)
    world.client.tournament.emergencyWithdraw(ROUND, MID, sender=alice)
    for name, reader in readers(world).items():
        # The contract cleared the stake's slot; its events still say what it committed to.
        assert reader.stored_stake(ROUND, MID, alice.address) == StoredStake(0, bytes(20)), name
        s = reader.stake(ROUND, MID, alice.address)
        assert (s.amount, s.commitment) == (0, c1), name
    assert [(s.amount, s.commitment) for s in readers(world)["web3"].stakes_of(alice.address)] == [(0, c1)]


def test_stake__logs_read_from_after_the_stake__raise_rather_than_give_a_wrong_commitment(world):
    alice = world.stakers[0]
    stake(world, alice, 2 * WEI, keccak(b"v1"))
    dep = world.client.deployment
    head = world.client.head()
    late = dataclasses.replace(dep, contracts={
        **dep.contracts, "Tournament": dataclasses.replace(dep.contracts["Tournament"], block=head + 1)})
    chain = Chain(world.client.provider.web3, late)
    with pytest.raises(ChainError, match="stores commitment prefix 0x[0-9a-f]{40}, its logs show no Staked event"):
        chain.stake(ROUND, MID, alice.address)
    assert chain.stored_stake(ROUND, MID, alice.address).commits_to(keccak(b"v1"))  # one call, no logs
