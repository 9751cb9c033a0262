"""The admin as the operations console: schedules and runs, through the test client.

Every action is checked with a user holding exactly the permissions it needs, and with one
that lacks them (the action is not offered, and posting it anyway writes nothing).

Most tests only write through the admin and roll back; the tests that execute runs (on
worker threads with their own connections) need real commits: they are marked EXECUTES.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

import django_durable as durable
from django_durable import registry
from django_durable.models import (
    RunStatus,
    ScheduleOrigin,
    ScheduleStatus,
    StepOutput,
    WorkflowRun,
    WorkflowSchedule,
)
from django_durable.schedules import sync_code_schedules
from django_durable.testing import run_until_idle
from tests import workflows
from tests.helpers import step_rows

pytestmark = pytest.mark.django_db
EXECUTES = pytest.mark.django_db(transaction=True)

SCHEDULES = reverse("admin:django_durable_workflowschedule_changelist")
SCHEDULE_ADD = reverse("admin:django_durable_workflowschedule_add")
RUNS = reverse("admin:django_durable_workflowrun_changelist")
NEW_YORK = "America/New_York"
TOKYO = "Asia/Tokyo"
CODE_SCHEDULE = "code-every-5-minutes"
INTERNAL = registry.INTERNAL_QUEUE_NAME


@pytest.fixture(autouse=True)
def _clear_fired() -> Iterator[None]:
    workflows.FIRED.clear()
    workflows.ADMIN_FAIL.clear()
    yield
    workflows.FIRED.clear()
    workflows.ADMIN_FAIL.clear()


# ---------------------------------------------------------------- helpers


def operator(client: Client, *codenames: str) -> User:
    """Log ``client`` in as a staff user holding exactly these django_durable permissions."""
    user = User.objects.create_user("operator", password="pw", is_staff=True)  # noqa: S106
    for codename in codenames:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="django_durable", codename=codename)
        )
    client.force_login(user)
    return user


def create(
    name: str = "daily", fn: Any = None, cron: str = "0 9 * * *", **kwargs: Any
) -> WorkflowSchedule:
    durable.create_schedule(
        schedule_name=name, workflow_fn=fn or workflows.scheduled_report, schedule=cron, **kwargs
    )
    return WorkflowSchedule.objects.get(schedule_name=name)


def schedule_url(row: WorkflowSchedule, view: str = "change") -> str:
    return reverse(f"admin:django_durable_workflowschedule_{view}", args=[row.pk])


def run_url(workflow_id: str) -> str:
    return reverse("admin:django_durable_workflowrun_change", args=[workflow_id])


def act(client: Client, url: str, action: str, pks: list[Any], **data: Any) -> Any:
    """Post a changelist action (as the changelist's form does) for the rows ``pks``, and
    follow its redirect: ``messages_of`` then gives the messages the user sees."""
    payload = {"action": action, ACTION_CHECKBOX_NAME: [str(pk) for pk in pks], **data}
    if not any(key in data for key in ("start", "preview", "apply")):
        payload["index"] = "0"
    return client.post(url, payload, follow=True)


def redirected(response: Any) -> bool:
    return bool(response.redirect_chain) and response.redirect_chain[-1][1] == 302


def messages_of(response: Any) -> list[str]:
    """The messages shown on the page a followed response ends on."""
    if response.context is None or "messages" not in response.context:
        return []
    return [str(message) for message in response.context["messages"]]


def offered_actions(client: Client, url: str) -> set[str]:
    response = client.get(url)
    assert response.status_code == 200
    form = response.context["action_form"]
    if form is None:
        return set()
    return {name for name, _ in form.fields["action"].choices if name}


def text(response: Any) -> str:
    return str(response.content.decode())


def shown(content: str) -> str:
    """``content`` as a reader sees it: tags replaced by spaces, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", content)).split())


def cells(content: str) -> dict[str, str]:
    """The text of each changelist cell by column (the last row's, for several)."""
    found = re.findall(r'<t[dh] class="field-(\w+)[^"]*">(.*?)</t[dh]>', content, re.S)
    return {name: shown(value) for name, value in found}


def field_row(response: Any, field: str) -> str:
    """The HTML of the admin form row of ``field`` (its label, widget, errors, help)."""
    content = text(response)
    match = re.search(rf'<div class="form-row[^"]*\bfield-{field}\b', content)
    assert match is not None, f"no form row for {field}"
    end = content.find('<div class="form-row', match.end())
    return content[match.start() : end if end != -1 else len(content)]


def field_errors(response: Any, field: str) -> str:
    """The error text shown in ``field``'s row (unescaped), empty if none."""
    row = field_row(response, field)
    lists = re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', row, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", " ".join(lists))).strip()


def schedule_form(**overrides: Any) -> dict[str, Any]:
    data = {
        "schedule_name": "nightly",
        "workflow_name": "scheduled_report",
        "schedule": "0 3 * * *",
        "cron_timezone": NEW_YORK,
        "queue_name": "",
        "context": '{"team": "ops"}',
        "_save": "Save",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def local(value: datetime, zone: str) -> str:
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def ny(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=ZoneInfo(NEW_YORK))


# ---------------------------------------------------------------- schedules: changelist


def test_the_schedules_changelist_shows_every_column(admin_client):
    create("yearly", cron="0 0 1 1 *", cron_timezone=TOKYO, queue_name="queues-scheduled")
    row = WorkflowSchedule.objects.get(schedule_name="yearly")
    row.last_fired_at = datetime(2026, 1, 1, 0, 0, tzinfo=ZoneInfo(TOKYO))
    row.save()

    response = admin_client.get(SCHEDULES)

    assert response.status_code == 200
    content = text(response)
    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', content)
    assert headers == [
        "name_and_workflow",
        "cron",
        "status_badge",
        "next_fire",
        "last_fired",
        "queue",
    ]
    values = cells(content)
    # The name over its workflow; the cron over its timezone.
    assert values["name_and_workflow"] == "yearly scheduled_report"
    assert values["cron"] == f"0 0 1 1 * {TOKYO}"
    assert values["status_badge"] == "active"
    assert 'class="durable-badge active" title="ACTIVE"' in content
    # Midnight on 1 January in Tokyo, shown in Tokyo time (not 15:00 UTC the day before).
    next_year = timezone.now().astimezone(ZoneInfo(TOKYO)).year + 1
    assert values["next_fire"] == f"{next_year}-01-01 00:00:00 JST"
    assert values["last_fired"] == "2026-01-01 00:00:00 JST"
    assert values["queue"] == "queues-scheduled"
    sync_code_schedules(timezone.now())
    listed = cells(text(admin_client.get(SCHEDULES, {"origin__exact": "code"})))
    assert listed["name_and_workflow"] == f"{CODE_SCHEDULE} code_scheduled · in code"


def test_next_fire_is_shown_in_each_schedules_own_timezone(admin_client):
    rows = [
        create("in-new-york", cron_timezone=NEW_YORK),
        create("in-tokyo", cron_timezone=TOKYO),
        create("in-utc"),
    ]
    content = shown(text(admin_client.get(SCHEDULES)))
    for row, zone in zip(rows, (NEW_YORK, TOKYO, "UTC"), strict=True):
        assert row.next_fire_at is not None
        assert local(row.next_fire_at, zone) in content
    assert local(rows[1].next_fire_at, "UTC") not in content  # type: ignore[arg-type]


def test_a_paused_schedule_shows_no_stale_next_fire(admin_client):
    create("paused-one")
    durable.pause_schedule("paused-one")
    WorkflowSchedule.objects.filter(schedule_name="paused-one").update(
        next_fire_at=timezone.now() - timedelta(days=3)
    )
    values = cells(text(admin_client.get(SCHEDULES)))
    assert values["next_fire"] == "- (paused)"
    assert values["status_badge"] == "paused"


def test_last_fired_counts_triggers_and_backfills(admin_client):
    create("by-hand")
    assert cells(text(admin_client.get(SCHEDULES)))["last_fired"] == "-"
    durable.trigger_schedule("by-hand")
    run = WorkflowRun.objects.get(schedule_name="by-hand")
    assert cells(text(admin_client.get(SCHEDULES)))["last_fired"] == local(run.created_at, "UTC")


def test_a_code_defined_schedule_shows_its_origin_and_filters_work(admin_client):
    sync_code_schedules(timezone.now())
    create("runtime-one", cron_timezone=NEW_YORK, queue_name="queues-scheduled")
    create("runtime-two", fn=workflows.backup_database)
    durable.pause_schedule("runtime-two")

    def names(query: dict[str, str]) -> list[str]:
        response = admin_client.get(SCHEDULES, query)
        assert response.status_code == 200
        return [row.schedule_name for row in response.context["cl"].result_list]

    assert names({}) == [CODE_SCHEDULE, "runtime-one", "runtime-two"]
    assert names({"origin__exact": "code"}) == [CODE_SCHEDULE]
    assert names({"origin__exact": "runtime"}) == ["runtime-one", "runtime-two"]
    assert names({"status__exact": "PAUSED"}) == ["runtime-two"]
    assert names({"status__exact": "ACTIVE"}) == [CODE_SCHEDULE, "runtime-one"]
    assert names({"cron_timezone": NEW_YORK}) == ["runtime-one"]
    assert names({"queue_name": "queues-scheduled"}) == ["runtime-one"]
    assert names({"q": "runtime-t"}) == ["runtime-two"]  # by schedule name
    assert names({"q": "backup_database"}) == ["runtime-two"]  # a workflow's exact name
    assert names({"q": "backup_data"}) == []  # not a part of it: no index serves that
    content = text(admin_client.get(SCHEDULES))
    assert "Code (@scheduled)" in content


def test_the_schedules_changelist_has_the_four_filters_and_no_full_count(admin_client):
    create("one", cron_timezone=NEW_YORK)
    response = admin_client.get(SCHEDULES, {"q": "one"})
    cl = response.context["cl"]
    assert [spec.title for spec in cl.filter_specs] == ["status", "workflow", "queue", "origin"]
    assert cl.show_full_result_count is False
    assert "total)" not in text(response)  # no "(N total)": no full COUNT(*) per page
    # Timezones: by URL, without a sidebar list that would scan the table.
    create("two", cron_timezone=TOKYO)
    listed = admin_client.get(SCHEDULES, {"cron_timezone": TOKYO})
    assert [r.schedule_name for r in listed.context["cl"].result_list] == ["two"]
    listed = admin_client.get(SCHEDULES, {"workflow_name": "scheduled_report"})
    assert {r.schedule_name for r in listed.context["cl"].result_list} == {"one", "two"}


def test_the_changelists_filters_never_scan_the_table_for_their_choices(admin_client):
    create("one", cron_timezone=NEW_YORK)
    _enqueue(2)
    for url in (SCHEDULES, RUNS, RUNS + "?_facets=True", SCHEDULES + "?_facets=True"):
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(url).status_code == 200
        distinct = [q["sql"] for q in queries if "DISTINCT" in q["sql"].upper()]
        # The one DISTINCT is the schedules' workflow filter: an index-only scan of
        # durable_schedule_workflow. The runs' date hierarchy makes none.
        assert all(
            'SELECT DISTINCT "django_durable_workflowschedule"."workflow_name"' in sql
            for sql in distinct
        ), distinct
        assert not any(
            "COUNT(" in q["sql"].upper() and "CASE" in q["sql"].upper() for q in queries
        )


def _changelist_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_the_schedules_changelist_makes_no_query_per_row(admin_client):
    for index in range(5):
        create(f"s-{index:02}", cron_timezone=NEW_YORK if index % 2 else None)
    five = _changelist_queries(admin_client, SCHEDULES)
    for index in range(5, 50):
        create(f"s-{index:02}", cron_timezone=TOKYO if index % 2 else None)
    fifty = _changelist_queries(admin_client, SCHEDULES)

    assert WorkflowSchedule.objects.count() == 50
    assert fifty == five


# ---------------------------------------------------------------- schedules: pause, resume


def test_pause_and_resume_actions_report_their_counts(client):
    operator(client, "view_workflowschedule", "change_workflowschedule")
    rows = [create("a"), create("b"), create("c")]
    assert {"pause", "resume"} <= offered_actions(client, SCHEDULES)

    response = act(client, SCHEDULES, "pause", [rows[0].pk, rows[1].pk])
    assert redirected(response)
    assert messages_of(response) == ["Paused 2 schedule(s)."]
    statuses = dict(WorkflowSchedule.objects.values_list("schedule_name", "status"))
    assert statuses == {"a": "PAUSED", "b": "PAUSED", "c": "ACTIVE"}

    response = act(client, SCHEDULES, "resume", [row.pk for row in rows])
    assert redirected(response)
    assert messages_of(response) == [
        "Resumed 3 schedule(s); each fires from its next slot.",
    ]
    assert set(WorkflowSchedule.objects.values_list("status", flat=True)) == {"ACTIVE"}


def test_resume_moves_next_fire_to_the_first_slot_after_now(admin_client):
    row = create("a", cron="*/5 * * * *")
    old = timezone.now() - timedelta(days=2)
    WorkflowSchedule.objects.filter(pk=row.pk).update(status="PAUSED", next_fire_at=old)

    act(admin_client, SCHEDULES, "resume", [row.pk])

    row.refresh_from_db()
    assert row.status == ScheduleStatus.ACTIVE
    assert row.next_fire_at is not None
    assert timezone.now() < row.next_fire_at <= timezone.now() + timedelta(minutes=5)


def test_pause_and_resume_need_the_change_permission(client):
    operator(client, "view_workflowschedule", "trigger_workflowschedule")
    row = create("a")
    offered = offered_actions(client, SCHEDULES)
    assert "trigger" in offered
    assert offered.isdisjoint({"pause", "resume", "backfill", "delete_selected"})

    response = act(client, SCHEDULES, "pause", [row.pk])

    assert WorkflowSchedule.objects.get(pk=row.pk).status == ScheduleStatus.ACTIVE
    assert not any("Paused" in message for message in messages_of(response))


def test_a_code_defined_schedule_can_be_paused_and_resumed(admin_client):
    sync_code_schedules(timezone.now())
    row = WorkflowSchedule.objects.get(schedule_name=CODE_SCHEDULE)

    response = act(admin_client, SCHEDULES, "pause", [row.pk])
    assert messages_of(response) == ["Paused 1 schedule(s)."]
    assert WorkflowSchedule.objects.get(pk=row.pk).status == ScheduleStatus.PAUSED

    response = act(admin_client, SCHEDULES, "resume", [row.pk])
    assert messages_of(response) == ["Resumed 1 schedule(s); each fires from its next slot."]
    assert WorkflowSchedule.objects.get(pk=row.pk).status == ScheduleStatus.ACTIVE


# ---------------------------------------------------------------- schedules: trigger


def test_view_only_users_see_no_schedule_actions_and_posting_them_writes_nothing(client):
    operator(client, "view_workflowschedule")
    row = create("a", cron_timezone=NEW_YORK)

    response = client.get(SCHEDULES)
    assert response.status_code == 200
    assert offered_actions(client, SCHEDULES).isdisjoint(
        {"pause", "resume", "trigger", "backfill", "delete_selected"}
    )

    for action in ("trigger", "pause"):
        act(client, SCHEDULES, action, [row.pk])
    act(client, SCHEDULES, "backfill", [row.pk], start="2026-01-01T00:00", end="2026-01-04T00:00")
    response = act(
        client,
        SCHEDULES,
        "backfill",
        [row.pk],
        start="2026-01-01T00:00",
        end="2026-01-04T00:00",
        apply="Enqueue the runs",
    )

    assert response.status_code in (200, 302)
    assert WorkflowRun.objects.count() == 0
    assert WorkflowSchedule.objects.get(pk=row.pk).status == ScheduleStatus.ACTIVE


def test_trigger_needs_the_trigger_permission(client):
    operator(client, "view_workflowschedule", "change_workflowschedule")
    row = create("a")
    assert "trigger" not in offered_actions(client, SCHEDULES)

    act(client, SCHEDULES, "trigger", [row.pk])

    assert WorkflowRun.objects.count() == 0


def test_trigger_enqueues_a_run_per_schedule_and_links_to_them(client):
    operator(client, "view_workflowschedule", "trigger_workflowschedule", "view_workflowrun")
    rows = [create("a"), create("b", queue_name="queues-scheduled")]
    create("untouched")

    response = act(client, SCHEDULES, "trigger", [row.pk for row in rows])

    assert redirected(response)
    runs = WorkflowRun.objects.order_by("schedule_name")
    assert [(run.schedule_name, run.status, run.queue_name) for run in runs] == [
        ("a", RunStatus.ENQUEUED, INTERNAL),
        ("b", RunStatus.ENQUEUED, "queues-scheduled"),
    ]
    assert all(run.workflow_id.startswith(f"sched-{run.schedule_name}-trigger-") for run in runs)
    [message] = messages_of(response)
    assert message.startswith("Triggered 2 run(s): <a href=")
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', message)]
    assert len(hrefs) == 2
    opened = [client.get(href) for href in hrefs]
    assert [page.status_code for page in opened] == [200, 200]
    assert sorted(page.context["original"].pk for page in opened) == sorted(run.pk for run in runs)


def test_the_trigger_link_opens_the_run_of_a_schedule_whose_name_has_a_comma(admin_client):
    row = create("reports,eu")
    response = act(admin_client, SCHEDULES, "trigger", [row.pk])
    [message] = messages_of(response)
    href = html.unescape(re.search(r'href="([^"]+)"', message).group(1))  # type: ignore[union-attr]
    opened = admin_client.get(href)
    assert opened.context["original"].schedule_name == "reports,eu"


def test_trigger_works_on_a_paused_schedule(admin_client):
    row = create("a")
    durable.pause_schedule("a")
    response = act(admin_client, SCHEDULES, "trigger", [row.pk])
    assert "1 run(s)" in messages_of(response)[0]
    assert WorkflowRun.objects.filter(schedule_name="a").count() == 1


def test_trigger_of_a_schedule_whose_workflow_is_gone_reports_an_error(admin_client):
    row = create("a")
    ok = create("b")
    WorkflowSchedule.objects.filter(pk=row.pk).update(workflow_name="no_such_workflow")

    response = act(admin_client, SCHEDULES, "trigger", [row.pk, ok.pk])

    [triggered, failed] = messages_of(response)
    assert triggered.startswith("Triggered 1 run(s): <a href=")
    assert failed.startswith("Not triggered: a: ")
    assert "no_such_workflow" in failed
    assert list(WorkflowRun.objects.values_list("schedule_name", flat=True)) == ["b"]


@EXECUTES
def test_a_triggered_run_executes_with_the_schedules_context(admin_client):
    row = create("a", cron_timezone=NEW_YORK, context={"k": [1, 2]})
    act(admin_client, SCHEDULES, "trigger", [row.pk])

    assert run_until_idle() == 1

    [run] = WorkflowRun.objects.all()
    assert run.status == RunStatus.SUCCESS
    [(name, scheduled_at, context)] = workflows.FIRED
    assert (name, context) == ("scheduled_report", {"k": [1, 2]})
    assert scheduled_at.tzinfo == ZoneInfo(NEW_YORK)


# ---------------------------------------------------------------- schedules: backfill


def backfill_page(client: Client, rows: list[WorkflowSchedule], **data: Any) -> Any:
    response = act(client, SCHEDULES, "backfill", [row.pk for row in rows], **data)
    assert response.status_code == 200, messages_of(response)
    return response


def preview_rows(response: Any) -> dict[str, tuple[int | None, list[str] | str]]:
    """``{schedule: (slot count, [slots shown])}``, or ``(None, error)`` per preview row."""
    content = text(response)
    table = re.search(r'<table id="backfill-preview"[^>]*>(.*?)</table>', content, re.S)
    assert table is not None, "no preview table"
    result: dict[str, tuple[int | None, list[str] | str]] = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)[1:]:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        name = html.unescape(cells[0])
        if 'class="slot-count"' in row:
            slots = [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", cells[2])]
            result[name] = (int(cells[1]), slots)
        else:
            result[name] = (None, html.unescape(cells[1]).strip().removeprefix("Refused: "))
    return result


def has_apply_button(response: Any) -> bool:
    return 'name="apply"' in text(response)


def test_the_backfill_action_shows_a_range_form_in_the_schedules_timezone(client):
    operator(client, "view_workflowschedule", "backfill_workflowschedule")
    row = create("a", cron_timezone=NEW_YORK)
    assert "backfill" in offered_actions(client, SCHEDULES)

    response = backfill_page(client, [row])

    content = text(response)
    assert 'name="start"' in content and 'name="end"' in content
    assert "<strong>America/New_York</strong>" in content
    assert not has_apply_button(response)
    assert "backfill-preview" not in content
    assert WorkflowRun.objects.count() == 0


def test_the_backfill_preview_counts_slots_in_the_schedules_timezone(client):
    operator(client, "view_workflowschedule", "backfill_workflowschedule")
    row = create("a", cron="0 9 * * *", cron_timezone=NEW_YORK)

    response = backfill_page(
        client, [row], start="2026-01-01T00:00", end="2026-01-04T00:00", preview="Preview"
    )

    assert preview_rows(response) == {
        "a": (
            3,
            [
                "2026-01-01 09:00:00 EST",
                "2026-01-02 09:00:00 EST",
                "2026-01-03 09:00:00 EST",
            ],
        )
    }
    assert has_apply_button(response)
    assert WorkflowRun.objects.count() == 0  # a preview enqueues nothing


def test_a_long_backfill_preview_shows_the_first_and_last_three_slots(admin_client):
    row = create("a", cron="0 9 * * *", cron_timezone=NEW_YORK)
    response = backfill_page(
        admin_client, [row], start="2026-03-01T00:00", end="2026-03-21T00:00", preview="Preview"
    )
    count, slots = preview_rows(response)["a"]
    assert count == 20
    # 8 March is the DST change: the wall clock stays at 09:00, the zone becomes EDT.
    assert slots == [
        "2026-03-01 09:00:00 EST",
        "2026-03-02 09:00:00 EST",
        "2026-03-03 09:00:00 EST",
        "…",
        "2026-03-18 09:00:00 EDT",
        "2026-03-19 09:00:00 EDT",
        "2026-03-20 09:00:00 EDT",
    ]


def test_the_backfill_preview_makes_no_query_per_schedule(admin_client):
    rows = [create(f"p-{index}", cron="0 9 * * *") for index in range(8)]

    def preview_queries(selected: list[Any]) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = backfill_page(
                admin_client,
                selected,
                start="2026-01-01T00:00",
                end="2026-01-04T00:00",
                preview="Preview",
            )
        assert len(preview_rows(response)) == len(selected)
        return len(queries)

    assert preview_queries(rows[:2]) == preview_queries(rows)


def test_backfill_apply_enqueues_the_slots_and_reports_the_count(client):
    operator(client, "view_workflowschedule", "backfill_workflowschedule")
    row = create("a", cron="0 9 * * *", cron_timezone=NEW_YORK)

    response = act(
        client,
        SCHEDULES,
        "backfill",
        [row.pk],
        start="2026-01-01T00:00",
        end="2026-01-04T00:00",
        apply="Enqueue the runs",
    )

    assert redirected(response)
    assert messages_of(response) == [
        "Backfilled 1 schedule(s): enqueued 3 run(s); "
        "0 slot(s) already had a run and were not run again."
    ]
    ids = sorted(WorkflowRun.objects.values_list("workflow_id", flat=True))
    # 09:00 in New York in January is 14:00 UTC: the range was read in the schedule's zone.
    assert ids == [
        "sched-a-2026-01-01T14:00:00+00:00",
        "sched-a-2026-01-02T14:00:00+00:00",
        "sched-a-2026-01-03T14:00:00+00:00",
    ]
    assert set(WorkflowRun.objects.values_list("status", "schedule_name")) == {
        (RunStatus.ENQUEUED, "a")
    }


def test_backfill_reports_slots_that_already_had_a_run_and_does_not_rerun_them(admin_client):
    row = create("a", cron="0 9 * * *", cron_timezone=NEW_YORK)
    durable.backfill_schedule("a", ny(2026, 1, 1), ny(2026, 1, 3))  # 1 and 2 January
    before = dict(WorkflowRun.objects.values_list("workflow_id", "created_at"))
    assert len(before) == 2

    response = act(
        admin_client,
        SCHEDULES,
        "backfill",
        [row.pk],
        start="2026-01-01T00:00",
        end="2026-01-05T00:00",
        apply="Enqueue the runs",
    )

    assert messages_of(response) == [
        "Backfilled 1 schedule(s): enqueued 2 run(s); "
        "2 slot(s) already had a run and were not run again."
    ]
    after = dict(WorkflowRun.objects.values_list("workflow_id", "created_at"))
    assert len(after) == 4
    assert {key: after[key] for key in before} == before  # the existing rows are untouched


@EXECUTES
def test_backfilled_runs_execute_once_even_when_backfilled_again(admin_client):
    row = create("a", cron="0 9 * * *", cron_timezone=NEW_YORK, context="ctx")
    data = {"start": "2026-01-01T00:00", "end": "2026-01-04T00:00", "apply": "Enqueue"}
    act(admin_client, SCHEDULES, "backfill", [row.pk], **data)
    assert run_until_idle() == 3

    response = act(admin_client, SCHEDULES, "backfill", [row.pk], **data)

    assert messages_of(response) == [
        "Backfilled 1 schedule(s): enqueued 0 run(s); "
        "3 slot(s) already had a run and were not run again."
    ]
    assert run_until_idle() == 0
    assert sorted(scheduled_at for _, scheduled_at, _ in workflows.FIRED) == [
        ny(2026, 1, day, 9) for day in (1, 2, 3)
    ]
    assert set(WorkflowRun.objects.values_list("status", flat=True)) == {RunStatus.SUCCESS}


@override_settings(DURABLE={"MAX_BACKFILL": 5})
def test_a_schedule_beyond_max_backfill_is_refused_and_the_others_are_enqueued(admin_client):
    small = create("small", cron="0 9 * * *", cron_timezone=NEW_YORK)
    big = create("big", cron="0 * * * *", cron_timezone=NEW_YORK)
    data = {"start": "2026-01-01T00:00", "end": "2026-01-04T00:00"}

    response = backfill_page(admin_client, [small, big], preview="Preview", **data)

    previews = preview_rows(response)
    assert previews["small"][0] == 3
    count, error = previews["big"]
    assert count is None
    assert "more than 5 runs" in error and "MAX_BACKFILL" in error
    assert "At most 5 slots per schedule" in text(response)
    assert "1 schedule refused" in text(response)
    assert has_apply_button(response)  # the small one can still be enqueued
    assert WorkflowRun.objects.count() == 0

    response = act(admin_client, SCHEDULES, "backfill", [small.pk, big.pk], apply="E", **data)

    assert redirected(response)
    found = messages_of(response)
    assert any(m.startswith("Not backfilled: big: ") and "MAX_BACKFILL" in m for m in found)
    assert (
        "Backfilled 1 schedule(s): enqueued 3 run(s); "
        "0 slot(s) already had a run and were not run again."
    ) in found
    assert set(WorkflowRun.objects.values_list("schedule_name", flat=True)) == {"small"}
    assert WorkflowRun.objects.count() == 3


@override_settings(DURABLE={"MAX_BACKFILL": 5})
def test_a_backfill_with_every_schedule_refused_offers_nothing_to_enqueue(admin_client):
    big = create("big", cron="0 * * * *")
    data = {"start": "2026-01-01T00:00", "end": "2026-01-04T00:00"}
    response = backfill_page(admin_client, [big], preview="Preview", **data)
    assert not has_apply_button(response)
    response = backfill_page(admin_client, [big], apply="Enqueue the runs", **data)
    assert not has_apply_button(response)
    assert WorkflowRun.objects.count() == 0


def test_backfill_needs_the_backfill_permission(client):
    operator(
        client, "view_workflowschedule", "change_workflowschedule", "trigger_workflowschedule"
    )
    row = create("a", cron="0 9 * * *")
    assert "backfill" not in offered_actions(client, SCHEDULES)

    act(
        client,
        SCHEDULES,
        "backfill",
        [row.pk],
        start="2026-01-01T00:00",
        end="2026-01-04T00:00",
        apply="Enqueue the runs",
    )

    assert WorkflowRun.objects.count() == 0


def test_a_backfill_end_before_its_start_is_an_error_next_to_the_end(admin_client):
    row = create("a")
    response = backfill_page(
        admin_client, [row], start="2026-01-04T00:00", end="2026-01-01T00:00", apply="Enqueue"
    )
    assert response.context["form"].errors == {"end": ["The end must be after the start."]}
    assert "The end must be after the start." in text(response)
    assert not has_apply_button(response)
    assert WorkflowRun.objects.count() == 0


def test_a_backfill_of_schedules_in_different_timezones_reads_the_range_in_utc(admin_client):
    rows = [
        create("ny", cron="0 9 * * *", cron_timezone=NEW_YORK),
        create("tokyo", cron="0 9 * * *", cron_timezone=TOKYO),
    ]
    response = backfill_page(
        admin_client, rows, start="2026-01-01T00:00", end="2026-01-02T00:00", preview="Preview"
    )
    assert "different" in text(response) and "read in UTC" in text(response)
    assert preview_rows(response) == {
        "ny": (1, ["2026-01-01 09:00:00 EST"]),  # 14:00 UTC
        "tokyo": (0, []),  # 09:00 in Tokyo is 00:00 UTC: the range is exclusive
    }


# ---------------------------------------------------------------- schedules: add and change


def test_the_add_form_offers_only_registered_schedulable_workflows(admin_client):
    response = admin_client.get(SCHEDULE_ADD)
    assert response.status_code == 200
    choices = dict(response.context["adminform"].form.fields["workflow_name"].choices)
    assert {"scheduled_report", "backup_database", "MyScheduledClass.scheduled_wf"} <= set(choices)
    assert "one_argument" not in choices  # takes one argument, not (scheduled_at, context)
    assert "three_steps" not in choices
    assert "InvalidScheduled.instance_workflow" not in choices  # an instance method
    queues = dict(response.context["adminform"].form.fields["queue_name"].choices)
    assert "queues-scheduled" in queues and INTERNAL not in queues
    assert 'list="id_cron_timezone_zones"' in text(response)  # IANA names as suggestions
    assert '<option value="America/New_York">' in text(response)


def test_adding_a_schedule_through_the_admin(client):
    operator(client, "view_workflowschedule", "add_workflowschedule")
    response = client.post(SCHEDULE_ADD, schedule_form(automatic_backfill="on"))

    assert response.status_code == 302, response.context["adminform"].form.errors
    row = WorkflowSchedule.objects.get()
    assert (row.schedule_name, row.workflow_name, row.workflow_class_name) == (
        "nightly",
        "scheduled_report",
        None,
    )
    assert (row.schedule, row.cron_timezone, row.queue_name) == ("0 3 * * *", NEW_YORK, None)
    assert row.context == {"team": "ops"}
    assert row.automatic_backfill is True
    assert row.origin == ScheduleOrigin.RUNTIME
    assert row.status == ScheduleStatus.ACTIVE
    assert row.next_fire_at is not None
    assert row.next_fire_at.astimezone(ZoneInfo(NEW_YORK)).hour == 3
    assert row.next_fire_at > timezone.now()


def test_adding_a_schedule_of_a_class_workflow_records_its_class(admin_client):
    response = admin_client.post(
        SCHEDULE_ADD,
        schedule_form(workflow_name="MyScheduledClass.class_wf", queue_name="queues-scheduled"),
    )
    assert response.status_code == 302
    row = WorkflowSchedule.objects.get()
    assert (row.workflow_name, row.workflow_class_name, row.queue_name) == (
        "MyScheduledClass.class_wf",
        "MyScheduledClass",
        "queues-scheduled",
    )


@pytest.mark.parametrize(
    "workflow_name",
    ["os.system", "one_argument", "three_steps", "InvalidScheduled.instance_workflow", ""],
)
def test_an_unregistered_or_unschedulable_workflow_is_rejected(admin_client, workflow_name):
    response = admin_client.post(SCHEDULE_ADD, schedule_form(workflow_name=workflow_name))

    assert response.status_code == 200
    errors = field_errors(response, "workflow_name")
    if workflow_name:
        assert f"{workflow_name} is not one of the available choices" in errors
    else:
        assert "This field is required." in errors
    assert WorkflowSchedule.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("schedule", "61 * * * *", "61"),
        ("schedule", "every day", "every day"),
        ("schedule", "", "This field is required."),
        ("cron_timezone", "Mars/Olympus_Mons", "Mars/Olympus_Mons"),
        ("queue_name", "no-such-queue", "no-such-queue is not one of the available choices"),
        ("queue_name", INTERNAL, "is not one of the available choices"),
        ("context", "{not json", "Enter a valid JSON."),
        ("schedule_name", "tab\tname", "control characters"),
        ("schedule_name", "x" * 201, "at most 200"),
    ],
)
def test_invalid_fields_are_rejected_with_a_message_next_to_the_field(
    admin_client, field, value, message
):
    response = admin_client.post(SCHEDULE_ADD, schedule_form(**{field: value}))

    assert response.status_code == 200
    assert message in field_errors(response, field)
    assert WorkflowSchedule.objects.count() == 0


