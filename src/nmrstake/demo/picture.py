"""out/demo/payouts.png: one panel per round, each stake's result (payout − burn, % of its stake)
against its score, marker area ∝ stake, the notable models labelled, invalid stakes marked apart,
and the ± clip lines (the most a stake can gain or lose in a round) explained.

matplotlib is an optional extra (`pip install '.[picture]'`; `make install` installs it): without
it :func:`plot` returns None and the demo says how to get the picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SKIPPED = "picture skipped: matplotlib is not installed (pip install '.[picture]', or make install)"
#: models labelled per panel: the best and the worst result, and the largest stake


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def plot(layout: Any, round_ids: list[int], path: Path, strategies: set[str] | None = None) -> Path | None:
    """Draw the picture; None (nothing written) when matplotlib is missing. `strategies`: the
    addresses of allocation strategies, drawn as squares."""
    if not available():
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from nmrstake.results.read import load_published

    strategies = {s.lower() for s in (strategies or set())}
    fig, axes = plt.subplots(1, len(round_ids), figsize=(5.2 * len(round_ids), 4.8), sharey=True, squeeze=False)
    largest = max((r.stake for rid in round_ids for r in load_published(layout.published(rid)).rows), default=1)
    clip = 0.0
    for ax, rid in zip(axes[0], round_ids):
        pub = load_published(layout.published(rid))
        clip = pub.params.clip_bps / 100
        scored = [r for r in pub.rows if r.valid and r.score is not None]
        invalid = [r for r in pub.rows if not (r.valid and r.score is not None)]
        scores = [float(r.score) for r in scored if r.score is not None] or [0.0]
        left = min(scores) - 0.15 * (max(scores) - min(scores) or 1.0)
        for group, marker in ((False, "o"), (True, "s")):
            rows = [r for r in scored if (r.staker.lower() in strategies) is group]
            if not rows:
                continue
            ys = [_net_pct(r) for r in rows]
            ax.scatter([r.score for r in rows], ys, s=[_area(r.stake, largest) for r in rows], marker=marker,
                       c=["tab:green" if y >= 0 else "tab:red" for y in ys], alpha=0.7, edgecolors="black",
                       linewidths=0.5, zorder=3)
        if invalid:
            ax.scatter([left] * len(invalid), [_net_pct(r) for r in invalid], s=[_area(r.stake, largest) for r in invalid],
                       marker="X", c="tab:purple", edgecolors="black", linewidths=0.5, zorder=3)
        for r in _notable(scored):
            y = _net_pct(r)  # labels go towards the middle, away from the clip lines where points pile up
            ax.annotate(f"{r.model} ({r.stake / 10**18:,.0f} NMR)", (r.score, y), xytext=(-10, -14 if y > 0 else 9),
                        textcoords="offset points", fontsize=7, ha="right" if r.score > 0 else "left",
                        arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "grey"})
        for r in invalid:
            ax.annotate(r.model, (left, _net_pct(r)), xytext=(6, -10), textcoords="offset points", fontsize=7,
                        color="tab:purple")
        ax.axhline(clip, ls="--", c="grey", lw=0.8)
        ax.axhline(-clip, ls="--", c="grey", lw=0.8)
        ax.axhline(0, c="black", lw=0.5)
        ax.set_title(f"round {rid}: {len(pub.rows)} stakes, {len(invalid)} invalid", fontsize=10)
        ax.set_xlabel("score = corr multiplier × CORR + mmc multiplier × MMC", fontsize=8)
    axes[0][0].set_ylabel("payout − burn, % of stake")
    handles = [
        Line2D([], [], ls="none", marker="o", mfc="tab:green", mec="black", label="stake gained (area ∝ stake)"),
        Line2D([], [], ls="none", marker="o", mfc="tab:red", mec="black", label="stake lost (burned)"),
        Line2D([], [], ls="--", c="grey", label=f"± clip ({clip:g} %): the most a stake can gain or lose in a round"),
        Line2D([], [], ls="none", marker="X", mfc="tab:purple", mec="black",
               label="invalid: predictions never delivered (no score; drawn at the left)"),
    ]
    if strategies:
        handles.insert(2, Line2D([], [], ls="none", marker="s", mfc="white", mec="black",
                                 label="staked by an allocation strategy"))
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _net_pct(row: Any) -> float:
    return (row.payout - row.burn) / row.stake * 100 if row.stake else 0.0


def _area(stake: int, largest: int) -> float:
    return 20 + 280 * stake / largest


def _notable(rows: list[Any]) -> list[Any]:
    """The best and the worst result (the largest stake among equals) and the largest stake, each once."""
    if not rows:
        return []
    by_net = sorted(rows, key=lambda r: (_net_pct(r), r.stake))
    worst = min(rows, key=lambda r: (_net_pct(r), -r.stake))
    picked = [by_net[-1], worst, max(rows, key=lambda r: r.stake)]
    seen: dict[tuple[str, str], Any] = {}
    for r in picked:
        seen.setdefault((r.model, r.staker), r)
    return list(seen.values())
