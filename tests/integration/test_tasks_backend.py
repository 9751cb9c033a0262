"""``django.tasks`` on durable queues: ``django_durable.tasks.DurableBackend``.

Django 6 only (``django.tasks`` arrived there); on Django 5.2 one test checks that the
backend refuses to load, and the others are skipped. The tasks live in
``tests/tasks_app.py``, imported here with the durable backend configured so they register
as they would from an app's ``tasks.py``.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import django
import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

import django_durable as durable
from django_durable import queues, registry, serialization
from django_durable.engine import recovery
from django_durable.models import Executor, RunStatus, StepOutput, WorkflowRun, WorkflowSchedule
from django_durable.schedules import fire
from django_durable.testing import run_until_idle
from django_durable.worker import Worker
from tests.integration.test_queues import claim_plan
from tests.integration.workers import WorkerThread, release
from tests.process.children import wait_until

DJANGO_6 = django.VERSION >= (6, 0)

TASKS = {
    "default": {
        "BACKEND": "django_durable.tasks.DurableBackend",
        "QUEUES": ["tasks-default", "tasks-other"],
    }
}

if DJANGO_6:
    from django.tasks import (
        TaskResultStatus,
        default_task_backend,
        task_backends,
    )
    from django.tasks.exceptions import (
        InvalidTask,
        TaskResultDoesNotExist,
        TaskResultMismatch,
    )
    from django.tasks.signals import (
        task_enqueued,
        task_finished,
        task_started,
    )

    from django_durable.tasks import DurableBackend, run_priority, task_priority

    with override_settings(TASKS=TASKS):
        from tests import tasks_app

# Workers execute the runs on their own threads: commits must be real.
pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 30.0  # dead-executor timeout of the recovery test


@pytest.fixture(autouse=True)
def _durable_tasks(request: pytest.FixtureRequest) -> Iterator[None]:
    """The durable backend as the default task backend, on Django 6."""
    if not DJANGO_6:
        if not request.node.name.startswith("test_before_django_6"):
            pytest.skip("django.tasks arrived in Django 6.0")
        yield
        return
    tasks_app.CALLS.clear()
    with override_settings(TASKS=TASKS):
        yield


@pytest.mark.skipif(DJANGO_6, reason="Django 6 has django.tasks")
def test_before_django_6_importing_the_backend_is_a_clear_error():
    with pytest.raises(ImproperlyConfigured, match=r"needs django\.tasks.*Django 6\.0"):
        importlib.import_module("django_durable.tasks")


def run_of(result_id: str) -> WorkflowRun:
    return WorkflowRun.objects.get(pk=result_id)


class Recorder:
    """Collects what Django's task signals carry: (signal, status, id, sender)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, name: str) -> Any:
        def receive(sender: Any, task_result: Any, **kwargs: Any) -> None:
            with self._lock:
                self.events.append((name, str(task_result.status), task_result.id, sender))

        return receive

    def of(self, result_id: str) -> list[tuple[str, str]]:
        return [(name, status) for name, status, rid, _ in self.events if rid == result_id]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recorder = Recorder()
    receivers = [
        (task_enqueued, recorder("enqueued")),
        (task_started, recorder("started")),
        (task_finished, recorder("finished")),
    ]
    for signal, receive in receivers:
        signal.connect(receive)
    yield recorder
    for signal, receive in receivers:
        signal.disconnect(receive)


# ---------------------------------------------------------------- configuration


def test_the_backend_is_configured_and_says_what_it_supports():
    backend = task_backends["default"]
    assert isinstance(backend, DurableBackend)
    assert default_task_backend.alias == "default"
    assert (
        backend.supports_defer,
        backend.supports_async_task,
        backend.supports_get_result,
        backend.supports_priority,
    ) == (True, True, True, True)
    assert backend.check() == []


def test_tasks_register_under_their_module_path_when_their_module_is_imported():
    info = registry.get_workflow("tests.tasks_app.add")
    assert info.task is tasks_app.add
    assert info.func is not tasks_app.add.func  # the run's body wraps the task function
    assert registry.find_task(tasks_app.add) is info
    assert registry.find_task(tasks_app.add.using(priority=5)) is info
    assert registry.get_workflow("tests.tasks_app.async_double").is_async


