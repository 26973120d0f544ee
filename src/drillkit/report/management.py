"""The one page management reads: ``reports/management.html`` (and its PDF, printed by Chromium).

What it says, in plain sentences: did every drill hold; per service a scorecard (each drill: held or
not, time until users could work again against its target, share of users served per user group,
sessions and saved entries lost); what ``drill explore`` found that nobody had scripted (the
failing combination, how it was found, the scenario that reproduces it — or what was tried and that
nothing failed); what changed since the previous run (a drill that turned red or green); the trend
over the last runs (charts drawn as inline SVG, no script); and the availability record in the terms
of the service standard's criterion 11 (target, measured, disruption notice shown).

It reads only ``summary.json`` (this run's figures, through `report/summary.py`) and ``history.jsonl``
(every run's). A figure nobody measured is ``None`` there and ``—`` here, never 0 or 100 %.
"""

from __future__ import annotations

import html
import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillkit.report.history import read_history

__all__ = ["write_management_page", "build_page", "read_history", "changes", "trend_runs",
           "svg_line_chart", "DASH"]

DASH = "—"
TREND_RUNS = 10
PALETTE = ["#1f6feb", "#d97706", "#7c3aed", "#0d9488", "#db2777", "#65a30d", "#0891b2", "#b45309",
           "#4f46e5", "#be123c"]
POPULATION_WORDS = {"existing-sessions": "logged-in users", "new-logins": "new logins",
                    "probe": "monitoring check", "citizens": "citizens", "clerks": "clerks"}
OUTCOME_WORDS = {"passed": "held", "failed": "problem found", "broken": "not judged (test lab failed)",
                 "not-judged": "not judged (not healthy before the test)",
                 "interrupted": "not judged (stopped before the end)", "skipped": "skipped"}


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def population_words(pop: str) -> str:
    return POPULATION_WORDS.get(pop, pop.replace("-", " ").replace("_", " "))


_FIGURE_KEYS = ("value", "count", "lost", "last", "max", "total")


def _num(value: Any) -> float | None:
    """A figure as a number, or None when nobody measured it. A figure given as a mapping (a count
    with its place in time, a recovery with median and p95) is read at its headline key."""
    if isinstance(value, Mapping):
        value = next((value[k] for k in _FIGURE_KEYS if k in value), None)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    return None


def fmt_seconds(value: Any) -> str:
    v = _num(value)
    if v is None:
        return str(value) if isinstance(value, str) and value else DASH
    if v < 1:
        return f"{v:.2f} s"   # a recovery of 0.05 s is not 0.0 s
    return f"{v:.1f} s" if v < 100 else f"{v:.0f} s"


def fmt_count(value: Any) -> str:
    v = _num(value)
    return DASH if v is None else f"{int(v)}"


def fmt_percent(value: Any) -> str:
    v = _num(value)
    if v is None:
        return DASH
    return f"{v:.0f} %" if v in (0.0, 100.0) else f"{v:.1f} %"


# -- reading --------------------------------------------------------------------------------------

def short_title(title: str, name: str = "") -> str:
    """'web node kill: failover, sessions survive' -> 'web node kill'; a title whose head is
    a single word ('tiny: the entry replica is lost') stays whole."""
    head = (title or "").split(":")[0].strip()
    if head and len(head.split()) >= 2:
        return head
    if title:
        return title.strip()
    tail = name.split("::")[-1]
    return tail.removeprefix("test_").replace("_", " ") or name


