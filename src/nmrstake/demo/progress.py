"""Progress on stderr from the first second, and the wall time of each phase (the benchmark
reads them from the summary)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

T = TypeVar("T")


class Progress:
    """Lines ``[ 12.3s] what`` on stderr, and progress bars for the long phases. Phases with the
    same name add up (e.g. `staking` over every round)."""

    def __init__(self, started: float | None = None) -> None:
        self.started = time.monotonic() if started is None else started
        self.phases: dict[str, float] = {}

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def line(self, message: str) -> None:
        click.echo(f"[{self.elapsed():5.1f}s] {message}", err=True)

    @contextmanager
    def phase(self, name: str, message: str) -> Iterator[None]:
        self.line(message)
        start = time.monotonic()
        try:
            yield
        finally:
            self.phases[name] = round(self.phases.get(name, 0.0) + time.monotonic() - start, 3)

    @contextmanager
    def bar(self, items: Iterable[T], label: str) -> Iterator[Iterator[T]]:
        """A progress bar on stderr (on a terminal; one line otherwise)."""
        with click.progressbar(list(items), label=f"[{self.elapsed():5.1f}s] {label}", show_pos=True,
                               file=sys.stderr) as bar:
            yield iter(bar)

    @contextmanager
    def counter(self, length: int, label: str) -> Iterator[Any]:
        """A progress bar of `length` steps; yields a function to call after each step."""
        bar: Any
        with click.progressbar(length=length, label=f"[{self.elapsed():5.1f}s] {label}", show_pos=True,
                               file=sys.stderr) as bar:
            yield lambda: bar.update(1)

    def to_json(self) -> dict[str, Any]:
        return {"phases": dict(self.phases), "to_summary": round(self.elapsed(), 3)}
