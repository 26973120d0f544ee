"""The event stream of a `drill run`: the pytest side writes one JSON object per line to a file
descriptor the `drill` command opened (``DRILLKIT_EVENTS_FD``); the command renders them as live
progress and builds its result from them. Without that variable every function here does nothing.

Loaded with ``-p drillkit.run_events`` by `drill run`. Events:

``collected``      ``drills``: what will run (name, title, stack, fault, severity, source)
``collect-error``  ``where``, ``message`` (one line): a file that is not a drill (bad scenario, …)
``drill-start``    ``name``, ``index``, ``total``, and the drill's description
``progress``       ``name``, ``text``: start-up of the lab, each phase, each fault, each verdict
``drill-end``      ``name``, ``outcome`` (passed|failed|broken|skipped), ``sentences``, ``duration``
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import pytest

__all__ = ["ENV_FD", "emit", "outcome_of", "sentences_of"]

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
_phases_key = pytest.StashKey[dict]()


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
        from drillkit.catalogue import describe_item
        emit(self.config, "collected", drills=[describe_item(i) for i in session.items])

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            emit(self.config, "collect-error", where=report.nodeid or "(session)",
                 message=_one_line(str(report.longrepr)))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem):
        from drillkit.catalogue import describe_item
        stream = self.config.stash[_stream_key]
        items = item.session.items
        index = items.index(item) + 1 if item in items else 0
        stream.current = item.nodeid
        emit(self.config, "drill-start", index=index, total=len(items), **describe_item(item))
        started = time.monotonic()
        item.stash[_phases_key] = {}
        try:
            return (yield)
        finally:
            outcome, sentences = outcome_of(item.stash.get(_phases_key, {}))
            emit(self.config, "drill-end", name=item.nodeid, outcome=outcome, sentences=sentences,
                 duration=round(time.monotonic() - started, 3))
            stream.current = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        rep = yield
        phases = item.stash.get(_phases_key, None)
        if phases is not None:
            exc = call.excinfo.value if call.excinfo else None
            phases[call.when] = (rep.outcome, sentences_of(exc) if exc is not None else [],
                                 _is_verdict(exc) if exc is not None else False)
        return rep


# -- classification ------------------------------------------------------------------------------

def _is_verdict(exc: BaseException) -> bool:
    from drillkit.report.allure_results import VERDICT_FAILURE_PREFIX
    return str(exc).startswith(VERDICT_FAILURE_PREFIX) or type(exc).__name__ == "DrillFailed"


def sentences_of(exc: BaseException) -> list[str]:
    """What a person reads about a failure: each failed verdict's sentence for a drill that found a
    defect, otherwise the error in one line (never a traceback)."""
    verdicts = getattr(exc, "verdicts", None)
    if verdicts:
        return [getattr(v, "sentence", str(v)) for v in verdicts]
    from drillkit.errors import DrillkitError
    if isinstance(exc, DrillkitError):
        return [_one_line(str(exc))]
    if isinstance(exc, pytest.skip.Exception):
        return [_one_line(getattr(exc, "msg", "") or str(exc))]
    text = _one_line(str(exc))
    return [f"{type(exc).__name__}: {text}" if text else type(exc).__name__]


def outcome_of(phases: dict[str, tuple[str, list[str], bool]]) -> tuple[str, list[str]]:
    """passed | failed (a verdict failed) | broken (the lab, a fixture or the drill's code) | skipped,
    with the sentences that explain it; setup before call before teardown."""
    setup, call, teardown = (phases.get(w) for w in ("setup", "call", "teardown"))
    if setup is None:
        return "broken", ["the drill did not start"]
    if setup[0] == "skipped":
        return "skipped", setup[1]
    if setup[0] == "failed":
        return "broken", setup[1]
    if call is not None and call[0] == "failed":
        return ("failed" if call[2] else "broken"), call[1]
    if teardown is not None and teardown[0] == "failed":
        return "broken", teardown[1]
    if call is not None and call[0] == "skipped":
        return "skipped", call[1]
    return "passed", []


def _one_line(text: str, limit: int = 400) -> str:
    lines = [l.strip() for l in str(text).strip().splitlines() if l.strip()]
    # a pytest longrepr ends with "E   Error: message" lines and "file:line: Error"; prefer those
    errors = [l[1:].strip() for l in lines if l.startswith("E ")]
    line = " ".join(errors) if errors else (lines[-1] if lines else "")
    return line[:limit]
