"""The admin shows application versions, partitions and patches, and edits queues."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

import django_durable as durable
from django_durable.models import QueueOrigin, WorkflowQueue, WorkflowRun
from django_durable.queue_store import sync_code_queues
from tests.integration.test_patching import version_2

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client(client: Client) -> Client:
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def test_the_queue_list_and_an_edit_that_every_worker_applies(admin_client: Client):
    durable.register_queue("admin-q", concurrency=3, limiter={"limit": 5, "period": 60})
    page = admin_client.get("/admin/django_durable/workflowqueue/")
    assert page.status_code == 200
    assert b"admin-q" in page.content and b"5 per 60 s" in page.content
    url = "/admin/django_durable/workflowqueue/admin-q/change/"
    assert admin_client.get(url).status_code == 200
    saved = admin_client.post(
        url,
        {
            "concurrency": "4",
            "worker_concurrency": "2",
            "limiter_limit": "",
            "limiter_period": "",
            "polling_interval_sec": "0.5",
            "partition_queue": "on",
        },
    )
    assert saved.status_code == 302
    queue = durable.retrieve_queue("admin-q")
    assert queue is not None
    assert (queue.concurrency, queue.worker_concurrency, queue.limiter) == (4, 2, None)
    assert (queue.partition_queue, queue.polling_interval_sec) == (True, 0.5)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"concurrency": "1", "worker_concurrency": "2"}, b"cannot be above concurrency"),
        ({"limiter_limit": "3"}, b"Give both the rate limit and its period"),
        ({"polling_interval_sec": "0"}, b"polling_interval_sec must be"),
    ],
)
def test_bad_settings_are_refused_by_the_form(admin_client: Client, data, message):
    durable.register_queue("admin-bad", concurrency=2)
    url = "/admin/django_durable/workflowqueue/admin-bad/change/"
    page = admin_client.post(url, data)
    assert page.status_code == 200 and message in page.content
    assert durable.retrieve_queue("admin-bad").concurrency == 2  # type: ignore[union-attr]


def test_a_queue_added_in_the_admin_is_a_runtime_queue(admin_client: Client):
    page = admin_client.post(
        "/admin/django_durable/workflowqueue/add/", {"name": "added-q", "concurrency": "1"}
    )
    assert page.status_code == 302
    assert WorkflowQueue.objects.get(pk="added-q").origin == QueueOrigin.RUNTIME


def test_a_code_defined_queue_cannot_be_deleted_in_the_admin(admin_client: Client):
    sync_code_queues()
    url = "/admin/django_durable/workflowqueue/queues-plain/delete/"
    assert admin_client.get(url).status_code == 403
    assert WorkflowQueue.objects.filter(pk="queues-plain").exists()


def test_the_run_page_shows_its_version_partition_and_patch_steps(
    admin_client: Client, clean_registry
):
    with override_settings(DURABLE={"APPLICATION_VERSION": "2026.11"}):
        with durable.SetWorkflowID("patched-run"):
            version_2()()
    page = admin_client.get("/admin/django_durable/workflowrun/patched-run/change/")
    assert page.status_code == 200
    assert b"2026.11" in page.content
    assert b"durable.patch-v2" in page.content
    listed = admin_client.get("/admin/django_durable/workflowrun/?application_version=2026.11")
    assert listed.status_code == 200 and b"patched-run" in listed.content
    other = admin_client.get("/admin/django_durable/workflowrun/?application_version=nope")
    assert b"patched-run" not in other.content
    assert WorkflowRun.objects.get(pk="patched-run").application_version == "2026.11"
