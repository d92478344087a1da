"""Where a participant (and the strategies' operator) reads what the tournament service knows:
the uploads it holds for a stake (hashes and times, never the files) and the published results of
a round (each stake's row and proof, and what every stake was settled at). One protocol,
:class:`Results`, with two homes chosen once by whoever builds the session: the service over HTTP
(:class:`ServiceResults`, `--api`), or the operator's own data folder (:class:`LocalResults`: the
service's store and the oracle's published folders, on the service's machine)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from nmrstake.errors import ChainError, ConfigError, RequestError
from nmrstake.hashing import bytes32_from_hex, checksum_address
from nmrstake.jsontypes import json_int, json_object, json_objects, json_str

if TYPE_CHECKING:
    from nmrstake.client.http import ServiceClient
    from nmrstake.results.layout import DataLayout
    from nmrstake.results.read import PublishedRound, PublishedRow


@dataclass(frozen=True)
class Settlement:
    """What one stake of a round was settled at: the values of its Merkle leaf (wei)."""

    model: str
    staker: str
    stake: int
    payout: int
    burn: int


#: What a published round says of one stake: its row (None: the round has no row for it) and the
#: published Merkle root; None when the round is not published where the results are read.
ClaimRow = tuple["PublishedRow | None", str] | None


class Results(Protocol):
    """Where published results, claim proofs and the service's uploads are read."""

    def claim_row(self, round_id: int, model: str, staker: str) -> ClaimRow:
        """(the stake's published row with its proof, or None; the published root); None when the
        round is not published there."""
        ...

    def settlements(self, round_id: int) -> list[Settlement]:
        """Every stake of a published round as settled (ChainError when it is not published)."""
        ...

    def where(self, round_id: int) -> str:
        """Where the round's results are read, for messages."""
        ...

    def uploads(self, round_id: int, model: str, staker: str) -> list[tuple[bytes, int]] | None:
        """The uploads held for a stake key, (keccak-256, received_at) oldest first ([]: none;
        None: not known there)."""
        ...


def latest_upload(results: Results, round_id: int, model: str, staker: str) -> bytes | None:
    """The keccak-256 of the latest upload held for a stake key, or None."""
    held = results.uploads(round_id, model, staker)
    return held[-1][0] if held else None


class LocalResults:
    """Published results from the operator's results folders (this machine)."""

    def __init__(self, layout: DataLayout) -> None:

        self.layout = layout
        self._cache: dict[int, PublishedRound | None] = {}

    def claim_row(self, round_id: int, model: str, staker: str) -> ClaimRow:
        """(the stake's published row or None, the published root); None if not published here."""
        from nmrstake.results.read import load_published

        if round_id not in self._cache:
            folder = self.layout.published(round_id)
            self._cache[round_id] = load_published(folder) if folder.is_dir() else None
        pub = self._cache[round_id]
        if pub is None:
            return None
        row = next((r for r in pub.rows if r.model == model and r.staker.lower() == staker.lower()), None)
        return row, pub.merkle_root

    def settlements(self, round_id: int) -> list[Settlement]:
        from nmrstake.results.read import load_published

        folder = self.layout.published(round_id)
        if not folder.is_dir():
            raise ChainError(f"round {round_id}: no published results at {folder}")
        return [Settlement(r.model, r.staker, r.stake, r.payout, r.burn) for r in load_published(folder).rows]

    def where(self, round_id: int) -> str:
        return str(self.layout.published(round_id))

    def uploads(self, round_id: int, model: str, staker: str) -> list[tuple[bytes, int]] | None:
        """The service's uploads for a stake key from its store on this machine (None: no store here)."""
        if not self.layout.has_store():  # checked first: the store needs the operator's packages
            return None
        store = self.layout.store()
        return [(u.file_hash, u.received_at) for u in store.uploads(round_id, model, staker)]


class ServiceResults:
    """Published results and claim proofs from the tournament service (`--api`)."""

    def __init__(self, service: ServiceClient) -> None:
        self.service = service

    def claim_row(self, round_id: int, model: str, staker: str) -> ClaimRow:
        from nmrstake.results.read import PublishedRow

        try:
            data = self.service.proof(round_id, model, staker)
        except RequestError as exc:
            if exc.kind == "no-stake":
                return None, ""
            raise
        if data is None:
            return None
        try:
            row = PublishedRow(model=data["model"], staker=data["staker"], stake=int(data["stake"]),
                               valid=bool(data["valid"]), reason=data["reason"], corr=data["corr"], mmc=data["mmc"],
                               score=data["score"], fraction=float(data["fraction"]), payout=int(data["payout"]),
                               burn=int(data["burn"]), leaf_index=int(data["leaf_index"]), proof=list(data["proof"]))
            return row, str(data["merkle_root"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{self.where(round_id)}: the service's proof for {model} / {staker} is malformed "
                              f"({type(exc).__name__}: {exc})") from None

    def where(self, round_id: int) -> str:
        return f"{self.service.url}/v1/rounds/{round_id}"

    def settlements(self, round_id: int) -> list[Settlement]:
        """Every row of the round's leaderboard, page by page."""
        rows: list[Settlement] = []
        while True:
            page = self.service.get(f"/v1/rounds/{round_id}/leaderboard", offset=len(rows), limit=10_000)
            try:
                found = json_object(page, "the page")
                page_rows = json_objects(found["rows"], "rows")
                rows.extend(Settlement(str(r["model"]), str(r["staker"]), json_int(r["stake"]), json_int(r["payout"]),
                                       json_int(r["burn"])) for r in page_rows)
                total = json_int(found["total"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"{self.where(round_id)}/leaderboard: malformed ({type(exc).__name__}: {exc})") from None
            if not page_rows or len(rows) >= total:
                return rows

    def uploads(self, round_id: int, model: str, staker: str) -> list[tuple[bytes, int]] | None:
        """Every upload the service holds for a stake key, oldest first ([]: none)."""
        try:
            seen = self.service.get(f"/v1/rounds/{round_id}/submissions/{model}/{checksum_address(staker)}")
        except RequestError as exc:
            if exc.status == 404:
                return []
            raise
        try:
            history = json_objects(json_object(seen, "the answer")["history"], "history")
            return [(bytes32_from_hex(json_str(u["commitment"], "commitment")), json_int(u["received_at"])) for u in history]
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{self.where(round_id)}: the service's uploads for {model} / {staker} are malformed "
                              f"({type(exc).__name__}: {exc})") from None
