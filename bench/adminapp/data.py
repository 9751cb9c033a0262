"""The benchmark's rows, written with set-based SQL (``INSERT ... SELECT ... FROM
generate_series``): schedules, runs and steps in the proportions ``admin_scale.py``
describes. The workflow and queue names are the ones ``workflows.py`` registers."""

from __future__ import annotations

import time
from typing import Any

from django_durable import error_records

ZONE_COUNT = 300
CRONS = [
    "*/5 * * * *",
    "0 * * * *",
    "*/15 * * * *",
    "0 3 * * *",
    "30 6 * * 1-5",
    "0 0 1 * *",
    "* * * * *",
    "0 */2 * * *",
    "@daily",
    "0 12 * * 0",
]
TABLES = {
    "schedule": "django_durable_workflowschedule",
    "run": "django_durable_workflowrun",
    "step": "django_durable_stepoutput",
}
STEP_NAMES = ["fetch", "transform", "store", "notify", "archive"]


def query(sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    from django.db import connection

    connection.close_if_unusable_or_obsolete()  # after a server restart: reconnect
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def payloads() -> dict[str, str]:
    """Encoded inputs, outputs and an error, as the engine writes them (``%s``: a number)."""
    from datetime import UTC, datetime

    from django_durable import serialization

    slot = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        raise ConnectionError("upstream returned 503 for https://api.example.com/v2/items")
    except ConnectionError as exc:
        error = error_records.encode_exception(exc)
    return {
        "scheduled_inputs": serialization.dumps(
            {"args": [slot, {"tenant": 999999999}], "kwargs": {}}
        ).replace("999999999", "%s"),
        "inputs": serialization.dumps(
            {"args": [999999999, "full"], "kwargs": {"dry_run": False}}
        ).replace("999999999", "%s"),
        "output": serialization.dumps({"rows": 999999999, "ok": True}).replace("999999999", "%s"),
        "error": error,
    }


def fill(schedules: int, runs: int, step_runs: int, steps: int) -> float:
    """Write the rows with set-based SQL; seconds taken (VACUUM ANALYZE included)."""
    from django_durable import cron, registry
    from django_durable.registry import INTERNAL_QUEUE_NAME

    t0 = time.perf_counter()
    zones_all = cron.timezone_names()
    zones = [zones_all[i * len(zones_all) // ZONE_COUNT] for i in range(ZONE_COUNT)]
    queues = sorted(q.name for q in registry.all_queues() if q.name != INTERNAL_QUEUE_NAME)
    workflows = registry.workflow_names()
    payload = payloads()
    query("SELECT setseed(0.42)")
    query(
        """
        INSERT INTO django_durable_workflowschedule (schedule_id, schedule_name, workflow_name,
            workflow_class_name, schedule, status, context, last_fired_at, next_fire_at,
            automatic_backfill, cron_timezone, queue_name, origin, created_at, updated_at)
        SELECT gen_random_uuid(), format('schedule-%%s', lpad(i::text, 6, '0')),
            (%(workflows)s::text[])[1 + (i * 7) %% cardinality(%(workflows)s::text[])],
            NULL, (%(crons)s::text[])[1 + (i * 13) %% cardinality(%(crons)s::text[])],
            CASE WHEN i %% 20 = 7 THEN 'PAUSED' ELSE 'ACTIVE' END,
            jsonb_build_object('tenant', i, 'region', 'eu-' || (i %% 7)),
            now() - (i %% 1440) * interval '1 minute',
            now() + ((i * 37) %% 1440) * interval '1 minute',
            i %% 10 = 5,
            CASE WHEN i %% 10 = 3 THEN NULL
                ELSE (%(zones)s::text[])[1 + (i * 11) %% cardinality(%(zones)s::text[])] END,
            CASE WHEN i %% 4 = 0 THEN NULL
                ELSE (%(queues)s::text[])[1 + (i * 17) %% cardinality(%(queues)s::text[])] END,
            CASE WHEN i %% 100 = 1 THEN 'code' ELSE 'runtime' END,
            now() - interval '120 days' + i * interval '1 second', now()
        FROM generate_series(0, %(n)s - 1) AS i
        """,
        {"n": schedules, "workflows": workflows, "crons": CRONS, "zones": zones, "queues": queues},
    )
    # j: the schedule of a scheduled run; its workflow and queue use the formulas above.
    query(
        """
        INSERT INTO django_durable_workflowrun (workflow_id, name, class_name, config_name, status,
            inputs, output, error, executor_id, recovery_attempts, queue_name, priority,
            deduplication_id, schedule_name, parent_id, created_at, updated_at, started_at,
            completed_at)
        SELECT
            CASE WHEN scheduled
                THEN format('sched-%%s-%%s', sname,
                    to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'))
                ELSE 'run-' || md5(i::text) END,
            CASE WHEN scheduled
                THEN (%(workflows)s::text[])[1 + (j * 7) %% cardinality(%(workflows)s::text[])]
                ELSE (%(workflows)s::text[])[
                    1 + floor(cardinality(%(workflows)s::text[]) * r2 ^ 3)::int] END,
            NULL, NULL, status,
            CASE WHEN scheduled THEN format(%(scheduled_inputs)s, j)
                ELSE format(%(inputs)s, i) END,
            CASE WHEN status = 'SUCCESS' THEN format(%(output)s, i) END,
            CASE WHEN status = 'ERROR' THEN %(error)s END,
            CASE WHEN status <> 'ENQUEUED' THEN 'host-' || (i %% 4) || '-worker' END,
            0,
            CASE WHEN scheduled THEN
                CASE WHEN j %% 4 = 0 THEN %(internal)s ELSE
                (%(queues)s::text[])[1 + (j * 17) %% cardinality(%(queues)s::text[])] END
                WHEN r3 < 0.3 THEN NULL
                ELSE (%(queues)s::text[])[
                    1 + floor(cardinality(%(queues)s::text[]) * r3 ^ 2)::int] END,
            0, NULL, CASE WHEN scheduled THEN sname END, NULL,
            created, coalesce(completed, started, created), started, completed
        FROM (
            SELECT i, j, scheduled, sname, status, created,
                CASE WHEN status <> 'ENQUEUED' THEN created + interval '0.2 second' END
                    AS started,
                CASE WHEN status NOT IN ('ENQUEUED', 'PENDING')
                    THEN created + interval '0.2 second' + r2 * interval '30 seconds' END
                    AS completed,
                r2, r3
            FROM (
                SELECT i, j, scheduled, r2, r3,
                    format('schedule-%%s', lpad(j::text, 6, '0')) AS sname,
                    CASE WHEN r1 < 0.90 THEN 'SUCCESS' WHEN r1 < 0.95 THEN 'ERROR'
                        WHEN r1 < 0.96 THEN 'CANCELLED'
                        WHEN r1 < 0.965 THEN 'MAX_RECOVERY_ATTEMPTS_EXCEEDED'
                        WHEN r1 < 0.98 THEN 'PENDING' ELSE 'ENQUEUED' END AS status,
                    date_trunc('second', now()) - (%(n)s - i) * %(step)s * interval '1 second'
                        AS created
                FROM (
                    SELECT i, (i::bigint * 7919) %% %(schedules)s AS j,
                        random() < 0.4 AS scheduled, random() AS r1, random() AS r2,
                        random() AS r3
                    FROM generate_series(0, %(n)s - 1) AS i
                ) AS drawn
            ) AS typed
        ) AS timed
        """,
        {
            "n": runs,
            "schedules": schedules,
            "step": 90 * 86400 / runs,
            "workflows": workflows,
            "queues": queues,
            "internal": INTERNAL_QUEUE_NAME,
            **payload,
        },
    )
    query(
        """
        INSERT INTO django_durable_stepoutput (workflow_id, step_number, step_name, output, error,
            child_workflow_id, started_at, completed_at)
        SELECT r.workflow_id, s, (%(names)s::text[])[1 + s %% cardinality(%(names)s::text[])],
            CASE WHEN r.status = 'ERROR' AND s = %(steps)s - 1 THEN NULL
                ELSE format(%(output)s, s) END,
            CASE WHEN r.status = 'ERROR' AND s = %(steps)s - 1 THEN %(error)s END,
            NULL, r.started_at + s * interval '1 second',
            r.started_at + s * interval '1 second' + interval '0.3 second'
        FROM (
            SELECT workflow_id, status, started_at FROM django_durable_workflowrun
            WHERE started_at IS NOT NULL ORDER BY hashtext(workflow_id) LIMIT %(k)s
        ) AS r CROSS JOIN generate_series(0, %(steps)s - 1) AS s
        """,
        {"k": step_runs, "steps": steps, "names": STEP_NAMES, **payload},
    )
    for table in TABLES.values():
        query(f"VACUUM (ANALYZE) {table}")
    return time.perf_counter() - t0


def empty() -> None:
    query("TRUNCATE " + ", ".join(TABLES.values()))


def sizes() -> str:
    rows = query(
        "SELECT c.relname, c.reltuples::bigint, pg_size_pretty(pg_table_size(c.oid)), "
        "pg_size_pretty(pg_indexes_size(c.oid)) FROM pg_class c WHERE c.relname = ANY(%s) "
        "ORDER BY c.relname",
        [list(TABLES.values())],
    )
    return "; ".join(f"{n}: {t:,} rows, {s} + {i} indexes" for n, t, s, i in rows)
