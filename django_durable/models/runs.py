"""Tables: one ``WorkflowRun`` per workflow call, one ``StepOutput`` per completed step."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from django_durable import conf, error_records, serialization, values
from django_durable.exceptions import DurableError
from django_durable.models.waits import CLEARED_WAIT, WaitingFor


class RunStatus(models.TextChoices):
    ENQUEUED = "ENQUEUED", "Enqueued"
    PENDING = "PENDING", "Pending"
    SUCCESS = "SUCCESS", "Success"
    ERROR = "ERROR", "Error"
    CANCELLED = "CANCELLED", "Cancelled"
    MAX_RECOVERY_ATTEMPTS_EXCEEDED = (
        "MAX_RECOVERY_ATTEMPTS_EXCEEDED",
        "Max recovery attempts exceeded",
    )


IN_FLIGHT = (RunStatus.ENQUEUED, RunStatus.PENDING)
FINISHED = (
    RunStatus.SUCCESS,
    RunStatus.ERROR,
    RunStatus.CANCELLED,
    RunStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED,
)

DUE_AT = Coalesce("run_after", "created_at")
"""When an enqueued run becomes claimable: its ``run_after``, or its creation time."""


class WorkflowRunQuerySet(models.QuerySet["WorkflowRun"]):
    def enqueued(self) -> WorkflowRunQuerySet:
        return self.filter(status=RunStatus.ENQUEUED)

    def pending(self) -> WorkflowRunQuerySet:
        return self.filter(status=RunStatus.PENDING)

    def due(self, now: datetime) -> WorkflowRunQuerySet:
        """Runs without a ``run_after``, or whose ``run_after`` has come by ``now``."""
        return self.filter(Q(run_after__isnull=True) | Q(run_after__lte=now))

    def of_executors(self, executor_ids: list[str]) -> WorkflowRunQuerySet:
        return self.filter(executor_id__in=executor_ids)


class WorkflowRun(models.Model):
    """One call of a workflow: its inputs, status, outcome and where it runs."""

    workflow_id = models.CharField(max_length=255, primary_key=True)
    name = models.CharField(max_length=255)
    class_name = models.CharField(max_length=255, null=True, blank=True)
    config_name = models.CharField(max_length=255, null=True, blank=True)
    status = models.CharField(max_length=32, choices=RunStatus.choices, default=RunStatus.PENDING)
    inputs = models.TextField(help_text="Tagged JSON: {'args': [...], 'kwargs': {...}}")
    output = models.TextField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    executor_id = models.CharField(max_length=255, null=True, blank=True)
    recovery_attempts = models.PositiveIntegerField(default=0)
    queue_name = models.CharField(max_length=255, null=True, blank=True)
    priority = models.IntegerField(default=0)
    run_after = models.DateTimeField(
        null=True,
        blank=True,
        help_text="An enqueued run is not claimed before this time; empty: at once.",
    )
    deduplication_id = models.CharField(max_length=255, null=True, blank=True)
    timeout_seconds = models.FloatField(
        null=True, blank=True, help_text="SetWorkflowTimeout: seconds from start to deadline."
    )
    deadline = models.DateTimeField(
        null=True, blank=True, help_text="The run (and its children) is cancelled at this time."
    )
    waiting_for = models.CharField(
        max_length=16,
        choices=WaitingFor.choices,
        null=True,
        blank=True,
        help_text="What a parked run waits for; it resumes at run_after at the latest.",
    )
    wait_key = models.CharField(
        max_length=255, null=True, blank=True, help_text="The awaited message topic or event key."
    )
    wait_workflow_id = models.CharField(
        max_length=255, null=True, blank=True, help_text="The run whose event is awaited."
    )
    schedule_name = models.CharField(max_length=255, null=True, blank=True)
    parent_id = models.CharField(max_length=255, null=True, blank=True)
    forked_from = models.CharField(
        max_length=255, null=True, blank=True, help_text="The run this one was forked from."
    )
    trace_context = models.TextField(
        null=True,
        blank=True,
        help_text="The trace (W3C traceparent) of the code that started it, when traced.",
    )
    application_version = models.CharField(
        max_length=255,
        null=True,
        blank=True,
        help_text="The application version it runs under; empty: any worker may run it.",
    )
    queue_partition_key = models.CharField(
        max_length=255,
        null=True,
        blank=True,
        help_text="Its partition of a partitioned queue, whose limits apply per partition.",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = WorkflowRunQuerySet.as_manager()

    class Meta:
        verbose_name = "workflow run"
        permissions = [
            ("cancel_workflowrun", "Can cancel a run"),
            ("resume_workflowrun", "Can resume a run"),
            ("fork_workflowrun", "Can retry or fork a run from a step"),
        ]
        indexes = [
            # The index sets of a row written by a direct call (no queue, schedule or parent)
            # stay small: the queue, schedule and parent indexes are partial.
            # The claim's order: priority, then due time (``run_after`` of a deferred run,
            # otherwise the creation time), so runs deferred to later sort after the due ones.
            models.Index(
                F("queue_name"),
                F("priority"),
                DUE_AT,
                name="durable_run_inflight_queue",
                condition=Q(status__in=IN_FLIGHT, queue_name__isnull=False),
            ),
            models.Index(
                fields=["executor_id", "status"],
                name="durable_run_executor",
                condition=Q(status__in=IN_FLIGHT),
            ),
            models.Index(fields=["status", "created_at"], name="durable_run_status"),
            models.Index(
                fields=["queue_name", "started_at"],
                name="durable_run_queue_started",
                condition=Q(queue_name__isnull=False),
            ),
            # The admin's run list filtered by workflow or schedule, newest first.
            models.Index(fields=["name", "created_at"], name="durable_run_name_created"),
            models.Index(
                fields=["schedule_name", "created_at"],
                name="durable_run_schedule_created",
                condition=Q(schedule_name__isnull=False),
            ),
            models.Index(
                fields=["parent_id"],
                name="durable_run_parent",
                condition=Q(parent_id__isnull=False),
            ),
            # The partitions of a partitioned queue and their runs in flight.
            models.Index(
                fields=["queue_name", "queue_partition_key"],
                name="durable_run_partition",
                condition=Q(status__in=IN_FLIGHT, queue_partition_key__isnull=False),
            ),
            # Runs filtered by application version (admin, list_workflows), newest first.
            models.Index(
                fields=["application_version", "created_at"],
                name="durable_run_version",
                condition=Q(application_version__isnull=False),
            ),
            # Parked runs waiting for an event, found by ``set_event`` to wake them.
            models.Index(
                fields=["wait_workflow_id", "wait_key"],
                name="durable_run_event_waiters",
                condition=Q(waiting_for="event"),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["queue_name", "deduplication_id"],
                name="durable_run_dedup_active",
                condition=Q(status__in=IN_FLIGHT, deduplication_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.workflow_id} ({self.status})"

    def to_status(
        self, *, load_input: bool = True, load_output: bool = True
    ) -> values.WorkflowStatus:
        """This row as a frozen ``WorkflowStatus`` (without its input, or its output and
        error, when those are not to be loaded)."""
        inputs = None
        if load_input:
            try:
                inputs = serialization.loads(self.inputs)
            except DurableError:
                inputs = None
        finished = self.status == RunStatus.SUCCESS and load_output
        return values.WorkflowStatus(
            workflow_id=self.workflow_id,
            status=self.status,
            name=self.name,
            class_name=self.class_name,
            config_name=self.config_name,
            input=inputs,
            output=serialization.loads(self.output) if finished else None,
            error=error_records.decode_exception(self.error)
            if load_output and self.error
            else None,
            executor_id=self.executor_id,
            recovery_attempts=self.recovery_attempts,
            queue_name=self.queue_name,
            priority=self.priority,
            deduplication_id=self.deduplication_id,
            schedule_name=self.schedule_name,
            parent_workflow_id=self.parent_id,
            app_version=self.application_version,
            queue_partition_key=self.queue_partition_key,
            forked_from=self.forked_from,
            created_at=self.created_at,
            updated_at=self.updated_at,
            started_at=self.started_at,
            completed_at=self.completed_at,
            timeout_seconds=self.timeout_seconds,
            deadline=self.deadline,
        )

    def _row(self) -> WorkflowRunQuerySet:
        """A queryset on this row's database (the durable one, unless loaded elsewhere)."""
        return WorkflowRun.objects.using(self._state.db or conf.database_alias())

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    def cancel(self) -> bool:
        """Mark an in-flight run cancelled; ``False`` if it had already finished."""
        now = timezone.now()
        changed = (
            self._row()
            .filter(pk=self.pk, status__in=IN_FLIGHT)
            .update(status=RunStatus.CANCELLED, completed_at=now, updated_at=now)
            == 1
        )
        if changed:
            self.status = RunStatus.CANCELLED
        return changed

    def take_over(self, executor_id: str, *, from_executor: str | None) -> bool:
        """Claim a ``PENDING`` run of ``from_executor`` for ``executor_id`` (compare-and-set).

        Counts one recovery attempt. ``False`` when another process claimed it first.
        """
        now = timezone.now()
        changed = (
            self._row()
            .filter(pk=self.pk, status=RunStatus.PENDING, executor_id=from_executor)
            .update(
                executor_id=executor_id,
                recovery_attempts=models.F("recovery_attempts") + 1,
                updated_at=now,
            )
            == 1
        )
        if changed:
            self.executor_id = executor_id
            self.recovery_attempts += 1
            self.updated_at = now
        return changed

    def requeue(self, queue_name: str) -> bool:
        """Put a run that is not executing back on ``queue_name`` as ``ENQUEUED`` (resume).

        Its recorded steps stay; the outcome, executor, recovery count, deduplication id,
        deadline and any delay or wait are cleared (it starts at once; a ``timeout_seconds``
        gives it a new deadline when it starts). ``False`` if it succeeded or is executing
        meanwhile (compare-and-set).
        """
        now = timezone.now()
        changed = (
            self._row()
            .filter(pk=self.pk)
            .exclude(status__in=(RunStatus.SUCCESS, RunStatus.PENDING))
            .update(
                status=RunStatus.ENQUEUED,
                queue_name=queue_name,
                executor_id=None,
                recovery_attempts=0,
                deduplication_id=None,
                output=None,
                error=None,
                started_at=None,
                completed_at=None,
                updated_at=now,
                **CLEARED_WAIT,
            )
            == 1
        )
        if changed:
            self.status, self.queue_name, self.executor_id = RunStatus.ENQUEUED, queue_name, None
            self.recovery_attempts = 0
            self.deduplication_id = self.output = self.error = None
            for name, value in CLEARED_WAIT.items():
                setattr(self, name, value)
            self.started_at = self.completed_at = None
            self.updated_at = now
        return changed

    def give_up(self) -> bool:
        """Mark a ``PENDING`` run of its recorded executor as having exceeded its recovery
        attempts (compare-and-set); ``False`` if another process moved it first."""
        now = timezone.now()
        changed = (
            self._row()
            .filter(pk=self.pk, status=RunStatus.PENDING, executor_id=self.executor_id)
            .update(
                status=RunStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED, completed_at=now, updated_at=now
            )
            == 1
        )
        if changed:
            self.status = RunStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED
            self.completed_at = self.updated_at = now
        return changed

    def requeue_orphan(self, *, from_executor: str | None, queue_name: str) -> bool:
        """Put a ``PENDING`` run whose executor died back on ``queue_name`` (compare-and-set
        on its executor), counting one recovery attempt; its recorded steps stay. ``False``
        if another process moved it first."""
        now = timezone.now()
        changed = (
            self._row()
            .filter(pk=self.pk, status=RunStatus.PENDING, executor_id=from_executor)
            .update(
                status=RunStatus.ENQUEUED,
                executor_id=None,
                queue_name=queue_name,
                recovery_attempts=models.F("recovery_attempts") + 1,
                updated_at=now,
            )
            == 1
        )
        if changed:
            self.status, self.executor_id, self.queue_name = RunStatus.ENQUEUED, None, queue_name
            self.recovery_attempts += 1
            self.updated_at = now
        return changed

    def fail_unrunnable(self, error: str) -> bool:
        """End an in-flight run that cannot be executed (undecodable inputs, code this
        process cannot resolve) as ``ERROR`` with ``error``; ``False`` if it finished or
        was taken meanwhile. ``resume_workflow`` runs it again once the cause is fixed."""
        now = timezone.now()
        changed = (
            self._row()
            .filter(pk=self.pk, status=self.status, executor_id=self.executor_id)
            .filter(status__in=IN_FLIGHT)
            .update(status=RunStatus.ERROR, error=error, completed_at=now, updated_at=now)
            == 1
        )
        if changed:
            self.status, self.error = RunStatus.ERROR, error
            self.completed_at = self.updated_at = now
        return changed