def test_a_queue_that_is_not_a_declared_durable_queue_is_reported_and_refused():
    settings = {"default": {**TASKS["default"], "QUEUES": ["tasks-default", "tasks-nowhere"]}}
    with override_settings(TASKS=settings):
        messages = task_backends["default"].check()
        assert [m.id for m in messages] == ["django_durable.E020"]
        assert "'tasks-nowhere'" in messages[0].msg
        assert "durable.Queue('tasks-nowhere')" in messages[0].hint

        with pytest.raises(InvalidTask, match=r"'tasks-nowhere' of task .* is not a declared"):
            tasks_app.add.using(queue_name="tasks-nowhere").enqueue(1, 2)
    assert not WorkflowRun.objects.exists()


def test_bad_options_are_reported_by_the_checks_and_refuse_every_task():
    settings = {"default": {**TASKS["default"], "OPTIONS": {"MAX_RECOVERY_ATTEMPTS": 0, "X": 1}}}
    with override_settings(TASKS=settings):
        backend = task_backends["default"]
        assert [m.id for m in backend.check()] == ["django_durable.E021"] * 2
        assert "Unknown key 'X'" in backend.check()[0].msg
        with pytest.raises(InvalidTask, match="misconfigured: Unknown key 'X'"):
            tasks_app.add.enqueue(1, 2)
    assert not WorkflowRun.objects.exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"queue_name": "tasks-unlisted"}, "Queue 'tasks-unlisted' is not valid"),
        ({"priority": 101}, "priority must be a whole number between -100 and 100"),
        ({"run_after": timezone.now().replace(tzinfo=None)}, "run_after must be an aware"),
    ],
)
def test_django_validation_rules_apply(changes, message):
    with pytest.raises(InvalidTask, match=message):
        tasks_app.add.using(**changes)


def test_arguments_that_are_not_json_are_refused_and_nothing_is_written():
    with pytest.raises(TypeError, match="arguments must be JSON values"):
        tasks_app.add.enqueue(timezone.now(), 1)  # type: ignore[arg-type]
    assert not WorkflowRun.objects.exists()


def test_autodiscovery_imports_the_apps_tasks_modules_only_with_a_durable_backend(monkeypatch):
    from django_durable.tasks import backend as backend_module

    imported: list[str] = []
    monkeypatch.setattr(backend_module, "autodiscover_modules", imported.append)

    backend_module.autodiscover()
    assert imported == ["tasks"]

    immediate = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    with override_settings(TASKS=immediate):
        backend_module.autodiscover()
    assert imported == ["tasks"]


# ---------------------------------------------------------------- enqueue and results


def test_enqueue_writes_an_enqueued_run_and_returns_a_ready_result():
    result = tasks_app.add.enqueue(2, b=3)

    run = run_of(result.id)
    assert (run.name, run.status, run.queue_name, run.priority, run.run_after) == (
        "tests.tasks_app.add",
        RunStatus.ENQUEUED,
        "tasks-default",
        0,
        None,
    )
    assert serialization.loads(run.inputs) == {"args": [2], "kwargs": {"b": 3}}
    assert (result.status, result.args, result.kwargs, result.backend) == (
        TaskResultStatus.READY,
        [2],
        {"b": 3},
        "default",
    )
    assert result.enqueued_at == run.created_at
    assert result.started_at is None and result.finished_at is None
    assert result.task.func is tasks_app.add.func
    with pytest.raises(ValueError, match="not finished"):
        _ = result.return_value


def test_a_worker_executes_the_run_and_the_result_reads_successful():
    result = tasks_app.add.enqueue(2, 3)

    assert run_until_idle() == 1

    assert tasks_app.CALLS["add"] == 1
    fetched = default_task_backend.get_result(result.id)
    assert (fetched.status, fetched.return_value, fetched.attempts) == (
        TaskResultStatus.SUCCESSFUL,
        5,
        1,
    )
    run = run_of(result.id)
    assert fetched.worker_ids == [run.executor_id]
    assert (fetched.started_at, fetched.finished_at) == (run.started_at, run.completed_at)
    assert fetched.last_attempted_at == run.started_at

    assert result.status == TaskResultStatus.READY
    result.refresh()
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, 5)
    assert tasks_app.add.get_result(result.id).return_value == 5


