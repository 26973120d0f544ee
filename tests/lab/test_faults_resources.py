"""Resource faults and the crash loop against real containers (tests/lab/environments/reslab).

For every kind: the effect seen inside the node, the effect gone after heal, and the inject/heal
events on the timeline. Each test prints its fault-to-effect latency (run with -s to see them).

Set DRILLKIT_TEST_RUN_PREFIX to prefix the run id (object names) of these runs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from drillkit import labels as L
from drillkit.errors import DockerUnavailable, FaultError
from drillkit.faults import create
from drillkit.faults.process import CrashLoop
from drillkit.faults.resources import ClockSkew, ConnectionExhaustion, CpuStress, DiskFull, MemoryPressure
from drillkit.lab.environment import Environment
from drillkit.stack import load_stack
from drillkit.timeline import Timeline

pytestmark = pytest.mark.lab

ENV_FILE = Path(__file__).parent / "environments" / "reslab" / "compose.yaml"
PREFIX = os.environ.get("DRILLKIT_TEST_RUN_PREFIX", "")


@pytest.fixture(scope="module")
def env():
    from drillkit.lab.engine import client
    try:
        client()
    except DockerUnavailable as exc:
        pytest.skip(str(exc))
    e = Environment(load_stack(str(ENV_FILE)), run_id=PREFIX + L.new_run_id())
    try:
        e.up()
        yield e
    finally:
        e.down()


@pytest.fixture
def tl():
    return Timeline()


def sh(env, service, cmd, user="0"):
    """(exit code, output) of a shell command in service-1."""
    api = env.docker.api
    ex = api.exec_create(env.node(service).container_name, ["sh", "-c", cmd], user=user)
    out = api.exec_start(ex["Id"]).decode("utf-8", "replace")
    return api.exec_inspect(ex["Id"])["ExitCode"], out


def wait_for(pred, timeout=10.0, every=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(every)
    return pred()


def events(tl, fault):
    return [(r["event"], r["detail"]) for r in tl.of("fault") if r["fault_id"] == fault.fault_id]


def latency(name, tl, t_effect):
    inject = next(r for r in tl.of("fault") if r["event"] == "inject")
    print(f"\n  {name}: effect {t_effect - inject['t']:.2f} s after the inject call "
          f"(inject returned after {inject['detail']['api_seconds']:.2f} s)")


def cpu_cores(env, window=0.4):
    """CPU the box's container used over `window` seconds, in cores (its cgroup's cpuacct)."""
    usage = "/sys/fs/cgroup/cpuacct/cpuacct.usage"
    a, b = map(int, sh(env, "box", f"cat {usage}; sleep {window}; cat {usage}")[1].split())
    return (b - a) / 1e9 / window


def rss_mb(env):
    return sum(int(x) for x in sh(env, "box", "ps -eo rss=")[1].split()) / 1024


# -- cpu_stress / memory_pressure --------------------------------------------------------------------

def test_cpu_stress_busies_the_node_and_heal_stops_it(env, tl):
    # against the same box's idle use measured here (about 0.01 core): one worker at 100 % gets well
    # under a core when other containers compete, but many times the idle use; 0.1 core is the floor
    idle = cpu_cores(env)
    busy = max(4 * idle, 0.1)
    fault = create("cpu_stress", "box", workers=1, load=100, limit=30)
    fault.inject(env, tl)
    try:
        assert wait_for(lambda: cpu_cores(env, 0.25) > busy, timeout=8), (idle, cpu_cores(env))
        latency("cpu_stress", tl, tl.now())  # within one 0.25 s sample
        stressed = cpu_cores(env)
        assert "stress-ng" in sh(env, "box", "ps -eo args")[1]
    finally:
        fault.heal(env, tl)
    assert "stress-ng" not in sh(env, "box", "ps -eo args")[1]
    assert wait_for(lambda: cpu_cores(env) < max(stressed / 3, 2 * idle), timeout=5), (idle, stressed)
    assert [e for e, _ in events(tl, fault)] == ["inject", "heal"]
    assert events(tl, fault)[0][1]["workers"] == 1 and events(tl, fault)[0][1]["load"] == 100


def test_memory_pressure_holds_memory_and_heal_frees_it(env, tl):
    before = rss_mb(env)
    fault = MemoryPressure("box", megabytes=128, limit=30)
    with fault.active(env, tl):
        assert wait_for(lambda: rss_mb(env) - before > 120, timeout=5)
        latency("memory_pressure", tl, tl.now())
        assert cpu_cores(env) < 0.5  # holds its pages, does not keep rewriting them
    assert rss_mb(env) - before < 20
    assert [e for e, _ in events(tl, fault)] == ["inject", "heal"]


def test_stress_needs_stress_ng_in_the_image(env, tl):
    with pytest.raises(FaultError, match="stress-ng.*Dockerfile"):
        CpuStress("db").inject(env, tl)


# -- disk_full ---------------------------------------------------------------------------------------

WRITE = "dd if=/dev/zero of=/data/probe bs=64k count=4 2>&1; code=$?; rm -f /data/probe; exit $code"


def test_disk_full_gives_enospc_and_heal_frees_the_space(env, tl):
    assert sh(env, "box", WRITE)[0] == 0
    fault = create("disk_full", "box", path="/data")
    with fault.active(env, tl):
        t = tl.now()
        code, out = sh(env, "box", WRITE)
        latency("disk_full", tl, t)
        assert code != 0 and "No space left on device" in out
        assert fault.filled_mb[str(env.node("box"))] > 60
    assert sh(env, "box", WRITE)[0] == 0
    assert sh(env, "box", "ls -A /data")[1].strip() == ""
    assert [e for e, _ in events(tl, fault)] == ["inject", "heal"]


def test_disk_full_leaves_what_was_asked(env, tl):
    fault = DiskFull("box", path="/data", leave_mb=8)
    with fault.active(env, tl):
        free_kb = int(sh(env, "box", "df -Pk /data | tail -1")[1].split()[3])
        assert 7 * 1024 < free_kb <= 8 * 1024 + 64
        assert sh(env, "box", WRITE)[0] == 0


def test_disk_full_refuses_a_big_filesystem(env, tl):
    code, out = sh(env, "box", "stat -f -c '%S %f' /tmp")
    bsize, bfree = map(int, out.split())
    if bsize * bfree <= 2 * 2**30:
        pytest.skip("the host has less than 2 GiB free: the bound is not reached")
    used_before = sh(env, "box", "du -sk /tmp")[1]
    with pytest.raises(FaultError, match="GiB free.*tmpfs"):
        DiskFull("box", path="/tmp").inject(env, tl)
    assert sh(env, "box", "du -sk /tmp")[1] == used_before


# -- connection_exhaustion ---------------------------------------------------------------------------

def psql(env, sql, user="postgres"):
    return sh(env, "db", f"psql -X -q -w -At -U {user} -d postgres -c \"{sql}\" 2>&1", user="postgres")


def test_connection_exhaustion_refuses_new_clients_until_healed(env, tl):
    max_conn = int(psql(env, "SHOW max_connections")[1])
    # used: client backends besides this query's own
    used = int(psql(env, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")[1]) - 1
    free = max_conn - used
    fault = create("connection_exhaustion", connections=free + 2)  # target defaults to service "db"
    with fault.active(env, tl):
        node = str(env.node("db"))
        # a background client (autovacuum worker, a health probe) may take a slot in between
        assert free - 2 <= fault.held[node] <= free
        # the fault's own report of its refused clients, where they answered within its bound (on a
        # machine with 6 CPU hogs beside it, 1 of 5 runs had clients still connecting after 30 s);
        # this test's own client below is refused either way
        assert node not in fault.refused or "too many clients" in fault.refused[node], fault.refused
        t = tl.now()
        code, out = psql(env, "SELECT 1")
        latency("connection_exhaustion", tl, t)
        assert code != 0 and "too many clients" in out
    code, out = psql(env, f"SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'drillkit-%'")
    assert (code, out.strip()) == (0, "0")
    (inject, d), (heal, _) = events(tl, fault)
    assert (inject, heal) == ("inject", "heal") and d["held"] == {node: fault.held[node]}


# -- clock_skew --------------------------------------------------------------------------------------

def clock_at(env, cmd: str, offset: float, age: float = 0.0) -> bool:
    """Whether the clock the box reports (by `cmd`) is this machine's clock + `offset`: the time it
    printed must lie between the host's clock before and after the exec (however slow the exec),
    less `age` for a value written earlier, with half a second for clock granularity."""
    before = time.time()
    seen = float(sh(env, "box", cmd)[1].split()[0])
    after = time.time()
    return before + offset - age - 0.5 <= seen <= after + offset + 0.5


def box_at(env, offset: float) -> bool:
    return clock_at(env, "date +%s.%N", offset)


def service_at(env, offset: float) -> bool:
    """The box's running service writes its clock to /tmp/now every 0.2 s (2 s: a starved box)."""
    return clock_at(env, "cat /tmp/now", offset, age=2.0)


