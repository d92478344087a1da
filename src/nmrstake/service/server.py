"""`nmrstake serve`: connect to the chain, open the submission store, run the API under uvicorn."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from nmrstake.service.app import ServiceContext, create_app
from nmrstake.service.intake import DEFAULT_MAX_UPLOAD_BYTES, chain_intake


def service_context(client: Any, layout: Any, *, max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> ServiceContext:
    """The service of one deployment: its store opened for writing (leftovers of a killed
    process cleared), an intake reading the chain under one lock shared with the read API."""
    lock = threading.Lock()
    store = layout.store().open_for_writing(clean=True)
    intake = chain_intake(client, store, max_bytes=max_bytes, lock=lock)
    return ServiceContext(client=client, layout=layout, intake=intake, chain_lock=lock)


def serve(*, network: str, deployments_dir: Path | None, data_dir: Path | None, host: str, port: int,
          max_bytes: int, log: Any = print) -> None:
    """Serve until SIGTERM or SIGINT (uvicorn finishes the requests in flight, then exits)."""
    import uvicorn

    from nmrstake.chain.connect import connect, load_project
    from nmrstake.results.layout import DataLayout, default_data_root
    from nmrstake.tournament import TournamentClient

    project = load_project()
    with connect(network):
        client = TournamentClient.connect(project, deployments_dir)
        layout = DataLayout(data_dir or default_data_root(client.provider.chain_id, client.tournament.address))
        ctx = service_context(client, layout, max_bytes=max_bytes)
        log(f"nmrstake service for tournament {client.tournament.address} on chain {client.provider.chain_id}; "
            f"data in {layout.root}; receipts signed by {ctx.intake.receipt_signer}; "
            f"listening on http://{host}:{port}")
        config = uvicorn.Config(create_app(ctx), host=host, port=port, log_level="warning", access_log=False,
                                timeout_graceful_shutdown=10)
        # uvicorn finishes the requests in flight on SIGTERM/SIGINT, then raises the signal again
        # for the handler it found: make that a clean exit (status 0), as a supervisor expects.
        previous = {s: signal.signal(s, _exit_cleanly) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            uvicorn.Server(config).run()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def _exit_cleanly(signum: int, frame: Any) -> None:
    raise SystemExit(0)
