"""Tournament: deployment, roles, rounds and their time rules, staking, funding, pause.

Claims, results, settlement and exits: test_tournament_claims.py; properties:
test_tournament_props.py. Fixtures and the `harness` helper: conftest.py.
"""

from __future__ import annotations

import ape
import pytest
from eth_account import Account
from eth_utils import keccak
from helpers.harness import nmr  # noqa: E402  (the shared amount helper)

ZERO32 = b"\x00" * 32
ZERO20 = b"\x00" * 20
STAKES_SLOT = 6  # Tournament's `_stakes` mapping (bench/gas.py writes stakes at the same slots)


def stake_slot(round_id: int, model_id: bytes, staker: str) -> int:
    """The storage slot of `_stakes[round_id][model_id][staker]`."""
    def at(key: bytes, slot: int) -> int:
        return int.from_bytes(keccak(key + slot.to_bytes(32, "big")), "big")

    return at(bytes(12) + bytes.fromhex(staker[2:]), at(model_id, at(round_id.to_bytes(32, "big"), STAKES_SLOT)))


def storage_at(contract, slot: int) -> int:
    return int.from_bytes(bytes(ape.chain.provider.get_storage(contract.address, slot)), "big")
ZERO_ADDRESS = "0x" + "00" * 20
STATES = ["None", "Scheduled", "Open", "Closed", "Posted", "Final", "Expired"]


def state(tour, rnd) -> str:
    return STATES[tour.roundState(rnd.id if hasattr(rnd, "id") else rnd)]


def permit(token, owner_acct, spender, value, deadline, signer=None):
    """EIP-2612 permit (v, r, s) signed as EIP-712 typed data by `signer` (default: the owner)."""
    signer = signer or owner_acct
    data = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {
            "name": token.name(),
            "version": "1",
            "chainId": ape.chain.chain_id,
            "verifyingContract": token.address,
        },
        "message": {
            "owner": owner_acct.address,
            "spender": str(spender),
            "value": value,
            "nonce": token.nonces(owner_acct.address),
            "deadline": deadline,
        },
    }
    sig = Account.sign_typed_data(signer.private_key, full_message=data)
    return sig.v, sig.r.to_bytes(32, "big"), sig.s.to_bytes(32, "big")


# ============================================================================ deployment


def test_constructor_sets_immutables_and_admin(tournament, token, owner, harness):
    t = tournament
    assert t.nmr() == token.address
    assert t.challengePeriod() == harness.CHALLENGE
    assert t.gracePeriod() == harness.GRACE
    assert t.maxPauseDuration() == harness.MAX_PAUSE
    assert t.defaultAdmin() == owner.address
    assert t.owner() == owner.address
    assert t.defaultAdminDelay() == harness.ADMIN_DELAY
    assert t.hasRole(t.DEFAULT_ADMIN_ROLE(), owner)
    assert t.pool() == 0
    assert t.lastRoundId() == 0
    assert not t.paused()
    assert t.pausedUntil() == 0
    assert t.MANAGER_ROLE() == keccak(b"MANAGER_ROLE")
    assert t.ORACLE_ROLE() == keccak(b"ORACLE_ROLE")
    assert t.PAUSER_ROLE() == keccak(b"PAUSER_ROLE")
    assert t.BPS() == 10_000


@pytest.mark.parametrize(
    "args, error",
    [
        (("zero_token", 3600, 100, 1000, 10), "ZeroAddress"),
        (("token", 3600, 0, 1000, 10), "InvalidConfig"),
        (("token", 3600, 100, 100, 10), "InvalidConfig"),
        (("token", 3600, 100, 99, 10), "InvalidConfig"),
        (("token", 3600, 100, 1000, 0), "InvalidConfig"),
        (("token", 3600, 100, 1000, 365 * 86_400 + 1), "InvalidConfig"),
        (("token", 3600, 100, 1000, 901), "InvalidConfig"),  # a pause longer than the posting window
    ],
)
def test_constructor_rejects_bad_config(project, owner, token, tournament, args, error):
    tok = ZERO_ADDRESS if args[0] == "zero_token" else token.address
    with ape.reverts(getattr(project.Tournament, error)):
        owner.deploy(project.Tournament, tok, owner, *args[1:])


def test_constructor_rejects_zero_admin(project, owner, token, tournament):
    with ape.reverts(project.Tournament.AccessControlInvalidDefaultAdmin):
        owner.deploy(project.Tournament, token, ZERO_ADDRESS, 3600, 100, 1000, 10)


def test_constructor_accepts_grace_just_above_challenge(project, owner, token):
    t = owner.deploy(project.Tournament, token, owner, 0, 100, 101, 1)
    assert t.gracePeriod() == 101 and t.maxPauseDuration() == 1
    longest = owner.deploy(project.Tournament, token, owner, 0, 86_400, 400 * 86_400, 365 * 86_400)
    assert longest.maxPauseDuration() == longest.MAX_PAUSE_LIMIT()


