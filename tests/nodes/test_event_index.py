"""The event index (`nmrstake.index`) on a real Anvil: a round staked, resolved by the oracle and
claimed reads from the index as the chain's readers read it; a reorganisation drops the orphaned
events and picks up the new branch's; events short of N confirmations are left out; a restarted
indexer and two indexers on one database store each log once. SQLite (the PostgreSQL fixture is
not on main yet)."""

from __future__ import annotations

import os
import threading
from typing import TypedDict

import pytest
from helpers.index_db import log_keys, sqlite_engine
from helpers.scenario import (
    advance_to,
    advance_to_final,
    deliver_targets,
    make_world,
    open_funded_round,
    oracle_once,
    stake_all,
    synth_round,
)

from nmrstake.errors import ConfigError
from nmrstake.index import queries
from nmrstake.index.indexer import Indexer
from nmrstake.localchain import anvil_provider

pytestmark = pytest.mark.nodes

ROUND = 5


@pytest.fixture(scope="module")
def world(project, tmp_path_factory):
    """(world, node URL): round 5 staked by two stakers, posted by the oracle, final, staker 0's
    stake claimed."""
    from nmrstake.client.results import LocalResults
    from nmrstake.participant import claim_all

    tmp = tmp_path_factory.mktemp("event-index")
    with anvil_provider():
        w = make_world(project, tmp, n_stakers=2)
        open_funded_round(w, ROUND)
        inputs = synth_round(tmp, ROUND, models=2)
        stake_all(w, ROUND, inputs)
        advance_to(w.client.round(ROUND).resolve_time)
        deliver_targets(w, ROUND, inputs)
        oracle_once(w)
        advance_to_final(w.client.round(ROUND))
        claim_all(w.client, w.stakers[0], LocalResults(w.layout), [ROUND])
        yield w, os.environ["APE_FOUNDRY_HOST"]


def indexer(world, engine, **options) -> Indexer:
    w, url = world
    return Indexer.for_deployment(engine, url, w.client.deployment, **options)


class Periods(TypedDict):
    """The deployment's periods, as the round queries take them (by keyword)."""

    challenge_period: int
    grace_period: int


def periods(world) -> Periods:
    client = world[0].client
    return {"challenge_period": client.challenge_period, "grace_period": client.grace_period}


def test_index__a_staked_posted_and_claimed_round__reads_as_the_chain_readers_read_it(world, tmp_path):
    client = world[0].client
    engine = sqlite_engine(tmp_path)
    ix = indexer(world, engine)
    step = ix.sync()
    assert step.at_head and step.cursor == client.head()
    assert queries.round_ids(engine, ix.stream) == client.round_ids() == [ROUND]
    [info] = queries.round_infos(engine, ix.stream, now=client.now(), **periods(world))
    assert info == client.round(ROUND)
    assert queries.round_info(engine, ix.stream, ROUND, **periods(world)) == client.round(ROUND)
    indexed = queries.stakes(engine, ix.stream, ROUND)
    chain = client.stakes_at_close(ROUND)
    assert [(s.model_id, s.staker, s.amount, s.commitment) for s in indexed] == \
        [(s.model_id, s.staker, s.amount, s.commitment) for s in chain]
    assert len(indexed) == 2
    claims = queries.claims(engine, ix.stream, ROUND)
    assert {(c.model_id, c.staker) for c in claims} == client.claimed_keys(ROUND)
    assert [c.staker for c in claims] == [str(world[0].stakers[0].address)]
    [posted] = queries.results(engine, ix.stream, ROUND)
    assert (posted.root, posted.results_hash, posted.rejected) == (info.root, info.results_hash, None)
    assert posted.final_at == info.final_at
    with pytest.raises(Exception, match="round 99"):
        queries.round_info(engine, ix.stream, 99, **periods(world))


def test_index__a_restarted_indexer__resumes_from_its_cursor_without_duplicates(world, tmp_path):
    whole = sqlite_engine(tmp_path, "whole.db")
    indexer(world, whole).sync()
    engine = sqlite_engine(tmp_path)
    first = indexer(world, engine, batch_blocks=3)
    for _ in range(3):
        first.step()
    part = queries.status(engine, first.stream)
    assert part is not None and part.cursor < part.head
    indexer(world, engine, batch_blocks=3).sync()  # a new process on the same database
    assert log_keys(engine) == log_keys(whole)
    assert len(set(log_keys(engine))) == len(log_keys(engine)) > 0


def test_index__two_indexers_on_one_database__store_each_log_once(world, tmp_path):
    whole = sqlite_engine(tmp_path, "whole.db")
    indexer(world, whole).sync()
    replicas = [indexer(world, sqlite_engine(tmp_path), batch_blocks=1) for _ in range(2)]
    errors: list[BaseException] = []

    def run(ix: Indexer) -> None:
        try:
            ix.sync()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(ix,)) for ix in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert log_keys(replicas[0].engine) == log_keys(whole)


