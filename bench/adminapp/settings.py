"""Settings of the admin-scale benchmark, passed to ``settings.configure`` by
``bench/admin_scale.py``: the Django admin with sessions, messages, auth and contenttypes,
on the scratch database.

The script sets ``DURABLE_BENCH_DATABASE`` (the scratch database) and ``DURABLE_BENCH_DSN``
(libpq ``key=value`` pairs without ``dbname``) in the environment before it reads this
module. ``DEBUG`` is off, as in production; the script records queries with
``CaptureQueriesContext``, which works either way.
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

DATABASES: dict[str, Any] = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("DURABLE_BENCH_DATABASE", "durable_bench"),
        "USER": _DSN.get("user", "postgres"),
        "PASSWORD": _DSN.get("password", ""),
        "HOST": _DSN.get("host", "127.0.0.1"),
        "PORT": _DSN.get("port", "5432"),
        "CONN_MAX_AGE": None,  # one request after another on one connection
    }
}

DEBUG = False
ALLOWED_HOSTS = ["testserver"]  # django.test.Client's host
SECRET_KEY = "django-durable-bench-not-secret"  # noqa: S105
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_durable",
    "bench.adminapp",
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
ROOT_URLCONF = "bench.adminapp.urls"
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
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
