"""The benchmark's workload: a scheduled workflow that does nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import django_durable as durable


@durable.workflow()
def scheduled_noop(scheduled_at: datetime, context: Any) -> None:
    return None
