"""What the staked token can do, read from the chain (nmrstake.token), and what deploy() and
stake_predictions() make of it, on the embedded EVM.

Our NMR has an EIP-2612 permit and burn(uint256): a `Tournament`, stakes with a permit. LegacyNMR
(the mainnet NMR's behaviour) has neither, burns with the repurposed mint(uint256), changes an
allowance only from or to zero, and its fallback answers any unknown call with empty data: a
`NumeraireTournament`, stakes with approve. A contract that cannot burn is refused before anything
is sent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_utils import keccak
from helpers.harness import TResult
from helpers.scenario import HOUR, SETTINGS, WEI, advance_to, advance_to_final, synth_round

from nmrstake.deploy import codehash, deploy
from nmrstake.errors import ConfigError
from nmrstake.models import model_id
from nmrstake.participant import stake_predictions
from nmrstake.rounds import RoundSpec, open_round
from nmrstake.token import (
    approve_exactly,
    inspect_token,
    pushed_selectors,
    selector,
    strip_metadata,
    token_capabilities,
    tournament_contract_for,
)
from nmrstake.tournament import TournamentClient


@pytest.fixture
def legacy(project, owner):
    return owner.deploy(project.LegacyNMR)


def _raw_call(chain, address: str, data: bytes) -> bytes:
    return bytes(chain.provider.web3.eth.call({"to": address, "data": "0x" + data.hex()}))


# ------------------------------------------------------------------------------------ bytecode


def test_selectors_are_read_as_instructions_not_as_push_data_or_metadata():
    burn = selector("burn(uint256)")
    assert burn.hex() == "42966c68"
    # PUSH4 burn; a PUSH32 whose data holds the mint selector (data, not an instruction); PUSH3
    # of a selector with a leading zero byte.
    code = bytes([0x63]) + burn + bytes([0x7F]) + selector("mint(uint256)").rjust(32, b"\x11") + bytes([0x62, 1, 2, 3])
    found = pushed_selectors(code)
    assert burn in found and bytes([0, 1, 2, 3]) in found
    assert selector("mint(uint256)") not in found
    # Solidity's CBOR metadata (here holding a PUSH4 of the mint selector) is cut off, never decoded.
    metadata = bytes([0xA1, 0x63]) + selector("mint(uint256)") + b"\x00" * 3
    with_metadata = code + metadata + len(metadata).to_bytes(2, "big")
    assert strip_metadata(with_metadata) == code
    assert pushed_selectors(with_metadata) == found


# ------------------------------------------------------------------------------------ inspect_token


def test_our_nmr_has_a_permit_and_burns_with_burn(chain, project, token):
    caps = inspect_token(chain.provider, token.address)
    assert caps.permit is True
    assert caps.burn == "burn"
    assert caps.approve_from_zero_only is None  # no changeApproval: not known to need the reset
    assert (caps.symbol, caps.decimals, caps.total_supply) == ("NMR", 18, int(token.totalSupply()))
    assert caps.codehash == codehash(chain.provider, token.address)
    assert tournament_contract_for(caps) == "Tournament"
    assert "permit: yes" in caps.describe() and "burns: burn(uint256), checked against totalSupply" in caps.describe()
    assert inspect_token(chain.provider.web3, token.address) == caps  # a web3 does as well as a provider


def test_legacy_nmr_has_no_permit_and_burns_with_mint(chain, project, owner, legacy):
    legacy.issue(owner, 1_000 * WEI, sender=owner)
    # The premise: its fallback "answers" the permit probes and burn(uint256) with empty data.
    assert _raw_call(chain, legacy.address, selector("nonces(address)") + bytes(32)) == b""
    assert _raw_call(chain, legacy.address, selector("DOMAIN_SEPARATOR()")) == b""
    assert _raw_call(chain, legacy.address, selector("burn(uint256)") + (5).to_bytes(32, "big")) == b""

    caps = inspect_token(chain.provider, legacy.address)
    assert caps.permit is False
    assert caps.burn == "numeraire-mint"
    assert caps.approve_from_zero_only is True
    assert (caps.symbol, caps.decimals, caps.total_supply) == ("NMR", 18, 1_000 * WEI)
    assert tournament_contract_for(caps) == "NumeraireTournament"
    assert caps.describe().startswith(
        "permit: no, stakes use approve; burns: mint(uint256) (NMR's repurposed burn), checked against totalSupply"
    )
    assert "total supply 1000" in caps.headline()


def test_a_contract_that_cannot_burn_is_refused(chain, project, owner):
    invoker = owner.deploy(project.StrategyInvoker, owner)
    caps = inspect_token(chain.provider, invoker.address)
    assert (caps.permit, caps.burn, caps.symbol, caps.decimals, caps.total_supply) == (False, None, None, None, None)
    assert caps.tournament_contract is None
    with pytest.raises(ConfigError) as caught:
        tournament_contract_for(caps, argument=f"--nmr {invoker.address}")
    message = str(caught.value)
    assert message.startswith(f"--nmr {invoker.address}: the token at {invoker.address} cannot burn")
    assert "burn(uint256)" in message and "mint(uint256)" in message and "\n" not in message
    with pytest.raises(ConfigError, match="no contract at"):
        inspect_token(chain.provider, "0x" + "12" * 20)


def test_capabilities_are_cached_per_address_and_code(chain, project, owner, token, legacy):
    first = token_capabilities(chain.provider, token.address)
    assert token_capabilities(chain.provider, token.address) is first  # read once
    assert token_capabilities(chain.provider, legacy.address).burn == "numeraire-mint"


# ------------------------------------------------------------------------------------ approve_exactly


def test_approve_exactly_on_legacy_nmr_resets_a_non_zero_allowance_first(chain, project, owner, alice, legacy):
    from ape.exceptions import ContractLogicError

    spender = owner.address
    legacy.approve(spender, 3 * WEI, sender=alice)
    with pytest.raises(ContractLogicError):  # the premise: no change from non-zero to non-zero
        legacy.approve(spender, 5 * WEI, sender=alice)

    said: list[str] = []
    receipts = approve_exactly(legacy, alice, spender, 5 * WEI, said.append, from_zero_only=True)
    assert len(receipts) == 2
    assert int(legacy.allowance(alice, spender)) == 5 * WEI
    assert said == [
        "resetting the allowance for the tournament from 3 NMR to 0 first "
        "(the token only changes allowances from or to zero)",
        "approving 5 NMR for the tournament",
    ]

    nonce = alice.nonce
    said.clear()
    assert approve_exactly(legacy, alice, spender, 4 * WEI, said.append) == []  # already covered
    assert alice.nonce == nonce and "already covers 4 NMR" in said[0]

    legacy.approve(spender, 0, sender=alice)
    assert len(approve_exactly(legacy, alice, spender, 2 * WEI, from_zero_only=True)) == 1  # from zero: one step
    assert int(legacy.allowance(alice, spender)) == 2 * WEI


def test_approve_exactly_on_our_nmr(chain, project, owner, alice, token):
    spender = owner.address
    token.approve(spender, 3 * WEI, sender=alice)
    said: list[str] = []
    assert len(approve_exactly(token, alice, spender, 5 * WEI, said.append)) == 2  # unknown rule: reset first
    assert int(token.allowance(alice, spender)) == 5 * WEI and "resetting" in said[0]
    said.clear()
    assert len(approve_exactly(token, alice, spender, 7 * WEI, said.append, from_zero_only=False)) == 1
    assert int(token.allowance(alice, spender)) == 7 * WEI and said == ["approving 7 NMR for the tournament"]


# ------------------------------------------------------------------------------------ deploy


def _tournament_codehash_as(project, owner, contract, dep, settings=SETTINGS) -> str:
    """The codehash a fresh `contract` with the deployment's constructor arguments has (the
    immutables are the same, so the runtime code is too)."""
    ref = owner.deploy(getattr(project, contract), dep.address("NMR"), owner, settings.admin_delay,
                       settings.challenge_period, settings.grace_period, settings.max_pause)
    from ape import chain

    found = codehash(chain.provider, ref.address)
    assert found is not None  # just deployed: there is code
    return found


def test_deploy_on_legacy_nmr_deploys_a_numeraire_tournament(chain, project, owner, oracle, accounts, legacy, tmp_path):
    operator = accounts[8]
    said: list[str] = []
    dep, path = deploy(project, owner, directory=tmp_path, nmr_address=legacy.address, operator=operator.address,
                       settings=SETTINGS, log=said.append)
    record = json.loads(path.read_text())
    assert record["settings"]["tournament_contract"] == "NumeraireTournament"
    assert record["contracts"]["NMR"]["address"] == legacy.address
    assert set(record["contracts"]) == {"NMR", "Tournament", "StrategyFactory", "StrategyInvoker"}
    assert any("permit: no, stakes use approve; burns: mint(uint256) (NMR's repurposed burn), checked against "
               "totalSupply" in m for m in said), said
    tournament = project.NumeraireTournament.at(dep.address("Tournament"))
    assert tournament.nmr() == legacy.address
    assert dep.contracts["Tournament"].codehash == _tournament_codehash_as(project, owner, "NumeraireTournament", dep)
    assert dep.contracts["Tournament"].codehash != _tournament_codehash_as(project, owner, "Tournament", dep)
    invoker = project.StrategyInvoker.at(dep.address("StrategyInvoker"))
    assert invoker.owner() == operator.address and record["roles"]["INVOKER_OWNER"] == [operator.address]
    factory = project.StrategyFactory.at(dep.address("StrategyFactory"))
    assert int(factory.implementation(), 16) != 0

    # Again: everything is reused, nothing sent.
    nonce = owner.nonce
    again, _ = deploy(project, owner, directory=tmp_path, nmr_address=legacy.address, settings=SETTINGS,
                      log=said.append)
    assert again.contracts == dep.contracts and owner.nonce == nonce


def test_deploy_with_our_nmr_deploys_a_tournament_and_the_strategy_contracts(chain, project, owner, accounts, tmp_path):
    said: list[str] = []
    dep, path = deploy(project, owner, directory=tmp_path, settings=SETTINGS, log=said.append)
    record = json.loads(path.read_text())
    assert record["settings"]["tournament_contract"] == "Tournament"
    assert dep.contracts["Tournament"].codehash == _tournament_codehash_as(project, owner, "Tournament", dep)
    assert project.StrategyInvoker.at(dep.address("StrategyInvoker")).owner() == owner.address  # default operator
    assert record["roles"]["INVOKER_OWNER"] == [owner.address]
    assert any("permit: yes" in m for m in said), said

    # A new operator means a new invoker; the tournament and the factory stay.
    new, _ = deploy(project, owner, directory=tmp_path, settings=SETTINGS, operator=accounts[8].address,
                    log=said.append)
    assert new.address("Tournament") == dep.address("Tournament")
    assert new.address("StrategyFactory") == dep.address("StrategyFactory")
    assert new.address("StrategyInvoker") != dep.address("StrategyInvoker")
    rewritten = json.loads(path.read_text())
    assert rewritten["roles"]["ORACLE_ROLE"] == record["roles"]["ORACLE_ROLE"]  # the tournament's roles are kept
    assert rewritten["roles"]["INVOKER_OWNER"] == [accounts[8].address]
    assert project.StrategyInvoker.at(new.address("StrategyInvoker")).owner() == accounts[8].address

    # A new token means a new tournament, factory and invoker.
    forced, _ = deploy(project, owner, directory=tmp_path, force=True, settings=SETTINGS, log=said.append)
    assert {forced.address(n) for n in forced.contracts}.isdisjoint({dep.address(n) for n in dep.contracts})


def test_a_token_that_cannot_burn_is_refused_and_nothing_is_sent(chain, project, owner, tmp_path):
    invoker = owner.deploy(project.StrategyInvoker, owner)
    before = (owner.nonce, chain.blocks.head.number)
    said: list[str] = []
    with pytest.raises(ConfigError) as caught:
        deploy(project, owner, directory=tmp_path, nmr_address=invoker.address, settings=SETTINGS, log=said.append)
    assert str(caught.value).startswith(f"--nmr {invoker.address}: the token at {invoker.address} cannot burn")
    assert (owner.nonce, chain.blocks.head.number) == before
    assert list(tmp_path.iterdir()) == []
    assert any("burns: NONE" in m for m in said), said  # the report came first


def test_bad_addresses_are_refused_before_anything_is_sent(chain, project, owner, tmp_path):
    from nmrstake.errors import InputError

    before = (owner.nonce, chain.blocks.head.number)
    cases: tuple[tuple[str, dict[str, Any]], ...] = (
        ("--nmr", {"nmr_address": "0x1234"}), ("--oracle", {"oracle": "nobody"}), ("--operator", {"operator": "0x" + "zz" * 20}))
    for flag, kwargs in cases:
        with pytest.raises(InputError, match=f"^{flag}: .* is not an address"):
            deploy(project, owner, directory=tmp_path, settings=SETTINGS, log=lambda m: None, **kwargs)
    assert (owner.nonce, chain.blocks.head.number) == before
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------ staking and burning


def test_stake_on_legacy_nmr_approves_and_the_round_burns_with_mint(chain, project, owner, accounts, legacy, tmp_path):
    dep, _ = deploy(project, owner, directory=tmp_path / "deployments", nmr_address=legacy.address,
                    settings=SETTINGS, log=lambda m: None)
    client = TournamentClient(project, dep)
    staker = accounts[3]
    legacy.issue(staker, 100 * WEI, sender=owner)
    open_round(client, owner, RoundSpec(round_id=5, open_in=0, close_after=HOUR, resolve_after=HOUR,
                                        stake_cap=50 * WEI, min_stake=WEI))
    inputs = synth_round(tmp_path, 5, models=1)
    predictions = inputs / "predictions" / "model_00.csv"

    said: list[str] = []
    staked = stake_predictions(client, staker, None, 5, "model_00", 5 * WEI, predictions, say=said.append)
    assert staked["stake"] == str(5 * WEI)
    assert "the token has no permit: approving 5 NMR for the tournament" in said, said
    assert int(legacy.allowance(staker, client.tournament.address)) == 0  # spent exactly

    # A stale non-zero allowance is reset to 0 first (LegacyNMR refuses non-zero to non-zero).
    legacy.approve(client.tournament.address, WEI // 2, sender=staker)
    said.clear()
    stake_predictions(client, staker, None, 5, "model_00", 2 * WEI, predictions, say=said.append)
    assert any(m.startswith("resetting the allowance") and "from or to zero" in m for m in said), said
    assert "the token has no permit: approving 2 NMR for the tournament" in said
    mid = model_id("model_00")
    assert client.stake(5, mid, staker.address).amount == 7 * WEI

    # The round burns through mint(uint256), checked against totalSupply.
    burn = 7 * WEI * 5 // 100
    result = TResult(5, [(mid, staker.address, 7 * WEI, 0, burn)])
    advance_to(client.round(5).resolve_time)
    client.tournament.postResult(5, result.root, 0, burn, 1, keccak(b"manifest"), sender=owner)
    advance_to_final(client.round(5))
    supply = int(legacy.totalSupply())
    client.tournament.finalise(5, sender=owner)
    assert int(legacy.totalSupply()) == supply - burn
    balance = int(legacy.balanceOf(staker))
    client.tournament.claim(*result.claim_args(0), sender=staker)
    assert int(legacy.balanceOf(staker)) == balance + 7 * WEI - burn


def test_stake_on_our_nmr_still_uses_a_permit(chain, project, owner, accounts, tmp_path):
    dep, _ = deploy(project, owner, directory=tmp_path / "deployments", settings=SETTINGS, log=lambda m: None)
    client = TournamentClient(project, dep)
    staker = accounts[3]
    client.token.mint(staker, 100 * WEI, sender=owner)
    open_round(client, owner, RoundSpec(round_id=6, open_in=0, close_after=HOUR, resolve_after=HOUR,
                                        stake_cap=50 * WEI, min_stake=WEI))
    predictions = synth_round(tmp_path, 6, models=1) / "predictions" / "model_00.csv"
    nonce = staker.nonce
    said: list[str] = []
    stake_predictions(client, staker, None, 6, "model_00", 5 * WEI, predictions, say=said.append)
    assert staker.nonce == nonce + 1  # one transaction: stakeWithPermit, no approval
    assert not any("approving" in m for m in said), said
    assert int(client.token.nonces(staker)) == 1