def test_a_bad_cron_message_says_what_is_wrong(admin_client):
    response = admin_client.post(SCHEDULE_ADD, schedule_form(schedule="61 * * * *"))
    errors = field_errors(response, "schedule")
    assert "61 * * * *" in errors
    assert "Please correct the error below." in text(response)
    # Only the cron is wrong: the other fields carry no error.
    for other in ("schedule_name", "workflow_name", "cron_timezone", "queue_name", "context"):
        assert field_errors(response, other) == ""


def test_a_non_json_context_is_not_stored_as_a_string(admin_client):
    response = admin_client.post(SCHEDULE_ADD, schedule_form(context="hello"))
    assert response.status_code == 200
    assert "Enter a valid JSON." in field_errors(response, "context")
    assert WorkflowSchedule.objects.count() == 0


def test_a_duplicate_schedule_name_is_rejected(admin_client):
    create("nightly")
    response = admin_client.post(SCHEDULE_ADD, schedule_form())
    assert response.status_code == 200
    assert "already exists" in field_errors(response, "schedule_name")
    assert WorkflowSchedule.objects.count() == 1


def test_renaming_a_schedule_to_a_taken_name_is_rejected(admin_client):
    create("nightly")
    other = create("other")
    response = admin_client.post(schedule_url(other), schedule_form(schedule_name="nightly"))
    assert response.status_code == 200
    assert "already exists" in field_errors(response, "schedule_name")
    assert sorted(WorkflowSchedule.objects.values_list("schedule_name", flat=True)) == [
        "nightly",
        "other",
    ]


