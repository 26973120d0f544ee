"""A new verdict is one module: its checker and `register(VerdictKind(...))` at its end; the verdict
table finds it by itself (`drillkit.verdicts.table.discover`), and scenarios can ask for it at once."""

from __future__ import annotations

import sys
import textwrap

from drillkit.verdicts import table as VR

MODULE = '''
from drillkit.verdicts.base import PASS, Verdict
from drillkit.verdicts.table import Column, Param, VerdictKind, register


def probes_seen(tl, minimum):
    n = sum(1 for r in tl.records if r.get("kind") == "probe")
    return Verdict("probes seen", PASS if n >= minimum else "fail", f"probes seen: {n} (at least {minimum})",
                   value=n)


register(VerdictKind(
    "probes_seen_{tag}", "probes seen", "how many probe requests the timeline holds, ≥ min",
    lambda tl, p, w: probes_seen(tl, p["min"]),
    params=(Param("min", "count", 1, "fewest probes", "10"),), shorthand="min",
    column=Column("probes_seen_{tag}", "Probes seen"), example="10"))
'''


def test_a_verdict_in_a_module_of_its_own_is_found_and_usable(tmp_path, monkeypatch):
    pkg = tmp_path / "extra_verdicts"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "probes.py").write_text(textwrap.dedent(MODULE).replace("{tag}", "x"))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert VR.discover(pkg, "extra_verdicts") == ["probes"]
        kind = VR.VERDICTS["probes_seen_x"]
        from drillkit.timeline import Timeline
        tl = Timeline()
        for _ in range(3):
            tl.probe(population="probe", client="p", op="GET /", ok=True, t=0.1, t_end=0.11)
        (v,) = VR.compute(kind, tl, {"min": 2}, VR.Window(since=0.0, until=tl.now()))
        assert v.status == "pass" and v.sentence == "probes seen: 3 (at least 2)"
    finally:
        VR.VERDICTS.pop("probes_seen_x", None)
        sys.modules.pop("extra_verdicts.probes", None)
        sys.modules.pop("extra_verdicts", None)


def test_every_verdict_module_of_the_package_is_imported():
    assert {"recovery", "writes", "availability", "latency"} <= set(VR.discover())
