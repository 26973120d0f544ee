"""Live progress of a `drill run` for the person (or CI log) watching it.

On a terminal: `rich` — a spinner line with what happens now (building images, starting the lab, the
drill's phase), finished steps printed above it, each drill's verdict line in colour. Not on a terminal
(CI logs, pipes): the same steps as plain lines. ``--quiet``: only each drill's verdict line and the
totals. Always on stderr when stdout carries ``--json``. A failed drill shows its verdict sentences,
never a traceback (that stays in the Allure report and ``reports/drill-run.log``).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import IO, Any

from drillkit.outcome import OUTCOME_WORDS, OUTCOMES, RunOutcome

__all__ = ["View", "PlainView", "RichView", "QuietView", "make_view", "verdict_lines", "write_safely"]

_HEADS = {"failed": "DEFECT found", "broken": "LAB ERROR (no verdict on the stack)",
          "not-judged": "NOT JUDGED (steady state not met before any fault; no verdict on the stack)",
          "interrupted": "INTERRUPTED (stopped before its verdicts; nothing judged)", "skipped": "skipped"}


def write_safely(text: str, stream: IO[str]) -> bool:
    """Print a line; False once the reader has gone (``drill run | head``: a closed pipe). The stream
    is then pointed at /dev/null so nothing later — not even the interpreter's last flush — fails:
    a closed stdout never changes what the run does or its exit code."""
    try:
        print(text, file=stream, flush=True)
        return True
    except (BrokenPipeError, ValueError, OSError):
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass
        return False


def counts_line(run: RunOutcome) -> str:
    """``3 held, 1 found a defect, 0 lab error(s)`` and, where there are any, the others."""
    c = run.counts
    parts = [f"{c['passed']} held", f"{c['failed']} found a defect", f"{c['broken']} lab error(s)"]
    parts += [f"{c[o]} {OUTCOME_WORDS[o]}" for o in OUTCOMES if o not in ("passed", "failed", "broken") and c[o]]
    return ", ".join(parts)


def verdict_lines(name: str, outcome: str, sentences: list[str], duration: float | None = None,
                  findings: list[dict] | None = None) -> list[str]:
    """The lines that close a drill: 'held', or the verdict sentences of what went wrong — and
    what the timeline showed that nobody asked about (findings), also beside 'held'."""
    took = f" ({duration:.0f} s)" if duration else ""
    seen = [f"  ! finding [{f.get('severity')}]: {f.get('sentence')}" for f in findings or []]
    if outcome == "passed":
        return [f"held{took}: {name}", *seen]
    head = _HEADS.get(outcome, outcome)
    return [f"{head}{took}: {name}", *[f"  - {s}" for s in sentences if s], *seen]


class View:
    """Base: receives plain messages (`say`) and events from the pytest run (`event`)."""

    def __init__(self, stream: IO[str]):
        self.stream = stream
        self.total = 0
        self.lock = threading.Lock()
        self.closed = False          # the reader went away: lines are dropped, the run goes on

    def say(self, text: str) -> None:
        self._line(text)

    def status(self, text: str) -> None:
        """What happens right now, shown where it can be shown without a line of its own (the
        spinner on a terminal); plain lines and quiet views drop it."""

    def _line(self, text: str) -> None:
        with self.lock:
            if not self.closed:
                self.closed = not write_safely(text, self.stream)

    def event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("event")
        if kind == "collected":
            self.total = len(ev.get("drills") or [])
            self.say(f"drill: {self.total} drill(s) to run")
        elif kind == "drill-start":   # (a collection error is said once, with the result's errors)
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
                                  ev.get("duration"), ev.get("findings")):
            self._line(f"    {line}")

    def result(self, run: RunOutcome) -> None:
        """The closing lines: counts, what each code means, where the reports are."""
        code = run.exit_code
        self._line("")
        self._line(f"drill: {len(run.drills)} drill(s): {counts_line(run)} in {run.duration:.0f} s — "
                   f"exit {code} ({run.result})")
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
                                  ev.get("duration"), ev.get("findings")):
            self._line(line)

    def result(self, run: RunOutcome) -> None:
        code = run.exit_code
        self._line(f"drill: {counts_line(run)} — exit {code} ({run.result})")
        for err in run.input_errors + run.errors:
            self._line(f"drill: error: {err}")


class RichView(View):
    """A terminal: a spinner with what happens now; finished steps and verdicts printed above it."""

    def __init__(self, stream: IO[str]):
        super().__init__(stream)
        from rich.console import Console  # deferred: rich draws only on a terminal
        self.console = Console(file=stream, highlight=False, soft_wrap=True)
        self.status_line = self.console.status("starting …", spinner="dots")
        self.status_line.start()
        self.current = ""

    def _line(self, text: str) -> None:
        from rich.markup import escape  # deferred: rich draws only on a terminal
        self._markup(escape(text))

    def status(self, text: str) -> None:
        from rich.markup import escape  # deferred: rich draws only on a terminal
        with self.lock:
            self.status_line.update(escape(text.removeprefix("drill: ")))

    def _markup(self, text: str) -> None:
        with self.lock:
            if self.closed:
                return
            try:
                self.console.print(text)
            except (BrokenPipeError, ValueError, OSError):
                self.closed = not write_safely("", self.stream)

    def say(self, text: str) -> None:
        from rich.markup import escape  # deferred: rich draws only on a terminal
        with self.lock:
            self.status_line.update(escape(text.removeprefix("drill: ")))
        if not text.startswith(("drill: building", "drill: generating")):
            self._markup(f"[dim]{escape(text)}[/dim]")

    def drill_start(self, ev: dict[str, Any]) -> None:
        from rich.markup import escape  # deferred: rich draws only on a terminal
        self.current = f"[{ev.get('index')}/{ev.get('total')}] {ev.get('title') or ev.get('name')}"
        what = f"{ev.get('stack') or '?'}: {ev.get('fault') or 'drill'}"
        self._markup(f"[bold]{escape(self.current)}[/bold] [dim]({escape(what)})[/dim]")
        with self.lock:
            self.status_line.update(escape(self.current))

    def progress(self, text: str) -> None:
        from rich.markup import escape  # deferred: rich draws only on a terminal
        style = "cyan" if text.startswith(("inject", "heal")) else "dim"
        if text.startswith("verdict: [fail]"):
            style = "red"
        elif text.startswith("verdict: [pass]"):
            style = "green"
        self._markup(f"    [{style}]{escape(text)}[/{style}]")
        with self.lock:
            self.status_line.update(f"{escape(self.current)} — {escape(text)}")

    def drill_end(self, ev: dict[str, Any]) -> None:
        from rich.markup import escape  # deferred: rich draws only on a terminal
        style = {"passed": "bold green", "failed": "bold red"}.get(ev.get("outcome"), "bold yellow")
        lines = verdict_lines(ev.get("name", ""), ev.get("outcome", ""), ev.get("sentences") or [],
                              ev.get("duration"), ev.get("findings"))
        self._markup(f"    [{style}]{escape(lines[0])}[/{style}]" if style else f"    {escape(lines[0])}")
        for line in lines[1:]:
            self._markup(f"    [red]{escape(line)}[/red]")

    def result(self, run: RunOutcome) -> None:
        self.close()
        super().result(run)

    def close(self) -> None:
        with self.lock:
            self.status_line.stop()


def make_view(*, stream: IO[str] | None = None, quiet: bool = False, rich: bool | None = None) -> View:
    """Rich on a terminal, plain lines elsewhere, verdict lines only with ``quiet``."""
    stream = stream or sys.stderr
    if quiet:
        return QuietView(stream)
    if rich is None:
        rich = hasattr(stream, "isatty") and stream.isatty()
    return RichView(stream) if rich else PlainView(stream)
