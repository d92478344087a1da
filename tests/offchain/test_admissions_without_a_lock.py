"""Upload admissions share no lock across keys (`Intake.admit_and_hold`): each is committed to the
in-flight ledger first, then checked against the limits counting every upload stored or admitted
by then. Two replicas admitting at once can therefore never pass a limit together, and a refused
admission leaves nothing behind; against SQLite and PostgreSQL (`database_url`)."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
import sqlalchemy as sa
from helpers.uploads import INTAKE_STAKER_KEY, open_intake

from nmrstake.chain.signers import key_account
from nmrstake.errors import RequestError
from nmrstake.intake import DEFAULT_LIMITS, Intake, Standing
from nmrstake.storage import tables
from nmrstake.submissions import SubmissionStore

SIZE = 1000
STAKER = key_account(INTAKE_STAKER_KEY).address


def replicas(tmp_path, database_url, *, staker_round_bytes: int) -> tuple[Intake, Intake]:
    """Two intakes on one database, as two replicas of the service are."""
    limits = replace(DEFAULT_LIMITS, bytes_per_staker_round=staker_round_bytes)
    first = SubmissionStore(tmp_path / "service", database_url=database_url).open_for_writing(clean=True)
    second = SubmissionStore(tmp_path / "service", database_url=database_url).open_for_writing()
    return open_intake(first, limits), open_intake(second, limits)


def admissions(intake: Intake) -> int:
    with intake.store.database.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(tables.admissions)).scalar_one())


def test_an_admission_checked_after_another_was_recorded__counts_it_and_only_one_passes(tmp_path, database_url):
    a, b = replicas(tmp_path, database_url, staker_round_bytes=SIZE + SIZE // 2)  # room for one
    outcome: dict[str, object] = {}
    started = a.holds.started

    def b_admits_in_between() -> None:
        """Between a's admission (committed) and a's check, b admits the same staker in full."""
        a.holds.started = started  # type: ignore[method-assign]  # once
        try:
            outcome["b"] = b.admit_in_flight(7, "model_b", STAKER, SIZE)
        except RequestError as exc:
            outcome["b"] = exc
        started()

    a.holds.started = b_admits_in_between  # type: ignore[method-assign]
    outcome["a"] = a.admit_in_flight(7, "model_a", STAKER, SIZE)
    refused = outcome["b"]
    assert isinstance(refused, RequestError) and refused.kind == "staker-quota-exceeded"  # it counted a's
    assert isinstance(outcome["a"], int) and admissions(a) == 1  # a's check no longer counts b's, gone


def burst(replicas: tuple[Intake, Intake], round_id: int, count: int = 8) -> tuple[list[tuple[Intake, int]], list[str]]:
    """`count` admissions of one staker's models released at once, alternating between the
    replicas: the (replica, admission) of those admitted, and the kinds of the refusals."""
    barrier = threading.Barrier(count)
    admitted: list[tuple[Intake, int]] = []
    refusals: list[str] = []

    def admit(intake: Intake, model: str) -> None:
        barrier.wait()
        try:
            admitted.append((intake, intake.admit_in_flight(round_id, model, STAKER, SIZE)))
        except RequestError as exc:
            refusals.append(exc.kind)

    threads = [threading.Thread(target=admit, args=(replicas[i % 2], f"model_{i}")) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return admitted, refusals


def test_admissions_at_once_in_two_replicas__never_pass_a_limit_together(tmp_path, database_url):
    a, b = replicas(tmp_path, database_url, staker_round_bytes=3 * SIZE)  # room for three
    for round_id in range(1, 6):
        admitted, refusals = burst((a, b), round_id)
        assert len(admitted) <= 3 and len(admitted) + len(refusals) == 8
        assert set(refusals) <= {"staker-quota-exceeded"}
        assert admissions(a) == len(admitted)  # the refused left nothing in the ledger
        for intake, admission in admitted:
            intake.holds.end_admission(admission)
        assert admissions(a) == 0
    # Once the uploads in flight have ended, the staker has its room again.
    assert isinstance(b.admit_in_flight(1, "model_last", STAKER, SIZE), int)


@pytest.mark.parametrize("limit", [SIZE - 1, SIZE])
def test_a_single_admission__passes_exactly_when_it_fits(tmp_path, database_url, limit):
    a, _ = replicas(tmp_path, database_url, staker_round_bytes=limit)
    if limit < SIZE:
        with pytest.raises(RequestError) as refused:
            a.admit_in_flight(7, "m", STAKER, SIZE)
        assert refused.value.kind == "staker-quota-exceeded"
        assert admissions(a) == 0
    else:
        assert isinstance(a.admit_in_flight(7, "m", STAKER, SIZE), int) and admissions(a) == 1


def test_an_address_that_cannot_stake__is_refused_before_anything_is_written(tmp_path, database_url):
    a, b = replicas(tmp_path, database_url, staker_round_bytes=10 * SIZE)
    a.standing = lambda round_id, model, staker: Standing(False, False, 10**18)
    written: list[object] = []
    add = a.holds.add_admission

    def recorded(*args, **kwargs):
        written.append(args)
        return add(*args, **kwargs)

    a.holds.add_admission = recorded  # type: ignore[method-assign]
    with pytest.raises(RequestError) as refused:
        a.admit_in_flight(7, "m", STAKER, SIZE)
    assert refused.value.kind == "cannot-stake" and refused.value.status == 403
    assert written == [] and admissions(a) == 0  # never in the ledger, not even for a moment
    assert isinstance(b.admit_in_flight(7, "m", STAKER, SIZE), int)  # another replica's standing is its own
