"""What one app of the tournament service serves: `ServiceContext`, one deployment's chain client,
data layout, intake and faucet, with the lock its chain reads share and its cache of published
rounds.

It lives apart from the app (`nmrstake.service.app`) and its routes (`nmrstake.service.routes`) so
that both can name it: the app puts it on ``app.state.ctx``, and the routes take it from there
through a dependency (`nmrstake.service.routes.deps.Context`), never from a closure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nmrstake.errors import ChainError, InputError, NmrstakeError, RequestError, UnknownRoundError
from nmrstake.intake import FILE_CHECKS_AT_ONCE, Intake, guarded_chain_read

if TYPE_CHECKING:
    from nmrstake.index.live import LiveIndex
    from nmrstake.tournament import RoundInfo


@dataclass
class ServiceContext:
    """What the app serves: one deployment's chain client, data layout and intake."""

    client: Any  # TournamentClient
    layout: Any  # DataLayout
    intake: Intake
    chain_lock: threading.Lock = field(default_factory=threading.Lock)
    faucet: Any = None  # nmrstake.service.faucet.Faucet: POST /v1/faucet (None: off)
    #: The event index the round routes and the dashboard read (nmrstake.index.live); None (a chain
    #: without a node URL: ape's embedded EVM): they read the chain.
    index: LiveIndex | None = None
    #: The webhooks and their outbox (nmrstake.storage.webhooks.WebhookStore); None: alerts off.
    webhooks: Any = None
    #: The alerts' options (nmrstake.service.alerts.AlertSettings); None: the defaults.
    alerts: Any = None
    #: The alerts' events as last read (nmrstake.service.alerts.EventCache), shared by the worker and the feeds.
    alert_events: Any = None
    #: Uploads checked and stored at once, each in a thread, once its whole body is in (the others
    #: wait their turn, their key still held; bodies keep streaming in meanwhile): one per core.
    #: That work is CPU-bound with short waits, and more threads only fight for the GIL: one
    #: replica with 10 uploads in flight spent 21.3 ms of CPU per upload in 40 threads, 18.2 in 2.
    upload_work: int = FILE_CHECKS_AT_ONCE
    _upload_slots: Any = None  # anyio.CapacityLimiter, made in the event loop at the first upload
    _published: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    _published_lock: threading.Lock = field(default_factory=threading.Lock)

    def upload_slots(self) -> Any:
        """The limiter of :attr:`upload_work` (called from the event loop, which is one thread)."""
        if self._upload_slots is None:
            import anyio

            self._upload_slots = anyio.CapacityLimiter(self.upload_work)
        return self._upload_slots

    def chain(self, fn: Any, *args: Any) -> Any:
        """Run one chain read; ape's provider is shared by the request threads, one at a time."""
        return guarded_chain_read(self.chain_lock, fn, *args)

    def rounds(self) -> list[RoundInfo]:
        """Every round: from the event index where the service has one, else from the chain
        (a `RoundOpened` scan and a `getRound` a round)."""
        if self.index is not None:
            return self.indexed(self.index.rounds)
        return self.chain(self.client.rounds)

    def round(self, round_id: int) -> RoundInfo:
        """One round (UnknownRoundError if never opened): from the event index, or the chain."""
        if self.index is not None:
            return self.indexed(self.index.round, round_id)
        return self.chain(self.client.round, round_id)

    @staticmethod
    def indexed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A read of the event index (`fn`, one of :attr:`index`'s methods): a round never opened
        stays a 404; a database that does not answer is a 503 index-unavailable, a node that does
        not a 503 chain-unavailable, as a chain read's is (the index brings itself up to the node's
        head before answering, so it needs the node too). The database's errors are told apart
        first: as a plain chain read's catch-all would, they would pass for the node's."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return fn(*args, **kwargs)
        except SQLAlchemyError as exc:
            raise RequestError(503, "index-unavailable", f"the event index's database does not answer "
                               f"({type(exc).__name__}); try again shortly") from None
        except UnknownRoundError:
            raise
        except ChainError as exc:
            raise RequestError(503, "chain-unavailable", f"the chain does not answer ({exc.message}); "
                               "try again shortly") from None
        except NmrstakeError:
            raise
        except Exception as exc:  # noqa: BLE001 - requests raises many types for a node that is away
            raise RequestError(503, "chain-unavailable", f"the chain does not answer ({type(exc).__name__}); "
                               "try again shortly") from None

    @cached_property
    def results(self) -> Any:
        """Where the published rounds are read from (:class:`nmrstake.results.stored.PublishedStore`):
        the data folder's results, or the store at the layout's store URL, shared by every replica."""
        return self.layout.published_store()

    def published(self, round_id: int) -> Any:
        """The round's published results (PublishedRound), or a 404 problem before publication;
        InputError if its files are malformed. One reading per identity of the files read
        (``PublishedStore.stamp``: the files' inode and times, or the objects' ETags): read once,
        by one thread, and read again whenever any changes."""
        from nmrstake.results.read import load_published

        stamp = self.results.stamp(round_id)
        if stamp is None:
            raise RequestError(404, "not-published", f"round {round_id}: no results are published yet")
        with self._published_lock:
            cached = self._published.get(round_id)
            if cached is None or cached[0] != stamp:
                try:
                    cached = (stamp, load_published(self.results.folder(round_id)))
                except InputError as exc:  # kept too: a damaged folder is not read again until it changes
                    cached = (stamp, exc.message)
                self._published[round_id] = cached
        if isinstance(cached[1], str):
            raise InputError(cached[1])
        return cached[1]

    def published_file(self, pub: Any, path: str | Path) -> Path | None:
        """A local file of the published round `pub`'s file `path` (relative to its folder, or a
        path in it such as ``pub.inputs``' ones), fetched from the store if it is not here yet;
        None if the round has no such file."""
        try:
            rel = Path(path).relative_to(pub.path).as_posix()
        except ValueError:
            rel = Path(path).as_posix()
        found: Path | None = self.results.file(pub.round_id, rel)
        return found


__all__ = ["ServiceContext"]
