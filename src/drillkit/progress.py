"""Live progress of a `drill run` for the person (or CI log) watching it.

On a terminal: `rich` — a spinner line with what happens now (building images, starting the lab, the
drill's phase), finished steps printed above it, each drill's verdict line in colour. Not on a terminal
(CI logs, pipes): the same steps as plain lines. ``--quiet``: only each drill's verdict line and the
totals. Always on stderr when stdout carries ``--json``. A failed drill shows its verdict sentences,
never a traceback (that stays in the Allure report and ``reports/drill-run.log``).
"""

from __future__ import annotations

import sys
import threading
from typing import IO, Any

from drillkit.outcome import RunOutcome

__all__ = ["View", "PlainView", "RichView", "QuietView", "make_view", "verdict_lines"]

_MARK = {"passed": "held", "failed": "DEFECT", "broken": "LAB ERROR", "skipped": "skipped"}


def verdict_lines(name: str, outcome: str, sentences: list[str], duration: float | None = None) -> list[str]:
    """The lines that close a drill: 'held', or the verdict sentences of what went wrong."""
    took = f" ({duration:.0f} s)" if duration else ""
    if outcome == "passed":
        return [f"held{took}: {name}"]
    head = {"failed": "DEFECT found", "broken": "LAB ERROR (no verdict on the stack)",
            "skipped": "skipped"}.get(outcome, outcome)
    return [f"{head}{took}: {name}", *[f"  - {s}" for s in sentences if s]]


class View:
    """Base: receives plain messages (`say`) and events from the pytest run (`event`)."""

    def __init__(self, stream: IO[str]):
        self.stream = stream
        self.total = 0
        self.lock = threading.Lock()

    def say(self, text: str) -> None:
        self._line(text)

    def _line(self, text: str) -> None:
        with self.lock:
            print(text, file=self.stream, flush=True)

    def event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("event")
        if kind == "collected":
            self.total = len(ev.get("drills") or [])
            self.say(f"drill: {self.total} drill(s) to run")
        elif kind == "collect-error":
            where, msg = ev.get("where") or "", str(ev.get("message") or "")
            self.say(f"drill: not a drill: {msg if not where or where == '(session)' or where in msg else where + ': ' + msg}")
        elif kind == "drill-start":
            self.drill_start(ev)
        elif kind == "progress":
            self.progress(str(ev.get("text", "")))
        elif kind == "drill-end":
            self.drill_end(ev)

    def drill_start(self, ev: dict[str, Any]) -> None:
        what = f"{ev.get('stack') or '?'}: {ev.get('fault') or 'drill'}"
        self._line(f"[{ev.get('index')}/{ev.get('total')}] {ev.get('title') or ev.get('name')} ({what})")

    def progress(self, text: str) -> None:
        self._line(f"    {text}")

    def drill_end(self, ev: dict[str, Any]) -> None:
        for line in verdict_lines(ev.get("name", ""), ev.get("outcome", ""), ev.get("sentences") or [],
                                  ev.get("duration")):
            self._line(f"    {line}")

    def result(self, run: RunOutcome) -> None:
        """The closing lines: counts, what each code means, where the reports are."""
        c = run.counts
        code = run.exit_code
        self._line("")
        self._line(f"drill: {len(run.drills)} drill(s): {c['passed']} held, {c['failed']} found a defect, "
                   f"{c['broken']} lab error(s){', ' + str(c['skipped']) + ' skipped' if c['skipped'] else ''}"
                   f" in {run.duration:.0f} s — exit {code} ({run.result})")
        for err in run.input_errors + run.errors:
            self._line(f"drill: error: {err}")
        for label, key in (("summary", "summary"), ("management page", "management"), ("PDF", "pdf"),
                           ("Allure report", "allure"), ("log", "log")):
            if run.reports.get(key):
                self._line(f"drill: {label}: {run.reports[key]}")

    def close(self) -> None:
        pass