def test_admin_handover_is_two_step_and_delayed(tournament, owner, bob, stranger, harness):
    t = tournament
    tx = t.beginDefaultAdminTransfer(bob, sender=owner)
    begun = harness.chain.blocks[tx.block_number].timestamp
    pending, schedule = t.pendingDefaultAdmin()
    assert pending == bob.address and schedule == begun + harness.ADMIN_DELAY
    # Not until the schedule has passed (OpenZeppelin: strictly after it), never by someone else.
    harness.at(schedule)
    with ape.reverts(t.AccessControlEnforcedDefaultAdminDelay, schedule=schedule):
        t.acceptDefaultAdminTransfer(sender=bob)
    harness.at(schedule + 1)
    with ape.reverts(t.AccessControlInvalidDefaultAdmin):
        t.acceptDefaultAdminTransfer(sender=stranger)
    t.acceptDefaultAdminTransfer(sender=bob)
    assert t.defaultAdmin() == bob.address
    assert not t.hasRole(t.DEFAULT_ADMIN_ROLE(), owner)
    # The old admin lost its powers.
    with ape.reverts(t.AccessControlUnauthorizedAccount):
        t.withdrawPool(owner, 1, sender=owner)


def test_default_admin_role_cannot_be_granted_directly(tournament, owner, bob):
    with ape.reverts(tournament.AccessControlEnforcedDefaultAdminRules):
        tournament.grantRole(tournament.DEFAULT_ADMIN_ROLE(), bob, sender=owner)


# ============================================================================ roles

# Every state-changing function of the ABI must be listed in exactly one of these sets, so a new
# function cannot be added without deciding who may call it.
PRIVILEGED = {
    # name: (role attribute or special, expected error)
    "openRound": "MANAGER_ROLE",
    "allocate": "MANAGER_ROLE",
    "postResult": "ORACLE_ROLE",
    "rejectResult": "DEFAULT_ADMIN_ROLE",
    "withdrawPool": "DEFAULT_ADMIN_ROLE",
    "pause": "PAUSER_ROLE",
    "unpause": "PAUSER_ROLE",
    "grantRole": "DEFAULT_ADMIN_ROLE",
    "revokeRole": "DEFAULT_ADMIN_ROLE",
    "beginDefaultAdminTransfer": "DEFAULT_ADMIN_ROLE",
    "cancelDefaultAdminTransfer": "DEFAULT_ADMIN_ROLE",
    "changeDefaultAdminDelay": "DEFAULT_ADMIN_ROLE",
    "rollbackDefaultAdminDelay": "DEFAULT_ADMIN_ROLE",
    # Only the pending admin / only for oneself:
    "acceptDefaultAdminTransfer": "pending-admin",
    "renounceRole": "self",
}
PUBLIC = {
    "stake",
    "stakeWithPermit",
    "fund",
    "fundPool",
    "finalise",
    "claim",
    "claimMany",
    "emergencyWithdraw",
    "exitUnclaimed",
    "restake",
    "setClaimsBySelfOnly",
}


def _dummy(abi_type, components, who):
    if abi_type.endswith("[]"):
        return []
    if abi_type == "tuple":
        return tuple(_dummy(c.type, getattr(c, "components", None), who) for c in components)
    if abi_type.startswith("uint") or abi_type.startswith("int"):
        return 1
    if abi_type == "address":
        return who.address
    if abi_type == "bool":
        return True
    if abi_type == "string":
        return "x"
    if abi_type.startswith("bytes"):
        n = int(abi_type[5:] or 32)
        return b"\x01" * n
    raise AssertionError(f"unhandled ABI type {abi_type}")


def _mutating(tour):
    return [
        m for m in tour.contract_type.abi
        if m.type == "function" and m.stateMutability in ("nonpayable", "payable")
    ]


def test_every_state_changing_function_is_classified(tournament):
    names = {m.name for m in _mutating(tournament)}
    assert not (PRIVILEGED.keys() & PUBLIC)
    assert names == set(PRIVILEGED) | PUBLIC, (
        f"unclassified: {names - set(PRIVILEGED) - PUBLIC}; stale: {(set(PRIVILEGED) | PUBLIC) - names}"
    )


def test_every_privileged_function_rejects_a_stranger(tournament, stranger, bob):
    t = tournament
    checked = 0
    for m in _mutating(t):
        if m.name not in PRIVILEGED:
            continue
        role = PRIVILEGED[m.name]
        # renounceRole for someone else's account; other address args point at bob.
        args = [_dummy(i.type, getattr(i, "components", None), bob) for i in m.inputs]
        if role == "pending-admin":
            with ape.reverts(t.AccessControlInvalidDefaultAdmin):
                getattr(t, m.name)(*args, sender=stranger)
        elif role == "self":
            with ape.reverts(t.AccessControlBadConfirmation):
                getattr(t, m.name)(*args, sender=stranger)
        else:
            role_id = getattr(t, role)()
            with ape.reverts(t.AccessControlUnauthorizedAccount, account=stranger.address, neededRole=role_id):
                getattr(t, m.name)(*args, sender=stranger)
        checked += 1
    assert checked == len(PRIVILEGED)


