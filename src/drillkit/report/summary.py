"""The short summary of a set of drill runs — ``summary.md`` for people, ``summary.json`` for machines —
and a JSON-lines history of runs so scheduled drills show a trend.

Key figures come only from the verdicts a drill asked for (each verdict's column in
``drillkit.verdicts.table``): a figure that was not asked for or could not be measured is ``None``
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

from drillkit.outcome import OUTCOME_WORDS, OUTCOMES, held_of
from drillkit.report.writers import after_drills
from drillkit.timeline import Timeline
from drillkit.verdicts.base import Verdict
from drillkit.verdicts.table import VERDICTS

__all__ = ["DrillResult", "key_figures", "write_summary"]



@dataclass
class DrillResult:
    """One drill run as the report sees it."""

    name: str
    stack: str
    fault: str
    scenario: str
    outcome: str  # one of drillkit.outcome.OUTCOMES
    verdicts: list[Verdict] = field(default_factory=list)
    timeline_path: Path | None = None
    duration: float = 0.0
    sentences: list[str] = field(default_factory=list)   # why it ended so (failed verdicts, or the error)
    findings: list[dict[str, Any]] | None = None          # what nobody asked about; None: not examined
    explored: dict[str, Any] | None = None   # a `drill explore` run: finding, coverage, ... (explore.report)

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
    """The drill's figures, each from the verdicts the drill asked for (its table column), never
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

def md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def md_availability(availability: dict[str, float]) -> str:
    if not availability:
        return "—"
    return "<br>".join(f"{pop} {pct:.1f} %" for pop, pct in availability.items())


def _verdict_line(verdict: Verdict) -> str:
    if verdict.name.lower() in verdict.sentence.lower():
        return md_cell(verdict.sentence)
    return md_cell(f"{verdict.name}: {verdict.sentence}")


OUTCOME_MARKS = {"passed": "✅ held", "failed": "❌ defect", "not-judged": "⚪ not judged", "broken": "⚠️ lab error",
                 "interrupted": "⏹ interrupted", "skipped": "skipped"}


def explored_lines(results: list[DrillResult]) -> list[str]:
    """summary.md's "Explored" section: per exploration (``drill explore``) its finding — the schedule,
    how it was found, its verdicts, the scenario that reproduces it — the schedules that failed only
    sometimes, and what was covered."""
    out: list[str] = []
    for r in results:
        data = r.explored
        if not data:
            continue
        if not out:
            out += ["", "## Explored", ""]
        out.append(f"**{md_cell(r.name)}** ({md_cell(data.get('stack', r.stack))}, seed {data.get('seed')}, "
                   f"stopped: {data.get('stopped')}) — {OUTCOME_MARKS.get(r.outcome, r.outcome)}")
        out.append("")
        finding = data.get("finding")
        if finding:
            out.append(f"- finding: `{md_cell(finding['schedule'])}` — {md_cell(finding['how'])}")
            out += [f"  - verdict: {md_cell(v)}" for v in finding.get("verdicts") or []]
            if finding.get("scenario"):
                out.append(f"  - reproduce: `drill run {md_cell(finding['scenario'])}`")
        for o in data.get("others") or []:
            out.append(f"- also failed (other promises, not shrunk): `{md_cell(o['schedule'])}` — "
                       f"{md_cell('; '.join(o.get('verdicts') or o.get('broken') or []))}")
        for i in data.get("intermittent") or []:
            out.append(f"- intermittent: {md_cell(i.get('sentence') or i['schedule'])}")
        if not finding and not data.get("others") and not data.get("intermittent"):
            out.append(f"- nothing failed ({md_cell(data.get('stopped'))})")
        cov = data.get("coverage") or {}
        out.append(f"- covered: {cov.get('runs', 0)} runs of {cov.get('schedules', 0)} schedules in "
                   f"{md_seconds(cov.get('elapsed'))}" + (f", {cov['not_judged']} not judged" if cov.get("not_judged") else ""))
        if cov.get("kinds"):
            out.append("- runs per kind: " + ", ".join(f"{k} {n}" for k, n in cov["kinds"].items()))
            out.append("- runs per target: " + ", ".join(f"{md_cell(k)} {n}" for k, n in cov["targets"].items()))
        resets = ((data.get("measured") or {}).get("resets") or {})
        if resets.get("count"):
            out.append(f"- reset between trials: median {md_seconds(resets.get('median'))}, "
                       f"max {md_seconds(resets.get('max'))} ({resets['count']} resets)")
        base = data.get("baseline")
        if base:
            found = (f"`{md_cell(base['schedule'])}` in trial {base['found_run']} after {md_seconds(base['found_after'])} "
                     f"({base['size']} faults, not shrunk)") if base.get("schedule") else f"nothing ({base.get('stopped')})"
            out.append(f"- random baseline, same budget: {found}; {base.get('runs')} runs")
        out.append("")
    return out


