"""Tables of the messages sent to runs, the events runs publish and their streams."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from django_durable import serialization
from django_durable.models.runs import WorkflowRun


class WorkflowMessageQuerySet(models.QuerySet["WorkflowMessage"]):
    def unread(self, workflow_id: str, topic: str | None) -> WorkflowMessageQuerySet:
        """The messages of ``workflow_id`` on ``topic`` not yet received, oldest first."""
        return self.filter(destination_id=workflow_id, topic=topic, consumed_at=None).order_by(
            "pk"
        )


class WorkflowMessage(models.Model):
    """A message sent to a run with ``send``; ``recv`` consumes each one once."""

    destination = models.ForeignKey(
        WorkflowRun,
        on_delete=models.CASCADE,
        related_name="messages",
        db_column="destination_id",
    )
    topic = models.CharField(max_length=255, null=True, blank=True)
    message = models.TextField(help_text="Tagged JSON.")
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    consumed_at = models.DateTimeField(null=True, blank=True)

    objects = WorkflowMessageQuerySet.as_manager()

    class Meta:
        verbose_name = "workflow message"
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(
                fields=["destination", "idempotency_key"],
                name="durable_message_idempotent",
                condition=Q(idempotency_key__isnull=False),
            ),
        ]
        indexes = [
            # recv: the oldest unread message of a run on a topic.
            models.Index(
                fields=["destination", "topic", "id"],
                name="durable_message_unread",
                condition=Q(consumed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"message to {self.destination_id} on {self.topic!r}"

    @property
    def value(self) -> object:
        return serialization.loads(self.message)


class WorkflowEvent(models.Model):
    """The latest value a run published under a key with ``set_event``."""

    run = models.ForeignKey(
        WorkflowRun,
        on_delete=models.CASCADE,
        related_name="events",
        db_column="workflow_id",
        db_index=False,  # the (run, key) unique constraint serves lookups by run
    )
    key = models.CharField(max_length=255)
    value = models.TextField(help_text="Tagged JSON.")
    step_number = models.PositiveIntegerField(
        null=True, blank=True, help_text="The step that set this value (a fork keeps it before)."
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "workflow event"
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(fields=["run", "key"], name="durable_event_unique"),
        ]

    def __str__(self) -> str:
        return f"event {self.key!r} of {self.run_id}"


class StreamEntry(models.Model):
    """One value written to a run's stream (``write_stream``), or its end (``close_stream``)."""

    run = models.ForeignKey(
        WorkflowRun,
        on_delete=models.CASCADE,
        related_name="stream_entries",
        db_column="workflow_id",
        db_index=False,  # the (run, key, position) unique constraint serves reads
    )
    key = models.CharField(max_length=255)
    position = models.PositiveIntegerField(help_text="0, 1, 2... within the stream.")
    value = models.TextField(null=True, blank=True, help_text="Tagged JSON; empty at the end.")
    closed = models.BooleanField(default=False, help_text="This entry closes the stream.")
    step_number = models.PositiveIntegerField(
        null=True, blank=True, help_text="The step that wrote it (a fork keeps it before)."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "stream entry"
        verbose_name_plural = "stream entries"
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(
                fields=["run", "key", "position"], name="durable_stream_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"stream {self.key!r} of {self.run_id} #{self.position}"
