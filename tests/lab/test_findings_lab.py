"""Findings on a real database pair (issue 16): a synchronous standby promoted, after which no write
ever succeeds while reads do — the drill "holds" (no acknowledged write lost), the finding says what
it could not.

The stack is examples/patroni (PostgreSQL 15 + Patroni 3.0 on 3 nodes, etcd; no change to it):
``synchronous_mode_strict`` makes a primary without a synchronous standby block every commit. The
defect variant kills the spare standby first (it stays dead), then cuts the primary off and kills
it: Patroni promotes the last standby, which has no standby of its own — its writers wait for one
that no longer exists, to the end. The sound variant keeps the spare: after the promotion it follows
the new primary, becomes its synchronous standby, and writes resume.

Every figure is checked against the test's own reading of the database with psql (asked of every
node, not through drillkit's roles): which node is primary at the end, that it has no standby, that
a fresh INSERT does not finish while a SELECT does (defect) or does (sound), and that the writes of
unknown outcome the finding counts as held are rows of the table. A watcher records ``role-reading``
records every 0.5 s (the record drillkit.verdicts.findings reads; the lead will wire a watcher of its
own): on a failover that Patroni fences properly, no split brain.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from drillkit.scenario.model import load_scenario
from drillkit.scenario.runner import run_scenario
from drillkit.verdicts.findings import NEVER_AGAIN, ROLE_READING, SPLIT_BRAIN, UNKNOWN_HELD, CRITICAL, examine

pytestmark = [pytest.mark.lab, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "patroni"
ENV = str(EXAMPLE / "environments" / "patroni" / "compose.yaml")

SCENARIO = """
scenario: "patroni: {title}"
source: "issue 16: a synchronous standby promoted; its writes wait for a standby that no longer exists"
environment: {env}
clients:
  writers: 8                        # a write hangs 2 s, then the reconnect waits on the dead node: ~1 per 5 s
  readers:                          # read-write host (the primary): reads need no standby
    kind: postgres
    service: pg
    database: drill
    user: drill
    password: drill
    statement: SELECT count(*) FROM writes
    count: 2
    think: 100ms
    timeout: 2s
probe: false
steady_state:
  duration: 3s
  availability: {{writers: 0.95, readers: 0.95}}
faults:
{spare}  - kind: partition                 # the primary cut off from its standby(s) ...
    side_a: [primary]
    side_b: [replica]
    at: 6s
    for: 6s
  - kind: kill                      # ... and killed before the cut heals; it stays dead
    target: {{role: primary}}
    at: 8s
    for: 1s
    heal:
      - {{name: failover, wait_until: {{on: {{role: primary}}, command: "true", deadline: 60s}}}}
observe: 35s
recover: 2s
expect:
  writes_lost: 0                    # holds in both variants: strict mode never acknowledges a lost write
"""

SPARE_KILLED = """  - kind: kill                      # the spare standby dies first and stays dead
    target: {role: replica}
    at: 0s
    heal: none
