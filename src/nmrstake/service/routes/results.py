"""A round's published results, as the oracle published them: the leaderboard (paged, sorted and
searched by the Dashboard's index), the files with their keccak-256 and each file byte for byte,
and the claim of (round, model, staker) with its Merkle proof. Before publication each is a 404
``not-published``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import WithJsonSchema as _schema

from nmrstake.errors import InputError, RequestError
from nmrstake.hashing import checksum_address
from nmrstake.service import schemas
from nmrstake.service.args import ModelLabel, RoundId, StakerAddress
from nmrstake.service.dashboard import SORT_KEYS
from nmrstake.service.routes.deps import Context, Dash
from nmrstake.service.routes.downloads import PUBLISHED_CONTENT, file_response
from nmrstake.service.schemas import problems

router = APIRouter(tags=["results"])


def _row_json(row: Any) -> dict[str, Any]:
    return {"model": row.model, "staker": row.staker, "stake": str(row.stake), "valid": row.valid,
            "reason": row.reason, "corr": row.corr, "mmc": row.mmc, "score": row.score, "fraction": row.fraction,
            "payout": str(row.payout), "burn": str(row.burn), "leaf_index": row.leaf_index}


def _ranked_json(row: Any, rank: int) -> dict[str, Any]:
    """A leaderboard row: the published row, its net result and its rank in the round by it."""
    return {**_row_json(row), "net": str(row.payout - row.burn), "rank": rank}


@router.get("/v1/rounds/{round_id}/leaderboard",
            summary="The rows of the round's published results; optionally sorted (sort, order) and searched (q)",
            response_model=schemas.Leaderboard, responses=problems(404, 422, s404="not-published"))
def leaderboard(round_id: RoundId, ctx: Context, dash: Dash,
                offset: Annotated[int, Query(description="the first row"), _schema(
                    {"type": "integer", "minimum": 0})] = 0,
                limit: Annotated[int, Query(description="rows at most"), _schema(
                    {"type": "integer", "minimum": 1, "maximum": 10_000})] = 1000,
                sort: Annotated[str | None, Query(description="the column to sort by (net: payout - burn); "
                                                  "without it and `q`, the published order"), _schema(
                    {"type": "string", "enum": list(SORT_KEYS)})] = None,
                order: Annotated[str, Query(description="the order of `sort`"), _schema(
                    {"type": "string", "enum": ["asc", "desc"]})] = "asc",
                q: Annotated[str | None, Query(description="only rows whose model or staker contains this "
                                               "(case-insensitive)"), _schema(
                    {"type": "string", "maxLength": 100})] = None) -> Any:
    rid = round_id
    if offset < 0:
        raise RequestError(422, "invalid-field", f"offset: must be 0 or more, got {offset}", field="offset")
    if not 1 <= limit <= 10_000:
        raise RequestError(422, "invalid-field", f"limit: must be 1 to 10000, got {limit}", field="limit")
    pub = ctx.published(rid)
    rows, matched = dash.leaderboard(rid, offset=offset, limit=limit, sort=sort, order=order, q=q)
    ranks = dash.ranks(rid, pub)
    return {"round": rid, "merkle_root": pub.merkle_root, "results_hash": pub.results_hash,
            "total": len(pub.rows), "matched": matched, "offset": offset,
            "rows": [_ranked_json(r, ranks[r.leaf_index]) for r in rows]}


@router.get("/v1/rounds/{round_id}/files", summary="The published files, manifest.json first, each with its keccak-256",
            response_model=schemas.FileListing, responses=problems(404, 422, s404="not-published"))
def files(round_id: RoundId, ctx: Context) -> Any:
    rid = round_id
    pub = ctx.published(rid)
    listed = [{"path": "manifest.json", "keccak": pub.results_hash, "size": (pub.path / "manifest.json").stat().st_size}]
    listed += [{"path": name, "keccak": digest, "size": (pub.path / name).stat().st_size}
               for name, digest in sorted(pub.manifest.get("files", {}).items())]
    listed += [{"path": i["path"], "keccak": i["keccak"], "size": i["size"]} for i in pub.manifest.get("inputs", [])]
    return {"round": rid, "results_hash": pub.results_hash, "files": listed}


@router.get("/v1/rounds/{round_id}/files/{path:path}", summary="One published file, byte for byte",
            response_class=FileResponse,
            responses={200: {"description": "the file, byte for byte: manifest.json and tree.json as JSON, CSV files "
                                            "as text/csv, Parquet files as application/octet-stream",
                             "content": PUBLISHED_CONTENT},
                       **problems(404, 422, s404="not-published, no-such-file")})
def published_file(round_id: RoundId, path: Annotated[str, PathParam(
        description="the file's path in the round's folder, as the listing gives it: it may hold '/' "
                    "(inputs/predictions/my_model.csv), sent as is or as %2F", min_length=1,
        examples=["manifest.json", "inputs/targets.csv"])], ctx: Context) -> Any:
    rid = round_id
    pub = ctx.published(rid)
    allowed = {"manifest.json", *pub.manifest.get("files", {}), *(i["path"] for i in pub.manifest.get("inputs", []))}
    if path not in allowed:
        raise RequestError(404, "no-such-file", f"round {rid}: {path!r} is not a published file", field="path")
    found = ctx.published_file(pub, path)
    if found is None:
        raise InputError(f"round {rid}: {path} is listed in the manifest but missing from the published folder")
    return file_response(found)


@router.get("/v1/rounds/{round_id}/proofs/{model}/{staker}",
            summary="The claim of (round, model, staker): stake, payout, burn and the Merkle proof",
            response_model=schemas.Proof, responses=problems(404, 422, s404="not-published, no-stake"))
def proof(round_id: RoundId, model: ModelLabel, staker: StakerAddress, ctx: Context) -> Any:
    rid, m, who = round_id, model, staker
    pub = ctx.published(rid)
    for row in pub.rows:
        if row.model == m and checksum_address(row.staker) == who:
            return {"round": rid, "merkle_root": pub.merkle_root, "results_hash": pub.results_hash,
                    **_row_json(row), "proof": row.proof}
    raise RequestError(404, "no-stake", f"round {rid}: the published results have no stake of model {m} by {who}")


__all__ = ["router"]
