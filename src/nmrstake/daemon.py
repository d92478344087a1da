"""The loop the oracle and the strategies' operator run in: ticks until SIGTERM or SIGINT (the
current step always finishes), backing off while the RPC is unreachable, and one log line per
event."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from nmrstake.errors import NmrstakeError


@dataclass
class EventLog:
    """One line per event: `time event key=value ...`, or JSON with `json_lines=True`."""

    json_lines: bool = False
    out: Callable[[str], None] = field(default=lambda line: print(line, flush=True))

    def __call__(self, event: str, **fields: Any) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.json_lines:
            self.out(json.dumps({"time": stamp, "event": event, **fields}, default=str, sort_keys=False))
        else:
            rest = " ".join(f"{k}={v}" for k, v in fields.items())
            self.out(f"{stamp} {event} {rest}".rstrip())


def _is_rpc_error(exc: BaseException) -> bool:
    import requests
    from ape.exceptions import ProviderNotConnectedError

    names = {type(e).__name__ for e in _chain_of(exc)}
    return (
        isinstance(exc, (ConnectionError, requests.exceptions.ConnectionError, ProviderNotConnectedError, TimeoutError))
        or bool(names & {"ConnectionError", "NewConnectionError", "MaxRetryError", "ReadTimeout", "ProviderNotConnectedError"})
    )


def _chain_of(exc: BaseException) -> list[BaseException]:
    seen = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


class Daemon(Protocol):
    """What `run_daemon` drives: the oracle, or the strategies' operator."""

    def tick(self, should_stop: Callable[[], bool] = ...) -> list[Any]: ...


def run_daemon(
    make_oracle: Callable[[], Daemon],
    *,
    once: bool = False,
    interval: float = 5.0,
    max_backoff: float = 60.0,
    log: EventLog,
) -> int:
    """Run ticks until SIGTERM/SIGINT (or once). RPC failures back off exponentially; the
    current step always finishes before a stop. Returns an exit status."""
    stop = {"flag": False}

    def request_stop(signum: int, _frame: Any) -> None:
        stop["flag"] = True
        log("stopping", signal=signal.Signals(signum).name, note="finishing the current step")

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    backoff = 1.0
    oracle: Daemon | None = None
    try:
        while not stop["flag"]:
            try:
                if oracle is None:
                    oracle = make_oracle()
                plans = oracle.tick(lambda: stop["flag"])
                for plan in plans:
                    log("round", round=plan.round_id, state=plan.state.label, action=plan.action.value, reason=plan.reason)
                backoff = 1.0
                if once:
                    return 0
            except NmrstakeError as exc:
                if once:
                    log("error", error=str(exc))
                    return exc.exit_code
                log("error", error=str(exc), retry_in=backoff)
                oracle = None
            except Exception as exc:  # noqa: BLE001 - the daemon must not crash-loop on RPC trouble
                if not _is_rpc_error(exc) and not _looks_like_chain_reset(exc):
                    raise
                log("rpc_unavailable", error=f"{type(exc).__name__}: {str(exc)[:200]}", retry_in=backoff)
                if once:
                    return 4
                oracle = None
            _sleep(backoff if oracle is None else interval, lambda: stop["flag"])
            if oracle is None:
                backoff = min(backoff * 2, max_backoff)
        return 0
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        log("stopped")


def _looks_like_chain_reset(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "no code" in text or "contractnotfound" in type(exc).__name__.lower() or "deployment" in text


def _sleep(seconds: float, should_stop: Callable[[], bool]) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not should_stop():
        time.sleep(min(0.2, end - time.monotonic()) if end > time.monotonic() else 0)
