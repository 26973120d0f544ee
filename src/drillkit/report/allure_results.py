"""Allure helpers for drills: attachments, labels and phase steps through allure-pytest's ``allure``
module (imported lazily), and the results-folder files allure-pytest does not write itself —
``environment.properties``, ``executor.json`` and ``categories.json``.

For the report's readers: the Environment block names the stacks, their images' content hashes, the
switches, the git commit, the Docker engine and its host (`environment_facts`); a drill's page shows
its verdicts with their figures (`describe_drill`: description, and parameters excluded from Allure's
history id so a figure that changes does not make a new test); and a drill whose verdict changed
between retries or went back and forth over its recent runs is marked flaky, which the category
"Unstable drill" collects (`unstable_drills`, `mark_unstable`)."""

from __future__ import annotations

import html as _html
import json
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drillkit.timeline import Timeline

__all__ = [
    "attach_timeline", "attach_text", "label_drill", "phase_step",
    "write_environment_properties", "write_executor_json", "write_categories_json",
    "environment_facts", "describe_drill", "unstable_drills", "mark_unstable", "DRILL_LABEL",
    "CATEGORIES", "STACK_DEFECT", "LAB_ERROR", "UNSTABLE", "INTERRUPTED", "NOT_JUDGED", "VERDICT_FAILURE_PREFIX", "LAB_ERROR_NAMES",
]

VERDICT_FAILURE_PREFIX = "drill failed:"
LAB_ERROR_NAMES = ("LabError", "HealthCheckFailed", "DockerUnavailable", "ImageBuildError", "LinkError")
STACK_DEFECT = "Stack defect"
LAB_ERROR = "Lab/infrastructure error"
INTERRUPTED = "Interrupted"
NOT_JUDGED = "Not judged"
UNSTABLE = "Unstable drill"
DRILL_LABEL = "drill"   # a custom label with the drill's pytest node id (finds its result file)

_LAB_ALTERNATION = "|".join(LAB_ERROR_NAMES)
# Allure 2 matches a category's regex against the whole message; (?s) lets ".*" span the traceback
# lines allure-pytest puts into multi-line messages.
_BASE_CATEGORIES: list[dict[str, Any]] = [
    {"name": INTERRUPTED,
     "description": "Ctrl-C or SIGTERM (a cancelled CI job) stopped the drill before its verdicts: faults "
                    "healed, the lab removed, nothing judged — never held.",
     "messageRegex": "(?s).*(DrillInterrupted|interrupted by SIG).*",
     "matchedStatuses": ["broken", "failed"]},
    {"name": NOT_JUDGED,
     "description": "The drill's steady state did not hold before any fault (or a gate did not open): no "
                    "fault was tried, so nothing is said about the stack's behaviour under it.",
     "messageRegex": "(?s).*(SteadyStateNotMet|not judged: steady state not met).*",
     "matchedStatuses": ["broken", "failed"]},
    {"name": STACK_DEFECT,
     "description": "A verdict on the stack under test failed (recovery time, sessions or writes lost…).",
     "messageRegex": f"(?s).*{VERDICT_FAILURE_PREFIX}.*",
     "matchedStatuses": ["failed"]},
    {"name": LAB_ERROR,
     "description": "The lab itself failed (Docker, images, health checks, Toxiproxy): no verdict on "
                    "the stack.",
     "messageRegex": f"(?s).*({_LAB_ALTERNATION}).*",
     "matchedStatuses": ["broken", "failed"]},
    # Every other broken test is a lab error too. Same name, so Allure shows one group; the lookahead
    # keeps a broken test that matched the entry above from being listed twice.
    {"name": LAB_ERROR,
     "messageRegex": f"(?s)(?!.*({_LAB_ALTERNATION}|DrillInterrupted|interrupted by SIG|SteadyStateNotMet|"
                     "not judged: steady state not met)).*",
     "matchedStatuses": ["broken"]},
]
# Allure 2 puts a result into the first category that matches it, and a category matches only results
# whose flaky flag equals its own `flaky` (default false). So "Unstable drill" comes first and takes
# every result marked flaky (`mark_unstable`), whatever its status; the others take the rest. No
# messageRegex on it: a passed result has no message, and Allure matches a regex against none as false.
CATEGORIES: list[dict[str, Any]] = [
    {"name": UNSTABLE,
     "description": "The drill's verdict flip-flopped: it changed between retries of this run, or went "
                    "back and forth (held, defect, held …) over its recent runs — a race in the stack or "
                    "a drill that measures too close to its target. A drill that turned red once and "
                    "stays red is a stack defect, not this.",
     "matchedStatuses": ["failed", "broken", "passed"],
     "flaky": True},
    *_BASE_CATEGORIES,
]
RECENT_RUNS = 5   # how far back a flip-flop counts

