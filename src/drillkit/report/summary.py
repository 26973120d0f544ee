"""The short summary of a set of drill runs — ``summary.md`` for people, ``summary.json`` for machines —
and a JSON-lines history of runs so scheduled drills show a trend.

Key figures come from the drill's verdicts when a checker judged them, otherwise they are computed
from the drill's timeline; nothing is taken from side channels.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillkit.timeline import Timeline
from drillkit.verdicts.base import Verdict

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

def _verdict_value(verdicts: Iterable[Verdict], *names: str) -> float | int | None:
    """The worst (largest) value among verdicts with one of ``names``; several recovery-time verdicts
    (one per population) headline as the slowest."""
    values = [v.value for v in verdicts
              if v.name.strip().lower().replace("_", " ") in names and v.value is not None]
    return max(values) if values else None


def _availability(timeline: Timeline) -> dict[str, float]:
    out = {}
    for pop in timeline.populations():
        probes = timeline.probes(pop)
        out[pop] = round(100.0 * sum(1 for p in probes if p.get("ok")) / len(probes), 2)
    return out


def _recovery_time(timeline: Timeline) -> float | None:
    """From the first fault's injection to the first successful request after the last failed one;
    0.0 if nothing failed after the injection, None without a fault."""
    injects = [r["t"] for r in timeline.of("fault") if r.get("event") == "inject"]
    if not injects:
        return None
    start = min(injects)
    probes = timeline.probes(since=start)
    failures = [p for p in probes if not p.get("ok")]
    if not failures:
        return 0.0
    last_failure = max(p["t"] for p in failures)
    recovered = [p["t_end"] if p.get("t_end") is not None else p["t"]
                 for p in probes if p.get("ok") and p["t"] > last_failure]
    if not recovered:
        return None  # never recovered within the timeline
    return round(min(recovered) - start, 3)


def _sessions_lost(timeline: Timeline) -> int:
    """Distinct sessions (by client) the service had accepted and later refused."""
    return len({p.get("client") for p in timeline.of("probe") if p.get("session") == "rejected"})


def _writes_lost(timeline: Timeline) -> int | None:
    """Acknowledged writes missing from the ground truth; None without a ground-truth reading."""
    truth = timeline.ground_truth("writes")
    if truth is None:
        return None
    held = {str(i) for i in truth.get("ids", ())}
    return sum(1 for w in timeline.writes() if str(w.get("id")) not in held)


def key_figures(result: DrillResult, timeline: Timeline | None = None) -> dict[str, Any]:
    """Recovery time (s), availability per population (%), sessions lost and writes lost for one run.
    A checker's verdict wins over the figure computed here from the timeline."""
    tl = timeline if timeline is not None else result.timeline()
    figures: dict[str, Any] = {
        "recovery_time": _verdict_value(result.verdicts, "recovery time"),
        "availability": _availability(tl) if tl else {},
        "sessions_lost": _verdict_value(result.verdicts, "sessions lost"),
        "writes_lost": _verdict_value(result.verdicts, "writes lost", "acknowledged writes lost"),
    }
    if tl is not None:
        if figures["recovery_time"] is None:
            figures["recovery_time"] = _recovery_time(tl)
        if figures["sessions_lost"] is None:
            figures["sessions_lost"] = _sessions_lost(tl)
        if figures["writes_lost"] is None:
            figures["writes_lost"] = _writes_lost(tl)
    return figures


# -- summary.md / summary.json -------------------------------------------------------------------

def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _fmt_seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _fmt_count(value: int | None) -> str:
    return "—" if value is None else str(value)


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
    lines = [
        "# Drill summary",
        "",
        f"{len(results)} drills — {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['broken']} broken (lab error) · {generated}",
        "",
        "| Drill | Stack | Fault | Verdict | Recovery time | Availability | Sessions lost "
        "| Writes lost |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r, fig in rows:
        lines.append("| " + " | ".join(_cell(c) for c in (
            r.name, r.stack, r.fault, _OUTCOME_MARK.get(r.outcome, r.outcome),
            _fmt_seconds(fig["recovery_time"]), _fmt_availability(fig["availability"]),
            _fmt_count(fig["sessions_lost"]), _fmt_count(fig["writes_lost"]))) + " |")
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
    """Append one JSON line per drill run (date, drill, outcome, recovery time, availability)."""
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
                "writes_lost": fig["writes_lost"],
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
                _fmt_seconds(entry.get("recovery_time")),
                _fmt_availability(entry.get("availability") or {}))) + " |")
    return "\n".join(lines) + "\n"
