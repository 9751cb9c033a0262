"""The admin in a real browser: an operator's round of schedules and runs.

Each page is saved as a full-page screenshot under the test's ``tmp_path`` (numbered in
order); the directory is printed (``pytest -s`` shows it).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import django_durable as durable
from django_durable.models import RunStatus, WorkflowRun, WorkflowSchedule
from tests import workflows

pytestmark = pytest.mark.django_db(transaction=True)

SCHEDULES = "/admin/django_durable/workflowschedule/"
RUNS = "/admin/django_durable/workflowrun/"


class Shots:
    """Numbered full-page screenshots of ``page`` in ``directory``."""

    def __init__(self, page: Any, directory: Path) -> None:
        self.page, self.directory, self.count = page, directory, 0

    def __call__(self, name: str) -> Path:
        self.count += 1
        path = self.directory / f"{self.count:02}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def success(page: Any) -> Any:
    """The page's success message (use with ``expect``, which waits for the new page)."""
    return page.locator("ul.messagelist li.success")


def run_action(page: Any, action: str) -> None:
    """Choose ``action`` for the rows ticked on a changelist and press Go."""
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def tick(page: Any, label: str) -> None:
    """Tick the changelist row whose link reads ``label``."""
    row = page.locator("#result_list tbody tr", has=page.get_by_role("link", name=label))
    row.locator("input.action-select").check()


def test_an_operators_round_of_the_admin(start_browser, admin_user, tmp_path):
    # A finished 3-step run to look at later (written before Playwright's loop starts).
    with durable.SetWorkflowID("browser-three-steps"):
        assert workflows.three_steps(2) == "value=6"
    page = start_browser()
    from playwright.sync_api import expect

    shot = Shots(page, tmp_path)
    print(f"\nadmin screenshots: {tmp_path}")

    # -- log in
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", admin_user.username)
    page.fill("#id_password", "password")
    shot("login")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    shot("index")

    # -- add a schedule: a bad cron is refused next to the field, then fixed
    page.goto(f"{SCHEDULES}add/")
    page.fill("#id_schedule_name", "browser-daily")
    page.select_option("#id_workflow_name", "scheduled_report")
    page.fill("#id_schedule", "0 25 * * *")
    page.fill("#id_cron_timezone", "America/New_York")
    page.fill("#id_context", '{"from": "browser"}')
    shot("add-schedule")
    page.click("input[name=_save]")
    expect(page.locator(".field-schedule ul.errorlist")).to_contain_text("25")
    expect(page.locator("p.errornote")).to_be_visible()
    assert not WorkflowSchedule.objects.exists()
    shot("bad-cron")
    page.fill("#id_schedule", "0 9 * * *")
    page.click("input[name=_save]")
    page.wait_for_url(f"**{SCHEDULES}")
    expect(success(page)).to_contain_text("was added successfully")
    schedule = WorkflowSchedule.objects.get(schedule_name="browser-daily")
    assert (schedule.schedule, schedule.cron_timezone) == ("0 9 * * *", "America/New_York")
    expect(page.locator("#result_list td.field-cron_timezone")).to_have_text("America/New_York")
    # The next fire time is shown in the schedule's timezone.
    expect(page.locator("#result_list td.field-next_fire")).to_have_text(re.compile(r" E[SD]T$"))
    shot("schedule-added")

    # -- its change page: the next five fire times and the link to its runs
    page.locator("#result_list").get_by_role("link", name="browser-daily").click()
    expect(page.locator(".field-next_fire_times li")).to_have_count(5)
    expect(page.get_by_role("link", name="Runs of this schedule")).to_be_visible()
    shot("schedule-change")

    # -- pause and resume it
    page.goto(SCHEDULES)
    tick(page, "browser-daily")
    run_action(page, "pause")
    expect(success(page)).to_have_text("Paused 1 schedule(s).")
    expect(page.locator("#result_list td.field-status")).to_have_text("Paused")
    shot("paused")
    tick(page, "browser-daily")
    run_action(page, "resume")
    expect(success(page)).to_have_text(re.compile(r"^Resumed 1 schedule\(s\)"))
    expect(page.locator("#result_list td.field-status")).to_have_text("Active")
    shot("resumed")

    # -- trigger it, and follow the message's link to the run
    tick(page, "browser-daily")
    run_action(page, "trigger")
    [run] = WorkflowRun.objects.filter(schedule_name="browser-daily")
    expect(success(page)).to_have_text(f"Triggered 1 run(s): {run.workflow_id}.")
    shot("triggered")
    success(page).get_by_role("link", name=run.workflow_id).click()
    expect(page.locator("div.field-workflow_id")).to_contain_text(run.workflow_id)
    expect(page.locator("div.field-coloured_status")).to_contain_text("ENQUEUED")
    shot("triggered-run")

    # -- backfill three slots through the intermediate page
    page.goto(SCHEDULES)
    tick(page, "browser-daily")
    run_action(page, "backfill")
    expect(page.locator("#id_start")).to_be_visible()
    shot("backfill-form")
    page.fill("#id_start", "2026-01-01T00:00")
    page.fill("#id_end", "2026-01-04T00:00")
    page.click("input[name=preview]")
    expect(page.locator("#backfill-preview td.slot-count")).to_have_text("3")
    assert page.locator("#backfill-preview li").all_inner_texts() == [
        "2026-01-01 09:00:00 EST",
        "2026-01-02 09:00:00 EST",
        "2026-01-03 09:00:00 EST",
    ]
    assert WorkflowRun.objects.filter(schedule_name="browser-daily").count() == 1  # no more
    shot("backfill-preview")
    page.click("input[name=apply]")
    page.wait_for_url(f"**{SCHEDULES}")
    expect(success(page)).to_have_text(
        "Backfilled 1 schedule(s): enqueued 3 run(s); "
        "0 slot(s) already had a run and were not run again."
    )
    assert WorkflowRun.objects.filter(schedule_name="browser-daily").count() == 4
    shot("backfilled")

    # -- the runs, and the step timeline of the 3-step run
    page.goto(RUNS)
    expect(page.locator("#result_list tbody tr")).to_have_count(5)
    shot("runs")
    # With the navigation sidebar collapsed (its « toggle), all seven columns fit beside
    # the filters at 1280 px: the table does not scroll sideways to hide the last ones.
    page.locator("#toggle-nav-sidebar").click()
    expect(page.locator("#nav-sidebar")).to_be_hidden()
    widths = page.locator("#changelist .results").evaluate(
        "el => [el.scrollWidth, el.clientWidth]"
    )
    shot("runs-without-sidebar")
    assert widths[0] <= widths[1], f"the runs table scrolls sideways: {widths}"
    page.locator("#result_list").get_by_role("link", name="browser-three-steps").click()
    expect(page.locator("div.field-coloured_status")).to_contain_text("SUCCESS")
    expect(page.locator("#steps-group tbody tr.has_original")).to_have_count(3)
    names = page.locator("#steps-group td.field-step_name").all_inner_texts()
    assert [name.strip() for name in names] == ["add_one", "double", "to_text"]
    outputs = page.locator("#steps-group td.field-outcome").all_inner_texts()
    assert [text.strip() for text in outputs] == ["3", "6", "'value=6'"]
    expect(page.get_by_text("Add another")).to_be_hidden()
    assert page.locator("input[name=_save]").count() == 0
    assert WorkflowRun.objects.get(pk="browser-three-steps").status == RunStatus.SUCCESS
    shot("run-steps")

    assert page.js_errors == []
    assert sorted(path.name for path in tmp_path.glob("*.png"))[0] == "01-login.png"
