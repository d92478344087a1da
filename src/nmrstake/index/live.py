"""The index as the tournament service reads it (issue 21): :class:`LiveIndex` keeps an
:class:`~nmrstake.index.indexer.Indexer` running in a background thread and answers the round
routes (``GET /v1/rounds``, ``GET /v1/rounds/{id}``) and the dashboard (its rounds, a round's
transactions, the committee's attestations and the disputes of a round, a model's or a staker's
stakes across rounds) from the database.

Read-your-writes: before it answers, :meth:`LiveIndex.fresh` asks the node for its block number
(one ``eth_blockNumber``, not a log scan) and, when blocks have arrived since the index last
stepped, indexes them first, so that a client that has just opened or staked in a round sees it
whatever the thread's pace. A reorganisation at an unchanged height is found by the thread, within
its period (two seconds by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nmrstake.index import queries
from nmrstake.index.indexer import Indexer, IndexThread
from nmrstake.jsontypes import json_hex_int

if TYPE_CHECKING:
    from collections.abc import Iterable

    import sqlalchemy as sa

    from nmrstake.index.queries import IndexedLog, IndexedPosition, IndexedStake
    from nmrstake.tournament import RoundInfo, TournamentClient


@dataclass
class LiveIndex:
    """A deployment's index for the service: the indexer, the deployment's periods (a round's
    state needs them) and the background thread (:meth:`start`, :meth:`stop`)."""

    indexer: Indexer
    challenge_period: int
    grace_period: int
    every: float = 2.0
    _thread: IndexThread | None = field(default=None, repr=False)

    @classmethod
    def for_client(cls, engine: sa.Engine, client: TournamentClient, *, every: float = 2.0) -> LiveIndex | None:
        """The index of `client`'s deployment on `engine`, a database the service's migrations made
        (its tables are revisions 0002 and 0003: no second source of the schema), when the client
        reaches its node by URL (:class:`nmrstake.chain.node.RpcNode`); None on a chain without one
        (ape's embedded EVM), where the service reads the chain as before."""
        from nmrstake.chain.node import RpcNode

        node = client.node
        if not isinstance(node, RpcNode):
            return None
        return cls(Indexer.for_deployment(engine, node, client.deployment), client.challenge_period,
                   client.grace_period, every)

    def start(self) -> LiveIndex:
        if self._thread is None:
            self._thread = IndexThread(self.indexer, self.every).start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.stop()
            self._thread = None

    def fresh(self) -> None:
        """Index the blocks that arrived since the index's cursor, if any (see the module)."""
        head = json_hex_int(self.indexer.node.request("eth_blockNumber"))
        found = queries.status(self.indexer.engine, self.indexer.stream)
        if found is None or found.cursor < head:
            self.indexer.sync(max_steps=100)

    def rounds(self) -> list[RoundInfo]:
        """Every round, as ``TournamentClient.rounds`` reads it from the chain (see
        :func:`nmrstake.index.queries.round_infos`)."""
        self.fresh()
        return queries.round_infos(self.indexer.engine, self.indexer.stream, challenge_period=self.challenge_period,
                                   grace_period=self.grace_period)

    def round(self, round_id: int) -> RoundInfo:
        """Round `round_id`; UnknownRoundError if it was never opened."""
        self.fresh()
        return queries.round_info(self.indexer.engine, self.indexer.stream, round_id,
                                  challenge_period=self.challenge_period, grace_period=self.grace_period)

    def address(self, name: str) -> str | None:
        """The address of the followed contract `name` ("Tournament", whatever variant the
        deployment runs, or "DisputeDesk", "StrategyFactory"); None if the deployment has none."""
        if name == "Tournament":  # always followed, first (Indexer.for_deployment), under its variant's name
            return self.indexer.contracts[0].address
        return next((c.address for c in self.indexer.contracts if c.name == name), None)

    def round_events(self, round_id: int, names: Iterable[str], *, contract: str = "Tournament") -> list[IndexedLog]:
        """The round's events named `names` emitted by the followed contract `contract`, in chain
        order ([] when the deployment has no such contract)."""
        address = self.address(contract)
        if address is None:
            return []
        self.fresh()
        return queries.round_events(self.indexer.engine, self.indexer.stream, round_id, names, contract=address)

    def stakes(self, round_id: int) -> list[IndexedStake]:
        """The round's stakes as they stood at close (:func:`queries.stakes`), after one :meth:`fresh`."""
        self.fresh()
        return queries.stakes(self.indexer.engine, self.indexer.stream, round_id)

    def history(self, *, model_id: bytes | None = None,
                staker: str | None = None) -> tuple[list[IndexedPosition], dict[int, RoundInfo]]:
        """Every stake of `model_id` or of `staker` across rounds (:func:`queries.positions`) and
        each of their rounds, after one :meth:`fresh`: a history page's reads, none of the chain."""
        self.fresh()
        found = queries.positions(self.indexer.engine, self.indexer.stream, model_id=model_id, staker=staker)
        infos = queries.round_infos(self.indexer.engine, self.indexer.stream, challenge_period=self.challenge_period,
                                    grace_period=self.grace_period, round_ids={p.round_id for p in found}) if found else []
        return found, {info.round_id: info for info in infos}


__all__ = ["LiveIndex"]