def test_every_bad_field_is_reported_at_once(admin_client):
    response = admin_client.post(
        SCHEDULE_ADD,
        schedule_form(schedule="0 25 * * *", cron_timezone="Mars/Base", context="{oops"),
    )
    assert response.status_code == 200
    assert "Enter a valid JSON." in field_errors(response, "context")
    assert "Mars/Base" in field_errors(response, "cron_timezone")
    assert "0 25 * * *" in field_errors(response, "schedule")


def test_html_in_a_schedule_name_is_escaped_everywhere(admin_client):
    name = "<b>bold</b>"
    row = create(name, cron="0 9 * * *")
    WorkflowSchedule.objects.filter(pk=row.pk).update(workflow_name="<i>gone</i>")

    pages = [
        admin_client.get(SCHEDULES),
        admin_client.get(schedule_url(row)),
        backfill_page(
            admin_client, [row], start="2026-01-01T00:00", end="2026-01-03T00:00", preview="P"
        ),
        act(admin_client, SCHEDULES, "trigger", [row.pk]),  # fails: the workflow is gone
    ]

    for page in pages:
        content = text(page)
        assert "<b>bold</b>" not in content and "<i>gone</i>" not in content
        assert "&lt;b&gt;bold&lt;/b&gt;" in content
    assert any("Not triggered: <b>bold</b>" in message for message in messages_of(pages[-1]))


