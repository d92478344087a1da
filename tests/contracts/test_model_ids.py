"""Model ids on chain: `ModelIds.isName` (contracts/ModelIds.sol) against the Python rule, and the
contracts that refuse an id that is not a model name.

The rule is `nmrstake.models.model_name`: 32 bytes which, without their trailing zero bytes, are
not empty, hold no zero byte and only a-z, 0-9 and `_`. `ModelIds.isName` decides it with word-wide
arithmetic; it is reached through the test-only `contracts/test/ModelIdsHarness.sol`, whose
`areNames` checks a whole batch of ids in one call (every byte value at every position of a few
names: 24,576 ids). Then the Tournament (`stake`, `stakeWithPermit`, and `NumeraireTournament` by
inheritance) refuses every such id with `InvalidModelId` (the zero id keeps `ZeroModelId`) and
records nothing, and `AllocationStrategy.setModel` refuses it too.
"""

from __future__ import annotations

import ape
import pytest
from eth_utils import keccak
from helpers.harness import T_ADMIN_DELAY, T_CHALLENGE, T_GRACE, T_MAX_PAUSE, THarness, nmr  # noqa: E402
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nmrstake.errors import InputError
from nmrstake.models import model_name

ZERO32 = b"\x00" * 32
FIXED = 1
ALPHABET = b"abcdefghijklmnopqrstuvwxyz0123456789_"
#: The bytes just outside each allowed range, and the other bytes worth naming.
EDGES = (b"/", b":", b"`", b"{", b"^", b"@", b"A", b"Z", b"\x7f", b"\x80", b"\xff", b"\x00", b"-", b" ", b"\n")
NAME32 = b"abcdefghijklmnopqrstuvwxyz_01234"  # 32 characters: no padding at all

PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def python_rule(raw: bytes) -> bool:
    """The off-chain rule: `model_name` accepts the id."""
    try:
        model_name(raw)
    except InputError:
        return False
    return True


def padded(raw: bytes) -> bytes:
    return raw.ljust(32, b"\x00")


# Ids that are not model names, each with why.
JUNK = {
    "html": padded(b"<img src=x onerror=alert(1)>"),
    "all_ff": b"\xff" * 32,
    "upper_case": padded(b"Model"),
    "non_ascii_utf8": padded("modèle".encode()),
    "zero_then_letter": b"\x00a" + bytes(30),
    "gap_in_name": padded(b"ab\x00cd"),
    "hyphen": padded(b"never-set"),
    "space": padded(b"my model"),
    "newline": padded(b"model\n"),
    "high_bit_last": NAME32[:31] + b"\x80",
    "del_first": b"\x7f" + NAME32[1:],
    "keccak": keccak(b"model"),
    "last_byte_only": bytes(31) + b"a",
}


# ============================================================================ fixtures


@pytest.fixture(scope="module")
def ids(project, owner):
    return owner.deploy(project.ModelIdsHarness)


@pytest.fixture(scope="module")
def numeraire(project, token, owner, manager, alice, chain):
    """`NumeraireTournament` on the standard NMR: it inherits the check from `Tournament`."""
    t = owner.deploy(project.NumeraireTournament, token, owner, T_ADMIN_DELAY, T_CHALLENGE, T_GRACE, T_MAX_PAUSE)
    t.grantRole(t.MANAGER_ROLE(), manager, sender=owner)
    token.approve(t, 2**256 - 1, sender=alice)
    return t, THarness(chain, t, token, owner, owner, manager, owner)


@pytest.fixture(scope="module")
def strat(project, owner, tournament, alice):
    """Alice's allocation strategy (no operator)."""
    factory = owner.deploy(project.StrategyFactory, tournament)
    factory.create("0x" + "00" * 20, sender=alice)
    return project.AllocationStrategy.at(factory.strategyOf(alice))


@pytest.fixture(scope="module", autouse=True)
def _deployed_first(ids, tournament, numeraire, strat):
    """Every module-scoped deployment before the first test (ape's per-test snapshots then isolate
    the tests without rebasing fixtures)."""


# ============================================================================ ModelIds.isName


