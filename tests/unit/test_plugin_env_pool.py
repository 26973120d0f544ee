"""The plugin shares an environment across the modules of a session: the drills of several files that want
the same environment, switches and backend get one start-up (reset between drills), an environment no
later module wants goes at its module's end, and at most POOL_MAX are up at once. The environment here
is a stand-in that records what the plugin asks of it (the lab's own lifecycle has its tests in
tests/lab); the stacks are the real ones, loaded from their files."""

from __future__ import annotations

from pathlib import Path

import pytest

LAB = Path(__file__).resolve().parents[1] / "lab" / "environments"

CONFTEST = """
import json, os
import drillkit.pytest_plugin as P

LOG = os.environ["POOL_LOG"]

def say(*what):
    with open(LOG, "a") as fh:
        fh.write(json.dumps(what) + "\\n")

class FakeEnv:
    n = 0
    def __init__(self, spec, progress=None, backend="docker"):
        FakeEnv.n += 1
        self.spec, self.run_id, self.progress, self.left_as_is = spec, f"run{FakeEnv.n}", progress, {}
    def up(self):
        say("up", self.run_id, self.spec.name)
    def reset(self):
        say("reset", self.run_id)
    def down(self):
        say("down", self.run_id)

P.Environment = FakeEnv
"""

DRILLS = """
import pytest
@pytest.mark.drill({env!r})
def test_{name}(drill_env):
    print(drill_env.run_id)
"""


def events(path: Path) -> list[list[str]]:
    import json
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_one_start_up_for_every_module_that_wants_it(pytester: pytest.Pytester, monkeypatch):
    log = pytester.path / "events.jsonl"
    monkeypatch.setenv("POOL_LOG", str(log))
    monkeypatch.setenv("DRILLKIT_NO_GC", "1")
    tiny, sick = str(LAB / "tiny" / "compose.yaml"), str(LAB / "never-healthy" / "compose.yaml")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_a=DRILLS.format(env=tiny, name="a"), test_b=DRILLS.format(env=sick, name="b"),
                        test_c=DRILLS.format(env=tiny, name="c"), test_d=DRILLS.format(env=sick, name="d"))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(passed=4)
    # tiny (run1) up once for a and c; never-healthy (run2) up once for b and d; each down at the end
    assert events(log) == [["up", "run1", "tiny"], ["up", "run2", "never-healthy"], ["reset", "run1"],
                           ["down", "run1"], ["reset", "run2"], ["down", "run2"]]


def test_an_environment_no_later_module_wants_goes_at_its_modules_end(pytester: pytest.Pytester, monkeypatch):
    log = pytester.path / "events.jsonl"
    monkeypatch.setenv("POOL_LOG", str(log))
    monkeypatch.setenv("DRILLKIT_NO_GC", "1")
    tiny, sick = str(LAB / "tiny" / "compose.yaml"), str(LAB / "never-healthy" / "compose.yaml")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_a=DRILLS.format(env=tiny, name="a"), test_b=DRILLS.format(env=sick, name="b"))
    pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:xdist").assert_outcomes(passed=2)
    assert events(log) == [["up", "run1", "tiny"], ["down", "run1"], ["up", "run2", "never-healthy"],
                           ["down", "run2"]]


def test_at_most_pool_max_are_up_the_least_recently_used_goes(pytester: pytest.Pytester, monkeypatch):
    log = pytester.path / "events.jsonl"
    monkeypatch.setenv("POOL_LOG", str(log))
    monkeypatch.setenv("DRILLKIT_NO_GC", "1")
    tiny, sick = str(LAB / "tiny" / "compose.yaml"), str(LAB / "never-healthy" / "compose.yaml")
    changed = str(LAB / "changelab" / "compose.yaml")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_a=DRILLS.format(env=tiny, name="a"), test_b=DRILLS.format(env=sick, name="b"),
                        test_c=DRILLS.format(env=changed, name="c"), test_d=DRILLS.format(env=tiny, name="d"),
                        test_e=DRILLS.format(env=sick, name="e"))
    pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:xdist").assert_outcomes(passed=5)
    ev = events(log)
    ups = [e for e in ev if e[0] == "up"]
    assert [e[2] for e in ups[:3]] == ["tiny", "never-healthy", "changelab"]
    # changelab's start found two up: tiny (used longest ago) went first, though d wants it later
    assert ev.index(["down", "run1"]) < ev.index(["up", "run3", "changelab"])
    up_at_once = peak = 0
    for e in ev:
        up_at_once += {"up": 1, "down": -1}.get(e[0], 0)
        peak = max(peak, up_at_once)
    assert peak <= 2 and up_at_once == 0
