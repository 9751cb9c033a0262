"""django_durable's signals: what is sent, with which arguments, and only after commit."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection, transaction

import django_durable as durable
from django_durable import conf, registry, signals
from django_durable.models import RunStatus, WorkflowRun, WorkflowSchedule
from django_durable.testing import SchedulerClock, run_until_idle
from tests import workflows
from tests.helpers import THREE_STEP_STATEMENTS

pytestmark = pytest.mark.django_db(transaction=True)

ALL = (
    signals.workflow_enqueued,
    signals.workflow_started,
    signals.workflow_finished,
    signals.step_completed,
    signals.schedule_fired,
)
NAMES = {
    id(signals.workflow_enqueued): "enqueued",
    id(signals.workflow_started): "started",
    id(signals.workflow_finished): "finished",
    id(signals.step_completed): "step",
    id(signals.schedule_fired): "fired",
}


@pytest.fixture
def received() -> Iterator[list[tuple[str, Any, dict[str, Any]]]]:
    """Every signal sent during the test, in order: (kind, sender, arguments)."""
    log: list[tuple[str, Any, dict[str, Any]]] = []

    def receiver(signal: Any, sender: Any, **kwargs: Any) -> None:
        log.append((NAMES[id(signal)], sender, kwargs))

    for signal in ALL:
        signal.connect(receiver, weak=False)
    yield log
    for signal in ALL:
        signal.disconnect(receiver)


def kinds(log: list[tuple[str, Any, dict[str, Any]]]) -> list[str]:
    return [kind for kind, _, _ in log]


def test_a_direct_run_sends_started_each_step_and_finished_in_order(received):
    with durable.SetWorkflowID("sig-direct"):
        assert workflows.three_steps(4) == "value=10"
    assert kinds(received) == ["started", "step", "step", "step", "finished"]
    started, *steps, finished = received
    assert started[1] is WorkflowRun
    assert started[2] == {
        "workflow_id": "sig-direct",
        "workflow_name": "three_steps",
        "executor_id": conf.executor_id(),
        "queue_name": None,  # a direct call
    }
    assert all(s[2]["duration"] >= 0 for s in steps)
    assert [(s[2]["step_number"], s[2]["step_name"], s[2]["failed"]) for s in steps] == [
        (1, "add_one", False),
        (2, "double", False),
        (3, "to_text", False),
    ]
    assert {s[2]["workflow_id"] for s in steps} == {"sig-direct"}
    assert finished[2] == {
        "workflow_id": "sig-direct",
        "workflow_name": "three_steps",
        "status": RunStatus.SUCCESS,
        "queue_name": None,
    }


def test_a_failing_step_and_run_report_failed_and_error(received):
    with durable.SetWorkflowID("sig-fail"), pytest.raises(workflows.PaymentDeclined):
        workflows.failing_workflow(5)
    steps = [kwargs for kind, _, kwargs in received if kind == "step"]
    assert [s["failed"] for s in steps] == [True]
    assert received[-1][2]["status"] == RunStatus.ERROR


def test_a_transaction_step_is_reported_once_its_transaction_committed(received):
    with durable.SetWorkflowID("sig-tx"):
        workflows.transaction_workflow("sig")
    steps = [kwargs["step_name"] for kind, _, kwargs in received if kind == "step"]
    assert steps == ["write_event", "write_event"]


def test_nothing_is_sent_for_work_rolled_back_in_the_callers_transaction(received):
    with pytest.raises(RuntimeError), transaction.atomic():
        workflows.QUEUE_PLAIN.enqueue(workflows.three_steps, 1)
        with durable.SetWorkflowID("sig-rolled-back"):
            workflows.three_steps(1)
        assert received == []  # nothing before the commit
        raise RuntimeError("roll back")
    assert received == []
    assert not WorkflowRun.objects.exists()


def test_inside_the_callers_transaction_signals_wait_for_its_commit(received):
    with transaction.atomic():
        handle = workflows.QUEUE_PLAIN.enqueue(workflows.three_steps, 1)
        assert received == []
    assert kinds(received) == ["enqueued"]
    assert received[0][2] == {
        "workflow_id": handle.workflow_id,
        "workflow_name": "three_steps",
        "queue_name": "queues-plain",
    }


def test_an_enqueued_run_is_reported_enqueued_then_executed_by_a_worker(received):
    handle = workflows.QUEUE_PLAIN.enqueue(workflows.three_steps, 2)
    assert run_until_idle(queues=["queues-plain"]) == 1
    assert kinds(received) == ["enqueued", "started", "step", "step", "step", "finished"]
    assert {kwargs["workflow_id"] for _, _, kwargs in received} == {handle.workflow_id}


def test_a_replayed_step_is_not_reported_again(received):
    from django_durable.testing import SimulatedCrash, crash_after_step, recover

    with crash_after_step(2) as point, pytest.raises(SimulatedCrash):
        with durable.SetWorkflowID("sig-replay"):
            workflows.three_steps(3)
    assert kinds(received) == ["started", "step", "step"]
    received.clear()
    assert recover(point.workflow_id) == "value=8"
    assert kinds(received) == ["started", "step", "finished"]
    assert received[1][2]["step_number"] == 3


def test_cancel_resume_and_fork_are_reported(received):
    handle = workflows.QUEUE_PLAIN.enqueue(workflows.three_steps, 1)
    assert durable.cancel_workflow(handle.workflow_id)
    assert kinds(received) == ["enqueued", "finished"]
    assert received[-1][2]["status"] == RunStatus.CANCELLED
    received.clear()
    durable.resume_workflow(handle.workflow_id)
    assert received[0][0] == "enqueued"
    assert received[0][2]["queue_name"] == registry.INTERNAL_QUEUE_NAME
    run_until_idle()
    received.clear()
    with durable.SetWorkflowID("sig-forked"):
        forked = durable.fork_workflow(handle.workflow_id, 2)
    assert kinds(received) == ["enqueued"]
    assert received[0][2]["workflow_id"] == forked.workflow_id == "sig-forked"


def test_a_scheduler_fire_reports_its_slots_and_each_run(received):
    clock = SchedulerClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    durable.create_schedule(
        schedule_name="sig-every-minute",
        workflow_fn=workflows.scheduled_report,
        schedule="* * * * *",
    )
    clock.place_schedules()
    received.clear()
    assert clock.advance(minutes=2) == 2
    fired = [(sender, kwargs) for kind, sender, kwargs in received if kind == "fired"]
    assert [sender for sender, _ in fired] == [WorkflowSchedule, WorkflowSchedule]
    slots = [kwargs["slots"] for _, kwargs in fired]
    assert slots == [
        [datetime(2026, 3, 2, 12, 1, tzinfo=UTC)],
        [datetime(2026, 3, 2, 12, 2, tzinfo=UTC)],
    ]
    ids = [kwargs["workflow_ids"][0] for _, kwargs in fired]
    assert ids == [
        "sched-sig-every-minute-2026-03-02T12:01:00+00:00",
        "sched-sig-every-minute-2026-03-02T12:02:00+00:00",
    ]
    enqueued = [kwargs["workflow_id"] for kind, _, kwargs in received if kind == "enqueued"]
    assert enqueued == ids
    assert {kwargs["workflow_name"] for _, kwargs in fired} == {"scheduled_report"}


def test_missed_and_skipped_schedules_are_signalled(received):
    from datetime import timedelta

    from django.utils import timezone

    from django_durable.scheduler import Scheduler

    log: list[tuple[str, dict[str, Any]]] = []

    def on_missed(sender: Any, **kwargs: Any) -> None:
        log.append(("missed", kwargs))

    def on_skipped(sender: Any, **kwargs: Any) -> None:
        log.append(("skipped", kwargs))

    signals.schedule_missed.connect(on_missed, weak=False)
    signals.schedule_skipped.connect(on_skipped, weak=False)
    try:
        for name in ("behind", "orphan"):
            durable.create_schedule(
                schedule_name=name, workflow_fn=workflows.scheduled_report, schedule="* * * * *"
            )
        long_ago = timezone.now() - timedelta(hours=1)
        WorkflowSchedule.objects.filter(schedule_name="behind").update(next_fire_at=long_ago)
        WorkflowSchedule.objects.filter(schedule_name="orphan").update(
            next_fire_at=long_ago, workflow_class_name="Elsewhere"
        )
        Scheduler(grace=1).tick()
    finally:
        signals.schedule_missed.disconnect(on_missed)
        signals.schedule_skipped.disconnect(on_skipped)
    assert sorted((kind, kw["schedule_name"], kw["workflow_name"]) for kind, kw in log) == [
        ("missed", "behind", "scheduled_report"),
        ("skipped", "orphan", "scheduled_report"),
    ]
    [missed] = [kw for kind, kw in log if kind == "missed"]
    assert missed["since"] == long_ago
    [skipped] = [kw for kind, kw in log if kind == "skipped"]
    assert "Elsewhere" in skipped["reason"]


def test_a_failing_receiver_is_logged_and_does_not_affect_the_run(caplog):
    def broken(sender: Any, **kwargs: Any) -> None:
        raise ValueError("receiver bug")

    signals.workflow_finished.connect(broken, weak=False)
    try:
        with caplog.at_level(logging.ERROR, logger="django_durable.signals"):
            with durable.SetWorkflowID("sig-broken-receiver"):
                assert workflows.three_steps(1) == "value=4"
    finally:
        signals.workflow_finished.disconnect(broken)
    assert WorkflowRun.objects.get(pk="sig-broken-receiver").status == RunStatus.SUCCESS
    assert "receiver bug" in caplog.text


def test_without_receivers_a_step_costs_no_extra_query(django_assert_num_queries):
    # three_steps: the statements of any three-step workflow, as without signals.
    expected = THREE_STEP_STATEMENTS[connection.vendor]
    with django_assert_num_queries(len(expected)), durable.SetWorkflowID("sig-no-receivers"):
        workflows.three_steps(1)
