"""Settings of the queue-throughput benchmark: its ``runscheduler`` workers use this module
(``--settings bench.benchapp.settings``) and the parent passes the same values to
``settings.configure``.

The parent sets ``DURABLE_BENCH_DATABASE`` (the scratch database) and ``DURABLE_BENCH_DSN``
(libpq ``key=value`` pairs without ``dbname``) in the environment the workers inherit, and
may set ``DURABLE_BENCH_CONN_MAX_AGE`` and ``DURABLE_BENCH_POLL_INTERVAL``.
"""

from __future__ import annotations

import os
from typing import Any

_DSN = dict(
    part.split("=", 1)
    for part in os.environ.get(
        "DURABLE_BENCH_DSN", "host=127.0.0.1 port=5432 user=postgres"
    ).split()
)

_raw_max_age = os.environ.get("DURABLE_BENCH_CONN_MAX_AGE", "0")
_CONN_MAX_AGE = None if _raw_max_age.lower() == "none" else int(_raw_max_age)

DATABASES: dict[str, Any] = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("DURABLE_BENCH_DATABASE", "durable_bench"),
        "USER": _DSN.get("user", "postgres"),
        "PASSWORD": _DSN.get("password", ""),
        "HOST": _DSN.get("host", "127.0.0.1"),
        "PORT": _DSN.get("port", "5432"),
        # Django's default is 0: a connection is closed at the end of each request, and a
        # worker closes its connections after each run as at the end of a request.
        "CONN_MAX_AGE": _CONN_MAX_AGE,
    }
}

DEBUG = False
SECRET_KEY = "django-durable-bench-not-secret"  # noqa: S105
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django_durable",
    "bench.benchapp",
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Workers of ``runscheduler --batch`` never idle while the batch lasts (a finished run
# wakes the claim loop at once); the poll interval only paces the last, empty claims.
# ``queue_throughput.py --compare-dbos`` sets it (``DURABLE_BENCH_POLL_INTERVAL``) to the
# polling interval it gives DBOS's queue.
DURABLE: dict[str, Any] = {
    "POLL_INTERVAL": float(os.environ.get("DURABLE_BENCH_POLL_INTERVAL", "0.1"))
}
if "DURABLE_BENCH_PARK_THRESHOLD" in os.environ:  # bench/waiting.py: "none" keeps waits in place
    _park = os.environ["DURABLE_BENCH_PARK_THRESHOLD"]
    DURABLE["PARK_THRESHOLD"] = None if _park.lower() == "none" else float(_park)