def test_results_can_be_read_and_refreshed_from_async_code():
    result = async_to_sync(tasks_app.add.aenqueue)(4, 4)
    run_until_idle()

    fetched = async_to_sync(default_task_backend.aget_result)(result.id)
    assert fetched.return_value == 8
    async_to_sync(result.arefresh)()
    assert result.status == TaskResultStatus.SUCCESSFUL


def test_a_failed_task_reports_its_exception_class_and_traceback():
    result = tasks_app.fail.enqueue("card declined")
    run_until_idle()

    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    [error] = result.errors
    assert error.exception_class_path == "tests.tasks_app.TaskFailed"
    assert error.exception_class is tasks_app.TaskFailed
    assert "raise TaskFailed(message)" in error.traceback
    assert error.traceback.rstrip().endswith("tests.tasks_app.TaskFailed: card declined")
    with pytest.raises(ValueError, match="Task failed"):
        _ = result.return_value
    assert run_of(result.id).status == RunStatus.ERROR


def test_a_return_value_json_cannot_hold_fails_the_task_as_django_backends_do():
    result = tasks_app.returns_a_datetime.enqueue()
    run_until_idle()

    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == "builtins.TypeError"


def test_a_cancelled_run_reads_failed_with_the_cancellation_as_its_error():
    result = tasks_app.add.enqueue(1, 1)
    durable.cancel_workflow(result.id)

    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == ("django_durable.exceptions.WorkflowCancelled")
    assert run_until_idle() == 0


def test_a_missing_id_or_a_run_that_is_not_a_task_has_no_result():
    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result("no-such-run")
    handle = durable.start_workflow(tasks_app.enqueues_add, 1)
    handle.get_result(timeout=30)
    with pytest.raises(TaskResultDoesNotExist, match="not a task registered"):
        default_task_backend.get_result(handle.workflow_id)


def test_a_result_of_another_task_is_a_mismatch():
    result = tasks_app.add.enqueue(1, 1)
    with pytest.raises(TaskResultMismatch):
        tasks_app.fail.get_result(result.id)


def test_a_run_named_after_an_importable_function_is_not_a_task_and_is_never_claimed():
    WorkflowRun.objects.create(
        workflow_id="forged",
        name="os.getcwd",
        status=RunStatus.ENQUEUED,
        inputs=serialization.dumps({"args": [], "kwargs": {}}),
        queue_name="tasks-default",
    )
    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result("forged")
    taken = queues.claim(
        tasks_app.QUEUE, "e1", 10, timezone.now() + timedelta(days=1), registry.workflow_names()
    )
    assert taken == []


# Statements of one enqueue: the run's INSERT, one statement in autocommit (with the NOTIFY
# that wakes workers on PostgreSQL), then the SELECT that reads the result for task_enqueued.
ENQUEUE_QUERIES = {"sqlite": 2, "postgresql": 2}


def test_an_enqueue_is_one_statement_and_the_signals_read(django_assert_num_queries):
    with django_assert_num_queries(ENQUEUE_QUERIES[connection.vendor]) as captured:
        result = tasks_app.add.enqueue(1, 1)
    sql = [q["sql"] for q in captured.captured_queries]
    assert "INSERT" in sql[0] and "ON CONFLICT DO NOTHING" in sql[0], sql
    if connection.vendor == "postgresql":
        assert "pg_notify" in sql[0], sql
    assert sql[-1].startswith("SELECT") and result.id in sql[-1], sql


def test_get_result_is_one_query(django_assert_num_queries):
    result = tasks_app.add.enqueue(1, 1)
    with django_assert_num_queries(1):
        default_task_backend.get_result(result.id)


# ---------------------------------------------------------------- priority and run_after


def test_priorities_map_to_the_queues_order_higher_django_priority_first():
    assert (run_priority(10), task_priority(-10), run_priority(-100)) == (-10, 10, 100)
    low = tasks_app.add.using(priority=-5).enqueue(0, 0)
    mid = tasks_app.add.enqueue(0, 1)
    high = tasks_app.add.using(priority=50).enqueue(0, 2)

    assert [run_of(r.id).priority for r in (low, mid, high)] == [5, 0, -50]
    taken = queues.claim(tasks_app.QUEUE, "e1", 10, timezone.now(), registry.workflow_names())
    assert [run.pk for run in taken] == [high.id, mid.id, low.id]
    assert default_task_backend.get_result(high.id).task.priority == 50


