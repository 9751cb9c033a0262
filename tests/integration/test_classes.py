"""Class-based workflows: static, class and instance methods, configured instances, names.

The seeds' examples (``DataWorkflows``, ``URLFetcher``, ``APIClient``) run with
``DBOS.`` spelled ``durable.``; runs record the registered class name (and, for instance
methods, the config name) so a recovering process can call the method again.
"""

from __future__ import annotations

from typing import Any

import pytest

import django_durable as durable
from django_durable import registry, serialization
from django_durable.models import RunStatus, StepOutput, WorkflowRun
from tests import workflows
from tests.helpers import step_rows
from tests.workflows import DataWorkflows, OriginalName, URLFetcher

# Runs execute on background threads with their own connections: commits must be real.
pytestmark = pytest.mark.django_db(transaction=True)

DEAD = "dead-executor"


def leave_pending(workflow_id: str, *, keep_steps: int) -> None:
    """Make a finished run look like its process died after ``keep_steps`` steps."""
    StepOutput.objects.filter(run_id=workflow_id, step_number__gt=keep_steps).delete()
    updated = WorkflowRun.objects.filter(pk=workflow_id).update(
        status=RunStatus.PENDING, output=None, error=None, completed_at=None, executor_id=DEAD
    )
    assert updated == 1


def make_durable_class(module: str, qualname: str, *, class_name: str | None = None) -> type:
    """A class with one static workflow, as if defined in ``module`` (not this file)."""

    def wf() -> str:
        return module

    wf.__module__ = module
    wf.__qualname__ = f"{qualname}.wf"
    namespace: dict[str, Any] = {
        "__module__": module,
        "__qualname__": qualname,
        "wf": staticmethod(durable.workflow()(wf)),
    }
    cls = type(qualname.rsplit(".", 1)[-1], (), namespace)
    return durable.durable_class(class_name=class_name)(cls)


# ---------------------------------------------------------------- static methods


def test_the_seeds_static_method_workflow_records_its_class_and_steps():
    before = (DataWorkflows.workflow_count, DataWorkflows.transaction_count)
    with durable.SetWorkflowID("data"):
        assert DataWorkflows.process_data("test") == "test-1-TEST"
    assert (DataWorkflows.workflow_count, DataWorkflows.transaction_count) == (
        before[0] + 1,
        before[1] + 1,
    )
    run = WorkflowRun.objects.get(pk="data")
    assert (run.name, run.class_name, run.config_name, run.status) == (
        "DataWorkflows.process_data",
        "DataWorkflows",
        None,
        RunStatus.SUCCESS,
    )
    assert serialization.loads(run.inputs) == {"args": ["test"], "kwargs": {}}
    assert serialization.loads(run.output) == "test-1-TEST"
    # The transaction first, then the step.
    assert step_rows("data") == [
        (1, "DataWorkflows.save_to_db"),
        (2, "DataWorkflows.transform_data"),
    ]
    outputs = StepOutput.objects.filter(run_id="data").order_by("step_number")
    assert [serialization.loads(s.output) for s in outputs] == ["test-1", "TEST"]
    status = durable.retrieve_workflow("data").get_status()
    assert (status.name, status.class_name, status.config_name) == (
        "DataWorkflows.process_data",
        "DataWorkflows",
        None,
    )


def test_a_static_method_workflow_is_registered_under_the_class_prefixed_name():
    info = registry.get_workflow("DataWorkflows.process_data")
    assert info.class_name == "DataWorkflows"
    assert info.func_type is registry.FuncType.STATIC
    assert registry.get_class("DataWorkflows").cls is DataWorkflows
    assert registry.find_workflow("process_data") is None


