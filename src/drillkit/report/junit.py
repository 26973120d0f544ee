"""JUnit for CI test tabs: a drill that was not judged is an error there, never a failure.

pytest's junitxml writes every failed call as ``<failure>`` — which a CI tab shows as a failed test,
i.e. a defect. A drill that was *interrupted* (Ctrl-C, a cancelled job), *not judged* (its steady
state did not hold before any fault) or broken by the lab found no defect: once pytest has written
the file, its ``<failure>`` becomes ``<error>`` (type: the outcome) and the suite's counts follow.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

from _pytest.junitxml import mangle_test_address

__all__ = ["mark_unjudged", "UNJUDGED"]

UNJUDGED = ("interrupted", "not-judged", "broken")


def _key(nodeid: str) -> tuple[str, str]:
    names = mangle_test_address(nodeid)
    return ".".join(names[:-1]), names[-1]


def mark_unjudged(xml_path: Path, outcomes: Mapping[str, str]) -> int:
    """Turn the ``<failure>`` of every drill whose outcome is interrupted, not judged or broken into
    an ``<error>`` (type = the outcome); returns how many were changed."""
    wanted = {_key(n): o for n, o in outcomes.items() if o in UNJUDGED}
    path = Path(xml_path)
    if not wanted or not path.is_file():
        return 0
    tree = ET.parse(path)
    changed = 0
    for suite in tree.getroot().iter("testsuite"):
        moved = 0
        for case in suite.iter("testcase"):
            outcome = wanted.get((case.get("classname", ""), case.get("name", "")))
            failure = case.find("failure")
            if outcome is None or failure is None:
                continue
            failure.tag = "error"
            failure.set("type", outcome)
            moved += 1
        if moved:
            suite.set("failures", str(max(0, int(suite.get("failures", "0")) - moved)))
            suite.set("errors", str(int(suite.get("errors", "0")) + moved))
            changed += moved
    if changed:
        tree.write(path, encoding="utf-8", xml_declaration=True)
    return changed
