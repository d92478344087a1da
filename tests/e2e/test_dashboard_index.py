"""The dashboard on the event index (issue 21, line 4): a real `nmrstake serve` process on a real
Anvil reads the rounds, a round's transactions and a model's or a staker's stakes from the index in
its database, and its pages read exactly as the same app reading the chain (the service as it is on
ape's embedded EVM, where it keeps no index: here an app in this process with no index, on the same
Anvil, through ape's log scans and `getStake` calls).

The world (one for the module):
- round 41: three stakers on model_00..model_02 (staker 2's file never delivered: invalid), the
  result resolved and posted by the oracle (`nmrstake oracle run --once`, a process), final;
  staker 0 has claimed its stake;
- round 42: open for a month, staker 1 staked on model_01 with its file delivered.

Nothing is skipped; a test that cannot start what it needs fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient
from helpers.scenario import (
    HOUR,
    WEI,
    World,
    advance_to,
    advance_to_final,
    deliver_targets,
    make_world,
    open_funded_round,
    oracle_once,
    stake_all,
    synth_round,
)
from helpers.service_process import chain_reading_app, running_service

from nmrstake.hashing import keccak_file, to_hex
from nmrstake.localchain import anvil_provider
from nmrstake.models import model_id
from nmrstake.participant import LocalDelivery, deliver, stake_predictions
from nmrstake.service.dashboard import ROUND_EVENTS

pytestmark = pytest.mark.nodes  # real Anvil, a real service process, the oracle as a process

R_DONE, R_OPEN = 41, 42
OPEN_MODEL = "model_01"


@dataclass
class Served:
    """The world, the served process's URL, the same app in this process reading the chain (no
    index), and round 42's second predictions file (not delivered yet)."""

    world: World
    url: str
    chain_app: TestClient
    spare: Path

    def served(self, path: str) -> requests.Response:
        resp = requests.get(self.url + path, timeout=60)
        assert resp.status_code == 200, (path, resp.status_code, resp.text[:500])
        return resp

    def on_chain(self, path: str) -> Any:
        resp = self.chain_app.get(path)
        assert resp.status_code == 200, (path, resp.status_code, resp.text[:500])
        return resp


@pytest.fixture(scope="module")
def served(project, tmp_path_factory) -> Iterator[Served]:
    from nmrstake.client.results import LocalResults
    from nmrstake.participant import claim_all

    tmp = tmp_path_factory.mktemp("dashboard-index")
    with anvil_provider():
        w = make_world(project, tmp, n_stakers=3)
        open_funded_round(w, R_DONE)
        inputs = synth_round(tmp, R_DONE, models=3)
        stake_all(w, R_DONE, inputs, undelivered=(2,))
        advance_to(w.client.round(R_DONE).resolve_time)
        deliver_targets(w, R_DONE, inputs)
        oracle_once(w)
        advance_to_final(w.client.round(R_DONE))
        claim_all(w.client, w.stakers[0], LocalResults(w.layout), [R_DONE])
        open_funded_round(w, R_OPEN, close_after=30 * 24 * HOUR)
        files = synth_round(tmp, R_OPEN, models=3, seed=R_OPEN) / "predictions"
        stake_predictions(w.client, w.stakers[1], LocalDelivery(w.client, w.layout), R_OPEN, OPEN_MODEL, 3 * WEI,
                          files / "model_01.csv")
        with running_service(w.deployments, w.layout.root, tmp / "service.log") as service:
            yield Served(w, service.url, chain_reading_app(w.client, w.layout), files / "model_02.csv")
        assert "Traceback" not in service.log_text(), service.log_text()


def pages(s: Served) -> list[str]:
    stakers = [str(a.address) for a in s.world.stakers]
    return ["/", "/standings", f"/rounds/{R_DONE}", f"/rounds/{R_OPEN}", "/models/model_00", f"/models/{OPEN_MODEL}",
            "/models/model_02", *(f"/stakers/{who}" for who in stakers)]


def tx_hex(value: Any) -> str:
    return to_hex(bytes(value)) if isinstance(value, (bytes, bytearray)) else str(value).lower()


def history_entry(s: Served, staker: str, round_id: int) -> dict[str, Any]:
    [entry] = [e for e in s.served(f"/v1/stakers/{staker}").json()["stakes"] if e["round"] == round_id]
    return entry


