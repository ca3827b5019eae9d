"""Engine, sessions and migrations. SQLite (WAL) by default, PostgreSQL in distributed mode."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 7_231_044_117  # any constant shared by every gateway


def normalize_url(url: str) -> str:
    """Accept plain `postgresql://` / `postgres://` URLs and pick the driver we ship (psycopg 3)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> sa.Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        pool_timeout=10,
        # A database that has gone silent (a partition, not a refusal) must fail a call within
        # seconds, not hang it for the kernel's TCP timeout: bounded connecting, and
        # unacknowledged sends give up after tcp_user_timeout.
        connect_args={
            "connect_timeout": 5,
            "tcp_user_timeout": 10_000,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 2,
        },
    )


def is_outage(exc: BaseException) -> bool:
    """The database could not be reached or went away mid-call (worth retrying), as opposed
    to a statement it refused (a bug or a conflict, not worth retrying)."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError)


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, start transactions (see _sqlite_begin_immediate).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(connection: sa.Connection) -> None:
    """Take SQLite's write lock when a transaction starts. A transaction that read first and
    then tried to write could otherwise fail at once with "database is locked" when another
    thread wrote in between; this way it waits its turn (busy_timeout)."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def migrate(engine: sa.Engine, revision: str = "head", *, down: bool = False) -> None:
    """Bring the schema to the newest revision (run at start-up and by `mlops migrate`), or up
    or `down` to `revision` (tests of a migration start from the schema before it)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Several gateway replicas may start at once: one migrates, the others wait.
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
            )
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


class Database:
    """Hands out one unit of work (a session in a transaction) per request or message."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
            return True
        except Exception:
            return False
