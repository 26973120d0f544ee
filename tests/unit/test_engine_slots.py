"""The engine's slots bound short engine calls across every drillkit process on the host (parallel test
workers share one Docker engine), and a slot whose holder dies is free again."""

import subprocess
import sys
import threading
import time

from drillkit.lab.engine import EngineSlots


def test_a_second_process_waits_for_a_free_slot(tmp_path):
    # two instances on one folder stand for two processes: a flock belongs to its open file
    first, second = EngineSlots(4, 1, folder=tmp_path), EngineSlots(4, 1, folder=tmp_path)
    entered = threading.Event()

    def other() -> None:
        with second:
            entered.set()

    with first:
        t = threading.Thread(target=other)
        t.start()
        assert not entered.wait(0.3), "the second process got the host's only slot while it was held"
    assert entered.wait(5), "the slot was not handed on once free"
    t.join()


def test_slots_per_host_run_side_by_side(tmp_path):
    a, b = EngineSlots(4, 2, folder=tmp_path), EngineSlots(4, 2, folder=tmp_path)
    with a:
        t0 = time.monotonic()
        with b:
            assert time.monotonic() - t0 < 0.5


def test_threads_of_one_process_are_bounded_too(tmp_path):
    slots = EngineSlots(1, 4, folder=tmp_path)
    inside, peak, lock = [0], [0], threading.Lock()

    def call() -> None:
        with slots:
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.02)
            with lock:
                inside[0] -= 1
    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 1


def test_the_slot_of_a_process_that_died_is_free(tmp_path):
    code = ("import os, sys; from pathlib import Path; from drillkit.lab.engine import EngineSlots; "
            f"s = EngineSlots(4, 1, folder=Path({str(tmp_path)!r})); s.__enter__(); os._exit(0)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    slots = EngineSlots(4, 1, folder=tmp_path)
    t0 = time.monotonic()
    with slots:
        assert time.monotonic() - t0 < 0.5