def test_pages_on_the_index__read_exactly_as_the_pages_reading_the_chain(served):
    for path in pages(served):
        assert served.served(path).text == served.on_chain(path).text, path


def test_json_on_the_index__transactions_and_histories_equal_the_chain_readers(served):
    w = served.world
    for path in (f"/v1/rounds/{R_DONE}/transactions", f"/v1/rounds/{R_OPEN}/transactions",
                 f"/v1/rounds/{R_DONE}/verification", "/v1/standings", "/v1/models/model_00", f"/v1/models/{OPEN_MODEL}",
                 *(f"/v1/stakers/{a.address}" for a in w.stakers)):
        assert served.served(path).json() == served.on_chain(path).json(), path
    # ... and what they say is the chain's: the round's own events, the claim, the upload.
    events = served.served(f"/v1/rounds/{R_DONE}/transactions").json()["transactions"]
    chain_logs = sorted((int(log.block_number), int(log.log_index), name, tx_hex(log.transaction_hash))
                        for name in ROUND_EVENTS for log in w.client.logs(name, {"roundId": R_DONE}))
    assert {e[2] for e in chain_logs} >= {"RoundOpened", "Funded", "ResultPosted"}
    assert [(t["block"], t["log_index"], t["event"], t["transaction_hash"]) for t in events] == chain_logs
    claimed = history_entry(served, str(w.stakers[0].address), R_DONE)
    assert claimed["claim"] == "claimed" and claimed["claimable"] == "0"
    assert w.client.tournament.getStake(R_DONE, model_id("model_00"), w.stakers[0].address)[0] == 0
    unclaimed = history_entry(served, str(w.stakers[1].address), R_DONE)
    assert unclaimed["claim"] == "claimable" and int(unclaimed["claimable"]) > 0
    assert history_entry(served, str(w.stakers[2].address), R_DONE)["valid"] is False
    pending = history_entry(served, str(w.stakers[1].address), R_OPEN)
    assert (pending["claim"], pending["upload"], pending["stake"]) == ("pending", "matches", str(3 * WEI))


def test_a_stake_whose_commitment_changes__shows_the_new_commitment_in_the_histories(served):
    import sqlalchemy as sa

    from nmrstake.index import queries
    from nmrstake.index.indexer import stream_key
    from nmrstake.storage.database import DEFAULT_FILE

    w = served.world
    who = w.stakers[1]
    first = history_entry(served, str(who.address), R_OPEN)
    assert first["upload"] == "matches"
    new_commitment = keccak_file(served.spare)
    # The stake's commitment moves to a file the service has not received: no upload matches it.
    w.client.tournament.stake(R_OPEN, model_id(OPEN_MODEL), 0, new_commitment, sender=who)
    changed = history_entry(served, str(who.address), R_OPEN)
    assert (changed["upload"], changed["uploaded_at"], changed["stake"]) == ("differs", None, str(3 * WEI))
    for path in (f"/v1/stakers/{who.address}", f"/v1/models/{OPEN_MODEL}"):
        assert served.served(path).json() == served.on_chain(path).json(), path
    # The new file arrives: the upload matches the stake's new commitment.
    deliver(LocalDelivery(w.client, w.layout), w.client.domain, who, R_OPEN, OPEN_MODEL, served.spare, new_commitment,
            staker=str(who.address))
    delivered = history_entry(served, str(who.address), R_OPEN)
    [received] = [u.received_at for u in w.layout.store().uploads(R_OPEN, OPEN_MODEL, str(who.address))
                  if u.file_hash == new_commitment]
    assert (delivered["upload"], delivered["uploaded_at"]) == ("matches", received)
    for path in (f"/stakers/{who.address}", f"/models/{OPEN_MODEL}", f"/v1/stakers/{who.address}"):
        assert served.served(path).text == served.on_chain(path).text, path
    # Read from the service's own index: the CommitmentChanged event is there.
    engine = sa.create_engine(f"sqlite:///{w.layout.service_dir / DEFAULT_FILE}")
    [position] = queries.positions(engine, stream_key(w.client.deployment.chain_id, w.client.tournament.address),
                                   model_id=model_id(OPEN_MODEL), staker=str(who.address))[-1:]
    assert (position.round_id, position.commitment, position.amount) == (R_OPEN, new_commitment, 3 * WEI)