def test_roles_are_not_interchangeable(tournament, harness, owner, oracle, manager, pauser, alice):
    t, h = tournament, harness
    rnd = h.open_round()
    params = rnd.params
    for acct in (owner, oracle, pauser):
        with ape.reverts(t.AccessControlUnauthorizedAccount):
            t.openRound(rnd.id + 1, params, sender=acct)
        with ape.reverts(t.AccessControlUnauthorizedAccount):
            t.allocate(rnd.id, 1, sender=acct)
    for acct in (owner, manager, pauser):
        with ape.reverts(t.AccessControlUnauthorizedAccount):
            t.postResult(rnd.id, b"\x01" * 32, 0, 0, 0, ZERO32, sender=acct)
    for acct in (oracle, manager, pauser):
        with ape.reverts(t.AccessControlUnauthorizedAccount):
            t.rejectResult(rnd.id, "no", sender=acct)
        with ape.reverts(t.AccessControlUnauthorizedAccount):
            t.withdrawPool(acct, 1, sender=acct)
    for acct in (owner, oracle, manager):
        with ape.reverts(t.AccessControlUnauthorizedAccount):
            t.pause(sender=acct)


def test_admin_grants_and_revokes_roles(tournament, owner, stranger, harness):
    t = tournament
    t.grantRole(t.MANAGER_ROLE(), stranger, sender=owner)
    rnd = harness.open_round()  # as the fixture's manager
    now = harness.now()
    t.openRound(rnd.id + 1, (now, now + 10, now + 20, 0, 0, 1, 0, 1, 1), sender=stranger)
    t.revokeRole(t.MANAGER_ROLE(), stranger, sender=owner)
    with ape.reverts(t.AccessControlUnauthorizedAccount):
        t.openRound(rnd.id + 2, (now, now + 10, now + 20, 0, 0, 1, 0, 1, 1), sender=stranger)


# ============================================================================ rounds


def test_open_round_stores_params_and_emits(tournament, harness, manager):
    t, h = tournament, harness
    now = h.now()
    params = (now + 10, now + 100, now + 200, 5_000, 20_000, 500, nmr(72_000), nmr(500), nmr("0.01"))
    tx = t.openRound(7, params, sender=manager)
    ev = tx.events.filter(t.RoundOpened)[0]
    assert ev.roundId == 7
    assert (ev.openTime, ev.closeTime, ev.resolveTime) == params[:3]
    assert (ev.corrMultiplierBps, ev.mmcMultiplierBps, ev.clipBps) == (5_000, 20_000, 500)
    assert (ev.stakeThreshold, ev.stakeCap, ev.minStake) == (nmr(72_000), nmr(500), nmr("0.01"))
    r = t.getRound(7)
    assert (r.openTime, r.closeTime, r.resolveTime) == params[:3]
    assert (r.corrMultiplierBps, r.mmcMultiplierBps, r.clipBps) == (5_000, 20_000, 500)
    assert (r.stakeThreshold, r.stakeCap, r.minStake) == (nmr(72_000), nmr(500), nmr("0.01"))
    assert (r.totalStaked, r.stakeCount, r.funded, r.totalPayout, r.totalBurn, r.claimed) == (0,) * 6
    assert r.root == ZERO32 and r.postedAt == 0 and not r.settled
    assert t.lastRoundId() == 7
    assert state(t, 7) == "Scheduled"
    assert state(t, 8) == "None"


def test_round_ids_strictly_increase(tournament, harness, manager):
    t, h = tournament, harness
    h.open_round(round_id=10)
    now = h.now()
    p = (now, now + 10, now + 20, 0, 0, 500, 0, 10, 1)
    for rid in (10, 9, 0):
        with ape.reverts(t.RoundIdNotIncreasing, roundId=rid, lastRoundId=10):
            t.openRound(rid, p, sender=manager)
    t.openRound(11, p, sender=manager)
    t.openRound(1000, p, sender=manager)
    assert t.lastRoundId() == 1000


def test_open_round_validates_params(tournament, harness, manager):
    t, h = tournament, harness
    rid = t.lastRoundId() + 1
    now = h.now() + 100  # every call below runs at <= now - 100 + a few seconds

    def p(open_=now, close=now + 10, resolve=now + 20, clip=500, cap=10, min_=1):
        return (open_, close, resolve, 0, 0, clip, 0, cap, min_)

    for bad in (p(open_=now + 10), p(open_=now + 11), p(resolve=now + 9)):
        with ape.reverts(t.InvalidRoundTimes):
            t.openRound(rid, bad, sender=manager)
    with ape.reverts(t.InvalidClip, clipBps=0):
        t.openRound(rid, p(clip=0), sender=manager)
    with ape.reverts(t.InvalidClip, clipBps=10_001):
        t.openRound(rid, p(clip=10_001), sender=manager)
    with ape.reverts(t.InvalidStakeLimits):
        t.openRound(rid, p(min_=0), sender=manager)
    with ape.reverts(t.InvalidStakeLimits):
        t.openRound(rid, p(cap=4, min_=5), sender=manager)
    # Limits themselves are fine: clip 100 %, cap == minStake, closeTime == resolveTime.
    t.openRound(rid, p(clip=10_000, cap=5, min_=5, resolve=now + 10), sender=manager)


