"""The oracle on the embedded EVM: planning, computing, publishing, posting exactly once,
rejection and repost, bad data, and `verify` against the chain."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from helpers.scenario import (
    WEI,
    advance_to,
    deliver_targets,
    make_world,
    open_funded_round,
    stake_all,
    synth_round,
)

from nmrstake.daemon import EventLog
from nmrstake.errors import RequestError
from nmrstake.hashing import bytes32_from_hex, keccak_file
from nmrstake.oracle import Action, Oracle, alarm_hold_until, plan_round
from nmrstake.participant import LocalDelivery, deliver, stake_predictions
from nmrstake.results.read import load_published
from nmrstake.signing import DeliveryReceipt
from nmrstake.tournament import RoundInfo, RoundState
from nmrstake.verify import verify_round


def _info(state: RoundState, **kw) -> RoundInfo:
    base: dict[str, Any] = dict(round_id=7, state=state, open_time=100, close_time=200, resolve_time=300, corr_multiplier_bps=5000,
                mmc_multiplier_bps=20000, clip_bps=500, stake_threshold=1, stake_cap=10, min_stake=1, total_staked=5,
                stake_count=1, funded=1, total_payout=0, total_burn=0, claimed=0, claimable=0, posted_at=0,
                settled=False, root=b"\0" * 32, results_hash=b"\0" * 32, challenge_period=50, grace_period=1000)
    base.update(kw)
    return RoundInfo(**base)


@pytest.mark.parametrize(
    "state,now,targets,published,settled,action",
    [
        (RoundState.OPEN, 150, True, False, False, Action.WAIT),
        (RoundState.CLOSED, 299, True, False, False, Action.WAIT),      # one second before resolve
        (RoundState.CLOSED, 300, True, False, False, Action.COMPUTE),   # at resolve
        (RoundState.CLOSED, 300, False, False, False, Action.WAIT),     # no targets yet
        (RoundState.CLOSED, 300, False, True, False, Action.POST),      # published, not posted
        (RoundState.CLOSED, 1250, True, False, False, Action.COMPUTE),  # last second a posting can finalise in time
        (RoundState.CLOSED, 1251, True, False, False, Action.STUCK),
        (RoundState.POSTED, 400, True, True, False, Action.WAIT),
        (RoundState.FINAL, 500, True, True, False, Action.FINALISE),
        (RoundState.FINAL, 500, True, True, True, Action.DONE),
        (RoundState.EXPIRED, 2000, True, False, False, Action.DONE),
    ],
)
def test_plan_round(tmp_path, state, now, targets, published, settled, action):
    """The planner's decision at each state and time boundary (resolve at 300, last post at 1250)."""
    t = tmp_path / "round-7.csv" if targets else None
    plan = plan_round(_info(state, settled=settled, posted_at=350 if state >= RoundState.POSTED else 0), now,
                      targets=t, published=published)
    assert plan.action is action, plan.reason


@pytest.fixture
def world(project, tmp_path):
    return make_world(project, tmp_path)


def _resolve_ready(world, tmp_path, round_id=11):
    open_funded_round(world, round_id)
    inputs = synth_round(tmp_path, round_id, models=len(world.stakers))
    stake_all(world, round_id, inputs)
    advance_to(world.client.round(round_id).resolve_time)
    return inputs


def test_resolves_once_and_verifies(world, tmp_path):
    inputs = _resolve_ready(world, tmp_path)
    lines: list[str] = []
    oracle = Oracle(world.client, world.oracle, world.layout, log=EventLog(json_lines=True, out=lines.append))
    assert oracle.plan(world.client.round(11)).action is Action.WAIT  # targets not there yet
    deliver_targets(world, 11, inputs)
    oracle.tick()
    info = world.client.round(11)
    assert info.state is RoundState.POSTED
    pub = load_published(world.layout.published(11))
    assert info.root == bytes32_from_hex(pub.merkle_root)
    assert info.results_hash == pub.manifest_hash
    assert (info.total_payout, info.total_burn) == (pub.total_payout, pub.total_burn)
    assert any('"event": "posted"' in line for line in lines)

    oracle.tick()  # nothing more to do: no second posting
    posted = list(world.client.tournament.ResultPosted.range(0, world.client.head() + 1))
    assert len(posted) == 1
    report = verify_round(world.client, 11, world.layout.published(11))
    assert report.ok, report.differences

    advance_to(info.final_at)
    oracle.tick()
    assert world.client.round(11).settled
    assert world.client.round(11).state is RoundState.FINAL