def test_the_queue_name_of_the_task_is_the_runs_queue():
    result = tasks_app.add.using(queue_name="tasks-other").enqueue(1, 2)
    assert run_of(result.id).queue_name == "tasks-other"
    assert default_task_backend.get_result(result.id).task.queue_name == "tasks-other"


def test_a_deferred_run_is_not_claimed_before_its_run_after():
    now = timezone.now()
    later = now + timedelta(hours=1)
    result = tasks_app.add.using(run_after=later).enqueue(1, 2)
    assert run_of(result.id).run_after == later
    assert default_task_backend.get_result(result.id).task.run_after == later

    names = registry.workflow_names()
    assert queues.claim(tasks_app.QUEUE, "e1", 10, now, names) == []
    assert run_of(result.id).status == RunStatus.ENQUEUED
    taken = queues.claim(tasks_app.QUEUE, "e1", 10, later, names)
    assert [(run.pk, run.name) for run in taken] == [(result.id, "tests.tasks_app.add")]


def test_a_due_deferred_run_queues_by_its_due_time_within_a_priority():
    now = timezone.now()
    deferred = tasks_app.add.using(run_after=now + timedelta(minutes=10)).enqueue(0, 0)
    plain = tasks_app.add.enqueue(0, 1)

    taken = queues.claim(
        tasks_app.QUEUE, "e1", 10, now + timedelta(minutes=11), registry.workflow_names()
    )
    # Created first, but due ten minutes later than the plain run.
    assert [run.pk for run in taken] == [plain.id, deferred.id]


def test_a_polling_worker_runs_a_deferred_task_once_it_is_due():
    run_after = timezone.now() + timedelta(seconds=1)
    result = tasks_app.add.using(run_after=run_after).enqueue(20, 22)
    worker = WorkerThread(queues=["tasks-default"], poll_interval=0.05, listen=False)
    try:
        wait_until(
            lambda: run_of(result.id).status == RunStatus.SUCCESS, "the deferred task", timeout=20
        )
    finally:
        worker.stop()
    result.refresh()
    assert result.return_value == 42
    assert result.started_at is not None and result.started_at >= run_after


def test_a_batch_worker_returns_while_a_deferred_run_is_not_due():
    tasks_app.add.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(1, 2)
    worker = Worker(queues=["tasks-default"], batch=True, poll_interval=0.05, listen=False)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    thread.join(3)
    finished = not thread.is_alive()
    release(worker)
    thread.join(10)
    assert finished


# ---------------------------------------------------------------- transactions, ids, children


def test_an_enqueue_rolled_back_with_the_callers_transaction_leaves_no_run(recorder):
    with pytest.raises(RuntimeError), transaction.atomic():
        result = tasks_app.add.enqueue(1, 2)
        assert WorkflowRun.objects.filter(pk=result.id).exists()
        raise RuntimeError("roll back")

    assert not WorkflowRun.objects.exists()
    assert recorder.events == []


def test_an_enqueue_committed_with_the_callers_transaction_is_signalled_at_commit(recorder):
    with transaction.atomic():
        result = tasks_app.add.enqueue(1, 2)
        assert recorder.events == []
    assert recorder.of(result.id) == [("enqueued", "READY")]


def test_set_workflow_id_chooses_the_result_id_and_enqueues_it_once():
    with durable.SetWorkflowID("task-order-42"):
        first = tasks_app.add.enqueue(1, 2)
    with durable.SetWorkflowID("task-order-42"):
        again = tasks_app.add.enqueue(1, 2)

    assert first.id == again.id == "task-order-42"
    assert WorkflowRun.objects.count() == 1


def test_a_deduplication_id_refuses_a_second_active_run():
    with durable.SetEnqueueOptions(deduplication_id="nightly"):
        tasks_app.add.enqueue(1, 2)
        with pytest.raises(durable.QueueDeduplicatedError):
            tasks_app.add.enqueue(1, 2)
    assert WorkflowRun.objects.count() == 1


