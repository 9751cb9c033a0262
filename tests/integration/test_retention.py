"""``django_durable.retention.prune_runs``: which runs go, in batches, and which never do.

Runs are written as rows with chosen statuses and times (``NOW`` is a fixed instant passed
as ``now``), so each rule is checked on exactly the rows it concerns.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models.signals import post_delete

from django_durable import retention, serialization
from django_durable.models import RunStatus, StepOutput, WorkflowRun
from django_durable.retention import PRUNABLE_STATUSES, PruneResult, prune_runs

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
OLD = NOW - 40 * DAY
"""Well before the 30-day cutoff."""
RECENT = NOW - 2 * DAY
"""Well after it."""


def make_run(
    workflow_id: str,
    status: str = RunStatus.SUCCESS,
    *,
    name: str = "three_steps",
    created: datetime = OLD,
    completed: datetime | None = None,
    finished: bool = True,
    parent: str | None = None,
    steps: int = 0,
) -> WorkflowRun:
    """A run row created at ``created``; a finished one completed at ``completed`` (default:
    a minute after creation) unless ``finished`` is False; with ``steps`` step rows."""
    done = status in PRUNABLE_STATUSES and finished
    run = WorkflowRun.objects.create(
        workflow_id=workflow_id,
        name=name,
        status=status,
        inputs=serialization.dumps({"args": [1], "kwargs": {}}),
        parent_id=parent,
        created_at=created,
        updated_at=created,
        started_at=created,
        completed_at=(completed or created + timedelta(minutes=1)) if done else None,
    )
    StepOutput.objects.bulk_create(
        StepOutput(
            run=run,
            step_number=number,
            step_name="add_one",
            output=serialization.dumps(number),
            started_at=created,
            completed_at=created,
        )
        for number in range(1, steps + 1)
    )
    return run


def remaining() -> list[str]:
    return sorted(WorkflowRun.objects.values_list("pk", flat=True))


def prune(**kwargs: Any) -> PruneResult:
    kwargs.setdefault("now", NOW)
    return prune_runs(kwargs.pop("older_than", 30 * DAY), **kwargs)


# ------------------------------------------------------------------------------ the rule


def test_every_finished_status_older_than_the_cutoff_goes_with_its_steps():
    for status in PRUNABLE_STATUSES:
        make_run(f"old-{status}", status, steps=2)
    make_run("young", RunStatus.SUCCESS, created=RECENT, steps=1)

    result = prune()

    assert remaining() == ["young"]
    assert list(StepOutput.objects.values_list("run_id", flat=True)) == ["young"]
    assert dict(result.runs_by_status) == dict.fromkeys(PRUNABLE_STATUSES, 1)
    assert (result.runs, result.steps, result.batches, result.dry_run) == (4, 8, 1, False)
    assert result.cutoff == NOW - 30 * DAY


@pytest.mark.parametrize("status", [RunStatus.ENQUEUED, RunStatus.PENDING])
def test_in_flight_runs_are_never_deleted_however_old(status):
    make_run("ancient", status, created=NOW - 3650 * DAY, steps=3)

    result = prune(older_than=timedelta(seconds=1))

    assert remaining() == ["ancient"]
    assert StepOutput.objects.count() == 3
    assert result.runs == 0


def test_the_finishing_time_decides_not_the_creation_time():
    # Created long ago, finished yesterday (a long durable sleep): too young.
    make_run("finished-late", created=OLD, completed=NOW - DAY)
    # Finished just before and just after the cutoff.
    make_run("just-old", created=OLD, completed=NOW - 30 * DAY - timedelta(seconds=1))
    make_run("just-young", created=OLD, completed=NOW - 30 * DAY + timedelta(seconds=1))

    prune()

    assert remaining() == ["finished-late", "just-young"]


def test_a_finished_run_without_completion_time_ages_from_its_creation():
    make_run("no-completion-old", RunStatus.CANCELLED, created=OLD, finished=False)
    make_run("no-completion-young", RunStatus.CANCELLED, created=RECENT, finished=False)

    prune()

    assert remaining() == ["no-completion-young"]


def test_status_and_workflow_filters_narrow_the_runs():
    make_run("ok-a", RunStatus.SUCCESS, name="a")
    make_run("err-a", RunStatus.ERROR, name="a")
    make_run("err-b", RunStatus.ERROR, name="b")
    make_run("cancelled-c", RunStatus.CANCELLED, name="c")

    assert prune(statuses=["ERROR"], workflow="a").runs == 1
    assert remaining() == ["cancelled-c", "err-b", "ok-a"]
    assert prune(statuses="CANCELLED").runs_by_status == {"CANCELLED": 1}
    assert prune(workflow=["a", "b"]).runs == 2
    assert remaining() == []


# ------------------------------------------------------------------------- child runs


def test_a_finished_child_of_an_in_flight_parent_is_kept():
    make_run("parent", RunStatus.PENDING, created=OLD)
    make_run("parent-1", RunStatus.SUCCESS, parent="parent", steps=1)

    assert prune().runs == 0
    assert remaining() == ["parent", "parent-1"]
    assert StepOutput.objects.filter(run_id="parent-1").count() == 1


def test_a_child_is_kept_while_its_parent_finished_after_the_cutoff():
    # An old child of a parent that failed yesterday: a resume of the parent replays it.
    make_run("parent", RunStatus.ERROR, created=OLD, completed=NOW - DAY)
    make_run("parent-1", RunStatus.SUCCESS, parent="parent")

    assert prune().runs == 0
    assert remaining() == ["parent", "parent-1"]


def test_a_child_goes_with_its_old_parent_and_an_orphan_goes_alone():
    make_run("parent", RunStatus.SUCCESS, steps=2)
    make_run("parent-1", RunStatus.SUCCESS, parent="parent", steps=1)
    make_run("parent-1-1", RunStatus.SUCCESS, parent="parent-1")
    make_run("orphan", RunStatus.ERROR, parent="deleted-long-ago")
    make_run("young-child", RunStatus.SUCCESS, created=RECENT, parent="parent")

    dry = prune(dry_run=True)
    result = prune(batch_size=1)

    assert remaining() == ["young-child"]
    assert (dry.runs, dry.steps) == (result.runs, result.steps) == (4, 3)


def test_a_child_of_a_parent_outside_the_filter_follows_the_parents_age():
    make_run("parent", RunStatus.SUCCESS, name="p")
    make_run("parent-1", RunStatus.SUCCESS, name="c", parent="parent")
    make_run("live", RunStatus.PENDING, name="p")
    make_run("live-1", RunStatus.SUCCESS, name="c", parent="live")

    assert prune(workflow="c").runs == 1

    assert remaining() == ["live", "live-1", "parent"]


# ---------------------------------------------------------------------------- batches


def test_batches_delete_everything_eligible_oldest_first(caplog):
    for index in range(5):
        make_run(f"run-{index}", created=OLD + index * timedelta(minutes=5), steps=1)

    with caplog.at_level(logging.DEBUG, logger="django_durable.retention"):
        result = prune(batch_size=2)

    assert remaining() == []
    assert (result.runs, result.steps, result.batches) == (5, 5, 3)
    assert [r.levelno for r in caplog.records if r.action == "runs_pruned_batch"] == [10] * 3
    (summary,) = [r for r in caplog.records if r.action == "runs_pruned"]
    assert summary.levelno == logging.INFO
    assert "Pruned 5 run(s) and 5 step(s)" in summary.getMessage()
    assert (summary.runs, summary.steps) == (5, 5)


def test_batches_go_oldest_first(monkeypatch):
    for index in (3, 0, 2, 1):
        make_run(f"run-{index}", created=OLD + index * DAY)
    batches: list[list[str]] = []
    delete_batch = retention._delete_batch

    def recording(ids: list[str], *args: Any) -> int:
        batches.append(ids)
        return delete_batch(ids, *args)

    monkeypatch.setattr(retention, "_delete_batch", recording)

    prune(batch_size=3)

    assert batches == [["run-0", "run-1", "run-2"], ["run-3"]]


def test_each_batch_is_a_select_and_a_delete_per_table(django_assert_num_queries):
    for index in range(4):
        make_run(f"run-{index}", steps=3)

    # Two full batches of two, then an empty select ends the loop; each batch runs in
    # its own transaction (a savepoint inside the test's transaction) and deletes from
    # the steps, messages, events, stream entries and runs.
    with django_assert_num_queries(2 * 8 + 3) as captured:
        result = prune(batch_size=2)

    assert (result.runs, result.steps, result.batches) == (4, 12, 2)
    statements = [query["sql"].split()[0].upper() for query in captured.captured_queries]
    assert statements.count("DELETE") == 10
    assert statements.count("SELECT") == 3
    steps_table = StepOutput._meta.db_table
    step_deletes = [q["sql"] for q in captured.captured_queries if steps_table in q["sql"]]
    assert len(step_deletes) == 2 and all(sql.startswith("DELETE") for sql in step_deletes)
    if connection.vendor == "postgresql":
        assert "FOR UPDATE SKIP LOCKED" in captured.captured_queries[1]["sql"]


def test_a_short_batch_ends_the_loop_without_another_select(django_assert_num_queries):
    for index in range(3):
        make_run(f"run-{index}")

    with django_assert_num_queries(8):
        assert prune(batch_size=10).runs == 3


def test_delete_receivers_are_honoured():
    """With a delete signal receiver connected, Django's collector deletes the rows (so
    the receivers run); the result is the same."""
    make_run("a", steps=2)
    make_run("b", RunStatus.ERROR, steps=1)
    seen: list[str] = []

    def receiver(sender: Any, instance: StepOutput, **kwargs: Any) -> None:
        seen.append(f"{instance.run_id}#{instance.step_number}")

    post_delete.connect(receiver, sender=StepOutput)
    try:
        result = prune(batch_size=1)
    finally:
        post_delete.disconnect(receiver, sender=StepOutput)

    assert remaining() == []
    assert sorted(seen) == ["a#1", "a#2", "b#1"]
    assert (result.runs, result.steps, result.batches) == (2, 3, 2)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_run_locked_by_another_transaction_is_skipped_not_waited_for():
    make_run("locked", steps=1)
    make_run("free", steps=1)
    holding, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        try:
            with transaction.atomic():
                list(WorkflowRun.objects.select_for_update().filter(pk="locked"))
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=hold_lock)
    thread.start()
    try:
        assert holding.wait(10)
        result = prune()
    finally:
        release.set()
        thread.join(10)

    assert (result.runs, result.steps) == (1, 1)
    assert remaining() == ["locked"]
    assert prune().runs == 1  # once the lock is gone


# ---------------------------------------------------------------------------- dry run


def test_a_dry_run_counts_per_status_and_deletes_nothing(django_assert_num_queries):
    make_run("s1", RunStatus.SUCCESS, steps=2)
    make_run("s2", RunStatus.SUCCESS, steps=1)
    make_run("e1", RunStatus.ERROR, steps=1)
    make_run("young", RunStatus.SUCCESS, created=RECENT, steps=1)
    make_run("pending", RunStatus.PENDING, steps=1)

    with django_assert_num_queries(2):
        result = prune(dry_run=True)

    assert result.dry_run is True
    assert dict(result.runs_by_status) == {"ERROR": 1, "SUCCESS": 2}
    assert (result.runs, result.steps, result.batches) == (3, 4, 0)
    assert len(remaining()) == 5 and StepOutput.objects.count() == 6


def test_a_dry_run_of_nothing_is_empty():
    result = prune(dry_run=True)
    assert (dict(result.runs_by_status), result.runs, result.steps) == ({}, 0, 0)


# ------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"older_than": timedelta(0)}, "older_than must be a positive timedelta"),
        ({"older_than": -DAY}, "older_than must be a positive timedelta"),
        ({"older_than": 30}, "older_than must be a positive timedelta"),
        ({"older_than": timedelta(days=999_999_999)}, "reaches before the year 1"),
        ({"now": datetime(2026, 6, 1)}, "now must be an aware datetime"),
        ({"batch_size": 0}, "batch_size must be an int >= 1"),
        ({"batch_size": True}, "batch_size must be an int >= 1"),
        ({"statuses": ["ENQUEUED"]}, "Cannot prune runs with status 'ENQUEUED'"),
        ({"statuses": ["SUCCESS", "PENDING", "nope"]}, "'PENDING', 'nope'"),
    ],
)
def test_bad_arguments_raise_value_error_and_delete_nothing(kwargs, message):
    make_run("old", steps=1)
    with pytest.raises(ValueError, match=message):
        prune(**kwargs)
    assert remaining() == ["old"] and StepOutput.objects.count() == 1


def test_the_result_is_frozen():
    result = prune(dry_run=True)
    with pytest.raises(AttributeError):
        result.steps = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.runs_by_status["SUCCESS"] = 1  # type: ignore[index]
