"""The contract data the package carries for participants (src/nmrstake/abi/, written by
tools/export_abis.py): it equals this session's fresh build, its loader imports no ape, and its
code check accepts real deployments (immutables and all) and nothing else.

The first test is the guard against a contract edited without regenerating the data: the test
session compiles first (tests/conftest.py, tools/compile.py), never exports, and this compares.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from eth_abi import encode
from helpers.harness import T_ADMIN_DELAY, T_CHALLENGE, T_GRACE, T_MAX_PAUSE

import nmrstake.abi as packaged
from nmrstake.hashing import keccak_bytes

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "nmrstake" / "abi"
REGENERATE = "the packaged contract data is stale: run `make compile` (tools/export_abis.py) and commit src/nmrstake/abi/"


def _build() -> dict:
    return json.loads((ROOT / ".build" / "__local__.json").read_text())


def _runtime(build: dict, name: str) -> bytes:
    return bytes.fromhex(build["contractTypes"][name]["runtimeBytecode"]["bytecode"].removeprefix("0x"))


# ------------------------------------------------------------------------- the data and the build

def test_participant_contracts_are_all_packaged():
    assert set(packaged.CONTRACTS) >= {"NMR", "Tournament", "NumeraireTournament", "AllocationStrategy",
                                       "StrategyFactory", "StrategyInvoker", "CommitteeTournament",
                                       "NumeraireCommitteeTournament"}
    assert sorted(p.stem for p in DATA.glob("*.json")) == sorted(packaged.CONTRACTS)


@pytest.mark.parametrize("name", packaged.CONTRACTS)
def test_packaged_data_equals_the_fresh_build(name):
    build = _build()
    ct = build["contractTypes"][name]
    compiler = next(c for c in build["compilers"] if c["name"] == "solidity")
    data = json.loads((DATA / f"{name}.json").read_text())
    assert data["abi"] == ct["abi"], REGENERATE
    assert data["source"] == ct["sourceId"], REGENERATE
    assert data["compiler"] == {"version": compiler["version"], "evmVersion": compiler["settings"]["evmVersion"],
                                "optimizer": compiler["settings"]["optimizer"]}, REGENERATE
    code = _runtime(build, name)
    spec = data["code"]
    assert spec["rule"] == packaged.CODE_RULE
    assert spec["length"] == len(code), REGENERATE
    # solc leaves every immutable's bytes zero in the compiled runtime code: the rule applied to
    # the compiled code is its plain keccak, and the recorded ranges must all be such zeros.
    assert spec["hash"] == "0x" + keccak_bytes(code).hex(), REGENERATE
    for start, length in spec["immutables"]:
        assert 0 <= start and start + length <= len(code) and length == 32
        assert code[start:start + length] == bytes(length), REGENERATE
    assert spec["immutables"] == sorted(spec["immutables"])


def test_the_tournaments_abi_has_every_custom_error_it_declares():
    """Every `error X(` in the Tournament's sources is in its packaged ABI, so a client can name
    any revert it meets (NumeraireTournament adds its burn error)."""
    import re

    sources = ["Tournament.sol", "interfaces/ITournament.sol", "ModelIds.sol", "SupplyCheckedBurn.sol",
               "BoundedPause.sol", "interfaces/IBoundedPause.sol"]
    declared = {m for s in sources for m in re.findall(r"\berror\s+(\w+)\s*\(", (ROOT / "contracts" / s).read_text())}
    errors = {item["name"] for item in packaged.load("Tournament") if item["type"] == "error"}
    assert declared and declared <= errors
    numeraire = {item["name"] for item in packaged.load("NumeraireTournament") if item["type"] == "error"}
    assert numeraire - errors == {"NumeraireBurnFailed"}


def test_load_returns_a_copy_and_refuses_unknown_names():
    abi = packaged.load("NMR")
    abi.clear()
    assert packaged.load("NMR")
    with pytest.raises(KeyError, match="LegacyNMR"):
        packaged.load("LegacyNMR")
    with pytest.raises(KeyError):
        packaged.code_matches("ITournament", b"\x60")


def test_tools_check_says_the_data_is_current():
    """What `make compile` would do now: nothing (and without asking solc)."""
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "export_abis.py"), "--check"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------------- no ape

def test_importing_the_loader_imports_no_ape_nor_web3(tmp_path):
    """A fresh interpreter, outside the repository: the participant's machine has no ape project."""
    code = ("import nmrstake.abi, sys; nmrstake.abi.load('Tournament'); nmrstake.abi.code_matches('NMR', b'\\x00'); "
            "assert not any(m == 'ape' or m.startswith('ape.') for m in sys.modules), 'ape'; "
            "assert not any(m == 'web3' or m.startswith('web3.') for m in sys.modules), 'web3'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


# ------------------------------------------------------------------------- the code check

def test_masking_and_its_edges():
    assert packaged.masked_code(b"\x01\x02\x03\x04", [(1, 2)]) == b"\x01\x00\x00\x04"
    assert packaged.masked_code(b"\x01\x02", [(1, 32), (5, 1)]) == b"\x01\x00"
    code = _runtime(_build(), "StrategyInvoker")  # no immutables: the plain code hash
    assert packaged.immutable_ranges("StrategyInvoker") == []
    assert packaged.code_matches("StrategyInvoker", code) and packaged.code_matches("StrategyInvoker", "0x" + code.hex())
    assert not packaged.code_matches("StrategyInvoker", code + b"\x00")
    assert not packaged.code_matches("StrategyInvoker", b"")


@pytest.fixture(scope="module")
def deployed(project, owner, alice, token, chain):
    """Each packaged contract deployed on the embedded EVM, as the deployment script does it, with
    non-zero immutables; and alice's strategy (a clone)."""
    tournament = owner.deploy(project.Tournament, token, owner, T_ADMIN_DELAY, T_CHALLENGE, T_GRACE, T_MAX_PAUSE)
    numeraire = owner.deploy(project.NumeraireTournament, token, owner, T_ADMIN_DELAY, T_CHALLENGE, T_GRACE, T_MAX_PAUSE)
    committee = sorted([str(owner.address), str(alice.address)], key=lambda a: int(a, 16))
    committee_tournament = owner.deploy(project.CommitteeTournament, token, owner, T_ADMIN_DELAY, T_CHALLENGE,
                                        T_GRACE, T_MAX_PAUSE, committee, 2)
    numeraire_committee = owner.deploy(project.NumeraireCommitteeTournament, token, owner, T_ADMIN_DELAY,
                                       T_CHALLENGE, T_GRACE, T_MAX_PAUSE, committee, 1)
    factory = owner.deploy(project.StrategyFactory, tournament)
    invoker = owner.deploy(project.StrategyInvoker, owner)
    desk = owner.deploy(project.DisputeDesk, tournament, owner, T_ADMIN_DELAY, alice, 50 * 10**18, 10**18)
    factory.create(invoker, sender=alice)
    strategy = factory.strategyOf(alice)
    addresses = {"NMR": token.address, "Tournament": tournament.address, "NumeraireTournament": numeraire.address,
                 "StrategyFactory": factory.address, "StrategyInvoker": invoker.address,
                 "AllocationStrategy": factory.implementation(), "CommitteeTournament": committee_tournament.address,
                 "NumeraireCommitteeTournament": numeraire_committee.address, "DisputeDesk": desk.address}
    codes = {name: bytes(chain.provider.get_code(address)) for name, address in addresses.items()}
    return codes, bytes(chain.provider.get_code(strategy)), str(factory.implementation())


@pytest.mark.parametrize("name", packaged.CONTRACTS)
def test_a_deployment_matches_its_own_code_only(deployed, name):
    codes, _, _ = deployed
    code = codes[name]
    assert packaged.code_matches(name, code)
    if packaged.immutable_ranges(name):
        # the immutables were written: the deployment's plain hash is not the compiled code's
        assert "0x" + keccak_bytes(code).hex() != packaged.code_hash(name)
    for other in packaged.CONTRACTS:
        if other != name:
            assert not packaged.code_matches(other, code), f"{name}'s code passes as {other}"


def test_a_changed_byte_fails_unless_it_is_an_immutables(deployed):
    codes, _, _ = deployed
    code = bytearray(codes["Tournament"])
    ranges = packaged.immutable_ranges("Tournament")
    inside = {i for s, n in ranges for i in range(s, s + n)}
    outside = next(i for i in range(100, len(code)) if i not in inside)
    tampered = bytearray(code)
    tampered[outside] ^= 0x01
    assert not packaged.code_matches("Tournament", bytes(tampered))
    other_values = bytearray(code)
    for start, length in ranges:
        other_values[start:start + length] = b"\x5a" * length
    assert packaged.code_matches("Tournament", bytes(other_values))  # another deployment's constructor arguments
    assert not packaged.code_matches("Tournament", bytes(code[:-1]))


def test_a_strategy_is_a_clone_of_the_factorys_implementation(deployed):
    codes, strategy_code, implementation = deployed
    assert packaged.is_clone_of(strategy_code, implementation)
    assert packaged.code_matches("AllocationStrategy", codes["AllocationStrategy"])
    assert not packaged.is_clone_of(strategy_code, "0x" + "11" * 20)
    assert not packaged.code_matches("AllocationStrategy", strategy_code)


# ------------------------------------------------------------------------- errors

def test_describe_error_names_custom_errors_strings_and_panics():
    selector = keccak_bytes(b"UnknownRound(uint256)")[:4]
    assert packaged.describe_error(selector + encode(["uint256"], [1001])) == "UnknownRound(roundId=1001)"
    assert packaged.describe_error("0x" + (selector + encode(["uint256"], [7])).hex()) == "UnknownRound(roundId=7)"
    assert packaged.describe_error(bytes.fromhex("08c379a0") + encode(["string"], ["nope"])) == "nope"
    assert packaged.describe_error(bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])) == \
        "Panic(0x11: arithmetic overflow or underflow)"
    assert packaged.describe_error(b"\xde\xad\xbe\xef") is None
    assert packaged.describe_error(b"") is None
    assert packaged.describe_error(selector) == "UnknownRound()"  # the arguments did not arrive: the name alone
    assert packaged.describe_error(selector + b"\x01") == "UnknownRound(arguments unreadable: 0x01)"
