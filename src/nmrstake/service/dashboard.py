"""The tournament's web pages (the dashboard), served by `nmrstake serve`, read-only.

Pages are server-rendered HTML (Jinja2 templates in ``templates/``) plus a little vanilla
JavaScript (``static/dashboard.js``) that reads the same JSON API as every other client: the
leaderboard is paginated, sorted and searched by the service (``/v1/rounds/{id}/leaderboard``),
the charts are drawn with uPlot, served from the service's own origin (``/static/vendor/``).
Nothing on a page asks any other origin for anything (the pages carry a Content-Security-Policy
of ``'self'`` only), and no wallet is needed.

Routes (in :mod:`nmrstake.service.routes`: ``pages`` and ``dashboard``):

- pages: ``/`` (rounds), ``/standings`` (every model that ever staked, all rounds), ``/rounds/{id}``,
  ``/models/{name}``, ``/stakers/{address}``; any other path outside ``/v1/`` and ``/static/`` is
  an HTML 404 page (the API's stay JSON problems);
- static files: ``/static/...`` (the package's ``static/`` folder; the chart library's files are
  copied into ``static/vendor/`` by ``make install``, or read from ``node_modules/uplot/dist`` of a
  source checkout when they were not);
- JSON: ``/v1/rounds/{id}/verification``, ``/v1/rounds/{id}/transactions``,
  ``/v1/rounds/{id}/chart``, ``/v1/models/{name}``, ``/v1/stakers/{address}`` (docs/dashboard.md).

Every number comes from the chain (rounds, stakes, claims) or the oracle's published folders
(rows, scores), through the Dashboard below (one per app, ``app.state.dashboard``), which both the
pages and the JSON routes call. Where the service keeps the event index (``ctx.index``: a node
reached by URL), the chain's events are read from it, not from the node's logs: the rounds, a
round's transactions, the committee's attestations and the disputes of a round, and a model's or
a staker's stakes (with their latest commitments and whether they were claimed). On ape's embedded
EVM (no index) they are read from the chain as before.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nmrstake.client.positions import AT_STAKE, AWAITING, CLAIMABLE, CLAIMED, PHASES, PhaseTotal
from nmrstake.errors import ConfigError, InputError, NmrstakeError, RequestError
from nmrstake.hashing import ZERO32, checksum_address, to_hex

if TYPE_CHECKING:
    from nmrstake.index.queries import IndexedLog

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
#: The chart library's files (npm package `uplot`, pinned in package.json), served under /static/vendor/.
VENDOR_FILES = ("uPlot.iife.min.js", "uPlot.min.css")
#: An explorer's base URL for transaction links (``$NMRSTAKE_EXPLORER_URL/tx/<hash>``); none by default.
EXPLORER_ENV = "NMRSTAKE_EXPLORER_URL"
#: The leaderboard's sortable columns (``net`` = payout - burn).
SORT_KEYS = ("leaf_index", "model", "staker", "stake", "valid", "corr", "mmc", "score", "fraction", "payout", "burn",
             "net")
#: Events of a round whose transactions the round page links to.
ROUND_EVENTS = ("RoundOpened", "Funded", "Allocated", "ResultPosted", "ResultRejected", "Settled")
#: The dispute desk's events of a round that the round page shows (a dispute, its end, a ruling).
DISPUTE_EVENTS = ("Disputed", "DisputeSettled", "Ruled")
#: IDisputeDesk.Outcome by value (0, None, is an open dispute).
DISPUTE_OUTCOMES = {1: "upheld", 2: "dismissed", 3: "expired"}
#: Content-Security-Policy of every page: nothing from any other origin.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
WEI = 10**18
#: The pages' templates (in ``templates/``).
PAGE_TEMPLATES = ("rounds.html", "round.html", "history.html", "standings.html", "error.html")
#: How often the service looks for rounds published (or changed) since it last looked, to read
#: them before their first visitor (a few stat calls a round when nothing changed).
WATCH_SECONDS = 2.0
#: Rows per leaderboard page (`/rounds/{id}?rows=N` picks another, 1 to 1000).
PAGE_SIZE = 50


# ------------------------------------------------------------------------------------------ formatting


def nmr_short(wei: int, places: int = 4) -> str:
    """Wei as NMR rounded half away from zero to `places` decimals, trailing zeros trimmed
    (``12345678900000000000 -> "12.3457"``). The pages show this; the exact value is in ``data-wei``
    and in the title. ``static/dashboard.js`` has the same function (``nmrShort``)."""
    value = (Decimal(abs(int(wei))) / WEI).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text == "0" or wei >= 0 else "-" + text


def nmr_fixed(wei: int, places: int = 4) -> str:
    """Wei as NMR rounded half away from zero to exactly `places` decimals (``41.9344``,
    ``78.7340``): what the tables and cards show, so that a column's decimals line up.
    ``static/dashboard.js`` has the same function (``nmrFixed``)."""
    value = (Decimal(abs(int(wei))) / WEI).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = format(value, "f")
    return "-" + text if wei < 0 and value != 0 else text


def nmr_exact(wei: int) -> str:
    from nmrstake.amounts import format_nmr

    return format_nmr(int(wei))


def float_text(value: float | None, places: int = 4) -> str:
    return "" if value is None else f"{value:.{places}f}"


def duration_text(seconds: int) -> str:
    """A span of chain time as a reader counts it: "in 2 d 3 h", "in 5 min", "3 h 10 min ago"
    (the two largest units; "now" within a second)."""
    left = abs(int(seconds))
    if left == 0:
        return "now"
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        if left >= size or (parts and len(parts) < 2):
            parts.append(f"{left // size} {unit}")
            left %= size
        if len(parts) == 2:
            break
    text = " ".join(p for p in parts if not p.startswith("0 ")) or parts[0]
    return f"in {text}" if seconds > 0 else f"{text} ago"


def vendor_dir() -> Path | None:
    """Where the chart library's files are: the package's ``static/vendor/`` (``make install``
    copies them there, so an installed package serves them), else ``node_modules/uplot/dist`` of
    the source checkout this package runs from."""
    for folder in (STATIC / "vendor", HERE.parents[2] / "node_modules" / "uplot" / "dist"):
        if all((folder / name).is_file() for name in VENDOR_FILES):
            return folder
    return None


# ------------------------------------------------------------------------------------------ state


@dataclass
class _BoardIndex:
    """A published round's rows, indexed for the leaderboard and the histories."""

    pub: Any
    order: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    haystack: list[str] = field(default_factory=list)
    by_key: dict[tuple[str, str], Any] = field(default_factory=dict)
    # (model, staker) -> its rank by score in the round, best first, ties sharing the better rank
    # ("1, 2, 2, 4"), over the stakes with a score (the valid ones); `ranked` is how many.
    rank: dict[tuple[str, str], int] = field(default_factory=dict)
    ranked: int = 0
    ranks: dict[int, int] | None = None  # leaf_index -> rank by net result (payout - burn), 1 the best


