"""The one schedule upsert behind ``create_schedule``, ``apply_schedules``, the admin's
form and the code-defined schedules: idempotent under concurrency, and a few statements
however many schedules it writes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import django_durable as durable
from django_durable.definitions import ScheduleDefinition
from django_durable.exceptions import ScheduleConflict
from django_durable.models import ScheduleOrigin, ScheduleStatus, WorkflowSchedule
from django_durable.schedules import sync_code_schedules
from tests import workflows

pytestmark = pytest.mark.django_db
COMMITS = pytest.mark.django_db(transaction=True)

THREADS = 8


def entry(name: str, cron: str = "*/5 * * * *", **kwargs: Any) -> dict[str, Any]:
    return {
        "schedule_name": name,
        "workflow_fn": workflows.scheduled_report,
        "schedule": cron,
        **kwargs,
    }


def at_once(call: Callable[[], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run ``call`` on ``THREADS`` threads released together; results and errors."""
    barrier = threading.Barrier(THREADS)
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait(10)
            value = call()
            with lock:
                results.append(value)
        except BaseException as exc:  # reported by the test
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results, errors


@COMMITS
def test_apply_schedules_of_one_new_schedule_from_8_threads_is_an_idempotent_upsert():
    results, errors = at_once(lambda: durable.apply_schedules([entry("shared", context={"a": 1})]))

    assert errors == []
    assert len(results) == THREADS
    [row] = WorkflowSchedule.objects.filter(schedule_name="shared")
    assert (row.schedule, row.context, row.status) == ("*/5 * * * *", {"a": 1}, "ACTIVE")
    # Every caller got the same schedule back.
    assert {result[0]["schedule_id"] for result in results} == {str(row.schedule_id)}


@COMMITS
def test_apply_schedules_of_many_new_schedules_from_8_threads_writes_each_once():
    entries = [entry(f"many-{i:03d}") for i in range(50)]

    results, errors = at_once(lambda: durable.apply_schedules(entries))

    assert errors == []
    assert WorkflowSchedule.objects.filter(schedule_name__startswith="many-").count() == 50
    ids = {tuple(item["schedule_id"] for item in result) for result in results}
    assert len(ids) == 1  # the same 50 schedules for every caller


@COMMITS
def test_create_schedule_from_8_threads_creates_one_and_refuses_the_others_clearly():
    results, errors = at_once(
        lambda: durable.create_schedule(
            schedule_name="once", workflow_fn=workflows.scheduled_report, schedule="0 * * * *"
        )
    )

    assert len(results) == 1
    assert len(errors) == THREADS - 1
    assert all(isinstance(error, ScheduleConflict) for error in errors), errors
    assert WorkflowSchedule.objects.filter(schedule_name="once").count() == 1


@COMMITS
def test_code_schedules_written_by_8_schedulers_starting_at_once_are_written_once():
    results, errors = at_once(lambda: sync_code_schedules(timezone.now()))

    assert errors == []
    code = WorkflowSchedule.objects.filter(origin=ScheduleOrigin.CODE)
    assert code.count() == len({name for result in results for name in result.created}) > 0
    assert sum(len(result.created) for result in results) == code.count()


def test_apply_schedules_writes_1000_schedules_in_a_few_statements():
    entries = [entry(f"bulk-{i:04d}", context={"n": i}) for i in range(1000)]

    with CaptureQueriesContext(connection) as created:
        written = durable.apply_schedules(entries)
    entries[7] = entry("bulk-0007", "0 * * * *")  # one changed, 999 unchanged
    with CaptureQueriesContext(connection) as changed:
        durable.apply_schedules(entries)
    with CaptureQueriesContext(connection) as unchanged:
        durable.apply_schedules(entries)

    assert len(written) == 1000
    writes = [q["sql"].split()[0] for q in created.captured_queries]
    # The locking SELECT, one INSERT (and a notification on PostgreSQL), in a transaction.
    assert writes.count("INSERT") == 1 and writes.count("UPDATE") == 0, writes
    assert len(writes) <= 6, writes
    updates = [q["sql"].split()[0] for q in changed.captured_queries]
    assert updates.count("UPDATE") == 1 and updates.count("INSERT") == 0, updates
    idle = [q["sql"].split()[0] for q in unchanged.captured_queries]
    assert "UPDATE" not in idle and "INSERT" not in idle, idle
    row = WorkflowSchedule.objects.get(schedule_name="bulk-0007")
    assert (row.schedule, row.context) == ("0 * * * *", None)
    assert WorkflowSchedule.objects.get(schedule_name="bulk-0999").context == {"n": 999}


def test_the_upsert_keeps_status_and_last_fire_and_retimes_only_on_a_new_cron():
    durable.apply_schedules([entry("kept", context={"v": 1})])
    durable.pause_schedule("kept")
    before = WorkflowSchedule.objects.get(schedule_name="kept")
    fired_at = timezone.now().replace(microsecond=0)
    WorkflowSchedule.objects.filter(pk=before.pk).update(last_fired_at=fired_at)

    durable.apply_schedules([entry("kept", context={"v": 2})])
    same_time = WorkflowSchedule.objects.get(pk=before.pk)
    durable.apply_schedules([entry("kept", "0 0 1 * *", context={"v": 2})])
    retimed = WorkflowSchedule.objects.get(pk=before.pk)

    assert (same_time.status, same_time.context) == (ScheduleStatus.PAUSED, {"v": 2})
    assert same_time.next_fire_at == before.next_fire_at
    assert same_time.last_fired_at == fired_at
    assert retimed.status == ScheduleStatus.PAUSED and retimed.last_fired_at == fired_at
    assert retimed.next_fire_at is not None and retimed.next_fire_at != before.next_fire_at
    assert retimed.next_fire_at.day == 1


def test_json_equal_values_of_different_types_are_a_change():
    durable.apply_schedules([entry("typed", context={"flag": 1})])
    durable.apply_schedules([entry("typed", context={"flag": True})])
    assert WorkflowSchedule.objects.get(schedule_name="typed").context == {"flag": True}


def test_the_upsert_never_overwrites_a_schedule_of_the_other_origin():
    durable.apply_schedules([entry("runtime-one")])
    now = timezone.now()
    written = WorkflowSchedule.objects.upsert(
        [
            ScheduleDefinition(
                schedule_name="runtime-one",
                workflow_name="scheduled_report",
                workflow_class_name=None,
                schedule="0 0 * * *",
            )
        ],
        origin=ScheduleOrigin.CODE,
        now=now,
    )
    assert (written.conflicts, written.rows, written.created, written.updated) == (
        ["runtime-one"],
        [],
        [],
        [],
    )
    assert WorkflowSchedule.objects.get(schedule_name="runtime-one").schedule == "*/5 * * * *"


@COMMITS
def test_the_upsert_runs_inside_a_transaction_only():
    with pytest.raises(TransactionManagementError):
        WorkflowSchedule.objects.upsert([], origin=ScheduleOrigin.RUNTIME, now=timezone.now())


def test_apply_schedules_names_a_code_defined_schedule_it_would_overwrite():
    sync_code_schedules(timezone.now())
    code_name = WorkflowSchedule.objects.filter(origin=ScheduleOrigin.CODE)[0].schedule_name
    with pytest.raises(ScheduleConflict, match=code_name):
        durable.apply_schedules([entry("new-one"), entry(code_name)])
    assert not WorkflowSchedule.objects.filter(schedule_name="new-one").exists()