def test_clock_skew_moves_the_clock_and_heal_puts_it_back(env, tl):
    assert box_at(env, 0) and service_at(env, 0)
    fault = create("clock_skew", "box", offset="+2h")
    with fault.active(env, tl):
        assert box_at(env, 7200)  # new processes at once
        assert wait_for(lambda: service_at(env, 7200), timeout=5)  # the running one soon
        latency("clock_skew (running service)", tl, tl.now())
    assert box_at(env, 0)
    assert wait_for(lambda: service_at(env, 0), timeout=5)
    assert [e for e, _ in events(tl, fault)] == ["inject", "heal"]

    back = ClockSkew("box", offset="-30m")
    with back.active(env, tl):
        assert box_at(env, -1800)
    assert box_at(env, 0)


def test_clock_skew_validates_and_needs_libfaketime(env, tl):
    with pytest.raises(FaultError, match="offset"):
        ClockSkew("box", offset="2 hours")
    with pytest.raises(FaultError, match="libfaketime"):
        ClockSkew("db", offset="+1h").inject(env, tl)


# -- crash_loop --------------------------------------------------------------------------------------

def watch(env, node, seconds, every=0.05, until=None):
    """Running/not running samples of a node, collapsed into runs: e.g. [False, True, False, True];
    at most `seconds`, or until `until` runs were seen."""
    runs: list[bool] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end and (until is None or len(runs) < until):
        up = env.is_running(node)
        if not runs or runs[-1] != up:
            runs.append(up)
        time.sleep(every)
    return runs


