"""The DB failover drill on the asynchronous standby, run in this process so that the test can look at
the lab after each step of the drill's end: the lost writes are hundreds, the same number the test
counts itself (ledger on the timeline against the promoted primary), and at no point — after the
drill's body, after every fault is healed again, during teardown — does the old primary run again
beside the promoted standby; it stays marked as handed over, so no reset brings it back.

(The sound side, sync replication with nothing lost, is tests/lab/test_catalogue.py.)
"""

from __future__ import annotations

import importlib.util
import re
import threading
import time
from pathlib import Path

import pytest
import stack_support as S

from drillkit.drill import Drill, DrillFailed
from drillkit.lab.environment import Environment
from drillkit.stack import load_stack
from drillkit.timeline import Timeline

ROOT = Path(__file__).resolve().parents[2]
DRILL = ROOT / "drills" / "test_registry_db_failover.py"
LOST = re.compile(r"acknowledged writes lost: (\d+) of (\d+) \((?:\d+ after the heal; )?expected 0\)")


def drill_function():
    spec = importlib.util.spec_from_file_location("registry_db_failover_drill", DRILL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.test_registry_db_failover


class Watch:
    """The engine's live start/kill/die events of one container, from now until `stop()`."""

    def __init__(self, docker, container_id: str):
        self.events: list[str] = []
        self._stream = docker.api.events(decode=True, filters={"container": container_id,
                                                               "event": ["start", "kill", "die"]})
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for e in self._stream:
                self.events.append(e["Action"] if e["Action"] != "kill"
                                   else f"kill {e['Actor']['Attributes'].get('signal')}")
        except Exception:  # the stream was closed
            pass

    def stop(self) -> list[str]:
        time.sleep(1.0)            # the engine delivers events asynchronously
        self._stream.close()
        self._thread.join(5)
        return self.events


def test_async_failover_loses_hundreds_and_never_runs_two_primaries(tmp_path, docker):
    env = Environment(load_stack("registry", {"replication": "async"}))
    watch, events = None, []
    try:
        env.up()
        watch = Watch(docker, docker.api.inspect_container(env.node("db").container_name)["Id"])
        tl = Timeline(tmp_path / "timeline.jsonl", drill="db failover (async)", run=env.run_id)
        d = Drill(env, tl, allure_steps=False)
        with pytest.raises(DrillFailed) as failed:
            drill_function()(d)

        # the test's own count: acknowledged ids on the timeline against the promoted primary
        acknowledged = [w["id"] for w in tl.writes() if w.get("outcome", "ok") == "ok"]
        held = set(S.stored_move_ids(env, service="db-replica"))
        lost = [i for i in acknowledged if i not in held]
        m = LOST.search(str(failed.value))
        assert m, str(failed.value)
        assert (int(m[1]), int(m[2])) == (len(lost), len(acknowledged))
        assert len(lost) >= 100, f"only {len(lost)} writes lost: the cut did not hold long enough"

        assert S.primaries(env) == ["db-replica"]          # after the drill's body
        d.finish()                                           # the drill's end: every fault healed again
        assert S.primaries(env) == ["db-replica"]
        # between drills the plugin sees the old primary marked as handed over and starts the next
        # drill in a fresh environment instead of resetting this one (reset would leave it down too:
        # tests/lab/test_fault_heal.py; here Toxiproxy's wedged app-db proxy would make reset fail)
        assert not env.is_running(env.node("db")) and env.node("db").container_name in env.left_as_is
    finally:
        env.down()                                           # teardown
        if watch:
            events = watch.stop()
    assert events[:2] == ["kill 9", "die"] and "start" not in events, f"the old primary's events: {events}"
