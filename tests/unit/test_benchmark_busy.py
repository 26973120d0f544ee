"""benchmarks/verdict_stability.py --busy: the 11 April drill joins the catalogue, and the table counts
the busy runs that gave the quiet runs' verdict (runs nothing: the runs here are made up)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "verdict_stability.py"


def bench():
    spec = importlib.util.spec_from_file_location("verdict_stability", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod     # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_busy_adds_the_11_april_drill_both_ways(capsys):
    b = bench()
    assert b.main(["--busy", "--list"]) == 0
    listed = capsys.readouterr().out.split("\n")
    assert any(line.split() == ["landscape_migration", "sound"] for line in listed)
    assert any(line.split() == ["landscape_migration", "migration_pool=small"] for line in listed)
    assert not any("landscape_migration" in v.name for v in b.catalogue())   # not without --busy


def test_busy_table_counts_the_runs_that_gave_the_quiet_verdict(capsys):
    b = bench()
    v = b.Variant("drills/test_registry_landscape_migration.py", None, None)
    v.runs = [{"agrees": True, "why": "pass"}] * 2
    v.busy = [{"agrees": True, "why": "pass"}, {"agrees": False, "why": "FAIL on the sound stack"}]
    (row,) = b.busy_rows([v])
    assert (row["quiet_agreeing"], row["busy_agreeing"], row["busy_same_as_quiet"]) == (2, 1, 1)
    b.print_busy_table([row], "drill")
    out = capsys.readouterr().out
    assert "landscape_migration    sound" in out and "2/2" in out and "<-- FAIL on the sound stack" in out
