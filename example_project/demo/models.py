"""Models of the demo app."""

from __future__ import annotations
