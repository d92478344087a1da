"""The submission store (its log in the metadata database + files by content hash) and the intake on
the embedded EVM: which upload counts for a stake, stakers sharing a model name, single-use
authorisations, the receipt key, restart hygiene, each against SQLite and PostgreSQL (`database_url`);
and receipts that expose an operator who drops an upload."""

from __future__ import annotations

import sqlite3
import stat

import pytest
from helpers.scenario import WEI, advance_to, deliver_targets, make_world, open_funded_round, synth_round
from sqlalchemy.exc import IntegrityError

from nmrstake.chain.signers import key_account
from nmrstake.daemon import EventLog
from nmrstake.hashing import keccak_bytes
from nmrstake.oracle import Oracle
from nmrstake.participant import LocalDelivery, stake_predictions
from nmrstake.receipts import ReceiptBook
from nmrstake.results.read import load_published
from nmrstake.signing import DeliveryReceipt
from nmrstake.submissions import SubmissionStore
from nmrstake.verify import check_receipts, verify_round

ALICE = "0x" + "a1" * 20
BOB = "0x" + "b2" * 20


def put(store: SubmissionStore, content: bytes, *, staker: str = ALICE, model: str = "m", round_id: int = 7,
        received_at: int = 100, auth: bytes | None = None):
    digest = keccak_bytes(content)
    with store.staging() as staged:
        staged.write_bytes(content)
        return store.store(staged, round_id=round_id, model=model, staker=staker, file_hash=digest, extension=".csv",
                           received_at=received_at, authorisation=auth or keccak_bytes(content + staker.encode()),
                           signature="0x", receipt=DeliveryReceipt(staker, round_id, model, digest, received_at))


@pytest.fixture
def store(tmp_path, database_url):
    return SubmissionStore(tmp_path / "service", database_url=database_url).open_for_writing(clean=True)


def test_delivered__prefers_the_file_matching_the_commitment_received_before_close(store):
    a, b = put(store, b"a", received_at=100), put(store, b"b", received_at=150)
    assert store.latest(7, "m", ALICE) == b
    assert store.delivered(7, "m", ALICE, a.file_hash, close_time=200) == a  # the committed one, though older
    assert store.delivered(7, "m", ALICE, keccak_bytes(b"c"), close_time=200) == b  # none matches: the latest
    assert store.delivered(7, "m", ALICE, b.file_hash, close_time=150) == a  # b came at close: too late
    assert store.delivered(7, "m", ALICE, a.file_hash, close_time=100) is None
    assert store.delivered(7, "m", BOB, a.file_hash, close_time=200) is None


def test_store__stakers_sharing_a_model_name__keep_separate_files(store):
    mine, theirs = put(store, b"mine", staker=ALICE), put(store, b"theirs", staker=BOB)
    assert mine.path != theirs.path and mine.path.read_bytes() == b"mine" and theirs.path.read_bytes() == b"theirs"
    assert [u.file_hash for u in store.uploads(7, "m", ALICE)] == [keccak_bytes(b"mine")]


def test_store__an_authorisation_is_accepted_once(store):
    put(store, b"x", auth=b"\x01" * 32)
    with pytest.raises(IntegrityError):
        put(store, b"y", auth=b"\x01" * 32)
    assert [u.file_hash for u in store.uploads(7)] == [keccak_bytes(b"x")]
    assert store.authorisation_used(b"\x01" * 32) and not store.authorisation_used(b"\x02" * 32)


def test_usage__counts_the_key_and_the_staker_in_its_round__and_the_whole_store_only_when_asked(store):
    put(store, b"k1" * 10, model="m")
    put(store, b"k2" * 10, model="m")
    put(store, b"other model" * 10, model="n")
    put(store, b"other round" * 100, model="m", round_id=8)
    put(store, b"other staker" * 1000, model="m", staker=BOB)
    usage = store.usage(7, "m", ALICE)
    assert (usage.key_uploads, usage.staker_round_bytes, usage.total_bytes) == (2, 20 + 20 + 110, None)
    assert store.usage(7, "m", ALICE.upper().replace("0X", "0x")).staker_round_bytes == 150  # any spelling
    assert store.usage(7, "m", ALICE, with_total=True).total_bytes == 150 + 1100 + 12000
    empty = store.usage(9, "m", ALICE, with_total=True)
    assert (empty.key_uploads, empty.staker_round_bytes, empty.total_bytes) == (0, 0, 13250)