def test_adding_needs_the_add_permission(client):
    operator(client, "view_workflowschedule", "change_workflowschedule")
    response = client.post(SCHEDULE_ADD, schedule_form())
    assert response.status_code == 403
    assert WorkflowSchedule.objects.count() == 0


def test_the_schedule_page_lists_the_next_ten_fire_times_in_its_zone_and_in_utc(admin_client):
    row = create("yearly", cron="0 0 1 1 *", cron_timezone=TOKYO)

    response = admin_client.get(schedule_url(row))

    assert response.status_code == 200
    content = text(response)
    panel = content[content.index('id="durable-next-fires"') :]
    pairs = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td></tr>", panel)[:10]
    year = timezone.now().astimezone(ZoneInfo(TOKYO)).year
    assert pairs == [
        (f"{year + n}-01-01 00:00:00 JST", f"{year + n - 1}-12-31 15:00:00 UTC")
        for n in range(1, 11)
    ]
    assert f"{year + 1}-01-01 00:00:00 JST" in shown(field_row(response, "next_fire"))
    # A read-only value shows no help about typing it.
    assert "An enqueued run" not in content


def test_the_change_page_links_to_the_runs_of_this_schedule(admin_client):
    row = create("linked")
    other = create("other")
    durable.trigger_schedule("linked")
    durable.trigger_schedule("other")

    response = admin_client.get(schedule_url(row))

    link = re.search(r'<a href="([^"]+)">Runs of this schedule</a>', text(response))
    assert link is not None
    href = html.unescape(link.group(1))
    assert href == f"{RUNS}?schedule_name=linked"
    listed = admin_client.get(href)
    assert [run.schedule_name for run in listed.context["cl"].result_list] == ["linked"]
    assert other.schedule_name == "other"


