"""Fixtures of the browser tests: Playwright (sync API) driving Debian's Chromium.

The tests are skipped when ``/usr/bin/chromium`` or the ``playwright`` package is missing,
unless ``DURABLE_TEST_BROWSER=1`` is set (CI): then a missing piece fails the test.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

CHROMIUM = Path("/usr/bin/chromium")
REQUIRED = os.environ.get("DURABLE_TEST_BROWSER") == "1"


def missing() -> str | None:
    """Why the browser tests cannot run here, or ``None``."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install playwright)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    problem = missing()
    if problem is None:
        return
    if REQUIRED:
        pytest.fail(f"DURABLE_TEST_BROWSER=1 but {problem}", pytrace=False)
    pytest.skip(f"browser test skipped: {problem}; set DURABLE_TEST_BROWSER=1 to require it")


@pytest.fixture(autouse=True)
def _allow_orm_calls_beside_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    """Playwright's sync API keeps an asyncio loop running in the test's thread, so Django
    would refuse the test's own ORM calls (SynchronousOnlyOperation). The documented way
    out is DJANGO_ALLOW_ASYNC_UNSAFE; it is set for the browser tests only."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def start_browser(live_server: Any) -> Iterator[Callable[[], Any]]:
    """``start_browser()``: a Playwright ``Page`` on ``live_server`` (headless Chromium).

    Started on demand, so a test can write its data before Playwright's event loop runs
    in its thread; closed after the test, before the test database is flushed.
    """
    from playwright.sync_api import sync_playwright

    started: list[Any] = []

    def start() -> Any:
        assert not started, "one browser per test"
        manager = sync_playwright()
        playwright = manager.__enter__()
        started.append(manager)
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        started.append(browser)
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(15_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors  # type: ignore[attr-defined]
        return page

    yield start
    if started:
        # While Playwright's loop runs, Django keeps the ORM connections of this thread in
        # a context-local store (asgiref): the test's queries opened connections of their
        # own. Close them now, or the test database cannot be dropped (PostgreSQL).
        connections.close_all()
        browser = started[1] if len(started) > 1 else None
        if browser is not None:
            browser.close()
        started[0].__exit__(None, None, None)