def test_open_round_close_time_must_be_in_the_future(tournament, harness, manager):
    t, h = tournament, harness
    rid = t.lastRoundId() + 1
    t0 = h.now() + 50
    h.at(t0)
    with ape.reverts(t.InvalidRoundTimes):
        t.openRound(rid, (t0 - 10, t0, t0 + 10, 0, 0, 500, 0, 10, 1), sender=manager)
    h.at(t0 + 1)
    t.openRound(rid, (t0 - 10, t0 + 2, t0 + 10, 0, 0, 500, 0, 10, 1), sender=manager)
    assert state(t, rid) == "Open"


def test_rounds_overlap(tournament, harness, alice):
    h = harness
    r1 = h.open_round(duration=1_000)
    r2 = h.open_round(duration=2_000)
    h.stake(alice, r1, "amodel", nmr(5))
    h.stake(alice, r2, "amodel", nmr(6))
    assert tournament.getStake(r1.id, h.model_id("amodel"), alice)[0] == nmr(5)
    assert tournament.getStake(r2.id, h.model_id("amodel"), alice)[0] == nmr(6)


def test_state_boundaries_open_close_resolve_grace(tournament, harness):
    t, h = tournament, harness
    rnd = h.open_round(start_in=100)
    assert state(t, rnd) == "Scheduled"
    h.view_at(rnd.open - 1)
    assert state(t, rnd) == "Scheduled"
    h.view_at(rnd.open)
    assert state(t, rnd) == "Open"
    h.view_at(rnd.close - 1)
    assert state(t, rnd) == "Open"
    h.view_at(rnd.close)
    assert state(t, rnd) == "Closed"
    h.view_at(rnd.resolve)
    assert state(t, rnd) == "Closed"
    h.view_at(rnd.expiry - 1)
    assert state(t, rnd) == "Closed"
    h.view_at(rnd.expiry)
    assert state(t, rnd) == "Expired"


def test_state_boundaries_posted_final(tournament, harness, alice):
    t, h = tournament, harness
    rnd = h.open_round()
    h.stake(alice, rnd, "amodel", nmr(10))
    res = h.result(rnd, [("amodel", alice, 0, 0)])
    tx = h.post(rnd, res, at=rnd.resolve + 5)
    posted = h.chain.blocks[tx.block_number].timestamp
    assert posted == rnd.resolve + 5
    assert state(t, rnd) == "Posted"
    h.view_at(posted + h.CHALLENGE - 1)
    assert state(t, rnd) == "Posted"
    h.view_at(posted + h.CHALLENGE)
    assert state(t, rnd) == "Final"
    # A final round never expires.
    h.view_at(rnd.expiry + 10)
    assert state(t, rnd) == "Final"


# ============================================================================ staking


def test_stake_records_and_emits(tournament, harness, token, alice):
    t, h = tournament, harness
    rnd = h.open_round()
    com = keccak(b"predictions.csv bytes")
    before = token.balanceOf(alice)
    tx = t.stake(rnd.id, h.model_id("amodel"), nmr(12), com, sender=alice)
    ev = tx.events.filter(t.Staked)[0]
    assert ev.roundId == rnd.id and ev.modelId == h.model_id("amodel") and ev.staker == alice.address
    assert (ev.amount, ev.newTotal, ev.commitment) == (nmr(12), nmr(12), com)
    assert not tx.events.filter(t.CommitmentChanged)
    # The stake stores the commitment's first 20 bytes, beside the amount in one slot.
    assert t.getStake(rnd.id, h.model_id("amodel"), alice) == (nmr(12), com[:20])
    r = t.getRound(rnd.id)
    assert (r.totalStaked, r.stakeCount) == (nmr(12), 1)
    assert token.balanceOf(alice) == before - nmr(12)
    assert token.balanceOf(t) == nmr(12)


def test_stake_time_boundaries(tournament, harness, alice):
    t, h = tournament, harness
    rnd = h.open_round(start_in=100)
    h.at(rnd.open - 1)
    with ape.reverts(t.RoundNotOpen, roundId=rnd.id):
        h.stake(alice, rnd, "amodel", nmr(2))
    h.at(rnd.open)
    h.stake(alice, rnd, "amodel", nmr(2))
    h.at(rnd.close - 1)
    h.stake(alice, rnd, "amodel", nmr(3))
    h.at(rnd.close)
    with ape.reverts(t.RoundNotOpen, roundId=rnd.id):
        h.stake(alice, rnd, "amodel", nmr(2))
    # Replacing only the commitment is staking too: not after close.
    with ape.reverts(t.RoundNotOpen):
        t.stake(rnd.id, h.model_id("amodel"), 0, keccak(b"late"), sender=alice)
    assert t.getStake(rnd.id, h.model_id("amodel"), alice)[0] == nmr(5)