def test_rejected_result_is_not_reposted_until_inputs_change(world, tmp_path):
    inputs = _resolve_ready(world, tmp_path)
    deliver_targets(world, 11, inputs)
    lines: list[str] = []
    oracle = Oracle(world.client, world.oracle, world.layout, log=EventLog(out=lines.append))
    oracle.tick()
    first_root = world.client.round(11).root
    world.client.tournament.rejectResult(11, "wrong targets", sender=world.owner)
    assert world.client.round(11).state is RoundState.CLOSED

    oracle.tick()  # same inputs -> same root: refused, folder kept aside, nothing posted
    assert world.client.round(11).state is RoundState.CLOSED
    assert any("round_error" in line and "rejected" in line for line in lines)
    assert list(world.layout.results_dir.glob("round-11.rejected-*"))

    # The operator corrects the targets: a new result is computed and posted.
    tlines = (inputs / "targets.csv").read_text().splitlines()
    ids, values = zip(*(line.split(",") for line in tlines[1:]))
    fixed = [repr(1 - float(v)) for v in values]  # same ids, inverted targets: winners and losers swap
    (world.layout.targets_dir / "round-11.csv").write_text(
        "\n".join([tlines[0], *(f"{i},{v}" for i, v in zip(ids, fixed))]) + "\n")
    oracle.tick()
    info = world.client.round(11)
    assert info.state is RoundState.POSTED and info.root != first_root, lines
    assert verify_round(world.client, 11, world.layout.published(11)).ok


def test_bad_targets_post_nothing(world, tmp_path):
    _resolve_ready(world, tmp_path)
    world.layout.targets_dir.mkdir(parents=True, exist_ok=True)
    (world.layout.targets_dir / "round-11.csv").write_text("id,target\nn1,0.5\nn1,0.7\n")
    lines: list[str] = []
    Oracle(world.client, world.oracle, world.layout, log=EventLog(out=lines.append)).tick()
    assert world.client.round(11).state is RoundState.CLOSED
    assert not world.layout.published(11).exists()
    assert any("round_error" in line and "round-11.csv" in line for line in lines)


def test_verify_names_the_first_difference(world, tmp_path):
    inputs = _resolve_ready(world, tmp_path)
    deliver_targets(world, 11, inputs)
    Oracle(world.client, world.oracle, world.layout, log=EventLog(out=lambda line: None)).tick()
    folder = world.layout.published(11)
    tampered = tmp_path / "tampered"
    shutil.copytree(folder, tampered)
    csv = tampered / "results.csv"
    lines = csv.read_text().splitlines()
    cells = lines[1].split(",")
    cells[9] = str(int(cells[9]) + 1)  # payout of the first row
    lines[1] = ",".join(cells)
    csv.write_text("\n".join(lines) + "\n")
    report = verify_round(world.client, 11, tampered)
    assert not report.ok
    assert "results.csv" in report.differences[0] or "payout" in report.differences[0]


def test_stake_whose_file_differs_from_its_commitment__is_returned_in_full(world, tmp_path):
    open_funded_round(world, 11)
    inputs = synth_round(tmp_path, 11, models=len(world.stakers))
    stake_all(world, 11, inputs, undelivered=(1,))
    # The second staker uploads another file and never commits the stake to it.
    other = tmp_path / "other.csv"
    other.write_text((inputs / "predictions" / "model_01.csv").read_text().replace("0.", "0.0", 1))
    deliver(LocalDelivery(world.client, world.layout), world.client.domain, world.stakers[1],
            11, "model_01", other, keccak_file(other))
    advance_to(world.client.round(11).resolve_time)
    deliver_targets(world, 11, inputs)
    Oracle(world.client, world.oracle, world.layout, log=EventLog(out=lambda line: None)).tick()
    pub = load_published(world.layout.published(11))
    row = next(r for r in pub.rows if r.model == "model_01")
    assert not row.valid and "does not match the commitment" in row.reason
    assert row.payout == 0 and row.burn == 0
    assert all(r.valid for r in pub.rows if r.model != "model_01")
    assert verify_round(world.client, 11, world.layout.published(11)).ok


