"""The test project's settings with the ``DATABASES`` of a fresh ``startproject``: a SQLite
file and nothing else (no OPTIONS: Django's default transaction mode and timeout).

``DURABLE_TEST_SQLITE_PATH`` names the file.
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DURABLE_TEST_SQLITE_PATH"],
    }
}
