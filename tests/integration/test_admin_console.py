"""The admin's detail-page buttons, their history entries, the dashboard, and every page
answering hostile parameters without a server error."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

import django_durable as durable
from django_durable.models import (
    Executor,
    RunStatus,
    ScheduleStatus,
    StepOutput,
    WorkflowRun,
    WorkflowSchedule,
)
from tests import workflows
from tests.integration.test_admin import cells, shown

pytestmark = pytest.mark.django_db
EXECUTES = pytest.mark.django_db(transaction=True)

SCHEDULES = reverse("admin:django_durable_workflowschedule_changelist")
RUNS = reverse("admin:django_durable_workflowrun_changelist")
DASHBOARD = reverse("admin:django_durable_dashboard_changelist")


def operator(client: Client, *codenames: str) -> User:
    user = User.objects.create_user("operator", password="pw", is_staff=True)  # noqa: S106
    for codename in codenames:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="django_durable", codename=codename)
        )
    client.force_login(user)
    return user


def create(name: str = "daily", cron: str = "0 9 * * *", **kwargs: Any) -> WorkflowSchedule:
    durable.create_schedule(
        schedule_name=name, workflow_fn=workflows.scheduled_report, schedule=cron, **kwargs
    )
    return WorkflowSchedule.objects.get(schedule_name=name)


def schedule_url(row: WorkflowSchedule, view: str = "change") -> str:
    return reverse(f"admin:django_durable_workflowschedule_{view}", args=[row.pk])


def run_url(workflow_id: str, view: str = "change") -> str:
    return reverse(f"admin:django_durable_workflowrun_{view}", args=[workflow_id])


def history(obj: Any) -> list[str]:
    """The change messages of ``obj``'s admin history, oldest first."""
    entries = LogEntry.objects.filter(object_id=str(obj.pk)).order_by("action_time", "pk")
    return [entry.get_change_message() for entry in entries]


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# ---------------------------------------------------------------- schedule buttons


def test_a_schedules_page_shows_the_buttons_its_user_may_press(client):
    row = create()
    operator(client, "view_workflowschedule", "trigger_workflowschedule")
    content = client.get(schedule_url(row)).content.decode()
    assert schedule_url(row, "trigger") in content
    assert schedule_url(row, "pause") not in content
    assert schedule_url(row, "backfill") not in content


def test_pause_resume_and_trigger_buttons_act_and_are_recorded_in_the_history(admin_client):
    row = create()

    response = admin_client.post(schedule_url(row, "pause"), follow=True)
    assert messages_of(response) == ["Paused 1 schedule(s)."]
    assert WorkflowSchedule.objects.get(pk=row.pk).status == ScheduleStatus.PAUSED
    content = response.content.decode()
    assert schedule_url(row, "resume") in content and schedule_url(row, "pause") not in content

    admin_client.post(schedule_url(row, "resume"))
    assert WorkflowSchedule.objects.get(pk=row.pk).status == ScheduleStatus.ACTIVE

    response = admin_client.post(schedule_url(row, "trigger"), follow=True)
    [run] = WorkflowRun.objects.filter(schedule_name="daily")
    assert shown(messages_of(response)[-1]) == f"Triggered 1 run(s): {run.pk} ."
    assert history(row) == [
        "Paused.",
        "Resumed; fires from its next slot.",
        f"Triggered run {run.pk}.",
    ]
    page = admin_client.get(schedule_url(row, "history")).content.decode()
    assert f"Triggered run {run.pk}." in page
    # The list's "last fired" follows the trigger.
    assert cells(admin_client.get(SCHEDULES).content.decode())["last_fired"] != "-"


def test_schedule_buttons_need_their_permission_and_a_post(client):
    row = create()
    operator(client, "view_workflowschedule")
    for view in ("pause", "trigger"):
        assert client.post(schedule_url(row, view)).status_code == 403
    assert client.get(schedule_url(row, "backfill")).status_code == 403
    assert client.get(schedule_url(row, "pause")).status_code == 405
    assert WorkflowSchedule.objects.get(pk=row.pk).status == ScheduleStatus.ACTIVE
    assert not WorkflowRun.objects.exists()
    assert history(row) == []