_PHASE_TITLES = {
    "steady": "steady state", "steady state": "steady state", "steady-state": "steady state",
    "inject": "inject", "observe": "observe", "recover": "recover", "verify": "verify",
}
_PHASE_DESCRIPTIONS = {
    "steady state": "steady state — traffic runs, nothing broken yet",
    "inject": "inject — the fault goes in",
    "observe": "observe — traffic runs under the fault",
    "recover": "recover — the fault is healed, the stack catches up",
    "verify": "verify — the verdicts are computed from the timeline",
}


def _allure():
    import allure  # deferred: allure-pytest's module, only needed inside a test run

    return allure


# -- inside a test -------------------------------------------------------------------------------

def attach_timeline(timeline: "Timeline", chart_path: Path | None) -> None:
    """Attach the drill's chart (PNG, if it exists) and its raw timeline records (as a JSON array)."""
    allure = _allure()
    if chart_path is not None and Path(chart_path).is_file():
        allure.attach.file(str(chart_path), name="timeline chart",
                           attachment_type=allure.attachment_type.PNG)
    allure.attach(json.dumps(timeline.snapshot(), indent=1, default=str), name="timeline",
                  attachment_type=allure.attachment_type.JSON)


def attach_text(name: str, text: str) -> None:
    """Attach plain text (a verdict explanation, container logs, …) to the current test or step."""
    allure = _allure()
    allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)


def label_drill(stack: str, fault: str, scenario: str, severity: Any = "critical") -> None:
    """Label the current test: epic = stack, feature = fault kind, story = scenario, and severity
    (an ``allure.severity_level`` or its name: blocker, critical, normal, minor, trivial)."""
    allure = _allure()
    level = severity
    if isinstance(severity, str):
        try:
            level = allure.severity_level(severity.lower())
        except ValueError:
            raise ValueError(f"unknown Allure severity {severity!r}; use one of "
                             f"{', '.join(s.value for s in allure.severity_level)}") from None
    allure.dynamic.epic(stack)
    allure.dynamic.feature(fault)
    allure.dynamic.story(scenario)
    allure.dynamic.severity(level)


def parameters(values: Mapping[str, Any]) -> None:
    """The drill's switches as Allure parameters of the current test."""
    allure = _allure()
    for k, v in values.items():
        allure.dynamic.parameter(k, v)


def phase_title(name: str) -> str:
    """Readable step title for a drill phase ("steady" → "steady state — traffic runs, …")."""
    title = _PHASE_TITLES.get(name.strip().lower(), name)
    return _PHASE_DESCRIPTIONS.get(title, title)


@contextmanager
def phase_step(name: str) -> Iterator[None]:
    """``with phase_step("inject"):`` — an Allure step titled after the drill phase."""
    allure = _allure()
    with allure.step(phase_title(name)):
        yield


# -- files in the results folder -----------------------------------------------------------------

def _escape_property(text: str, *, key: bool = False) -> str:
    out = (str(text).replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
           .replace("\t", "\\t"))
    if key:
        for ch in " =:":
            out = out.replace(ch, "\\" + ch)
    return out


def write_environment_properties(results_dir: Path, mapping: Mapping[str, Any]) -> Path:
    """``environment.properties`` (the report's Environment widget), keys in the given order."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / "environment.properties"
    lines = [f"{_escape_property(k, key=True)}={_escape_property(v)}" for k, v in mapping.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_executor_json(results_dir: Path, *, name: str = "drillkit", build_name: str,
                        report_url: str | None = None) -> Path:
    """``executor.json`` (the report's Executor widget); type "ci" when the ``CI`` variable is set."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    executor: dict[str, Any] = {"name": name, "type": "ci" if os.environ.get("CI") else "local",
                                "buildName": build_name}
    if report_url:
        executor["reportUrl"] = report_url
    path = results_dir / "executor.json"
    path.write_text(json.dumps(executor, indent=2) + "\n", encoding="utf-8")
    return path


