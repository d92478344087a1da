"""The operator daemon's pass (`StrategyOperator.tick`) on the embedded EVM, with the service's
store and the oracle's published results on this machine (LocalResults): what it stakes, what it
refuses to send and why, claims for everybody, restakes, and that a second pass does nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers.scenario import HOUR, WEI, World, advance_to, deliver_targets, make_world, open_funded_round, synth_round

from nmrstake.client.results import LocalResults
from nmrstake.daemon import EventLog
from nmrstake.errors import RequestError
from nmrstake.hashing import keccak_file
from nmrstake.models import model_id
from nmrstake.oracle import Oracle
from nmrstake.participant import LocalDelivery, deliver, stake_predictions
from nmrstake.results.read import load_published
from nmrstake.strategies.chain import Mode, StrategyClient
from nmrstake.strategy_operator import Action, StrategyOperator


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict]] = []

    def __call__(self, event: str, **fields) -> None:
        self.lines.append((event, fields))

    def events(self, name: str) -> list[dict]:
        return [f for e, f in self.lines if e == name]


@dataclass
class StrategyWorld(World):
    """`make_world`'s world with the strategies of stakers[0] (FIXED) and [1] (COMPOUND)."""

    strategies: StrategyClient
    owned: dict[Mode, tuple[Any, str]]  # mode -> (owner account, strategy address)


@pytest.fixture
def world(project, tmp_path):
    w = make_world(project, tmp_path, n_stakers=3)  # stakers[0], [1]: strategy owners; [2]: manual
    client = w.client
    strategies = StrategyClient(client)
    invoker = strategies.invoker_address
    owned = {}
    for acct, mode in zip(w.stakers[:2], (Mode.FIXED, Mode.COMPOUND)):
        strategies.factory.create(invoker, sender=acct)
        address = strategies.strategy_of(acct.address)
        assert address is not None  # just created
        client.token.approve(address, 100 * WEI, sender=acct)
        strategy = strategies.contract(address)
        strategy.deposit(100 * WEI, sender=acct)
        strategy.setModel(model_id(f"model_{mode.label}"), 10 * WEI, int(mode), sender=acct)
        owned[mode] = (acct, address)
    return StrategyWorld(**vars(w), strategies=strategies, owned=owned)


def operator_of(world, log: Log) -> StrategyOperator:
    return StrategyOperator(world.client, LocalResults(world.layout), world.owner, log=log)


def upload(world, acct, strategy: str, rid: int, model: str, path: Path) -> None:
    deliver(LocalDelivery(world.client, world.layout), world.client.domain, acct, rid, model, path,
            keccak_file(path), staker=strategy)


def test_tick__stakes_strategies_on_their_owners_uploads_once__and_skips_models_without_one(world, tmp_path):
    log = Log()
    open_funded_round(world, 81)
    inputs = synth_round(tmp_path, 81, models=2)
    (fixed_owner, fixed), (_, comp) = world.owned[Mode.FIXED], world.owned[Mode.COMPOUND]
    upload(world, fixed_owner, fixed, 81, "model_fixed", inputs / "predictions" / "model_00.csv")
    steps = operator_of(world, log).tick()
    assert [(s.round_id, s.action) for s in steps] == [(81, Action.STAKE)]
    tour = world.client.tournament
    s = world.client.stake(81, model_id("model_fixed"), fixed)
    assert s.amount == 10 * WEI and s.commitment == keccak_file(inputs / "predictions" / "model_00.csv")
    assert tour.getStake(81, model_id("model_compound"), comp)[0] == 0  # no upload, no stake
    assert [e["succeeded"] for e in log.events("stake")] == [1]
    # A second pass (or a restart) sends nothing for the staked model.
    log2 = Log()
    operator_of(world, log2).tick()
    assert not log2.events("stake") and not log2.events("settle_and_stake")


def test_upload_for_a_strategy__only_its_owner_may_sign(world, tmp_path):
    open_funded_round(world, 82)
    inputs = synth_round(tmp_path, 82, models=1)
    (_, fixed) = world.owned[Mode.FIXED]
    with pytest.raises(RequestError) as refused:
        upload(world, world.stakers[2], fixed, 82, "model_fixed", inputs / "predictions" / "model_00.csv")
    assert refused.value.status == 403 and refused.value.kind == "wrong-signer"
    assert world.layout.store().uploads(82) == []


def test_tick__a_newer_upload_moves_the_strategy_stake_to_it(world, tmp_path):
    open_funded_round(world, 83)
    inputs = synth_round(tmp_path, 83, models=2)
    owner, fixed = world.owned[Mode.FIXED]
    upload(world, owner, fixed, 83, "model_fixed", inputs / "predictions" / "model_00.csv")
    operator_of(world, Log()).tick()
    upload(world, owner, fixed, 83, "model_fixed", inputs / "predictions" / "model_01.csv")
    log = Log()
    operator_of(world, log).tick()
    assert [e["succeeded"] for e in log.events("recommit")] == [1]
    s = world.client.stake(83, model_id("model_fixed"), fixed)
    assert s.amount == 10 * WEI and s.commitment == keccak_file(inputs / "predictions" / "model_01.csv")


