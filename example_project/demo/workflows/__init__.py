"""The demo's workflows, queues and code-defined schedules.

django_durable imports the ``workflows`` module of every installed app when Django starts;
this package imports each of its modules so that every workflow, queue, configured
instance and ``@scheduled`` declaration is registered in the web server and in
``runscheduler`` alike.
"""

from __future__ import annotations

from example_project.demo.workflows import (
    approvals,
    backups,
    classes,
    maintenance,
    metrics,
    notifications,
    reports,
)

__all__ = ["approvals", "backups", "classes", "maintenance", "metrics", "notifications", "reports"]
