"""A workflow deployed in two versions: ``DURABLE_TEST_DEPLOY_CODE=new`` adds an audit
step behind ``patch("audit")``. Each step body writes an ``Event`` (``<step>-<i>``), so the
test counts how often each body ran across all processes; ``hold`` waits until the test
writes the ``deploy-release`` event, so runs stay in flight across the deploy."""

from __future__ import annotations

import os
import time

import django_durable as durable
from tests.models import Event

NEW_CODE = os.environ.get("DURABLE_TEST_DEPLOY_CODE") == "new"

DEPLOY_QUEUE = durable.Queue("deploy")


def _mark(step: str, i: int) -> int:
    Event.objects.create(label=f"{step}-{i}", value=i)
    return i


@durable.step()
def first(i: int) -> int:
    return _mark("first", i)


@durable.step()
def audit(i: int) -> int:
    return _mark("audit", i)


@durable.step()
def second(i: int) -> int:
    return _mark("second", i)


@durable.step()
def hold(i: int) -> int:
    deadline = time.monotonic() + 60
    while not Event.objects.filter(label="deploy-release").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the test never released the held runs")
        time.sleep(0.05)
    return i


@durable.step()
def third(i: int) -> str:
    _mark("third", i)
    return "new" if NEW_CODE else "old"


if NEW_CODE:

    @durable.workflow(name="deploy_flow")
    def deploy_flow(i: int) -> list[object]:
        first(i)
        branch = "new" if durable.patch("audit") else "old"
        if branch == "new":
            audit(i)
        second(i)
        hold(i)
        return [branch, third(i)]

else:

    @durable.workflow(name="deploy_flow")
    def deploy_flow(i: int) -> list[object]:
        first(i)
        second(i)
        hold(i)
        return ["old", third(i)]
