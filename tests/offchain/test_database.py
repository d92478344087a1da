"""The service's metadata database (nmrstake.storage), against SQLite and PostgreSQL alike (the
`database_url` fixture, tests/helpers/postgres.py): its migrations, and the rules that must hold
across processes and hosts, checked with real separate processes (tests/helpers/db_worker.py)
sharing one database, as replicas of `nmrstake serve` do."""

from __future__ import annotations

import signal
import sqlite3
import time

import pytest
import sqlalchemy as sa
from helpers import db_worker
from helpers.db_worker import STAKER, intake

from nmrstake.errors import ConfigError, RequestError
from nmrstake.hashing import to_hex
from nmrstake.index.tables import metadata as index_metadata
from nmrstake.storage import tables
from nmrstake.storage.database import open_database
from nmrstake.storage.holds import Holds
from nmrstake.submissions import SubmissionStore

AUTH = "0x" + "42" * 32


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "service").mkdir(exist_ok=True)
    return tmp_path / "service"


def test_migrate__two_processes_on_an_empty_database__both_succeed_and_make_the_schema(database_url, folder):
    workers = [db_worker.start("migrate", database_url, str(folder)) for _ in range(2)]
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0 and out.strip() == "migrated", err
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    database = open_database(database_url, folder).migrate()
    every = sa.MetaData()  # the service's tables and the event index's, as the migrations make them
    for table in [*tables.metadata.tables.values(), *index_metadata.tables.values()]:
        table.to_metadata(every)
    with database.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), every) == []


def test_authorisation__stored_by_two_processes_at_once__is_stored_once(database_url, folder):
    workers = [db_worker.start("store", database_url, str(folder), AUTH) for _ in range(2)]
    answers = sorted(w.communicate(timeout=120)[0].strip() for w in workers)
    assert answers == ["conflict", "stored"]
    assert len(SubmissionStore(folder, database_url=database_url).uploads(7)) == 1


def test_hold__of_a_key_held_by_another_process__is_a_409_upload_in_progress(database_url, folder):
    holder = db_worker.start("hold", database_url, str(folder), "7", "m", STAKER, "30")
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "held"
    refused = db_worker.run("hold", database_url, str(folder), "7", "m", STAKER, "30")
    assert refused == (f"refused upload-in-progress: another upload for round 7, model m, staker {STAKER} is in "
                       "progress; retry when it has finished")
    assert db_worker.run("hold", database_url, str(folder), "7", "other", STAKER, "30").startswith("held")
    holder.stdin.write("done\n")
    holder.stdin.flush()
    assert holder.communicate(timeout=60)[0].strip() == "released"
    assert db_worker.run("hold", database_url, str(folder), "7", "m", STAKER, "30").startswith("held")


def test_hold__of_a_killed_process__expires_after_its_lease_and_the_key_is_taken_again(database_url, folder):
    holder = db_worker.start("hold", database_url, str(folder), "7", "m", STAKER, "10")
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait(60)
    store = SubmissionStore(folder, database_url=database_url)
    mine = intake(store)
    h = tables.key_holds
    with store.database.read() as conn:
        [(who, expires_at)] = [(str(r[0]), float(r[1])) for r in conn.execute(sa.select(h.c.holder, h.c.expires_at))]
    assert who.split(":")[1] == str(holder.pid)  # the killed process's hold stays, until its lease ends
    with pytest.raises(RequestError, match="upload-in-progress|in progress"), mine.exclusive((7, "m", STAKER)):
        pass
    while True:  # until the database's clock passes the lease the killed process left
        with store.database.read() as conn:
            if conn.execute(sa.select(store.database.now())).scalar_one() > expires_at:
                break
        time.sleep(0.5)
    with mine.exclusive((7, "m", STAKER)):
        with store.database.read() as conn:
            assert conn.execute(sa.select(h.c.holder)).scalar_one() == mine.holds.holder


def test_signature__seen_by_one_process__is_refused_by_another(database_url, folder):
    expiry = str(int(time.time()) + 3600)
    assert db_worker.run("seen", database_url, str(folder), AUTH, expiry) == "first"
    assert db_worker.run("seen", database_url, str(folder), AUTH, expiry) == "seen"
    mine = intake(SubmissionStore(folder, database_url=database_url))
    assert not mine.first_hold(bytes.fromhex(AUTH[2:]), int(expiry))
    assert mine.first_hold(b"\x43" * 32, int(expiry))


def test_replica__with_another_receipt_key__is_refused_naming_both_addresses(database_url, folder, tmp_path):
    from eth_account import Account

    first, other = tmp_path / "first.key", tmp_path / "other.key"
    first.write_text(to_hex(b"\x01" * 32) + "\n")
    other.write_text(to_hex(b"\x02" * 32) + "\n")
    a, b = Account.from_key(b"\x01" * 32).address, Account.from_key(b"\x02" * 32).address
    assert db_worker.run("signer", database_url, str(folder), str(first)) == f"signer {a}"
    refused = db_worker.run("signer", database_url, str(folder), str(other))
    assert refused.startswith("refused: ") and a in refused and b in refused and str(other) in refused
    assert db_worker.run("signer", database_url, str(folder), str(first)) == f"signer {a}"
    store = SubmissionStore(folder, database_url=database_url)
    assert store.recorded_receipt_signer() == a


def test_receipt_key_file__given_but_missing__is_a_config_error_naming_it(database_url, folder, tmp_path):
    store = SubmissionStore(folder, database_url=database_url, receipt_key_file=tmp_path / "absent.key")
    with pytest.raises(ConfigError, match="--receipt-key-file: .*absent.key does not exist"):
        store.receipt_key()


