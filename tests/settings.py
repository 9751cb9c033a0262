"""Django settings for the django_durable test suite.

``DATABASE_URL`` picks the database (django-environ syntax); the default is a SQLite
file under the system temp directory. The suite runs threads and subprocesses against
the database, so SQLite is always a file (never ``:memory:``), in WAL mode, with
IMMEDIATE transactions and a generous busy timeout.

The test database is a separate file per test process on SQLite, and
``test_<NAME>[_<DURABLE_TEST_DB_SUFFIX>]`` on PostgreSQL, so parallel runs (tox envs)
do not share one.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

TMP_DIR = Path(tempfile.gettempdir())

SQLITE_OPTIONS: dict[str, Any] = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
    "init_command": "PRAGMA journal_mode=WAL;",
}


def _database(url: str | None, suffix: str) -> dict[str, Any]:
    """The ``default`` database from ``url`` (or the SQLite file default)."""
    suffix = re.sub(r"\W", "_", suffix)
    if not url:
        url = f"sqlite:///{TMP_DIR / 'django_durable_tests.sqlite3'}"
    db: dict[str, Any] = dict(environ.Env.db_url_config(url))
    if db["ENGINE"] == "django.db.backends.sqlite3":
        if db["NAME"] in ("", ":memory:") or "mode=memory" in str(db["NAME"]):
            raise ImproperlyConfigured(
                f"DATABASE_URL={url!r}: the test suite needs a SQLite file, not :memory:."
            )
        db["OPTIONS"] = {**SQLITE_OPTIONS, **db.get("OPTIONS", {})}
        test_name = f"django_durable_test_{suffix + '_' if suffix else ''}{os.getpid()}.sqlite3"
        db["TEST"] = {"NAME": str(TMP_DIR / test_name)}
    else:
        db["TEST"] = {"NAME": f"test_{db['NAME']}{'_' + suffix if suffix else ''}"}
    return db


DATABASES = {
    "default": _database(
        os.environ.get("DATABASE_URL"), os.environ.get("DURABLE_TEST_DB_SUFFIX", "")
    ),
}

SECRET_KEY = "django-durable-tests-not-secret"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_durable",
    "tests",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Fast hashing: the admin tests log users in.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

DURABLE: dict[str, Any] = {}

# Child processes of the process tests trace their runs when asked (tests/apps.py exports
# the spans to the file DURABLE_TEST_TRACE_FILE names).
if os.environ.get("DURABLE_TEST_TRACE_FILE"):
    DURABLE["TRACING"] = True

# Child processes of the process tests get short timings through the environment.
for _key in ("DEAD_EXECUTOR_TIMEOUT", "HEARTBEAT_INTERVAL", "POLL_INTERVAL", "PARK_THRESHOLD"):
    if os.environ.get(f"DURABLE_TEST_{_key}"):
        DURABLE[_key] = float(os.environ[f"DURABLE_TEST_{_key}"])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
