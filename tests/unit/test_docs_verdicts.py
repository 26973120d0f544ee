"""The worked timelines of docs/verdicts.md, built here: the sentences the docs show are the code's."""

from __future__ import annotations

from pathlib import Path

import pytest

from drillkit.timeline import Timeline
from drillkit.verdicts import availability, detection_time, outage_window, recovery_time, sessions_lost, writes_lost

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "verdicts.md").read_text(encoding="utf-8")


def recovery_example(recover_end: float) -> Timeline:
    """Three clerks, a request each every 0.5 s answered 0.01 s later; kill at 1.0, heal at 5.0."""
    tl = Timeline()
    for name, s, e in (("steady", 0.0, 1.0), ("observe", 1.0, 5.0), ("recover", 5.0, recover_end)):
        tl.add("phase", t=s, phase=name, event="start")
        tl.add("phase", t=e, phase=name, event="end")
    tl.fault("inject", fault="kill", fault_id="f1", targets=["registry/app-2"], t=1.0)
    tl.fault("heal", fault="kill", fault_id="f1", targets=["registry/app-2"], t=5.0)
    fails = {"A": set(), "B": {1.5, 2.5}, "C": {2.0, 3.5, 5.0}}
    for k in range(15):
        t = k * 0.5
        for user in "ABC":
            tl.probe(population="clerks", client=user, op="GET /", ok=t not in fails[user], t=t, t_end=t + 0.01,
                     session="valid")
    return tl


def writes_example(*, all_ok: bool = False) -> Timeline:
    """Writes 1..8 acknowledged at t = 1..8 s; a partition from 2.0 to 5.0 during which a reader's
    requests fail (unless ``all_ok``); 3, 4, 6 and 7 are lost; three writes of unknown outcome."""
    tl = Timeline()
    tl.fault("inject", fault="partition", fault_id="p1", targets=["redis-1"], t=2.0)
    tl.fault("heal", fault="partition", fault_id="p1", targets=["redis-1"], t=5.0)
    for i in range(1, 9):
        tl.probe(population="writers", client="w", op="SET", ok=True, t=i - 0.01, t_end=float(i))
        tl.add("write", t=float(i), client="w", id=str(i), op="SET")
        ok = all_ok or not 2.0 <= i < 5.0
        tl.probe(population="readers", client="r", op="GET", ok=ok, t=i - 0.01, t_end=float(i))
    if not all_ok:
        tl.add("write", t=2.5, client="w", id="9", op="SET", outcome="unknown")
        tl.add("write", t=3.5, client="w", id="10", op="SET", outcome="unknown")
        tl.add("write", t=4.5, client="w", id=None, op="SET", outcome="unknown")
    tl.add("ground-truth", t=9.0, what="writes", ids=["1", "2", "5", "8", "9"])
    return tl


@pytest.mark.parametrize("sentence", [
    recovery_time(recovery_example(6.2), target=5.0, population="clerks").sentence,
    recovery_time(recovery_example(7.2), target=5.0, population="clerks").sentence,
    detection_time(recovery_example(7.2), "clerks", max=1.0).sentence,
    outage_window(recovery_example(7.2), "clerks", max=2.0).sentence,
    sessions_lost(recovery_example(7.2), population="clerks").sentence,
    availability(recovery_example(7.2), population="clerks", minimum=0.9, since=1.0, until=7.2,
                 label="inject to recover").sentence,
    writes_lost(writes_example()).sentence,
    writes_lost(writes_example(all_ok=True)).sentence,
])
def test_the_docs_show_the_sentences_the_code_writes(sentence):
    assert f"`{sentence}`" in DOCS, sentence
