"""How the `nmrstake` commands print: aligned tables, JSON documents, times."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import click


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain aligned table: numbers right-aligned, text left-aligned."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(_numberish(r[i]) for r in cells[1:]) and len(cells) > 1 for i in range(len(headers))]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(r, widths, numeric)).rstrip()

    lines = [fmt(cells[0]), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in cells[1:]]
    return "\n".join(lines)


def _numberish(text: str) -> bool:
    return bool(re.fullmatch(r"-?[\d.,]+(e-?\d+)?%?", text)) or text in ("", "-")


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
