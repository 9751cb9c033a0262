"""The metrics on a port of their own, for processes that serve no HTTP (``runscheduler
--metrics-port``)."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import start_http_server

from django_durable.metrics.collectors import REGISTRY, install

logger = logging.getLogger(__name__)


def start(port: int, addr: str = "0.0.0.0") -> Any:  # noqa: S104 - scraped from outside
    """Serve the metrics on ``addr:port`` from a daemon thread; the server."""
    install(close_connections=True)  # the server's thread opens its own connection
    server, _thread = start_http_server(port, addr=addr, registry=REGISTRY)
    logger.info(
        "Metrics served on %s:%d", addr, port, extra={"action": "metrics_started", "port": port}
    )
    return server
