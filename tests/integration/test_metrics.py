"""Prometheus metrics: scraped through the view and through ``runscheduler
--metrics-port``, and parsed with prometheus_client's own text parser."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

import django_durable as durable
from django_durable.models import Executor, RunStatus, WorkflowRun, WorkflowSchedule
from django_durable.testing import SchedulerClock, run_until_idle
from tests import workflows

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/metrics/"


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` of one scrape of the view."""
    response = client.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return parse(response.content.decode())


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def metrics_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.metrics_urls"


def test_run_and_step_counters_follow_a_queued_run(client, metrics_urls):
    before = scrape(client)
    workflows.QUEUE_PLAIN.enqueue(workflows.three_steps, 1)
    assert run_until_idle() == 1

    after = scrape(client)

    labels = {"workflow": "three_steps", "queue": "queues-plain"}
    for name in ("durable_runs_enqueued_total", "durable_runs_started_total"):
        assert value(after, name, **labels) - value(before, name, **labels) == 1
    finished = "durable_runs_finished_total"
    assert (
        value(after, finished, **labels, status="SUCCESS")
        - value(before, finished, **labels, status="SUCCESS")
        == 1
    )
    count = "durable_step_duration_seconds_count"
    step = {"workflow": "three_steps", "step": "add_one", "outcome": "succeeded"}
    assert value(after, count, **step) - value(before, count, **step) == 1
    bucket = value(after, "durable_step_duration_seconds_bucket", **step, le="+Inf")
    assert bucket == value(after, count, **step)


def test_gauges_are_read_from_the_database_at_scrape_time(client, metrics_urls):
    now = timezone.now()
    for index in range(3):
        WorkflowRun.objects.create(
            workflow_id=f"w{index}",
            name="three_steps",
            status=RunStatus.ENQUEUED,
            inputs="{}",
            queue_name="queues-plain",
            created_at=now - timedelta(seconds=100 * (index + 1)),
        )
    WorkflowRun.objects.create(
        workflow_id="p",
        name="three_steps",
        status=RunStatus.PENDING,
        inputs="{}",
        queue_name="queues-plain",
    )
    Executor.objects.create(executor_id="a:1", last_heartbeat_at=now)
    Executor.objects.create(executor_id="b:2", last_heartbeat_at=now - timedelta(hours=2))
    durable.create_schedule(
        schedule_name="late", workflow_fn=workflows.scheduled_report, schedule="* * * * *"
    )
    WorkflowSchedule.objects.filter(schedule_name="late").update(
        next_fire_at=now - timedelta(minutes=5)
    )

    samples = scrape(client)

    assert value(samples, "durable_database_up") == 1
    assert value(samples, "durable_queue_depth", queue="queues-plain") == 3
    assert value(samples, "durable_queue_running", queue="queues-plain") == 1
    age = value(samples, "durable_queue_oldest_age_seconds", queue="queues-plain")
    assert 300 <= age < 400
    assert value(samples, "durable_executors_alive") == 1
    assert value(samples, "durable_executors_dead") == 1
    assert value(samples, "durable_schedules_late") == 1


def test_schedule_fires_lag_and_misses_are_counted(client, metrics_urls):
    durable.create_schedule(
        schedule_name="every-minute", workflow_fn=workflows.scheduled_report, schedule="* * * * *"
    )
    before = scrape(client)
    clock = SchedulerClock()
    clock.place_schedules()
    clock.advance(minutes=3)  # three slots, each fired at its own instant
    after = scrape(client)
    fired = "durable_schedule_slots_fired_total"
    assert (
        value(after, fired, workflow="scheduled_report")
        - value(before, fired, workflow="scheduled_report")
        == 3
    )
    lag = "durable_schedule_fire_lag_seconds_count"
    assert (
        value(after, lag, workflow="scheduled_report")
        - value(before, lag, workflow="scheduled_report")
        == 3
    )

    # A schedule left behind for an hour without automatic backfill misses its slots.
    WorkflowSchedule.objects.filter(schedule_name="every-minute").update(
        next_fire_at=timezone.now() - timedelta(hours=1)
    )
    from django_durable.scheduler import Scheduler

    Scheduler(grace=1).tick()
    missed = scrape(client)
    name = "durable_schedule_misses_total"
    assert (
        value(missed, name, workflow="scheduled_report")
        - value(after, name, workflow="scheduled_report")
        == 1
    )


def test_a_skipped_schedule_is_counted(client, metrics_urls):
    durable.create_schedule(
        schedule_name="orphan", workflow_fn=workflows.scheduled_report, schedule="* * * * *"
    )
    WorkflowSchedule.objects.filter(schedule_name="orphan").update(
        workflow_class_name="NotTheClass", next_fire_at=timezone.now() - timedelta(seconds=1)
    )
    before = scrape(client)
    from django_durable.scheduler import Scheduler

    Scheduler(grace=1).tick()
    after = scrape(client)
    name = "durable_schedule_skips_total"
    assert (
        value(after, name, workflow="scheduled_report")
        - value(before, name, workflow="scheduled_report")
        == 1
    )


def test_without_the_extra_nothing_imports_it_and_the_option_says_what_to_install(monkeypatch):
    import subprocess
    import sys

    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import CommandError, call_command

    # A project that does not use the metrics never imports prometheus_client.
    code = (
        "import django, sys; django.setup(); "
        "from django.contrib import admin; admin.autodiscover(); "
        "import django_durable.management.commands.runscheduler; "
        "print('prometheus_client' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "False"

    # Without prometheus_client installed: a clear error, from the package and the option.
    for name in [m for m in sys.modules if m.startswith("django_durable.metrics")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(
        ImproperlyConfigured, match=r"pip install 'django-durable-workflows\[prometheus\]'"
    ):
        import django_durable.metrics  # noqa: F401
    with pytest.raises(CommandError, match="prometheus"):
        call_command("runscheduler", "--batch", "--metrics-port", "0", verbosity=0)