def test_stakers_sharing_a_model_name__are_scored_each_with_their_own_file(world, tmp_path):
    open_funded_round(world, 11)
    inputs = synth_round(tmp_path, 11, models=len(world.stakers))
    delivery = LocalDelivery(world.client, world.layout)
    for i, acct in enumerate(world.stakers):  # everyone calls the model "shared", each with a file of its own
        stake_predictions(world.client, acct, delivery, 11, "shared", (i + 1) * 10 * WEI,
                          inputs / "predictions" / f"model_{i:02d}.csv")
    advance_to(world.client.round(11).resolve_time)
    deliver_targets(world, 11, inputs)
    Oracle(world.client, world.oracle, world.layout, log=EventLog(out=lambda line: None)).tick()
    pub = load_published(world.layout.published(11))
    assert [r.model for r in pub.rows] == ["shared"] * len(world.stakers) and all(r.valid for r in pub.rows)
    assert len({r.corr for r in pub.rows}) == len(world.stakers)  # three files, three scores
    for acct in world.stakers:
        assert ("shared", acct.address) in pub.inputs.predictions
    assert verify_round(world.client, 11, world.layout.published(11)).ok


def test_round_without_stakes_is_left_to_expire(tmp_path):
    plan = plan_round(_info(RoundState.CLOSED, stake_count=0, total_staked=0), 300, targets=tmp_path / "t.csv",
                      published=False)
    assert plan.action is Action.DONE and "no stakes" in plan.reason


def test_a_refused_posting_is_a_round_error_not_a_crash(world, tmp_path):
    inputs = _resolve_ready(world, tmp_path)
    deliver_targets(world, 11, inputs)
    lines: list[str] = []
    oracle = Oracle(world.client, world.oracle, world.layout, log=EventLog(out=lines.append))
    world.client.tournament.pause(sender=world.owner)  # postings revert while paused
    oracle.tick()
    assert world.client.round(11).state is RoundState.CLOSED
    assert any("round_error" in line and "posting the result of round 11 would revert" in line
               and "nothing was sent" in line for line in lines), lines
    world.client.tournament.unpause(sender=world.owner)
    oracle.tick()  # the published folder is posted once the pause is over
    assert world.client.round(11).state is RoundState.POSTED


def test_round_terms_go_to_the_contract_and_come_back_by_name(world):
    """Every field of the contract's RoundParams gets a value no other field has: a field passed or
    read by position in the wrong place would show."""
    from nmrstake.rounds import RoundSpec, open_round
    from nmrstake.tournament import RoundTerms

    start = world.client.chain_time() + 100
    spec = RoundSpec(round_id=77, open_in=1, close_after=1_002, resolve_after=2_003, corr_multiplier_bps=4_004,
                     mmc_multiplier_bps=5_005, clip_bps=606, stake_threshold=7_007 * WEI, stake_cap=8_008 * WEI,
                     min_stake=9_009)
    open_round(world.client, world.owner, spec, start=start)
    expected = RoundTerms(open_time=start + 1, close_time=start + 1_003, resolve_time=start + 3_006,
                          corr_multiplier_bps=4_004, mmc_multiplier_bps=5_005, clip_bps=606,
                          stake_threshold=7_007 * WEI, stake_cap=8_008 * WEI, min_stake=9_009)
    assert RoundTerms.from_contract(world.client.tournament.getRound(77)) == expected
    info = world.client.round(77)
    assert {k: getattr(info, k) for k in vars(expected)} == vars(expected)  # RoundInfo carries the terms
    assert expected.to_contract()["minStake"] == 9_009 and expected.to_contract()["openTime"] == start + 1