def test_changing_a_runtime_schedule(admin_client):
    row = create("nightly", cron="0 3 * * *", cron_timezone=NEW_YORK)
    durable.pause_schedule("nightly")

    response = admin_client.post(
        schedule_url(row),
        schedule_form(schedule="30 4 * * *", cron_timezone=TOKYO, context='[1, "two"]'),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    row.refresh_from_db()
    assert (row.schedule, row.cron_timezone, row.context) == ("30 4 * * *", TOKYO, [1, "two"])
    assert row.status == ScheduleStatus.PAUSED  # an edit does not resume it
    assert row.next_fire_at is not None
    assert row.next_fire_at.astimezone(ZoneInfo(TOKYO)).strftime("%H:%M") == "04:30"
    assert WorkflowSchedule.objects.count() == 1


def test_a_bad_change_is_rejected_and_leaves_the_row_alone(admin_client):
    row = create("nightly", cron="0 3 * * *")
    response = admin_client.post(schedule_url(row), schedule_form(schedule="0 25 * * *"))
    assert response.status_code == 200
    assert "25" in field_errors(response, "schedule")
    row.refresh_from_db()
    assert row.schedule == "0 3 * * *"


def test_changing_needs_the_change_permission(client):
    operator(client, "view_workflowschedule")
    row = create("nightly", cron="0 3 * * *")
    response = client.get(schedule_url(row))
    assert response.status_code == 200
    assert 'name="schedule"' not in text(response)
    response = client.post(schedule_url(row), schedule_form(schedule="* * * * *"))
    assert response.status_code == 403
    row.refresh_from_db()
    assert row.schedule == "0 3 * * *"


def test_deleting_a_runtime_schedule_keeps_its_runs(admin_client):
    row = create("gone")
    durable.trigger_schedule("gone")

    response = admin_client.post(schedule_url(row, "delete"), {"post": "yes"})

    assert response.status_code == 302
    assert not WorkflowSchedule.objects.exists()
    assert WorkflowRun.objects.get().schedule_name == "gone"


# ---------------------------------------------------------------- schedules: code-defined


@pytest.fixture
def code_row() -> WorkflowSchedule:
    sync_code_schedules(timezone.now())
    return WorkflowSchedule.objects.get(schedule_name=CODE_SCHEDULE)


def test_a_code_defined_schedules_change_page_is_read_only(admin_client, code_row):
    response = admin_client.get(schedule_url(code_row))

    assert response.status_code == 200
    content = text(response)
    for field in ("schedule_name", "workflow_name", "schedule", "cron_timezone", "context"):
        assert f'name="{field}"' not in content
        assert 'class="readonly"' in field_row(response, field)
    assert "0 */5 * * * *" in field_row(response, "schedule")
    assert "source" in html.unescape(field_row(response, "context"))
    panel = content[content.index('id="durable-next-fires"') :]
    assert len(re.findall(r"<tr><td>", panel)) == 10
    assert "Code (@scheduled)" in field_row(response, "origin")
    # Read-only: no help text about typing values (the form's help texts are dropped).
    assert "5 fields, or 6 with seconds first" not in content


def test_posting_a_change_to_a_code_defined_schedule_changes_nothing(admin_client, code_row):
    before = WorkflowSchedule.objects.filter(pk=code_row.pk).values().get()

    response = admin_client.post(
        schedule_url(code_row),
        schedule_form(
            schedule_name=CODE_SCHEDULE,
            workflow_name="backup_database",
            schedule="* * * * *",
            context='"hacked"',
        ),
    )

    assert response.status_code in (200, 302, 403)
    assert WorkflowSchedule.objects.filter(pk=code_row.pk).values().get() == before
    assert WorkflowSchedule.objects.count() == 1


def test_saving_a_code_defined_schedules_change_page_shows_no_spurious_errors(
    admin_client, code_row
):
    response = admin_client.post(schedule_url(code_row), {"_save": "Save"})
    assert "Invalid schedule name" not in text(response)
    assert response.status_code in (302, 403)


def test_a_code_defined_schedule_cannot_be_deleted(admin_client, code_row):
    runtime = create("runtime")

    response = admin_client.get(schedule_url(code_row))
    assert schedule_url(code_row, "delete") not in text(response)
    assert admin_client.get(schedule_url(code_row, "delete")).status_code == 403
    assert admin_client.post(schedule_url(code_row, "delete"), {"post": "yes"}).status_code == 403

    # The bulk delete action refuses a selection holding a code-defined schedule.
    response = act(
        admin_client, SCHEDULES, "delete_selected", [code_row.pk, runtime.pk], post="yes"
    )
    assert response.status_code == 403
    assert WorkflowSchedule.objects.count() == 2

    response = act(admin_client, SCHEDULES, "delete_selected", [runtime.pk], post="yes")
    assert redirected(response)
    assert list(WorkflowSchedule.objects.values_list("schedule_name", flat=True)) == [
        CODE_SCHEDULE
    ]


def test_the_schedule_admin_has_no_per_row_delete_for_code_rows(rf, admin_user, code_row):
    model_admin = admin.site._registry[WorkflowSchedule]
    request = rf.get("/")
    request.user = admin_user
    assert model_admin.has_delete_permission(request, code_row) is False
    assert model_admin.has_delete_permission(request, create("runtime")) is True


# ---------------------------------------------------------------- runs: changelist


def _enqueue(n: int, **kwargs: Any) -> list[str]:
    return [
        workflows.QUEUE_PLAIN.enqueue(workflows.three_steps, index, **kwargs).workflow_id
        for index in range(n)
    ]


def test_the_runs_changelist_columns_filters_and_options(admin_client):
    row = create("a")
    triggered = durable.trigger_schedule("a").workflow_id
    WorkflowRun.objects.filter(pk=triggered).update(
        status=RunStatus.ERROR,
        started_at=timezone.now() - timedelta(seconds=2),
        completed_at=timezone.now(),
    )
    [enqueued] = _enqueue(1)

    response = admin_client.get(RUNS)

    assert response.status_code == 200
    content = text(response)
    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', content)
    assert headers == ["run_id", "workflow", "status_badge", "queue", "created"]
    # Times to the second, with the zone; long ids wrap (the app's stylesheet).
    created = timezone.localtime(WorkflowRun.objects.get(pk=triggered).created_at)
    assert created.strftime("%Y-%m-%d %H:%M:%S %Z") in shown(content)
    assert "django_durable/admin.css" in content
    assert '<span class="durable-badge error" title="ERROR">failed</span>' in content
    assert '<span class="durable-badge enqueued" title="ENQUEUED">enqueued</span>' in content
    # How long a finished run took, under its status.
    assert re.search(r'title="ERROR">failed</span><span class="durable-sub">2\.\d{3} s<', content)
    # The schedule under the workflow; the internal queue named as such.
    assert "scheduled_report schedule a" in shown(content)
    assert ">internal<" in content and INTERNAL not in shown(content)
    cl = response.context["cl"]
    # The schedule filter shows only the schedule chosen (from a schedule's page).
    assert [spec.title for spec in cl.filter_specs] == ["status", "workflow", "queue"]
    filtered = admin_client.get(RUNS, {"schedule_name": "a"}).context["cl"]
    assert [spec.title for spec in filtered.filter_specs][-1] == "schedule"
    assert cl.sortable_by == ["run_id", "created"]
    assert cl.paginator.count == 2
    assert cl.show_full_result_count is False
    assert cl.date_hierarchy == "created_at"
    assert "created_at__year=" in content  # the date hierarchy's links

    def ids(query: dict[str, str]) -> list[str]:
        listed = admin_client.get(RUNS, query)
        assert listed.status_code == 200
        return sorted(run.pk for run in listed.context["cl"].result_list)

    assert ids({"status__exact": "ERROR"}) == [triggered]
    assert ids({"name": "three_steps"}) == [enqueued]
    assert ids({"queue_name": "queues-plain"}) == [enqueued]
    assert ids({"schedule_name": "a"}) == [triggered]
    assert ids({"q": enqueued}) == [enqueued]
    today = timezone.now()
    assert ids({"created_at__year": str(today.year)}) == sorted([triggered, enqueued])
    assert row.schedule_name == "a"


def test_the_runs_changelist_makes_no_query_per_row(admin_client):
    _enqueue(5)
    five = _changelist_queries(admin_client, RUNS)
    _enqueue(45)
    fifty = _changelist_queries(admin_client, RUNS)
    assert WorkflowRun.objects.count() == 50
    assert fifty == five


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        # Column 0 is the action checkbox: 1 is the id, 5 the created time.
        ("2", "-created_at"),  # the workflow name: not sortable, the default order stays
        ("3.4", "-created_at"),  # status and queue: likewise
        ("5", "created_at"),  # the created time, oldest first
        ("1", "workflow_id"),  # the id
        ("2.1", "workflow_id"),  # the sortable part of a mixed request is kept
    ],
)
def test_runs_sort_only_by_indexed_columns_even_through_a_hand_written_url(
    admin_client, order, expected
):
    _enqueue(2)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(RUNS, {"o": order})
    assert response.status_code == 200
    [listing] = [
        q["sql"]
        for q in queries
        if "ORDER BY" in q["sql"] and "django_durable_workflowrun" in q["sql"]
    ]
    ordering = listing.split("ORDER BY", 1)[1].split("LIMIT", 1)[0]
    column, direction = expected.lstrip("-"), "DESC" if expected.startswith("-") else "ASC"
    first = ordering.split(",")[0]
    assert column in first and direction in first, ordering
    for unsortable in ('"name"', "status", "queue_name", "schedule_name", "started_at"):
        assert unsortable not in ordering, ordering


