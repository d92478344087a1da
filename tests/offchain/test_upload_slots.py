"""Uploads whose body is in are checked and stored `ServiceContext.upload_work` at a time (one per
core): the others wait their turn with their key held, and every one of them is taken. More
threads than cores only fought for the GIL (docs/service.md, "Deployment")."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient
from helpers.uploads import INTAKE_DOMAIN, INTAKE_STAKER_KEY, MULTIPART_TYPE, csv_file, multipart, open_intake, signed_fields

from nmrstake.chain.signers import key_account
from nmrstake.service.app import create_app
from nmrstake.service.context import ServiceContext
from nmrstake.submissions import SubmissionStore

UPLOADS = 6


def test_uploads_whose_body_is_in__are_checked_and_stored_upload_work_at_a_time__and_all_taken(tmp_path):
    store = SubmissionStore(tmp_path / "service").open_for_writing(clean=True)
    intake = open_intake(store)
    inside, peak, lock = 0, 0, threading.Lock()
    receive = intake.receive

    def counted(**kwargs):
        """The intake's own receive, with how many run at once counted (and each lasting long
        enough for the others to arrive meanwhile)."""
        nonlocal inside, peak
        with lock:
            inside += 1
            peak = max(peak, inside)
        try:
            time.sleep(0.2)
            return receive(**kwargs)
        finally:
            with lock:
                inside -= 1

    intake.receive = counted  # type: ignore[method-assign]
    ctx = ServiceContext(client=None, layout=None, intake=intake, upload_work=2)
    account = key_account(INTAKE_STAKER_KEY)
    bodies = []
    for i in range(UPLOADS):
        content = csv_file(rows=40, seed=i)
        fields = signed_fields(INTAKE_DOMAIN, account.address, account, round_id=7, model=f"model_{i:02d}",
                               content=content)
        bodies.append(multipart([*fields.items(), ("file", content)]))
    statuses: list[int] = []
    http = TestClient(create_app(ctx))
    with http:  # one event loop for every request
        barrier = threading.Barrier(UPLOADS)

        def post(body: bytes) -> None:
            barrier.wait()
            answer = http.post("/v1/submissions", content=body, headers={"content-type": MULTIPART_TYPE})
            with lock:
                statuses.append(answer.status_code)

        threads = [threading.Thread(target=post, args=(body,)) for body in bodies]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert statuses == [201] * UPLOADS
    assert peak == 2  # never more at once, and the slots were used in full
    assert len(store.uploads(7)) == UPLOADS
