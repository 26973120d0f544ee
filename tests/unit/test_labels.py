"""Proof of life for gc: a run's lock is held while its process lives, and free once it is gone."""

import subprocess
import sys

from drillkit import labels as L


def test_lock_held_by_this_process_and_released(tmp_path, monkeypatch):
    monkeypatch.setattr(L, "RUN_DIR", tmp_path)
    assert L.run_held("dkA") is None  # no lock file: unknown, gc falls back to the pid check
    L.hold_run("dkA")
    assert L.run_held("dkA") is True
    assert L.owner_alive("otherhost-or-hidden-pid:1:1", "dkA") is True
    L.release_run("dkA")
    assert L.run_held("dkA") is None


def test_lock_of_a_dead_process_is_free(tmp_path):
    code = ("import sys; from pathlib import Path; from drillkit import labels as L; "
            f"L.RUN_DIR = Path({str(tmp_path)!r}); L.hold_run('dkB'); sys.exit(0)")
    subprocess.run([sys.executable, "-c", code], check=True)
    # the process exited without releasing: the file stays, the lock is gone with the process
    assert (tmp_path / "dkB.lock").exists()
    import drillkit.labels as labels
    old = labels.RUN_DIR
    labels.RUN_DIR = tmp_path
    try:
        assert labels.run_held("dkB") is False
        host = labels.owner_token().rsplit(":", 2)[0]
        assert labels.owner_alive(f"{host}:{1}:0", "dkB") is False
    finally:
        labels.RUN_DIR = old


def test_keep_owner_is_always_alive():
    assert L.owner_alive("keep:sre") is True


def test_run_ids_are_unique_and_usable_in_names():
    ids = {L.new_run_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(i.startswith("dk") and i.isalnum() for i in ids)