def test_stake_min_and_cap(tournament, harness, alice, bob):
    t, h = tournament, harness
    rnd = h.open_round(min_stake=nmr(2), cap=nmr(10))
    with ape.reverts(t.StakeBelowMinimum, total=nmr(2) - 1, minStake=nmr(2)):
        h.stake(alice, rnd, "amodel", nmr(2) - 1)
    with ape.reverts(t.StakeAboveCap, total=nmr(10) + 1, stakeCap=nmr(10)):
        h.stake(alice, rnd, "amodel", nmr(10) + 1)
    h.stake(alice, rnd, "amodel", nmr(2))
    h.stake(bob, rnd, "bmodel", nmr(10))
    # Additions count towards the cap; a small addition is fine once above the minimum.
    h.stake(alice, rnd, "amodel", 1)
    with ape.reverts(t.StakeAboveCap, total=nmr(10) + 1, stakeCap=nmr(10)):
        h.stake(alice, rnd, "amodel", nmr(8))
    h.stake(alice, rnd, "amodel", nmr(8) - 1)
    assert t.getStake(rnd.id, h.model_id("amodel"), alice)[0] == nmr(10)


def test_stake_rejects_bad_input(tournament, harness, alice):
    t, h = tournament, harness
    rnd = h.open_round()
    with ape.reverts(t.ZeroCommitment):
        t.stake(rnd.id, h.model_id("amodel"), nmr(2), ZERO32, sender=alice)
    # What the stake stores (the first 20 bytes) must not be zero either: a keccak-256 never is.
    with ape.reverts(t.ZeroCommitment):
        t.stake(rnd.id, h.model_id("amodel"), nmr(2), bytes(20) + b"\xff" * 12, sender=alice)
    with ape.reverts(t.ZeroModelId):
        t.stake(rnd.id, ZERO32, nmr(2), keccak(b"x"), sender=alice)
    with ape.reverts(t.UnknownRound, roundId=rnd.id + 1):
        t.stake(rnd.id + 1, h.model_id("amodel"), nmr(2), keccak(b"x"), sender=alice)
    with ape.reverts(t.NoStake):
        t.stake(rnd.id, h.model_id("amodel"), 0, keccak(b"x"), sender=alice)
    with ape.reverts(t.SafeCastOverflowedUintDowncast):
        h.fund(alice, rnd, 2**96)


def test_stake_needs_allowance(tournament, harness, token, stranger, owner):
    t, h = tournament, harness
    rnd = h.open_round()
    token.mint(stranger, nmr(5), sender=owner)
    with ape.reverts():
        h.stake(stranger, rnd, "smodel", nmr(5))
    token.approve(t, nmr(5), sender=stranger)
    h.stake(stranger, rnd, "smodel", nmr(5))
    assert token.balanceOf(stranger) == 0


def test_add_to_stake(tournament, harness, alice):
    t, h = tournament, harness
    rnd = h.open_round()
    com = keccak(b"v1")
    h.stake(alice, rnd, "amodel", nmr(3), com)
    tx = h.stake(alice, rnd, "amodel", nmr(4), com)
    ev = tx.events.filter(t.Staked)[0]
    assert (ev.amount, ev.newTotal, ev.commitment) == (nmr(4), nmr(7), com)
    assert not tx.events.filter(t.CommitmentChanged)
    r = t.getRound(rnd.id)
    assert (r.totalStaked, r.stakeCount) == (nmr(7), 1)


def test_replace_commitment(tournament, harness, token, alice):
    t, h = tournament, harness
    rnd = h.open_round()
    m = h.model_id("amodel")
    v1, v2, v3 = keccak(b"v1"), keccak(b"v2"), keccak(b"v3")
    h.stake(alice, rnd, "amodel", nmr(3), v1)
    bal = token.balanceOf(alice)
    tx = t.stake(rnd.id, m, 0, v2, sender=alice)
    ev = tx.events.filter(t.CommitmentChanged)[0]
    assert (ev.roundId, ev.modelId, ev.staker) == (rnd.id, m, alice.address)
    # The replaced commitment as the stake stored it (20 bytes), the new one in full.
    assert (ev.oldCommitmentPrefix, ev.newCommitment) == (v1[:20], v2)
    assert not tx.events.filter(t.Staked)
    assert token.balanceOf(alice) == bal
    assert t.getStake(rnd.id, m, alice) == (nmr(3), v2[:20])
    # Add and replace in one call.
    tx = t.stake(rnd.id, m, nmr(1), v3, sender=alice)
    assert tx.events.filter(t.Staked)[0].newTotal == nmr(4)
    assert tx.events.filter(t.Staked)[0].commitment == v3
    assert tx.events.filter(t.CommitmentChanged)[0].oldCommitmentPrefix == v2[:20]
    assert t.getStake(rnd.id, m, alice) == (nmr(4), v3[:20])
    # Same commitment again: a no-op.
    tx = t.stake(rnd.id, m, 0, v3, sender=alice)
    assert not tx.events.filter(t.CommitmentChanged)
    assert t.getRound(rnd.id).stakeCount == 1