def started_at(env, node):
    return env.docker.api.inspect_container(node.container_name)["State"]["StartedAt"]


def test_crash_loop_kills_again_and_again_until_healed(env, tl):
    node = env.node("box")
    first_start = started_at(env, node)
    fault = create("crash_loop", "box", duration=30, restart_after=0.4, up_for=0.4, check_interval=0.05)
    fault.inject(env, tl)
    try:
        assert not env.is_running(node)
        latency("crash_loop (first kill)", tl, tl.now())
        t = time.monotonic()
        runs = watch(env, node, 8, until=4)
        print(f"\n  crash_loop: states {runs} in {time.monotonic() - t:.1f} s")
        assert runs[:4] == [False, True, False, True]          # dead, up, dead, up …
        assert fault.crashes[str(node)] >= 2
        assert started_at(env, node) != first_start
    finally:
        fault.heal(env, tl)
    assert env.is_running(node)
    assert watch(env, node, 1.0) == [True]  # the loop has stopped
    notes = [r["text"] for r in tl.of("note") if fault.fault_id in r["text"]]
    assert sum("killed" in n for n in notes) == fault.crashes[str(node)] - 1  # the first kill is inject's
    assert any("started" in n for n in notes)
    assert [e for e, _ in events(tl, fault)] == ["inject", "heal"]


def test_crash_loop_ends_by_itself_after_its_duration(env, tl):
    node = env.node("box")
    fault = CrashLoop("box", duration=1.5, restart_after=0.3, up_for=0.3, check_interval=0.05)
    with fault.active(env, tl):
        fault._thread.join(timeout=5)
        assert env.is_running(node)
        assert any("loop ended" in r["text"] for r in tl.of("note"))
    assert env.is_running(node) and fault.loop_error is None
    assert [e for e, _ in events(tl, fault)] == ["inject", "heal"]