def test_an_enqueue_inside_a_workflow_is_a_child_step_replayed_on_recovery():
    with durable.SetWorkflowID("parent-1"):
        child_id = tasks_app.enqueues_add(5)

    assert child_id == "parent-1-1"
    child = run_of(child_id)
    assert (child.parent_id, child.name) == ("parent-1", "tests.tasks_app.add")
    step = StepOutput.objects.get(run_id="parent-1", step_number=1)
    assert step.child_workflow_id == child_id
    # Replaying the parent returns the recorded child instead of enqueueing again.
    WorkflowRun.objects.filter(pk="parent-1").update(status=RunStatus.ERROR)
    durable.resume_workflow("parent-1")
    run_until_idle()
    assert serialization.loads(run_of("parent-1").output) == child_id
    assert WorkflowRun.objects.filter(name="tests.tasks_app.add").count() == 1
    assert default_task_backend.get_result(child_id).return_value == 6


# ---------------------------------------------------------------- context, async, steps


def test_a_task_that_takes_context_gets_its_result_and_attempt():
    result = tasks_app.with_context.enqueue(7)
    run_until_idle()

    assert default_task_backend.get_result(result.id).return_value == {
        "id": result.id,
        "attempt": 1,
        "status": "RUNNING",
        "x": 7,
        "workflow_id": result.id,
    }
    assert result.args == [7]  # the context is not an argument of the run


def test_an_async_task_runs_on_the_workers_event_loop():
    result: Any = tasks_app.async_double.enqueue(21)
    run_until_idle()

    result.refresh()
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, 42)


def test_steps_and_durable_sleep_inside_a_task_are_checkpointed():
    result = tasks_app.stepped.enqueue(1)
    run_until_idle()

    assert default_task_backend.get_result(result.id).return_value == 20
    steps = list(
        StepOutput.objects.filter(run_id=result.id).values_list("step_number", "step_name")
    )
    assert steps == [(1, "first_step"), (2, "durable.sleep"), (3, "second_step")]


def test_a_recovered_task_replays_its_completed_steps():
    # What a crash after step 1 leaves: the run PENDING on a dead executor, step 1 recorded
    # (with an output the body would not compute, to prove it is replayed).
    result = tasks_app.stepped.enqueue(1)
    queues.claim(tasks_app.QUEUE, "dead-tasks", 1, timezone.now(), registry.workflow_names())
    now = timezone.now()
    Executor.objects.create(
        executor_id="dead-tasks",
        started_at=now - timedelta(hours=1),
        last_heartbeat_at=now - timedelta(seconds=TIMEOUT + 5),
    )
    StepOutput.objects.create(
        run_id=result.id, step_number=1, step_name="first_step", output=serialization.dumps(4)
    )
    assert result.id in recovery.recover_dead(timezone.now(), TIMEOUT)
    assert default_task_backend.get_result(result.id).status == TaskResultStatus.READY

    assert run_until_idle() == 1

    fetched = default_task_backend.get_result(result.id)
    assert (fetched.status, fetched.return_value) == (TaskResultStatus.SUCCESSFUL, 40)
    assert tasks_app.CALLS == {"second_step": 1}
    assert run_of(result.id).recovery_attempts == 1


# ---------------------------------------------------------------- signals


def test_the_task_signals_follow_a_run_from_enqueue_to_its_end(recorder):
    ok = tasks_app.add.enqueue(1, 2)
    bad = tasks_app.fail.enqueue("no")
    run_until_idle()

    assert recorder.of(ok.id) == [
        ("enqueued", "READY"),
        ("started", "RUNNING"),
        ("finished", "SUCCESSFUL"),
    ]
    assert recorder.of(bad.id) == [
        ("enqueued", "READY"),
        ("started", "RUNNING"),
        ("finished", "FAILED"),
    ]
    assert {sender for *_, sender in recorder.events} == {DurableBackend}


def test_a_cancel_sends_task_finished(recorder):
    result = tasks_app.add.enqueue(1, 2)
    durable.cancel_workflow(result.id)
    assert recorder.of(result.id) == [("enqueued", "READY"), ("finished", "FAILED")]


def test_an_async_task_sends_the_signals_too(recorder):
    result = tasks_app.async_double.enqueue(1)
    run_until_idle()
    assert recorder.of(result.id) == [
        ("enqueued", "READY"),
        ("started", "RUNNING"),
        ("finished", "SUCCESSFUL"),
    ]


# ---------------------------------------------------------------- schedules