class PlainView(View):
    """Plain lines, for CI logs and pipes."""


class QuietView(View):
    """Only the verdict lines of drills and the totals."""

    def say(self, text: str) -> None:
        if text.startswith("drill: error"):
            self._line(text)

    def drill_start(self, ev: dict[str, Any]) -> None:
        pass

    def progress(self, text: str) -> None:
        pass

    def drill_end(self, ev: dict[str, Any]) -> None:
        for line in verdict_lines(ev.get("name", ""), ev.get("outcome", ""), ev.get("sentences") or [],
                                  ev.get("duration")):
            self._line(line)

    def result(self, run: RunOutcome) -> None:
        c = run.counts
        code = run.exit_code
        self._line(f"drill: {c['passed']} held, {c['failed']} defect(s), {c['broken']} lab error(s) — "
                   f"exit {code} ({run.result})")
        for err in run.input_errors + run.errors:
            self._line(f"drill: error: {err}")


class RichView(View):
    """A terminal: a spinner with what happens now; finished steps and verdicts printed above it."""

    def __init__(self, stream: IO[str]):
        super().__init__(stream)
        from rich.console import Console
        self.console = Console(file=stream, highlight=False, soft_wrap=True)
        self.status = self.console.status("starting …", spinner="dots")
        self.status.start()
        self.current = ""

    def _line(self, text: str) -> None:
        from rich.markup import escape
        with self.lock:
            self.console.print(escape(text))

    def _markup(self, text: str) -> None:
        with self.lock:
            self.console.print(text)

    def say(self, text: str) -> None:
        from rich.markup import escape
        with self.lock:
            self.status.update(escape(text.removeprefix("drill: ")))
        if not text.startswith(("drill: building", "drill: generating")):
            self._markup(f"[dim]{escape(text)}[/dim]")

    def drill_start(self, ev: dict[str, Any]) -> None:
        from rich.markup import escape
        self.current = f"[{ev.get('index')}/{ev.get('total')}] {ev.get('title') or ev.get('name')}"
        what = f"{ev.get('stack') or '?'}: {ev.get('fault') or 'drill'}"
        self._markup(f"[bold]{escape(self.current)}[/bold] [dim]({escape(what)})[/dim]")
        with self.lock:
            self.status.update(escape(self.current))

    def progress(self, text: str) -> None:
        from rich.markup import escape
        style = "cyan" if text.startswith(("inject", "heal")) else "dim"
        if text.startswith("verdict: [fail]"):
            style = "red"
        elif text.startswith("verdict: [pass]"):
            style = "green"
        self._markup(f"    [{style}]{escape(text)}[/{style}]")
        with self.lock:
            self.status.update(f"{escape(self.current)} — {escape(text)}")

    def drill_end(self, ev: dict[str, Any]) -> None:
        from rich.markup import escape
        style = {"passed": "bold green", "failed": "bold red", "broken": "bold yellow"}.get(ev.get("outcome"), "")
        lines = verdict_lines(ev.get("name", ""), ev.get("outcome", ""), ev.get("sentences") or [],
                              ev.get("duration"))
        self._markup(f"    [{style}]{escape(lines[0])}[/{style}]" if style else f"    {escape(lines[0])}")
        for line in lines[1:]:
            self._markup(f"    [red]{escape(line)}[/red]")

    def result(self, run: RunOutcome) -> None:
        self.close()
        super().result(run)

    def close(self) -> None:
        with self.lock:
            self.status.stop()


def make_view(*, stream: IO[str] | None = None, quiet: bool = False, rich: bool | None = None) -> View:
    """Rich on a terminal, plain lines elsewhere, verdict lines only with ``quiet``."""
    stream = stream or sys.stderr
    if quiet:
        return QuietView(stream)
    if rich is None:
        rich = hasattr(stream, "isatty") and stream.isatty()
    return RichView(stream) if rich else PlainView(stream)
