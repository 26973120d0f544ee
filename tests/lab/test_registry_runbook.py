"""The registry's promotion runbook and ground truth as data (environments/registry/compose.yaml),
against the real stack.

- The declared ground truth `writes` (an `sql` reader on the role `primary`) gives the ids the
  database holds, read directly with psql by the test; so does the same query aimed at the service.
- `promote-replica` as data: clerks keep writing while the primary (found by its role) is killed
  without heal; the runbook's steps run and are timed on the timeline; the role moves to db-replica,
  writes are acknowledged again after the runbook, and every acknowledged write is on the new primary
  (sync replication: nothing lost) - the ledger is compared with rows read directly from the database.
"""

from __future__ import annotations

import threading
import time

import pytest
import stack_support as S
import yaml
from test_registry_stack import FIGURES, start

from drillkit.drill import Drill
from drillkit.faults.process import Kill
from drillkit.stack.roles import role_nodes
from drillkit.stack.target import Target
from drillkit.stack.truth import parse_readers, read_ground_truth
from drillkit.timeline import Timeline
from drillkit.yamlsrc import load_yaml

pytestmark = [pytest.mark.lab, pytest.mark.slow]

READERS = """
writes: {kind: sql, on: db, query: SELECT id FROM moves ORDER BY id, user: registry, database: registry, host: 127.0.0.1}
on-primary: {kind: sql, on: {role: primary}, query: SELECT id FROM moves ORDER BY id, user: registry, database: registry, host: 127.0.0.1}
"""


@pytest.fixture(scope="module")
def env():
    e = start({})
    try:
        yield e
    finally:
        e.down()
        print("\nregistry runbook figures:", FIGURES)


def readers(env):
    return parse_readers(load_yaml(READERS), "readers.yaml", env.spec.services, env.spec.roles,
                         env.spec.file.parent)


def test_the_declared_writes_reader_reads_the_moves_table(env):
    url = env.url()
    token = S.login(url, "clerk-031")
    for i in range(3):
        assert S.call(url, "POST", "/moves", {"resident_id": 700 + i, "new_address": f"Datenweg {i}"}, token=token)[0] == 201
    direct = S.stored_move_ids(env)                                   # the test's own count
    declared = readers(env)
    assert read_ground_truth(env, "writes", reader=declared["writes"]).ids == direct
    assert read_ground_truth(env, "on-primary", reader=declared["on-primary"]).ids == direct
    tl = Timeline()
    gt = Drill(env, tl, allure_steps=False).ground_truth("writes")      # x-drillkit.ground_truth.writes
    assert gt.ids == direct and len(direct) >= 3 and gt.source == "sql on db"
    assert [r["what"] for r in tl.records if r["kind"] == "ground-truth"] == ["writes"]


def test_promote_replica_runbook_as_data_under_writes(env):
    """Last in the module: it kills the primary."""
    url = env.url()
    assert role_nodes(env, "primary") == [env.node("db")]
    assert S.replication_status(env)["sync_state"] == "sync"
    tokens = [S.login(url, f"clerk-{50 + i:03d}") for i in range(4)]
    ledger: list[tuple[float, str]] = []
    lock, stop = threading.Lock(), threading.Event()
    tl = Timeline()

    def clerk(i: int) -> None:
        end = time.monotonic() + 150
        n = 0
        while not stop.is_set() and time.monotonic() < end:
            n += 1
            try:
                status, body, _ = S.call(url, "POST", "/moves", {"resident_id": 800 + i, "new_address": f"Weg {i}-{n}"},
                                         token=tokens[i], timeout=10)
            except OSError:
                status, body = None, None
            if status == 201:
                with lock:
                    ledger.append((tl.now(), str(body["id"])))
            stop.wait(0.1)

    threads = [threading.Thread(target=clerk, args=(i,), daemon=True) for i in range(4)]
    for th in threads:
        th.start()
    try:
        time.sleep(2)
        kill = Kill(Target(None, role="primary"), heal="none")   # no restart: it would be a second primary
        drill = Drill(env, tl, allure_steps=False)
        drill.inject(kill)
        assert kill.targets() == [f"{env.name}/db"]
        time.sleep(1)
        result = drill.runbook("promote-replica")
        t_done = tl.now()
        time.sleep(3)
    finally:
        stop.set()
        for th in threads:
            th.join(15)
        kill.heal(env, tl)

    FIGURES["promote-replica as data (s)"] = {**result.seconds, "total": result.total}
    FIGURES["repoint"] = result.details["repoint"]
    steps = [s.name for s in env.spec.runbooks["promote-replica"].steps]
    assert list(result.seconds) == steps
    recs = [r for r in tl.records if r["kind"] == "runbook"]
    assert [(r["step"], r["event"]) for r in recs] == [(s, e) for s in steps for e in ("start", "end")]
    assert result.details["fence"] == "db already down"
    assert role_nodes(env, "primary") == [env.node("db-replica")]
    after = [i for t, i in ledger if t > t_done]
    assert after, "no write acknowledged after the runbook"
    stored = S.stored_move_ids(env, service="db-replica")                # read directly, not via the reader
    gt = read_ground_truth(env, "on-primary", reader=readers(env)["on-primary"])
    assert gt.source == "sql on db-replica" and gt.ids == stored
    lost = [i for _, i in ledger if i not in set(stored)]
    assert lost == []
    FIGURES["writes acknowledged / after the runbook / lost"] = (len(ledger), len(after), len(lost))