def test_a_schedule_can_run_a_task(recorder):
    durable.create_schedule(
        schedule_name="task-every-minute",
        workflow_fn=tasks_app.scheduled,
        schedule="* * * * *",
        context={"region": "eu"},
        cron_timezone="Europe/Paris",
        queue_name="tasks-default",
    )
    schedule = durable.get_schedule("task-every-minute")
    assert schedule is not None
    assert schedule["workflow_name"] == "tests.tasks_app.scheduled"

    handle = durable.trigger_schedule("task-every-minute")
    run_until_idle()

    at, context, workflow_id = default_task_backend.get_result(handle.workflow_id).return_value
    assert (context, workflow_id) == ({"region": "eu"}, handle.workflow_id)
    assert at.endswith(("+01:00", "+02:00"))  # the slot in the schedule's timezone
    result = default_task_backend.get_result(handle.workflow_id)
    assert result.args == [at, {"region": "eu"}]
    assert [name for name, _ in recorder.of(handle.workflow_id)] == [
        "enqueued",
        "started",
        "finished",
    ]


def test_a_schedules_fire_enqueues_the_task_run_of_its_slot():
    durable.create_schedule(
        schedule_name="task-fired",
        workflow_fn=tasks_app.scheduled,
        schedule="*/5 * * * *",
        context="ctx",
        queue_name="tasks-other",
    )
    row = WorkflowSchedule.objects.get(schedule_name="task-fired")
    slot = row.next_fire_at
    assert slot is not None

    assert fire.fire(row, slot, cap=10, grace=timedelta(seconds=2)) == [slot]

    run = run_of(fire.slot_run_id("task-fired", slot))
    assert (run.name, run.queue_name, run.status) == (
        "tests.tasks_app.scheduled",
        "tasks-other",
        RunStatus.ENQUEUED,
    )
    run_until_idle()
    result = default_task_backend.get_result(run.pk)
    assert result.return_value == [slot.isoformat(), "ctx", run.pk]
    assert result.task.queue_name == "tasks-other"


def test_a_task_that_takes_context_can_be_scheduled_with_the_schedule_context_after_it():
    durable.create_schedule(
        schedule_name="task-with-context",
        workflow_fn=tasks_app.scheduled_with_context,
        schedule="0 * * * *",
        context=[1, 2],
    )
    handle = durable.trigger_schedule("task-with-context")
    run_until_idle()

    value = default_task_backend.get_result(handle.workflow_id).return_value
    assert (value["id"], value["ctx"]) == (handle.workflow_id, [1, 2])


def test_a_task_without_the_scheduled_signature_cannot_be_scheduled():
    with pytest.raises(durable.InvalidScheduleError, match=r"Task .*takes_three.* cannot be"):
        durable.create_schedule(
            schedule_name="bad-task", workflow_fn=tasks_app.takes_three, schedule="@daily"
        )


def test_a_task_of_another_backend_cannot_be_scheduled():
    immediate = {
        "default": TASKS["default"],
        "other": {
            "BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
            "QUEUES": ["tasks-default"],
        },
    }
    with override_settings(TASKS=immediate):
        from django.tasks import task

        foreign = task(tasks_app.not_a_durable_task, backend="other", queue_name="tasks-default")
        with pytest.raises(durable.InvalidScheduleError, match="not registered with a durable"):
            durable.create_schedule(
                schedule_name="foreign", workflow_fn=foreign, schedule="@daily"
            )
    assert durable.get_schedule("foreign") is None


def test_the_admin_shows_task_runs(admin_client):
    from django.urls import reverse

    result = tasks_app.add.enqueue(1, 2)
    run_until_idle()
    response = admin_client.get(reverse("admin:django_durable_workflowrun_changelist"))
    assert result.id in response.content.decode()
    detail = admin_client.get(reverse("admin:django_durable_workflowrun_change", args=[result.id]))
    assert detail.status_code == 200
    assert "tests.tasks_app.add" in detail.content.decode()


@pytest.mark.skipif(
    not DJANGO_6 or connection.vendor != "postgresql", reason="PostgreSQL query plans"
)
def test_the_claim_of_a_task_queue_uses_the_partial_queue_index():
    plan = claim_plan(registry.get_queue("tasks-default"))
    assert "durable_run_inflight_queue" in plan, plan
