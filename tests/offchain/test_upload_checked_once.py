"""An upload's signature is recovered once per request: the service's early check (the fields
before the file, `nmrstake.service.upload.upload_key`) hands what it found to `Intake.receive`
(`Authorised`), which uses it only for that very upload and checks everything itself otherwise."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers.scenario import synth_round

from nmrstake.chain.signers import key_account
from nmrstake.errors import RequestError
from nmrstake.hashing import keccak_file, to_hex
from nmrstake.intake import Authorised, Intake, RoundWindow
from nmrstake.results.layout import DataLayout
from nmrstake.service.upload import upload_key
from nmrstake.signing import Domain, UploadAuthorisation

DOMAIN = Domain(31337, "0x" + "cc" * 20)
STAKER_KEY = b"\x12" * 32


@pytest.fixture
def intake(tmp_path) -> Intake:
    store = DataLayout(tmp_path / "data").store().open_for_writing(clean=True)
    return Intake(store, DOMAIN, window=lambda r: RoundWindow(r, 0, 2**62), chain_now=lambda: int(time.time()))


@pytest.fixture
def files(tmp_path) -> Path:
    return synth_round(tmp_path, 7, models=2) / "predictions"


def signed_fields(path: Path) -> dict[str, str]:
    """The form fields a participant sends before the file: signed by the staker over `path`."""
    account = key_account(STAKER_KEY)
    auth = UploadAuthorisation.new(account.address, 7, "model_00", keccak_file(path), now=int(time.time()))
    return {"round": "7", "model": "model_00", "staker": account.address, "nonce": str(auth.nonce),
            "expiry": str(auth.expiry), "signature": auth.sign(DOMAIN, account), "file_hash": to_hex(auth.file_hash)}


def receive(intake: Intake, fields: dict[str, str], path: Path, authorised: Authorised | None):
    with open(path, "rb") as fh:
        return intake.receive(round_id=7, model="model_00", staker=fields["staker"], nonce=int(fields["nonce"]),
                              expiry=int(fields["expiry"]), signature=fields["signature"], source=fh,
                              authorised=authorised)


def test_the_early_check__of_the_stakers_signature__finds_its_key_and_digest(intake, files):
    fields = signed_fields(files / "model_00.csv")
    found = upload_key(fields, intake, time.time())
    assert found is not None
    auth = UploadAuthorisation(fields["staker"], 7, "model_00", keccak_file(files / "model_00.csv"),
                               int(fields["nonce"]), int(fields["expiry"]))
    assert found.key == (7, "model_00", fields["staker"]) and found.authorisation == auth.digest(DOMAIN)
    assert upload_key({**fields, "staker": key_account(b"\x13" * 32).address}, intake, time.time()) is None


def test_receive__with_the_early_checks_finding_for_this_file__stores_it_under_that_authorisation(intake, files):
    path = files / "model_00.csv"
    fields = signed_fields(path)
    found = upload_key(fields, intake, time.time())
    stored = receive(intake, fields, path, found)
    assert found is not None and intake.store.authorisation_used(found.authorisation)
    assert stored.file_hash == keccak_file(path)


def test_receive__of_another_file_than_the_early_check_found__checks_the_signature_itself(intake, files):
    """The fields were signed over model_00.csv, the body brings model_01.csv: the early finding is
    not this upload's, so the signature is recovered again, and is not the staker's over this file."""
    fields = signed_fields(files / "model_00.csv")
    found = upload_key(fields, intake, time.time())
    assert found is not None
    with pytest.raises(RequestError) as refused:
        receive(intake, fields, files / "model_01.csv", found)
    assert (refused.value.status, refused.value.kind) == (403, "wrong-signer")
    assert intake.store.uploads(7) == []


def test_receive__of_a_signature_stored_already__is_a_409_replay_whatever_the_early_check_said(intake, files):
    path = files / "model_00.csv"
    fields = signed_fields(path)
    receive(intake, fields, path, None)
    with pytest.raises(RequestError) as refused:
        receive(intake, fields, path, None)
    assert (refused.value.status, refused.value.kind) == (409, "signature-replayed")
    with pytest.raises(RequestError) as raced:  # an early finding that raced the first: the UNIQUE row refuses it
        receive(intake, fields, path, upload_key(fields, intake, time.time()))
    assert (raced.value.status, raced.value.kind) == (409, "signature-replayed")
    assert len(intake.store.uploads(7)) == 1
