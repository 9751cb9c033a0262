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


class _Bridge:
    """Forwards the run signals of task runs as Django's task signals, sent by the class of
    the task's backend (``fallback``, the durable backend class, when its alias is gone)."""

    def __init__(self, fallback: type) -> None:
        self.fallback = fallback

    def sender(self, task: Any) -> type:
        try:
            backend = task_backends[task.backend]
        except Exception:  # the alias is gone from TASKS; the result still goes out
            return self.fallback
        return type(backend) if isinstance(backend, self.fallback) else self.fallback

    def send(self, signal: Signal, workflow_id: str, workflow_name: str) -> None:
        task = registration.task_of(workflow_name)
        if task is None:
            return
        run = WorkflowRun.objects.using(conf.database_alias()).filter(pk=workflow_id).first()
        if run is None:
            return
        signal.send(self.sender(task), task_result=results.task_result(run, task, task.backend))

    def enqueued(self, sender: Any, *, workflow_id: str, workflow_name: str, **kw: Any) -> None:
        self.send(task_enqueued, workflow_id, workflow_name)

    def started(self, sender: Any, *, workflow_id: str, workflow_name: str, **kw: Any) -> None:
        self.send(task_started, workflow_id, workflow_name)

    def finished(self, sender: Any, *, workflow_id: str, workflow_name: str, **kw: Any) -> None:
        self.send(task_finished, workflow_id, workflow_name)


def connect(backend_class: type) -> None:
    """Connect the bridge (idempotent); a durable backend does it when it is created, so
    a project without one pays nothing for it."""
    bridge = _Bridge(backend_class)
    for signal, receiver in (
        (signals.workflow_enqueued, bridge.enqueued),
        (signals.workflow_started, bridge.started),
        (signals.workflow_finished, bridge.finished),
    ):
        signal.connect(
            receiver,
            sender=WorkflowRun,
            weak=False,
            dispatch_uid=f"durable_task_{receiver.__name__}",
        )
