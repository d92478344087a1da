"""The oracle committee's attestations (docs/committee.md): ``POST /v1/rounds/{round_id}/attestations``
publishes a member's signed Attestation of the round's result, ``GET`` lists the round's with, per
distinct content, its signers and whether M agree. The checks and the store are
`nmrstake.service.attestations`; the app's `Committee` (``app.state.committee``) holds the
committee's last reading and opens the store on first use."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from nmrstake.service import schemas
from nmrstake.service.args import RoundId
from nmrstake.service.attestations import AttestationStore, CommitteeReading, listing, publish
from nmrstake.service.context import ServiceContext
from nmrstake.service.routes.deps import Context

router = APIRouter(tags=["committee"])


class Committee:
    """One app's attestation state: the committee as last read from the chain, and the store,
    opened in the service's data folder on first use (a deployment without a committee never
    opens it)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.reading = CommitteeReading()
        self._opened: AttestationStore | None = None
        self._lock = threading.Lock()

    def store(self) -> AttestationStore:
        with self._lock:
            if self._opened is None:
                self._opened = AttestationStore(self.ctx.intake.store.database)
            return self._opened


async def _committee(request: Request) -> Committee:
    committee: Committee = request.app.state.committee
    return committee


CommitteeState = Annotated[Committee, Depends(_committee)]


@router.post("/v1/rounds/{round_id}/attestations",
             summary="Publish a committee member's signed Attestation of the round's result (kept only when valid "
                     "and by a current member; the same one again is harmless)",
             response_model=schemas.AttestationStored,
             responses=schemas.problems(
                 400, 401, 403, 404, 409, 422, 429, 502, 503,
                 s400="http-error: the body is not JSON", s401="bad-signature: the signature does not recover the "
                 "signer over this attestation", s403="not-committee-member", s404="no-committee, unknown-round",
                 s409="wrong-epoch: not the committee's current epoch", s429="too-many-attestations: the member's "
                 "attestations of this round reached the service's maximum"))
async def publish_attestation(round_id: RoundId, body: schemas.AttestationRequest, ctx: Context,
                              committee: CommitteeState) -> Any:
    return await run_in_threadpool(lambda: publish(ctx, committee.store, committee.reading, round_id, body))


@router.get("/v1/rounds/{round_id}/attestations",
            summary="The round's attestations and, per distinct content, its signers and whether M agree",
            response_model=schemas.Attestations,
            responses=schemas.problems(404, 422, 502, 503, s404="no-committee, unknown-round"))
def round_attestations(round_id: RoundId, ctx: Context, committee: CommitteeState) -> Any:
    return listing(ctx, committee.store, committee.reading, round_id)


__all__ = ["Committee", "CommitteeState", "router"]
