"""Admin forms: the schedule form and the backfill range form.

Validation is ``definitions.errors_of``, the same function the API and the system checks
use; its messages are shown next to the fields they name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.utils import timezone

from django_durable import conf, cron, definitions, registry
from django_durable.definitions import ScheduleDefinition
from django_durable.exceptions import InvalidScheduleError
from django_durable.models import WorkflowQueue, WorkflowSchedule
from django_durable.registry import INTERNAL_QUEUE_NAME
from django_durable.schedules.manual import backfill_range


def schedulable_workflows() -> list[tuple[str, str]]:
    """Choices of the registered workflows that can be scheduled (by registered name)."""
    choices = []
    for name in registry.workflow_names():
        info = registry.find_workflow(name)
        if info is not None and definitions.workflow_problem(info) is None:
            choices.append((name, name))
    return choices


def declared_queues() -> list[tuple[str, str]]:
    """The queues a schedule may use: those declared in code and those in the table."""
    names = {q.name for q in registry.all_queues() if q.name != INTERNAL_QUEUE_NAME}
    names |= set(WorkflowQueue.objects.using(conf.database_alias()).values_list("name", flat=True))
    return [("", "(internal queue)"), *[(name, name) for name in sorted(names)]]


class TimezoneInput(forms.TextInput):
    """A text input with the IANA names as suggestions (a datalist, not a dropdown)."""

    template_name = "django_durable/widgets/timezone_input.html"

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["widget"]["attrs"]["list"] = f"{context['widget']['attrs']['id']}_zones"
        context["zones"] = cron.timezone_names()
        return context


class ContextField(forms.JSONField):
    """The context as JSON text. JSON that Python cannot read back (nested too deep for
    its parser, an integer too long to convert) is a form error, like malformed JSON;
    what it may hold is then checked by ``definitions.errors_of``."""

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except (RecursionError, ValueError):  # JSONDecodeError is handled by the parent
            raise forms.ValidationError(
                "Enter JSON that can be read back: nested at most "
                f"{definitions.MAX_CONTEXT_DEPTH} levels deep, integers of 64 bits.",
                code="invalid",
            ) from None

    def bound_data(self, data: Any, initial: Any) -> Any:
        try:
            return super().bound_data(data, initial)
        except (RecursionError, ValueError):
            return forms.fields.InvalidJSONInput(data)


class WorkflowScheduleForm(forms.ModelForm):  # type: ignore[type-arg]
    workflow_name = forms.ChoiceField(
        label="Workflow",
        help_text="A registered workflow that takes (scheduled_at, context).",
    )
    queue_name = forms.ChoiceField(label="Queue", required=False)

    class Meta:
        model = WorkflowSchedule
        fields = [
            "schedule_name",
            "workflow_name",
            "schedule",
            "cron_timezone",
            "queue_name",
            "context",
            "automatic_backfill",
        ]
        widgets = {"cron_timezone": TimezoneInput}
        field_classes = {"context": ContextField}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, choices in (
            ("workflow_name", [("", "---------"), *schedulable_workflows()]),
            ("queue_name", declared_queues()),
        ):
            field = self.fields.get(name)
            if isinstance(field, forms.ChoiceField):
                field.choices = choices

    def definition(self) -> ScheduleDefinition:
        data = self.cleaned_data
        info = registry.find_workflow(data.get("workflow_name") or "")
        return ScheduleDefinition(
            schedule_name=(data.get("schedule_name") or "").strip(),
            workflow_name=data.get("workflow_name") or "",
            workflow_class_name=info.class_name if info is not None else None,
            schedule=(data.get("schedule") or "").strip(),
            context=data.get("context"),
            automatic_backfill=bool(data.get("automatic_backfill")),
            cron_timezone=(data.get("cron_timezone") or "").strip() or None,
            queue_name=data.get("queue_name") or None,
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # Report every bad field at once; a field that already failed keeps its own error.
        for field, message in definitions.errors_of(self.definition()).items():
            if (field not in self.errors and field in data) or field not in self.fields:
                self.add_error(field if field in self.fields else None, message)
        name = data.get("schedule_name")
        if name and "schedule_name" not in self.errors:
            taken = WorkflowSchedule.objects.filter(schedule_name=name.strip())
            if self.instance.pk is not None:
                taken = taken.exclude(pk=self.instance.pk)
            if taken.exists():
                self.add_error("schedule_name", f"A schedule named {name!r} already exists.")
        return data

    def _post_clean(self) -> None:
        # The definition is checked by clean(); the row is written by the service.
        pass


class BackfillForm(forms.Form):
    """The range of a backfill, as wall-clock times in the schedules' timezone (UTC when
    the schedules have different ones)."""

    start = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}),
    )
    end = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}),
    )

    def __init__(
        self, *args: Any, zone: Any = None, zone_name: str | None = "UTC", **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zone
        where = f"in {zone_name}" if zone_name else "in UTC (the schedules' timezones differ)"
        self.fields["start"].help_text = f"Wall-clock time {where}; slots strictly after it."
        self.fields["end"].help_text = f"Wall-clock time {where}; slots strictly before it."

    def _local(self, value: datetime) -> datetime:
        naive = timezone.make_naive(value) if timezone.is_aware(value) else value
        return naive.replace(tzinfo=self.zone)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start is not None and end is not None:
            try:
                start, end = self._local(start), self._local(end)
                if start >= end:
                    self.add_error("end", "The end must be after the start.")
                else:
                    data["start"], data["end"] = backfill_range(start, end)
            except OverflowError:  # an offset pushes a time past what datetime holds
                self.add_error(None, "These times are outside the range schedules cover.")
            except InvalidScheduleError as exc:
                self.add_error(exc.field if exc.field in self.fields else None, str(exc))
        return data
