"""DBOS Transact, "Class-Based Workflows": the example that runs SQL through
``DBOS.sql_session`` with SQLAlchemy's ``text()``, verbatim but for the import."""

# mypy: ignore-errors
# ruff: noqa

from django_durable.dbos import DBOS
import sqlalchemy as sa


@DBOS.dbos_class()
class DataWorkflows:
    workflow_count = 0
    transaction_count = 0

    @staticmethod
    @DBOS.workflow()
    def process_data(input_data: str) -> str:
        DataWorkflows.workflow_count += 1
        # Call transaction and step methods
        db_result = DataWorkflows.save_to_db(input_data)
        processed = DataWorkflows.transform_data(input_data)
        return f"{db_result}-{processed}"

    @staticmethod
    @DBOS.transaction()
    def save_to_db(data: str) -> str:
        DataWorkflows.transaction_count += 1
        rows = DBOS.sql_session.execute(sa.text("SELECT 1")).fetchall()
        return f"{data}-{rows[0][0]}"

    @staticmethod
    @DBOS.step()
    def transform_data(data: str) -> str:
        return data.upper()
