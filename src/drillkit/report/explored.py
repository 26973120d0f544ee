"""What ``drill explore`` found, in the Allure results: one test per finding, with its schedule (a step
per fault), how it was found (trial, time, shrinking, confirmation), its verdicts, the scenario file
that reproduces it, its chart and timeline; one per intermittent schedule (marked flaky, so the
category "Unstable drill" collects it) and per confirmed failure of other promises; a clean
exploration is one passed test that says what was covered.

An exploration runs outside pytest, so allure-pytest writes nothing for it: this writer writes the
result files itself (Allure 2's ``*-result.json`` and attachment files) into
``<report_dir>/allure-results``, if that folder exists (``drill explore`` makes it). Results without
``explored`` (every drill of ``drill run``) are none of its business.
"""

from __future__ import annotations

import hashlib
import html
import json
import time
import uuid
from pathlib import Path
from typing import Any

from drillkit.report.allure_results import DRILL_LABEL, VERDICT_FAILURE_PREFIX
from drillkit.report.chart import render_timeline_chart
from drillkit.report.summary import DrillResult
from drillkit.report.writers import after_drills
from drillkit.timeline import Timeline

__all__ = ["write_explored_allure", "explored_tests"]

_STATUS = {"passed": "passed", "failed": "failed", "not-judged": "broken", "broken": "broken",
           "interrupted": "broken"}


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def explored_tests(result: DrillResult) -> list[dict[str, Any]]:
    """The Allure tests of one exploration, as plain data: name, status, message, description,
    steps (the schedule's faults), attachments to write (name, text or file, type), flaky."""
    data = result.explored or {}
    stack, name = result.stack, result.name
    tests: list[dict[str, Any]] = []
    cov = data.get("coverage") or {}
    covered = (f"{cov.get('runs', 0)} runs of {cov.get('schedules', 0)} schedules in {cov.get('elapsed', 0):.0f} s; "
               f"vocabulary: {data.get('vocabulary', '')}")
    finding = data.get("finding")
    if finding:
        verdicts = finding.get("verdicts") or []
        how = finding.get("how", "")
        files = [finding.get("scenario"), *finding.get("copies", [])]
        desc = (f"<p><b>Found by drill explore:</b> {_e(finding['schedule'])}</p><p>{_e(how)}.</p>"
                + "".join(f"<p>Verdict: {_e(v)}</p>" for v in verdicts)
                + (f"<p>Reproduce: <code>drill run {_e(files[0])}</code></p>" if files[0] else "")
                + f"<p>First failing schedule ({finding.get('first_size')} fault(s)): {_e(finding.get('first'))}</p>"
                + f"<p>Covered: {_e(covered)}</p>")
        attachments = []
        if finding.get("scenario") and Path(finding["scenario"]).is_file():
            attachments.append(("scenario that reproduces it", Path(finding["scenario"]), "text/yaml", "yaml"))
        if finding.get("timeline") and Path(finding["timeline"]).is_file():
            attachments.append(("timeline of the failing run", Path(finding["timeline"]), "application/x-ndjson",
                                "jsonl"))
        tests.append({"name": f"explore {stack}: {finding['schedule']}", "status": "failed",
                      "message": f"{VERDICT_FAILURE_PREFIX} " + "; ".join(verdicts or ["a promise broke"]),
                      "description": desc, "steps": finding.get("faults") or [], "attachments": attachments,
                      "flaky": False, "key": f"{name} finding", "chart": finding.get("timeline")})
    for other in data.get("others") or []:
        tests.append({"name": f"explore {stack}: {other['schedule']} (other promises)", "status": "failed",
                      "message": f"{VERDICT_FAILURE_PREFIX} " + "; ".join(other.get("verdicts") or other.get("broken")),
                      "description": f"<p>Failed {other['failures']} of {other['runs']} runs; not shrunk (the "
                                     f"exploration shrank another finding).</p>", "steps": [], "attachments": [],
                      "flaky": False, "key": f"{name} other {other['schedule']}"})
    for inter in data.get("intermittent") or []:
        tests.append({"name": f"explore {stack}: {inter['schedule']} (intermittent)", "status": "failed",
                      "message": f"{VERDICT_FAILURE_PREFIX} " + "; ".join(inter.get("verdicts") or ["a promise broke"])
                                 + f" — failed {inter['failures']} of {inter['runs']} runs",
                      "description": f"<p>{_e(inter.get('sentence', ''))}</p>", "steps": [], "attachments": [],
                      "flaky": True, "key": f"{name} intermittent {inter['schedule']}"})
    if not tests:
        status = _STATUS.get(result.outcome, "broken")
        message = None if status == "passed" else "; ".join(result.sentences) or result.outcome
        if result.outcome == "interrupted" and message and "interrupted" not in message:
            message = f"interrupted by {data.get('stopped_by') or 'SIGINT'}: {message}"
        tests.append({"name": f"explore {stack}: " + ("nothing failed" if status == "passed" else result.outcome),
                      "status": status, "message": message,
                      "description": "".join(f"<p>{_e(s)}</p>" for s in data.get("sentences") or result.sentences),
                      "steps": [], "attachments": [], "flaky": False, "key": f"{name} covered"})
    return tests


