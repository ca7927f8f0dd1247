"""Engine and session construction for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, SQLModel, create_engine

from store import outbox, tables  # noqa: F401  (registers every table on SQLModel.metadata)

SessionFactory = sessionmaker[Session]


# Connections one process's engine may hold (pool plus overflow); docker-compose.yml gives
# PostgreSQL enough for every DealDesk process at once (tests/test_compose.py checks it).
POOL_SIZE = 20
POOL_OVERFLOW = 20
CONNECTIONS_PER_PROCESS = POOL_SIZE + POOL_OVERFLOW


def make_engine(url: str, *, search_path: str | None = None) -> Engine:
    """One engine per process; `search_path` lets tests isolate PostgreSQL schemas."""
    connect_args: dict[str, Any] = {}
    # The API's thread pool (40) and the worker's activity threads (128 by default, most of
    # them idle: see Settings.worker_activity_threads) share one engine; size the pool so a
    # burst waits briefly for a connection instead of failing.
    kwargs: dict[str, Any] = {
        "pool_size": POOL_SIZE,
        "max_overflow": POOL_OVERFLOW,
        "pool_timeout": 10,
    }
    if url.startswith("sqlite"):
        connect_args["check_same_thread"] = False
        # Writers queue on SQLite's single write lock; wait for it rather than fail.
        connect_args["timeout"] = 30
    else:
        kwargs["pool_pre_ping"] = True
        if search_path:
            connect_args["options"] = f"-csearch_path={search_path}"
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while a worker activity writes; NORMAL keeps commits durable
    # across a process crash, which is all the embedded mode promises.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_schema(engine: Engine) -> None:
    """Tables straight from the models, with no migration history: for benchmarks' scratch
    databases only. Real databases are built and upgraded by store.migrate."""
    SQLModel.metadata.create_all(engine)


def session_factory(engine: Engine) -> SessionFactory:
    # expire_on_commit=False: rows read inside a unit of work stay usable after commit,
    # which is what the API's response models need.
    return sessionmaker(bind=engine, class_=Session, expire_on_commit=False)


@contextmanager
def transaction(factory: SessionFactory) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session
