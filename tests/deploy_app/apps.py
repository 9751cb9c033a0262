from __future__ import annotations

from django.apps import AppConfig


class DeployAppConfig(AppConfig):
    """The application the deploy test runs in its workers (not installed in the test
    process itself, which enqueues its runs by name with ``django_durable.client``)."""

    name = "tests.deploy_app"
    label = "deploy_app"