def test_a_static_method_run_is_recovered_without_rerunning_its_transaction():
    with durable.SetWorkflowID("data-rec"):
        DataWorkflows.process_data("abc")
    leave_pending("data-rec", keep_steps=1)  # the transaction is recorded, the step is not
    transactions = DataWorkflows.transaction_count
    (handle,) = durable.recover_pending_workflows([DEAD])
    assert handle.get_result(timeout=10) == "abc-1-ABC"
    assert DataWorkflows.transaction_count == transactions
    assert step_rows("data-rec") == [
        (1, "DataWorkflows.save_to_db"),
        (2, "DataWorkflows.transform_data"),
    ]
    run = WorkflowRun.objects.get(pk="data-rec")
    assert run.status == RunStatus.SUCCESS and run.recovery_attempts == 1


def test_start_workflow_accepts_a_static_method():
    handle = durable.start_workflow(DataWorkflows.process_data, "bg")
    assert handle.get_result(timeout=10) == "bg-1-BG"
    assert WorkflowRun.objects.get(pk=handle.workflow_id).class_name == "DataWorkflows"


# ---------------------------------------------------------------- class methods


def test_a_class_method_workflow_receives_the_class_and_records_its_name():
    with durable.SetWorkflowID("cls"):
        assert DataWorkflows.class_level(3) == "DataWorkflows:6"
    run = WorkflowRun.objects.get(pk="cls")
    assert (run.name, run.class_name, run.config_name) == (
        "DataWorkflows.class_level",
        "DataWorkflows",
        None,
    )
    # The class is the receiver, not an input.
    assert serialization.loads(run.inputs) == {"args": [3], "kwargs": {}}
    assert step_rows("cls") == [(1, "DataWorkflows.double_it")]
    assert registry.get_workflow("DataWorkflows.class_level").func_type is registry.FuncType.CLASS


def test_a_class_method_run_replays_its_recorded_step_through_recovery():
    with durable.SetWorkflowID("cls-rec"):
        DataWorkflows.class_level(3)
    leave_pending("cls-rec", keep_steps=1)
    # A recorded value the body could not compute proves the step is replayed, not re-run.
    StepOutput.objects.filter(run_id="cls-rec", step_number=1).update(
        output=serialization.dumps(100)
    )
    (handle,) = durable.recover_pending_workflows([DEAD])
    assert handle.get_result(timeout=10) == "DataWorkflows:100"
    run = WorkflowRun.objects.get(pk="cls-rec")
    assert run.status == RunStatus.SUCCESS and run.recovery_attempts == 1
    assert serialization.loads(run.output) == "DataWorkflows:100"


def test_a_class_method_run_recovered_without_steps_gets_the_class_as_receiver():
    with durable.SetWorkflowID("cls-rec-0"):
        DataWorkflows.class_level(5)
    leave_pending("cls-rec-0", keep_steps=0)
    (handle,) = durable.recover_pending_workflows([DEAD])
    assert handle.get_result(timeout=10) == "DataWorkflows:10"


def test_start_workflow_accepts_a_class_method():
    handle = durable.start_workflow(DataWorkflows.class_level, 4)
    assert handle.get_result(timeout=10) == "DataWorkflows:8"
    run = WorkflowRun.objects.get(pk=handle.workflow_id)
    assert (run.class_name, serialization.loads(run.inputs)) == (
        "DataWorkflows",
        {"args": [4], "kwargs": {}},
    )


# ---------------------------------------------------------------- configured instances


def test_a_configured_instance_workflow_records_class_and_config_name():
    with durable.SetWorkflowID("fetch"):
        assert workflows.example_fetcher.fetch_workflow() == "Content from https://example.com"
    run = WorkflowRun.objects.get(pk="fetch")
    assert (run.name, run.class_name, run.config_name, run.status) == (
        "URLFetcher.fetch_workflow",
        "URLFetcher",
        "https://example.com",
        RunStatus.SUCCESS,
    )
    # The instance is the receiver, not an input.
    assert serialization.loads(run.inputs) == {"args": [], "kwargs": {}}
    assert step_rows("fetch") == [(1, "URLFetcher.fetch_url")]
    status = durable.retrieve_workflow("fetch").get_status()
    assert (status.class_name, status.config_name) == ("URLFetcher", "https://example.com")


