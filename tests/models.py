from __future__ import annotations

from django.db import models


class Event(models.Model):
    """A side effect written by test steps, so tests can count how often bodies ran."""

    label = models.CharField(max_length=200, db_index=True)
    value = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.label}={self.value}"
