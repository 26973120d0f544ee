"""The one report pipeline: what is written about a drill and about a run, from the timeline and the
drills' results only. Both doors call it — the pytest plugin (per drill, and when the session ends)
and `drill run` / `drill report` (the HTML pages once pytest has finished) — so every channel is
written by the same code:

    attach_drill      one drill, right after its body: chart, timeline, logs of the faulted services
                      and the verdicts with their figures on the drill's own Allure page
    label_drill       Allure labels of a drill (epic = stack, feature = fault, story = scenario)
    finish_session    after the drills: every report of `drillkit.report.writers` (summary.md/json,
                      history.jsonl, ...), "unstable drill" marks, and the Allure results folder's
                      environment, executor and categories files
    build_pages       Allure HTML report, management page and its PDF (needs only reports/)

A report that cannot be written never hides a drill's result: it is said on stderr (or returned as
an error) and the rest goes on.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from drillkit.errors import DrillkitError
from drillkit.report import allure_results as A
from drillkit.report.allure_cli import ensure_allure, generate_report
from drillkit.report.browser import find_chromium, print_pdf
from drillkit.report.chart import render_timeline_chart
from drillkit.report.history import recent_outcomes
from drillkit.report.management import write_management_page
from drillkit.report.summary import DrillResult, key_figures
from drillkit.report.writers import writers

__all__ = ["attach_drill", "label_drill", "finish_session", "build_pages", "DrillResult"]


def _warn(what: str, exc: BaseException) -> None:
    sys.stderr.write(f"drillkit: {what}: {exc}\n")


def attach_drill(drill: Any, report_dir: Path) -> None:
    """Chart, timeline, logs and verdicts of one drill on its Allure page (once: ``drill.reported``).
    Called right after the drill's body, so attachments land on the test, not its tear-down."""
    if getattr(drill, "reported", False):
        return
    drill.reported = True
    meta = getattr(drill, "meta", {}) or {}
    chart = None
    try:
        safe = drill.timeline_path.stem if drill.timeline_path else "drill"
        chart = render_timeline_chart(drill.timeline, Path(report_dir) / "charts" / f"{safe}.png",
                                      title=f"{meta.get('stack', '')}: {meta.get('scenario', '')}")
    except Exception as exc:  # a chart must never hide the drill's result
        _warn("chart not rendered", exc)
    try:   # outside an Allure run (no --alluredir) these calls do nothing
        A.attach_timeline(drill.timeline, chart)
        for svc in drill.faulted_services:
            A.attach_text(f"logs of {svc}", drill.env.logs(svc, tail=300))
    except Exception as exc:
        _warn("allure attachments skipped", exc)
    try:
        figures = key_figures(DrillResult(name=meta.get("nodeid", ""), stack=meta.get("stack", ""),
                                          fault=meta.get("fault", ""), scenario=meta.get("scenario", ""),
                                          outcome="", verdicts=list(drill.verdicts)), timeline=drill.timeline)
        A.describe_drill(meta.get("nodeid", ""), list(drill.verdicts), figures, source=meta.get("source", ""))
    except Exception as exc:
        _warn("verdicts not put on the Allure page", exc)
    found = getattr(drill, "examination", None)
    if found is not None and found.findings:
        try:
            A.attach_text("findings (not asked for, but seen)",
                          "\n".join(f"[{f.severity}] {f.sentence}" for f in found.findings))
        except Exception as exc:
            _warn("findings not attached", exc)


def label_drill(stack: str, fault: str, scenario: str, severity: Any, switches: Mapping[str, str]) -> None:
    """Allure labels and the drill's switches as parameters (nothing outside an Allure run)."""
    try:
        A.label_drill(stack, fault, scenario, severity)
        A.parameters(switches)
    except Exception as exc:
        _warn("allure labels not set", exc)


def finish_session(results: Sequence[DrillResult], report_dir: Path, *, alluredir: str | None,
                   used: Mapping[str, Any], probe_interval: float, root: Path,
                   engine: Mapping[str, str] | None = None) -> None:
    """After the drills: the summary, the history, and the Allure results folder's own files."""
    if not results:
        return
    report_dir = Path(report_dir)
    previous = recent_outcomes(report_dir / "history.jsonl")   # before this run is added
    for write in writers():
        try:
            write(list(results), report_dir)
        except Exception as exc:
            _warn(f"{write.__module__}.{write.__name__} not written", exc)
    if alluredir:
        try:
            A.mark_unstable(Path(alluredir), A.unstable_drills(list(results), previous))
        except Exception as exc:
            _warn("unstable drills not marked", exc)
    if not alluredir:
        return
    try:
        facts = A.environment_facts(used, probe_interval=probe_interval, engine=engine, root=root)
        A.write_environment_properties(Path(alluredir), facts)
        A.write_executor_json(Path(alluredir), build_name=time.strftime("drill run %Y-%m-%d %H:%M"))
        A.write_categories_json(Path(alluredir))
    except Exception as exc:
        _warn("allure extras not written", exc)


def build_pages(report_dir: Path, *, html: bool = True, management: bool = True, pdf: bool = True,
                progress: Callable[[str], None] = print) -> tuple[dict[str, str], list[str]]:
    """The pages a person opens: the Allure HTML report (from ``allure-results``), the management
    page (from ``summary.json`` and ``history.jsonl``) and its PDF. Returns (what was written, by
    name; the errors, one line each)."""
    report_dir = Path(report_dir)
    written: dict[str, str] = {}
    errors: list[str] = []
    results = report_dir / "allure-results"
    if html and results.is_dir() and any(results.glob("*-result.json")):
        try:
            allure = ensure_allure(progress=progress)
            written["allure"] = str(generate_report(results, report_dir / "allure-report", progress=progress,
                                                    allure=allure))
        except DrillkitError as exc:
            errors.append(f"Allure report not built: {exc}")
    if not management or not (report_dir / "summary.json").is_file():
        return written, errors
    try:
        page = write_management_page(report_dir)
    except Exception as exc:   # the page must never hide the drills' result
        errors.append(f"management page not written: {type(exc).__name__}: {exc}")
        return written, errors
    written["management"] = str(page)
    if not pdf:
        return written, errors
    if find_chromium() is None:
        progress("drill: no PDF of the management page: Chromium is not installed "
                 "(scripts/bootstrap.sh report installs it)")
        return written, errors
    try:
        written["pdf"] = str(print_pdf(page, page.with_suffix(".pdf"), one_page=True))
    except DrillkitError as exc:
        errors.append(f"PDF of the management page not printed: {exc}")
    return written, errors
