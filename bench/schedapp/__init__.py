"""The app that ``bench/scheduler_scale.py`` and its ``runscheduler --no-worker`` processes
load: a scheduled workflow that does nothing (``workflows.py``, autodiscovered)."""
