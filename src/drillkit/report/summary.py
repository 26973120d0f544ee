"""The short summary of a set of drill runs — ``summary.md`` for people, ``summary.json`` for machines —
and a JSON-lines history of runs so scheduled drills show a trend.

Key figures come only from the verdicts a drill asked for (each verdict's column in
``drillkit.verdicts.registry``): a figure that was not asked for or could not be measured is ``None``
in JSON and ``—`` in summary.md, never a number computed behind the verdicts' back. Availability per
population is the exception: it is measured from the timeline whenever there are requests. A None
with a reason says it (``no outage seen``, ``not recovered``), and a verdict that is its drill's
headline (silent write loss) heads the summary.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillkit.timeline import Timeline
from drillkit.verdicts.base import Verdict
from drillkit.verdicts.registry import VERDICTS

__all__ = ["DrillResult", "key_figures", "write_summary", "append_trend", "trend_table"]

OUTCOMES = ("passed", "failed", "broken")


@dataclass
class DrillResult:
    """One drill run as the report sees it."""

    name: str
    stack: str
    fault: str
    scenario: str
    outcome: str  # "passed" | "failed" | "broken"
    verdicts: list[Verdict] = field(default_factory=list)
    timeline_path: Path | None = None
    duration: float = 0.0

    @property
    def failed_verdicts(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.failed]

    def timeline(self) -> Timeline | None:
        """The drill's timeline, or None if it was not written (e.g. the lab broke first)."""
        if self.timeline_path is None or not Path(self.timeline_path).is_file():
            return None
        return Timeline.load(self.timeline_path)


# -- key figures ---------------------------------------------------------------------------------

def _kinds():
    return VERDICTS


def key_figures(result: DrillResult, timeline: Timeline | None = None) -> dict[str, Any]:
    """The drill's figures, each from the verdicts the drill asked for (its registry column), never
    computed behind their back: a figure no verdict measured is None. Availability per population is
    measured from the timeline (always measured when there are requests).

    Keys: the four headline figures (``recovery_time`` s, ``availability`` {population: %},
    ``sessions_lost``, ``writes_lost``) always; any other column's key when the drill asked for its
    verdict; ``notes`` {key: text} for a None that has a reason (``no outage seen``, ``not
    recovered``); ``headlines``: sentences of verdicts that are the drill's headline (silent write loss).
    """
    tl = timeline if timeline is not None else result.timeline()
    figures: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for kind in _kinds().values():
        col = kind.column
        if col is None:
            continue
        mine = [v for v in result.verdicts if kind.judges(v)]
        if not col.headline and not mine:
            continue
        figures[col.key] = col.figure(mine, tl)
        note = col.note(mine) if col.note is not None and mine else None
        if note is not None:
            notes[col.key] = note
    if tl is None and figures.get("availability") is None:
        figures["availability"] = {}
    figures["notes"] = notes
    figures["headlines"] = [v.sentence for v in result.verdicts if v.details.get("headline")]
    return figures


# -- summary.md / summary.json -------------------------------------------------------------------

def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _fmt_seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _fmt_availability(availability: dict[str, float]) -> str:
    if not availability:
        return "—"
    return "<br>".join(f"{pop} {pct:.1f} %" for pop, pct in availability.items())


def _verdict_line(verdict: Verdict) -> str:
    if verdict.name.lower() in verdict.sentence.lower():
        return _cell(verdict.sentence)
    return _cell(f"{verdict.name}: {verdict.sentence}")


_OUTCOME_MARK = {"passed": "✅ pass", "failed": "❌ fail", "broken": "⚠️ broken"}


