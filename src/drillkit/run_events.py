"""The event stream of a `drill run`: the pytest side writes one JSON object per line to a file
descriptor the `drill` command opened (``DRILLKIT_EVENTS_FD``); the command renders them as live
progress and builds its result from them. Without that variable every function here does nothing.

Loaded with ``-p drillkit.run_events`` by `drill run`. Events:

``collected``      ``drills``: what will run (name, title, stack, fault, severity, source)
``collect-error``  ``where``, ``message`` (one line): a file that is not a drill (bad scenario, …)
``drill-start``    ``name``, ``index``, ``total``, and the drill's description
``progress``       ``name``, ``text``: start-up of the lab, each phase, each fault, each verdict
``drill-end``      ``name``, ``outcome`` (`drillkit.outcome.OUTCOMES`), ``sentences``, ``duration``,
                   ``findings`` (critical and warning findings: severity, sentence)
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import pytest

from drillkit.catalogue import describe_item
from drillkit.errors import one_line
from drillkit.pytest_plugin import drill_of, drill_phases, phase_outcome, settings_key

__all__ = ["ENV_FD", "emit"]

ENV_FD = "DRILLKIT_EVENTS_FD"


class _Stream:
    def __init__(self, fd: int):
        self._fh = os.fdopen(fd, "w", buffering=1, encoding="utf-8")
        self._lock = threading.Lock()
        self.current: str | None = None   # the drill running now (progress from threads names it)

    def write(self, event: str, data: dict[str, Any]) -> None:
        line = json.dumps({"event": event, "t": round(time.time(), 3), **data}, default=str,
                          ensure_ascii=False)
        with self._lock:
            try:
                self._fh.write(line + "\n")
            except (OSError, ValueError):  # the reader is gone (the command was killed): carry on
                pass

    def close(self) -> None:
        with self._lock:
            try:
                self._fh.close()
            except OSError:
                pass


_stream_key = pytest.StashKey[_Stream]()


@pytest.hookimpl(trylast=True)   # after drillkit's own plugin has made its settings
def pytest_configure(config: pytest.Config) -> None:
    fd = os.environ.get(ENV_FD)
    if not fd:
        return
    try:
        stream = _Stream(int(fd))
    except (OSError, ValueError):
        return
    config.stash[_stream_key] = stream
    plugin = _EventHooks(config)
    config.pluginmanager.register(plugin, "drillkit-run-events")
    config.add_cleanup(lambda: config.pluginmanager.unregister(plugin))
    config.add_cleanup(stream.close)
    settings = config.stash.get(settings_key, None)
    if settings is not None:   # drills' progress lines (lab start-up, phases, faults, verdicts)
        settings.progress_sinks.append(lambda text: emit(config, "progress", text=text))


def emit(config: pytest.Config | None, event: str, **data: Any) -> None:
    """Write one event if this pytest run has a stream; progress is stamped with the running drill."""
    stream = config.stash.get(_stream_key, None) if config is not None else None
    if stream is None:
        return
    if event == "progress" and "name" not in data:
        data["name"] = stream.current
    stream.write(event, data)


class _EventHooks:
    """The hooks, registered only when a stream is open (bound to its config)."""

    def __init__(self, config: pytest.Config):
        self.config = config

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        emit(self.config, "collected", drills=[describe_item(i) for i in session.items])

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            emit(self.config, "collect-error", where=report.nodeid or "(session)",
                 message=one_line(str(report.longrepr)))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem):
        stream = self.config.stash[_stream_key]
        items = item.session.items
        index = items.index(item) + 1 if item in items else 0
        stream.current = item.nodeid
        emit(self.config, "drill-start", index=index, total=len(items), **describe_item(item))
        started = time.monotonic()
        try:
            return (yield)
        finally:
            outcome, sentences = phase_outcome(drill_phases(item))
            found = getattr(drill_of(item), "examination", None)
            noticed = [{"severity": f.severity, "sentence": f.sentence} for f in found.findings
                       if f.severity in ("critical", "warning")] if found is not None else []
            emit(self.config, "drill-end", name=item.nodeid, outcome=outcome, sentences=sentences, findings=noticed,
                 duration=round(time.monotonic() - started, 3))
            stream.current = None