def test_commitments_sharing_their_first_20_bytes_are_one_commitment_to_the_stake(tournament, harness, alice):
    """The stake compares commitments by what it stores, their first 20 bytes: replacing a
    commitment with one that shares them (a collision only its staker could build, 2**80 work)
    changes nothing and emits nothing; adding to the stake with it records it in full in `Staked`,
    so the key's last logged commitment (what the oracle reads) always has the stored prefix."""
    t, h = tournament, harness
    rnd = h.open_round()
    m = h.model_id("amodel")
    c1 = keccak(b"v1")
    twin = c1[:20] + bytes(reversed(c1[20:]))
    assert twin != c1
    h.stake(alice, rnd, "amodel", nmr(3), c1)
    tx = t.stake(rnd.id, m, 0, twin, sender=alice)
    assert not tx.events.filter(t.CommitmentChanged) and not tx.events.filter(t.Staked)
    assert t.getStake(rnd.id, m, alice) == (nmr(3), c1[:20])
    tx = t.stake(rnd.id, m, nmr(1), twin, sender=alice)
    assert tx.events.filter(t.Staked)[0].commitment == twin
    assert not tx.events.filter(t.CommitmentChanged)
    assert t.getStake(rnd.id, m, alice) == (nmr(4), twin[:20])


def test_stake_writes_one_storage_slot_amount_and_commitment_prefix(tournament, harness, alice):
    """Amount (low 96 bits) and the commitment's first 20 bytes (high 160 bits) share the stake's
    one slot; the slot after it stays empty (a first stake writes one fresh slot, not two)."""
    t, h = tournament, harness
    rnd = h.open_round()
    m = h.model_id("amodel")
    com = keccak(b"one slot")
    h.stake(alice, rnd, "amodel", nmr(3), com)
    slot = stake_slot(rnd.id, m, alice.address)
    assert storage_at(t, slot) == nmr(3) | int.from_bytes(com[:20], "big") << 96
    assert storage_at(t, slot + 1) == 0


def test_stake_keys_are_round_model_staker(tournament, harness, alice, bob):
    t, h = tournament, harness
    rnd = h.open_round()
    h.stake(alice, rnd, "shared", nmr(2))
    h.stake(bob, rnd, "shared", nmr(3))
    h.stake(alice, rnd, "other", nmr(4))
    r = t.getRound(rnd.id)
    assert (r.stakeCount, r.totalStaked) == (3, nmr(9))
    assert t.getStake(rnd.id, h.model_id("shared"), bob)[0] == nmr(3)
    assert t.getStake(rnd.id, h.model_id("nobody"), bob) == (0, ZERO20)


def test_stake_with_permit(tournament, harness, token, owner, stranger):
    t, h = tournament, harness
    rnd = h.open_round()
    token.mint(stranger, nmr(20), sender=owner)
    assert token.allowance(stranger, t) == 0
    deadline = h.now() + 3_600
    v, r, s = permit(token, stranger, t.address, nmr(8), deadline)
    com = keccak(b"permit")
    tx = t.stakeWithPermit(rnd.id, h.model_id("smodel"), nmr(8), com, deadline, v, r, s, sender=stranger)
    assert tx.events.filter(t.Staked)[0].newTotal == nmr(8)
    assert t.getStake(rnd.id, h.model_id("smodel"), stranger) == (nmr(8), com[:20])
    assert token.balanceOf(stranger) == nmr(12)
    assert token.allowance(stranger, t) == 0


def test_stake_with_permit_expired_deadline(tournament, harness, token, owner, stranger):
    t, h = tournament, harness
    rnd = h.open_round()
    token.mint(stranger, nmr(20), sender=owner)
    deadline = h.now() + 100
    v, r, s = permit(token, stranger, t.address, nmr(8), deadline)
    h.at(deadline + 1)
    with ape.reverts(t.PermitFailed):
        t.stakeWithPermit(rnd.id, h.model_id("smodel"), nmr(8), keccak(b"c"), deadline, v, r, s, sender=stranger)
    # At the deadline itself the permit is still valid.
    rnd2 = h.open_round()
    deadline2 = h.now() + 100
    v, r, s = permit(token, stranger, t.address, nmr(8), deadline2)
    h.at(deadline2)
    t.stakeWithPermit(rnd2.id, h.model_id("smodel"), nmr(8), keccak(b"c"), deadline2, v, r, s, sender=stranger)


def test_stake_with_permit_wrong_signer(tournament, harness, token, owner, stranger, bob):
    t, h = tournament, harness
    rnd = h.open_round()
    token.mint(stranger, nmr(20), sender=owner)
    deadline = h.now() + 3_600
    v, r, s = permit(token, stranger, t.address, nmr(8), deadline, signer=bob)
    with ape.reverts(t.PermitFailed):
        t.stakeWithPermit(rnd.id, h.model_id("smodel"), nmr(8), keccak(b"c"), deadline, v, r, s, sender=stranger)
    # A permit for a smaller value does not cover a larger stake either.
    v, r, s = permit(token, stranger, t.address, nmr(7), deadline)
    with ape.reverts(t.PermitFailed):
        t.stakeWithPermit(rnd.id, h.model_id("smodel"), nmr(8), keccak(b"c"), deadline, v, r, s, sender=stranger)
    assert t.getStake(rnd.id, h.model_id("smodel"), stranger) == (0, ZERO20)


def test_stake_with_permit_front_run(tournament, harness, token, owner, stranger, carol):
    """Someone submits the permit first: the stake still goes through on the allowance."""
    t, h = tournament, harness
    rnd = h.open_round()
    token.mint(stranger, nmr(20), sender=owner)
    deadline = h.now() + 3_600
    v, r, s = permit(token, stranger, t.address, nmr(8), deadline)
    token.permit(stranger, t, nmr(8), deadline, v, r, s, sender=carol)
    t.stakeWithPermit(rnd.id, h.model_id("smodel"), nmr(8), keccak(b"c"), deadline, v, r, s, sender=stranger)
    assert t.getStake(rnd.id, h.model_id("smodel"), stranger)[0] == nmr(8)


