"""Workflows and schedules of the demo app (autodiscovered by django_durable)."""

from __future__ import annotations
