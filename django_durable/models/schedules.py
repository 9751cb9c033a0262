"""The ``WorkflowSchedule`` table: cron schedules, each firing runs of one workflow."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from django_durable import conf, definitions

if TYPE_CHECKING:
    from django_durable.models.schedule_writes import Upserted


class ScheduleStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    PAUSED = "PAUSED", "Paused"


class ScheduleOrigin(models.TextChoices):
    CODE = "code", "Code (@scheduled)"
    RUNTIME = "runtime", "Runtime (API or admin)"


class WorkflowScheduleQuerySet(models.QuerySet["WorkflowSchedule"]):
    def active(self) -> WorkflowScheduleQuerySet:
        return self.filter(status=ScheduleStatus.ACTIVE)

    def paused(self) -> WorkflowScheduleQuerySet:
        return self.filter(status=ScheduleStatus.PAUSED)

    def due(self, now: datetime) -> WorkflowScheduleQuerySet:
        """Active schedules whose next fire time has come (served by a partial index)."""
        return self.active().filter(next_fire_at__lte=now)

    def defined_in_code(self) -> WorkflowScheduleQuerySet:
        return self.filter(origin=ScheduleOrigin.CODE)

    def upsert(
        self,
        items: Sequence[definitions.ScheduleDefinition],
        *,
        origin: str,
        now: datetime,
        create_only: bool = False,
        current: Mapping[str, WorkflowSchedule] | None = None,
    ) -> Upserted:
        """Write schedule definitions (the one write of the API, the admin and the
        code-defined schedules), inside the caller's transaction: new ones are inserted,
        changed ones updated, unchanged ones left alone, rows of the other origin never
        touched. See ``django_durable.models.schedule_writes``."""
        from django_durable.models.schedule_writes import upsert

        return upsert(
            self.db,
            items,
            origin=origin,
            now=now,
            create_only=create_only,
            current=current,
        )


class WorkflowSchedule(models.Model):
    """A cron schedule: each fire time enqueues one run of ``workflow_name``."""

    schedule_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    schedule_name = models.CharField(max_length=definitions.MAX_NAME_LENGTH, unique=True)
    workflow_name = models.CharField(max_length=255)
    workflow_class_name = models.CharField(max_length=255, null=True, blank=True)
    schedule = models.CharField(
        "cron",
        max_length=definitions.MAX_CRON_LENGTH,
        help_text="5 fields, or 6 with seconds first; or @daily, ...",
    )
    status = models.CharField(
        max_length=16, choices=ScheduleStatus.choices, default=ScheduleStatus.ACTIVE
    )
    context = models.JSONField(
        null=True, blank=True, help_text="Any JSON value, passed to each run as `context`."
    )
    last_fired_at = models.DateTimeField(null=True, blank=True)
    next_fire_at = models.DateTimeField(null=True, blank=True)
    automatic_backfill = models.BooleanField(
        default=False, help_text="Enqueue slots missed while no scheduler ran (up to a cap)."
    )
    cron_timezone = models.CharField(
        max_length=64, null=True, blank=True, help_text="IANA name; empty means UTC."
    )
    queue_name = models.CharField(
        max_length=255, null=True, blank=True, help_text="Empty means the internal queue."
    )
    origin = models.CharField(
        max_length=16, choices=ScheduleOrigin.choices, default=ScheduleOrigin.RUNTIME
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = WorkflowScheduleQuerySet.as_manager()

    class Meta:
        verbose_name = "workflow schedule"
        ordering = ["schedule_name"]
        permissions = [
            ("trigger_workflowschedule", "Can trigger a run of a schedule now"),
            ("backfill_workflowschedule", "Can backfill a schedule"),
        ]
        indexes = [
            # The scheduler's order: due first, and among schedules due at one instant
            # the one that fired most recently (the most frequent) first.
            models.Index(
                F("next_fire_at"),
                F("last_fired_at").desc(),
                name="durable_schedule_due",
                condition=Q(status="ACTIVE"),
            ),
            # The admin's "workflow" filter and search of schedules.
            models.Index(fields=["workflow_name"], name="durable_schedule_workflow"),
        ]

    def __str__(self) -> str:
        return self.schedule_name

    # -- definition ----------------------------------------------------------------------

    def definition(self) -> definitions.ScheduleDefinition:
        """This row's definition as a value object (not validated)."""
        return definitions.ScheduleDefinition(
            schedule_name=self.schedule_name,
            workflow_name=self.workflow_name,
            workflow_class_name=self.workflow_class_name,
            schedule=self.schedule,
            context=self.context,
            automatic_backfill=self.automatic_backfill,
            cron_timezone=self.cron_timezone or None,
            queue_name=self.queue_name or None,
        )

    def clean(self) -> None:
        errors = definitions.errors_of(self.definition())
        if errors:
            raise ValidationError(errors)

    def to_dict(self) -> dict[str, Any]:
        """The schedule as the API's dict, times as ISO 8601 in the schedule's timezone."""
        tz = definitions.zone_or_utc(self.cron_timezone)

        def local(value: datetime | None) -> str | None:
            return value.astimezone(tz).isoformat() if value is not None else None

        return {
            "schedule_id": str(self.schedule_id),
            "schedule_name": self.schedule_name,
            "workflow_name": self.workflow_name,
            "workflow_class_name": self.workflow_class_name,
            "schedule": self.schedule,
            "status": str(self.status),
            "context": self.context,
            "last_fired_at": local(self.last_fired_at),
            "automatic_backfill": self.automatic_backfill,
            "cron_timezone": self.cron_timezone or None,
            "queue_name": self.queue_name or None,
            "next_fire_at": local(self.next_fire_at),
        }

    # -- transitions ---------------------------------------------------------------------

    def _rows(self) -> WorkflowScheduleQuerySet:
        return WorkflowSchedule.objects.using(self._state.db or conf.database_alias())

    def pause(self) -> bool:
        """``ACTIVE`` to ``PAUSED``; ``False`` if it was not active."""
        now = timezone.now()
        changed = (
            self._rows()
            .filter(pk=self.pk, status=ScheduleStatus.ACTIVE)
            .update(status=ScheduleStatus.PAUSED, updated_at=now)
            == 1
        )
        if changed:
            self.status, self.updated_at = ScheduleStatus.PAUSED, now
        return changed

    def resume(self, next_fire_at: datetime) -> bool:
        """``PAUSED`` to ``ACTIVE``, firing next at ``next_fire_at`` (the first slot after
        now: the paused time is not made up); ``False`` if it was not paused."""
        now = timezone.now()
        changed = (
            self._rows()
            .filter(pk=self.pk, status=ScheduleStatus.PAUSED)
            .update(status=ScheduleStatus.ACTIVE, next_fire_at=next_fire_at, updated_at=now)
            == 1
        )
        if changed:
            self.status, self.next_fire_at, self.updated_at = (
                ScheduleStatus.ACTIVE,
                next_fire_at,
                now,
            )
        return changed

    def advance(
        self, *, expected: datetime | None, next_fire_at: datetime, last_fired_at: datetime | None
    ) -> bool:
        """Move ``next_fire_at`` from ``expected`` on (compare-and-set), recording the last
        slot fired; ``False`` when another scheduler moved it first or it was paused."""
        now = timezone.now()
        values: dict[str, Any] = {"next_fire_at": next_fire_at, "updated_at": now}
        if last_fired_at is not None:
            values["last_fired_at"] = last_fired_at
        changed = (
            self._rows()
            .filter(pk=self.pk, status=ScheduleStatus.ACTIVE, next_fire_at=expected)
            .update(**values)
            == 1
        )
        if changed:
            self.next_fire_at, self.updated_at = next_fire_at, now
            if last_fired_at is not None:
                self.last_fired_at = last_fired_at
        return changed