def test_stake_with_permit_uses_existing_allowance(tournament, harness, alice):
    """Garbage signature but an approval already in place (the fixture approved everything)."""
    t, h = tournament, harness
    rnd = h.open_round()
    t.stakeWithPermit(rnd.id, h.model_id("amodel"), nmr(3), keccak(b"c"), 0, 27, ZERO32, ZERO32, sender=alice)
    assert t.getStake(rnd.id, h.model_id("amodel"), alice)[0] == nmr(3)


# ============================================================================ funding


def test_fund_round(tournament, harness, token, treasury, stranger, owner):
    t, h = tournament, harness
    rnd = h.open_round(start_in=50)
    token.mint(stranger, nmr(3), sender=owner)
    token.approve(t, nmr(3), sender=stranger)
    tx = t.fund(rnd.id, nmr(3), sender=stranger)  # anyone
    ev = tx.events.filter(t.Funded)[0]
    assert (ev.roundId, ev.funder, ev.amount, ev.newFunded) == (rnd.id, stranger.address, nmr(3), nmr(3))
    h.fund(treasury, rnd, nmr(7))
    assert t.getRound(rnd.id).funded == nmr(10)
    assert token.balanceOf(t) == nmr(10)
    with ape.reverts(t.ZeroAmount):
        h.fund(treasury, rnd, 0)
    with ape.reverts(t.UnknownRound, roundId=rnd.id + 1):
        t.fund(rnd.id + 1, 1, sender=treasury)


def test_fund_allowed_until_final(tournament, harness, alice, treasury):
    t, h = tournament, harness
    rnd = h.open_round(start_in=10)
    h.fund(treasury, rnd, nmr(1))  # Scheduled
    h.at(rnd.open)
    h.stake(alice, rnd, "amodel", nmr(10))
    h.fund(treasury, rnd, nmr(1))  # Open
    h.at(rnd.close)
    h.fund(treasury, rnd, nmr(1))  # Closed
    res = h.result(rnd, [("amodel", alice, nmr("0.5"), 0)])
    tx = h.post(rnd, res)
    posted = h.chain.blocks[tx.block_number].timestamp
    h.at(posted + h.CHALLENGE - 1)
    h.fund(treasury, rnd, nmr(1))  # Posted, last second
    assert t.getRound(rnd.id).funded == nmr(4)
    h.at(posted + h.CHALLENGE)
    with ape.reverts(t.FundingClosed, roundId=rnd.id):
        h.fund(treasury, rnd, nmr(1))  # Final


def test_fund_closed_when_expired(tournament, harness, treasury):
    t, h = tournament, harness
    rnd = h.open_round()
    h.at(rnd.expiry - 1)
    h.fund(treasury, rnd, nmr(1))
    h.at(rnd.expiry)
    with ape.reverts(t.FundingClosed, roundId=rnd.id):
        h.fund(treasury, rnd, nmr(1))


def test_pool_fund_allocate_withdraw(tournament, harness, token, treasury, manager, owner, bob):
    t, h = tournament, harness
    rnd = h.open_round()
    tx = t.fundPool(nmr(100), sender=treasury)
    ev = tx.events.filter(t.PoolFunded)[0]
    assert (ev.funder, ev.amount, ev.newPool) == (treasury.address, nmr(100), nmr(100))
    with ape.reverts(t.ZeroAmount):
        t.fundPool(0, sender=treasury)
    tx = t.allocate(rnd.id, nmr(30), sender=manager)
    ev = tx.events.filter(t.Allocated)[0]
    assert (ev.roundId, ev.amount, ev.newFunded, ev.newPool) == (rnd.id, nmr(30), nmr(30), nmr(70))
    assert t.pool() == nmr(70) and t.getRound(rnd.id).funded == nmr(30)
    with ape.reverts(t.InsufficientPool, requested=nmr(71), available=nmr(70)):
        t.allocate(rnd.id, nmr(71), sender=manager)
    with ape.reverts(t.ZeroAmount):
        t.allocate(rnd.id, 0, sender=manager)
    with ape.reverts(t.UnknownRound):
        t.allocate(rnd.id + 1, 1, sender=manager)
    # The admin can only withdraw the unallocated pool, never round funds or stakes.
    assert token.balanceOf(t) == nmr(100)
    with ape.reverts(t.InsufficientPool, requested=nmr(71), available=nmr(70)):
        t.withdrawPool(bob, nmr(71), sender=owner)
    with ape.reverts(t.ZeroAddress):
        t.withdrawPool(ZERO_ADDRESS, 1, sender=owner)
    with ape.reverts(t.ZeroAmount):
        t.withdrawPool(bob, 0, sender=owner)
    bal = token.balanceOf(bob)
    tx = t.withdrawPool(bob, nmr(70), sender=owner)
    ev = tx.events.filter(t.PoolWithdrawn)[0]
    assert (ev.to, ev.amount, ev.newPool) == (bob.address, nmr(70), 0)
    assert token.balanceOf(bob) == bal + nmr(70)
    assert t.pool() == 0 and token.balanceOf(t) == nmr(30)


