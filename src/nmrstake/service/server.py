"""`nmrstake serve`: connect to the chain, open the submission store, run the API under uvicorn."""

from __future__ import annotations

import signal
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from nmrstake.intake import DEFAULT_LIMITS, DEFAULT_MAX_UPLOAD_BYTES, UploadLimits, chain_intake
from nmrstake.service.app import create_app
from nmrstake.service.context import ServiceContext
from nmrstake.submissions import ORPHAN_GRACE

#: A connection must complete its request's line and headers within this many seconds of opening
#: (or of its previous response): a half-open connection is closed, not kept (docs/service.md).
HEADER_SECONDS = 10.0


#: Seconds between two sweeps of the submission store's orphans (after the one at start).
SWEEP_EVERY = 3600.0


class OrphanSweeper:
    """Deletes the submission store's orphans (files no row refers to, older than `grace`
    seconds: :meth:`~nmrstake.submissions.SubmissionStore.sweep_orphans`): once when started,
    before the service listens, then every `every` seconds in a daemon thread until stopped. A
    sweep that fails is logged and tried again at the next one: orphans cost room, never
    correctness."""

    def __init__(self, store: Any, *, grace: float, every: float = SWEEP_EVERY, log: Any = print) -> None:
        self.store = store
        self.grace = grace
        self.every = every
        self.log = log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> None:
        try:
            report = self.store.sweep_orphans(grace=self.grace)
        except Exception as exc:  # noqa: BLE001 - boto3, the database: logged, retried next time
            self.log(f"orphan sweep of {self.store.blobs.url} failed ({type(exc).__name__}: {exc}); next in "
                     f"{self.every:.0f} s")
            return
        if report.deleted:
            self.log(f"orphan sweep: deleted {len(report.deleted)} unreferenced submission file(s) older than "
                     f"{self.grace:.0f} s from {self.store.blobs.url}")

    def start(self) -> None:
        self.sweep()
        self._thread = threading.Thread(target=self._run, name="nmrstake-orphan-sweep", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sweep()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def service_context(client: Any, layout: Any, *, max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
                    limits: UploadLimits = DEFAULT_LIMITS, alerts: Any = None,
                    max_webhooks: int = 5, retry: Any = None) -> ServiceContext:
    """The service of one deployment: its store opened for writing (leftovers of a killed
    process cleared), an intake reading the chain under one lock shared with the read API, and
    the event index the round routes read, in the store's database (so that every replica on
    that database shares it), when the node is reached by URL (not started: :func:`serve` runs
    its thread)."""
    lock = threading.Lock()
    store = layout.store().open_for_writing(clean=True)
    intake = chain_intake(client, store, max_bytes=max_bytes, lock=lock, limits=limits)
    from nmrstake.service.alerts import AlertSettings
    from nmrstake.storage.webhooks import RetryPolicy, WebhookStore

    index = _index(client, store)
    webhooks = None if index is None else WebhookStore(store.database, max_per_address=max_webhooks,
                                                       policy=retry or RetryPolicy())
    return ServiceContext(client=client, layout=layout, intake=intake, chain_lock=lock, index=index,
                          webhooks=webhooks, alerts=alerts or AlertSettings())


def _index(client: Any, store: Any) -> Any:
    """The service's LiveIndex (nmrstake.index.live) in the store's database (its tables come with
    the database's migrations), or None on a chain without a node URL."""
    from nmrstake.chain.node import RpcNode

    if not isinstance(client.node, RpcNode):
        return None  # ape's embedded EVM: the routes read the chain
    from nmrstake.index.live import LiveIndex

    return LiveIndex.for_client(store.database.engine, client)


def header_deadline_protocol() -> type:
    """uvicorn's h11 protocol, closing a connection whose request line and headers have not all
    arrived HEADER_SECONDS after it opened or after its previous response. uvicorn itself waits
    for them for ever, so a thousand half-open connections would each keep a socket."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderDeadlineProtocol(H11Protocol):
        _deadline: Any = None
        _armed_for: Any = None

        def _arm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._armed_for = self.cycle
            self._deadline = self.loop.call_later(HEADER_SECONDS, self._expire)

        def _expire(self) -> None:
            self._deadline = None
            if self.cycle is self._armed_for and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def handle_events(self) -> None:
            super().handle_events()
            if self._deadline is not None and self.cycle is not self._armed_for:
                self._deadline.cancel()  # a request arrived whole: the body has its own deadline
                self._deadline = None

        def on_response_complete(self) -> None:
            completed = self.cycle
            super().on_response_complete()
            # Re-armed for the next request only if none has started already: uvicorn starts a
            # pipelined request inside super(), and its headers have arrived whole.
            if not self.transport.is_closing() and self.cycle is completed:
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            super().connection_lost(exc)

    return HeaderDeadlineProtocol


def serve(*, network: str, deployments_dir: Path | None, data_dir: Path | None, host: str, port: int,
          store_url: str | None = None,
          max_bytes: int, limits: UploadLimits = DEFAULT_LIMITS, log: Any = print,
          faucet_account: str | None = None, faucet_wallet: str | None = None, faucet: Any = None,
          database_url: str | None = None, receipt_key_file: Path | None = None,
          orphan_grace: float = ORPHAN_GRACE, alerts: Any = None, max_webhooks: int = 5,
          retry: Any = None) -> None:
    """Serve until SIGTERM or SIGINT (uvicorn finishes the requests in flight, then exits).
    `faucet_account` (an ape alias or TEST::N) or `faucet_wallet` (an nmrstake wallet) names the
    account of POST /v1/faucet, with `faucet` its FaucetSettings; without either it is off.
    `store_url` (``s3://bucket/prefix``): the store the oracle pushes published results to, read
    from there (checked before listening); None: the data folder's results.
    `database_url`: the metadata database the replicas share (else SQLite in the data folder);
    `receipt_key_file`: the receipt key they all sign with (else the data folder's own).
    `orphan_grace`: the age in seconds past which a submission file no row refers to is deleted
    (at start, then every :data:`SWEEP_EVERY` seconds).
    `alerts` (nmrstake.service.alerts.AlertSettings), `max_webhooks` and `retry`
    (nmrstake.storage.webhooks.RetryPolicy): the webhooks' options; the alerts' worker runs where
    the service keeps an event index."""
    import uvicorn

    from nmrstake.chain.connect import connect, load_project
    from nmrstake.results.layout import DataLayout, default_data_root
    from nmrstake.tournament import TournamentClient

    _raise_open_files_limit()
    project = load_project()
    with connect(network):
        client = TournamentClient.connect(project, deployments_dir)
        layout = DataLayout(data_dir or default_data_root(client.provider.chain_id, client.tournament.address),
                            store_url=store_url or None)
        if database_url:
            layout = replace(layout, database_url=database_url)
        if receipt_key_file:
            layout = replace(layout, receipt_key_file=receipt_key_file)
        ctx = service_context(client, layout, max_bytes=max_bytes, limits=limits, alerts=alerts,
                              max_webhooks=max_webhooks, retry=retry)
        if ctx.results.blobs is not None:
            ctx.results.blobs.check()
        ctx.faucet = _faucet(client, ctx.intake.store.database, ctx.chain_lock, faucet_account, faucet_wallet,
                             faucet, log)
        log(f"nmrstake service for tournament {client.tournament.address} on chain {client.provider.chain_id}; "
            f"data in {layout.root}; database {ctx.intake.store.database.url}; results from {ctx.results.where()}; "
            f"receipts signed by {ctx.intake.receipt_signer}; "
            f"listening on http://{host}:{port}")
        config = uvicorn.Config(create_app(ctx), host=host, port=port, log_level="warning", access_log=False,
                                timeout_graceful_shutdown=10, http=header_deadline_protocol())
        # uvicorn finishes the requests in flight on SIGTERM/SIGINT, then raises the signal again
        # for the handler it found: make that a clean exit (status 0), as a supervisor expects.
        sweeper = OrphanSweeper(ctx.intake.store, grace=orphan_grace, log=log)
        sweeper.start()  # the first sweep before listening
        previous = {s: signal.signal(s, _exit_cleanly) for s in (signal.SIGTERM, signal.SIGINT)}
        worker = None
        if ctx.index is not None:
            ctx.index.start()
            from nmrstake.service.alerts import AlertWorker

            worker = AlertWorker(ctx, ctx.webhooks, ctx.alerts, account=ctx.intake.store.receipt_account(),
                                 signer=ctx.intake.receipt_signer).start()
        try:
            uvicorn.Server(config).run()
        finally:
            if worker is not None:
                worker.stop()
            sweeper.stop()
            if ctx.index is not None:
                ctx.index.stop()
            for s, handler in previous.items():
                signal.signal(s, handler)


def _faucet(client: Any, database: Any, lock: threading.Lock, alias: str | None, wallet: str | None,
            settings: Any, log: Any) -> Any:
    """The service's faucet (nmrstake.service.faucet.Faucet), on or off, and a line saying which."""
    from nmrstake.errors import InputError
    from nmrstake.service.faucet import Faucet, FaucetSettings

    if alias and wallet:
        raise InputError("give --faucet-account or --faucet-wallet, not both")
    account = None
    if alias or wallet:
        from nmrstake.chain.signers import resolve_account

        account = resolve_account(client.provider, wallet, alias)
    faucet = Faucet.open(client, account, database, lock=lock, settings=settings or FaucetSettings())
    if faucet.off is None and account is not None:
        s = faucet.settings
        log(f"faucet on: {s.nmr} NMR wei and {s.ether} ether wei from {account.address} per address every "
            f"{s.period} s, at most {s.per_hour} an hour")
    elif account is not None:
        log(f"faucet off: {faucet.off}")
    return faucet


def _raise_open_files_limit() -> None:
    """Every connection holds a file descriptor until its deadline closes it: take the hard limit
    of open files as the soft one (1,024 is a common soft limit; a burst of half-open connections
    would otherwise leave none to accept honest ones with)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else max(soft, 65536), hard))
        except (ValueError, OSError):
            pass  # kept as it is: the deadlines still close what is half open


def _exit_cleanly(signum: int, frame: Any) -> None:
    raise SystemExit(0)
