"""The scratch PostgreSQL database the benchmark scripts create, use and drop.

Each script runs against a database of its own, ``durable_bench_<pid>``, so that two
benchmarks (or a benchmark and the test suite) on one server never see each other's rows,
and so that a database left behind by a killed script is easy to recognise and remove.
The scripts import this module after they have put the repository root on ``sys.path``.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import django
from django.conf import settings

SCRATCH_DATABASE = f"durable_bench_{os.getpid()}"
"""The scratch database of this process (a worker process started by a script computes a
different name here and must be told the parent's)."""

ADMIN_RETRIES = 5
"""Attempts at an administrative statement: the server may be shared with a test run
that restarts it."""

ADMIN_RETRY_SECONDS = 5.0
"""Pause between two attempts, long enough for a restarting server to accept again."""


def pg_admin(dsn: str, sql: str, *, retries: int = ADMIN_RETRIES) -> None:
    """Run one statement (CREATE or DROP DATABASE) on the server's ``postgres`` database.

    The statement runs in autocommit, as those two must. A connection refused or lost
    (``psycopg.OperationalError``) is tried again up to ``retries`` attempts in all,
    because the server may be restarting; the last failure is raised.
    """
    import psycopg

    for attempt in range(retries):
        try:
            with psycopg.connect(dsn, dbname="postgres", autocommit=True) as conn:
                conn.execute(sql)  # type: ignore[arg-type]
            return
        except psycopg.OperationalError:
            if attempt == retries - 1:
                raise
            time.sleep(ADMIN_RETRY_SECONDS)


def configure_django(
    settings_module: str,
    dsn: str,
    *,
    conn_max_age: str | None = None,
    database: str = SCRATCH_DATABASE,
) -> None:
    """Configure Django in this process with ``settings_module``, on the scratch database.

    The settings modules read the database from the environment
    (``DURABLE_BENCH_DATABASE``, ``DURABLE_BENCH_DSN`` and, when given,
    ``DURABLE_BENCH_CONN_MAX_AGE``), so the script sets those first; the worker processes
    it starts inherit them and so use the same database with the same settings. A process
    started by a script passes the parent's scratch database as ``database``.
    """
    os.environ["DURABLE_BENCH_DATABASE"] = database
    os.environ["DURABLE_BENCH_DSN"] = dsn
    if conn_max_age is not None:
        os.environ["DURABLE_BENCH_CONN_MAX_AGE"] = conn_max_age
    module = importlib.import_module(settings_module)
    settings.configure(**{k: getattr(module, k) for k in dir(module) if k.isupper()})
    django.setup()


@contextmanager
def scratch_database(dsn: str, name: str = SCRATCH_DATABASE) -> Iterator[str]:
    """Create the scratch database ``name`` empty, yield its name and drop it when the
    block ends.

    A database of the same name left by an earlier process with this pid is dropped
    first. At the end this process's Django connections are closed before the DROP, which
    runs however the block ends (an error, Ctrl-C, or SIGTERM turned into ``SystemExit``);
    ``WITH (FORCE)`` ends the sessions of worker processes that are still connected.
    """
    from django.db import connections

    drop = f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    pg_admin(dsn, drop)
    pg_admin(dsn, f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        connections.close_all()
        pg_admin(dsn, drop)
