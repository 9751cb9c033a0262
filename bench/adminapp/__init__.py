"""The app that ``bench/admin_scale.py`` loads: scheduled workflows and declared queues
(``workflows.py``, autodiscovered), settings with the Django admin, and its URLs."""