def test_index__events_short_of_n_confirmations__are_not_read_as_confirmed(world, tmp_path):
    from ape import chain

    w, _ = world
    engine = sqlite_engine(tmp_path)
    ix = indexer(world, engine)
    open_funded_round(w, 6, fund=0)  # RoundOpened in the head block: one confirmation
    ix.sync()
    assert queries.round_ids(engine, ix.stream) == [ROUND, 6]
    assert queries.round_ids(engine, ix.stream, confirmations=1) == [ROUND, 6]
    assert queries.round_ids(engine, ix.stream, confirmations=3) == [ROUND]
    chain.mine(2)
    ix.sync()
    assert queries.round_ids(engine, ix.stream, confirmations=3) == [ROUND, 6]
    assert queries.round_ids(engine, ix.stream, confirmations=4) == [ROUND]


def test_index__after_a_reorg__drops_the_orphaned_events_and_picks_up_the_new_branch(world, tmp_path):
    from ape import chain

    w, _ = world
    engine = sqlite_engine(tmp_path)
    ix = indexer(world, engine, keep_blocks=16)
    ix.sync()
    snapshot = chain.snapshot()
    open_funded_round(w, 10, fund=0)
    chain.mine(1)
    ix.sync()
    assert 10 in queries.round_ids(engine, ix.stream)
    orphaned = set(log_keys(engine))
    chain.restore(snapshot)
    chain.mine(1)  # a different block at the height the round was opened at
    open_funded_round(w, 11, fund=0)
    chain.mine(2)
    step = ix.step()
    assert step.rewound_to is not None and step.rewound_to < step.head
    ix.sync()
    ids = queries.round_ids(engine, ix.stream)
    assert 10 not in ids and 11 in ids
    whole = sqlite_engine(tmp_path, "whole.db")
    indexer(world, whole).sync()
    assert log_keys(engine) == log_keys(whole)  # exactly what an index of the new chain holds
    assert orphaned - set(log_keys(engine))  # the orphaned round's log is gone
    assert queries.round_infos(engine, ix.stream, now=w.client.now(), **periods(world)) == w.client.rounds()


def test_index__bad_settings__are_refused_naming_them(world, tmp_path):
    engine = sqlite_engine(tmp_path)
    with pytest.raises(ConfigError, match="keep_blocks"):
        indexer(world, engine, keep_blocks=0)
    with pytest.raises(ConfigError, match="batch_blocks"):
        indexer(world, engine, batch_blocks=0)
    assert queries.status(engine, indexer(world, engine).stream) is None  # nothing written


def test_service__round_routes_and_dashboard__read_the_index_and_see_a_round_just_opened(world, tmp_path):
    import requests
    import sqlalchemy as sa
    from helpers.service_process import running_service

    from nmrstake.storage.database import DEFAULT_FILE

    w, _ = world
    with running_service(w.deployments, w.layout.root, tmp_path / "serve.log") as svc:
        listed = requests.get(f"{svc.url}/v1/rounds", timeout=30).json()
        assert listed == [r.to_json() for r in w.client.rounds()]
        open_funded_round(w, 20, fund=0)  # read at once: the route indexes the new block first
        one = requests.get(f"{svc.url}/v1/rounds/20", timeout=30).json()
        assert {k: v for k, v in one.items() if k != "published"} == w.client.round(20).to_json()
        assert [r["round"] for r in requests.get(f"{svc.url}/v1/rounds", timeout=30).json()][-1] == 20
        assert 'href="/rounds/20"' in requests.get(f"{svc.url}/", timeout=30).text  # the dashboard's list
        missing = requests.get(f"{svc.url}/v1/rounds/21", timeout=30)
        assert missing.status_code == 404 and "unknown-round" in missing.text
    engine = sa.create_engine(f"sqlite:///{w.layout.service_dir / DEFAULT_FILE}")
    assert 20 in queries.round_ids(engine, indexer(world, engine).stream)  # in the service's own database


def test_index__positions_and_round_events__read_as_the_chain_readers_read_them(world, tmp_path):
    from nmrstake.models import model_label

    w, _ = world
    client = w.client
    engine = sqlite_engine(tmp_path)
    ix = indexer(world, engine)
    ix.sync()
    for who in w.stakers:
        [position] = queries.positions(engine, ix.stream, staker=str(who.address))
        # The amount the contract holds, and the commitment as the client reads it: the key's last
        # event (the contract stores its first 20 bytes, and nothing once the stake is claimed).
        held = client.stake(ROUND, position.model_id, who.address)
        assert (position.round_id, position.staker) == (ROUND, str(who.address))
        assert (position.left, position.commitment) == (held.amount, held.commitment)
        assert client.stored_stake(ROUND, position.model_id, who.address).commitment_prefix == (
            position.commitment[:20] if held.amount else bytes(20))
        by_model = queries.positions(engine, ix.stream, model_id=position.model_id)
        assert [(p.model, p.staker) for p in by_model] == [(model_label(position.model_id), str(who.address))]
    assert [p.left for p in queries.positions(engine, ix.stream, staker=str(w.stakers[0].address))] == [0]  # claimed
    names = ("RoundOpened", "Funded", "ResultPosted", "Claimed")
    indexed = queries.round_events(engine, ix.stream, ROUND, names)
    chain = sorted((int(log.block_number), int(log.log_index), name) for name in names
                   for log in client.logs(name, {"roundId": ROUND}))
    assert [(e.block_number, e.log_index, e.event) for e in indexed] == chain
    assert queries.round_events(engine, ix.stream, ROUND, names, contract="0x" + "00" * 20) == []
