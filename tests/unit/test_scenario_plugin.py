"""The scenario plugin as users run it: pytest collects YAML scenarios; a broken one is one error line."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "environments" / "registry" / "compose.yaml"

SCENARIO = f"""\
scenario: app node kill
environment: {COMPOSE}
severity: critical
users: {{clerks: 5}}
faults:
  - kind: kill
    target: {{service: app, replica: 1}}
    for: 2s
observe: 2s
expect: {{sessions_lost: 0}}
"""

SHOW_MARKERS = """
def pytest_collection_modifyitems(items):
    for item in items:
        m = item.get_closest_marker("drill")
        print("MARK", item.nodeid, m.kwargs["fault"], m.kwargs["severity"], m.kwargs["scenario"],
              m.kwargs["environment"].endswith("compose.yaml"), sorted(item.fixturenames)[:2])
"""


@pytest.fixture
def tester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("DRILLKIT_NO_GC", "1")  # no Docker needed to collect
    (pytester.path / "scenarios").mkdir()
    return pytester


def test_broken_scenario_is_one_line_collection_error(tester: pytest.Pytester):
    bad = SCENARIO.replace("kind: kill", "kind: explode")
    (tester.path / "scenarios" / "broken.yaml").write_text(bad)
    result = tester.runpytest_subprocess("scenarios", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines([
        "*ERROR collecting scenarios/broken.yaml*",
        "scenarios/broken.yaml:6: faults[[]0].kind: unknown fault kind 'explode' — fix: use one of *kill*",
        "*1 error*",
    ])
    out = result.stdout.str()
    assert "Traceback" not in out and "validate.py" not in out, out
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_scenarios_collect_with_the_drill_marker(tester: pytest.Pytester):
    (tester.path / "scenarios" / "node_kill.yaml").write_text(SCENARIO)
    (tester.path / "elsewhere.yaml").write_text(SCENARIO.replace("app node kill", "found by its key"))
    (tester.path / "compose.yaml").write_text("services: {}\n")       # not a scenario: ignored
    tester.makeconftest(SHOW_MARKERS)
    result = tester.runpytest_subprocess("--collect-only", "-q", "-s", "-p", "no:cacheprovider", ".")
    result.stdout.fnmatch_lines_random([
        "MARK scenarios/node_kill.yaml::node_kill kill critical app node kill True ['_drill_module_envs', 'drill']",
        "MARK elsewhere.yaml::elsewhere kill critical found by its key True *",
        "*2 tests collected*",
    ])
    assert result.ret == pytest.ExitCode.OK
