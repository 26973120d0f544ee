"""A drill that was not judged is an <error> in JUnit, never a <failure> (a CI tab's "failed test")."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from drillkit.report.junit import mark_unjudged

XML = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="3"
 skipped="0" tests="4"><testcase classname="drills.test_a" name="test_defect"><failure message="drill failed: x"/>
</testcase><testcase classname="drills.test_a" name="test_stopped"><failure message="interrupted by SIGINT"/>
</testcase><testcase classname="scenarios.b.yaml" name="b"><failure message="not judged"/></testcase>
<testcase classname="drills.test_a" name="test_held"/></testsuite></testsuites>"""


def test_interrupted_and_not_judged_become_errors_and_the_counts_follow(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(XML)
    changed = mark_unjudged(path, {"drills/test_a.py::test_defect": "failed",
                                   "drills/test_a.py::test_stopped": "interrupted",
                                   "scenarios/b.yaml::b": "not-judged", "drills/test_a.py::test_held": "passed"})
    assert changed == 2
    suite = ET.parse(path).getroot().find("testsuite")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["test_defect"].find("failure") is not None
    assert cases["test_stopped"].find("error").get("type") == "interrupted"
    assert cases["b"].find("error").get("type") == "not-judged" and cases["b"].find("failure") is None
    assert suite.get("failures") == "1" and suite.get("errors") == "2"


def test_nothing_to_change_leaves_the_file_alone(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(XML)
    assert mark_unjudged(path, {"drills/test_a.py::test_defect": "failed"}) == 0
    assert path.read_text() == XML
    assert mark_unjudged(tmp_path / "missing.xml", {"x::y": "interrupted"}) == 0
