"""The admin in a real browser (Playwright driving Debian's Chromium).

Every page is checked at 1280, 1440 and 1920 px with the navigation sidebar open: nothing
may be cut off or scroll sideways. Full-page screenshots of every page at every width go
to ``screenshots/`` (``DURABLE_SCREENSHOTS`` overrides it), named
``<width>-<number>-<page>.png``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from django_durable.models import RunStatus, ScheduleStatus, WorkflowRun, WorkflowSchedule
from tests.browser.pages import (
    DASHBOARD,
    RUNS,
    SCHEDULES,
    SCREENSHOTS,
    WIDTHS,
    cut_off,
    write_data,
)

pytestmark = pytest.mark.django_db(transaction=True)


def login(page: Any, user: Any) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")


def test_every_page_fits_1280_1440_and_1920_px_with_the_sidebar_open(start_browser, admin_user):
    data = write_data()
    page = start_browser()
    login(page, admin_user)
    schedule, code, trigger = data["schedule"], data["code"], data["trigger"]
    pages = [
        ("index", "/admin/"),
        ("dashboard", DASHBOARD),
        ("schedules", SCHEDULES),
        ("schedules-paused", SCHEDULES + "?status__exact=PAUSED"),
        ("schedule-add", SCHEDULES + "add/"),
        ("schedule", f"{SCHEDULES}{schedule}/change/"),
        ("schedule-code", f"{SCHEDULES}{code}/change/"),
        ("schedule-history", f"{SCHEDULES}{schedule}/history/"),
        ("backfill", f"{SCHEDULES}{schedule}/backfill/"),
        ("runs", RUNS),
        ("runs-of-a-schedule", RUNS + "?schedule_name=every-minute-metrics"),
        ("run-steps", RUNS + "browser-three-steps/change/"),
        ("run-children", RUNS + "browser-family/change/"),
        ("run-failed", RUNS + "browser-failed/change/"),
        ("run-retries", RUNS + "browser-retries/change/"),
        ("run-enqueued", RUNS + f"{trigger}/change/".replace(":", "_3A").replace("+", "_2B")),
    ]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    problems: list[str] = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for number, (name, url) in enumerate(pages, start=1):
            response = page.goto(url)
            assert response is not None and response.status == 200, (name, url)
            if name != "index":  # the index has no navigation sidebar
                assert page.locator("#nav-sidebar").is_visible(), name
            page.screenshot(
                path=str(SCREENSHOTS / f"{width}-{number:02}-{name}.png"), full_page=True
            )
            problems += cut_off(page, f"{name} at {width} px")
    assert problems == []
    assert page.js_errors == []
    assert len(list(SCREENSHOTS.glob("*.png"))) == len(WIDTHS) * len(pages)


def test_an_operators_round_with_the_buttons(start_browser, admin_user):
    from playwright.sync_api import expect

    data = write_data()
    page = start_browser()
    login(page, admin_user)
    row = WorkflowSchedule.objects.get(pk=data["schedule"])

    # The run list links to a schedule's page through its badge-coloured strip.
    page.goto(f"{SCHEDULES}{row.pk}/change/")
    expect(page.locator(".durable-strip .durable-cell")).not_to_have_count(0)
    expect(page.locator("#durable-next-fires tbody tr")).to_have_count(10)
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("ul.messagelist li.success")).to_have_text("Paused 1 schedule(s).")
    assert WorkflowSchedule.objects.get(pk=row.pk).status == ScheduleStatus.PAUSED
    page.get_by_role("button", name="Resume").click()
    assert WorkflowSchedule.objects.get(pk=row.pk).status == ScheduleStatus.ACTIVE
    before = WorkflowRun.objects.filter(schedule_name=row.schedule_name).count()
    page.get_by_role("button", name="Trigger now").click()
    expect(page.locator("ul.messagelist li.success")).to_contain_text("Triggered 1 run(s)")
    assert WorkflowRun.objects.filter(schedule_name=row.schedule_name).count() == before + 1

    # Backfill from the schedule's page: preview, then enqueue.
    page.get_by_role("link", name="Backfill…").click()
    page.fill("#id_start", "2026-01-01T00:00")
    page.fill("#id_end", "2026-01-01T00:05")
    page.click("input[name=preview]")
    expect(page.locator("#backfill-preview td.slot-count")).to_have_text("4")
    page.click("input[name=apply]")
    expect(page.locator("ul.messagelist li.success")).to_contain_text("enqueued 4 run(s)")

    # History records what the buttons did.
    page.get_by_role("link", name="History").click()
    texts = page.locator("#change-history tbody tr").all_inner_texts()
    assert any("Paused." in t for t in texts) and any("Backfilled" in t for t in texts)

    # A failed run: the error leads, retry from the failed step.
    page.goto(RUNS + "browser-failed/change/")
    expect(page.locator("#durable-error")).to_contain_text("PaymentDeclined")
    page.get_by_role("button", name="Retry from failed step").click()
    expect(page.locator("ul.messagelist li.success")).to_contain_text("Retried as 1 new run(s)")
    new = WorkflowRun.objects.get(forked_from="browser-failed")
    assert new.status == RunStatus.ENQUEUED
    page.locator("ul.messagelist li.success a").click()
    expect(page.locator(".durable-facts")).to_contain_text("browser-failed")

    # The timeline of the parent run: children nested, a click opens a step's value.
    page.goto(RUNS + "browser-family/change/")
    nested = page.locator("details.durable-step.depth-1")
    expect(nested).not_to_have_count(0)
    first = page.locator("details.durable-step").first
    first.locator("summary").click()
    expect(first.locator("pre")).to_be_visible()
    assert re.fullmatch(r"\d+", first.locator("pre").inner_text().strip())
    assert page.js_errors == []
