"""Database quirks, each in one small helper: exclusive transactions, advisory locks,
notifications, what a database error means, and what SQLite needs on Django's defaults.

Nothing here knows the tables; the prebuilt SQL of runs and steps is in ``models.sql``.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Any

from django.db import InterfaceError, OperationalError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "django_durable"
"""Channel on which enqueues wake idle workers."""
SCHEDULE_CHANNEL = "django_durable_schedules"
"""Channel on which schedule changes wake idle schedulers."""
WAKE_CHANNEL = "django_durable_wake"
"""Channel on which messages, events and stream writes wake the processes waiting for
them (the payload says what was written)."""

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite statement of ours waits for another writer (Python's default is 5 s,
too short while a worker, a scheduler and a heartbeat write beside a web process)."""


def is_postgresql(using: str) -> bool:
    return connections[using].vendor == "postgresql"


def quote(connection: BaseDatabaseWrapper) -> Callable[[str], str]:
    return connection.ops.quote_name


_sql_cache: dict[tuple[str, str], str] = {}


def cached_sql(connection: BaseDatabaseWrapper, key: str, build: Callable[[], str]) -> str:
    """The SQL text ``key`` for this connection's vendor, built once by ``build()``."""
    cached = _sql_cache.get((connection.vendor, key))
    if cached is None:
        cached = _sql_cache[(connection.vendor, key)] = build()
    return cached


def execute_write(
    connection: BaseDatabaseWrapper, sql: str, params: list[Any], *, savepoint: bool = False
) -> int:
    """Run one write and return its row count; inside an open transaction, in a savepoint
    when ``savepoint`` (so a failure does not break the caller's transaction)."""

    def run() -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return int(cursor.rowcount)

    if savepoint and connection.in_atomic_block:
        with transaction.atomic(using=connection.alias):
            return run()
    return run()


# ---------------------------------------------------------------- SQLite on the defaults


def prepare_connection(connection: BaseDatabaseWrapper) -> None:
    """Give a new SQLite connection of the durable database a long busy timeout, unless the
    project set ``OPTIONS["timeout"]`` itself. Connected to ``connection_created``."""
    if connection.vendor != "sqlite":
        return
    if "timeout" in connection.settings_dict.get("OPTIONS", {}):
        return
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


@contextmanager
def exclusive_transaction(using: str) -> Iterator[None]:
    """A transaction that holds the write lock from its start.

    On SQLite it begins with ``BEGIN IMMEDIATE`` whatever the database's
    ``transaction_mode``: a deferred transaction that reads and then writes fails at once
    with "database is locked" when another connection writes meanwhile (SQLite cannot wait
    for that lock without risking a deadlock). On PostgreSQL, and inside an already open
    transaction, it is an ordinary ``atomic`` block.
    """
    connection = connections[using]
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        with transaction.atomic(using=using):
            yield
        return
    connection.ensure_connection()
    previous = connection.transaction_mode  # type: ignore[attr-defined]
    connection.transaction_mode = "IMMEDIATE"  # type: ignore[attr-defined]
    try:
        with transaction.atomic(using=using):
            connection.transaction_mode = previous  # type: ignore[attr-defined]
            yield
    finally:
        connection.transaction_mode = previous  # type: ignore[attr-defined]


# ---------------------------------------------------------------- what an error means


class ErrorKind(Enum):
    """What a database error raised under a workflow means for the run."""

    LOST = "lost"
    """The database went away (or is unavailable for now): not the step's fault; the run
    stops where it is and resumes from its checkpoints."""
    CONFLICT = "conflict"
    """A serialization failure or deadlock: the transaction may simply be tried again."""
    OWN = "own"
    """The statement's own error (bad SQL, a constraint): the step's outcome."""


_PG_LOST_CLASSES = ("08", "53", "57", "58")
"""Connection exception, insufficient resources, operator intervention, system error."""
_PG_CONFLICT_CODES = ("40001", "40P01")
"""serialization_failure, deadlock_detected."""
_SQLITE_LOST_MESSAGES = (
    "database is locked",
    "database table is locked",
    "disk i/o error",
    "unable to open database",
    "database or disk is full",
)


