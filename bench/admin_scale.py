"""Benchmark: the Django admin's pages with 100,000 schedules and 1,000,000 runs.

Run from the repository root (PostgreSQL only)::

    .venv/bin/python bench/admin_scale.py [--schedules 100000] [--runs 1000000]

The script creates a scratch database ``durable_bench_<pid>`` (``--pg-dsn``, default
``host=127.0.0.1 port=5432 user=postgres``), migrates it and configures Django in-process
with ``bench/adminapp/settings.py`` (the admin, sessions, messages, auth, contenttypes;
``DEBUG`` off). ``bench/adminapp/workflows.py`` registers 203 schedulable workflows (3
with ``@scheduled``) and declares 200 queues.

The tables are filled with set-based SQL (``INSERT ... SELECT ... FROM generate_series``):

- ``--schedules`` schedules named ``schedule-000000``, ... over the registered workflows,
  10 cron expressions, 300 IANA timezones (10 % none: UTC) and the 200 queues (25 %
  none: the internal queue); 5 % paused, 1 % code-defined, 10 % with automatic backfill;
- ``--runs`` runs, one every 90 days / ``--runs`` up to now (the table is in
  ``created_at`` order, as it is when runs are written as they come): 40 % fired by a
  schedule (id ``sched-<name>-<slot>``, that schedule's workflow and queue), the others
  direct or queued calls of a skewed choice of workflows; 90 % ``SUCCESS``, 5 % ``ERROR``
  (with an encoded exception and traceback), 1.5 % ``PENDING``, 2 % ``ENQUEUED``, the rest
  ``CANCELLED`` or ``MAX_RECOVERY_ATTEMPTS_EXCEEDED``;
- ``--steps`` step rows for each of ``--step-runs`` started runs (the last step of an
  ``ERROR`` run holds its error);

then ``VACUUM (ANALYZE)`` on the three tables, the state autovacuum keeps them in.

A superuser logs in with Django's test ``Client`` (``force_login``) and the script requests
each page ``--repeat`` times after one warm-up request (once if the warm-up took more than
2 s), and reports the median request. For each page it records the SQL queries
(``CaptureQueriesContext``, each timed by an ``execute_wrapper``), the slowest one and all
those of 10 ms or more, the most repeated query shape (literals replaced: a count near the
page's row count means per-row queries), the server time (the request through Django's
handler, in this process) and this process's CPU time during it, the size of the HTML, the
``<option>`` elements of ``<select>`` dropdowns and of ``<datalist>`` suggestions, and the
longest list of links in the changelist's filter sidebar. At the end it runs ``EXPLAIN
(ANALYZE, BUFFERS)`` once per query shape on the slowest query of each page and on every
query over ``--explain-ms``, and prints the plans that scan one of the three tables
sequentially or take more than ``--explain-ms``.

The PostgreSQL server may be shared: a page whose request lost its connection (a server
restart) is measured again, and the script warns if the server restarted meanwhile.

Unless ``--small-factor 0``, the same pages are measured first on tables ``--small-factor``
times smaller (1,000 schedules and 10,000 runs by default), and the table shows each
page's time at full size over its time at the small size. Page numbers are scaled: "middle
page" is the middle of the list at each size.

This is a benchmark, not a test: it reports figures from one run and never fails on them.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import django  # noqa: E402

from bench._scratch import configure_django, scratch_database  # noqa: E402
from bench.adminapp import data  # noqa: E402

SETTINGS_MODULE = "bench.adminapp.settings"
SCHEDULES_URL = "/admin/django_durable/workflowschedule/"
RUNS_URL = "/admin/django_durable/workflowrun/"
DASHBOARD_URL = "/admin/django_durable/dashboard/"
BIG_QUERY_MS = 10.0
"""Queries at least this long are listed for each page."""
SLOW_PAGE_MS = 2000.0
"""A page whose warm-up request took longer is timed once, not ``--repeat`` times."""
RETRIES = 5
"""Attempts at a page when PostgreSQL restarts meanwhile (it is shared with others)."""
SERVER_GONE = (
    "terminating connection",
    "connection is closed",
    "server closed the connection",
    "connection failed",
    "shutting down",
    "starting up",
)


@dataclass
class Plan:
    """The plan of one query shape, and the pages that ran it (with its time there)."""

    sql: str
    pages: list[tuple[str, float]] = field(default_factory=list)
    text: str = ""
    execution_ms: float = 0.0


@dataclass
class Page:
    """The figures of one admin page, over the timed requests."""

    label: str
    status: int = 0
    queries: int = 0
    repeated: tuple[int, str] = (0, "")
    slowest_ms: float = 0.0
    slowest_sql: str = ""
    sql_ms: float = 0.0
    total_ms: list[float] = field(default_factory=list)
    cpu_ms: float = 0.0
    big_queries: list[tuple[float, str]] = field(default_factory=list)
    size: int = 0
    select_options: int = 0
    datalist_options: int = 0
    filter_links: tuple[int, str] = (0, "")
    error: str = ""

    @property
    def median_ms(self) -> float:
        return statistics.median(self.total_ms)


# -- set-up --------------------------------------------------------------------------------


# -- the pages -----------------------------------------------------------------------------


def _pages(schedules: int, runs: int) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """``(label, method, url, form)`` of every page to measure, with values from the data."""
    from django.contrib.admin.utils import quote
    from django.utils.http import urlencode

    def first(sql: str) -> Any:
        return data.query(sql)[0][0]

    common = "SELECT {0} FROM {1} WHERE {0} IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1"
    zone = first(common.format("cron_timezone", data.TABLES["schedule"]) + " LIMIT 1")
    s_queue = first(common.format("queue_name", data.TABLES["schedule"]) + " LIMIT 1")
    r_queue = first(common.format("queue_name", data.TABLES["run"]) + " LIMIT 1")
    r_name = first(common.format("name", data.TABLES["run"]) + " LIMIT 1")
    r_sched = first("SELECT max(schedule_name) FROM django_durable_workflowrun")
    day = first("SELECT max(created_at) - interval '10 days' FROM django_durable_workflowrun")
    run_id = first(
        "SELECT workflow_id FROM django_durable_workflowrun ORDER BY created_at LIMIT 1"
    )
    err_run = first(
        "SELECT s.workflow_id FROM django_durable_stepoutput s JOIN django_durable_workflowrun r "
        "USING (workflow_id) WHERE r.status = 'ERROR' ORDER BY s.workflow_id LIMIT 1"
    )
    ok_run = first(
        "SELECT s.workflow_id FROM django_durable_stepoutput s JOIN django_durable_workflowrun r "
        "USING (workflow_id) WHERE r.status = 'SUCCESS' ORDER BY s.workflow_id LIMIT 1"
    )
    runtime = first(
        "SELECT schedule_id FROM django_durable_workflowschedule WHERE origin = 'runtime' "
        "ORDER BY schedule_name LIMIT 1 OFFSET 10"
    )
    code = first(
        "SELECT schedule_id FROM django_durable_workflowschedule WHERE origin = 'code' "
        "ORDER BY schedule_name LIMIT 1"
    )
    picked = [
        str(pk)
        for (pk,) in data.query(
            "SELECT schedule_id FROM django_durable_workflowschedule WHERE schedule LIKE '*/5 %' "
            "ORDER BY schedule_name LIMIT 100"
        )
    ]

    def q(**params: Any) -> str:
        return "?" + urlencode(params)

    s, r = SCHEDULES_URL, RUNS_URL
    pages: list[tuple[str, str, str, dict[str, Any] | None]] = [
        ("schedules: default", "GET", s, None),
        ("schedules: status=PAUSED", "GET", s + q(status__exact="PAUSED"), None),
        (f"schedules: timezone={zone}", "GET", s + q(cron_timezone=zone), None),
        (f"schedules: queue={s_queue}", "GET", s + q(queue_name=s_queue), None),
        ("schedules: origin=code", "GET", s + q(origin__exact="code"), None),
        ("schedules: search 'schedule-0123'", "GET", s + q(q="schedule-0123"), None),
        ("schedules: search 'report_01'", "GET", s + q(q="report_01"), None),
    ]
    columns = ["name", "cron", "status", "next fire", "last fired", "queue", "origin"]
    for index, column in enumerate(columns, start=1):
        pages.append((f"schedules: sort by {column}", "GET", s + q(o=index), None))
    pages += [
        ("schedules: middle page", "GET", s + q(p=max(1, schedules // 200)), None),
        ("schedules: facets", "GET", s + q(_facets="True"), None),
        ("schedule: change (runtime)", "GET", f"{s}{quote(str(runtime))}/change/", None),
        ("schedule: view (code)", "GET", f"{s}{quote(str(code))}/change/", None),
        ("schedule: add", "GET", f"{s}add/", None),
    ]
    for count in (1, 100):
        chosen = picked[:count]
        action = {"action": "backfill", "index": "0", "_selected_action": chosen}
        pages.append((f"backfill: {count} schedule(s), form", "POST", s, action))
        preview = {**action, "start": "2026-01-01T00:00:00", "end": "2026-01-01T06:00:00"}
        preview["preview"] = "Preview"
        pages.append((f"backfill: {count} schedule(s), preview 6 h", "POST", s, preview))
    pages += [
        ("runs: default", "GET", r, None),
        ("runs: status=ERROR", "GET", r + q(status__exact="ERROR"), None),
        ("runs: status=SUCCESS", "GET", r + q(status__exact="SUCCESS"), None),
        (f"runs: workflow={r_name}", "GET", r + q(name=r_name), None),
        (f"runs: queue={r_queue}", "GET", r + q(queue_name=r_queue), None),
        ("runs: schedule=<one>", "GET", r + q(schedule_name=r_sched), None),
        ("runs: year", "GET", r + q(created_at__year=day.year), None),
        (
            "runs: month",
            "GET",
            r + q(created_at__year=day.year, created_at__month=day.month),
            None,
        ),
        (
            "runs: day",
            "GET",
            r + q(created_at__year=day.year, created_at__month=day.month, created_at__day=day.day),
            None,
        ),
        (
            "runs: day + status=ERROR",
            "GET",
            r
            + q(
                created_at__year=day.year,
                created_at__month=day.month,
                created_at__day=day.day,
                status__exact="ERROR",
            ),
            None,
        ),
        ("runs: search =id", "GET", r + q(q=run_id), None),
        ("runs: search id prefix", "GET", r + q(q=run_id[:12]), None),
        ("runs: search schedule name", "GET", r + q(q=r_sched), None),
    ]
    for index, column in enumerate(["id", "workflow", "status", "queue"], start=1):
        pages.append((f"runs: sort by {column}", "GET", r + q(o=index), None))
    pages += [
        ("runs: sort by created, ascending", "GET", r + q(o=5), None),
        ("runs: page 10", "GET", r + q(p=10), None),
        ("runs: middle page", "GET", r + q(p=max(1, runs // 200)), None),
        ("runs: facets", "GET", r + q(_facets="True"), None),
        ("run: view (ERROR, steps)", "GET", f"{r}{quote(err_run)}/change/", None),
        ("run: view (SUCCESS, steps)", "GET", f"{r}{quote(ok_run)}/change/", None),
        ("run: history", "GET", f"{r}{quote(ok_run)}/history/", None),
        ("dashboard", "GET", DASHBOARD_URL, None),
    ]
    return pages


_LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
_SELECT = re.compile(r"<select\b.*?</select>", re.S)
_DATALIST = re.compile(r"<datalist\b.*?</datalist>", re.S)
_FILTER = re.compile(r'<details data-filter-title="([^"]*)".*?</details>', re.S)


def _shape(sql: str) -> str:
    return _LITERAL.sub("?", sql)


def _html_figures(page: Page, html: str) -> None:
    page.size = len(html.encode())
    page.select_options = sum(block.count("<option") for block in _SELECT.findall(html))
    page.datalist_options = sum(block.count("<option") for block in _DATALIST.findall(html))
    links = [(m.group(0).count("<li"), m.group(1)) for m in _FILTER.finditer(html)]
    page.filter_links = max(links, default=(0, ""))


def _request(client: Any, method: str, url: str, form: Any) -> tuple[Any, float, float, list[Any]]:
    """The response, the server time and this process's CPU time in ms, and ``(sql, ms)``
    of each query."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # The test client does not close a broken connection between requests as the handler
    # does (a server restart would fail every later page); close it here.
    connection.close_if_unusable_or_obsolete()
    durations: list[float] = []

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            durations.append((time.perf_counter() - t0) * 1000)

    # CaptureQueriesContext keeps the SQL as sent (parameters bound: it can be EXPLAINed);
    # the wrapper times each statement to the microsecond (the context rounds to 1 ms).
    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timed):
        t0, cpu0 = time.perf_counter(), time.process_time()
        response = client.get(url) if method == "GET" else client.post(url, form)
        elapsed = (time.perf_counter() - t0) * 1000
        cpu = (time.process_time() - cpu0) * 1000
    sqls = [query["sql"] for query in captured.captured_queries]
    if len(sqls) != len(durations):  # never expected: one record per execute
        durations = [float(query["time"]) * 1000 for query in captured.captured_queries]
    return response, elapsed, cpu, list(zip(sqls, durations, strict=True))


