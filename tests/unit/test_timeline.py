"""The timeline: appended as it happens, readable after a crash, windows and phases derived."""

import json

from drillkit.timeline import Timeline


def test_records_are_on_disk_before_close(tmp_path):
    path = tmp_path / "t.jsonl"
    tl = Timeline(path, drill="d", run="r1")
    tl.phase("steady")
    tl.probe(population="p", client="c", op="GET /", ok=True, t=0.1, t_end=0.2, status=200)
    lines = path.read_text().splitlines()  # not closed yet: a crashed run leaves this behind
    assert [json.loads(l)["kind"] for l in lines] == ["header", "phase", "probe"]
    tl.close()


def test_torn_last_line_is_ignored(tmp_path):
    path = tmp_path / "t.jsonl"
    with Timeline(path) as tl:
        tl.note("before the crash")
    with open(path, "a") as fh:
        fh.write('{"kind": "probe", "t": 1.0, "ok"')
    loaded = Timeline.load(path)
    assert [r["kind"] for r in loaded.records] == ["header", "note"]


def test_fault_windows_and_phases():
    tl = Timeline()
    tl.phase("inject")
    tl.fault("inject", fault="kill", fault_id="f1", targets=["registry/app-2"], t=1.0)
    tl.fault("heal", fault="kill", fault_id="f1", targets=["registry/app-2"], t=4.0)
    tl.fault("inject", fault="pause", fault_id="f2", targets=["x/y-1"], t=5.0)
    tl.phase("inject", "end")
    w = tl.fault_windows()
    assert [(x.fault, x.start, x.end) for x in w] == [("kill", 1.0, 4.0), ("pause", 5.0, None)]
    assert tl.phases()[0][0] == "inject"


def test_probe_filters_by_population_and_time():
    tl = Timeline()
    for i, pop in enumerate(["a", "b", "a"]):
        tl.probe(population=pop, client="c", op="x", ok=True, t=float(i), t_end=i + 0.1)
    assert len(tl.probes("a")) == 2
    assert len(tl.probes("a", since=1.0)) == 1
    assert tl.populations() == ["a", "b"]


def test_deferred_lines_reach_the_file_on_flush_and_records_at_once(tmp_path):
    path = tmp_path / "t.jsonl"
    tl = Timeline(path)
    lines = lambda: path.read_text().splitlines()   # noqa: E731
    with tl.deferred():
        tl.add("note", text="a")
        tl.append({"kind": "note", "t": 1.0, "text": "b"})
        assert [r.get("text") for r in tl.records] == [None, "a", "b"]      # in memory at once
        assert len(lines()) == 1                                            # the file: header only
        tl.flush()
        assert len(lines()) == 3
        with tl.deferred():                          # a second holder (two loads at once)
            tl.add("note", text="c")
            assert len(lines()) == 3
        assert len(lines()) == 4                     # each holder flushes when it lets go
        tl.add("note", text="d")
        assert len(lines()) == 4
    assert len(lines()) == 5                          # the last one lets go: the rest is written
    tl.add("note", text="e")                          # and line by line again
    assert len(lines()) == 6
    tl.close()
    assert Timeline.load(path).records == tl.records
