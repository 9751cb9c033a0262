"""The examples of the two DBOS Transact pages (tests/dbos_seeds) run through
``django_durable.dbos``, with only the import changed.

Their workflows take the names of the suite's own (``backup_database``,
``DataWorkflows``, ...), so each test imports them with the workflow registry cleared
and puts it back afterwards. Snippets of the pages that are fragments (statements around
a schedule the page created earlier) are run here, in the page's words.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from django_durable import cron, registry
from django_durable.dbos import DBOS, DBOSConfiguredInstance, DBOSException, ScheduleInput
from django_durable.exceptions import ScheduleNotFound
from django_durable.models import WorkflowRun, WorkflowSchedule
from django_durable.testing import run_until_idle
from django_durable.worker import Worker
from tests.integration.workers import release

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def load(clean_registry: None) -> Iterator[Callable[[str], ModuleType]]:
    """``load("classes_doc")``: import a seed module (anew) with an empty registry."""
    with registry._lock:
        registry._workflows.clear()
        registry._classes.clear()
        registry._code_schedules.clear()
    loaded: list[str] = []

    def load(name: str) -> ModuleType:
        module_name = f"tests.dbos_seeds.{name}"
        sys.modules.pop(module_name, None)
        loaded.append(module_name)
        return importlib.import_module(module_name)

    yield load
    for module_name in loaded:
        sys.modules.pop(module_name, None)


@pytest.fixture
def background_worker() -> Iterator[Worker]:
    """A worker serving every queue on a helper thread while the snippet waits."""
    worker = Worker(poll_interval=0.05, concurrency=4)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    yield worker
    worker.stop()
    thread.join(30)
    release(worker)


# ---------------------------------------------------------------- class-based workflows


def test_class_based_workflow_examples(load):
    page = load("classes_doc")
    assert page.PaymentWorkflows.process_payment(datetime.now(), None) == "completed"
    fetcher = page.URLFetcher("https://example.com")
    assert fetcher.fetch_workflow() == "Content from https://example.com"
    result = page.prod_api.fetch_data("users")
    assert result == {"url": "https://api.prod.com/users", "auth": "prod-key"}
    sync = DBOS.get_schedule("data-sync-schedule")
    assert sync is not None
    assert (sync["workflow_class_name"], sync["cron_timezone"], sync["automatic_backfill"]) == (
        "DataSyncWorkflows",
        "America/New_York",
        True,
    )
    assert page.DataSyncWorkflows.sync_data(datetime.now(), {"env": "staging"}) is None
    run = WorkflowRun.objects.get(name="URLFetcher.fetch_workflow")
    assert (run.class_name, run.config_name) == ("URLFetcher", "https://example.com")

    # "Instance Method Scheduling Rejection", in the page's words.
    inst = page.inst
    with pytest.raises(DBOSException, match="Configured instance methods cannot be used"):
        DBOS.create_schedule(
            schedule_name="invalid-schedule",
            workflow_fn=inst.instance_workflow,
            schedule="* * * * *",
        )
    assert isinstance(inst, DBOSConfiguredInstance)


def test_class_based_workflow_with_sql_session(load):
    pytest.importorskip("sqlalchemy")
    page = load("classes_doc_sql")
    result = page.DataWorkflows.process_data("test")
    print(result)  # Output: "test-1-TEST"
    assert result == "test-1-TEST"
    assert (page.DataWorkflows.workflow_count, page.DataWorkflows.transaction_count) == (1, 1)
    steps = DBOS.list_workflow_steps(WorkflowRun.objects.get().workflow_id)
    assert [step["function_name"] for step in steps] == [
        "DataWorkflows.save_to_db",
        "DataWorkflows.transform_data",
    ]


def test_lifecycle_management_snippet(load, background_worker):
    page = load("classes_doc")

    class DataWorkflows:  # the page's fragment schedules one of its methods
        @staticmethod
        @DBOS.workflow()
        def method_a(scheduled_at: datetime, context: Any) -> None:
            pass

    DBOS.dbos_class()(DataWorkflows)
    DBOS.register_queue("high-priority-queue")

    # List all schedules
    schedules = DBOS.list_schedules()
    # Retrieve specific schedule
    sched = DBOS.get_schedule("data-sync-schedule")
    # Pause execution (retains configuration)
    DBOS.pause_schedule("data-sync-schedule")
    # Resume a paused schedule
    DBOS.resume_schedule("data-sync-schedule")
    # Trigger immediate execution
    DBOS.trigger_schedule("data-sync-schedule")
    # Delete permanently
    DBOS.delete_schedule("data-sync-schedule")
    # Backfill missed executions: the page backfills the schedule it just deleted.
    with pytest.raises(ScheduleNotFound):
        DBOS.backfill_schedule(
            schedule_name="data-sync-schedule",
            start_time=datetime(2026, 1, 1),
            end_time=datetime(2026, 1, 31),
        )
    # Atomic update of multiple schedules
    DBOS.apply_schedules(
        [
            ScheduleInput(
                schedule_name="schedule-1",
                workflow_fn=DataWorkflows.method_a,
                schedule="0 * * * *",
                context={"id": 1},
                automatic_backfill=True,
                cron_timezone="America/Los_Angeles",
                queue_name="high-priority-queue",
            ),
        ]
    )

    assert "data-sync-schedule" in [s["schedule_name"] for s in schedules]
    assert sched is not None and sched["schedule"] == "0 9 * * 1-5"
    assert DBOS.get_schedule("data-sync-schedule") is None
    triggered = WorkflowRun.objects.get(schedule_name="data-sync-schedule")
    assert DBOS.retrieve_workflow(triggered.pk).get_result(timeout=20) is None
    applied = DBOS.get_schedule("schedule-1")
    assert applied is not None and applied["queue_name"] == "high-priority-queue"
    assert page.DataSyncWorkflows is not None

    # Backfilling a schedule that exists enqueues its weekday slots of January 2026.
    DBOS.create_schedule(
        schedule_name="data-sync-schedule",
        workflow_fn=page.DataSyncWorkflows.sync_data,
        schedule="0 9 * * 1-5",
        context={"env": "production"},
        cron_timezone="America/New_York",
    )
    handles = DBOS.backfill_schedule(
        schedule_name="data-sync-schedule",
        start_time=datetime(2026, 1, 1),
        end_time=datetime(2026, 1, 31),
    )
    assert len(handles) == 22  # the weekdays of January 2026 (the 31st is a Saturday)
    for handle in handles:
        assert handle.get_result(timeout=30) is None


def test_my_scheduled_class_example_fires(load):
    load("classes_doc")
    schedule = WorkflowSchedule.objects.get(schedule_name="static-class-schedule")
    from django_durable.testing import tick

    assert tick(schedule.next_fire_at) == 1
    assert run_until_idle() == 1
    run = WorkflowRun.objects.get(schedule_name="static-class-schedule")
    assert (run.status, run.class_name) == ("SUCCESS", "MyScheduledClass")


# ---------------------------------------------------------------- scheduling


def test_scheduling_page_examples(load, background_worker):
    page = load("scheduler_doc")
    # Decorator-based scheduling: the schedule is written when a scheduler starts.
    names = {entry.schedule_name: entry.schedule for entry in registry.code_schedules()}
    assert names == {"daily_report_workflow": "0 0 * * *", "distributed_task": "0 0 * * * *"}
    page.daily_report_workflow(datetime(2026, 3, 8, tzinfo=UTC), None)
    assert page.SENT[-1][0] == "email"

    # Common patterns: every cron of the page's list is accepted.
    for expression in (
        "*/30 * * * * *", "0 * * * * *", "0 */5 * * * *", "0 */15 * * * *", "0 0 * * * *",
        "0 30 * * * *", "0 0 */3 * * *", "0 0 0 * * *", "0 0 6 * * *", "0 30 21 * * *",
        "0 0 8,20 * * *", "0 0 9 * * 1", "0 0 8 * * 1-5", "0 0 0 * * 0", "0 0 0 1 * *",
        "0 0 12 15 * *", "0 0 0 28-31 * *",
    ):  # fmt: skip
        DBOS.scheduled(expression)
        cron.Cron.parse(expression)

    backup_database = page.backup_database
    # Create a schedule programmatically
    DBOS.create_schedule(
        schedule_name="nightly-backup",
        workflow_fn=backup_database,
        schedule="0 0 2 * * *",  # 2 AM daily
        context={"backup_name": "production"},
    )
    # List all schedules
    all_schedules = DBOS.list_schedules()
    for schedule in all_schedules:
        print(f"Name: {schedule['schedule_name']}")
        print(f"Workflow: {schedule['workflow_name']}")
        print(f"Cron: {schedule['schedule']}")
        print(f"Status: {schedule['status']}")
        print(f"Context: {schedule['context']}")
        print()
    # Filter by status
    active_schedules = DBOS.list_schedules(status="ACTIVE")
    paused_schedules = DBOS.list_schedules(status="PAUSED")
    # Filter by workflow name
    backup_schedules = DBOS.list_schedules(workflow_name="backup_database")
    # Filter by schedule name prefix
    report_schedules = DBOS.list_schedules(schedule_name_prefix="report-")
    assert [s["schedule_name"] for s in backup_schedules] == ["nightly-backup"]
    assert (len(active_schedules), paused_schedules, report_schedules) == (1, [], [])

    # Get schedule by name
    schedule = DBOS.get_schedule("nightly-backup")
    if schedule:
        print(f"Schedule: {schedule['schedule']}")
    else:
        print("Schedule not found")
    # Pause a schedule (stops firing, but doesn't delete)
    DBOS.pause_schedule("nightly-backup")
    assert DBOS.get_schedule("nightly-backup")["status"] == "PAUSED"
    # Resume a paused schedule
    DBOS.resume_schedule("nightly-backup")
    # Check status
    schedule = DBOS.get_schedule("nightly-backup")
    assert schedule["status"] == "ACTIVE"
    # Delete a schedule
    DBOS.delete_schedule("nightly-backup")
    # Verify deletion
    schedule = DBOS.get_schedule("nightly-backup")
    print(schedule)  # None
    assert schedule is None

    hourly_sync, daily_cleanup = page.hourly_sync, page.daily_cleanup
    # Apply multiple schedules at once
    DBOS.apply_schedules(
        [
            {
                "schedule_name": "hourly-sync",
                "workflow_fn": hourly_sync,
                "schedule": "0 0 * * * *",
                "context": {"source": "external-api"},
            },
            {
                "schedule_name": "daily-cleanup",
                "workflow_fn": daily_cleanup,
                "schedule": "0 0 3 * * *",
                "context": {"retention_days": 30},
            },
        ]
    )
    # Later, update schedules atomically
    DBOS.apply_schedules(
        [
            {
                "schedule_name": "hourly-sync",
                "workflow_fn": hourly_sync,
                "schedule": "0 */30 * * * *",  # Changed to every 30 minutes
                "context": {"source": "external-api"},
            },
            {
                "schedule_name": "daily-cleanup",
                "workflow_fn": daily_cleanup,
                "schedule": "0 0 3 * * *",
                "context": {"retention_days": 60},  # Changed retention
            },
        ]
    )
    assert DBOS.get_schedule("hourly-sync")["schedule"] == "0 */30 * * * *"
    assert DBOS.get_schedule("daily-cleanup")["context"] == {"retention_days": 60}

    # The page backfills and triggers a "daily-report" schedule it does not create.
    DBOS.create_schedule(
        schedule_name="daily-report",
        workflow_fn=page.daily_report_workflow,
        schedule="0 0 * * *",
    )
    # Backfill last 7 days of daily reports
    start = datetime.now() - timedelta(days=7)
    end = datetime.now()
    handles = DBOS.backfill_schedule(schedule_name="daily-report", start=start, end=end)
    print(f"Enqueued {len(handles)} backfill workflows")
    # Wait for all to complete
    for handle in handles:
        result = handle.get_result()
        print(f"Completed: {handle.get_workflow_id()}")
    assert len(handles) == 7
    # Trigger the scheduled workflow now
    handle = DBOS.trigger_schedule("daily-report")
    print(f"Triggered workflow: {handle.get_workflow_id()}")
    # Wait for completion
    result = handle.get_result()
    assert result is None

    environment_specific_backup = page.environment_specific_backup
    # Production schedule
    DBOS.create_schedule(
        schedule_name="production-backup",
        workflow_fn=environment_specific_backup,
        schedule="0 0 1 * * *",  # 1 AM daily
        context={
            "environment": "production",
            "retention_days": 30,
            "notification_email": "ops@example.com",
        },
    )
    # Staging schedule
    DBOS.create_schedule(
        schedule_name="staging-backup",
        workflow_fn=environment_specific_backup,
        schedule="0 0 3 * * *",  # 3 AM daily
        context={
            "environment": "staging",
            "retention_days": 7,
            "notification_email": "dev@example.com",
        },
    )
    DBOS.trigger_schedule("staging-backup").get_result()
    assert ("cleanup-backups", "staging", 7) in page.SENT

    # DBOS.workflow_id is the run's id (an attribute, as in DBOS).
    page.distributed_task(datetime(2026, 3, 8, tzinfo=UTC), None)
    (workflow_id,) = [entry[1] for entry in page.SENT if entry[0] == "distributed"]
    assert isinstance(workflow_id, str)
    assert WorkflowRun.objects.filter(pk=workflow_id, name="distributed_task").exists()
    assert DBOS.workflow_id is None  # outside a workflow


def test_durable_sleep_example_is_a_durable_workflow(load):
    page = load("scheduler_doc")
    info, _ = registry.info_of(page.delayed_notification_workflow)
    assert info.name == "delayed_notification_workflow"


def create_metrics_table() -> None:
    timestamp = "TIMESTAMP WITH TIME ZONE" if connection.vendor == "postgresql" else "TEXT"
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE metrics (timestamp {timestamp}, value REAL, metric_type VARCHAR(32))"
        )
        for hours, value, kind in ((2, 1.5, "all"), (30, 9.0, "all"), (3, 2.5, "all")):
            cursor.execute(
                "INSERT INTO metrics VALUES (%s, %s, %s)",
                [adapt(now - timedelta(hours=hours)), value, kind],
            )
        cursor.execute("INSERT INTO metrics VALUES (%s, %s, %s)", [adapt(now), 7.0, "operations"])


def test_the_complete_report_system_example(load, background_worker):
    pytest.importorskip("sqlalchemy")
    page = load("scheduler_doc")
    reports = load("scheduler_doc_sql")
    create_metrics_table()
    try:
        reports.setup_schedules()
        reports.list_active_schedules()
        assert len(DBOS.list_schedules(status="ACTIVE")) == 4
        handle = reports.trigger_report_now("daily-summary")
        report = handle.get_result()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE metrics")
    assert (report["report_type"], report["count"], report["total"]) == ("Daily Summary", 2, 4.0)
    assert report["average"] == 2.0
    sent = [entry for entry in page.SENT if entry[0] == "email"]
    assert [entry[2]["to"] for entry in sent] == ["team@example.com", "manager@example.com"]
