"""The service's metadata database: PostgreSQL when a database URL is given, SQLite in the
service's data folder otherwise, behind one :class:`Database` (a SQLAlchemy 2 Engine) that the
submission store, the per-key holds, the faucet and the attestations all write through.

Several ``nmrstake serve`` replicas may share one PostgreSQL database with no other coordination:
every rule that must hold across them is the database's, never a lock in one process's memory.
Uniqueness is a constraint (an ``INSERT`` that conflicts), and a check-then-write (a limit, the
faucet's period) runs in a :meth:`Database.write` transaction that takes a named lock first: a
``pg_advisory_xact_lock`` on PostgreSQL (released at commit or rollback, or when a killed
replica's connection drops), ``BEGIN IMMEDIATE`` on SQLite (one writer at a time for the file).

The schema is made by the Alembic migrations in ``migrations/`` (packaged with the module), run
programmatically by :meth:`Database.migrate`: no ``alembic.ini`` at run time. Replicas starting at
once are serialised (``pg_advisory_xact_lock`` around the whole migration on PostgreSQL, whose DDL
is transactional; a file lock beside the SQLite file), so the second finds the schema made.

URL forms: ``postgresql+psycopg://user:password@host:5432/name`` (``postgresql://`` and
``postgres://`` mean the same: psycopg 3 is the driver), ``sqlite:///relative/path`` or
``sqlite:////absolute/path``. Without a URL: ``sqlite:///<data>/service/service.sqlite3``, in
write-ahead-log mode with ``synchronous=FULL`` (a committed row survives a power cut) and a 30 s
busy timeout, as the SQLite files before it were opened.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from nmrstake.errors import ConfigError
from nmrstake.storage import DATABASE_URL_ENV  # the variable of `--database-url`, re-exported here

#: The default database's file, in the service's data folder.
DEFAULT_FILE = "service.sqlite3"
#: How long a SQLite writer waits for another's transaction before giving up.
BUSY_TIMEOUT_SECONDS = 30
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_WRITE = "nmrstake_write"


class Database:
    """One metadata database: its Engine, and the few things the two back ends do differently
    (the transaction that may write, the clock, an INSERT that may conflict). Open it with
    :func:`open_database`; one per URL and process."""

    def __init__(self, engine: Engine, *, sqlite_path: Path | None) -> None:
        self.engine = engine
        self.sqlite_path = sqlite_path
        self._migrated = False
        self._migrate_lock = threading.Lock()

    @property
    def url(self) -> str:
        """The URL, its password hidden: what messages and logs show."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def __repr__(self) -> str:
        return f"Database({self.url})"

    # ------------------------------------------------------------------ schema

    def migrate(self) -> Database:
        """Bring the schema to the newest migration (once per process; any number of processes
        at once). A database that cannot be reached is a ConfigError naming its URL."""
        with self._migrate_lock:
            if self._migrated:
                return self
            try:
                if self.sqlite_path is not None:
                    self._migrate_sqlite(self.sqlite_path)
                else:
                    with self.engine.begin() as conn:
                        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key("nmrstake-migrate"))))
                        _upgrade(conn)
            except SQLAlchemyError as exc:
                raise ConfigError(f"database {self.url}: cannot open or migrate it "
                                  f"({_reason(exc)})") from None
            self._migrated = True
        return self

    def _migrate_sqlite(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = open(path.with_name(path.name + ".migrate-lock"), "a")  # noqa: SIM115 - held below
        except OSError as exc:
            raise ConfigError(f"database {self.url}: cannot write in {path.parent} "
                              f"({exc.strerror or exc})") from None
        with lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # released when the file closes (or the process dies)
            with self.engine.connect().execution_options(**{_WRITE: True}) as conn, conn.begin():
                _upgrade(conn)

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def write(self, *locks: str) -> Iterator[Connection]:
        """A transaction that may write, committed when the block ends (rolled back on an
        exception). `locks` name what it must hold alone across every process sharing the
        database (e.g. "admissions"): advisory transaction locks on PostgreSQL, taken in one
        order; on SQLite the transaction itself is exclusive (BEGIN IMMEDIATE)."""
        with self.engine.connect().execution_options(**{_WRITE: True}) as conn, conn.begin():
            if self.is_postgresql:
                for name in sorted(set(locks)):
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(name))))
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (it sees what was committed when it began on SQLite, at each
        statement on PostgreSQL)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def now(self) -> sa.ColumnElement[float]:
        """The database's clock in unix seconds, as an SQL expression: leases are compared with
        one clock, whichever host's replica wrote them."""
        if self.is_postgresql:
            return sa.literal_column("extract(epoch from clock_timestamp())::float8", sa.Float)
        return sa.literal_column("((julianday('now') - 2440587.5) * 86400.0)", sa.Float)

    def insert(self, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
        """An INSERT of the back end's dialect (for `on_conflict_do_nothing` and `_do_update`)."""
        return postgresql.insert(table) if self.is_postgresql else sqlite.insert(table)

    def dispose(self) -> None:
        """Close the pooled connections (a forked child must not share its parent's)."""
        self.engine.dispose()


# ------------------------------------------------------------------------------------------ opening

_opened: dict[str, Database] = {}
_opened_lock = threading.Lock()


def database_url(url: str | None, folder: Path) -> URL:
    """The SQLAlchemy URL of `url`, or of the default SQLite file in `folder`; a ConfigError
    naming the URL for anything else than PostgreSQL through psycopg 3 or a SQLite file."""
    if not url:
        return sa.engine.make_url(f"sqlite:///{(Path(folder) / DEFAULT_FILE).resolve()}")
    try:
        parsed = sa.engine.make_url(url)
    except ArgumentError:
        raise ConfigError(f"--database-url: {url!r} is not a database URL (expected "
                          "postgresql://user:password@host:5432/name or sqlite:///path)") from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        if not parsed.database:
            raise ConfigError(f"--database-url: {shown} names no database (postgresql://user@host/NAME)")
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        if not parsed.database or parsed.database == ":memory:":
            raise ConfigError(f"--database-url: {shown} is a SQLite database in memory; the service's "
                              "processes share a file: sqlite:///path/to/service.sqlite3")
        return parsed.set(drivername="sqlite+pysqlite")
    raise ConfigError(f"--database-url: {shown}: {parsed.drivername} is not supported (PostgreSQL, "
                      "postgresql://..., or a SQLite file, sqlite:///path)")


def open_database(url: str | None, folder: Path) -> Database:
    """The Database at `url` (None or "": SQLite in `folder`, the service's data folder), one per
    URL in this process. Nothing is connected or created until it is used; :meth:`Database.migrate`
    makes the schema."""
    parsed = database_url(url, folder)
    key = parsed.render_as_string(hide_password=False)
    with _opened_lock:
        found = _opened.get(key)
        if found is None:
            found = _opened[key] = _create(parsed)
        return found


def _create(url: URL) -> Database:
    if url.get_backend_name() == "postgresql":
        try:
            engine = sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=30)
        except NoSuchModuleError as exc:  # pragma: no cover - psycopg is a dependency
            raise ConfigError(f"database {url.render_as_string()}: {exc}") from None
        return Database(engine, sqlite_path=None)
    path = Path(str(url.database))
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
                              pool_size=10, max_overflow=30)
    sa.event.listen(engine, "connect", _sqlite_connect)
    sa.event.listen(engine, "begin", _sqlite_begin)
    return Database(engine, sqlite_path=path)