def test_is_name__explicit_cases(ids):
    accepted = [padded(b"a"), padded(b"_"), padded(b"0"), padded(b"model_01"), NAME32, padded(b"z" * 31)]
    for raw in accepted:
        assert python_rule(raw), raw
        assert ids.isName(raw) is True, raw
    for why, raw in [*JUNK.items(), ("zero", ZERO32)]:
        assert not python_rule(raw), why
        assert ids.isName(raw) is False, why


@PROPERTY
@given(raw=st.binary(min_size=32, max_size=32))
def test_is_name__random_words__equals_the_python_rule(ids, raw):
    assert ids.isName(raw) is python_rule(raw)


@PROPERTY
@given(raw=st.lists(st.sampled_from([bytes([b]) for b in ALPHABET] + list(EDGES)), max_size=32).map(
    lambda parts: padded(b"".join(parts)[:32])))
def test_is_name__nearly_names__equal_the_python_rule(ids, raw):
    """Words of allowed bytes and edge bytes, zero-padded: about half of them are names."""
    assert ids.isName(raw) is python_rule(raw)


@PROPERTY
@given(name=st.from_regex(r"[a-z0-9_]{1,32}", fullmatch=True))
def test_is_name__random_valid_names__accepted(ids, name):
    raw = padded(name.encode())
    assert python_rule(raw)
    assert ids.isName(raw) is True


@PROPERTY
@given(name=st.from_regex(r"[a-z0-9_]{1,32}", fullmatch=True), position=st.integers(0, 31),
       byte=st.one_of(st.sampled_from(EDGES), st.binary(min_size=1, max_size=1)))
def test_is_name__one_byte_of_a_name_mutated__equals_the_python_rule(ids, name, position, byte):
    raw = bytearray(padded(name.encode()))
    raw[position] = byte[0]
    assert ids.isName(bytes(raw)) is python_rule(bytes(raw))


@pytest.mark.parametrize("name", [NAME32, b"a", b"model_7_of_16_xy"])
def test_is_name__every_byte_value_at_every_position__equals_the_python_rule(ids, name):
    """Each of the 32 positions of a padded name set to each of the 256 byte values: inside the
    name, at its end and in the padding (8,192 ids per name, in batches)."""
    base = padded(name)
    words = []
    for position in range(32):
        for value in range(256):
            raw = bytearray(base)
            raw[position] = value
            words.append(bytes(raw))
    got: list[bool] = []
    for k in range(0, len(words), 1024):
        got += ids.areNames(words[k:k + 1024])
    expected = [python_rule(w) for w in words]
    assert got == expected, next(w.hex() for w, g, e in zip(words, got, expected, strict=True) if g != e)
    assert 0 < sum(expected) < len(expected)  # both answers occur


def test_is_name__branch_free__the_same_gas_for_every_id(ids):
    """The check is branch-free: the same gas for every id, measured inside the harness (what it
    costs is bench/gas.py's: a stake pays 164 gas more with it)."""
    costs = {ids.gasOfIsName(raw)[0] for raw in [NAME32, padded(b"a"), ZERO32, *JUNK.values()]}
    assert len(costs) == 1, costs


# ============================================================================ the tournament


def _books(t, token, rnd, staker, model_id) -> tuple:
    r = t.getRound(rnd.id)
    return (token.balanceOf(staker), token.balanceOf(t), r.totalStaked, r.stakeCount,
            tuple(t.getStake(rnd.id, model_id, staker)))


def _staked_events(t, since: int, model_id: bytes) -> list:
    return [e for e in t.Staked.range(since, ape.chain.blocks.height + 1) if e.modelId == model_id]


def _refused(info, error: str, model_id: bytes | None = None) -> None:
    """The revert was exactly `error` (ape lets any revert pass for an expected custom error)."""
    assert type(info.value).__name__ == error, repr(info.value)
    if model_id is not None:
        assert bytes(info.value.inputs["modelId"]) == model_id


