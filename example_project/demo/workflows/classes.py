"""Class-based workflows: static and class methods (schedulable), and instance methods of
configured instances (callable, not schedulable).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection

import django_durable as durable

# ---------------------------------------------------------------- static and class methods


@durable.durable_class()
class PaymentWorkflows:
    """End-of-day payment settlement, in New York business time."""

    currency = "USD"

    @staticmethod
    @durable.scheduled(
        "0 30 17 * * 1-5",  # 17:30 on weekdays, New York time (DST included)
        name="payment-settlement",
        cron_timezone="America/New_York",
        context={"batch": "end-of-day"},
    )
    @durable.workflow()
    def process_payment(scheduled_at: datetime, ctx: Any) -> str:
        """Settle the day's payments."""
        pending = PaymentWorkflows.pending_payments(scheduled_at)
        PaymentWorkflows.settle(pending)
        return "completed"

    @staticmethod
    @durable.step()
    def pending_payments(day: datetime) -> list[dict[str, Any]]:
        """The payments to settle (made up: the demo has no payment provider)."""
        return [
            {"id": f"pay-{day:%Y%m%d}-{number}", "amount": 10 * number} for number in (1, 2, 3)
        ]

    @classmethod
    @durable.workflow()
    def settle(cls, payments: list[dict[str, Any]]) -> str:
        """A class-method workflow (a child run of ``process_payment``): the total settled."""
        return f"{sum(payment['amount'] for payment in payments)} {cls.currency}"


@durable.durable_class()
class DataSyncWorkflows:
    """A weekday data sync that must not skip a day: with ``automatic_backfill``, the
    mornings missed while no scheduler ran are enqueued when one starts again."""

    @staticmethod
    @durable.scheduled(
        "0 0 9 * * 1-5",  # 09:00 on weekdays, New York time
        name="data-sync-schedule",
        cron_timezone="America/New_York",
        automatic_backfill=True,
        context={"env": "production", "priority": "high"},
    )
    @durable.workflow()
    def sync_data(scheduled_time: datetime, context: Any) -> dict[str, Any]:
        """Fetch the customers of the context's environment and process them."""
        env = context.get("env", "production")
        client = API_CLIENTS[env]
        fetched = client.fetch_data("customers")
        processed = DataWorkflows.process_data(env)
        return {"fetched": fetched, "processed": processed}


@durable.durable_class()
class DataWorkflows:
    """A workflow, a transaction and a step as static methods of one class."""

    @staticmethod
    @durable.workflow()
    def process_data(input_data: str) -> str:
        db_result = DataWorkflows.save_to_db(input_data)
        processed = DataWorkflows.transform_data(input_data)
        return f"{db_result}-{processed}"

    @staticmethod
    @durable.transaction()
    def save_to_db(data: str) -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            rows = cursor.fetchall()
        return f"{data}-{rows[0][0]}"

    @staticmethod
    @durable.step()
    def transform_data(data: str) -> str:
        return data.upper()


# ---------------------------------------------------------------- configured instances


@durable.durable_class()
class APIClient(durable.ConfiguredInstance):
    """An API client per environment; its workflows run with the instance's settings.

    Runs record the config name, so a recovering process finds the same instance: create
    every instance at import time (below).
    """

    def __init__(self, api_key: str, base_url: str) -> None:
        self.api_key = api_key
        self.base_url = base_url
        super().__init__(config_name=f"api-{base_url}")

    @durable.workflow()
    def fetch_data(self, endpoint: str) -> dict[str, Any]:
        url = f"{self.base_url}/{endpoint}"
        return self.make_request(url)

    @durable.step()
    def make_request(self, url: str) -> dict[str, Any]:
        """A simulated authenticated request (no network in the demo)."""
        return {"url": url, "authenticated": bool(self.api_key)}


prod_api = APIClient("prod-key", "https://api.prod.example.com")
dev_api = APIClient("dev-key", "https://api.dev.example.com")

API_CLIENTS = {"production": prod_api, "development": dev_api}
"""The client of each environment a schedule's context may name."""
