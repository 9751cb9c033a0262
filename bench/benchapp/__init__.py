"""The app that ``bench/queue_throughput.py`` and its ``runscheduler`` workers load: the
``bench`` queue and the workflow it carries (``workflows.py``, autodiscovered)."""