def test_each_configured_instance_is_registered_under_its_config_name():
    info = registry.get_class("URLFetcher")
    assert info.instances["https://example.com"] is workflows.example_fetcher
    assert info.instances["https://example.org"] is workflows.other_fetcher
    assert registry.get_workflow("URLFetcher.fetch_workflow").func_type is (
        registry.FuncType.INSTANCE
    )


def test_recovery_resolves_each_run_to_its_own_configured_instance():
    with durable.SetWorkflowID("fetch-com"):
        workflows.example_fetcher.fetch_workflow()
    with durable.SetWorkflowID("fetch-org"):
        workflows.other_fetcher.fetch_workflow()
    leave_pending("fetch-com", keep_steps=0)
    leave_pending("fetch-org", keep_steps=0)
    handles = durable.recover_pending_workflows([DEAD])
    assert sorted(h.workflow_id for h in handles) == ["fetch-com", "fetch-org"]
    results = {h.workflow_id: h.get_result(timeout=10) for h in handles}
    assert results == {
        "fetch-com": "Content from https://example.com",
        "fetch-org": "Content from https://example.org",
    }
    for workflow_id in results:
        assert step_rows(workflow_id) == [(1, "URLFetcher.fetch_url")]
    assert WorkflowRun.objects.get(pk="fetch-org").config_name == "https://example.org"


def test_a_recovered_instance_run_replays_its_recorded_step():
    with durable.SetWorkflowID("fetch-replay"):
        workflows.other_fetcher.fetch_workflow()
    leave_pending("fetch-replay", keep_steps=1)
    StepOutput.objects.filter(run_id="fetch-replay").update(
        output=serialization.dumps("recorded content")
    )
    (handle,) = durable.recover_pending_workflows([DEAD])
    assert handle.get_result(timeout=10) == "recorded content"


def test_recovery_ends_a_run_whose_configured_instance_does_not_exist_as_an_error():
    """Configured instances are created at import time in every process; a run of one that
    does not exist can run nowhere. It ends ERROR with the reason (resumable once the code
    is fixed) instead of being taken over by a live executor that cannot run it."""
    with durable.SetWorkflowID("fetch-gone"):
        workflows.example_fetcher.fetch_workflow()
    leave_pending("fetch-gone", keep_steps=0)
    WorkflowRun.objects.filter(pk="fetch-gone").update(config_name="https://gone.example")
    handles = durable.recover_pending_workflows([DEAD])
    assert handles == []
    run = WorkflowRun.objects.get(pk="fetch-gone")
    assert (run.status, run.executor_id, run.recovery_attempts) == (RunStatus.ERROR, DEAD, 0)
    with pytest.raises(durable.DurableError, match=r"URLFetcher/https://gone\.example"):
        durable.retrieve_workflow("fetch-gone").get_result()


def test_start_workflow_accepts_a_bound_instance_method():
    handle = durable.start_workflow(workflows.other_fetcher.fetch_workflow)
    assert handle.get_result(timeout=10) == "Content from https://example.org"
    run = WorkflowRun.objects.get(pk=handle.workflow_id)
    assert (run.class_name, run.config_name) == ("URLFetcher", "https://example.org")


def test_the_seeds_api_client_example_runs_with_durable_names(clean_registry):
    @durable.durable_class()
    class APIClient(durable.ConfiguredInstance):
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
            return {"url": url, "auth": self.api_key}

    prod_api = APIClient("prod-key", "https://api.prod.com")
    APIClient("dev-key", "https://api.dev.com")
    with durable.SetWorkflowID("api"):
        result = prod_api.fetch_data("users")
    assert result == {"url": "https://api.prod.com/users", "auth": "prod-key"}
    run = WorkflowRun.objects.get(pk="api")
    assert run.class_name == APIClient.__qualname__
    assert run.name == f"{APIClient.__qualname__}.fetch_data"
    assert run.config_name == "api-https://api.prod.com"
    assert serialization.loads(run.inputs) == {"args": ["users"], "kwargs": {}}
    assert step_rows("api") == [(1, f"{APIClient.__qualname__}.make_request")]


