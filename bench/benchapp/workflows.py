"""The benchmark's workload: a queue without limits and a workflow of three trivial steps."""

from __future__ import annotations

import django_durable as durable

BENCH_QUEUE = durable.Queue("bench")


@durable.step()
def add_one(x: int) -> int:
    return x + 1


@durable.step()
def double(x: int) -> int:
    return x * 2


@durable.step()
def subtract_three(x: int) -> int:
    return x - 3


@durable.workflow()
def three_trivial_steps(x: int) -> int:
    return subtract_three(double(add_one(x)))


@durable.workflow()
def sleep_between_steps(x: int, seconds: float) -> int:
    """Two trivial steps around a durable sleep (bench/waiting.py)."""
    y = add_one(x)
    durable.sleep(seconds)
    return double(y)


@durable.workflow()
def wait_for_go(x: int, timeout: float) -> int:
    """Wait for a message on ``go``, then one step (bench/waiting.py)."""
    durable.recv("go", timeout)
    return add_one(x)