class Dashboard:
    """What the pages and the dashboard's JSON routes read, with the caches that keep them fast:
    per published round (an object that changes only if its manifest does) the sort orders and
    search keys of its rows; per round the verification against the chain (a final round's
    result never changes, so it is computed once) and its transactions (read block by block)."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._boards: dict[int, _BoardIndex] = {}
        self._verified: dict[int, tuple[Any, tuple[Any, ...], dict[str, Any]]] = {}
        self._transactions: dict[int, tuple[int, list[dict[str, Any]]]] = {}
        self._stakes: dict[int, tuple[Any, Any, list[dict[str, Any]]]] = {}  # round -> (key, pub, stakes)
        self._strategies: Any = None
        self._warmed: dict[int, Any] = {}  # round -> the reading warm() last prepared
        self._attestations: Any = None  # the service's attestation store, opened once it exists
        self._block_times: dict[str, int] = {}  # block hash -> timestamp (nmr_history)
        self.explorer = os.environ.get(EXPLORER_ENV, "").rstrip("/") or None

    # ------------------------------------------------------------------ chain and published data

    def chain(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.ctx.chain(fn, *args)

    def published_read(self, round_id: int) -> tuple[Any, str | None]:
        """(the round's PublishedRound, None); (None, None) if nothing is published; (None, why)
        if its files cannot be read (malformed, damaged or hostile): a page shows that as a
        published result that does not verify, and never fails on it."""
        try:
            return self.ctx.published(round_id), None
        except RequestError:
            return None, None
        except InputError as exc:
            return None, exc.message

    def published_or_none(self, round_id: int) -> Any:
        return self.published_read(round_id)[0]

    def board(self, round_id: int, pub: Any) -> _BoardIndex:
        with self._lock:
            index = self._boards.get(round_id)
            if index is None or index.pub is not pub:
                index = _BoardIndex(pub)
                index.haystack = [f"{r.model}\n{r.staker.lower()}" for r in pub.rows]
                stakers: dict[str, str | None] = {}  # each distinct staker checked once; not an address: no key
                for r in pub.rows:
                    if r.staker not in stakers:
                        try:
                            stakers[r.staker] = checksum_address(r.staker)
                        except InputError:
                            stakers[r.staker] = None
                    who = stakers[r.staker]
                    if who is not None:
                        index.by_key[(r.model, who)] = r
                index.rank, index.ranked = score_ranks(index.by_key)
                self._boards[round_id] = index
            return index

    def watch(self, stop: threading.Event, every: float) -> None:
        """:meth:`warm` when the service starts, then every `every` seconds until `stop` is set:
        a round published (or changed) while the service runs is read before its first visitor."""
        while True:
            try:
                self.warm()
            except Exception:  # noqa: BLE001 - a reading that fails here is read again on a page view, which says why
                logging.getLogger(__name__).exception("reading the published rounds ahead failed; trying again")
            if stop.wait(every):
                return

    def warm(self) -> list[int]:
        """Read every published round not read yet (or changed since), newest first, with what
        its first page view needs (the rows, the Merkle root recomputed from them, the
        leaderboard's index and its default order, by net, the verification against the chain
        and the round's transactions), so that no visitor waits for it. A round whose files are as they were costs a few stat
        calls and nothing on the chain. Returns the rounds it read."""
        try:
            found = self.ctx.results.rounds()  # the results folder's, or the shared store's
        except OSError:
            return []
        read = []
        for rid in found:
            pub, _problem = self.published_read(rid)
            if pub is None or self._warmed.get(rid) is pub:
                continue
            self._warmed[rid] = pub
            read.append(rid)
            pub.rows_root()
            self.ranks(rid, pub)  # the leaderboard's index and its default order: by net, highest first
            try:
                info = self.ctx.round(rid)
                self.verification(info)
                self.transactions(info)
            except NmrstakeError:
                continue  # e.g. a folder of a round the chain does not know, or the chain away: a request will say
        return read

    def _order(self, index: _BoardIndex, key: str, descending: bool) -> list[int]:
        cached = index.order.get((key, "desc" if descending else "asc"))
        if cached is not None:
            return cached
        rows = index.pub.rows

        def value(i: int) -> Any:
            r = rows[i]
            if key == "net":
                return r.payout - r.burn
            if key == "staker":
                return r.staker.lower()
            return getattr(r, key)

        present = [i for i in range(len(rows)) if value(i) is not None]
        missing = [i for i in range(len(rows)) if value(i) is None]  # e.g. CORR of an invalid stake: always last
        present.sort(key=lambda i: (value(i), rows[i].leaf_index), reverse=descending)
        order = present + missing
        with self._lock:
            index.order[(key, "desc" if descending else "asc")] = order
        return order

    def leaderboard(self, round_id: int, *, offset: int, limit: int, sort: str | None, order: str,
                    q: str | None) -> tuple[list[Any], int]:
        """The rows of a page of the round's leaderboard and how many rows match `q`: rows whose
        model or staker contains `q` (case-insensitive), sorted by `sort` (`order` asc or desc;
        a column's missing values last), from `offset`. No `sort` and no `q`: the published order."""
        if sort is not None and sort not in SORT_KEYS:
            raise RequestError(422, "invalid-field", f"sort: must be one of {', '.join(SORT_KEYS)}, got {sort!r}",
                               field="sort")
        if order not in ("asc", "desc"):
            raise RequestError(422, "invalid-field", f"order: must be asc or desc, got {order!r}", field="order")
        if q is not None and len(q) > 100:
            raise RequestError(422, "invalid-field", "q: at most 100 characters", field="q")
        pub = self.ctx.published(round_id)
        rows = pub.rows
        if not sort and not q:
            return rows[offset:offset + limit], len(rows)
        index = self.board(round_id, pub)
        ids: list[int] = self._order(index, sort, order == "desc") if sort else list(range(len(rows)))
        if sort is None and order == "desc":
            ids = ids[::-1]
        needle = (q or "").strip().lower()
        if needle:
            hay = index.haystack
            ids = [i for i in ids if needle in hay[i]]
        return [rows[i] for i in ids[offset:offset + limit]], len(ids)

    def ranks(self, round_id: int, pub: Any) -> dict[int, int]:
        """Each published row's rank in the round by net result (payout - burn), highest first,
        by leaf_index: 1 for the best; rows with the same net share a rank (1, 2, 2, 4), whatever
        the leaderboard's sort or search."""
        index = self.board(round_id, pub)
        if index.ranks is None:
            rows = pub.rows
            ranks: dict[int, int] = {}
            previous: int | None = None
            rank = 0
            for position, i in enumerate(self._order(index, "net", True), start=1):
                net = rows[i].payout - rows[i].burn
                if net != previous:
                    rank, previous = position, net
                ranks[rows[i].leaf_index] = rank
            index.ranks = ranks
        return index.ranks

    # ------------------------------------------------------------------ a round

    def verification(self, info: Any) -> dict[str, Any]:
        """Whether the round's published result is the one on chain: the keccak-256 of the
        published manifest.json equals the on-chain resultsHash, the Merkle root of the published
        rows (recomputed from them) equals the on-chain root, and the rows are as many as the
        round's stakes. `verified` is None while nothing is posted."""
        rid = info.round_id
        chain_root, chain_hash = to_hex(info.root), to_hex(info.results_hash)
        posted = info.root != ZERO32
        base = {"round": rid, "state": info.state.label, "posted": posted, "chain_root": chain_root,
                "chain_results_hash": chain_hash, "chain_stake_count": info.stake_count}
        pub, problem = self.published_read(rid)
        if problem is not None:
            return self._unreadable(info, base, problem)
        if pub is None:
            return {**base, "published": False, "verified": False if posted else None,
                    "status": "unpublished" if posted else "pending",
                    "detail": ("the result is posted on chain but its files are not published here" if posted
                               else "no result is posted yet"), "checks": []}
        key = (chain_root, chain_hash, info.stake_count)
        cached = self._verified.get(rid)
        if cached is not None and cached[0] is pub and cached[1] == key:  # the same reading of the same files
            return cached[2]
        rows_root = pub.rows_root()
        root_detail = (f"Merkle root of the {len(pub.rows)} published rows {rows_root.root}" if rows_root.root
                       else f"the published rows have no Merkle root: {rows_root.problem}")
        checks = [
            {"check": "manifest", "ok": pub.results_hash == chain_hash,
             "detail": f"keccak-256 of manifest.json {pub.results_hash}; on-chain resultsHash {chain_hash}"},
            {"check": "merkle-root", "ok": rows_root.root == chain_root,
             "detail": f"{root_detail}; on-chain root {chain_root}"},
            {"check": "stake-count", "ok": len(pub.rows) == info.stake_count,
             "detail": f"{len(pub.rows)} published rows; {info.stake_count} stakes on chain"},
        ]
        verified: bool | None = all(c["ok"] for c in checks) if posted else None
        status = "pending" if not posted else ("verified" if verified else "mismatch")
        detail = {"pending": "published, but no result is posted on chain yet",
                  "verified": "the published result is the one posted on chain",
                  "mismatch": "the published files differ from what is posted on chain"}[status]
        out = {**base, "published": True, "verified": verified, "status": status, "detail": detail,
               "manifest_hash": pub.results_hash, "rows": len(pub.rows), "checks": checks}
        if rows_root.root is not None:
            out["rows_root"] = rows_root.root
        self._verified[rid] = (pub, key, out)
        return out

    def _unreadable(self, info: Any, base: dict[str, Any], problem: str) -> dict[str, Any]:
        """The verification of a published folder whose files cannot be read: it does not verify
        (its manifest.json's hash is still compared with the chain's, if the file can be read)."""
        from nmrstake.hashing import keccak_file

        chain_hash = base["chain_results_hash"]
        try:
            manifest = self.ctx.results.file(info.round_id, "manifest.json")
            manifest_hash: str | None = None if manifest is None else to_hex(keccak_file(manifest))
        except InputError:
            manifest_hash = None
        unread = f"the published files cannot be read: {problem}"
        checks = [
            {"check": "manifest", "ok": manifest_hash == chain_hash,
             "detail": (f"keccak-256 of manifest.json {manifest_hash}" if manifest_hash else "manifest.json cannot be read")
                       + f"; on-chain resultsHash {chain_hash}"},
            {"check": "merkle-root", "ok": False, "detail": f"{unread}; on-chain root {base['chain_root']}"},
            {"check": "stake-count", "ok": False, "detail": f"{unread}; {info.stake_count} stakes on chain"},
        ]
        posted = base["posted"]
        out = {**base, "published": True, "verified": False if posted else None,
               "status": "mismatch" if posted else "pending", "detail": unread, "checks": checks}
        if manifest_hash is not None:
            out["manifest_hash"] = manifest_hash
        return out

    def transactions(self, info: Any) -> list[dict[str, Any]]:
        """The transactions of the round's own events (opened, funded, result posted or rejected,
        settled), oldest first: from the event index where the service has one (a reorganisation
        is undone there), else from the chain's logs, where, logs only ever growing, each request
        reads only the blocks after the last one read for the round."""
        rid = info.round_id
        index = self.ctx.index
        if index is not None:
            found = [{"event": e.event, "transaction_hash": e.tx_hash, "block": e.block_number,
                      "log_index": e.log_index} for e in self.ctx.indexed(index.round_events, rid, ROUND_EVENTS)]
            return [{**t, "url": f"{self.explorer}/tx/{t['transaction_hash']}" if self.explorer else None}
                    for t in found]
        client = self.ctx.client
        with self._lock:
            scanned, found = self._transactions.get(rid, (client.start_block - 1, []))

        def read() -> tuple[int, list[dict[str, Any]]]:
            head = client.head()
            new = []
            if head > scanned:
                for name in ROUND_EVENTS:
                    for log in client.logs(name, {"roundId": rid}, start_block=scanned + 1, stop_block=head):
                        new.append({"event": name, "transaction_hash": _hex(log.transaction_hash),
                                    "block": int(log.block_number), "log_index": int(log.log_index)})
            return head, new

        head, new = self.chain(read)
        with self._lock:
            seen = {(t["block"], t["log_index"]) for t in found}
            merged = sorted([*found, *(t for t in new if (t["block"], t["log_index"]) not in seen)],
                            key=lambda t: (t["block"], t["log_index"]))
            if head >= self._transactions.get(rid, (-1, []))[0]:
                self._transactions[rid] = (head, merged)
        return [{**t, "url": f"{self.explorer}/tx/{t['transaction_hash']}" if self.explorer else None} for t in merged]

    def round_clock(self, info: Any) -> dict[str, Any]:
        """Where a round stands in time, for its page: the chain's time (`now`), the next thing
        due (`event`: "opens", "closes", "results due", "final", "expires" or None once final)
        and when (`at`, chain time), and `late`: past its resolve time with no result posted
        (every stake is refunded if no result is final by `expires_at`)."""
        now = int(self.chain(self.ctx.client.now))
        label = info.state.label
        late = not info.posted_at and label in UNSETTLED and now > info.resolve_time
        event, at = {"scheduled": ("opens", info.open_time), "open": ("closes", info.close_time),
                     "closed": ("results due", info.resolve_time), "posted": ("final", info.final_at)}.get(
            label, (None, None))
        if label == "open" and now >= info.close_time:  # closed by the clock, not yet by a transaction
            event, at = "results due", info.resolve_time
        if late:
            event, at = "expires", info.expires_at
        # Where its stakes' NMR stands (nmrstake.client.positions: stake and pending apart).
        phase = {"scheduled": AT_STAKE, "open": AT_STAKE, "closed": AWAITING, "posted": AWAITING}.get(label, CLAIMABLE)
        if label == "open" and now >= info.close_time:
            phase = AWAITING
        return {"now": now, "event": event, "at": at, "late": late, "expires_at": info.expires_at, "phase": phase}

    def round_stakes(self, round_id: int) -> list[dict[str, Any]]:
        """The round's stakes as the chain holds them before a result is published (model,
        staker, stake: each key's last `Staked` total), largest first: from the event index,
        else the chain's logs."""
        from nmrstake.models import model_label

        # (model id hex, staker, new total; 0 for a stake that left), in chain order
        found: list[tuple[str, str, int]] = []
        index = self.ctx.index
        if index is not None:
            found = [(str(e.args["modelId"]), str(e.args["staker"]),
                      int(str(e.args["newTotal"])) if e.event == "Staked" else 0)
                     for e in self.ctx.indexed(index.round_events, round_id, ("Staked", "StakeExited"))]
        else:
            client = self.ctx.client

            def read() -> list[tuple[str, str, int, int, int]]:
                return [(_hex(log.modelId), str(log.staker), int(log.newTotal) if name == "Staked" else 0,
                         int(log.block_number), int(log.log_index))
                        for name in ("Staked", "StakeExited") for log in client.logs(name, {"roundId": round_id})]

            found = [(m, who, total) for m, who, total, _, _ in sorted(self.chain(read), key=lambda x: (x[3], x[4]))]
        stakes: dict[tuple[str, str], int] = {}
        for mid, staker, total in found:
            stakes[(model_label(bytes.fromhex(mid.removeprefix("0x")).rjust(32, b"\0")), checksum_address(staker))] = total
        return [{"model": m, "staker": who, "stake": str(v)}
                for (m, who), v in sorted(stakes.items(), key=lambda kv: (-kv[1], kv[0])) if v]

    def nmr_history(self, address: str) -> list[dict[str, Any]] | None:
        """An allocation strategy's NMR (what it holds idle) after each of its latest
        `NMR_MOVES_SHOWN` transfers in or out, oldest first: `block`, `time` (its block's),
        `change` and `balance` (wei). Read from the token's `Transfer` logs backwards from the
        head, `LOG_WINDOW` blocks at a time, until that many are found or the deployment's block
        is reached, and the balances counted back from the balance now: however many transfers
        someone sends the address (dust, to weigh its page down), a page reads at most about that
        many logs and that many blocks' times (kept, by block hash). None if the count back goes
        below zero (logs that miss a change of its balance): no history rather than a wrong one."""
        from nmrstake.chain.contracts import event_logs

        client = self.ctx.client
        who = checksum_address(address)

        def read() -> tuple[list[tuple[int, int, int, str]], int]:
            transfer = client.token.Transfer
            names = [i.name for i in transfer.abi.inputs]  # (from, to, value): the mainnet NMR's are _from, _to, _value
            now = int(client.nmr_balance(who))
            moves: dict[tuple[int, int], tuple[int, str]] = {}
            high = client.head()
            while high >= client.start_block and len(moves) < NMR_MOVES_SHOWN:
                low = max(client.start_block, high - LOG_WINDOW + 1)
                for side, sign in ((names[1], 1), (names[0], -1)):
                    for log in event_logs(transfer, low, high, {side: who}):
                        args = list(log.event_arguments.values())
                        if checksum_address(str(args[0])) == checksum_address(str(args[1])):
                            continue  # to itself: no change
                        moves[(int(log.block_number), int(log.log_index))] = (sign * int(args[2]), _hex(log.block_hash))
                high = low - 1
            latest = sorted(moves.items())[-NMR_MOVES_SHOWN:]
            return [(b, i, v, h) for (b, i), (v, h) in latest], now

        latest, balance = self.chain(read)
        out: list[dict[str, Any]] = []
        for block, _index, change, block_hash in reversed(latest):
            if balance < 0:
                return None
            out.append({"block": block, "time": self.block_time(block_hash), "change": str(change),
                        "balance": str(balance)})
            balance -= change
        return None if balance < 0 else out[::-1]

    def block_time(self, block_hash: str) -> int:
        """A block's timestamp, by its hash (which names its contents: kept for good)."""
        with self._lock:
            known = self._block_times.get(block_hash)
        if known is None:
            known = int(self.chain(self.ctx.client.provider.get_block, block_hash).timestamp)
            with self._lock:
                if len(self._block_times) >= 100_000:
                    self._block_times.clear()
                self._block_times[block_hash] = known
        return known

    def claim_transactions(self, round_id: int) -> dict[tuple[str, str], dict[str, Any]]:
        """Per (model, staker) of the round, the transaction that took its stake out (a `Claimed`,
        an `EmergencyWithdrawal`), with who sent it (`caller`: the staker, or the operator's push;
        null for a withdrawal) and its explorer link: from the event index, else the chain's logs."""
        from nmrstake.models import model_label

        names = ("Claimed", "EmergencyWithdrawal")
        found: list[tuple[str, str, str | None, str]] = []  # (model id hex, staker, caller, tx)
        index = self.ctx.index
        if index is not None:
            for e in self.ctx.indexed(index.round_events, round_id, names):
                caller = e.args.get("caller")
                found.append((str(e.args["modelId"]), str(e.args["staker"]), None if caller is None else str(caller),
                              e.tx_hash))
        else:
            client = self.ctx.client

            def read() -> list[tuple[str, str, str | None, str]]:
                return [(_hex(log.modelId), str(log.staker), str(getattr(log, "caller", "")) or None,
                         _hex(log.transaction_hash)) for name in names for log in client.logs(name, {"roundId": round_id})]

            found = self.chain(read)
        out = {}
        for mid, staker, caller, tx in found:
            key = (model_label(bytes.fromhex(mid.removeprefix("0x")).rjust(32, b"\0")), checksum_address(staker))
            out[key] = {"transaction_hash": tx, "caller": checksum_address(caller) if caller else None,
                        "url": f"{self.explorer}/tx/{tx}" if self.explorer else None}
        return out

    def chart(self, round_id: int) -> dict[str, Any]:
        """Score against net result (payout - burn, NMR) of every scored stake, by score."""
        pub = self.ctx.published(round_id)
        points = sorted((r.score, (r.payout - r.burn) / WEI) for r in pub.rows if r.score is not None)
        return {"round": round_id, "score": [p[0] for p in points], "net": [p[1] for p in points],
                "scored": len(points), "rows": len(pub.rows)}

    def files(self, round_id: int) -> list[dict[str, Any]] | None:
        pub = self.published_or_none(round_id)
        if pub is None:
            return None
        listed = [{"path": "manifest.json", "keccak": pub.results_hash, "role": "manifest"}]
        listed += [{"path": name, "keccak": digest, "role": "result"}
                   for name, digest in sorted(pub.manifest.get("files", {}).items())]
        listed += [{"path": i["path"], "keccak": i["keccak"], "role": i["role"]} for i in pub.manifest.get("inputs", [])]
        return listed

    # ------------------------------------------------------------------ the committee and the disputes

    def _attestation_store(self) -> Any:
        """The service's attestation store (in its database), read-only here."""
        from nmrstake.service.attestations import AttestationStore

        with self._lock:
            if self._attestations is None:
                self._attestations = AttestationStore(self.ctx.intake.store.database)
            return self._attestations

    def committee_view(self, info: Any) -> dict[str, Any] | None:
        """For a committee deployment (docs/committee.md): the committee now (members, M, epoch);
        each distinct content attested for the round at the service, with its signers, whether M
        current members agree, and the members that attested more than one content
        (equivocations); and the `ResultAttested` events of the round (who signed each posted
        result, from the event's bitmap over the committee's members). None without a committee."""
        from nmrstake.service.attestations import agreements, equivocators

        client = self.ctx.client
        if not client.has_committee:
            return None
        rid = info.round_id
        # The committee now is the contract's state (a few view calls); its attestations are events.
        members, threshold, epoch = self.chain(client.committee)
        events = self._round_logs(rid, ["ResultAttested"], "Tournament")
        store = self._attestation_store()
        signed = store.round(rid) if store is not None else []
        flagged = equivocators(signed)
        posted_digests = {str(e.args["digest"]) for e in events}
        contents = []
        for g in agreements(signed, members, threshold, epoch):
            a = g.attestation
            digest = to_hex(g.digest)
            contents.append({
                "digest": digest, "root": to_hex(a.root), "total_payout": str(a.total_payout),
                "total_burn": str(a.total_burn), "leaf_count": a.leaf_count, "results_hash": to_hex(a.results_hash),
                "epoch": a.epoch, "agreed": g.agreed, "posted": digest in posted_digests,
                "signers": [{"address": who, "member": who in members, "equivocation": (who, a.epoch) in flagged}
                            for who in g.signers]})
        attested = []
        for e in events:
            bitmap, at_epoch = int(str(e.args["signers"])), int(str(e.args["epoch"]))
            # The bitmap indexes the committee of its epoch: named here only while that is the current one.
            signers = [m for i, m in enumerate(members) if bitmap >> i & 1] if at_epoch == epoch else []
            attested.append({"digest": str(e.args["digest"]), "epoch": at_epoch, "bitmap": bitmap, "signers": signers,
                             "transaction_hash": e.tx_hash, "block": e.block_number})
        return {"members": members, "threshold": threshold, "epoch": epoch, "contents": contents,
                "equivocators": sorted({who for who, _ in flagged}, key=lambda a: int(a, 16)), "attested": attested}

    def disputes_view(self, info: Any) -> list[dict[str, Any]] | None:
        """For a deployment with a dispute desk (docs/disputes.md): the round's disputes from the
        desk's events, oldest first: disputer, disputed root, bond, evidence (as text when it is
        UTF-8, else hex; the page escapes it), and the outcome (open, upheld, dismissed, expired),
        with the arbiter's ruling if there was one. None without a desk."""
        client = self.ctx.client
        if client.desk is None:
            return None
        found = self._round_logs(info.round_id, DISPUTE_EVENTS, "DisputeDesk")
        filed, settled, ruled = ([e for e in found if e.event == name] for name in DISPUTE_EVENTS)

        def at(log: IndexedLog) -> tuple[int, int]:
            return log.block_number, log.log_index

        def num(log: IndexedLog, name: str) -> int:
            return int(str(log.args[name]))

        out = []
        for d in filed:
            # One open dispute per round: a dispute ends with the first settlement after it.
            end = next((s for s in settled if at(s) > at(d)), None)
            ruling = next((r for r in ruled if at(r) > at(d) and (end is None or at(r) < at(end))), None)
            raw = bytes.fromhex(str(d.args["evidence"]).removeprefix("0x"))
            try:
                evidence, evidence_kind = raw.decode("utf-8"), "text"
            except UnicodeDecodeError:
                evidence, evidence_kind = to_hex(raw), "hex"
            outcome = "open" if end is None else DISPUTE_OUTCOMES.get(num(end, "outcome"), str(num(end, "outcome")))
            out.append({
                "disputer": checksum_address(str(d.args["disputer"])), "disputed_root": str(d.args["disputedRoot"]),
                "bond": str(num(d, "bond")), "evidence": evidence, "evidence_kind": evidence_kind, "outcome": outcome,
                "paid": None if end is None else str(num(end, "paid")),
                "forfeited": None if end is None else str(num(end, "forfeited")),
                "ruling": None if ruling is None else {"arbiter": checksum_address(str(ruling.args["arbiter"])),
                                                        "disputer_right": _flag(ruling.args["disputerRight"]),
                                                        "reason": str(ruling.args["reason"])},
                "transaction_hash": d.tx_hash, "block": d.block_number})
        return out

    def _round_logs(self, round_id: int, names: tuple[str, ...] | list[str], contract: str) -> list[IndexedLog]:
        """The round's events `names` of the deployment's `contract` ("Tournament" or "DisputeDesk"),
        in chain order, in one form whatever they are read from: the event index where the service
        has one, else the chain's logs (decoded by ape, then written as the index writes them)."""
        index = self.ctx.index
        if index is not None:
            found: list[IndexedLog] = self.ctx.indexed(index.round_events, round_id, names, contract=contract)
            return found
        client = self.ctx.client

        def read() -> list[IndexedLog]:
            logs = [log for name in names for log in (client.desk_logs(name, round_id) if contract == "DisputeDesk"
                                                        else client.logs(name, {"roundId": round_id}))]
            return sorted((_logged(log, round_id, contract) for log in logs), key=lambda e: (e.block_number, e.log_index))

        chain_logs: list[IndexedLog] = self.chain(read)
        return chain_logs

    # ------------------------------------------------------------------ all models

    def _round_stakes(self, info: Any) -> list[dict[str, Any]]:
        """A round's stakes, one per (model, staker): the stake at close and, once the result is
        posted and its files read, the published row's payout, burn, CORR and score (the rows of
        a posted result are exactly the stakes at close); else from the chain's `Staked` events
        (the event index's where the service keeps one). Kept while the round's state, stake count
        and total staked are as they were (and its published files, once read, the same)."""
        from nmrstake.tournament import RoundState

        rid = info.round_id
        pub = self.published_or_none(rid) if info.state in (RoundState.POSTED, RoundState.FINAL) else None
        key = (info.state, info.stake_count, info.total_staked)
        cached = self._stakes.get(rid)
        if cached is not None and cached[0] == key and cached[1] is pub:
            return cached[2]
        if pub is not None:
            out = [{"model": r.model, "staker": r.staker, "stake": r.stake, "result": True, "payout": r.payout,
                    "burn": r.burn, "corr": r.corr, "score": r.score} for r in pub.rows]
        else:
            index = self.ctx.index
            if index is not None:
                found = self.ctx.indexed(index.stakes, rid)
            else:
                found = self.chain(self.ctx.client.stakes_at_close, rid)
            out = [{"model": s.model, "staker": s.staker, "stake": s.amount, "result": False, "payout": 0, "burn": 0,
                    "corr": None, "score": None} for s in found]
        self._stakes[rid] = (key, pub, out)
        return out

    def standings(self) -> dict[str, Any]:
        """Every model (by name, whoever staked it) that ever staked, over every round: the rounds
        it staked in, its stakes and their total at close, and over the rounds with a published
        result its payout, burn and net result (payout - burn) and its mean CORR and score (of its
        valid stakes). Sorted by net result, highest first (then total staked, then name)."""
        models: dict[str, dict[str, Any]] = {}
        infos = self.ctx.rounds()
        for info in infos:
            for s in self._round_stakes(info):
                m = models.setdefault(s["model"], {"model": s["model"], "rounds": set(), "stakes": 0, "stake": 0,
                                                   "scored_rounds": set(), "payout": 0, "burn": 0, "corr": [],
                                                   "score": [], "last_round": 0})
                m["rounds"].add(info.round_id)
                m["last_round"] = max(m["last_round"], info.round_id)
                m["stakes"] += 1
                m["stake"] += s["stake"]
                if s["result"]:
                    m["scored_rounds"].add(info.round_id)
                    m["payout"] += s["payout"]
                    m["burn"] += s["burn"]
                    if s["corr"] is not None:
                        m["corr"].append(s["corr"])
                    if s["score"] is not None:
                        m["score"].append(s["score"])
        out = []
        for m in models.values():
            out.append({"model": m["model"], "rounds": len(m["rounds"]), "stakes": m["stakes"],
                        "stake": str(m["stake"]), "rounds_with_result": len(m["scored_rounds"]),
                        "payout": str(m["payout"]), "burn": str(m["burn"]), "net": str(m["payout"] - m["burn"]),
                        "mean_corr": sum(m["corr"]) / len(m["corr"]) if m["corr"] else None,
                        "mean_score": sum(m["score"]) / len(m["score"]) if m["score"] else None,
                        "last_round": m["last_round"]})
        out.sort(key=lambda e: (-int(e["net"]), -int(e["stake"]), e["model"]))
        return {"rounds": len(infos), "models": out}

    # ------------------------------------------------------------------ models and stakers

    def strategies(self) -> Any:
        """The deployment's StrategyClient, or None if it has no StrategyFactory."""
        if self._strategies is None:
            from nmrstake.strategies.chain import StrategyClient

            try:
                self._strategies = self.chain(StrategyClient, self.ctx.client)
            except ConfigError:
                self._strategies = False
        return self._strategies or None

    def history(self, *, model: str | None = None, staker: str | None = None) -> dict[str, Any]:
        """Every stake of a model (any staker) or of a staker (any model), round by round: the
        stake at close, and once the result is posted the scores, payout and burn from the
        published rows; what can be claimed now (a final round's unclaimed stake: stake - burn +
        payout; an expired round's stake: in full); and per round the totals and the cumulative
        net result (payout - burn) over the rounds with a result.

        With the event index, the stakes, their rounds, their commitments (the last `Staked` or
        `CommitmentChanged`) and whether they are still held (no `Claimed`, `StakeExited` or
        `EmergencyWithdrawal` yet: the contract's amount left is then the stake, else 0) come from
        one read of it: a page of a staker with many stakes costs no chain read per stake, and its
        numbers are of one snapshot. Without it, from the `Staked` logs, a round read per round and
        a `getStake` per stake not pending."""
        from nmrstake.client.positions import phase_totals, stake_phase, upload_state, utc
        from nmrstake.models import label_model_id, model_label
        from nmrstake.tournament import RoundState

        client = self.ctx.client
        index = self.ctx.index
        stakes: dict[tuple[int, str, str], int] = {}  # (round, model, staker) -> the stake at close
        infos: dict[int, Any] = {}
        held_now: Callable[[int, str, str], tuple[int, bytes]]  # the amount left and the commitment
        if index is not None:
            # One read of the index: the keys' stakes, latest commitments, whether they were taken
            # out (claimed, exited, withdrawn), and their rounds. No chain read per key or round.
            found, indexed = self.ctx.indexed(index.history,
                                              model_id=label_model_id(model) if model is not None else None,
                                              staker=checksum_address(str(staker)) if staker is not None else None)
            held = {(p.round_id, p.model, p.staker): (p.left, p.commitment) for p in found}
            stakes = {(p.round_id, p.model, p.staker): p.amount for p in found}
            infos = {rid: indexed[rid] for rid in sorted(indexed)}

            def from_index(rid: int, m: str, who: str) -> tuple[int, bytes]:
                return held[(rid, m, who)]

            held_now = from_index
        else:
            topics: dict[str, Any] = (
                {"modelId": label_model_id(model)} if model is not None else {"staker": checksum_address(str(staker))})

            def read_logs() -> list[Any]:
                return client.logs("Staked", topics)

            for log in self.chain(read_logs):
                key = (int(log.roundId), model_label(bytes(log.modelId).rjust(32, b"\0")), checksum_address(log.staker))
                stakes[key] = int(log.newTotal)  # the last one is the stake at close: nothing changes after it
            infos = {rid: self.ctx.round(rid) for rid in sorted({k[0] for k in stakes})}

            def from_chain(rid: int, m: str, who: str) -> tuple[int, bytes]:
                # The full commitment is the key's last event (the contract stores its first 20 bytes).
                held = self.chain(client.stake, rid, label_model_id(m), who)
                return held.amount, held.commitment

            held_now = from_chain

        entries = []
        taken_out: dict[int, dict[tuple[str, str], dict[str, Any]]] = {}  # round -> its claims' transactions
        for (rid, m, who), at_close in sorted(stakes.items()):
            info = infos[rid]
            pub = self.published_or_none(rid) if info.state in (RoundState.POSTED, RoundState.FINAL) else None
            row = self.board(rid, pub).by_key.get((m, who)) if pub is not None else None
            entry: dict[str, Any] = {
                "round": rid, "model": m, "staker": who, "state": info.state.label, "stake": str(at_close),
                "result": row is not None, "valid": None, "reason": None, "corr": None, "mmc": None, "score": None,
                "return_pct": None, "score_rank": None, "ranked": None, "percentile": None, "claim_txn": None,
                "payout": None, "burn": None, "net": None, "claim": None, "claimable": "0", "expected": None,
                "final_at": None, "final_at_iso": None, "upload": None, "uploaded_at": None, "uploaded_at_iso": None}
            if row is not None:
                board = self.board(rid, pub)
                entry.update(stake=str(row.stake), valid=row.valid, reason=row.reason, corr=row.corr, mmc=row.mmc,
                             score=row.score, payout=str(row.payout), burn=str(row.burn),
                             net=str(row.payout - row.burn), return_pct=return_pct(row.payout - row.burn, row.stake),
                             score_rank=board.rank.get((m, who)), ranked=board.ranked or None,
                             percentile=percentile(board.rank.get((m, who)), board.ranked))
            if info.state in (RoundState.OPEN, RoundState.CLOSED):
                uploads = [(u.file_hash, u.received_at) for u in self.ctx.intake.store.uploads(rid, m, who)]
                entry.update(upload_state(held_now(rid, m, who)[1], uploads, info.close_time))
            if info.state in (RoundState.FINAL, RoundState.EXPIRED):
                left = held_now(rid, m, who)[0]
                if not left:
                    if rid not in taken_out:
                        taken_out[rid] = self.claim_transactions(rid)
                    entry["claim_txn"] = taken_out[rid].get((m, who))
                if info.state is RoundState.FINAL:
                    entry["claim"] = "claimable" if left else "claimed"
                    if left and row is not None:
                        entry["claimable"] = str(row.stake - row.burn + row.payout)
                else:
                    entry["claim"] = "withdrawable" if left else "withdrawn"
                    entry["claimable"] = str(left)
            elif info.state is RoundState.POSTED:
                entry["claim"] = "in challenge period"
                entry["final_at"] = info.final_at
                entry["final_at_iso"] = utc(info.final_at) if info.final_at else None
                if row is not None:
                    entry["expected"] = str(row.stake - row.burn + row.payout)
            else:
                entry["claim"] = "pending"
            entries.append(entry)
        rounds = []
        cumulative = 0
        for rid in infos:
            mine = [e for e in entries if e["round"] == rid]
            with_result = [e for e in mine if e["result"]]
            item: dict[str, Any] = {"round": rid, "state": infos[rid].state.label, "stakes": len(mine),
                                    "stake": str(sum(int(e["stake"]) for e in mine)), "result": bool(with_result),
                                    "payout": None, "burn": None, "net": None, "cumulative_net": None,
                                    "corr": None, "mmc": None, "score": None, "return_pct": None, "best_rank": None,
                                    "ranked": None}
            if with_result:
                payout = sum(int(e["payout"]) for e in with_result)
                burn = sum(int(e["burn"]) for e in with_result)
                cumulative += payout - burn
                ranks = [e["score_rank"] for e in with_result if e["score_rank"] is not None]
                item.update(payout=str(payout), burn=str(burn), net=str(payout - burn), cumulative_net=str(cumulative),
                            corr=mean_of(e["corr"] for e in with_result), mmc=mean_of(e["mmc"] for e in with_result),
                            score=mean_of(e["score"] for e in with_result),
                            return_pct=return_pct(payout - burn, sum(int(e["stake"]) for e in with_result)),
                            best_rank=min(ranks) if ranks else None,
                            ranked=with_result[0]["ranked"] if ranks else None)
            rounds.append(item)
        # Stake and pending apart: each stake's phase and the phases' totals, at the chain's time.
        now = int(self.chain(client.now)) if entries else None  # the latest block's: the same for every reader
        round_docs = {rid: info.to_json() for rid, info in infos.items()}
        for e in entries:
            e["phase"] = stake_phase(e, round_docs.get(e["round"]), now).to_json()
        phases = [t.to_json() for t in phase_totals(entries, list(round_docs.values()), now)] if entries else []
        claimable = [e for e in entries if int(e["claimable"])]
        return {"stakes": entries, "rounds": rounds, "phases": phases, "chain_time": now,
                "claimable": {"total": str(sum(int(e["claimable"]) for e in claimable)),
                              "stakes": [{"round": e["round"], "model": e["model"], "staker": e["staker"],
                                          "amount": e["claimable"], "how": e["claim"]} for e in claimable]},
                "totals": {"stake": str(sum(int(e["stake"]) for e in entries)),
                           "at_risk": str(sum(int(e["stake"]) for e in entries if e["state"] in UNSETTLED)),
                           "payout": str(sum(int(e["payout"] or 0) for e in entries)),
                           "burn": str(sum(int(e["burn"] or 0) for e in entries)), "net": str(cumulative)}}

    def tournament_view(self, infos: list[Any]) -> dict[str, Any]:
        """The tournament as a whole for the rounds page: totals over every round (staked, paid,
        burned; staked in rounds whose result is not final), per round its staked, payout and
        burn (the trend chart's data, oldest first), the chain's time, and the rounds past their
        resolve time with no result posted (late)."""
        now = int(self.chain(self.ctx.client.now)) if infos else None
        trend = [{"round": i.round_id, "staked": str(i.total_staked), "payout": str(i.total_payout),
                  "burn": str(i.total_burn), "posted": bool(i.posted_at)} for i in infos]
        late = [i.round_id for i in infos
                if now is not None and not i.posted_at and i.state.label in UNSETTLED and now > i.resolve_time]
        return {"chain_time": now, "trend": trend, "late": late, "rounds": len(infos),
                "phases": [t.to_json() for t in round_phase_totals(infos, now)] if infos else [],
                "staked": str(sum(i.total_staked for i in infos)),
                "at_risk": str(sum(i.total_staked for i in infos if i.state.label in UNSETTLED)),
                "payout": str(sum(i.total_payout for i in infos)), "burn": str(sum(i.total_burn for i in infos))}

    def model_json(self, name: str) -> dict[str, Any]:
        hist = self.history(model=name)
        settings = []
        strategies = self.strategies()
        if strategies is not None:
            from nmrstake.models import label_model_id

            def owner_of(strategy: str) -> Any:
                return strategies.contract(strategy).owner()

            for who in sorted({e["staker"] for e in hist["stakes"]}):
                if self.chain(strategies.is_strategy, who):
                    setting = self.chain(strategies.setting, who, label_model_id(name))
                    owner = checksum_address(str(self.chain(owner_of, who)))
                    settings.append({"strategy": who, "owner": owner, **setting.to_json()})
        return {"model": name, **hist, "strategies": settings}

    def staker_json(self, address: str) -> dict[str, Any]:
        """A staker's history (:meth:`history`), its NMR balance, and its allocation strategy: its
        settings if it is one; if it owns one, that strategy's settings and history (the owner's
        NMR at work there, which the strategy, not the owner, stakes)."""
        hist = self.history(staker=address)
        strategy = owned = owned_history = idle = None
        strategies = self.strategies()
        if strategies is not None:
            if self.chain(strategies.is_strategy, address):
                strategy = self.chain(strategies.view, address).to_json()
                idle = self.nmr_history(address)
            mine = self.chain(strategies.strategy_of, address)
            if mine is not None:
                owned = self.chain(strategies.view, mine).to_json()
                owned_history = self.history(staker=mine)
                idle = self.nmr_history(mine)
        balance = int(self.chain(self.ctx.client.nmr_balance, address))
        return {"staker": address, "balance": str(balance), **hist, "strategy": strategy, "owned_strategy": owned,
                "owned_strategy_history": owned_history, "strategy_nmr_history": idle}


def score_ranks(rows: dict[tuple[str, str], Any]) -> tuple[dict[tuple[str, str], int], int]:
    """Each scored row's rank by score, best first, ties sharing the better rank ("1, 2, 2, 4"),
    and how many rows are ranked (those with a score: the valid stakes)."""
    scored = sorted(((r.score, key) for key, r in rows.items() if r.score is not None), key=lambda x: -x[0])
    rank: dict[tuple[str, str], int] = {}
    for i, (score, key) in enumerate(scored):
        rank[key] = rank[scored[i - 1][1]] if i and scored[i - 1][0] == score else i + 1
    return rank, len(scored)


def percentile(rank: int | None, ranked: int) -> float | None:
    """The share of the round's ranked stakes scoring at most as well, in percent (100: the best;
    with one stake, 100), to one decimal."""
    if rank is None or ranked == 0:
        return None
    return round(100.0 * (ranked - rank + 1) / ranked, 1)


def return_pct(net: int, stake: int) -> float | None:
    """payout - burn as a percentage of the stake, to two decimals (None for no stake)."""
    return round(100.0 * net / stake, 2) if stake else None


def mean_of(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


#: An allocation strategy's page shows its idle NMR after at most this many latest transfers.
NMR_MOVES_SHOWN = 200
#: Blocks a `Transfer` log query covers at most (a node's eth_getLogs limits are of this order).
LOG_WINDOW = 50_000
#: A round's page lists at most this many of its stakes (the largest) before results are published.
STAKES_SHOWN = 500


def round_phase_totals(infos: list[Any], now: int | None) -> list[PhaseTotal]:
    """Stake and pending apart for the tournament as a whole, by round (`count`: rounds): at stake
    now (open rounds, until they close), awaiting results (closed rounds until results are due;
    posted ones at their expected return, stake - burn + payout, until final), claimable (final
    rounds' returns not claimed yet; an expired round's stakes not withdrawn) and claimed."""
    phases: dict[str, list[tuple[int, int | None, str | None, bool, bool]]] = {n: [] for n in PHASES}
    for i in infos:
        label = i.state.label
        if label in ("scheduled", "open") and not (now is not None and now >= i.close_time):
            phases[AT_STAKE].append((i.total_staked, i.close_time, "closes", False, False))
        elif label in ("open", "closed"):
            late = now is not None and now > i.resolve_time
            phases[AWAITING].append((i.total_staked, None if late else i.resolve_time, "results due", False, late))
        elif label == "posted":
            phases[AWAITING].append((i.claimable, i.final_at, "final", True, False))
        else:
            due = i.claimable if label == "final" else i.total_staked
            if due - i.claimed > 0:
                phases[CLAIMABLE].append((due - i.claimed, None, None, False, False))
            if i.claimed > 0:
                phases[CLAIMED].append((i.claimed, None, None, False, False))
    out = []
    for name, items in phases.items():
        coming = sorted((at, event or "") for _, at, event, _, _ in items if at)
        out.append(PhaseTotal(name, len(items), sum(x[0] for x in items), any(x[3] for x in items),
                              coming[0][0] if coming else None, coming[0][1] or None if coming else None,
                              sum(1 for x in items if x[4])))
    return out


#: The states of a round whose stakes may still be burned: their results are not final.
UNSETTLED = frozenset({"scheduled", "open", "closed", "posted"})


def _json_arg(value: Any) -> Any:
    """A log argument decoded by ape as the event index stores it (nmrstake.index.indexer):
    integers as decimal strings, bytes as 0x-hex, addresses, strings and booleans as they are."""
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_json_arg(v) for v in value]
    return str(value)


def _flag(value: Any) -> bool:
    """A bool argument of a log, stored as JSON true/false by the index; ape may decode it as the
    integer 0 or 1, which `_json_arg` writes as "0" or "1" (and `bool("0")` is True)."""
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true")


def _logged(log: Any, round_id: int, contract: str) -> IndexedLog:
    """An ape log as the event index would hold it (:class:`nmrstake.index.queries.IndexedLog`)."""
    from nmrstake.index.queries import IndexedLog

    return IndexedLog(round_id, contract, str(log.event_name), int(log.block_number), int(log.log_index),
                      _hex(log.transaction_hash).lower(),
                      {str(k): _json_arg(v) for k, v in dict(log.event_arguments).items()})


def _hex(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return to_hex(bytes(value))
    text = str(value)
    return text if text.startswith("0x") else "0x" + text


__all__ = ["CSP", "Dashboard", "SORT_KEYS", "nmr_fixed", "nmr_short", "vendor_dir"]