def test_tick__a_model_that_cannot_be_staked_is_reported_not_sent(world, tmp_path):
    open_funded_round(world, 84)
    inputs = synth_round(tmp_path, 84, models=1)
    owner, fixed = world.owned[Mode.FIXED]
    world.strategies.contract(fixed).withdraw(95 * WEI, sender=owner)  # 5 NMR idle, 10 per round
    upload(world, owner, fixed, 84, "model_fixed", inputs / "predictions" / "model_00.csv")
    log = Log()
    steps = operator_of(world, log).tick()
    [skip] = log.events("not_staked")
    assert skip["model"] == "model_fixed" and skip["reason"] == "needs 10 NMR, 5 idle"
    assert not log.events("stake") and steps[0].action is Action.NOTHING and "1 not staked" in steps[0].reason
    assert world.client.tournament.getStake(84, model_id("model_fixed"), fixed)[0] == 0


def test_tick__revoked_operator_stakes_nothing_for_that_strategy(world, tmp_path):
    open_funded_round(world, 85)
    inputs = synth_round(tmp_path, 85, models=1)
    owner, fixed = world.owned[Mode.FIXED]
    world.strategies.contract(fixed).setOperator("0x" + "00" * 20, sender=owner)
    upload(world, owner, fixed, 85, "model_fixed", inputs / "predictions" / "model_00.csv")
    log = Log()
    operator_of(world, log).tick()
    assert not log.events("stake")
    assert world.client.tournament.getStake(85, model_id("model_fixed"), fixed)[0] == 0


def test_tick__final_round__claims_for_everybody_and_restakes_compound_with_its_result(world, tmp_path):
    client, tour, token = world.client, world.client.tournament, world.client.token
    (f_owner, fixed), (c_owner, comp) = world.owned[Mode.FIXED], world.owned[Mode.COMPOUND]
    manual = world.stakers[2]
    open_funded_round(world, 86, close_after=3 * HOUR, payouts="numerai-2026")
    inputs = synth_round(tmp_path, 86, models=3, seed=86)
    files = [inputs / "predictions" / f"model_{i:02d}.csv" for i in range(3)]
    upload(world, f_owner, fixed, 86, "model_fixed", files[0])
    upload(world, c_owner, comp, 86, "model_compound", files[1])
    stake_predictions(client, manual, LocalDelivery(client, world.layout), 86, "model_manual", 5 * WEI,
                      files[2])
    operator_of(world, Log()).tick()
    info = client.round(86)
    advance_to(info.resolve_time)
    deliver_targets(world, 86, inputs)
    Oracle(client, world.oracle, world.layout, log=EventLog(out=lambda line: None)).tick()
    open_funded_round(world, 87, close_after=3 * HOUR, payouts="numerai-2026")
    upload(world, f_owner, fixed, 87, "model_fixed", files[0])
    upload(world, c_owner, comp, 87, "model_compound", files[1])
    advance_to(client.round(86).final_at)
    rows = {r.model: r for r in load_published(world.layout.published(86)).rows}
    manual_before = int(token.balanceOf(manual))
    log = Log()
    operator_of(world, log).tick()
    # Everybody's round-86 stake is claimed, by the operator, to the staker.
    for model, who in (("model_fixed", fixed), ("model_compound", comp), ("model_manual", manual.address)):
        assert tour.getStake(86, model_id(model), who)[0] == 0, model
    r = rows["model_manual"]
    assert int(token.balanceOf(manual)) - manual_before == r.stake - r.burn + r.payout
    assert [e["calls"] for e in log.events("claimed")] == [1]
    assert [e["succeeded"] for e in log.events("settle_and_stake")] == [2]
    # Round 87: fixed stakes its amount; compound its amount plus its round-86 result.
    c = rows["model_compound"]
    assert tour.getStake(87, model_id("model_fixed"), fixed)[0] == 10 * WEI
    assert tour.getStake(87, model_id("model_compound"), comp)[0] == 10 * WEI + c.payout - c.burn
    assert world.strategies.setting(comp, model_id("model_compound")).net == c.payout - c.burn
    # Nothing is left to do; a long-running operator stops reading a finished round at all.
    again = Log()
    op = operator_of(world, again)
    first = op.tick()
    assert not again.events("claimed") and not again.events("settle_and_stake") and not again.events("settle")
    assert (86, Action.NOTHING) in [(st.round_id, st.action) for st in first]
    assert 86 not in [st.round_id for st in op.tick()]