def write_summary(results: list[DrillResult], directory: Path) -> tuple[Path, Path]:
    """Write ``summary.md`` and ``summary.json`` into ``directory``; return both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    generated = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    rows = [(r, key_figures(r)) for r in results]

    counts = {o: sum(1 for r in results if r.outcome == o) for o in OUTCOMES}
    shown = [k for k in _kinds().values() if k.column is not None
             and (k.column.headline or any(k.column.key in fig for _, fig in rows))]
    lines = [
        "# Drill summary",
        "",
        f"{len(results)} drills — {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['broken']} broken (lab error) · {generated}",
        "",
        "| Drill | Stack | Fault | Verdict | " + " | ".join(k.column.title for k in shown) + " |",
        "|---|---|---|---|" + "---|" * len(shown),
    ]
    for r, fig in rows:
        cells = [k.column.format(fig.get(k.column.key), [v for v in r.verdicts if k.judges(v)])
                 for k in shown]
        lines.append("| " + " | ".join(_cell(c) for c in (
            r.name, r.stack, r.fault, _OUTCOME_MARK.get(r.outcome, r.outcome), *cells)) + " |")
    headlines = [(r, h) for r, fig in rows for h in fig["headlines"]]
    if headlines:
        lines += ["", "## Headlines", ""]
        lines += [f"- **{r.name}** — {_cell(h)}" for r, h in headlines]
    failures = [(r, v) for r, _ in rows for v in r.failed_verdicts]
    if failures:
        lines += ["", "## Failed verdicts", ""]
        lines += [f"- **{r.name}** — {_verdict_line(v)}" for r, v in failures]
    broken = [r for r in results if r.outcome == "broken"]
    if broken:
        lines += ["", "## Broken (lab/infrastructure, not a verdict on the stack)", ""]
        lines += [f"- **{r.name}**" for r in broken]
    md_path = directory / "summary.md"
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    payload = {
        "generated": generated,
        "counts": counts,
        "drills": [{
            "name": r.name, "stack": r.stack, "fault": r.fault, "scenario": r.scenario,
            "outcome": r.outcome, "duration": round(r.duration, 3),
            "timeline": str(r.timeline_path) if r.timeline_path else None,
            "figures": fig,
            "verdicts": [v.as_dict() for v in r.verdicts],
        } for r, fig in rows],
    }
    json_path = directory / "summary.json"
    json_path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return md_path, json_path


# -- trend history -------------------------------------------------------------------------------

def append_trend(results: list[DrillResult], history_file: Path) -> Path:
    """Append one JSON line per drill run (date, drill, outcome, the headline figures — null when not
    measured — and the notes that say why)."""
    history_file = Path(history_file)
    history_file.parent.mkdir(parents=True, exist_ok=True)
    date = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with open(history_file, "a", encoding="utf-8") as fh:
        for r in results:
            fig = key_figures(r)
            fh.write(json.dumps({
                "date": date, "drill": r.name, "stack": r.stack, "fault": r.fault,
                "outcome": r.outcome, "recovery_time": fig["recovery_time"],
                "availability": fig["availability"], "sessions_lost": fig["sessions_lost"],
                "writes_lost": fig["writes_lost"], "notes": fig["notes"],
            }, separators=(",", ":"), default=str) + "\n")
    return history_file


def _read_history(history_file: Path) -> list[dict[str, Any]]:
    entries = []
    with open(history_file, encoding="utf-8") as fh:
        for raw in fh:
            try:
                entry = json.loads(raw)
            except json.JSONDecodeError:
                continue  # a torn line from an interrupted run
            if isinstance(entry, dict) and "drill" in entry:
                entries.append(entry)
    return entries


def trend_table(history_file: Path, last: int = 10) -> str:
    """Markdown table of the last ``last`` runs of each drill, oldest first, from ``history_file``."""
    history_file = Path(history_file)
    if not history_file.is_file():
        return "_No drill history yet._\n"
    by_drill: dict[str, list[dict[str, Any]]] = {}
    for entry in _read_history(history_file):
        by_drill.setdefault(entry["drill"], []).append(entry)
    if not by_drill:
        return "_No drill history yet._\n"
    lines = ["| Drill | Date | Outcome | Recovery time | Availability |", "|---|---|---|---|---|"]
    for drill in sorted(by_drill):
        for entry in by_drill[drill][-last:]:
            lines.append("| " + " | ".join(_cell(c) for c in (
                drill, entry.get("date", "?"),
                _OUTCOME_MARK.get(entry.get("outcome"), entry.get("outcome", "?")),
                (entry.get("notes") or {}).get("recovery_time") or _fmt_seconds(entry.get("recovery_time")),
                _fmt_availability(entry.get("availability") or {}))) + " |")
    return "\n".join(lines) + "\n"
