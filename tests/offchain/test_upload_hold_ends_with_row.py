"""What an HTTP upload holds while its body streams in (its admission in the in-flight ledger and
its key's hold) ends in the transaction that commits its row: one commit, no write after it, and
no moment when the row is stored while its key still looks held. An upload refused before its row
keeps them until the request ends (`Intake.end`), which then gives them back in one write."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
import sqlalchemy as sa
from helpers.uploads import INTAKE_DOMAIN, INTAKE_STAKER_KEY, csv_file, open_intake

from nmrstake.chain.signers import key_account
from nmrstake.errors import RequestError
from nmrstake.hashing import keccak_bytes
from nmrstake.intake import DEFAULT_LIMITS, Admitted, Authorised, Intake
from nmrstake.signing import UploadAuthorisation
from nmrstake.storage import tables
from nmrstake.submissions import SubmissionStore

ROUND, MODEL = 7, "model_00"


def held_rows(store: SubmissionStore) -> tuple[int, int]:
    """(key holds, admissions) in the database."""
    with store.database.read() as conn:
        return tuple(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
                     for t in (tables.key_holds, tables.admissions))


@pytest.fixture
def signed(tmp_path):
    account = key_account(INTAKE_STAKER_KEY)
    content = csv_file(rows=40, seed=3)
    path = tmp_path / "predictions.csv"
    path.write_bytes(content)
    auth = UploadAuthorisation.new(account.address, ROUND, MODEL, keccak_bytes(content), now=int(time.time()))
    signature = auth.sign(INTAKE_DOMAIN, account)
    _, authorisation = auth.verify(INTAKE_DOMAIN, signature)
    key = (ROUND, MODEL, account.address)
    return path, auth, Authorised(key, keccak_bytes(content), auth.nonce, auth.expiry, signature, authorisation)


def admit(intake: Intake, authorised: Authorised, size: int) -> tuple[int, bool | None]:
    round_id, model, staker = authorised.key
    return intake.admit_and_hold(round_id, model, staker, size, authorised)


def receive(intake, path, auth, authorised, release):
    with open(path, "rb") as fh:
        return intake.receive(round_id=ROUND, model=MODEL, staker=authorised.key[2], nonce=auth.nonce,
                              expiry=auth.expiry, signature=authorised.signature, source=fh, authorised=authorised,
                              holding=release)


def test_receive__with_what_the_route_holds__ends_the_hold_and_admission_with_the_rows_commit(
        tmp_path, database_url, signed):
    path, auth, authorised = signed
    store = SubmissionStore(tmp_path / "service", database_url=database_url).open_for_writing(clean=True)
    intake = open_intake(store)
    admission, taken = admit(intake, authorised, path.stat().st_size)
    assert taken is True and held_rows(store) == (1, 1)
    release = Admitted(authorised.key, admission, held=True)
    stored = receive(intake, path, auth, authorised, release)
    assert release.ended and held_rows(store) == (0, 0)
    assert store.uploads(ROUND, MODEL, authorised.key[2])[-1].upload_id == stored.upload_id
    intake.end(release)  # the route's own end: nothing left to give back
    assert held_rows(store) == (0, 0)


def test_receive__refused_before_its_row__keeps_what_it_holds_until_the_request_ends(tmp_path, database_url, signed):
    path, auth, authorised = signed
    store = SubmissionStore(tmp_path / "service", database_url=database_url).open_for_writing(clean=True)
    intake = open_intake(store)
    admission, _ = admit(intake, authorised, path.stat().st_size)
    receive(intake, path, auth, authorised, Admitted(authorised.key, admission, held=True))
    # The same signature again: seen and stored, so it holds nothing; its upload is refused before a row.
    admission, taken = admit(intake, authorised, path.stat().st_size)
    assert taken is None and held_rows(store) == (0, 1)
    release = Admitted(authorised.key, admission)
    with pytest.raises(RequestError) as refused:
        receive(intake, path, auth, authorised, release)
    assert (refused.value.status, refused.value.kind) == (409, "signature-replayed")
    assert not release.ended and held_rows(store) == (0, 1)
    intake.end(release)
    assert release.ended and held_rows(store) == (0, 0)


def test_admit_and_hold__refused_by_a_limit__records_neither_the_admission_nor_the_signature(
        tmp_path, database_url, signed):
    path, auth, authorised = signed
    store = SubmissionStore(tmp_path / "service", database_url=database_url).open_for_writing(clean=True)
    tight = open_intake(store, limits=replace(DEFAULT_LIMITS, bytes_per_staker_round=10))
    with pytest.raises(RequestError) as refused:
        admit(tight, authorised, path.stat().st_size)
    assert refused.value.kind == "staker-quota-exceeded"
    assert held_rows(store) == (0, 0)
    assert tight.first_hold(authorised.authorisation, authorised.expiry)  # the signature was never seen