def _server_gone(response: Any) -> bool:
    """Whether a request failed because the server restarted or was unreachable."""
    from django.db import OperationalError

    exc = (getattr(response, "exc_info", None) or (None, None))[1]
    return isinstance(exc, OperationalError) and any(text in str(exc) for text in SERVER_GONE)


def _measure(client: Any, spec: tuple[str, str, str, Any], repeat: int) -> Page:
    label, method, url, form = spec
    page = Page(label)
    for attempt in range(1, RETRIES + 1):
        warm = _request(client, method, url, form)  # warm-up: templates, caches, plans
        if _server_gone(warm[0]):
            runs = [warm]
        else:
            count = 1 if warm[1] > SLOW_PAGE_MS else repeat
            runs = [_request(client, method, url, form) for _ in range(count)]
        if not any(_server_gone(run[0]) for run in runs):
            break
        print(f"  (PostgreSQL went away during {label!r}, attempt {attempt}; measuring again)")
        time.sleep(5)
    page.total_ms = [elapsed for _, elapsed, _, _ in runs]
    response, _, page.cpu_ms, queries = sorted(runs, key=lambda run: run[1])[len(runs) // 2]
    page.status = response.status_code
    if getattr(response, "exc_info", None):
        page.error = f"{response.exc_info[0].__name__}: {response.exc_info[1]}"
    page.queries = len(queries)
    page.sql_ms = sum(ms for _, ms in queries)
    if queries:
        page.slowest_sql, page.slowest_ms = max(queries, key=lambda query: query[1])
        shape, count = Counter(_shape(sql) for sql, _ in queries).most_common(1)[0]
        page.repeated = (count, shape)
        page.big_queries = [(ms, sql) for sql, ms in queries if ms >= BIG_QUERY_MS]
    _html_figures(page, response.content.decode(errors="replace"))
    return page


def _explain(sql: str) -> tuple[str, float]:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of a SELECT: the plan and its execution time in ms."""
    from django.db import DatabaseError

    try:
        rows = data.query("EXPLAIN (ANALYZE, BUFFERS) " + sql)
    except DatabaseError as exc:  # the query failed on the page too
        return f"EXPLAIN failed: {exc}", 0.0
    plan = "\n".join(row[0] for row in rows)
    found = re.search(r"Execution Time: ([\d.]+) ms", plan)
    return plan, float(found.group(1)) if found else 0.0


def _explain_pages(pages: dict[str, Page], threshold_ms: float) -> dict[str, Plan]:
    """The plans of each page's slowest query and of every query over ``threshold_ms``,
    one per query shape, with the pages where the shape took longest."""
    plans: dict[str, Plan] = {}
    for page in pages.values():
        candidates = [(ms, sql) for ms, sql in page.big_queries if ms >= threshold_ms]
        if page.slowest_sql not in {sql for _, sql in candidates}:
            candidates.append((page.slowest_ms, page.slowest_sql))
        for ms, sql in candidates:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            shape = _shape(sql)
            if shape not in plans:
                plans[shape] = Plan(sql=sql)
            plans[shape].pages.append((page.label, ms))
    for plan in plans.values():
        plan.text, plan.execution_ms = _explain(plan.sql)
    return plans


def _seq_scan(plan: str) -> bool:
    return any(f"Seq Scan on {table}" in plan for table in data.TABLES.values())


def _client() -> Any:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user_model = get_user_model()
    user = user_model.objects.filter(username="admin").first()
    if user is None:
        user = user_model.objects.create_superuser("admin", "admin@example.com", "admin")
    client = Client(raise_request_exception=False)  # a server error is a figure too
    client.force_login(user)
    return client


def measure_scale(schedules: int, runs: int, args: argparse.Namespace) -> dict[str, Page]:
    step_runs = min(args.step_runs * runs // args.runs, runs)
    print(
        f"\n== {schedules:,} schedules, {runs:,} runs, {args.steps} steps for "
        f"{step_runs:,} runs =="
    )
    print(f"written in {data.fill(schedules, runs, step_runs, args.steps):.1f} s; {data.sizes()}")
    client = _client()
    pages: dict[str, Page] = {}
    started = data.query("SELECT pg_postmaster_start_time()")[0][0]
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    for spec in _pages(schedules, runs):
        page = _measure(client, spec, args.repeat)
        pages[page.label] = page
        print(
            f"  {page.label}: {page.median_ms:.0f} ms, {page.queries} queries, "
            f"slowest {page.slowest_ms:.0f} ms"
            + (f"; HTTP {page.status} {page.error}" if page.status != 200 else ""),
            flush=True,
        )
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if data.query("SELECT pg_postmaster_start_time()")[0][0] != started:
        print("WARNING: PostgreSQL restarted while the pages were measured")
    return pages


# -- the report ----------------------------------------------------------------------------


def _short(sql: str, limit: int = 800) -> str:
    return sql if len(sql) <= limit else f"{sql[:limit]} … ({len(sql):,} characters)"


def _report(big: dict[str, Page], small: dict[str, Page], args: argparse.Namespace) -> None:
    ratio_head = f" | x{args.small_factor} rows: time ratio" if small else ""
    print(
        "\n| page | HTTP | queries | most repeated | slowest query ms | SQL ms | CPU ms "
        f"| total ms | KB | select options | datalist options | longest filter{ratio_head} |"
    )
    print(
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|" + ("---:|" if small else "")
    )
    for page in big.values():
        links = f"{page.filter_links[0]} ({page.filter_links[1]})" if page.filter_links[0] else ""
        ratio = ""
        if small and page.label in small:
            ratio = f" | {page.median_ms / small[page.label].median_ms:.1f}"
        print(
            f"| {page.label} | {page.status} | {page.queries} | {page.repeated[0]} "
            f"| {page.slowest_ms:.1f} | {page.sql_ms:.0f} | {page.cpu_ms:.0f} "
            f"| {page.median_ms:.0f} | {page.size / 1024:.0f} | {page.select_options} "
            f"| {page.datalist_options} | {links}{ratio} |"
        )
    print(
        "\n(CPU ms: this process's CPU time during the request, median request: Python, "
        "templates and the client side of the queries.)"
    )
    print(f"\nQueries of {BIG_QUERY_MS:.0f} ms or more on each page (ms, SQL):")
    for page in big.values():
        print(f"\n- {page.label} (slowest {page.slowest_ms:.1f} ms)")
        for ms, sql in page.big_queries:
            print(f"  {ms:8.1f}  {_short(sql, 300)}")
    print("\nPages with a query shape repeated 10 times or more:")
    for page in big.values():
        if page.repeated[0] >= 10:
            print(f"- {page.label}: x{page.repeated[0]}: {_short(page.repeated[1])}")
    print("\nPages that did not answer 200:")
    for page in big.values():
        if page.status != 200:
            print(f"- {page.label}: HTTP {page.status} {page.error}")
    print(f"\nPages over {args.slow_ms:.0f} ms (server time, median):")
    for page in big.values():
        if page.median_ms > args.slow_ms:
            print(
                f"- {page.label}: {page.median_ms:.0f} ms (SQL {page.sql_ms:.0f} ms in "
                f"{page.queries} queries, slowest {page.slowest_ms:.0f} ms; CPU "
                f"{page.cpu_ms:.0f} ms)"
            )


def _report_plans(plans: dict[str, Plan], args: argparse.Namespace) -> None:
    print(
        f"\nPlans (EXPLAIN (ANALYZE, BUFFERS), one per query shape) of the queries that scan "
        f"a table sequentially or take more than {args.explain_ms:.0f} ms:",
        flush=True,
    )
    for plan in sorted(plans.values(), key=lambda plan: -plan.execution_ms):
        failed = plan.text.startswith("EXPLAIN failed")
        if failed or _seq_scan(plan.text) or plan.execution_ms > args.explain_ms:
            where = ", ".join(f"{label} ({ms:.0f} ms)" for label, ms in plan.pages)
            print(f"\n--- {plan.execution_ms:.1f} ms; on: {where}")
            print(f"{_short(plan.sql)}\n{plan.text}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--schedules", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--step-runs", type=int, default=100_000, help="runs with steps")
    parser.add_argument("--steps", type=int, default=3, help="steps of each of those runs")
    parser.add_argument("--repeat", type=int, default=3, help="timed requests per page")
    parser.add_argument("--small-factor", type=int, default=100, help="0: no small size")
    parser.add_argument("--explain-ms", type=float, default=50.0)
    parser.add_argument("--slow-ms", type=float, default=200.0)
    parser.add_argument("--pg-dsn", default="host=127.0.0.1 port=5432 user=postgres")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # run finally
    if min(args.schedules, args.runs, args.steps, args.repeat) < 1 or args.step_runs < 0:
        parser.error("--schedules, --runs, --steps and --repeat must be >= 1")
    if args.step_runs > args.runs:
        parser.error("--step-runs cannot be above --runs")
    if args.small_factor < 0:
        parser.error("--small-factor must be >= 0")

    configure_django(SETTINGS_MODULE, args.pg_dsn)
    from django.core.management import call_command

    with scratch_database(args.pg_dsn):
        call_command("migrate", verbosity=0, interactive=False)
        version = data.query("SHOW server_version")[0][0]
        print(
            f"Python {platform.python_version()}, Django {django.get_version()}; "
            f"PostgreSQL {version}; {os.cpu_count()} cores ({platform.machine()}); "
            f"{args.repeat} timed requests per page after a warm-up, medians"
        )
        small: dict[str, Page] = {}
        if args.small_factor:
            small = measure_scale(
                max(1, args.schedules // args.small_factor),
                max(1, args.runs // args.small_factor),
                args,
            )
            data.empty()
        big = measure_scale(args.schedules, args.runs, args)
        _report(big, small, args)
        _report_plans(_explain_pages(big, args.explain_ms), args)


if __name__ == "__main__":
    main()