@dataclass
class DrillRow:
    """One drill of this run as the page shows it."""

    name: str
    title: str
    stack: str
    fault: str
    outcome: str
    figures: dict[str, Any]
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)     # why it was not judged, when it was not
    explored: dict[str, Any] | None = None     # a `drill explore` run (summary.json's "explored")

    @property
    def noticed(self) -> list[str]:
        """What nobody asked about but users would feel (critical and warning findings)."""
        return [str(f.get("sentence")) for f in self.findings if f.get("severity") in ("critical", "warning")]

    @property
    def short(self) -> str:
        """Short title; a YAML scenario says so (the catalogue has the same drill in Python too)."""
        text = short_title(self.title, self.name)
        return f"{text} (scenario file)" if re.search(r"\.ya?ml::", self.name) else text

    def note(self, key: str) -> str | None:
        """Why a figure is None, where summary.py says it ('no outage seen', 'not recovered')."""
        notes = self.figures.get("notes")
        return str(notes[key]) if isinstance(notes, Mapping) and notes.get(key) else None

    @property
    def headlines(self) -> list[str]:
        """Sentences that are the drill's headline (e.g. writes lost without an error)."""
        h = self.figures.get("headlines")
        return [str(x) for x in h] if isinstance(h, list) else []

    def verdicts_named(self, *prefixes: str) -> list[dict[str, Any]]:
        return [v for v in self.verdicts if str(v.get("name", "")).lower().startswith(prefixes)]

    @property
    def recovery(self) -> tuple[Any, str | None, str | None]:
        """(value, target text, status) of the drill's recovery time; a value nobody measured is None
        (or a phrase such as 'no outage seen' when the figures say so)."""
        value = self.figures.get("recovery_time")
        found = self.verdicts_named("recovery time")
        target = next((v.get("target") for v in found if v.get("target")), None)
        status = None
        if found:
            status = "fail" if any(v.get("status") == "fail" for v in found) else found[0].get("status")
        if value is None and self.note("recovery_time"):
            value = self.note("recovery_time")
        elif value is None and found and all(v.get("value") is None for v in found):
            sentence = " ".join(str(v.get("sentence", "")) for v in found).lower()
            if "no outage" in sentence or "nobody was hit" in sentence:
                value = "no outage seen"
        return value, target, status

    @property
    def availability(self) -> dict[str, Any]:
        a = self.figures.get("availability")
        return dict(a) if isinstance(a, Mapping) else {}

    @property
    def failed_sentences(self) -> list[str]:
        return [str(v.get("sentence", "")) for v in self.verdicts if v.get("status") == "fail"]


def rows_from_summary(summary: Mapping[str, Any] | None) -> list[DrillRow]:
    rows = []
    for d in (summary or {}).get("drills", []):
        rows.append(DrillRow(name=str(d.get("name", "?")), title=str(d.get("scenario") or ""),
                             stack=str(d.get("stack") or "?"), fault=str(d.get("fault") or ""),
                             outcome=str(d.get("outcome") or "broken"), figures=dict(d.get("figures") or {}),
                             verdicts=list(d.get("verdicts") or []), findings=list(d.get("findings") or []),
                             sentences=[str(x) for x in d.get("sentences") or []],
                             explored=d.get("explored") if isinstance(d.get("explored"), Mapping) else None))
    return rows


# -- trend and changes ----------------------------------------------------------------------------

def trend_runs(history: Sequence[Mapping[str, Any]], last: int = TREND_RUNS) -> list[str]:
    """The dates of the last ``last`` runs (a run's entries share its date), oldest first."""
    dates: list[str] = []
    for e in history:
        if e["date"] not in dates:
            dates.append(e["date"])
    return dates[-last:]


def changes(history: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """Drills whose outcome differs from their previous run, for the newest run in the history:
    ([{drill, stack, before, now, date_before}], date of the previous run or None)."""
    dates = trend_runs(history, last=2)
    if not dates:
        return [], None
    newest = dates[-1]
    previous_run = dates[0] if len(dates) == 2 else None
    per_drill: dict[str, list[Mapping[str, Any]]] = {}
    for e in history:
        per_drill.setdefault(e["drill"], []).append(e)
    out = []
    for drill, entries in per_drill.items():
        if entries[-1]["date"] != newest:
            continue
        now = entries[-1].get("outcome")
        if len(entries) < 2:
            out.append({"drill": drill, "stack": entries[-1].get("stack"), "before": None, "now": now,
                        "date_before": None})
            continue
        before = entries[-2].get("outcome")
        if before != now:
            out.append({"drill": drill, "stack": entries[-1].get("stack"), "before": before, "now": now,
                        "date_before": entries[-2].get("date")})
    return out, previous_run


def _worst_availability(entry: Mapping[str, Any]) -> float | None:
    values = [_num(v) for v in (entry.get("availability") or {}).values()] \
        if isinstance(entry.get("availability"), Mapping) else []
    values = [v for v in values if v is not None]
    return min(values) if values else None


# -- charts ---------------------------------------------------------------------------------------

def _nice_step(value: float) -> float:
    """The smallest of 1, 2, 5 × 10^k that is ≥ ``value`` (grid steps a reader can add up)."""
    if value <= 0:
        return 0.25
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 5, 10):
        if value <= m * exp + 1e-12:
            return m * exp
    return 10 * exp