def test_runs_cannot_be_added_or_changed_and_steps_have_no_admin(admin_client):
    [run_id] = _enqueue(1)
    assert admin_client.get(reverse("admin:django_durable_workflowrun_add")).status_code == 403
    response = admin_client.post(run_url(run_id), {"status": "SUCCESS"})
    assert response.status_code == 403
    assert WorkflowRun.objects.get(pk=run_id).status == RunStatus.ENQUEUED
    assert StepOutput not in admin.site._registry
    assert admin_client.get("/admin/django_durable/stepoutput/").status_code == 404


# ---------------------------------------------------------------- runs: change page


def timeline_rows(content: str) -> list[dict[str, str]]:
    """The run page's timeline rows: number, css classes, name, bar outcome, summary."""
    rows = []
    for classes, number, body in re.findall(
        r'<details class="durable-step ([^"]*)" data-step="([^"]+)">(.*?)</details>', content, re.S
    ):
        bar = re.search(r'class="durable-bar (\w+)"', body)
        result = re.search(
            r'<span class="durable-step-result">(.*?)</span>\s*</summary>', body, re.S
        )
        label = re.search(
            r'<span class="durable-axis-label">(.*?)</span>\s*<span class="durable-track"',
            body,
            re.S,
        )
        rows.append(
            {
                "number": number,
                "classes": classes,
                "label": shown(label.group(1)) if label else "",
                "bar": bar.group(1) if bar else "",
                "result": shown(result.group(1)) if result else "",
                "body": body,
            }
        )
    return rows