def test_targets_of_another_round__round_still_resolves__every_stake_refunded_with_an_alarm(world, tmp_path):
    """Targets that no delivered file matches hold no round (one staker's junk file would otherwise
    stall it): the round is posted with every such stake refunded, and the oracle logs an alarm
    naming the targets file, for the operator to correct them and the guardian to reject."""
    _resolve_ready(world, tmp_path)
    other = synth_round(tmp_path / "other", 12, models=len(world.stakers), seed=99)  # other ids
    world.layout.targets_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(other / "targets.csv", world.layout.targets_dir / "round-11.csv")
    lines: list[str] = []
    oracle = Oracle(world.client, world.oracle, world.layout, log=EventLog(out=lines.append))
    oracle.tick()  # the alarm holds the posting, for the operator to correct the targets first ...
    assert world.client.round(11).state is RoundState.CLOSED and not world.layout.published(11).exists(), lines
    assert any(" alarm " in f" {line} " and "round-11.csv" in line and "scored ids" in line for line in lines), lines
    assert any(" holding " in f" {line} " for line in lines), lines
    advance_to(alarm_hold_until(world.client.round(11)))
    oracle.tick()  # ... for half the posting window only: then the round is posted all the same
    assert world.client.round(11).state is RoundState.POSTED, lines
    rows = load_published(world.layout.published(11)).rows
    assert rows and all(not r.valid and r.payout == r.burn == 0 and "scored ids" in r.reason for r in rows)
    assert verify_round(world.client, 11, world.layout.published(11)).ok


def test_a_file_delivered_after_close_does_not_count(world, tmp_path):
    open_funded_round(world, 11)
    inputs = synth_round(tmp_path, 11, models=len(world.stakers))
    stake_all(world, 11, inputs, undelivered=(2,))
    info = world.client.round(11)
    advance_to(info.close_time)
    late = inputs / "predictions" / "model_02.csv"
    # The service refuses it after close (by chain time) ...
    with pytest.raises(RequestError) as refused:
        deliver(LocalDelivery(world.client, world.layout), world.client.domain, world.stakers[2],
                11, "model_02", late, keccak_file(late))
    assert refused.value.kind == "round-closed" and not world.layout.store().uploads(11, "model_02", world.stakers[2].address)
    # ... and should a store hold one received at close or later, the oracle ignores it.
    store = world.layout.store()
    with store.staging() as staged:
        shutil.copyfile(late, staged)
        digest = keccak_file(late)
        store.store(staged, round_id=11, model="model_02", staker=world.stakers[2].address, file_hash=digest,
                    extension=".csv", received_at=info.close_time, authorisation=b"\x01" * 32, signature="0x",
                    receipt=DeliveryReceipt(world.stakers[2].address, 11, "model_02", digest, info.close_time))
    advance_to(info.resolve_time)
    deliver_targets(world, 11, inputs)
    Oracle(world.client, world.oracle, world.layout, log=EventLog(out=lambda line: None)).tick()
    row = next(r for r in load_published(world.layout.published(11)).rows if r.model == "model_02")
    assert not row.valid and row.reason == "no predictions file delivered by close"
    assert row.payout == row.burn == 0
    assert verify_round(world.client, 11, world.layout.published(11)).ok


def test_stop_requested_while_computing__publishes_but_posts_only_on_the_next_run(world, tmp_path):
    inputs = _resolve_ready(world, tmp_path)
    deliver_targets(world, 11, inputs)
    lines: list[str] = []
    oracle = Oracle(world.client, world.oracle, world.layout, log=EventLog(out=lines.append))
    asked = iter([False])  # not at the start of the pass; from then on (the end of computing), yes
    oracle.tick(lambda: next(asked, True))
    assert world.layout.published(11).is_dir() and world.client.round(11).state is RoundState.CLOSED
    assert any("stopping_before_post" in line for line in lines), lines
    oracle.tick()
    assert world.client.round(11).state is RoundState.POSTED
    assert len(list(world.client.tournament.ResultPosted.range(0, world.client.head() + 1))) == 1
