"""Settings of the scheduler-scale benchmark: its ``runscheduler`` process uses this module
(``--settings bench.schedapp.settings``) and the parent passes the same values to
``settings.configure``.

The parent sets ``DURABLE_BENCH_DATABASE`` (the scratch database), ``DURABLE_BENCH_DSN``
(libpq ``key=value`` pairs without ``dbname``) and ``DURABLE_BENCH_CONN_MAX_AGE`` in the
environment the scheduler inherits. ``DURABLE`` is left at the library's defaults
(``POLL_INTERVAL`` 1 s, ``MAX_BACKFILL`` 1000).
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
        # Django's default is 0: the scheduler closes its connection after each tick.
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
    "bench.schedapp",
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