# ---------------------------------------------------------------- class_name


def test_class_name_renames_the_class_and_its_workflows():
    with durable.SetWorkflowID("renamed"):
        assert OriginalName.run() == "renamed class"
    run = WorkflowRun.objects.get(pk="renamed")
    assert (run.class_name, run.name) == ("RenamedClass", "RenamedClass.run")
    assert registry.get_class("RenamedClass").cls is OriginalName
    assert "OriginalName" not in registry._classes
    assert registry.find_workflow("OriginalName.run") is None


# ---------------------------------------------------------------- errors


def test_a_second_instance_with_an_existing_config_name_is_refused():
    with pytest.raises(durable.RegistrationError, match=r"URLFetcher/https://example\.com"):
        URLFetcher("https://example.com")
    # The original instance keeps its place.
    assert registry.get_instance("URLFetcher", "https://example.com") is workflows.example_fetcher


def test_a_config_name_must_be_a_non_empty_string():
    with pytest.raises(durable.RegistrationError, match="''"):
        URLFetcher("")
    assert "" not in registry.get_class("URLFetcher").instances


def test_an_instance_method_on_an_unregistered_impostor_is_refused_and_writes_nothing():
    impostor = object.__new__(URLFetcher)
    impostor.url = "https://evil.example"
    impostor.config_name = "https://example.com"  # the name of another, registered instance
    with pytest.raises(durable.RegistrationError, match=r"URLFetcher\.fetch_workflow.*instance"):
        impostor.fetch_workflow()
    with pytest.raises(durable.RegistrationError, match=r"URLFetcher\.fetch_workflow"):
        durable.start_workflow(impostor.fetch_workflow)
    assert WorkflowRun.objects.count() == 0
    assert StepOutput.objects.count() == 0


def test_an_instance_method_on_an_instance_without_config_name_is_refused(clean_registry):
    class Unconfigured(URLFetcher):
        def __init__(self, url: str) -> None:
            self.url = url  # never calls ConfiguredInstance.__init__

    with pytest.raises(durable.RegistrationError, match="configured instance"):
        Unconfigured("https://nowhere.example").fetch_workflow()
    assert WorkflowRun.objects.count() == 0


def test_instance_method_workflows_need_configured_instance_at_decoration(clean_registry):
    names_before = registry.workflow_names()
    classes_before = set(registry._classes)
    with pytest.raises(durable.RegistrationError, match=r"Plain.*ConfiguredInstance"):

        @durable.durable_class()
        class Plain:
            @durable.workflow()
            def wf(self) -> int:
                return 1

    assert registry.workflow_names() == names_before
    assert set(registry._classes) == classes_before


def test_workflow_methods_of_an_undecorated_class_are_refused_when_called(clean_registry):
    class Undecorated(durable.ConfiguredInstance):
        @staticmethod
        @durable.workflow()
        def static_wf() -> str:
            return "static"

        @classmethod
        @durable.workflow()
        def class_wf(cls) -> str:
            return "class"

        @durable.workflow()
        def instance_wf(self) -> str:
            return "instance"

    names_before = registry.workflow_names()
    instance = object.__new__(Undecorated)
    instance.config_name = "x"
    for call in (Undecorated.static_wf, Undecorated.class_wf, instance.instance_wf):
        with pytest.raises(durable.RegistrationError, match=r"not decorated with @durable_class"):
            call()
    with pytest.raises(durable.RegistrationError, match=r"Undecorated\.static_wf"):
        durable.start_workflow(Undecorated.static_wf)
    # Nothing was registered (it could not be recovered) and nothing was written.
    assert registry.workflow_names() == names_before
    assert not any("Undecorated" in name for name in names_before)
    assert WorkflowRun.objects.count() == 0


def test_a_configured_instance_of_an_undecorated_class_is_refused(clean_registry):
    class NotDecorated(durable.ConfiguredInstance):
        pass

    with pytest.raises(durable.RegistrationError, match=r"NotDecorated.*@durable_class"):
        NotDecorated("cfg")


