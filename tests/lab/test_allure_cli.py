"""Install the Allure 2 command line (cached in the repo's .cache) and build a report whose categories
tell a failed verdict ("Stack defect") from a broken lab ("Lab/infrastructure error")."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from drillkit.report.allure_cli import allure_version, ensure_allure, generate_report
from drillkit.report.allure_results import (
    LAB_ERROR,
    STACK_DEFECT,
    write_categories_json,
    write_environment_properties,
    write_executor_json,
)

pytestmark = [pytest.mark.lab, pytest.mark.slow]

CACHE = Path(__file__).resolve().parents[2] / ".cache"

DRILLS = '''
from drillkit.errors import LinkError

def test_recovers():
    pass

def test_recovery_too_slow():
    raise AssertionError("drill failed: recovery time 9.0 s (target < 5.0 s)")

def test_toxiproxy_gone():
    raise LinkError("toxiproxy did not answer on 127.0.0.1:8474")

def test_fixture_bug():
    {}["missing"]
'''


def _test_names(node) -> list[str]:
    children = node.get("children")
    return [node["name"]] if children is None else [n for c in children for n in _test_names(c)]


def leaves(tree) -> dict[str, list[str]]:
    """Category name → test names, from Allure's data/categories.json tree (category → message → test)."""
    return {c["name"]: sorted(_test_names(c)) for c in tree["children"]}


def test_install_allure_and_generate_a_report(tmp_path):
    started = time.monotonic()
    allure = ensure_allure(CACHE, progress=print)
    print(f"ensure_allure: {time.monotonic() - started:.1f} s")
    assert allure_version(allure).startswith("2.")
    assert ensure_allure(CACHE) == allure  # second call finds the cached install

    (tmp_path / "test_drills.py").write_text(textwrap.dedent(DRILLS))
    results = tmp_path / "allure-results"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:drillkit",
                          "-p", "no:cacheprovider", f"--alluredir={results}", "test_drills.py"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    write_categories_json(results)
    write_environment_properties(results, {"stack": "citizen-portal", "engine": "docker 20.10"})
    write_executor_json(results, build_name="lab test")

    report = tmp_path / "allure-report"
    for attempt in (1, 2):  # the second run carries the first one's history over
        started = time.monotonic()
        index = generate_report(results, report, progress=print, allure=allure)
        print(f"generate_report #{attempt}: {time.monotonic() - started:.1f} s")
        assert index == report / "index.html" and index.is_file()
    assert (results / "history" / "history.json").is_file()

    tree = json.loads((report / "data" / "categories.json").read_text())
    assert leaves(tree) == {STACK_DEFECT: ["test_recovery_too_slow"],
                            LAB_ERROR: ["test_fixture_bug", "test_toxiproxy_gone"]}
    widget = json.loads((report / "widgets" / "categories.json").read_text())
    assert {item["name"] for item in widget["items"]} == {STACK_DEFECT, LAB_ERROR}
    environment = json.loads((report / "widgets" / "environment.json").read_text())
    assert {"name": "stack", "values": ["citizen-portal"]} in environment