def error_kind(exc: BaseException, using: str) -> ErrorKind:
    """Classify a database error raised on ``using``."""
    if isinstance(exc, InterfaceError):
        return ErrorKind.LOST
    if not isinstance(exc, OperationalError):
        return ErrorKind.OWN
    connection = connections[using]
    if connection.vendor == "postgresql":
        code = getattr(exc.__cause__, "sqlstate", None) or getattr(exc, "sqlstate", None)
        if code in _PG_CONFLICT_CODES:
            return ErrorKind.CONFLICT
        if code is None or str(code)[:2] in _PG_LOST_CLASSES:
            return ErrorKind.LOST
        return ErrorKind.OWN
    if connection.vendor == "sqlite":
        if exc.__cause__ is None:  # not raised by the driver: nothing says it is the SQL's
            return ErrorKind.LOST
        message = str(exc).lower()
        if any(fragment in message for fragment in _SQLITE_LOST_MESSAGES):
            return ErrorKind.LOST
        return ErrorKind.OWN
    return ErrorKind.LOST


# ---------------------------------------------------------------- locks and notifications


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a name."""
    high = zlib.crc32(b"django_durable")
    low = zlib.crc32(name.encode())
    key = (high << 32) | low
    return key - (1 << 64) if key >= (1 << 63) else key


def advisory_xact_lock(using: str, name: str) -> None:
    """Serialise transactions on ``name`` until commit (PostgreSQL; SQLite is already serial)."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(name)])


def notify(using: str, payload: str, channel: str = NOTIFY_CHANNEL) -> None:
    """Wake listeners of ``channel`` when the current transaction commits (PostgreSQL)."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [channel, payload])


def listen(using: str, channel: str, wake: threading.Event, stopping: threading.Event) -> None:
    """Set ``wake`` on every notification of ``channel`` until ``stopping`` is set.

    PostgreSQL only; runs on its own connection and reconnects after losing it.
    """
    while not stopping.is_set():
        wrapper = connections.create_connection(using)
        try:
            wrapper.ensure_connection()
            raw = wrapper.connection
            raw.execute(f"LISTEN {channel}")
            while not stopping.is_set():
                for _ in raw.notifies(timeout=1.0):
                    wake.set()
        except Exception as exc:
            logger.debug("LISTEN %s connection lost (%s); reconnecting", channel, exc)
            stopping.wait(1.0)
        finally:
            try:
                wrapper.close()
            except Exception:
                logger.debug("Closing the LISTEN connection failed", exc_info=True)


def listen_payloads(
    using: str,
    channel: str,
    deliver: Callable[[str], None],
    stopping: threading.Event,
    ready: threading.Event | None = None,
) -> None:
    """Call ``deliver(payload)`` for every notification of ``channel`` until ``stopping``
    is set; ``ready`` is set while the ``LISTEN`` is live (cleared while reconnecting).

    PostgreSQL only; runs on its own connection and reconnects after losing it.
    """
    while not stopping.is_set():
        wrapper = connections.create_connection(using)
        try:
            wrapper.ensure_connection()
            raw = wrapper.connection
            raw.execute(f"LISTEN {channel}")
            if ready is not None:
                ready.set()
            while not stopping.is_set():
                for notice in raw.notifies(timeout=1.0):
                    deliver(notice.payload)
        except Exception as exc:
            logger.debug("LISTEN %s connection lost (%s); reconnecting", channel, exc)
            stopping.wait(1.0)
        finally:
            if ready is not None:
                ready.clear()
            try:
                wrapper.close()
            except Exception:
                logger.debug("Closing the LISTEN connection failed", exc_info=True)


def close_if_broken(using: str) -> None:
    """Close this thread's connection to ``using`` if an error left it unusable.

    Long-lived threads of ours keep their connection whatever ``CONN_MAX_AGE`` says (a new
    connection per run or per step is the slowest part of a worker); a broken one is
    replaced on next use.
    """
    connection = connections[using]
    if connection.connection is not None and connection.errors_occurred:
        if not connection.is_usable():
            connection.close()
        else:
            connection.errors_occurred = False
