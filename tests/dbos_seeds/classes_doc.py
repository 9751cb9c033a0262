"""DBOS Transact, "Class-Based Workflows": the examples that define things, verbatim but
for the import (``from dbos import ...`` became ``from django_durable.dbos import ...``).
Importing this module runs them; it creates two schedules, so it needs the database."""

# mypy: ignore-errors
# ruff: noqa

from django_durable.dbos import DBOS
from datetime import datetime
from typing import Any


@DBOS.dbos_class()
class PaymentWorkflows:
    @staticmethod
    @DBOS.workflow()
    def process_payment(scheduled_at: datetime, ctx: Any) -> str:
        # Payment processing logic
        return "completed"


from django_durable.dbos import DBOS, DBOSConfiguredInstance


@DBOS.dbos_class()
class URLFetcher(DBOSConfiguredInstance):
    def __init__(self, url: str):
        self.url = url
        super().__init__(config_name=url)

    @DBOS.workflow()
    def fetch_workflow(self) -> str:
        return self.fetch_url()

    @DBOS.step()
    def fetch_url(self) -> str:
        # Fetching logic
        return f"Content from {self.url}"


from django_durable.dbos import DBOS
from datetime import datetime
from typing import Any


@DBOS.dbos_class()
class DataSyncWorkflows:
    @staticmethod
    @DBOS.workflow()
    def sync_data(scheduled_time: datetime, context: Any) -> None:
        env = context.get("env", "production")
        # Sync logic here
        pass


# Create schedule with timezone and automatic backfill
DBOS.create_schedule(
    schedule_name="data-sync-schedule",
    workflow_fn=DataSyncWorkflows.sync_data,
    schedule="0 9 * * 1-5",  # 9 AM weekdays
    context={"env": "production", "priority": "high"},
    cron_timezone="America/New_York",
    automatic_backfill=True,
)

from django_durable.dbos import DBOS
from datetime import datetime
from typing import Any


@DBOS.dbos_class()
class MyScheduledClass:
    @staticmethod
    @DBOS.workflow()
    def scheduled_wf(scheduled_at: datetime, ctx: Any) -> None:
        print(f"Executing at {scheduled_at} with context: {ctx}")


# Create the schedule
DBOS.create_schedule(
    schedule_name="static-class-schedule",
    workflow_fn=MyScheduledClass.scheduled_wf,
    schedule="* * * * * *",  # Every second
    context={"environment": "production"},
)

# Verify schedule creation
sched = DBOS.get_schedule("static-class-schedule")
assert sched["workflow_class_name"] == "MyScheduledClass"
assert sched["context"] == {"environment": "production"}

from django_durable.dbos import DBOS, DBOSConfiguredInstance


@DBOS.dbos_class()
class APIClient(DBOSConfiguredInstance):
    def __init__(self, api_key: str, base_url: str):
        self.api_key = api_key
        self.base_url = base_url
        super().__init__(config_name=f"api-{base_url}")

    @DBOS.workflow()
    def fetch_data(self, endpoint: str) -> dict:
        url = f"{self.base_url}/{endpoint}"
        return self.make_request(url)

    @DBOS.step()
    def make_request(self, url: str) -> dict:
        # Simulated API request with authentication
        return {"url": url, "auth": self.api_key}


# Create configured instances before DBOS.launch()
prod_api = APIClient("prod-key", "https://api.prod.com")
dev_api = APIClient("dev-key", "https://api.dev.com")

import pytest
from django_durable.dbos import DBOS, DBOSConfiguredInstance, DBOSException


@DBOS.dbos_class()
class InvalidScheduled(DBOSConfiguredInstance):
    def __init__(self):
        super().__init__("invalid-config")

    @DBOS.workflow()
    def instance_workflow(self, scheduled_at: datetime, ctx: Any) -> None:
        pass


inst = InvalidScheduled()
