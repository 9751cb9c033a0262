"""A notification sent after a durable sleep.

``setup_demo`` enqueues one welcome notification under a fixed workflow id, so running it
again does not send a second one. Stop the demo while the run sleeps and start it again:
the run is recovered and sleeps only what is left, because the wake-up time was recorded
as a step.
"""

from __future__ import annotations

import django_durable as durable
from example_project.demo import services

notifications_queue = durable.Queue("notifications", limiter={"limit": 10, "period": 60})
"""At most ten notifications start in any minute."""


@durable.step()
def send_notification(user_id: str, message: str) -> str:
    """Deliver one message to a user (here: an email); its message id."""
    return services.send_email(f"{user_id}@example.com", "Notification", message)


@durable.workflow()
def delayed_notification_workflow(user_id: str, message: str, delay_seconds: float = 3600) -> str:
    """Confirm at once, sleep durably for ``delay_seconds``, then send ``message``; the
    follow-up's message id."""
    send_notification(user_id, "Processing your request...")
    durable.sleep(delay_seconds)  # the wake-up time survives restarts
    return send_notification(user_id, message)
