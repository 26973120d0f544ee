"""Whose runs a run reaps: every object is labelled with the report folder it was made for
(``drillkit.origin``), a run's files live beside its lock and go with it, and a network the engine
will not let go of is reported once, naming its run. (Against the engine: tests/lab/test_gc_own_runs.py.)"""

from __future__ import annotations

from drillkit import labels as L
from drillkit.lab import gc


def test_runs_are_labelled_with_the_report_folder_they_were_made_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(L, "_origin", {})   # this pytest session set its own (drillkit's plugin)
    monkeypatch.delenv("DRILLKIT_REPORT_DIR", raising=False)
    assert L.run_labels("dk1", "tiny")[L.ORIGIN] == str(tmp_path / "reports")
    monkeypatch.setenv("DRILLKIT_REPORT_DIR", "out")
    assert L.current_origin() == str(tmp_path / "out")
    L.set_origin("elsewhere/reports")
    try:
        assert L.run_labels("dk1", "tiny")[L.ORIGIN] == str(tmp_path / "elsewhere" / "reports")
        assert L.origin_of(tmp_path / "elsewhere" / "reports") == L.current_origin()
    finally:
        L.set_origin(None)
    assert L.current_origin() == str(tmp_path / "out")


def test_forget_run_removes_the_files_beside_its_lock_and_no_others(tmp_path, monkeypatch):
    monkeypatch.setattr(L, "RUN_DIR", tmp_path)
    run, other = "dk1206131248aaf9414c", "dk1206131248aaf9414d"
    for name in (f"{run}.lock", f"{run}.adhoc.json", f"{run}.adhoc.lock", f"{run}.phantom", f"{other}.lock",
                 f"{other}.adhoc.json"):
        (tmp_path / name).write_text("x")
    L.forget_run(run, keep=(".phantom",))
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{run}.phantom", f"{other}.adhoc.json", f"{other}.lock"]
    L.forget_run(run)
    assert not (tmp_path / f"{run}.phantom").exists()


def test_a_stuck_network_is_reported_once_naming_its_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(L, "RUN_DIR", tmp_path / "runs")
    stuck = gc.PhantomEndpoints("0463136b5823" + "0" * 52)
    gc._warn_once("dk1206131248aaf9414c", [stuck])
    first = capsys.readouterr().err.splitlines()
    assert len(first) == 1
    assert first[0].startswith("drillkit: warning: run dk1206131248aaf9414c: network 0463136b5823 has no container")
    gc._warn_once("dk1206131248aaf9414c", [stuck])          # the next `drill run` on this machine
    assert capsys.readouterr().err == ""
    assert gc._phantoms_known("dk1206131248aaf9414c") == {stuck.net_id}
    another = gc.PhantomEndpoints("1" * 64)
    gc._warn_once("dk1206131248aaf9414c", [stuck, another])  # a new one is said, the old one not again
    (line,) = capsys.readouterr().err.splitlines()
    assert "network 111111111111" in line and "0463136b5823" not in line