@pytest.mark.parametrize("why", list(JUNK))
def test_stake__non_name_model_id__reverts_invalid_model_id(tournament, harness, token, alice, why):
    t, h, junk = tournament, harness, JUNK[why]
    rnd = h.open_round()
    h.stake(alice, rnd, "amodel", nmr(5))  # a stake already in the round: the books are not empty
    start = ape.chain.blocks.height
    before = _books(t, token, rnd, alice, junk)
    assert before[3] == 1 and before[4] == (0, bytes(20))
    for amount in (nmr(2), 0):  # a stake, an addition, or a commitment's replacement
        with ape.reverts(t.InvalidModelId, modelId=junk) as info:
            t.stake(rnd.id, junk, amount, keccak(b"c"), sender=alice)
        _refused(info, "InvalidModelId", junk)
    # stakeWithPermit: alice's allowance covers it, so the failing permit is ignored; the id is not.
    with ape.reverts(t.InvalidModelId, modelId=junk) as info:
        t.stakeWithPermit(rnd.id, junk, nmr(2), keccak(b"c"), 0, 27, ZERO32, ZERO32, sender=alice)
    _refused(info, "InvalidModelId", junk)
    assert _books(t, token, rnd, alice, junk) == before
    assert _staked_events(t, start, junk) == []


def test_stake__zero_model_id__still_reverts_zero_model_id(tournament, harness, alice):
    t, h = tournament, harness
    rnd = h.open_round()
    with ape.reverts(t.ZeroModelId) as info:
        t.stake(rnd.id, ZERO32, nmr(2), keccak(b"c"), sender=alice)
    _refused(info, "ZeroModelId")
    assert t.getRound(rnd.id).stakeCount == 0


def test_stake__commitment_checked_before_model_id(tournament, harness, alice):
    t, h = tournament, harness
    rnd = h.open_round()
    with ape.reverts(t.ZeroCommitment) as info:
        t.stake(rnd.id, JUNK["upper_case"], nmr(2), ZERO32, sender=alice)
    _refused(info, "ZeroCommitment")


def test_stake__model_id_checked_before_the_round(tournament, harness, alice):
    """An id that is not a name is refused whatever the round: unknown, or not open yet."""
    t, h = tournament, harness
    rnd = h.open_round(start_in=100)
    for round_id in (rnd.id, rnd.id + 1):
        with ape.reverts(t.InvalidModelId) as info:
            t.stake(round_id, JUNK["hyphen"], nmr(2), keccak(b"c"), sender=alice)
        _refused(info, "InvalidModelId", JUNK["hyphen"])


def test_stake__valid_32_character_name__stakes(tournament, harness, token, alice):
    t, h = tournament, harness
    rnd = h.open_round()
    start = ape.chain.blocks.height
    com = keccak(b"file")
    t.stake(rnd.id, NAME32, nmr(3), com, sender=alice)
    t.stake(rnd.id, padded(b"a"), nmr(4), com, sender=alice)
    assert tuple(t.getStake(rnd.id, NAME32, alice)) == (nmr(3), com[:20])
    r = t.getRound(rnd.id)
    assert (r.totalStaked, r.stakeCount) == (nmr(7), 2)
    assert [e.amount for e in _staked_events(t, start, NAME32)] == [nmr(3)]


def test_numeraire_tournament__non_name_model_id__reverts_invalid_model_id(numeraire, token, alice):
    t, h = numeraire
    rnd = h.open_round()
    before = _books(t, token, rnd, alice, JUNK["all_ff"])
    with ape.reverts(t.InvalidModelId) as info:
        t.stake(rnd.id, JUNK["all_ff"], nmr(2), keccak(b"c"), sender=alice)
    _refused(info, "InvalidModelId", JUNK["all_ff"])
    assert _books(t, token, rnd, alice, JUNK["all_ff"]) == before
    t.stake(rnd.id, NAME32, nmr(2), keccak(b"c"), sender=alice)
    assert t.getRound(rnd.id).stakeCount == 1


# ============================================================================ allocation strategies


@pytest.mark.parametrize("why", ["zero", "html", "upper_case", "zero_then_letter", "hyphen"])
def test_set_model__non_name_model_id__reverts_invalid_model_id(strat, alice, why):
    junk = ZERO32 if why == "zero" else JUNK[why]
    with ape.reverts(strat.InvalidModelId, modelId=junk) as info:
        strat.setModel(junk, nmr(1), FIXED, sender=alice)
    _refused(info, "InvalidModelId", junk)
    assert tuple(strat.model(junk)) == (0, 0, 0, 0)
    tx = strat.setModel(NAME32, nmr(1), FIXED, sender=alice)
    assert tx.events.filter(strat.ModelSet)[0].modelId == NAME32
    assert strat.model(NAME32).perRound == nmr(1)