def svg_line_chart(series: Sequence[tuple[str, str, Sequence[float | None], Sequence[str | None]]],
                   x_labels: Sequence[str], *, unit: str, title: str, y_min: float | None = None,
                   y_max: float | None = None, width: int = 350, height: int = 175,
                   target: float | None = None) -> str:
    """A small line chart as inline SVG: one line per series (label, colour, values, outcomes);
    a run whose drill found a problem is a red ring, a missing value breaks the line."""
    left, right, top, bottom = 44, 10, 24, 34
    pw, ph = width - left - right, height - top - bottom
    values = [v for _, _, vs, _ in series for v in vs if v is not None]
    lo = y_min if y_min is not None else 0.0
    hi = y_max if y_max is not None else lo + 4 * _nice_step((max(values + ([target] if target else []) or [1.0])
                                                              * 1.1 - lo) / 4)
    if hi <= lo:
        hi = lo + 1.0
    n = max(len(x_labels), 1)

    def x(i: int) -> float:
        return left + (pw * (i + 0.5) / n)

    def y(v: float) -> float:
        return top + ph - (min(max(v, lo), hi) - lo) / (hi - lo) * ph

    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">',
             f'<text x="{left}" y="14" class="chart-title">{_e(title)}</text>']
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        yy = y(v)
        label = f"{v:g}"
        parts.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{width - right}" y2="{yy:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{yy + 3.5:.1f}" class="axis" text-anchor="end">{label}{_e(unit)}</text>')
    if target is not None and lo <= target <= hi:
        parts.append(f'<line x1="{left}" y1="{y(target):.1f}" x2="{width - right}" y2="{y(target):.1f}" '
                     f'class="target"/>')
    step = max(1, math.ceil(n / 6))
    for i, lab in enumerate(x_labels):
        if i % step == 0 or i == n - 1:
            parts.append(f'<text x="{x(i):.1f}" y="{height - bottom + 14}" class="axis" '
                         f'text-anchor="middle">{_e(lab)}</text>')
    if not values:
        parts.append(f'<text x="{left + pw / 2:.1f}" y="{top + ph / 2:.1f}" class="empty" '
                     f'text-anchor="middle">not measured yet</text>')
    for label, colour, vs, outcomes in series:
        runs: list[list[tuple[float, float]]] = [[]]
        for i, v in enumerate(vs):
            if v is None:
                if runs[-1]:
                    runs.append([])
                continue
            runs[-1].append((x(i), y(v)))
        for pts in runs:
            if len(pts) >= 2:
                d = "M " + " L ".join(f"{px:.1f} {py:.1f}" for px, py in pts)
                parts.append(f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="2" '
                             f'stroke-linejoin="round" data-series="{_e(label)}"/>')
        for i, v in enumerate(vs):
            if v is None:
                continue
            bad = i < len(outcomes) and outcomes[i] not in (None, "passed")
            ring = ' stroke="#dc2626" stroke-width="2.2"' if bad else ' stroke="white" stroke-width="1"'
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="{3.6 if bad else 3}" fill="{colour}"{ring}>'
                         f'<title>{_e(label)}: {v:g}{_e(unit)}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def _date_label(date: str) -> str:
    """'2026-03-12T09:30:00+0100' -> '12.03. 09:30' (day first, as readers here write dates)."""
    try:
        t = time.strptime(date[:19], "%Y-%m-%dT%H:%M:%S")
        return time.strftime("%d.%m. %H:%M", t)
    except ValueError:
        return date[:16]


def _long_date(date: str) -> str:
    try:
        t = time.strptime(date[:19], "%Y-%m-%dT%H:%M:%S")
        return time.strftime("%-d %B %Y at %H:%M", t)
    except ValueError:
        return date


# -- the page -------------------------------------------------------------------------------------

def _headline(rows: Sequence[DrillRow]) -> tuple[str, str]:
    explorations = [r for r in rows if r.explored is not None]
    drills = [r for r in rows if r.explored is None]
    if not explorations:
        return _drills_headline(drills)
    found = [r for r in explorations if r.outcome == "failed"]
    if found:
        text = (f"Exploration found {len(found)} problem(s) nobody had scripted, in "
                f"{', '.join(sorted({r.stack for r in found}))}: a combination of faults that breaks what the "
                f"service promises (below).")
        tone = "bad"
    elif all(r.outcome == "passed" for r in explorations):
        runs = sum(int((r.explored.get("coverage") or {}).get("runs") or 0) for r in explorations)
        text, tone = f"Exploration tried {runs} fault combination(s) on {len(explorations)} service(s): nothing failed.", "good"
    else:
        text, tone = "Exploration could not judge the service (the test lab failed or it was stopped).", "warn"
    if not drills:
        return tone, text
    dtone, dtext = _drills_headline(drills)
    order = ["good", "neutral", "warn", "bad"]
    return max(tone, dtone, key=order.index), f"{dtext} {text}"


def _drills_headline(rows: Sequence[DrillRow]) -> tuple[str, str]:
    held = sum(r.outcome == "passed" for r in rows)
    failed = [r for r in rows if r.outcome == "failed"]
    unjudged = {o: [r for r in rows if r.outcome == o] for o in ("broken", "not-judged", "interrupted")}
    why = {"broken": "the test lab failed", "not-judged": "the service was not healthy before the test",
           "interrupted": "the run was stopped before the end"}
    reasons = "; ".join(f"{len(rs)} because {why[o]}" for o, rs in unjudged.items() if rs)
    if not rows:
        return "neutral", "No drill has run yet."
    if failed:
        names = ", ".join(r.short for r in failed)
        text = (f"{len(failed)} of {len(rows)} drills found a problem that users would feel: {names}. "
                f"{held} held.")
        if reasons:
            text += f" Not judged: {reasons}."
        return "bad", text
    if reasons:
        return "warn", (f"{held} of {len(rows)} drills held; the others could not be judged — {reasons} "
                        f"(not a finding about the service).")
    return "good", f"Every drill held: all {len(rows)} of them."


def _recovery_cell(r: DrillRow) -> str:
    value, target, status = r.recovery
    cls = {"fail": "bad", "pass": "good"}.get(status or "", "")
    text = "not back by the end" if value is None and status == "fail" else fmt_seconds(value)
    tgt = f'<span class="target">target {_e(target)}</span>' if target else ""
    return f'<td class="num {cls}">{_e(text)}{tgt}</td>'


def _availability_cell(r: DrillRow) -> str:
    a = r.availability
    if not a:
        return f'<td class="num">{DASH}</td>'
    lines = [f'{_e(population_words(p))} <b>{_e(fmt_percent(v))}</b>' for p, v in a.items()]
    return '<td class="num avail">' + "<br>".join(lines) + "</td>"


def _lost_cell(value: Any, label: str, note: str | None = None) -> str:
    v = _num(value)
    cls = "" if v is None else ("good" if v == 0 else "bad")
    text = note if v is None and note else fmt_count(value)
    return f'<td class="num {cls}" title="{_e(label)}">{_e(text)}</td>'


def _outcome_cell(r: DrillRow) -> str:
    cls = {"passed": "good", "failed": "bad"}.get(r.outcome, "warn")
    mark = {"passed": "✓", "failed": "✗", "broken": "!", "not-judged": "?", "interrupted": "■"}.get(r.outcome, "·")
    return f'<td class="outcome {cls}"><span class="badge {cls}">{mark} {_e(OUTCOME_WORDS.get(r.outcome, r.outcome))}</span></td>'


def _spark(entries: Sequence[Mapping[str, Any]], dates: Sequence[str]) -> str:
    by_date = {e["date"]: e for e in entries}
    dots = []
    for i, d in enumerate(dates):
        e = by_date.get(d)
        colour = {"passed": "#16a34a", "failed": "#dc2626", "broken": "#d97706", "not-judged": "#d97706",
                  "interrupted": "#6b7280"}.get((e or {}).get("outcome"), "#d1d5db")
        title = f"{_date_label(d)}: {OUTCOME_WORDS.get((e or {}).get('outcome'), 'not run')}"
        dots.append(f'<circle cx="{5 + i * 9}" cy="6" r="3.3" fill="{colour}"><title>{_e(title)}</title></circle>')
    w = 10 + max(len(dates) - 1, 0) * 9
    return f'<svg class="spark" width="{w}" height="12" viewBox="0 0 {w} 12">{"".join(dots)}</svg>'


def _scorecards(rows: Sequence[DrillRow], history: Sequence[Mapping[str, Any]], dates: Sequence[str]) -> str:
    per_drill: dict[str, list[Mapping[str, Any]]] = {}
    for e in history:
        per_drill.setdefault(e["drill"], []).append(e)
    stacks: dict[str, list[DrillRow]] = {}
    for r in rows:
        stacks.setdefault(r.stack, []).append(r)
    out = []
    for stack, members in stacks.items():
        held = sum(r.outcome == "passed" for r in members)
        cls = "good" if held == len(members) else ("bad" if any(r.outcome == "failed" for r in members) else "warn")
        out.append(f'<section class="card"><h3><span class="dot {cls}"></span>{_e(stack)} '
                   f'<small>{held} of {len(members)} drill(s) held</small></h3>')
        out.append('<table class="score"><thead><tr><th>Drill (what was broken on purpose)</th><th>Result</th>'
                   '<th>Users could work again after</th><th>Requests served, per user group</th>'
                   '<th>Sessions lost</th><th>Saved entries lost</th><th>Last runs</th></tr></thead><tbody>')
        for r in members:
            why = ""
            said = list(dict.fromkeys(r.headlines + r.failed_sentences))   # headline first, each once
            if not said and r.outcome in ("not-judged", "interrupted", "broken"):
                said = r.sentences[:1]
            if said:
                why = '<div class="why">' + "; ".join(_e(s) for s in said) + "</div>"
            if r.noticed:
                why += ('<div class="why noticed">Not asked, but seen: ' + "; ".join(_e(s) for s in r.noticed)
                        + "</div>")
            out.append(f'<tr><td class="drill"><b>{_e(r.short)}</b><span class="fault">{_e(r.fault)}</span>{why}</td>'
                       f'{_outcome_cell(r)}{_recovery_cell(r)}{_availability_cell(r)}'
                       f'{_lost_cell(r.figures.get("sessions_lost"), "sessions lost", r.note("sessions_lost"))}'
                       f'{_lost_cell(r.figures.get("writes_lost"), "acknowledged entries lost", r.note("writes_lost"))}'
                       f'<td>{_spark(per_drill.get(r.name, []), dates)}</td></tr>')
        out.append("</tbody></table></section>")
    return "".join(out)


def _explored_html(rows: Sequence[DrillRow]) -> str:
    """Per exploration: what failed (the schedule in words, how it was found, the file that reproduces
    it) or what was covered."""
    out = []
    for r in rows:
        data = r.explored or {}
        cov = data.get("coverage") or {}
        finding = data.get("finding")
        covered = (f"{cov.get('runs', 0)} trials ({cov.get('schedules', 0)} different fault schedules) in "
                   f"{fmt_seconds(cov.get('elapsed'))}")
        cls = {"passed": "good", "failed": "bad"}.get(r.outcome, "warn")
        body = []
        if finding:
            body.append(f'<p class="why"><b>Breaks it:</b> {_e(finding.get("schedule"))}</p>')
            body += [f'<p class="why">{_e(v)}</p>' for v in finding.get("verdicts") or []]
            body.append(f'<p class="muted">{_e(finding.get("how"))}.'
                        + (f' Reproduce: <code>drill run {_e(finding["scenario"])}</code>' if finding.get("scenario") else "")
                        + "</p>")
        for i in data.get("intermittent") or []:
            body.append(f'<p class="why">Sometimes: {_e(i.get("sentence") or i.get("schedule"))}</p>')
        for o in data.get("others") or []:
            body.append(f'<p class="why">Also: {_e(o.get("schedule"))} — {_e("; ".join(o.get("verdicts") or []))}</p>')
        if not body:
            body.append(f'<p>{"Nothing failed" if r.outcome == "passed" else _e(OUTCOME_WORDS.get(r.outcome, r.outcome))}'
                        f' in {_e(covered)}.</p>')
        kinds = cov.get("kinds") or {}
        body.append(f'<p class="muted">Tried: {_e(covered)}'
                    + (f'; faults per kind: {_e(", ".join(f"{k} {n}" for k, n in kinds.items()))}' if kinds else "")
                    + "</p>")
        out.append(f'<section class="card"><h3><span class="dot {cls}"></span>{_e(r.stack)} '
                   f'<small>{_e(data.get("file", r.name))}</small></h3>{"".join(body)}</section>')
    return "".join(out)


def _changes_html(history: Sequence[Mapping[str, Any]], titles: Mapping[str, str]) -> str:
    found, previous = changes(history)
    if previous is None:
        return '<p class="muted">This is the first recorded run: nothing to compare with yet.</p>'
    items = []
    for c in found:
        name = _e(short_title(titles.get(c["drill"], ""), c["drill"]))
        if c["before"] is None:
            items.append(f'<li><span class="badge neutral">new</span> {name} ran for the first time: '
                         f'{_e(OUTCOME_WORDS.get(c["now"], c["now"]))}.</li>')
        elif c["now"] == "failed":
            items.append(f'<li><span class="badge bad">turned red</span> {name} held on '
                         f'{_e(_date_label(c["date_before"]))}, now it found a problem.</li>')
        elif c["now"] == "passed" and c["before"] == "failed":
            items.append(f'<li><span class="badge good">turned green</span> {name} found a problem on '
                         f'{_e(_date_label(c["date_before"]))}, now it held.</li>')
        elif c["now"] == "broken":
            items.append(f'<li><span class="badge warn">not judged</span> {name}: the test lab failed this time '
                         f'(it was "{_e(OUTCOME_WORDS.get(c["before"], c["before"]))}" before).</li>')
        else:
            items.append(f'<li><span class="badge neutral">changed</span> {name}: '
                         f'{_e(OUTCOME_WORDS.get(c["before"], c["before"]))} → '
                         f'{_e(OUTCOME_WORDS.get(c["now"], c["now"]))}.</li>')
    if not items:
        return (f'<p>Nothing changed since the previous run on {_e(_long_date(previous))}: every drill '
                f'came out as it did then.</p>')
    return f'<p class="muted">Compared with the previous run on {_e(_long_date(previous))}:</p><ul class="changes">' \
           + "".join(items) + "</ul>"


def _trend_html(history: Sequence[Mapping[str, Any]], rows: Sequence[DrillRow], dates: Sequence[str]) -> str:
    names = [r.name for r in rows]
    for e in history:  # drills of earlier runs that did not run now still have a trend
        if e["drill"] not in names and e["date"] in dates:
            names.append(e["drill"])
    titles = {r.name: r.short for r in rows}
    per = {n: {e["date"]: e for e in history if e["drill"] == n} for n in names}
    rec, avail, legend = [], [], []
    for k, n in enumerate(names):
        colour = PALETTE[k % len(PALETTE)]
        label = titles.get(n) or short_title("", n)
        outcomes = [per[n].get(d, {}).get("outcome") for d in dates]
        rec.append((label, colour, [_num(per[n].get(d, {}).get("recovery_time")) for d in dates], outcomes))
        avail.append((label, colour, [_worst_availability(per[n][d]) if d in per[n] else None for d in dates],
                      outcomes))
        legend.append(f'<span class="key"><i style="background:{colour}"></i>{_e(label)}</span>')
    labels = [_date_label(d) for d in dates]
    av_values = [v for _, _, vs, _ in avail for v in vs if v is not None]
    lo = max(0.0, 100.0 - 4 * _nice_step((100.0 - min(av_values + [90.0])) / 4)) if av_values else 0.0
    charts = (svg_line_chart(rec, labels, unit=" s", title="Time until users could work again (seconds)")
              + svg_line_chart(avail, labels, unit=" %", title="Requests served, lowest user group (%)",
                               y_min=lo, y_max=100.0))
    return (f'<div class="charts">{charts}</div><div class="legend">{"".join(legend)}'
            f'<span class="key"><i class="ring"></i>run that found a problem</span></div>')


def _criterion_html(rows: Sequence[DrillRow]) -> str:
    """Criterion 11 ("ensure availability and fix disruptions") per stack: target, measured, met."""
    stacks: dict[str, list[DrillRow]] = {}
    for r in rows:
        stacks.setdefault(r.stack, []).append(r)
    body = []
    for stack, members in stacks.items():
        lines: list[tuple[str, str, str, str | None]] = []   # (what, target, measured, met: yes/no/None)
        steady = [v for r in members for v in r.verdicts_named("availability")
                  if "steady" in str(v.get("name", "")) and _num(v.get("value")) is not None]
        if steady:
            worst = min(steady, key=lambda v: _num(v["value"]))
            targets = sorted({str(v.get("target")) for v in steady if v.get("target")})
            lines.append(("Requests served in normal operation (lowest of all drills)",
                          ", ".join(targets) or "none set", fmt_percent(100 * _num(worst["value"])),
                          "yes" if all(v.get("status") != "fail" for v in steady) else "no"))
        pops: dict[str, list[float]] = {}
        for r in members:
            for p, v in r.availability.items():
                if _num(v) is not None:
                    pops.setdefault(p, []).append(_num(v))
        if pops:
            lines.append(("Requests served while a part was broken (lowest drill, per user group)", "none set",
                          ", ".join(f"{population_words(p)} {fmt_percent(min(vs))}" for p, vs in pops.items()),
                          None))
        notices = [v for r in members for v in r.verdicts_named("disruption notice")]
        if notices:
            v = notices[-1]
            val = _num(v.get("value"))
            lines.append(("Users shown the disruption notice when the service was down",
                          str(v.get("target") or "none set"), DASH if val is None else fmt_percent(100 * val),
                          {"pass": "yes", "fail": "no"}.get(v.get("status"))))
        else:
            lines.append(("Users shown the disruption notice when the service was down", DASH,
                          "not drilled for this service", None))
        recs = [(r, *r.recovery) for r in members]
        judged = [x for x in recs if x[3] in ("pass", "fail")]
        if judged:
            ok = sum(1 for x in judged if x[3] == "pass")
            longest = max((_num(x[1]) for x in judged if _num(x[1]) is not None), default=None)
            lines.append(("Disruptions fixed in time: users working again within each drill's target",
                          ", ".join(sorted({str(x[2]) for x in judged if x[2]})) or "none set",
                          f"{ok} of {len(judged)} drills" + (f"; longest {fmt_seconds(longest)}" if longest is not None else ""),
                          "yes" if ok == len(judged) else "no"))
        for k, (what, target, measured, met) in enumerate(lines):
            cls = {"yes": "good", "no": "bad"}.get(met or "", "")
            body.append(f'<tr>{f"<td rowspan={len(lines)} class=stack>{_e(stack)}</td>" if k == 0 else ""}'
                        f'<td>{_e(what)}</td><td class="num">{_e(target)}</td><td>{_e(measured)}</td>'
                        f'<td class="{cls}">{_e(met or DASH)}</td></tr>')
    return ('<table class="crit"><thead><tr><th>Service</th><th>What the standard asks</th><th>Target</th>'
            '<th>Measured</th><th>Met</th></tr></thead><tbody>' + "".join(body) + "</tbody></table>")


CSS = """
@page { size: A4; margin: 9mm 10mm; }
* { box-sizing: border-box; }
body { font: 11px/1.38 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #111827; margin: 0;
       background: #fff; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
main { max-width: 740px; margin: 0 auto; padding: 14px 10px; }
@media print { main { max-width: none; padding: 0; } }
header { display: flex; justify-content: space-between; align-items: baseline; border-bottom: 2px solid #111827;
         padding-bottom: 4px; margin-bottom: 8px; }
h1 { font-size: 17px; margin: 0; } h2 { font-size: 13px; margin: 12px 0 5px; text-transform: uppercase;
     letter-spacing: .04em; color: #374151; } h3 { font-size: 12.5px; margin: 0 0 4px; }
h3 small { font-weight: normal; color: #6b7280; margin-left: 6px; }
.meta { color: #6b7280; font-size: 10.5px; text-align: right; }
.banner { padding: 8px 11px; border-radius: 6px; font-size: 13px; font-weight: 600; margin: 6px 0 4px; }
.banner.good { background: #dcfce7; color: #14532d; } .banner.bad { background: #fee2e2; color: #7f1d1d; }
.banner.warn { background: #fef3c7; color: #78350f; } .banner.neutral { background: #f3f4f6; }
.card { border: 1px solid #e5e7eb; border-radius: 6px; padding: 6px 8px; margin: 6px 0; break-inside: avoid; }
table { border-collapse: collapse; width: 100%; }
th { text-align: left; font-weight: 600; color: #4b5563; font-size: 9.5px; border-bottom: 1px solid #d1d5db;
     padding: 3px 4px; vertical-align: bottom; }
td { padding: 4px 4px; border-bottom: 1px solid #f3f4f6; vertical-align: top; }
td.num { white-space: nowrap; } td.avail { white-space: nowrap; font-size: 10px; }
.target { display: block; color: #6b7280; font-size: 9.5px; }
.fault { display: block; color: #6b7280; font-size: 9.5px; }
.why { color: #991b1b; font-size: 9.5px; margin-top: 2px; }
td.good, .good b { color: #166534; } td.bad, .bad b { color: #b91c1c; font-weight: 600; }
.badge { display: inline-block; padding: 1px 6px; border-radius: 9px; font-size: 9.5px; font-weight: 600;
         white-space: nowrap; background: #f3f4f6; color: #374151; }
.badge.good { background: #dcfce7; color: #166534; } .badge.bad { background: #fee2e2; color: #991b1b; }
.badge.warn { background: #fef3c7; color: #92400e; }
.dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 6px; background: #9ca3af; }
.dot.good { background: #16a34a; } .dot.bad { background: #dc2626; } .dot.warn { background: #d97706; }
.charts { display: flex; gap: 12px; justify-content: space-between; }
.chart { border: 1px solid #e5e7eb; border-radius: 6px; background: #fff; width: 49%; height: auto; }
.chart .grid { stroke: #eef0f3; } .chart .target { stroke: #dc2626; stroke-dasharray: 4 3; }
.chart .axis { font-size: 9px; fill: #6b7280; } .chart .chart-title { font-size: 10.5px; font-weight: 600; fill: #374151; }
.chart .empty { font-size: 10px; fill: #9ca3af; }
.legend { margin-top: 4px; font-size: 9.5px; color: #374151; }
.key { margin-right: 10px; white-space: nowrap; display: inline-block; }
.key i { display: inline-block; width: 10px; height: 3px; vertical-align: middle; margin-right: 4px; }
.key i.ring { width: 8px; height: 8px; border: 2px solid #dc2626; border-radius: 50%; }
ul.changes { margin: 3px 0; padding-left: 16px; } ul.changes li { margin: 2px 0; }
.muted { color: #6b7280; margin: 3px 0; }
table.crit td.stack { font-weight: 600; }
footer { margin-top: 10px; border-top: 1px solid #e5e7eb; padding-top: 5px; color: #6b7280; font-size: 9.5px; }
footer a { color: #1f6feb; }
"""


def build_page(summary: Mapping[str, Any] | None, history: Sequence[Mapping[str, Any]], *,
               links: Mapping[str, str] | None = None) -> str:
    """The page as HTML text (pure: from the summary and the history)."""
    rows = rows_from_summary(summary)
    drill_rows = [r for r in rows if r.explored is None]
    explored_rows = [r for r in rows if r.explored is not None]
    dates = trend_runs(history)
    generated = (summary or {}).get("generated") or time.strftime("%Y-%m-%dT%H:%M:%S%z")
    tone, headline = _headline(rows)
    titles = {r.name: r.title for r in rows}
    links = dict(links or {})
    link_html = " · ".join(f'<a href="{_e(href)}">{_e(label)}</a>' for label, href in links.items())
    stacks = sorted({r.stack for r in rows})
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Failover drills: {_e(_long_date(generated))}</title>",
        f"<style>{CSS}</style></head><body><main>",
        f'<header><h1>Failover drills: how the services coped</h1>'
        f'<div class="meta">run of {_e(_long_date(generated))}<br>services: {_e(", ".join(stacks))}</div></header>',
        f'<div class="banner {tone}" id="headline">{_e(headline)}</div>',
        '<p class="muted">Each drill breaks part of a test copy of a service on purpose (a server, a zone, '
        'the network, the database) while simulated users keep working, and measures what they felt: how '
        'long until they could work again, how many of their requests were served, and whether anything '
        'they had saved was lost.</p>',
        '<h2>What changed since the previous run</h2>', _changes_html(history, titles),
        '<h2>Results per service</h2>', _scorecards(drill_rows, history, dates) if drill_rows else
        '<p class="muted">No drill results yet.</p>',
        *(['<h2>Explored: combinations of faults nobody scripted</h2>',
           '<p class="muted">drill explore breaks parts of the service in many combinations, looking for one '
           'that breaks what the drills promise; a failing combination is cut down to the smallest that '
           'still fails and kept as a new drill.</p>', _explored_html(explored_rows)] if explored_rows else []),
        f'<h2>Trend over the last {len(dates)} run(s)</h2>', _trend_html(history, rows, dates),
        '<h2>Availability record (service standard, criterion 11: ensure availability and fix disruptions)</h2>',
        '<p class="muted">The standard asks to measure regularly how well the service runs, to show users '
        'that there is a disruption, and to fix disruptions at once. The drills of this run give:</p>',
        _criterion_html(drill_rows) if drill_rows else '<p class="muted">No drill results yet.</p>',
        f'<footer>A dash (—) means not measured by this drill. Details for engineers: {link_html or "see reports/"}.'
        '</footer>',
        "</main></body></html>",
    ]
    return "\n".join(body) + "\n"


def write_management_page(report_dir: Path, *, out: Path | None = None) -> Path:
    """Write ``management.html`` from ``summary.json`` and ``history.jsonl`` in ``report_dir``."""
    report_dir = Path(report_dir)
    try:
        summary = json.loads((report_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = None
    history = read_history(report_dir / "history.jsonl")
    links = {}
    for label, rel in (("Allure report", "allure-report/index.html"), ("summary", "summary.md"),
                       ("summary as JSON", "summary.json")):
        if (report_dir / rel).exists():
            links[label] = rel
    out = Path(out) if out else report_dir / "management.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_page(summary, history, links=links), encoding="utf-8")
    return out

