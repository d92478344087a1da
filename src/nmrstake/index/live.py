"""The index as the tournament service reads it (issue 21): :class:`LiveIndex` keeps an
:class:`~nmrstake.index.indexer.Indexer` running in a background thread and answers the round
routes (``GET /v1/rounds``, ``GET /v1/rounds/{id}``) and the dashboard (its rounds, a round's
transactions, the committee's attestations and the disputes of a round, a model's or a staker's
stakes across rounds) from the database. The alerts (`nmrstake.service.alerts`) read two things
the index does not keep from its node: the `ModelSet` logs of the strategies the factory made
(:meth:`LiveIndex.strategy_models`), and the time of an indexed event's block
(:meth:`LiveIndex.block_time`).

Read-your-writes: before it answers, :meth:`LiveIndex.fresh` asks the node for its block number
(one ``eth_blockNumber``, not a log scan) and, when blocks have arrived since the index last
stepped, indexes them first, so that a client that has just opened or staked in a round sees it
whatever the thread's pace. A reorganisation at an unchanged height is found by the thread, within
its period (two seconds by default).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nmrstake.index import queries
from nmrstake.index.indexer import BATCH_BLOCKS, KEEP_BLOCKS, Indexer, IndexThread
from nmrstake.jsontypes import json_hex_int, json_object, json_objects

if TYPE_CHECKING:
    from collections.abc import Iterable

    import sqlalchemy as sa

    from nmrstake.index.queries import IndexedLog, IndexedPosition, IndexedStake
    from nmrstake.jsontypes import JsonValue
    from nmrstake.tournament import RoundInfo, TournamentClient


@dataclass(frozen=True)
class _ModelSets:
    """The `ModelSet` logs of a set of strategies read up to block `scanned_to`, each as (block,
    log index, strategy, model id, per round, mode)."""

    strategies: frozenset[str]
    scanned_to: int
    logs: tuple[tuple[int, int, str, bytes, int, int], ...]


@dataclass
class LiveIndex:
    """A deployment's index for the service: the indexer, the deployment's periods (a round's
    state needs them) and the background thread (:meth:`start`, :meth:`stop`)."""

    indexer: Indexer
    challenge_period: int
    grace_period: int
    every: float = 2.0
    _thread: IndexThread | None = field(default=None, repr=False)
    _model_sets: _ModelSets | None = field(default=None, repr=False)
    _block_times: dict[str, int] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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

    def strategy_models(self, strategies: Iterable[str], up_to: int) -> dict[str, dict[bytes, tuple[int, int]]]:
        """The models each of `strategies` (addresses the index's `StrategyCreated` names) was set
        on, with the (per round, mode) of its last `ModelSet` (mode 0: off) up to block `up_to`.

        The index follows the factory, not the strategies it makes: their `ModelSet` logs are read
        from the node (``eth_getLogs`` of those addresses and that topic, in `BATCH_BLOCKS` ranges),
        once; after that only the blocks since, and the last `KEEP_BLOCKS` again (a reorganisation
        the index walks back is walked back here too). A new strategy reads them all again."""
        from nmrstake import abi
        from nmrstake.chain.node import decode_log_args, keccak_bytes, signature
        from nmrstake.hashing import checksum_address

        wanted = frozenset(checksum_address(s) for s in strategies)
        start = next((c.block for c in self.indexer.contracts if c.name == "StrategyFactory"), None)
        if not wanted or start is None:
            return {}
        item = next(i for i in abi.load("AllocationStrategy") if i.get("type") == "event" and i["name"] == "ModelSet")
        topic = "0x" + keccak_bytes(signature(item).encode()).hex()
        with self._lock:
            known = self._model_sets
            first = start if known is None or known.strategies != wanted else max(start, known.scanned_to - KEEP_BLOCKS + 1)
            logs = [entry for entry in (known.logs if known is not None and known.strategies == wanted else ())
                    if entry[0] < first]
            addresses: list[JsonValue] = [*sorted(wanted)]
            topics: list[JsonValue] = [topic]
            for low in range(first, up_to + 1, BATCH_BLOCKS):
                query: dict[str, JsonValue] = {"address": addresses, "topics": topics, "fromBlock": hex(low),
                                               "toBlock": hex(min(up_to, low + BATCH_BLOCKS - 1))}
                for raw in json_objects(self.indexer.node.request("eth_getLogs", [query]), "eth_getLogs"):
                    if raw.get("removed"):
                        continue
                    args = decode_log_args(item, raw)
                    mid = args["modelId"]
                    assert isinstance(mid, bytes)
                    logs.append((json_hex_int(raw["blockNumber"]), json_hex_int(raw["logIndex"]),
                                 checksum_address(str(raw["address"])), mid.rjust(32, b"\0"),
                                 int(str(args["perRound"])), int(str(args["mode"]))))
            logs.sort()
            self._model_sets = _ModelSets(wanted, up_to, tuple(logs))
        found: dict[str, dict[bytes, tuple[int, int]]] = {}
        for _block, _index, strategy, mid, per_round, mode in logs:
            found.setdefault(strategy, {})[mid] = (per_round, mode)
        return found

    def block_time(self, block_hash: str) -> int:
        """The timestamp of the block `block_hash` (an indexed event's), read from the node once."""
        with self._lock:
            known = self._block_times.get(block_hash)
        if known is None:
            block = self.indexer.node.request("eth_getBlockByHash", [block_hash, False])
            known = json_hex_int(json_object(block, f"block {block_hash}")["timestamp"])
            with self._lock:
                if len(self._block_times) >= 10_000:
                    self._block_times.clear()
                self._block_times[block_hash] = known
        return known

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
