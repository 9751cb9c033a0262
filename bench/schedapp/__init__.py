"""The app that ``bench/scheduler_scale.py`` and its ``runscheduler --no-worker`` process
load: a scheduled workflow that does nothing (``workflows.py``, autodiscovered) and the
scheduler's instrumentation (``instrument.py``)."""