def test_open_for_writing__clean__empties_tmp_and_keeps_what_was_stored(tmp_path, store, database_url):
    kept = put(store, b"kept")
    (store.tmp_dir / "upload-dead.part").write_bytes(b"half a fi")
    again = SubmissionStore(tmp_path / "service", database_url=database_url).open_for_writing(clean=True)
    assert not list(again.tmp_dir.iterdir())
    assert again.uploads(7) == [kept] and kept.path.read_bytes() == b"kept"


def test_receipt_key__is_created_once_private_and_stable(tmp_path, store):
    first = store.receipt_signer()
    path = store.root / "receipt-signer.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SubmissionStore(tmp_path / "service").receipt_signer() == first


def test_reading_a_store_that_does_not_exist__is_a_config_error_naming_it(tmp_path):
    from nmrstake.errors import ConfigError

    with pytest.raises(ConfigError, match="no submission store"):
        SubmissionStore(tmp_path / "nowhere").uploads(1)


# ---------------------------------------------------------------------------------- on chain


@pytest.fixture
def world(project, tmp_path):
    return make_world(project, tmp_path)


def test_verify__a_stake_whose_upload_the_operator_dropped__is_reported_by_its_receipt(world, tmp_path):
    open_funded_round(world, 11)
    inputs = synth_round(tmp_path, 11, models=len(world.stakers))
    books = ReceiptBook(world.client.domain, tmp_path / "receipts")
    delivery = LocalDelivery(world.client, world.layout)
    for i, acct in enumerate(world.stakers):
        stake_predictions(world.client, acct, delivery, 11, f"model_{i:02d}", (i + 1) * 10 * WEI,
                          inputs / "predictions" / f"model_{i:02d}.csv", receipts=books)
    # A dishonest operator forgets the first staker's upload before scoring (a losing model escapes
    # nothing here: the stake is simply returned, and the staker may have lost a payout).
    victim = world.stakers[0].address
    db = sqlite3.connect(world.layout.store().db_path)
    db.execute("DELETE FROM uploads WHERE staker = ?", (victim,))
    db.commit()
    db.close()
    advance_to(world.client.round(11).resolve_time)
    deliver_targets(world, 11, inputs)
    Oracle(world.client, world.oracle, world.layout, log=EventLog(out=lambda line: None)).tick()

    report = verify_round(world.client, 11, world.layout.published(11))
    assert report.ok  # the published files are consistent with themselves and the chain ...
    manifest = load_published(world.layout.published(11)).manifest
    assert manifest["service"] == {"receipt_signer": world.layout.store().receipt_signer()}
    check_receipts(report, world.client, books.for_round(11))
    [difference] = report.differences  # ... but the victim's receipt shows the file was delivered in time
    assert "model_00" in difference and victim in difference and "receipt" in difference
    assert "undelivered" in difference


def _resolved_with_a_receipt(world, tmp_path) -> ReceiptBook:
    """Round 11 with one stake delivered through the store, its receipt kept, resolved by the oracle."""
    open_funded_round(world, 11)
    inputs = synth_round(tmp_path, 11, models=1)
    books = ReceiptBook(world.client.domain, tmp_path / "receipts")
    stake_predictions(world.client, world.stakers[0], LocalDelivery(world.client, world.layout), 11,
                      "model_00", 10 * WEI, inputs / "predictions" / "model_00.csv", receipts=books)
    advance_to(world.client.round(11).resolve_time)
    deliver_targets(world, 11, inputs)
    Oracle(world.client, world.oracle, world.layout, log=EventLog(out=lambda line: None)).tick()
    return books


def test_verify__a_receipt_from_another_key_than_the_manifest_names__is_a_difference(world, tmp_path):
    books = _resolved_with_a_receipt(world, tmp_path)
    [kept] = books.for_round(11)
    impostor_key = "0x" + "77" * 32
    impostor = key_account(bytes.fromhex(impostor_key[2:]))
    forged = kept.receipt.signed(world.client.domain, impostor)

    books.keep(forged, impostor.address)
    report = verify_round(world.client, 11, world.layout.published(11))
    check_receipts(report, world.client, books.for_round(11))
    assert any("the round's manifest names" in d for d in report.differences), report.differences


def test_verify__an_altered_kept_receipt__is_reported_not_trusted(world, tmp_path):
    import json

    books = _resolved_with_a_receipt(world, tmp_path)
    [kept] = books.for_round(11)
    data = json.loads(kept.path.read_text())
    data["receipt"]["received_at"] -= 3600  # "it arrived an hour earlier"
    kept.path.write_text(json.dumps(data))
    report = verify_round(world.client, 11, world.layout.published(11))
    check_receipts(report, world.client, books.for_round(11))
    assert any("signature is not" in d and str(kept.path) in d for d in report.differences), report.differences