@after_drills
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
        f"{len(results)} drills — " + ", ".join(f"{counts[o]} {OUTCOME_WORDS[o]}" for o in OUTCOMES
                                                if counts[o] or o in ("passed", "failed", "broken"))
        + f" · {generated}",
        "",
        "| Drill | Stack | Fault | Verdict | " + " | ".join(k.column.title for k in shown) + " |",
        "|---|---|---|---|" + "---|" * len(shown),
    ]
    for r, fig in rows:
        cells = [k.column.format(fig.get(k.column.key), [v for v in r.verdicts if k.judges(v)])
                 for k in shown]
        lines.append("| " + " | ".join(md_cell(c) for c in (
            r.name, r.stack, r.fault, OUTCOME_MARKS.get(r.outcome, r.outcome), *cells)) + " |")
    headlines = [(r, h) for r, fig in rows for h in fig["headlines"]]
    if headlines:
        lines += ["", "## Headlines", ""]
        lines += [f"- **{r.name}** — {md_cell(h)}" for r, h in headlines]
    failures = [(r, v) for r, _ in rows for v in r.failed_verdicts]
    if failures:
        lines += ["", "## Failed verdicts", ""]
        lines += [f"- **{r.name}** — {_verdict_line(v)}" for r, v in failures]
    noticed = [(r, f) for r in results for f in (r.findings or []) if f.get("severity") in ("critical", "warning")]
    if noticed:
        lines += ["", "## Findings (not asked for, but seen on the timeline)", ""]
        lines += [f"- **{r.name}** — {f['severity']}: {md_cell(f['sentence'])}" for r, f in noticed]
    for outcome, title in (("not-judged", "Not judged (the steady state did not hold before any fault)"),
                           ("interrupted", "Interrupted (stopped before the verdicts; nothing judged)"),
                           ("broken", "Broken (lab/infrastructure, not a verdict on the stack)")):
        these = [r for r in results if r.outcome == outcome]
        if these:
            lines += ["", f"## {title}", ""]
            lines += [f"- **{r.name}**" + (f" — {md_cell('; '.join(r.sentences))}" if r.sentences else "")
                      for r in these]
    lines += explored_lines(results)
    md_path = directory / "summary.md"
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    payload = {
        "generated": generated,
        "counts": counts,
        "drills": [{
            "name": r.name, "stack": r.stack, "fault": r.fault, "scenario": r.scenario,
            "outcome": r.outcome, "held": held_of(r.outcome), "sentences": list(r.sentences),
            "findings": r.findings,
            "duration": round(r.duration, 3),
            "timeline": str(r.timeline_path) if r.timeline_path else None,
            "figures": fig,
            "verdicts": [v.as_dict() for v in r.verdicts],
            **({"explored": r.explored} if r.explored is not None else {}),
        } for r, fig in rows],
    }
    json_path = directory / "summary.json"
    json_path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return md_path, json_path
