"""``manage.py runscheduler``: run this process's scheduler loop and queue workers."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from argparse import ArgumentTypeError
from collections.abc import Callable
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_durable import conf, registry
from django_durable.engine import runtime as runtimes
from django_durable.engine.runtime import Runtime
from django_durable.exceptions import DurableError
from django_durable.management._arguments import positive_int
from django_durable.queue_store import unknown_queue_names
from django_durable.scheduler import Scheduler
from django_durable.worker import Worker

logger = logging.getLogger(__name__)

LOG_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}

EXIT_LOOP_DIED = 70
"""Exit status when a loop (scheduler or worker) dies of an unexpected error (EX_SOFTWARE):
the process ends at once, so that its supervisor starts a new one."""


def guarded(name: str, loop: Callable[[], Any]) -> Callable[[], Any]:
    """``loop`` made fatal to the process: if it raises, the error is logged and the whole
    process exits with ``EXIT_LOOP_DIED`` at once, whichever thread it runs in. Never a
    live process whose scheduler or worker is dead."""

    def run() -> Any:
        try:
            return loop()
        except BaseException:
            logger.critical(
                "The %s loop died; exiting with status %d so that a supervisor restarts "
                "the process",
                name,
                EXIT_LOOP_DIED,
                exc_info=True,
                extra={"action": "loop_died", "loop": name},
            )
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_LOOP_DIED)

    return run


def _port(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ArgumentTypeError(f"expected a port number, got {value!r}") from None
    if not 0 <= number <= 65535:
        raise ArgumentTypeError(f"expected a port from 0 to 65535, got {value!r}")
    return number


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if number < 0 or number != number or number == float("inf"):
        raise ArgumentTypeError(f"expected a finite number of seconds >= 0, got {value!r}")
    return number


class Command(BaseCommand):
    help = (
        "Run durable workflow workers (and the scheduler) in this process. The first "
        "SIGTERM/SIGINT drains running workflows; a second one exits at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--queues",
            help=(
                "Comma-separated queue names to serve (default: every declared queue); "
                "the internal queue of resumed and scheduled runs is always served."
            ),
        )
        parser.add_argument(
            "--concurrency",
            type=positive_int,
            default=8,
            help="Workflows run at once by this process (default 8).",
        )
        parser.add_argument("--executor-id", help="This process's executor id.")
        parser.add_argument(
            "--no-scheduler", action="store_true", help="Do not run the scheduler loop."
        )
        parser.add_argument(
            "--no-worker", action="store_true", help="Do not run queue workers (scheduler only)."
        )
        parser.add_argument(
            "--batch",
            action="store_true",
            help=(
                "Fire the schedules that are due, run what is enqueued (and what those runs "
                "enqueue) until nothing is left, then exit (for tests and cron-style use)."
            ),
        )
        parser.add_argument(
            "--max-runs", type=positive_int, help="Exit after this many runs have finished."
        )
        parser.add_argument(
            "--shutdown-timeout",
            type=_seconds,
            default=30.0,
            help="Seconds to let running workflows finish on shutdown (default 30).",
        )
        parser.add_argument(
            "--metrics-port",
            type=_port,
            help=(
                "Serve Prometheus metrics on this port (needs the prometheus extra); "
                "0 picks a free port."
            ),
        )
        parser.add_argument(
            "--metrics-addr",
            default="0.0.0.0",  # noqa: S104 - Prometheus scrapes from another host
            help="Address the metrics server listens on (default 0.0.0.0).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self._configure_logging(int(options["verbosity"]))
        if options["no_worker"] and options["no_scheduler"]:
            raise CommandError("Nothing to run: --no-worker and --no-scheduler leave no loop.")
        executor_id = options["executor_id"]
        if executor_id is not None and not executor_id.strip():
            raise CommandError("--executor-id must not be empty.")
        worker: Worker | None = None
        scheduler: Scheduler | None = None
        runtime = Runtime(executor_id)
        try:
            if not options["no_worker"]:
                worker = Worker(
                    queues=self._queues(options["queues"]),
                    concurrency=options["concurrency"],
                    runtime=runtime,
                    max_runs=options["max_runs"],
                    batch=options["batch"],
                    shutdown_timeout=options["shutdown_timeout"],
                )
            if not options["no_scheduler"]:
                scheduler = Scheduler(once=options["batch"])
        except DurableError as exc:
            runtime.shutdown()
            raise CommandError(str(exc)) from exc
        if options.get("metrics_port") is not None:
            try:
                self._serve_metrics(options["metrics_port"], options["metrics_addr"])
            except CommandError:
                runtime.shutdown()
                raise
        runtimes.install(runtime)  # workflows called in this process run on it too
        try:
            self._run(options, runtime, worker, scheduler)
        finally:
            runtimes.uninstall(runtime)

    def _run(
        self,
        options: dict[str, Any],
        runtime: Runtime,
        worker: Worker | None,
        scheduler: Scheduler | None,
    ) -> None:
        self._announce(worker, scheduler)
        # Every runscheduler heartbeats from its start, a scheduler-only one included, so
        # `durable health` (and a Kubernetes probe) sees each process alive.
        runtime.started_running()
        self._install_signal_handlers([loop for loop in (worker, scheduler) if loop])
        scheduler_thread: threading.Thread | None = None
        if scheduler is not None:
            if worker is None or options["batch"]:
                guarded("scheduler", scheduler.run)()  # batch: fire what is due, then drain
            else:
                scheduler_thread = threading.Thread(
                    target=guarded("scheduler", scheduler.run),
                    name="durable-scheduler",
                    daemon=True,
                )
                scheduler_thread.start()
        if worker is not None:
            claimed = guarded("worker", worker.run)()
            if scheduler is not None:
                scheduler.stop()
            if scheduler_thread is not None:
                deadline = time.monotonic() + 10
                while scheduler_thread.is_alive() and time.monotonic() < deadline:
                    scheduler_thread.join(0.2)  # short waits: signals are handled between
            left = runtime.shutdown(timeout=0)
            self.stdout.write(
                f"django_durable worker {worker.executor_id} stopped ({claimed} runs)."
            )
            self.stdout.flush()
            if left or worker.has_leftovers():
                # Runs still executing stay PENDING for recovery; don't wait for their threads.
                sys.stderr.flush()
                os._exit(0)
        elif scheduler is not None:
            runtime.shutdown()
            self.stdout.write(f"django_durable scheduler stopped ({scheduler.fired} slots fired).")
            self.stdout.flush()

    def _serve_metrics(self, port: int, addr: str) -> None:
        try:
            from django_durable.metrics import server
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        try:
            started = server.start(port, addr)
        except OSError as exc:
            raise CommandError(f"Cannot serve metrics on {addr}:{port}: {exc}") from exc
        self.stdout.write(f"django_durable metrics on http://{addr}:{started.server_port}/")

    def _announce(self, worker: Worker | None, scheduler: Scheduler | None) -> None:
        batch = "; batch mode" if (worker or scheduler) and self._batch(worker, scheduler) else ""
        if worker is not None:
            self.stdout.write(
                f"django_durable worker {worker.executor_id}: queues "
                f"{', '.join(q.name for q in worker.queues)}; concurrency {worker.concurrency}; "
                f"{len(registry.workflow_names())} workflows registered{batch}"
            )
            alias = conf.database_alias()
            if settings.DATABASES.get(alias, {}).get("CONN_MAX_AGE", 0) == 0:
                logger.info(
                    "CONN_MAX_AGE of database %r is 0: each run opens a new connection. "
                    "A persistent setting (None, or some minutes with CONN_HEALTH_CHECKS) "
                    "makes workers several times faster.",
                    alias,
                    extra={"action": "worker_connections"},
                )
        if scheduler is not None:
            self.stdout.write(
                f"django_durable scheduler: {len(registry.code_schedules())} code-defined "
                f"schedule(s); poll interval {scheduler.poll_interval:g}s{batch}"
            )
        self.stdout.flush()

    @staticmethod
    def _batch(worker: Worker | None, scheduler: Scheduler | None) -> bool:
        return bool(worker.batch if worker is not None else scheduler and scheduler.once)

    def _queues(self, raw: str | None) -> list[str] | None:
        if raw is None:
            return None
        names = [name.strip() for name in raw.split(",") if name.strip()]
        if not names:
            raise CommandError("--queues needs at least one queue name.")
        unknown = unknown_queue_names(names)
        if unknown:
            declared = {q.name for q in registry.all_queues()}
            raise CommandError(
                f"Unknown queue(s): {', '.join(unknown)}. Declared queues: "
                f"{', '.join(sorted(declared))} (and those registered in the database)."
            )
        return names

    def _configure_logging(self, verbosity: int) -> None:
        logger = logging.getLogger("django_durable")
        logger.setLevel(LOG_LEVELS.get(verbosity, logging.DEBUG))
        if not logger.handlers and not logging.getLogger().handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
            logger.addHandler(handler)

    def _install_signal_handlers(self, loops: list[Worker | Scheduler]) -> None:
        received: list[int] = []

        def on_signal(signum: int, frame: FrameType | None) -> None:
            received.append(signum)
            if len(received) == 1:
                self.stderr.write(
                    f"Received {signal.Signals(signum).name}: draining (send it again to exit "
                    f"at once)."
                )
                for loop in loops:
                    loop.stop()
            else:
                os._exit(128 + signum)

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, on_signal)
