"""Following a deployment's contracts into the event index (:mod:`nmrstake.index.tables`).

An :class:`Indexer` reads the logs of the contracts it follows (the tournament, and the dispute
desk and strategy factory where the deployment has them) from their deployment block to the chain's
head, through ``eth_getLogs`` over bounded block ranges on the light node
(:class:`nmrstake.chain.node.RpcNode`: JSON-RPC, no ape, no web3.py), decodes them with the
packaged ABIs (:func:`nmrstake.chain.node.decode_log_args`) and writes them to the database.

**Reorganisations.** The index keeps the hashes of the last ``keep_blocks`` blocks it indexed.
Each :meth:`Indexer.step` first compares the hash stored for its cursor (the last block indexed)
with the chain's block at that number. On a mismatch it walks back through the stored hashes to
the highest block the chain still has (:func:`common_ancestor`), deletes every event and hash
above it and moves the cursor there; the next steps index the new branch. A fork deeper than
``keep_blocks`` is not walked: the index starts again from the deployment block. Within a step,
the blocks read are checked to chain onto the cursor and onto each other (parent hashes) and the
logs to lie in those blocks; a chain that moved meanwhile makes the step write nothing (it is
read again on the next one).

**Confirmations** are not the indexer's business: it indexes up to the head and records the head
it saw; the queries count an event's confirmations from there and leave out those with fewer than
asked (:mod:`nmrstake.index.queries`).

**Several replicas** (issue 21): indexing is idempotent rather than led. Every replica may step;
a step's writes are one transaction that first moves the cursor with a compare-and-set on its
(number, hash) as read before the step, so of two replicas that read the same cursor exactly one
writes, and the other's transaction writes nothing (:attr:`Step.raced`); events are unique on
(stream, block hash, log index) besides. Why not a leader lease: a lease needs a clock and an
expiry to survive its holder's death (a dead leader's replicas serve a stale index until it
expires), where a compare-and-set needs neither, and a replica can bring the index up to the
head itself before it answers (the service does, so that a client reads what it just sent). The
cost is duplicated chain reads when replicas step together, a few ``eth_getLogs`` per step.

**Crashes.** Every write of a step is in one transaction: a step that dies half way leaves the
previous consistent state (cursor, events and hashes agree), and the next step does it again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa

from nmrstake.errors import ChainError, ConfigError
from nmrstake.index.tables import BIGINT_MAX, blocks, cursors, events
from nmrstake.jsontypes import JsonObject, JsonValue, json_hex_int, json_object, json_objects, json_str

if TYPE_CHECKING:
    from nmrstake.chain.node import AbiItem, AbiValue
    from nmrstake.deploy import Deployment

log = logging.getLogger(__name__)

#: Blocks whose hashes are kept: the deepest reorganisation walked back without starting over.
KEEP_BLOCKS = 128
#: Blocks one ``eth_getLogs`` covers at most (nodes cap a query's range or its answer's size).
BATCH_BLOCKS = 2_000
#: The contracts of a deployment the index follows, where the deployment has them.
FOLLOWED = ("Tournament", "DisputeDesk", "StrategyFactory")


class JsonRpc(Protocol):
    """A node spoken to in JSON-RPC (:class:`nmrstake.chain.node.RpcNode`)."""

    where: str

    def request(self, method: str, params: Sequence[JsonValue] = ()) -> JsonValue: ...


@dataclass(frozen=True)
class Followed:
    """A contract the index follows: its packaged ABI's name (:mod:`nmrstake.abi`), its address,
    the block it was deployed in."""

    name: str
    address: str
    block: int


@dataclass(frozen=True)
class Block:
    number: int
    hash: str
    parent_hash: str
    timestamp: int


@dataclass(frozen=True)
class Step:
    """What one :meth:`Indexer.step` did: the cursor and head after it, the logs written, the
    block it rewound to on a reorganisation, and whether another indexer wrote first (`raced`)
    or the chain moved during the step (`moved`): in both cases this one wrote nothing."""

    cursor: int
    head: int
    logs: int = 0
    rewound_to: int | None = None
    raced: bool = False
    moved: bool = False

    @property
    def at_head(self) -> bool:
        return self.cursor >= self.head and not (self.raced or self.moved) and self.rewound_to is None


def stream_key(chain_id: int, tournament: str) -> str:
    """The key of a deployment's rows in the index: ``<chain id>:<tournament address, lower case>``."""
    return f"{int(chain_id)}:{tournament.lower()}"