@EXECUTES
def test_the_run_page_leads_with_its_status_and_shows_the_step_timeline(admin_client):
    with durable.SetWorkflowID("timeline"):
        assert workflows.three_steps(1) == "value=4"

    response = admin_client.get(run_url("timeline"))

    assert response.status_code == 200
    content = text(response)
    assert "<textarea" not in content and 'name="_save"' not in content
    headline = content[content.index('class="durable-headline"') :]
    assert headline.index("durable-badge success") < headline.index("three_steps")
    # Inputs and the output as indented JSON, not Python reprs.
    inputs = re.search(r'<pre class="durable-json" id="durable-inputs">(.*?)</pre>', content, re.S)
    assert inputs is not None
    assert json.loads(html.unescape(inputs.group(1))) == {"args": [1], "kwargs": {}}
    output = re.search(r'<pre class="durable-json" id="durable-output">(.*?)</pre>', content, re.S)
    assert output is not None and html.unescape(output.group(1)) == '"value=4"'
    rows = timeline_rows(content)
    assert [(r["number"], r["label"], r["bar"]) for r in rows] == [
        ("1", "1 add_one", "succeeded"),
        ("2", "2 double", "succeeded"),
        ("3", "3 to_text", "succeeded"),
    ]
    assert [r["result"].split(" ")[0] for r in rows] == ["2", "4", '"value=4"']
    assert all(re.search(r"\d+\.\d{3} s$", r["result"]) for r in rows)
    # Bars sit on one axis: each starts where (or after) the previous one ended.
    lefts = [float(re.search(r"left: ([\d.]+)%", r["body"]).group(1)) for r in rows]  # type: ignore[union-attr]
    assert lefts == sorted(lefts)
    assert "Run after" not in content and "is not claimed before" not in content


def test_a_run_without_steps_says_so_instead_of_an_empty_table(admin_client):
    [enqueued] = _enqueue(1)
    content = text(admin_client.get(run_url(enqueued)))
    assert "No step has been recorded: the run waits for a worker." in content
    assert timeline_rows(content) == []