def test_two_durable_classes_with_one_name_from_different_modules_are_refused(clean_registry):
    first = make_durable_class("tests.fake_module_a", "Clash")
    assert registry.get_class("Clash").cls is first
    with pytest.raises(
        durable.RegistrationError,
        match=r"'Clash'.*tests\.fake_module_a.*tests\.fake_module_b",
    ):
        make_durable_class("tests.fake_module_b", "Clash")
    # The first class and its workflow keep their registration.
    assert registry.get_class("Clash").cls is first
    assert registry.get_workflow("Clash.wf").func() == "tests.fake_module_a"


def test_a_class_name_taken_by_another_module_is_refused(clean_registry):
    with pytest.raises(durable.RegistrationError, match=r"'DataWorkflows'.*tests\.workflows"):
        make_durable_class("tests.fake_module_c", "Other", class_name="DataWorkflows")
    assert registry.get_class("DataWorkflows").cls is DataWorkflows
    assert registry.get_workflow("DataWorkflows.process_data").class_info is (
        registry.get_class("DataWorkflows")
    )
    assert registry.find_workflow("DataWorkflows.wf") is None


def test_redecorating_a_class_in_the_same_module_replaces_it(clean_registry):
    make_durable_class("tests.fake_module_d", "Again")
    second = make_durable_class("tests.fake_module_d", "Again")
    assert registry.get_class("Again").cls is second
    info = registry.get_workflow("Again.wf")
    assert info.class_info is registry.get_class("Again")
    with durable.SetWorkflowID("again"):
        assert second.wf() == "tests.fake_module_d"
    assert WorkflowRun.objects.get(pk="again").class_name == "Again"


def test_a_method_workflow_name_taken_by_another_module_registers_nothing(clean_registry):
    def wf() -> str:
        return "impostor"

    wf.__module__ = "tests.fake_module_e"
    wf.__qualname__ = "Squatter.wf"
    cls = type(
        "Squatter",
        (),
        {
            "__module__": "tests.fake_module_e",
            "__qualname__": "Squatter",
            "wf": staticmethod(durable.workflow(name="three_steps")(wf)),
        },
    )
    with pytest.raises(durable.RegistrationError, match=r"'three_steps'.*tests\.workflows"):
        durable.durable_class()(cls)
    assert "Squatter" not in registry._classes
    assert registry.get_workflow("three_steps").func is workflows.three_steps.__wrapped__


def test_two_workflows_with_one_name_from_different_modules_are_refused(clean_registry):
    def three_steps(x: int) -> str:
        return "impostor"

    three_steps.__module__ = "tests.fake_module_f"
    three_steps.__qualname__ = "three_steps"
    with pytest.raises(
        durable.RegistrationError, match=r"'three_steps'.*tests\.workflows.*tests\.fake_module_f"
    ):
        durable.workflow()(three_steps)
    assert registry.get_workflow("three_steps").func is workflows.three_steps.__wrapped__
    with durable.SetWorkflowID("still-original"):
        assert workflows.three_steps(1) == "value=4"


def test_an_explicit_name_taken_by_another_module_is_refused(clean_registry):
    with pytest.raises(durable.RegistrationError, match=r"'renamed-workflow'"):

        @durable.workflow(name="renamed-workflow")
        def impostor() -> str:
            return "impostor"

    assert registry.get_workflow("renamed-workflow").func is workflows.named_workflow.__wrapped__


def test_redecorating_a_workflow_in_the_same_module_replaces_it(clean_registry):
    def first() -> str:
        return "first"

    def second() -> str:
        return "second"

    for fn in (first, second):
        fn.__module__ = "tests.fake_module_g"
        fn.__qualname__ = "reloaded_wf"
    durable.workflow()(first)
    replacement = durable.workflow()(second)
    assert registry.get_workflow("reloaded_wf").func is second
    with durable.SetWorkflowID("reloaded"):
        assert replacement() == "second"
    assert WorkflowRun.objects.get(pk="reloaded").name == "reloaded_wf"