def test_allocate_only_before_posting(tournament, harness, alice, treasury, manager):
    t, h = tournament, harness
    t.fundPool(nmr(100), sender=treasury)
    rnd = h.open_round(start_in=10)
    t.allocate(rnd.id, nmr(1), sender=manager)  # Scheduled
    h.at(rnd.open)
    h.stake(alice, rnd, "amodel", nmr(10))
    t.allocate(rnd.id, nmr(1), sender=manager)  # Open
    h.at(rnd.close)
    t.allocate(rnd.id, nmr(1), sender=manager)  # Closed
    res = h.result(rnd, [("amodel", alice, 0, 0)])
    h.post(rnd, res)
    with ape.reverts(t.AllocationClosed, roundId=rnd.id):
        t.allocate(rnd.id, nmr(1), sender=manager)  # Posted
    h.at(rnd.resolve + h.CHALLENGE)
    with ape.reverts(t.AllocationClosed, roundId=rnd.id):
        t.allocate(rnd.id, nmr(1), sender=manager)  # Final
    rnd2 = h.open_round()
    h.at(rnd2.expiry)
    with ape.reverts(t.AllocationClosed, roundId=rnd2.id):
        t.allocate(rnd2.id, nmr(1), sender=manager)  # Expired
    assert t.getRound(rnd.id).funded == nmr(3)


# ============================================================================ pause


def test_pause_blocks_state_changes(tournament, harness, pauser, alice, treasury, manager, oracle, owner):
    t, h = tournament, harness
    rnd = h.open_round()
    h.stake(alice, rnd, "amodel", nmr(5))
    t.fundPool(nmr(10), sender=treasury)
    tx = t.pause(sender=pauser)
    assert tx.events.filter(t.Paused)
    assert t.paused()
    m = h.model_id("amodel")
    for call in (
        lambda: h.stake(alice, rnd, "amodel", nmr(1)),
        lambda: t.stakeWithPermit(rnd.id, m, nmr(1), keccak(b"c"), 0, 27, ZERO32, ZERO32, sender=alice),
        lambda: h.fund(treasury, rnd, nmr(1)),
        lambda: t.fundPool(nmr(1), sender=treasury),
        lambda: t.finalise(rnd.id, sender=alice),
        lambda: t.claim(rnd.id, m, alice, 0, 0, [], sender=alice),
        lambda: t.claimMany([], sender=alice),
    ):
        with ape.reverts(t.EnforcedPause):
            call()
    # Admin and manager housekeeping is not paused.
    t.allocate(rnd.id, nmr(1), sender=manager)
    t.withdrawPool(owner, nmr(1), sender=owner)
    h.at(rnd.resolve)
    res = h.result(rnd, [("amodel", alice, 0, 0)])
    with ape.reverts(t.EnforcedPause):
        h.post(rnd, res)


def test_pause_expires_by_itself(tournament, harness, pauser, alice):
    t, h = tournament, harness
    rnd = h.open_round(duration=10 * h.MAX_PAUSE)
    tx = t.pause(sender=pauser)
    start = h.chain.blocks[tx.block_number].timestamp
    assert t.pausedUntil() == start + h.MAX_PAUSE
    h.at(start + h.MAX_PAUSE - 1)
    with ape.reverts(t.EnforcedPause):
        h.stake(alice, rnd, "amodel", nmr(2))
    h.at(start + h.MAX_PAUSE)
    h.stake(alice, rnd, "amodel", nmr(2))
    assert not t.paused()
    # An expired pause cannot be "unpaused" (it is over) ...
    with ape.reverts(t.ExpectedPause):
        t.unpause(sender=pauser)
    # ... and a new one may start only maxPauseDuration after the last one ended.
    end = start + h.MAX_PAUSE
    h.at(end + h.MAX_PAUSE - 1)
    with ape.reverts(t.PauseCooldown, availableAt=end + h.MAX_PAUSE):
        t.pause(sender=pauser)
    h.at(end + h.MAX_PAUSE)
    t.pause(sender=pauser)
    assert t.paused()


def test_unpause_ends_pause_early(tournament, harness, pauser, alice):
    t, h = tournament, harness
    rnd = h.open_round(duration=10 * h.MAX_PAUSE)
    with ape.reverts(t.ExpectedPause):
        t.unpause(sender=pauser)
    t.pause(sender=pauser)
    with ape.reverts(t.EnforcedPause):
        t.pause(sender=pauser)
    tx = t.unpause(sender=pauser)
    ended = h.chain.blocks[tx.block_number].timestamp
    assert tx.events.filter(t.Unpaused)
    assert not t.paused() and t.pausedUntil() == ended
    h.stake(alice, rnd, "amodel", nmr(2))
    h.at(ended + h.MAX_PAUSE - 1)
    with ape.reverts(t.PauseCooldown):
        t.pause(sender=pauser)
    h.at(ended + h.MAX_PAUSE)
    t.pause(sender=pauser)
