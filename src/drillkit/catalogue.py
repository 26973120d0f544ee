"""The drill catalogue: what `drill list` shows — every Python drill and YAML scenario with its stack,
fault, severity and source incident, and its last verdict from ``history.jsonl``.

Drills are found the way `drill run` finds them (pytest's collection with drillkit's plugin), but only
collected: no module-level fixture runs, no engine is asked, nothing starts.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any

import pytest

from drillkit.errors import one_line
from drillkit.outcome import OUTCOME_WORDS
from drillkit.lab.compose import load_environment
from drillkit.pytest_plugin import settings_key

__all__ = ["describe_item", "collect_drills", "VERDICT_WORDS"]

# how an outcome reads to a person (summary.json / history.jsonl say passed/failed/broken)
VERDICT_WORDS = OUTCOME_WORDS   # how an outcome reads to a person (history.jsonl says passed/failed/…)


def describe_item(item) -> dict[str, Any]:
    """Name, kind, title, stack, fault, severity and source of one collected drill (from its
    ``drill`` marker; a scenario's marker is made from its file)."""
    marker = item.get_closest_marker("drill")
    kw: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    if marker is not None and marker.args:
        kw.setdefault("environment", marker.args[0])
    scenario = getattr(item, "scenario", None)
    fn = getattr(item, "function", None)
    doc = (getattr(fn, "__doc__", None) or "").strip().splitlines()
    title = kw.get("scenario") or (doc[0] if doc else item.name)
    environment = kw.get("environment")
    if environment is None and marker is not None:   # the run's default (--drill-env and its twins)
        settings = item.config.stash.get(settings_key, None)
        environment = settings.environment if settings is not None else None
    return {
        "name": item.nodeid,
        "kind": "scenario" if scenario is not None else ("python" if marker is not None else "test"),
        "title": str(title),
        "stack": kw.get("stack") or _stack_of(environment),
        "fault": kw.get("fault") or "",
        "severity": str(kw.get("severity") or ("normal" if marker is not None else "")),
        "source": (getattr(scenario, "source", "") if scenario is not None else kw.get("source")) or "",
        "environment": str(environment) if environment else "",
    }


def _stack_of(environment: Any) -> str:
    if not environment:
        return ""
    try:
        return load_environment(str(environment)).stack
    except Exception:  # an unreadable environment is the run's error to report, not the list's
        return Path(str(environment)).name


class _Collector:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.errors: list[str] = []

    def pytest_collection_modifyitems(self, items) -> None:
        self.items = [describe_item(i) for i in items]

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.errors.append(f"{report.nodeid or '(session)'}: {one_line(str(report.longrepr))}")


def collect_drills(paths: list[str], *, rootdir: str = ".") -> tuple[list[dict[str, Any]], list[str]]:
    """Collect (never run) the drills under ``paths``: (drills, collection errors in one line each)."""
    collector = _Collector()
    args = [*paths, "--collect-only", "-q", "-p", "no:cacheprovider", "--rootdir", rootdir]
    sink = io.StringIO()
    previous = os.environ.get("DRILLKIT_NO_GC")
    os.environ["DRILLKIT_NO_GC"] = "1"   # listing never asks the engine (the plugin's gc would)
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            pytest.main(args, plugins=[collector])
    finally:
        if previous is None:
            os.environ.pop("DRILLKIT_NO_GC", None)
        else:
            os.environ["DRILLKIT_NO_GC"] = previous
    drills = [d for d in collector.items if d["kind"] != "test"]
    return drills, collector.errors
