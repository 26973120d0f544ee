"""Reports written once the drills have run, found by themselves: a module of ``report/`` adds one
by decorating ``write(results, report_dir)`` with `after_drills` — no list to edit. The pipeline
(`drillkit.report.pipeline.finish_session`) imports every module of this package and calls each
writer in the order of the modules' names; a writer that fails is said on stderr and the others
still run.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["after_drills", "writers"]

Writer = Callable[[list[Any], Path], Any]
_WRITERS: dict[str, Writer] = {}
_NOT_REPORTS = {"pipeline", "writers"}


def after_drills(fn: Writer) -> Writer:
    """Register ``fn(results, report_dir)`` as a report written after the drills."""
    _WRITERS[f"{fn.__module__}.{fn.__qualname__}"] = fn
    return fn


def writers() -> list[Writer]:
    """Every registered writer, after importing each module of this package once."""
    for mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if mod.name not in _NOT_REPORTS:
            importlib.import_module(f"drillkit.report.{mod.name}")
    return [fn for _, fn in sorted(_WRITERS.items())]