def _sqlite_connect(dbapi_connection: Any, record: Any) -> None:
    """Each SQLite connection: transactions issued by SQLAlchemy's `begin` (pysqlite's own are
    off), write-ahead logging, synchronous=FULL, the busy timeout."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    """BEGIN IMMEDIATE for a transaction that may write: it waits (the busy timeout) for the
    write lock up front, instead of failing when a read would turn into a write."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


def import_sqlite_file(database: Database, path: Path, source: str, table: sa.Table, columns: list[str],
                       *, conflict: list[sa.Column[Any]]) -> int:
    """Copy the rows of `source` in the SQLite file `path` (a store of the versions before the
    database) into `table`, in one transaction (rows whose `conflict` columns are there already are
    skipped), then rename the file `<name>.imported` so it is imported once; how many were copied.
    Several processes may try at once: one imports, the others find the file gone."""
    import sqlite3

    if not path.is_file():
        return 0
    with database.write("import " + path.name) as conn:
        if not path.is_file():
            return 0
        old = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS)
        try:
            rows = [dict(zip(columns, row, strict=True))
                    for row in old.execute(f"SELECT {', '.join(columns)} FROM {source} ORDER BY rowid")]
        except sqlite3.Error as exc:
            raise ConfigError(f"{path}: cannot import it into database {database.url} ({exc})") from None
        finally:
            old.close()
        if rows:
            conn.execute(database.insert(table).on_conflict_do_nothing(index_elements=conflict), rows)
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.rename(path.with_name(path.name + ".imported"))
    if database.is_postgresql and rows and "id" in columns:
        with database.write() as conn:  # ids were given: the sequence continues after them
            conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                 f"(SELECT COALESCE(MAX(id), 1) FROM {table.name}))"))
    return len(rows)


def _upgrade(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key of an advisory lock, from its name."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def _reason(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    text = str(original if original is not None else exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


__all__ = ["DATABASE_URL_ENV", "DEFAULT_FILE", "Database", "database_url", "import_sqlite_file", "open_database"]