def common_ancestor(stored: Mapping[int, str], chain_hash: Callable[[int], str | None]) -> int | None:
    """The highest block number whose stored hash is the chain's (`chain_hash(n)`: the chain's
    hash at n, None past its head), walking down from the highest stored; None when no stored
    block is on the chain any more (the fork is deeper than the hashes kept). Kept apart from the
    node so that it can be checked on a model chain."""
    for number in sorted(stored, reverse=True):
        if chain_hash(number) == stored[number]:
            return number
    return None


class _Raced(Exception):
    """Another indexer moved the cursor first: roll this step's transaction back."""


def _json_arg(value: AbiValue) -> JsonValue:
    """A decoded argument as the ``args`` column stores it: integers as decimal strings (uint256
    is beyond JSON's safe integers), bytes as 0x-hex."""
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return [_json_arg(v) for v in value]


def _hex32(value: AbiValue | None) -> str | None:
    return None if not isinstance(value, bytes) else "0x" + value.rjust(32, b"\x00").hex()


def _first(args: Mapping[str, AbiValue], *names: str) -> str | None:
    for name in names:
        if name in args:
            value = args[name]
            return str(int(value)) if isinstance(value, (int, Decimal)) else None
    return None



class Indexer:
    """Follows `contracts` into the index's tables on `engine` under `stream` (see the module).
    `node`: a node's URL or an :class:`nmrstake.chain.node.RpcNode`."""

    def __init__(self, engine: sa.Engine, node: str | JsonRpc, contracts: Sequence[Followed], *, stream: str,
                 keep_blocks: int = KEEP_BLOCKS, batch_blocks: int = BATCH_BLOCKS) -> None:
        from nmrstake import abi
        from nmrstake.chain.node import RpcNode, keccak_bytes, signature

        if not contracts:
            raise ConfigError("the index follows no contract: give it at least the tournament")
        if keep_blocks < 1:
            raise ConfigError(f"keep_blocks: must be at least 1, got {keep_blocks}")
        if batch_blocks < 1:
            raise ConfigError(f"batch_blocks: must be at least 1, got {batch_blocks}")
        self.engine, self.stream = engine, stream
        self.node: JsonRpc = RpcNode(node) if isinstance(node, str) else node
        self.contracts = tuple(contracts)
        self.keep_blocks, self.batch_blocks = keep_blocks, batch_blocks
        self.start = min(c.block for c in self.contracts)
        self._events: dict[tuple[str, str], tuple[str, AbiItem]] = {}
        for contract in self.contracts:
            try:
                items = abi.load(contract.name)
            except KeyError as exc:
                raise ConfigError(f"the index cannot follow {contract.name} at {contract.address}: {exc.args[0]}") from None
            for item in items:
                if item.get("type") == "event" and not item.get("anonymous"):
                    topic = "0x" + keccak_bytes(signature(item).encode()).hex()
                    self._events[(contract.address.lower(), topic)] = (contract.name, item)
        self._lock = threading.Lock()

    @classmethod
    def for_deployment(cls, engine: sa.Engine, node: str | JsonRpc, deployment: Deployment,
                       **options: int) -> Indexer:
        """The indexer of `deployment`'s contracts (:data:`FOLLOWED`, those it has), its tournament
        under its own ABI (the committee variants add their events)."""
        if "Tournament" not in deployment.contracts:
            raise ConfigError("the deployment has no Tournament: nothing to index")
        from nmrstake import abi

        kind = str(deployment.settings.get("tournament_contract") or "Tournament")
        # A kind the package has no ABI of (a test double deployed by `with_tournament`) is read
        # with Tournament's, as TournamentClient reads it: every variant emits Tournament's events.
        kinds = {"Tournament": kind if kind in abi.CONTRACTS else "Tournament"}
        followed = [Followed(kinds.get(name, name), record.address, record.block)
                    for name in FOLLOWED if (record := deployment.contracts.get(name)) is not None]
        return cls(engine, node, followed, stream=stream_key(deployment.chain_id, deployment.address("Tournament")),
                   **options)

    # ------------------------------------------------------------------ the chain

    def _block(self, tag: int | str) -> Block | None:
        found = self.node.request("eth_getBlockByNumber", [hex(tag) if isinstance(tag, int) else tag, False])
        if found is None:
            return None
        raw = json_object(found, f"block {tag}")
        return Block(json_hex_int(raw["number"]), json_str(raw["hash"], "a block's hash").lower(),
                     json_str(raw["parentHash"], "a block's parent hash").lower(), json_hex_int(raw["timestamp"]))

    def _hash(self, number: int) -> str | None:
        found = self._block(number)
        return None if found is None else found.hash

    def _logs(self, first: int, last: int) -> list[JsonObject]:
        query: JsonObject = {"address": [c.address for c in self.contracts], "fromBlock": hex(first),
                             "toBlock": hex(last)}
        found = json_objects(self.node.request("eth_getLogs", [query]), "eth_getLogs")
        found = [entry for entry in found if not entry.get("removed")]
        found.sort(key=lambda e: (json_hex_int(e["blockNumber"]), json_hex_int(e["logIndex"])))
        return found

    def _row(self, entry: JsonObject) -> dict[str, object]:
        from nmrstake.chain.node import decode_log_args
        from nmrstake.hashing import checksum_address

        address = json_str(entry["address"], "a log's address")
        topics = entry.get("topics")
        topic0 = json_str(topics[0], "a log's topic").lower() if isinstance(topics, list) and topics else ""
        known = self._events.get((address.lower(), topic0))
        row: dict[str, object] = {
            "stream": self.stream, "block_number": json_hex_int(entry["blockNumber"]),
            "block_hash": json_str(entry["blockHash"], "a log's block hash").lower(),
            "log_index": json_hex_int(entry["logIndex"]),
            "tx_hash": json_str(entry["transactionHash"], "a log's transaction").lower(),
            "contract": checksum_address(address), "round_id": None, "model_id": None, "staker": None,
            "amount": None, "total": None, "commitment": None,
        }
        args: Mapping[str, AbiValue] | None = None
        if known is not None:
            try:
                args = decode_log_args(known[1], entry)
            except Exception as exc:  # noqa: BLE001 - eth-abi's decoding errors: kept raw, never wedging the index
                log.warning("index: a %s log at block %s does not decode (%s): kept raw", known[1].get("name"),
                            row["block_number"], exc)
        if known is None or args is None:
            return {**row, "contract_name": known[0] if known else "?", "event": "?",
                    "args": {"topics": topics, "data": entry.get("data")}}
        round_id = args.get("roundId")
        staker = args.get("staker")
        return {**row, "contract_name": known[0], "event": str(known[1]["name"]),
                "args": {name: _json_arg(value) for name, value in args.items()},
                "round_id": int(round_id) if isinstance(round_id, int) and round_id <= BIGINT_MAX else None,
                "model_id": _hex32(args.get("modelId")), "staker": staker if isinstance(staker, str) else None,
                "amount": _first(args, "amountSent", "amountOut", "amount"),
                "total": _first(args, "newTotal", "newFunded"),
                "commitment": _hex32(args.get("commitment", args.get("newCommitment")))}

    # ------------------------------------------------------------------ the cursor

    def _cursor(self) -> tuple[int, str, int]:
        """(number, hash, head) of the stream's cursor, made at the block before the first
        followed contract's when there is none yet (by whichever indexer comes first)."""
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(cursors.c.block_number, cursors.c.block_hash, cursors.c.head)
                                 .where(cursors.c.stream == self.stream)).first()
        if found is not None:
            return int(found[0]), str(found[1]), int(found[2])
        number = self.start - 1
        before = self._block(number) if number >= 0 else None
        if number >= 0 and before is None:
            raise ChainError(f"the node at {self.node.where} has no block {number}: the deployment's contracts "
                             f"(from block {self.start}) are not on this chain")
        start_hash = before.hash if before else ""
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(cursors).values(stream=self.stream, block_number=number, block_hash=start_hash,
                                                       head=number, head_time=before.timestamp if before else 0))
                if before is not None:
                    conn.execute(sa.insert(blocks).values(stream=self.stream, number=number, hash=start_hash))
        except sa.exc.IntegrityError:  # another indexer made it first
            return self._cursor()
        return number, start_hash, number

    def _move(self, conn: sa.Connection, cursor: tuple[int, str, int], to: Block | tuple[int, str],
              head: Block) -> None:
        """Compare-and-set the cursor from `cursor` to `to`; _Raced when another indexer moved it."""
        number, hash_ = (to.number, to.hash) if isinstance(to, Block) else to
        moved = conn.execute(sa.update(cursors).where(cursors.c.stream == self.stream,
                                                      cursors.c.block_number == cursor[0],
                                                      cursors.c.block_hash == cursor[1])
                             .values(block_number=number, block_hash=hash_, head=head.number, head_time=head.timestamp))
        if moved.rowcount != 1:
            raise _Raced

    # ------------------------------------------------------------------ stepping

    def step(self) -> Step:
        """One step: undo a reorganisation found at the cursor, or index up to `batch_blocks` more
        blocks towards the head (see the module). Chain errors propagate; the database is as it was."""
        with self._lock:
            cursor = self._cursor()
            head = self._block("latest")
            if head is None:
                raise ChainError(f"the node at {self.node.where} has no latest block")
            if cursor[0] >= 0 and self._hash(cursor[0]) != cursor[1]:
                return self._rewind(cursor, head)
            if cursor[0] >= head.number:
                if cursor[2] != head.number:
                    return self._write(cursor, (cursor[0], cursor[1]), head, [], [])
                return Step(cursor[0], head.number)
            return self._advance(cursor, head)

    def _rewind(self, cursor: tuple[int, str, int], head: Block) -> Step:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(blocks.c.number, blocks.c.hash).where(blocks.c.stream == self.stream)).all()
        stored = {int(row[0]): str(row[1]) for row in rows}
        ancestor = common_ancestor(stored, self._hash)
        if ancestor is None:
            ancestor = self.start - 1
            log.warning("index %s: the chain forked below the %d blocks kept; indexing again from block %d",
                        self.stream, len(stored), self.start)
            found = self._block(ancestor) if ancestor >= 0 else None
            to = (ancestor, found.hash if found else "")
        else:
            to = (ancestor, stored[ancestor])
        log.info("index %s: reorganisation below block %d; dropping what is above block %d", self.stream,
                 cursor[0], ancestor)
        try:
            with self.engine.begin() as conn:
                self._move(conn, cursor, to, head)
                conn.execute(sa.delete(events).where(events.c.stream == self.stream, events.c.block_number > ancestor))
                conn.execute(sa.delete(blocks).where(blocks.c.stream == self.stream, blocks.c.number > ancestor))
                if ancestor not in stored and to[1]:
                    conn.execute(sa.insert(blocks).values(stream=self.stream, number=ancestor, hash=to[1]))
        except _Raced:
            return Step(cursor[0], head.number, raced=True)
        return Step(ancestor, head.number, rewound_to=ancestor)

    def _advance(self, cursor: tuple[int, str, int], head: Block) -> Step:
        first, last = cursor[0] + 1, min(head.number, cursor[0] + self.batch_blocks)
        kept_from = max(first, last - self.keep_blocks + 1)
        window: list[Block] = []
        for number in [*([first] if first < kept_from else []), *range(kept_from, last + 1)]:
            found = self._block(number)
            if found is None:  # the head went back since it was read
                return Step(cursor[0], head.number, moved=True)
            window.append(found)
        # The blocks read chain onto the cursor and onto each other; the logs lie in them.
        if cursor[0] >= 0 and window[0].parent_hash != cursor[1]:
            return Step(cursor[0], head.number, moved=True)
        kept = window[1:] if first < kept_from else window
        if any(b.parent_hash != a.hash for a, b in zip(kept, kept[1:])):
            return Step(cursor[0], head.number, moved=True)
        entries = self._logs(first, last)
        if self._hash(last) != kept[-1].hash:
            return Step(cursor[0], head.number, moved=True)
        hashes = {b.number: b.hash for b in window}
        for entry in entries:
            number = json_hex_int(entry["blockNumber"])
            if number in hashes and str(entry["blockHash"]).lower() != hashes[number]:
                return Step(cursor[0], head.number, moved=True)
        rows = [self._row(entry) for entry in entries]
        return self._write(cursor, kept[-1], max(head, kept[-1], key=lambda b: b.number), rows, kept)

    def _write(self, cursor: tuple[int, str, int], to: Block | tuple[int, str], head: Block,
               rows: list[dict[str, object]], kept: list[Block]) -> Step:
        number = to.number if isinstance(to, Block) else to[0]
        try:
            with self.engine.begin() as conn:
                self._move(conn, cursor, to, head)
                if rows:
                    conn.execute(sa.insert(events), rows)
                if kept:
                    conn.execute(sa.insert(blocks), [{"stream": self.stream, "number": b.number, "hash": b.hash}
                                                     for b in kept])
                    conn.execute(sa.delete(blocks).where(blocks.c.stream == self.stream,
                                                         blocks.c.number <= number - self.keep_blocks))
        except _Raced:
            return Step(cursor[0], head.number, raced=True)
        except sa.exc.IntegrityError:
            # The cursor's compare-and-set held but a row was there already: only a writer that
            # bypassed the cursor could have put it; nothing of this step was written.
            log.warning("index %s: logs above block %d were already stored; step not written", self.stream, cursor[0])
            return Step(cursor[0], head.number, raced=True)
        return Step(number, head.number, logs=len(rows))

    def sync(self, *, max_steps: int = 10_000) -> Step:
        """Step until the index is at the head the chain had when a step began (another indexer
        having got there counts); the last step."""
        step = self.step()
        for _ in range(max_steps):
            if step.at_head:
                return step
            step = self.step()
        return step

    def run(self, stop: threading.Event, every: float = 2.0) -> None:
        """Sync every `every` seconds until `stop` is set (the service's background thread). A
        failing sync (the node gone, the database away) is logged and tried again next time."""
        while not stop.is_set():
            try:
                self.sync(max_steps=100)
            except Exception:  # noqa: BLE001 - a thread that must outlive a node or database outage
                log.exception("index %s: sync failed; trying again in %g s", self.stream, every)
            stop.wait(every)


@dataclass
class IndexThread:
    """An :class:`Indexer` run in a daemon thread (:meth:`Indexer.run`), stopped by :meth:`stop`."""

    indexer: Indexer
    every: float = 2.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> IndexThread:
        self._thread = threading.Thread(target=self.indexer.run, args=(self._stop, self.every),
                                        name=f"index {self.indexer.stream}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


__all__ = ["BATCH_BLOCKS", "FOLLOWED", "KEEP_BLOCKS", "Block", "Followed", "IndexThread", "Indexer", "JsonRpc",
           "Step", "common_ancestor", "stream_key"]
