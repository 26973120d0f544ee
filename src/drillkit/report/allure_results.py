"""Allure helpers for drills: attachments, labels and phase steps through allure-pytest's ``allure``
module (imported lazily), and the results-folder files allure-pytest does not write itself —
``environment.properties``, ``executor.json`` and ``categories.json``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drillkit.timeline import Timeline

__all__ = [
    "attach_timeline", "attach_text", "label_drill", "phase_step",
    "write_environment_properties", "write_executor_json", "write_categories_json",
    "CATEGORIES", "STACK_DEFECT", "LAB_ERROR", "VERDICT_FAILURE_PREFIX", "LAB_ERROR_NAMES",
]

VERDICT_FAILURE_PREFIX = "drill failed:"
LAB_ERROR_NAMES = ("LabError", "HealthCheckFailed", "DockerUnavailable", "ImageBuildError", "LinkError")
STACK_DEFECT = "Stack defect"
LAB_ERROR = "Lab/infrastructure error"

_LAB_ALTERNATION = "|".join(LAB_ERROR_NAMES)
# Allure 2 matches a category's regex against the whole message; (?s) lets ".*" span the traceback
# lines allure-pytest puts into multi-line messages.
CATEGORIES: list[dict[str, Any]] = [
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
     "messageRegex": f"(?s)(?!.*({_LAB_ALTERNATION})).*",
     "matchedStatuses": ["broken"]},
]

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
    import allure  # allure-pytest's module; heavy-ish and only needed inside a test run

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
