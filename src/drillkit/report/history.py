"""The drills' history, ``history.jsonl``: one line per drill run (date, drill, outcome, headline
figures — null when not measured — and the notes that say why). The management page's trend and
"what changed", `drill list`'s last verdict and Allure's "unstable drill" all read it from here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from drillkit.report.summary import OUTCOME_MARKS, DrillResult, key_figures, md_availability, md_cell, md_seconds
from drillkit.report.writers import after_drills

__all__ = ["write_history", "append_trend", "read_history", "trend_table", "last_verdicts", "recent_outcomes"]


def read_history(path: Path) -> list[dict[str, Any]]:
    """Every entry of ``history.jsonl`` in file order; torn lines (an interrupted run) and foreign
    lines are skipped; no file is no history."""
    out: list[dict[str, Any]] = []
    try:
        fh = open(path, encoding="utf-8")
    except OSError:
        return out
    with fh:
        for raw in fh:
            try:
                entry = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict) and entry.get("drill"):
                out.append(entry)
    return out


def last_verdicts(history_file: Path) -> dict[str, dict[str, Any]]:
    """The newest history entry of each drill: {drill name: entry}; empty without history."""
    return {e["drill"]: e for e in read_history(history_file)}


def recent_outcomes(history_file: Path) -> dict[str, list[str]]:
    """Each drill's outcomes in the history, oldest first: {drill name: [passed, failed, …]}."""
    out: dict[str, list[str]] = {}
    for e in read_history(history_file):
        out.setdefault(e["drill"], []).append(str(e.get("outcome")))
    return out


@after_drills
def write_history(results: list[DrillResult], report_dir: Path) -> Path:
    """The run's line per drill, appended to ``<report_dir>/history.jsonl``."""
    return append_trend(results, Path(report_dir) / "history.jsonl")


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
                "findings": None if r.findings is None else [f"{f['severity']}:{f['kind']}" for f in r.findings],
            }, separators=(",", ":"), default=str) + "\n")
    return history_file


def trend_table(history_file: Path, last: int = 10) -> str:
    """Markdown table of the last ``last`` runs of each drill, oldest first, from ``history_file``."""
    history_file = Path(history_file)
    if not history_file.is_file():
        return "_No drill history yet._\n"
    by_drill: dict[str, list[dict[str, Any]]] = {}
    for entry in read_history(history_file):
        by_drill.setdefault(entry["drill"], []).append(entry)
    if not by_drill:
        return "_No drill history yet._\n"
    lines = ["| Drill | Date | Outcome | Recovery time | Availability |", "|---|---|---|---|---|"]
    for drill in sorted(by_drill):
        for entry in by_drill[drill][-last:]:
            lines.append("| " + " | ".join(md_cell(c) for c in (
                drill, entry.get("date", "?"),
                OUTCOME_MARKS.get(entry.get("outcome"), entry.get("outcome", "?")),
                (entry.get("notes") or {}).get("recovery_time") or md_seconds(entry.get("recovery_time")),
                md_availability(entry.get("availability") or {}))) + " |")
    return "\n".join(lines) + "\n"
