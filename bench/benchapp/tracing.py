"""libpq protocol traces of every PostgreSQL connection a process opens
(``DURABLE_BENCH_TRACE=<directory>``), for ``bench/profile_hot_paths.py``.

Each new connection writes ``<directory>/trace-<pid>-<n>-<thread name>.txt`` (libpq's
``PQtrace``, without timestamps): one line per protocol message, ``F`` for what the client
sent and ``B`` for what the server answered. With Django's client-side parameter binding
every statement, ``BEGIN``, ``COMMIT`` and ``SAVEPOINT`` is one ``Query`` message and one
round trip, so the trace counts round trips and commits exactly. :func:`summarise` reads
such a file.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from django.db.backends.signals import connection_created

_counter = itertools.count(1)
_files: list[Any] = []
WRITES = ("INSERT", "UPDATE", "DELETE", "WITH")


def install(directory: str) -> None:
    """Trace every PostgreSQL connection this process opens from now on."""

    def created(sender: Any, connection: Any, **kwargs: Any) -> None:
        if connection.vendor != "postgresql":
            return
        from psycopg import pq

        thread = threading.current_thread().name.replace("/", "_")
        path = Path(directory) / f"trace-{os.getpid()}-{next(_counter)}-{thread}.txt"
        handle = path.open("w")
        _files.append(handle)  # kept open (and alive) as long as the connection may be
        pgconn = connection.connection.pgconn
        pgconn.trace(handle.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    connection_created.connect(created, weak=False)


def summarise(text: str) -> dict[str, int]:
    """Round trips by kind (the first word of each query) and commits, from one trace.

    A commit is a ``COMMIT`` or a write (INSERT, UPDATE, DELETE, or a WITH statement)
    sent while no transaction was open (autocommit).
    """
    counts: Counter[str] = Counter()
    status = "I"
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 4:
            continue
        direction, message, body = parts[0], parts[2], parts[3].strip()
        if direction == "B" and message == "ReadyForQuery":
            status = body
        elif direction == "F" and message == "Query":
            sql = body.strip('"').lstrip()
            verb = sql.split(None, 1)[0].upper() if sql else "?"
            if verb == "SELECT" and "pg_notify" in sql:
                verb = "SELECT pg_notify"
            counts[verb] += 1
            counts["round trips"] += 1
            if verb == "COMMIT" or (status == "I" and verb in WRITES):
                counts["commits"] += 1
        elif direction == "B" and message == "NotificationResponse":
            counts["notifications received"] += 1
    return dict(counts)