def _attach(results_dir: Path, name: str, source: Path | str, mime: str, ext: str) -> dict[str, str]:
    target = f"{uuid.uuid4()}-attachment.{ext}"
    body = source.read_bytes() if isinstance(source, Path) else str(source).encode("utf-8")
    (results_dir / target).write_bytes(body)
    return {"name": name, "source": target, "type": mime}


def _write_test(results_dir: Path, result: DrillResult, test: dict[str, Any], now_ms: int) -> Path:
    data = result.explored or {}
    attachments = [_attach(results_dir, n, src, mime, ext) for n, src, mime, ext in test["attachments"]]
    chart = test.get("chart")
    if chart and Path(chart).is_file():
        try:
            png = render_timeline_chart(Timeline.load(Path(chart)), results_dir.parent / "charts" / f"{Path(chart).stem}.png",
                                        title=f"{result.stack}: {test['name']}")
            if png is not None and Path(png).is_file():
                attachments.insert(0, _attach(results_dir, "timeline chart", Path(png), "image/png", "png"))
        except Exception:   # a chart never hides the finding
            pass
    steps = [{"name": f"{f.get('kind')} " + " ".join(f"{k}={v}" for k, v in f.items() if k != "kind"),
              "status": "passed", "stage": "finished",
              "start": now_ms, "stop": now_ms} for f in test["steps"]]
    doc = {
        "uuid": str(uuid.uuid4()),
        "historyId": hashlib.md5(test["key"].encode()).hexdigest(),
        "testCaseId": hashlib.md5(test["key"].encode()).hexdigest(),
        "fullName": test["key"],
        "name": test["name"],
        "status": test["status"],
        "stage": "finished",
        "descriptionHtml": test["description"],
        "steps": steps,
        "attachments": attachments,
        "parameters": [{"name": k, "value": str(v)} for k, v in (data.get("switches") or {}).items()]
                      + [{"name": "seed", "value": str(data.get("seed"))}],
        "labels": [{"name": "epic", "value": result.stack}, {"name": "feature", "value": "explore"},
                   {"name": "story", "value": result.scenario}, {"name": "severity", "value": "critical"},
                   {"name": "framework", "value": "drillkit"}, {"name": DRILL_LABEL, "value": result.name}],
        "start": now_ms - int(result.duration * 1000), "stop": now_ms,
    }
    if test["message"] or test["flaky"]:
        doc["statusDetails"] = {"message": test["message"] or "", "flaky": bool(test["flaky"])}
    path = results_dir / f"{doc['uuid']}-result.json"
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


@after_drills
def write_explored_allure(results: list[DrillResult], report_dir: Path) -> list[Path]:
    """The Allure result files of every exploration among ``results`` (see the module docstring)."""
    results_dir = Path(report_dir) / "allure-results"
    explored = [r for r in results if getattr(r, "explored", None)]
    if not explored or not results_dir.is_dir():
        return []
    now_ms = int(time.time() * 1000)
    return [_write_test(results_dir, r, t, now_ms) for r in explored for t in explored_tests(r)]
