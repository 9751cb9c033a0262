"""The admin shows a parked run as waiting (for what, until when), a run's deadline, and
its events, messages and streams."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from django_durable import serialization
from django_durable.admin import display
from django_durable.models import (
    RunStatus,
    StreamEntry,
    WaitingFor,
    WorkflowEvent,
    WorkflowMessage,
    WorkflowRun,
)
from tests.integration.test_admin import cells, shown

pytestmark = pytest.mark.django_db

RUNS = reverse("admin:django_durable_workflowrun_changelist")


@pytest.fixture
def admin(client):
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def parked(workflow_id: str, waiting_for: str, **fields) -> WorkflowRun:
    return WorkflowRun.objects.create(
        workflow_id=workflow_id,
        name="approval",
        status=RunStatus.ENQUEUED,
        inputs=serialization.dumps({"args": [], "kwargs": {}}),
        queue_name="messaging",
        run_after=timezone.now() + timedelta(days=14),
        waiting_for=waiting_for,
        **fields,
    )


def test_the_run_list_shows_what_each_parked_run_waits_for_and_until_when(
    admin, django_assert_max_num_queries
):
    run = parked("waits-1", WaitingFor.MESSAGE, wait_key="approval")
    parked("waits-2", WaitingFor.EVENT, wait_key="status", wait_workflow_id="other-run")

    with django_assert_max_num_queries(12):  # no query per row
        content = admin.get(RUNS + "?q=waits-1").content.decode()

    status = cells(content)["status_badge"]
    assert status.startswith("waiting waiting for a message on topic 'approval', until ")
    assert display.when(run.run_after) in status
    event_list = admin.get(RUNS + "?q=waits-2").content.decode()
    assert "waiting for event 'status' of run other-run" in cells(event_list)["status_badge"]


def test_the_run_page_says_what_it_waits_for_and_shows_its_deadline(admin):
    deadline = timezone.now() + timedelta(hours=1)
    run = parked("waits-3", WaitingFor.SLEEP, deadline=deadline, timeout_seconds=3600)
    page = shown(
        admin.get(
            reverse("admin:django_durable_workflowrun_change", args=[run.pk])
        ).content.decode()
    )
    assert "Parked Waiting for its durable sleep to end, until " in page
    assert f"Deadline {display.when(deadline)} (timeout 3600.0 s)" in page


def test_a_run_that_is_not_parked_shows_no_wait(admin):
    run = WorkflowRun.objects.create(
        workflow_id="plain", name="x", status=RunStatus.PENDING, inputs="{}", waiting_for=None
    )
    page = admin.get(reverse("admin:django_durable_workflowrun_change", args=[run.pk]))
    assert "Parked" not in shown(page.content.decode())
    assert display.waiting(run) is None


def test_the_run_page_lists_its_events_messages_and_streams(admin):
    run = WorkflowRun.objects.create(
        workflow_id="talks", name="x", status=RunStatus.SUCCESS, inputs="{}"
    )
    WorkflowEvent.objects.create(run=run, key="progress", value=serialization.dumps(0.5))
    WorkflowMessage.objects.create(
        destination=run, topic="approval", message=serialization.dumps({"ok": True})
    )
    WorkflowMessage.objects.create(
        destination=run, message=serialization.dumps("read"), consumed_at=timezone.now()
    )
    for position in range(3):
        StreamEntry.objects.create(
            run=run, key="rows", position=position, value=serialization.dumps(position)
        )
    StreamEntry.objects.create(run=run, key="rows", position=3, closed=True)

    page = shown(
        admin.get(
            reverse("admin:django_durable_workflowrun_change", args=[run.pk])
        ).content.decode()
    )

    assert "Events Key Value Set progress 0.5" in page
    assert "Messages received Topic Message Sent Received" in page
    assert 'approval { "ok": true }' in page and "not yet" in page
    assert "Streams Key Values rows 3 closed" in page


def test_durable_show_says_what_a_parked_run_waits_for_and_its_deadline():
    from tests.integration.test_durable_command import durable_cmd

    deadline = timezone.now() + timedelta(hours=1)
    parked("waits-4", WaitingFor.MESSAGE, wait_key=None, deadline=deadline)

    out, _ = durable_cmd("show", "waits-4")

    lines = {line.split("  ")[0]: line for line in out.splitlines()}
    assert "waiting for a message, until " in lines["Parked"]
    assert "Deadline (UTC)" in out
