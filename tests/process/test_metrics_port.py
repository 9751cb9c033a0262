"""``runscheduler --metrics-port``: a real process serves the metrics while it works."""

from __future__ import annotations

import re
import signal
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import workflows
from tests.process.children import wait_until

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def finished_runs(url: str) -> float:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
        text = response.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "durable_runs_finished_total" and sample.labels == {
                "workflow": "three_steps",
                "queue": "queues-plain",
                "status": "SUCCESS",
            }:
                total += sample.value
    return total


def test_runscheduler_serves_its_metrics_on_a_port(spawn_worker, executor_id):
    workflows.QUEUE_PLAIN.enqueue(workflows.three_steps, 1)
    worker = spawn_worker(
        "--no-scheduler",
        "--metrics-port",
        "0",
        "--metrics-addr",
        "127.0.0.1",
        executor_id=executor_id("metrics"),
        env={"DURABLE_TEST_POLL_INTERVAL": "0.05"},
    )
    line = worker.expect_line("django_durable metrics on http://127.0.0.1:")
    found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    assert found is not None
    url = f"http://127.0.0.1:{found.group(1)}/"

    wait_until(lambda: finished_runs(url) == 1, "the run counted as finished")

    worker.signal(signal.SIGTERM)
    assert worker.proc.wait(timeout=30) == 0, worker.describe()