@EXECUTES
def test_a_datetime_input_is_shown_as_iso_text_not_a_python_repr(admin_client):
    row = create("iso", cron_timezone=NEW_YORK)
    run_id = durable.trigger_schedule("iso").workflow_id
    content = html.unescape(text(admin_client.get(run_url(run_id))))
    assert "datetime.datetime" not in content and "zoneinfo" not in content
    assert re.search(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+-0[45]:00"', content)
    # The schedule's name links to its page; the queue is called "internal".
    assert f'<a href="{schedule_url(row)}">iso</a>' in content
    assert "<dt>Queue</dt><dd>internal</dd>" in content


@EXECUTES
def test_child_workflows_are_nested_and_linked_in_the_parents_timeline(admin_client):
    with durable.SetWorkflowID("family"):
        result = workflows.parent(1)
    started_child = result[2]

    content = text(admin_client.get(run_url("family")))

    children = [
        str(row.child_workflow_id)
        for row in StepOutput.objects.filter(run_id="family", child_workflow_id__isnull=False)
    ]
    assert started_child in children and len(children) == 2
    rows = timeline_rows(content)
    for child_id in children:
        [row] = [r for r in rows if f'href="{run_url(child_id)}"' in r["body"]]
        assert "kind-child" in row["classes"] and row["bar"] == "succeeded"
        # Its started time and duration come from the child run, not "-".
        assert re.search(r"\d+\.\d{3} s$", row["result"])
        nested = [r for r in rows if r["number"].startswith(f"{row['number']}.")]
        assert nested and all("depth-1" in r["classes"] for r in nested)
    child_page = text(admin_client.get(run_url(started_child)))
    assert f'<a href="{run_url("family")}">family</a>' in child_page  # the parent link


@EXECUTES
def test_an_error_with_html_is_escaped_and_leads_the_run_page(admin_client):
    with durable.SetWorkflowID("xss"), pytest.raises(workflows.PaymentDeclined):
        workflows.failing_workflow("<script>alert(1)</script>")  # type: ignore[arg-type]

    response = admin_client.get(run_url("xss"))

    content = text(response)
    assert "<script>alert(1)</script>" not in content
    box = content[content.index('id="durable-error"') :]
    assert content.index('id="durable-error"') < content.index('id="durable-timeline"')
    pre = re.search(r"<pre class=.durable-error.>(.*?)</pre>", box, re.S)
    assert pre is not None
    shown_error = html.unescape(pre.group(1))
    assert "PaymentDeclined: declined <script>alert(1)</script>" in shown_error
    assert "Traceback" in shown_error and "decline" in shown_error
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pre.group(1)
    failed = [r for r in timeline_rows(content) if r["bar"] == "failed"]
    assert failed and "PaymentDeclined: declined <script>" in failed[0]["result"]
    listed = text(admin_client.get(RUNS))
    assert "<script>alert(1)</script>" not in listed


# ---------------------------------------------------------------- runs: actions


def test_run_actions_are_offered_by_permission(client):
    _enqueue(1)
    user = operator(client, "view_workflowrun")
    assert offered_actions(client, RUNS) == set()

    for codename, action in (
        ("cancel_workflowrun", "cancel"),
        ("resume_workflowrun", "resume"),
        ("fork_workflowrun", "retry_from_failed_step"),
    ):
        user.user_permissions.set(
            Permission.objects.filter(
                content_type__app_label="django_durable",
                codename__in=["view_workflowrun", codename],
            )
        )
        user = User.objects.get(pk=user.pk)  # drop the permission cache
        client.force_login(user)
        assert offered_actions(client, RUNS) == {action}


def test_cancel_cancels_enqueued_runs_and_reports_the_count(client):
    operator(client, "view_workflowrun", "cancel_workflowrun")
    ids = _enqueue(3)

    response = act(client, RUNS, "cancel", ids[:2])

    assert redirected(response)
    assert messages_of(response) == ["Cancelled 2 run(s)."]
    statuses = dict(WorkflowRun.objects.values_list("workflow_id", "status"))
    assert statuses == {
        ids[0]: RunStatus.CANCELLED,
        ids[1]: RunStatus.CANCELLED,
        ids[2]: RunStatus.ENQUEUED,
    }

    response = act(client, RUNS, "cancel", ids)  # two already finished: not counted
    assert messages_of(response) == ["Cancelled 1 run(s)."]


@pytest.mark.parametrize(
    ("codename", "action"),
    [
        ("resume_workflowrun", "cancel"),
        ("cancel_workflowrun", "resume"),
        ("cancel_workflowrun", "retry_from_failed_step"),
    ],
)
def test_run_actions_without_their_permission_change_nothing(client, codename, action):
    operator(client, "view_workflowrun", codename)
    ids = _enqueue(1)
    WorkflowRun.objects.filter(pk=ids[0]).update(status=RunStatus.CANCELLED)
    before = list(WorkflowRun.objects.values())

    act(client, RUNS, action, ids)

    assert list(WorkflowRun.objects.values()) == before


@EXECUTES
def test_resume_runs_cancelled_runs_on_the_internal_queue(client):
    operator(client, "view_workflowrun", "resume_workflowrun")
    ids = _enqueue(2)
    WorkflowRun.objects.filter(pk__in=ids).update(status=RunStatus.CANCELLED)

    response = act(client, RUNS, "resume", ids)

    assert messages_of(response) == [
        "Resumed 2 run(s); a worker runs them from their last step.",
    ]
    assert set(WorkflowRun.objects.values_list("status", "queue_name")) == {
        (RunStatus.ENQUEUED, INTERNAL)
    }
    assert run_until_idle() == 2
    results = dict(WorkflowRun.objects.values_list("workflow_id", "status"))
    assert results == dict.fromkeys(ids, RunStatus.SUCCESS)


@EXECUTES
def test_resume_of_a_successful_run_reports_why_it_was_not_resumed(admin_client):
    with durable.SetWorkflowID("done"):
        workflows.three_steps(1)
    [other] = _enqueue(1)
    WorkflowRun.objects.filter(pk=other).update(status=RunStatus.CANCELLED)

    response = act(admin_client, RUNS, "resume", ["done", other])

    found = messages_of(response)
    assert len(found) == 2
    assert found[0].startswith("Not resumed: done: ")
    assert "already succeeded" in found[0]
    assert found[1] == "Resumed 1 run(s); a worker runs them from their last step."
    assert WorkflowRun.objects.get(pk="done").status == RunStatus.SUCCESS


@EXECUTES
def test_retry_from_the_failed_step_keeps_the_steps_before_it(client):
    operator(client, "view_workflowrun", "fork_workflowrun")
    workflows.ADMIN_FAIL.set()
    with durable.SetWorkflowID("failed"), pytest.raises(workflows.PaymentDeclined):
        workflows.admin_fails_at_step_two(1)
    assert step_rows("failed") == [(1, "add_one"), (2, "admin_second_step")]
    assert workflows.CALLS["add_one"] == 1
    workflows.ADMIN_FAIL.clear()

    response = act(client, RUNS, "retry_from_failed_step", ["failed"])

    [message] = messages_of(response)
    assert message.startswith("Retried as 1 new run(s): <a href=")
    [new] = WorkflowRun.objects.exclude(pk="failed")
    assert (new.status, new.queue_name, new.name) == (
        RunStatus.ENQUEUED,
        INTERNAL,
        "admin_fails_at_step_two",
    )
    assert new.workflow_id in message
    assert step_rows(new.workflow_id) == [(1, "add_one")]  # the failed step is not kept

    assert run_until_idle() == 1

    new.refresh_from_db()
    assert new.status == RunStatus.SUCCESS
    assert durable.retrieve_workflow(new.workflow_id).get_result() == 21  # (1+1)*10+1
    assert workflows.CALLS["add_one"] == 2  # step 1 was kept, step 3 ran
    assert workflows.CALLS["admin_second_step"] == 2
    assert WorkflowRun.objects.get(pk="failed").status == RunStatus.ERROR  # left as it was
    href = html.unescape(re.search(r'href="([^"]+)"', message).group(1))  # type: ignore[union-attr]
    assert client.get(href).context["original"].pk == new.workflow_id


@EXECUTES
def test_retry_of_an_unknown_workflow_reports_an_error_and_forks_nothing(admin_client):
    with durable.SetWorkflowID("failed"), pytest.raises(workflows.PaymentDeclined):
        workflows.failing_workflow(1)
    WorkflowRun.objects.filter(pk="failed").update(name="no_such_workflow")

    response = act(admin_client, RUNS, "retry_from_failed_step", ["failed"])

    [message] = messages_of(response)
    assert message.startswith("Not retried: failed: ")
    assert WorkflowRun.objects.count() == 1


def test_runs_cannot_be_deleted_in_the_admin_even_by_a_superuser(admin_client):
    [enqueued] = _enqueue(1)
    change = reverse("admin:django_durable_workflowrun_change", args=[enqueued])
    delete = reverse("admin:django_durable_workflowrun_delete", args=[enqueued])
    assert delete not in text(admin_client.get(change))
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    listed = admin_client.get(RUNS)
    assert "delete_selected" not in {
        choice[0] for choice in listed.context["action_form"].fields["action"].choices
    }
    assert WorkflowRun.objects.filter(pk=enqueued).exists()


def test_the_runs_count_is_capped_so_a_huge_table_is_never_counted_in_full(admin_client):
    from django_durable.admin import CappedCountPaginator

    _enqueue(5)
    paginator = CappedCountPaginator(WorkflowRun.objects.order_by("pk"), 2)
    assert paginator.count == 5
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CappedCountPaginator, "CAP", 3)
        capped = CappedCountPaginator(WorkflowRun.objects.order_by("pk"), 2)
        with CaptureQueriesContext(connection) as queries:
            assert capped.count == 4  # CAP + 1: "more than CAP"
        assert "LIMIT 4" in queries[0]["sql"].upper()


def test_the_run_page_loads_its_row_in_one_query(admin_client):
    [enqueued] = _enqueue(1)
    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get(run_url(enqueued)).status_code == 200
    run_selects = [q["sql"] for q in queries if 'FROM "django_durable_workflowrun"' in q["sql"]]
    assert len(run_selects) == 1, run_selects
