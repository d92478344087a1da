"""How the `nmrstake` commands print: aligned tables (:mod:`nmrstake.tables`, shared with the
demo's report), JSON documents, times."""

from __future__ import annotations

import json
from typing import Any

import click

from nmrstake.tables import table

__all__ = ["emit_json", "fmt_time", "span", "table"]


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def fmt_time(ts: int, now: int | None = None) -> str:
    """A UTC time; with `now`, also how far from now (`in 1.0h`, `5m ago`)."""
    import datetime as dt

    text = dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    if now is not None:
        delta = ts - now
        sign = "in " if delta >= 0 else ""
        ago = "" if delta >= 0 else " ago"
        text += f" ({sign}{span(abs(delta))}{ago})"
    return text


def span(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds}s"