def test_admitted__uploads_in_flight_in_another_replica__count_against_the_limits(database_url, folder):
    from nmrstake.intake import UploadLimits

    store = SubmissionStore(folder, database_url=database_url).open_for_writing()
    one, two = intake(store), intake(store)  # two holders, as two replicas
    one.limits = two.limits = UploadLimits(uploads_per_key=1, min_free_disk=0, reserved_disk=0)
    with one.admitted(7, "m", STAKER, 10):
        with pytest.raises(RequestError, match="already 1 uploads"):
            two.admit(7, "m", STAKER, 10)
    two.admit(7, "m", STAKER, 10)  # the first one ended: nothing in flight


def test_hold__released__leaves_no_row_and_stops_renewing(database_url, folder):
    database = open_database(database_url, folder).migrate()
    holds = Holds(database, lease=30, renew_every=0.05)
    assert holds.hold_key((1, "m", STAKER))
    holds.release_key((1, "m", STAKER))
    with database.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.key_holds)).scalar_one() == 0


def test_open_database__a_url_of_another_kind__is_a_config_error_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="--database-url: mysql://u:\\*\\*\\*@h/d: mysql is not supported"):
        open_database("mysql://u:secret@h/d", tmp_path)
    with pytest.raises(ConfigError, match="--database-url: 'not a url' is not a database URL"):
        open_database("not a url", tmp_path)
    with pytest.raises(ConfigError, match="in memory"):
        open_database("sqlite://", tmp_path)


def test_open_database__a_server_that_does_not_answer__is_a_config_error_naming_its_url(tmp_path):
    from helpers.postgres import free_port

    url = f"postgresql://nobody:secret@127.0.0.1:{free_port()}/nmrstake?connect_timeout=2"
    with pytest.raises(ConfigError, match=r"database postgresql\+psycopg://nobody:\*\*\*@127.0.0.1:\d+/nmrstake"):
        open_database(url, tmp_path).migrate()


def test_store__the_sqlite_files_of_before_the_database__are_imported_once(tmp_path):
    folder = tmp_path / "service"
    folder.mkdir()
    old = sqlite3.connect(folder / "uploads.sqlite3")
    old.executescript("""CREATE TABLE uploads (id INTEGER PRIMARY KEY AUTOINCREMENT, round_id TEXT NOT NULL,
        model TEXT NOT NULL, staker TEXT NOT NULL, file_hash TEXT NOT NULL, extension TEXT NOT NULL,
        size INTEGER NOT NULL, received_at INTEGER NOT NULL, authorisation TEXT NOT NULL UNIQUE,
        signature TEXT NOT NULL, receipt_signature TEXT NOT NULL);""")
    old.execute("INSERT INTO uploads VALUES (5, '7', 'm', ?, ?, '.csv', 3, 100, ?, '0x', '0x')",
                (STAKER, "0x" + "ab" * 32, AUTH))
    old.commit()
    old.close()
    store = SubmissionStore(folder)
    assert store.exists()
    [upload] = store.uploads(7)
    assert upload.upload_id == 5 and upload.staker == STAKER and upload.received_at == 100
    assert not (folder / "uploads.sqlite3").exists() and (folder / "uploads.sqlite3.imported").is_file()
    assert store.authorisation_used(bytes.fromhex(AUTH[2:]))


def test_signature__seen_then_expired__is_first_again_and_its_row_is_deleted_at_most_every_period(database_url, folder):
    database = open_database(database_url, folder).migrate()
    now = int(time.time())
    holds = Holds(database, prune_every=3600)
    assert holds.first_seen(AUTH, now + 10, now)
    assert not holds.first_seen(AUTH, now + 10, now + 5)
    assert holds.first_seen(AUTH, now + 100, now + 10)  # its signature expired: a new one, no deletion needed
    assert not holds.first_seen(AUTH, now + 100, now + 20)
    other = "0x" + "43" * 32
    assert holds.first_seen(other, now + 1, now)

    def rows() -> set[str]:
        with database.read() as conn:
            return {str(r[0]) for r in conn.execute(sa.select(tables.seen_signatures.c.authorisation))}

    assert rows() == {AUTH, other}  # expired or not, nothing was deleted within the period
    newest = "0x" + "44" * 32
    assert Holds(database, prune_every=0).first_seen(newest, now + 1000, now + 500)  # due: deletes the expired
    assert rows() == {newest}


def test_first_hold_key__holds_a_key_once_per_signature_never_for_a_stored_one_and_refuses_a_held_key(
        database_url, folder):
    store = SubmissionStore(folder, database_url=database_url).open_for_writing()
    one, two = intake(store), intake(store)  # two holders, as two replicas
    expiry = int(time.time()) + 3600
    key = (7, "m", STAKER)
    assert one.first_hold_key(key, b"\x51" * 32, expiry) is True
    assert two.first_hold_key(key, b"\x51" * 32, expiry) is None  # seen once: never holds again
    assert two.first_hold_key(key, b"\x52" * 32, expiry) is False  # fresh, but the key is held
    assert two.first_hold(b"\x52" * 32, expiry) is False  # ... and it was seen so
    one.release(key=key)
    assert two.first_hold_key(key, b"\x53" * 32, expiry) is True
    admission = two.admit_in_flight(7, "m", STAKER, 10)
    two.release(key=key, admission=admission)  # one write ends both
    with store.database.read() as conn:
        for table in (tables.key_holds, tables.admissions):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0
    assert db_worker.run("store", database_url, str(folder), AUTH) == "stored"
    assert one.first_hold_key(key, bytes.fromhex(AUTH[2:]), expiry) is None  # stored: never holds