"""


def psql(drill, node, query: str, *, database: str = "drill", seconds: int = 5) -> tuple[int | None, str]:
    """(exit code, output) of psql inside ``node``; 124 when it did not finish within ``seconds``."""
    code, out = drill.env.backend.exec(node, ["timeout", str(seconds), "psql", "-U", "postgres", "-d", database,
                                              "-Atc", query], user="")
    return code, out.strip()


def primary_now(drill):
    """The one node whose PostgreSQL is not in recovery, asked of every running node."""
    found = [n for n in drill.env.nodes["pg"] if drill.env.is_running(n)
             and psql(drill, n, "SELECT pg_is_in_recovery()", database="postgres")[1] == "f"]
    assert len(found) == 1, f"not exactly one primary at the end: {[n.name for n in found]}"
    return found[0]


class RoleWatch:
    """Reads who holds role ``primary`` every ``every`` s and writes ``role-reading`` records."""

    def __init__(self, drill, role: str = "primary", every: float = 0.5):
        self.drill, self.role, self.every = drill, role, every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="test-role-watch", daemon=True)

    def run(self) -> None:
        tl = self.drill.timeline
        while not self.stop.is_set():
            t = tl.now()
            errors = {}
            try:
                holders = sorted(n.name for n in self.drill.role_nodes(self.role))
            except Exception as exc:   # a reading that could not be made decides nothing
                holders, errors = [], {"*": f"{type(exc).__name__}: {exc}"[:200]}
            tl.add(ROLE_READING, t=t, t_end=round(tl.now(), 6), role=self.role, holders=holders, max_holders=1,
                   errors=errors)
            self.stop.wait(self.every)

    def __enter__(self) -> "RoleWatch":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def run(drill, tmp_path, *, spare_killed: bool):
    path = tmp_path / "last_standby.yaml"
    title = ("the last standby is promoted; no write succeeds after it" if spare_killed
             else "a standby is promoted; the spare follows it and writes resume")
    path.write_text(SCENARIO.format(env=ENV, title=title, spare=SPARE_KILLED if spare_killed else ""),
                    encoding="utf-8")
    with RoleWatch(drill):
        run_scenario(load_scenario(path), drill)        # writes_lost: 0 holds, or this raises DrillFailed
    return examine(drill.timeline)


def readings(drill, role: str = "primary") -> list[dict]:
    """The role-reading records of ``role``: the runner's own watcher also reads the other roles
    (``replica`` with its two holders), each record names its role."""
    return sorted((r for r in drill.timeline.of(ROLE_READING) if r.get("role") == role), key=lambda r: r["t"])


def check_the_role_moved_without_split_brain(drill, ex) -> None:
    rs = readings(drill)
    assert len(rs) >= 20, f"only {len(rs)} role readings"
    first = next(r["holders"] for r in rs if r["holders"])
    last = next(r["holders"] for r in reversed(rs) if r["holders"])
    assert len(first) == len(last) == 1 and first != last, (first, last)   # the role moved with the failover
    assert any(not r["holders"] for r in rs), "no reading caught the failover without a primary"
    assert max(len(r["holders"]) for r in rs) == 1
    assert not [f for f in ex.findings if f.kind == SPLIT_BRAIN]


@pytest.mark.drill(ENV, fault="kill + partition + kill", scenario="patroni: the last standby promoted",
                   severity="critical")
def test_the_last_standby_promoted_never_takes_a_write_and_the_finding_says_so(drill, tmp_path):
    ex = run(drill, tmp_path, spare_killed=True)
    never = {f.subject: f for f in ex.findings if f.kind == NEVER_AGAIN}
    assert set(never) == {"writers"}, [f.sentence for f in ex.findings]     # the readers work again
    f = never["writers"]
    assert f.severity == CRITICAL and f.sentence.startswith("writers: no request succeeded after ")
    # the test's own reading: the promoted node has no standby, and a write does not finish while a read does
    primary = primary_now(drill)
    assert psql(drill, primary, "SELECT count(*) FROM pg_stat_replication", database="postgres")[1] == "0"
    code, _ = psql(drill, primary, "INSERT INTO writes (id, writer) VALUES (gen_random_uuid(), 'test')",
                   seconds=3)
    assert code == 124, f"a write finished on {primary.name} (exit {code}): the defect did not show"
    assert psql(drill, primary, "SELECT count(*) FROM writes")[0] == 0
    # nothing the writers sent from the named event on succeeded: counted from the timeline file itself
    sent = [r for r in drill.timeline.probes("writers") if r["t"] >= f.details["since_t"]]
    assert len(sent) == f.details["failed"] >= 20 and not any(r["ok"] for r in sent)
    readers = drill.timeline.probes("readers")
    assert readers[-1]["ok"] and any(r["ok"] for r in readers if r["t"] >= f.details["since_t"])
    # the writes that timed out after the promotion were committed locally: rows of the table
    held = [h for h in ex.findings if h.kind == UNKNOWN_HELD]
    if held:
        code, rows = psql(drill, primary, "SELECT id FROM writes")
        assert code == 0 and set(held[0].details["ids"]) <= set(rows.splitlines())
    check_the_role_moved_without_split_brain(drill, ex)


@pytest.mark.drill(ENV, fault="partition + kill", scenario="patroni: a standby promoted, the spare follows",
                   severity="critical")
def test_with_a_spare_standby_writes_resume_and_there_is_no_such_finding(drill, tmp_path):
    ex = run(drill, tmp_path, spare_killed=False)
    assert not [f for f in ex.findings if f.kind == NEVER_AGAIN], [f.sentence for f in ex.findings]
    primary = primary_now(drill)
    code, _ = psql(drill, primary, "INSERT INTO writes (id, writer) VALUES (gen_random_uuid(), 'test')",
                   seconds=10)
    assert code == 0, f"a write did not finish on {primary.name} (exit {code})"
    writers = drill.timeline.probes("writers")
    assert writers[-1]["ok"]
    check_the_role_moved_without_split_brain(drill, ex)
