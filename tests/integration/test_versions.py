"""Application versions: runs record the version they run under, and a worker with a
version takes only runs of its version and unversioned ones."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from django.utils import timezone

import django_durable as durable
from django_durable import queues, registry
from django_durable.engine import runtime as runtimes
from django_durable.models import RunStatus, WorkflowRun
from django_durable.testing import run_until_idle, tick
from tests import workflows

pytestmark = pytest.mark.django_db(transaction=True)

PLAIN = workflows.QUEUE_PLAIN


def version_of(workflow_id: str) -> str | None:
    return WorkflowRun.objects.get(pk=workflow_id).application_version


def enqueue(workflow_id: str, **options: str) -> None:
    with durable.SetWorkflowID(workflow_id), durable.SetEnqueueOptions(**options):
        PLAIN.enqueue(workflows.three_steps, 1)


def claimed_ids(now: object = None) -> list[str]:
    taken = queues.claim(PLAIN, "claimer", 10, timezone.now(), registry.workflow_names())
    return sorted(run.pk for run in taken)


def test_without_a_version_runs_are_unversioned_and_every_worker_takes_them():
    assert workflows.three_steps(1) == "value=4"
    assert WorkflowRun.objects.get().application_version is None
    enqueue("plain")
    assert version_of("plain") is None
    assert claimed_ids() == ["plain"]
    assert version_of("plain") is None  # a worker without a version stamps nothing


@override_settings(DURABLE={"APPLICATION_VERSION": "v1"})
def test_every_way_of_starting_a_run_records_the_version():
    with durable.SetWorkflowID("direct"):
        workflows.three_steps(1)
    handle = durable.start_workflow(workflows.three_steps, 2)
    handle.get_result(timeout=10)
    enqueue("queued")
    durable.create_schedule(
        schedule_name="versioned", workflow_fn=workflows.backup_database, schedule="* * * * *"
    )
    schedule = durable.get_schedule("versioned")
    assert tick(datetime.fromisoformat(schedule["next_fire_at"])) == 1
    fired = WorkflowRun.objects.get(schedule_name="versioned")
    for workflow_id in ("direct", handle.workflow_id, "queued", fired.pk):
        assert version_of(workflow_id) == "v1"
    assert durable.get_workflow_status("direct").app_version == "v1"


@override_settings(DURABLE={"APPLICATION_VERSION": "v2"})
def test_a_worker_takes_runs_of_its_version_and_unversioned_ones_and_stamps_them():
    enqueue("mine")
    enqueue("theirs", app_version="v1")
    WorkflowRun.objects.create(
        workflow_id="nobodys",
        name=workflows.three_steps.__durable_workflow__.name,
        status=RunStatus.ENQUEUED,
        inputs='{"args": [1], "kwargs": {}}',
        queue_name=PLAIN.name,
    )
    assert version_of("theirs") == "v1"
    assert claimed_ids() == ["mine", "nobodys"]
    assert version_of("nobodys") == "v2"  # it starts under this worker's version
    assert WorkflowRun.objects.get(pk="theirs").status == RunStatus.ENQUEUED


def test_a_worker_of_another_version_leaves_the_run_and_one_of_its_version_runs_it():
    with override_settings(DURABLE={"APPLICATION_VERSION": "old"}):
        enqueue("old-run")
    with override_settings(DURABLE={"APPLICATION_VERSION": "new"}):
        assert run_until_idle() == 0
    assert WorkflowRun.objects.get(pk="old-run").status == RunStatus.ENQUEUED
    with override_settings(DURABLE={"APPLICATION_VERSION": "old"}):
        assert run_until_idle() == 1
    assert durable.retrieve_workflow("old-run").get_result(timeout=5) == "value=4"


def test_fork_moves_a_run_to_another_version_or_to_none():
    with override_settings(DURABLE={"APPLICATION_VERSION": "old"}):
        with durable.SetWorkflowID("source"):
            workflows.three_steps(1)
    with override_settings(DURABLE={"APPLICATION_VERSION": "new"}):
        moved = durable.fork_workflow("source", 2, application_version="new")
        loose = durable.fork_workflow("source", 2)
        assert version_of(moved.workflow_id) == "new"
        assert version_of(loose.workflow_id) is None
        assert run_until_idle() == 2
        assert moved.get_result(timeout=5) == loose.get_result(timeout=5) == "value=4"
        assert version_of(loose.workflow_id) == "new"


def test_list_workflows_filters_by_version():
    for version, workflow_id in (("a", "run-a"), ("b", "run-b")):
        with override_settings(DURABLE={"APPLICATION_VERSION": version}):
            with durable.SetWorkflowID(workflow_id):
                workflows.three_steps(1)
    workflows.three_steps(1)
    assert [s.workflow_id for s in durable.list_workflows(app_version="a")] == ["run-a"]
    assert [s.workflow_id for s in durable.list_workflows(app_version=["a", "b"])] == [
        "run-a",
        "run-b",
    ]


def test_recovery_takes_over_direct_calls_of_its_version_only():
    for version in ("old", "new"):
        WorkflowRun.objects.create(
            workflow_id=f"left-{version}",
            name=workflows.three_steps.__durable_workflow__.name,
            status=RunStatus.PENDING,
            inputs='{"args": [1], "kwargs": {}}',
            executor_id="gone",
            application_version=version,
        )
    with override_settings(DURABLE={"APPLICATION_VERSION": "new"}):
        handles = durable.recover_pending_workflows(["gone"])
        assert [handle.workflow_id for handle in handles] == ["left-new"]
        assert handles[0].get_result(timeout=10) == "value=4"
    left = WorkflowRun.objects.get(pk="left-old")
    assert (left.status, left.executor_id) == (RunStatus.PENDING, "gone")
    runtimes.current()  # the default runtime executed the recovered run


@pytest.mark.parametrize("bad", ["", 3, "x" * 256])
def test_a_bad_version_setting_is_a_system_check_error(bad: object):
    with override_settings(DURABLE={"APPLICATION_VERSION": bad}):
        with pytest.raises(SystemCheckError, match="E006"):
            call_command("check")