def write_categories_json(results_dir: Path) -> Path:
    """``categories.json``: verdict failures as "Stack defect", lab failures as "Lab/infrastructure
    error", so a broken lab is never mistaken for a broken stack."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / "categories.json"
    path.write_text(json.dumps(CATEGORIES, indent=2) + "\n", encoding="utf-8")
    return path


# -- for the report's readers --------------------------------------------------------------------

def _git_commit(root: Path) -> str | None:
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + (" (with local changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def environment_facts(specs: Mapping[str, Any], *, probe_interval: float | None = None,
                      engine: Mapping[str, str] | None = None, root: Path = Path(".")) -> dict[str, str]:
    """What the Environment block shows: stacks, environments, switches, image content hashes, git
    commit, Docker engine version and host, Python. ``specs``: environment name -> EnvironmentSpec;
    ``engine``: what the lab read from the engine (`drillkit.lab.engine.engine_facts`). A fact that
    cannot be read is left out (never a guess)."""
    facts: dict[str, str] = {}
    facts["stacks"] = ", ".join(sorted({str(getattr(s, "stack", n)) for n, s in specs.items()})) or "—"
    facts["environments"] = ", ".join(sorted(specs)) or "—"
    for name, spec in sorted(specs.items()):
        for k, v in sorted((getattr(spec, "chosen", {}) or {}).items()):
            facts[f"switch.{name}.{k}"] = str(v)
    facts.update({k: v for k, v in (engine or {}).items() if k.startswith("image.")})
    commit = _git_commit(root)
    if commit:
        facts["git.commit"] = commit
    facts.update({k: v for k, v in (engine or {}).items() if not k.startswith("image.")})
    facts["host"] = socket.gethostname()
    facts["python"] = sys.version.split()[0] + f" ({platform.system()})"
    if probe_interval is not None:
        facts["probe_interval_s"] = str(probe_interval)
    return facts


def _figure_text(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") + (f" {unit}" if unit else "")
    return f"{value}" + (f" {unit}" if unit else "")


class _Shown:
    """A parameter value shown as it reads (allure-pytest quotes plain strings: '2.4 s')."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def describe_drill(nodeid: str, verdicts: list, figures: Mapping[str, Any], *, source: str = "",
                   outcome: str | None = None) -> None:
    """Put the verdicts and key figures on the drill's Allure page: an HTML description (a sentence
    and a verdict table), one parameter per figure (excluded from the history id), and the drill's
    node id as a label (so its result file can be found after the run)."""
    allure = _allure()
    failed = [v for v in verdicts if getattr(v, "status", "") == "fail"]
    if outcome is None:
        outcome = "failed" if failed else ("passed" if verdicts else "unknown")
    if failed:
        head = "Defect found: " + "; ".join(v.sentence for v in failed) + "."
    elif verdicts:
        head = "Held: every verdict passed."
    else:
        head = "No verdict was reached (the drill stopped before its checks)."
    rows = "".join(
        f"<tr><td>{_html.escape(v.status)}</td><td>{_html.escape(v.name)}</td>"
        f"<td>{_html.escape(_figure_text(v.value, v.unit if v.unit not in ('ratio',) else ''))}</td>"
        f"<td>{_html.escape(v.target or '—')}</td><td>{_html.escape(v.sentence)}</td></tr>" for v in verdicts)
    figs = figures or {}
    notes = figs.get("notes") if isinstance(figs.get("notes"), Mapping) else {}
    avail = figs.get("availability") if isinstance(figs.get("availability"), Mapping) else {}

    def shown(key: str, unit: str = "") -> str:   # a None with a reason says the reason
        value = figs.get(key)
        return str(notes[key]) if value is None and notes.get(key) else _figure_text(value, unit)
    fig_items = [("recovery time", shown("recovery_time", "s")),
                 *[(f"availability {p}", _figure_text(v, "%")) for p, v in avail.items()],
                 ("sessions lost", shown("sessions_lost")),
                 ("writes lost", shown("writes_lost"))]
    headlines = [str(h) for h in figs.get("headlines") or []]
    if headlines:
        head = " ".join(headlines) + " " + head
    html = (f"<p><b>{_html.escape(head)}</b></p>"
            + (f"<p>Rehearses: {_html.escape(source)}</p>" if source else "")
            + "<p>" + " · ".join(f"{_html.escape(k)}: <b>{_html.escape(v)}</b>" for k, v in fig_items) + "</p>"
            + ("<table><tr><th>status</th><th>verdict</th><th>value</th><th>target</th><th>sentence</th></tr>"
               + rows + "</table>" if rows else ""))
    allure.dynamic.description_html(html)
    for k, v in fig_items:
        allure.dynamic.parameter(k, _Shown(v), excluded=True)
    allure.dynamic.label(DRILL_LABEL, nodeid)


def unstable_drills(results: list, recent: Mapping[str, list[str]]) -> set[str]:
    """Drills whose verdict (held / defect) flip-flops: it differs between retries in this run, or
    changed at least twice over the recent runs (``recent``: drill -> its outcomes in the history,
    oldest first) and this one. A lab error is not a verdict and changes nothing."""
    judged = ("passed", "failed")
    now: dict[str, list[str]] = {}
    for r in results:
        if r.outcome in judged:
            now.setdefault(r.name, []).append(r.outcome)
    out = set()
    for name, outcomes in now.items():
        if len(set(outcomes)) > 1:
            out.add(name)
            continue
        seq = [o for o in list(recent.get(name, []))[-RECENT_RUNS:] if o in judged] + outcomes[:1]
        if sum(1 for a, b in zip(seq, seq[1:]) if a != b) >= 2:
            out.add(name)
    return out


def mark_unstable(results_dir: Path, names: set[str]) -> int:
    """Set ``statusDetails.flaky`` in the result files of ``names`` (found by the drill label);
    returns how many files were marked."""
    marked = 0
    if not names:
        return 0
    for path in Path(results_dir).glob("*-result.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        drill = next((l.get("value") for l in data.get("labels", []) if l.get("name") == DRILL_LABEL), None)
        if drill not in names:
            continue
        details = data.setdefault("statusDetails", {})
        details["flaky"] = True
        path.write_text(json.dumps(data), encoding="utf-8")
        marked += 1
    return marked