def test_the_backfill_button_opens_the_page_for_that_schedule(admin_client):
    row = create(cron_timezone="America/New_York")
    page = admin_client.get(schedule_url(row, "backfill"))
    content = page.content.decode()
    assert page.status_code == 200
    assert "Wall-clock time in America/New_York" in content
    assert 'name="action"' not in content  # not the list's action form
    response = admin_client.post(
        schedule_url(row, "backfill"),
        {"start": "2026-01-01T00:00", "end": "2026-01-04T00:00", "apply": "Enqueue"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == schedule_url(row)
    assert WorkflowRun.objects.filter(schedule_name="daily").count() == 3
    [entry] = history(row)
    assert entry.startswith("Backfilled 2026-01-01T00:00:00-05:00 to 2026-01-04T00:00:00-05:00")
    assert "enqueued 3 run(s)" in entry


def test_list_actions_are_recorded_in_the_history_too(admin_client):
    rows = [create("a"), create("b")]
    admin_client.post(
        SCHEDULES,
        {"action": "pause", "_selected_action": [str(r.pk) for r in rows], "index": "0"},
    )
    assert [history(r) for r in rows] == [["Paused."], ["Paused."]]


def test_the_schedule_strip_colours_the_recent_slots_by_outcome(admin_client):
    row = create("minutely", cron="* * * * *")
    now = timezone.now().replace(second=0, microsecond=0)
    WorkflowSchedule.objects.filter(pk=row.pk).update(created_at=now - timedelta(minutes=10))
    slots = [now - timedelta(minutes=n) for n in (1, 2, 3)]
    statuses = [RunStatus.SUCCESS, RunStatus.ERROR, RunStatus.PENDING]
    from django_durable.schedules.fire import slot_run_id

    for slot, status in zip(slots, statuses, strict=True):
        WorkflowRun.objects.create(
            workflow_id=slot_run_id("minutely", slot),
            name="scheduled_report",
            status=status,
            inputs="{}",
            schedule_name="minutely",
        )

    content = admin_client.get(schedule_url(row)).content.decode()

    strip = content[content.index('class="durable-strip"') :]
    strip = strip[: strip.index("</div>")]
    cells_shown = re.findall(r'class="durable-cell (\w+)"[^>]* title="([^"]+) UTC: \w+"', strip)
    outcome = {at: kind for kind, at in cells_shown}
    assert 9 <= len(cells_shown) <= 11  # the slots since the schedule was created
    assert [outcome[slot.strftime("%Y-%m-%d %H:%M:%S")] for slot in slots] == [
        "succeeded",
        "failed",
        "running",
    ]
    assert outcome[(now - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S")] == "missed"
    href = run_url(quote(slot_run_id("minutely", slots[0])))
    assert href in strip
    assert admin_client.get(href).context["original"].pk == slot_run_id("minutely", slots[0])


# ---------------------------------------------------------------- run buttons


@EXECUTES
def test_run_buttons_cancel_resume_retry_and_fork_with_history(admin_client):
    workflows.ADMIN_FAIL.set()
    try:
        with durable.SetWorkflowID("failed"), pytest.raises(workflows.PaymentDeclined):
            workflows.admin_fails_at_step_two(1)
    finally:
        workflows.ADMIN_FAIL.clear()
    run = WorkflowRun.objects.get(pk="failed")
    page = admin_client.get(run_url("failed")).content.decode()
    for view in ("resume", "retry", "fork"):
        assert run_url("failed", view) in page
    assert run_url("failed", "cancel") not in page  # a finished run cannot be cancelled

    response = admin_client.post(run_url("failed", "retry"), follow=True)
    [retried] = WorkflowRun.objects.exclude(pk="failed")
    assert retried.forked_from == "failed"
    assert messages_of(response)[0].startswith("Retried as 1 new run(s)")

    response = admin_client.post(run_url("failed", "fork"), {"start_step": "1"}, follow=True)
    [forked] = WorkflowRun.objects.exclude(pk__in=["failed", retried.pk])
    assert StepOutput.objects.filter(run_id=forked.pk).count() == 0
    assert f"Forked from step 1 as {forked.pk} ." == shown(messages_of(response)[0])
    admin_client.post(run_url("failed", "fork"), {"start_step": "x"})
    assert WorkflowRun.objects.count() == 3

    admin_client.post(run_url(forked.pk, "cancel"))
    assert WorkflowRun.objects.get(pk=forked.pk).status == RunStatus.CANCELLED
    admin_client.post(run_url("failed", "resume"))
    assert WorkflowRun.objects.get(pk="failed").status == RunStatus.ENQUEUED

    assert history(run) == [
        f"Retried from step 2 as run {retried.pk}.",
        f"Forked from step 1 as run {forked.pk}.",
        "Resumed on the internal queue from its last step.",
    ]
    assert history(forked) == ["Cancelled."]
    # A forked run links to its origin.
    forked_page = admin_client.get(run_url(forked.pk)).content.decode()
    assert f'<dt>Forked from</dt><dd><a href="{run_url("failed")}">failed</a></dd>' in forked_page


def test_run_buttons_need_their_permission(client):
    [run_id] = [workflows.QUEUE_PLAIN.enqueue(workflows.three_steps, 1).workflow_id]
    operator(client, "view_workflowrun")
    page = client.get(run_url(run_id)).content.decode()
    assert run_url(run_id, "cancel") not in page
    for view in ("cancel", "resume", "retry", "fork"):
        assert client.post(run_url(run_id, view), {"start_step": "1"}).status_code == 403
    assert WorkflowRun.objects.get(pk=run_id).status == RunStatus.ENQUEUED
    assert WorkflowRun.objects.count() == 1


# ---------------------------------------------------------------- dashboard


def test_the_dashboard_needs_its_own_permission(client):
    user = operator(client, "view_workflowrun", "view_workflowschedule")
    assert client.get(DASHBOARD).status_code == 403
    assert "Operations dashboard" not in client.get("/admin/").content.decode()
    user.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    client.force_login(User.objects.get(pk=user.pk))
    assert client.get(DASHBOARD).status_code == 200
    index = client.get("/admin/").content.decode()
    assert f'href="{DASHBOARD}"' in index and "Operations dashboard" in index


def test_the_dashboard_panels(admin_client, django_assert_max_num_queries):
    now = timezone.now()
    for index, status in enumerate([RunStatus.SUCCESS] * 3 + [RunStatus.ERROR] * 2):
        WorkflowRun.objects.create(
            workflow_id=f"r{index}",
            name="three_steps",
            status=status,
            inputs="{}",
            created_at=now - timedelta(minutes=index),
        )
    WorkflowRun.objects.create(
        workflow_id="waiting",
        name="three_steps",
        status=RunStatus.ENQUEUED,
        inputs="{}",
        queue_name="queues-plain",
        created_at=now - timedelta(minutes=5),
    )
    Executor.objects.create(executor_id="host:1", last_heartbeat_at=now)
    Executor.objects.create(executor_id="host:2", last_heartbeat_at=now - timedelta(hours=1))
    late = create("late-one")
    WorkflowSchedule.objects.filter(pk=late.pk).update(next_fire_at=now - timedelta(minutes=10))

    with django_assert_max_num_queries(12):
        response = admin_client.get(DASHBOARD)

    content = response.content.decode()
    hour = content[content.index('id="durable-runs-hour"') :]
    hour = hour[: hour.index("</section>")]
    assert "6 runs" in hour
    assert len(re.findall(r'class="s-SUCCESS"', hour)) == 3
    assert len(re.findall(r'class="s-ERROR"', hour)) == 2
    queues = shown(content[content.index('id="durable-queues"') :].split("</section>")[0])
    assert "queues-plain 1 0" in queues
    executors = shown(content[content.index('id="durable-executors"') :].split("</section>")[0])
    assert "host:1" in executors and "alive" in executors and "dead" in executors
    late_panel = shown(content[content.index('id="durable-late"') :].split("</section>")[0])
    assert "late-one" in late_panel and "Late schedules (1)" in late_panel
    failing = shown(content[content.index('id="durable-failing"') :].split("</section>")[0])
    assert "three_steps 2" in failing


# ---------------------------------------------------------------- hostile parameters

HOSTILE_QUERIES = [
    "schedule_name=a%00b",
    "schedule_name__regex=(((",
    "name__regex=(((",
    "created_at__year=99999999999999999999",
    "created_at__year=9999&created_at__month=12&created_at__day=31",
    "created_at__year=0",
    "created_at__year=2026&created_at__month=13",
    "created_at__year=2026&created_at__month=2&created_at__day=30",
    "created_at__month=2",
    "status__exact=%00",
    "status__in=A,B",
    "q=%00",
    "q=" + "x" * 5000,
    "o=99",
    "o=-a.b",
    "p=-1",
    "p=99999999999999999999",
    "all=&p=2",
    "_facets=True",
    "_to_field=inputs",
    "e=1",
    "cron_timezone=%00",
    "queue_name=a%00",
    "workflow_name__startswith=a",
    "next_fire_at__gte=notadate",
    "pk__in=1,2",
    "unknown=1",
    "parent_id=%00",
]


def _app_urls(run_id: str, row: WorkflowSchedule) -> list[str]:
    pk = str(row.pk)
    return [
        "/admin/django_durable/",
        SCHEDULES,
        RUNS,
        DASHBOARD,
        reverse("admin:django_durable_workflowschedule_add"),
        schedule_url(row),
        schedule_url(row, "history"),
        schedule_url(row, "delete"),
        schedule_url(row, "backfill"),
        run_url(run_id),
        run_url(run_id, "history"),
        "/admin/django_durable/workflowrun/a%00b/change/",
        "/admin/django_durable/workflowrun/a%00b/history/",
        "/admin/django_durable/workflowschedule/a%00b/change/",
        "/admin/django_durable/workflowschedule/not-a-uuid/change/",
        f"/admin/django_durable/workflowschedule/{pk[:-1]}%00/backfill/",
        "/admin/django_durable/workflowrun/" + "x" * 3000 + "/change/",
        "/admin/django_durable/dashboard/x/",
    ]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_no_admin_page_answers_500_to_hostile_parameters(admin_user, query):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    row = create()
    run_id = durable.trigger_schedule("daily").workflow_id
    for url in _app_urls(run_id, row):
        response = client.get(f"{url}?{query}")
        assert response.status_code in (200, 302, 400, 403, 404), (url, query)


def test_hostile_button_posts_answer_without_a_server_error(admin_user):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    row = create()
    for url in (
        "/admin/django_durable/workflowrun/a%00b/cancel/",
        "/admin/django_durable/workflowrun/a%00b/fork/",
        "/admin/django_durable/workflowschedule/a%00b/pause/",
        "/admin/django_durable/workflowschedule/a%00b/trigger/",
    ):
        assert client.post(url, {"start_step": "%00"}).status_code in (302, 404), url
    response = client.post(
        schedule_url(row, "backfill"), {"start": "0001-01-01T00:00", "end": "9999-12-31T23:59"}
    )
    assert response.status_code in (200, 302)


def test_the_admins_invalid_lookup_handling_is_used(admin_client):
    response = admin_client.get(RUNS + "?schedule_name=a%00b")
    assert response.status_code == 302 and response["Location"].endswith("?e=1")
    response = admin_client.get(
        RUNS + "?created_at__year=9999&created_at__month=12&created_at__day=31"
    )
    assert response.status_code == 302
    assert admin_client.get(RUNS + "?schedule_name__regex=(((").status_code == 400
    assert admin_client.get("/admin/django_durable/workflowrun/a%00b/change/").status_code == 302


# ---------------------------------------------------------------- list details


def test_show_all_is_offered_only_next_to_a_filtered_count(admin_client):
    create("a")
    create("b")
    assert "Show all" not in admin_client.get(SCHEDULES).content.decode()
    filtered = admin_client.get(SCHEDULES, {"q": "a"}).content.decode()
    assert "Show all" in filtered


def test_runs_are_found_by_the_start_of_their_id_or_a_schedules_name(admin_client):
    create("nightly")
    fired = durable.trigger_schedule("nightly").workflow_id
    other = workflows.QUEUE_PLAIN.enqueue(workflows.three_steps, 1).workflow_id

    def found(term: str) -> list[str]:
        response = admin_client.get(RUNS, {"q": term})
        return sorted(run.pk for run in response.context["cl"].result_list)

    assert found("sched-nightly-trig") == [fired]
    assert found("nightly") == [fired]  # the schedule's exact name
    assert found(other[:8]) == [other]
    assert found("ightly") == []


def test_the_schedules_workflow_filter_lists_only_scheduled_workflows(admin_client):
    create("a")
    response = admin_client.get(SCHEDULES)
    [spec] = [f for f in response.context["cl"].filter_specs if f.title == "workflow"]
    assert [value for value, _ in spec.lookup_choices] == ["scheduled_report"]


def test_the_runscheduler_batch_help_says_it_fires_due_schedules():
    from django_durable.management.commands.runscheduler import Command as RunScheduler

    help_text = RunScheduler().create_parser("manage.py", "runscheduler").format_help()
    assert "Fire the schedules that are due" in " ".join(help_text.split())
