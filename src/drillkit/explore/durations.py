"""Durations as scenarios write them (``500ms``, ``3s``, ``1m``, ``1h`` or seconds), read and written
back: reading is the ground floor's :func:`drillkit.yamlsrc.parse_duration` (one syntax, one bound),
writing back in the scenario form is here.
"""

from __future__ import annotations

from drillkit.yamlsrc import parse_duration

__all__ = ["parse_duration", "format_duration", "format_elapsed"]


def format_duration(seconds: float) -> str:
    """The scenario form: ``2s``, ``2.5s``, ``500ms`` (below one second)."""
    seconds = round(float(seconds), 3)
    if 0 < seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


def format_elapsed(seconds: float) -> str:
    """For people: ``42 s``, ``6 min 12 s``, ``1 h 3 min``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"
