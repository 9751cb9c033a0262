"""Django's task signals, sent from django_durable's run signals.

``task_enqueued``, ``task_started`` and ``task_finished`` follow the runs of registered
tasks on every path: ``Task.enqueue``, a schedule's fire, a resume or retry from the admin
(enqueued), each execution, recoveries included (started), and every final status, a
cancel included (finished). Like the run signals, each is sent once the transaction that
caused it has committed, with the ``TaskResult`` read from the run's row.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal
from django.tasks import task_backends
from django.tasks.signals import (
    task_enqueued,
    task_finished,
    task_started,
)

from django_durable import conf, signals
from django_durable.models import WorkflowRun
from django_durable.tasks import registration, results


def _sender(task: Any) -> type:
    """The class of the task's backend (Django's signals are sent by backend class)."""
    from django_durable.tasks.backend import DurableBackend  # the backend imports this module

    try:
        backend = task_backends[task.backend]
    except Exception:  # the alias is gone from TASKS; the result still goes out
        return DurableBackend
    return type(backend) if isinstance(backend, DurableBackend) else DurableBackend


def _send(signal: Signal, workflow_id: str, workflow_name: str) -> None:
    task = registration.task_of(workflow_name)
    if task is None:
        return
    run = WorkflowRun.objects.using(conf.database_alias()).filter(pk=workflow_id).first()
    if run is None:
        return
    signal.send(_sender(task), task_result=results.task_result(run, task, task.backend))


def _run_enqueued(sender: Any, *, workflow_id: str, workflow_name: str, **kwargs: Any) -> None:
    _send(task_enqueued, workflow_id, workflow_name)


def _run_started(sender: Any, *, workflow_id: str, workflow_name: str, **kwargs: Any) -> None:
    _send(task_started, workflow_id, workflow_name)


def _run_finished(sender: Any, *, workflow_id: str, workflow_name: str, **kwargs: Any) -> None:
    _send(task_finished, workflow_id, workflow_name)


def connect() -> None:
    """Connect the bridge (idempotent); a durable backend does it when it is created, so
    a project without one pays nothing for it."""
    for signal, bridge in (
        (signals.workflow_enqueued, _run_enqueued),
        (signals.workflow_started, _run_started),
        (signals.workflow_finished, _run_finished),
    ):
        signal.connect(bridge, sender=WorkflowRun, dispatch_uid=f"durable_task_{bridge.__name__}")
