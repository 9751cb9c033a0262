"""The examples of the two DBOS Transact pages the project re-implements, as DBOS users
write them, with only the import changed to ``django_durable.dbos``. The test modules
import them with the workflow registry cleared (their names are those of the suite's
own workflows) and put it back afterwards."""
