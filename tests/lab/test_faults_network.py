"""Network, link and zone faults against real containers (tests/lab/environments/netlab).

Every fault kind shows its effect from inside the lab's own containers, then its heal: the effect is
gone, no iptables rule or toxic is left, and the timeline holds the inject and heal events.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from drillkit.errors import DockerUnavailable, FaultError
from drillkit.faults.kinds import create
from drillkit.faults.link import Bandwidth, Latency, LimitData, LinkDown, ResetPeer, Slicer, SlowClose, Timeout
from drillkit.faults.network import DnsFailure, Isolate, Partition
from drillkit.faults.zone import ZoneKill, ZonePartition
from drillkit.lab.environment import Environment
from drillkit.stack import load_stack
from drillkit.stack.target import Target
from drillkit.timeline import Timeline

pytestmark = [pytest.mark.lab]

NETLAB = "tests/lab/environments/netlab/compose.yaml"
BLOB = 50_000  # bytes of /blob on the store

# Connects to every host:port given, in parallel, 0.6 s timeout each: {"host:port": "ok" | error}.
CONNECT = """
import json, socket, sys, threading
out = {}
def one(hp):
    host, port = hp.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), 0.6).close(); out[hp] = "ok"
    except Exception as e:
        out[hp] = type(e).__name__
ts = [threading.Thread(target=one, args=(hp,)) for hp in sys.argv[1:]]
[t.start() for t in ts]; [t.join() for t in ts]
print(json.dumps(out))
"""

# GET /blob from the store through the link, reading to EOF: bytes, recv() calls, seconds, error.
FETCH = """
import json, socket, time
t = time.monotonic(); got = chunks = 0; err = None; first = None
try:
    s = socket.create_connection(("store", 9000), 1); s.settimeout(1)
    s.sendall(b"GET /blob HTTP/1.0\\r\\nHost: store\\r\\n\\r\\n")
    while True:
        b = s.recv(65536)
        if not b:
            break
        first = first or time.monotonic() - t
        got += len(b); chunks += 1
except Exception as e:
    err = type(e).__name__
print(json.dumps({"bytes": got, "chunks": chunks, "seconds": round(time.monotonic() - t, 3),
                  "first_byte": first and round(first, 3), "error": err}))
"""

# getent hosts NAME under a 1 s timeout: exit code (0 found, 2 not found, 124 timed out), seconds.
LOOKUP = """
import json, subprocess, sys, time
t = time.monotonic()
r = subprocess.run(["timeout", "1", "getent", "hosts", sys.argv[1]], capture_output=True)
print(json.dumps({"rc": r.returncode, "seconds": round(time.monotonic() - t, 3)}))
"""

EFFECT: dict[str, str] = {}  # kind -> what was observed, printed at the end (pytest -s)


@pytest.fixture(scope="module")
def env():
    try:
        from drillkit.lab.engine import client
        client()
    except DockerUnavailable as exc:
        pytest.skip(str(exc))
    e = Environment(load_stack(NETLAB))
    try:
        e.up()
        e.exec(e.node("store"), ["python3", "-c", f"open('/srv/blob', 'wb').write(b'x' * {BLOB})"])
        yield e
    finally:
        e.down()
        for kind, seen in sorted(EFFECT.items()):
            print(f"\n{kind:15} {seen}", end="")


@pytest.fixture
def tl():
    return Timeline()


def run_py(env: Environment, node: str, script: str, *args: str) -> dict:
    svc, _, rep = node.rpartition("-")
    out = env.exec(env.node(svc, int(rep)), ["python3", "-c", script, *args])
    return json.loads(out.strip().splitlines()[-1])


def connect(env: Environment, node: str, *targets: str) -> dict[str, str]:
    return run_py(env, node, CONNECT, *targets)


def fetch(env: Environment, node: str = "client-1") -> dict:
    return run_py(env, node, FETCH)


def lookup(env: Environment, node: str, name: str) -> dict:
    return run_py(env, node, LOOKUP, name)


def events(tl: Timeline, fault) -> list[str]:
    return [r["event"] for r in tl.of("fault") if r["fault_id"] == fault.fault_id]


def no_rules_left(env: Environment, fault) -> None:
    for node in env.all_nodes():
        assert f"drillkit-{fault.fault_id} " not in env.exec(node, ["iptables", "-S"]) + " ", node


def note(kind: str, tl: Timeline, fault, t_effect: float, extra: str = "") -> None:
    inject = next(r for r in tl.of("fault") if r["fault_id"] == fault.fault_id and r["event"] == "inject")
    EFFECT[kind] = (f"inject call {inject['detail']['api_seconds'] * 1000:.0f} ms; the first probe, begun "
                    f"{(t_effect - inject['t']) * 1000:.0f} ms after the call began, saw the effect "
                    f"{extra}").rstrip()


# -- network.py ------------------------------------------------------------------------------------

def test_partition_both_ways_also_through_the_link(env, tl):
    before = connect(env, "client-1", "web-1:8080", "web-2:8080", "store:9000")
    assert set(before.values()) == {"ok"}
    fault = Partition(side_a=["client"], side_b=["web", "store"])
    with fault.active(env, tl):
        t_effect = tl.now()
        during = connect(env, "client-1", "web-1:8080", "web-2:8080", "store:9000")
        back = connect(env, "web-2", "client-1:8080", "client-2:8080", "store-1:9000")
        assert set(during.values()) == {"TimeoutError"}, during  # store:9000 goes through Toxiproxy
        assert back == {"client-1:8080": "TimeoutError", "client-2:8080": "TimeoutError",
                        "store-1:9000": "ok"}
        assert fault.rules_left(env, env.node("client", 2))
    note("partition", tl, fault, t_effect)
    assert set(connect(env, "client-1", "web-1:8080", "store:9000").values()) == {"ok"}
    no_rules_left(env, fault)
    assert events(tl, fault) == ["inject", "heal"]
    assert tl.fault_windows()[0].targets == ("netlab/client-1", "netlab/client-2", "netlab/web-1",
                                             "netlab/web-2", "netlab/store")   # one replica: its service's name


def test_partition_one_way(env, tl):
    fault = create("partition", side_a=["client-1"], side_b=["web-1"], direction="a-to-b")
    with fault.active(env, tl):
        assert connect(env, "client-1", "web-1:8080", "web-2:8080") == {"web-1:8080": "TimeoutError",
                                                                        "web-2:8080": "ok"}
        assert connect(env, "web-1", "client-1:8080") == {"client-1:8080": "ok"}  # B still reaches A
    assert connect(env, "client-1", "web-1:8080") == {"web-1:8080": "ok"}
    no_rules_left(env, fault)
    assert events(tl, fault) == ["inject", "heal"]


def test_partition_refuses_what_is_not_in_the_environment(env, tl):
    with pytest.raises(FaultError, match=r"side_b: 'payments' is not a service.*fix: use one of client, store, web"):
        Partition(side_a=["web"], side_b=["payments"]).inject(env, tl)
    with pytest.raises(FaultError, match="web-1 is on both sides"):
        Partition(side_a=["web"], side_b=["web-1"]).inject(env, tl)
    with pytest.raises(FaultError, match="direction"):
        Partition(side_a=["web"], side_b=["client"], direction="up")
    assert list(tl.of("fault")) == []


def test_isolate_cuts_one_node_from_every_container(env, tl):
    fault = Isolate(Target("web", replica=1))
    with fault.active(env, tl):
        t_effect = tl.now()
        assert set(connect(env, "web-1", "web-2:8080", "client-1:8080", "store-1:9000").values()) \
            == {"TimeoutError"}
        assert connect(env, "client-1", "web-1:8080", "web-2:8080") == {"web-1:8080": "TimeoutError",
                                                                        "web-2:8080": "ok"}
        # the host still reaches it through its published port
        with urllib.request.urlopen(f"http://127.0.0.1:{env.host_port('web', 8080)}/", timeout=2) as r:
            assert r.status == 200
    note("isolate", tl, fault, t_effect)
    assert connect(env, "web-1", "web-2:8080", "store-1:9000") == {"web-2:8080": "ok", "store-1:9000": "ok"}
    no_rules_left(env, fault)
    assert events(tl, fault) == ["inject", "heal"]


@pytest.mark.parametrize("mode, rc", [("fail", 2), ("timeout", 124)])
def test_dns_failure_one_name(env, tl, mode, rc):
    fault = DnsFailure("client", name="web", mode=mode)
    with fault.active(env, tl):
        t_effect = tl.now()
        broken = lookup(env, "client-1", "web")
        assert broken["rc"] == rc, broken
        assert lookup(env, "client-2", "WEB")["rc"] == rc  # DNS names are case-insensitive
        assert lookup(env, "client-1", "web-1")["rc"] == 0  # other names still resolve
        assert lookup(env, "web-1", "web")["rc"] == 0  # other services still resolve it
    note(f"dns_failure/{mode}", tl, fault, t_effect, f"(getent exit {broken['rc']} in {broken['seconds']} s)")
    assert lookup(env, "client-1", "web")["rc"] == 0
    no_rules_left(env, fault)
    assert events(tl, fault) == ["inject", "heal"]


def test_dns_failure_refuses_a_name_pinned_in_etc_hosts(env, tl):
    fault = DnsFailure("client", name="store")
    with pytest.raises(FaultError, match=r"pinned.*link_down on link 'client-store'"):
        fault.inject(env, tl)
    fault.heal(env, tl)  # nothing was inserted; heal has nothing to do
    no_rules_left(env, fault)


# -- link.py ---------------------------------------------------------------------------------------

# Each toxic: its effect on one fetch (bounds from the toxic's own figures, with room for timer
# granularity: slowness of the machine only lengthens a fetch), and the effect gone after the heal,
# judged against the fetch during the toxic in the same test - never against a fixed time.
def _latency(r):  # 300 ms ± 10 ms before the first byte
    assert r["bytes"] > BLOB and r["first_byte"] >= 0.9 * (300 - 10) / 1000, r


def _latency_gone(after, during):
    return after["first_byte"] < during["first_byte"] / 2


def _bandwidth(r):  # 50 KB at 100 KB/s: about 0.5 s
    assert r["bytes"] > BLOB and r["seconds"] >= 0.8 * BLOB / (100 * 1000), r


def _bandwidth_gone(after, during):
    return after["seconds"] < during["seconds"] / 2


def _tail(r):  # from the first byte to the end of the stream
    return r["seconds"] - r["first_byte"]


def _slow_close(r):  # the data as usual, the EOF 500 ms later (the first byte may come a little after
    assert r["bytes"] > BLOB and _tail(r) >= 0.6 * 0.5, r   # the store closed: less than 500 ms apart)


def _slow_close_gone(after, during):
    return _tail(after) < _tail(during) / 2


def _hang(r):
    assert r["bytes"] == 0 and r["error"] == "TimeoutError", r


def _reset(r):
    assert r["bytes"] == 0 and r["error"] in ("ConnectionResetError", None), r


def _sliced(r):  # ~100-byte pieces 0.5 ms apart instead of a few large reads
    assert r["bytes"] > BLOB and r["chunks"] >= 100, r


def _sliced_gone(after, during):
    return after["chunks"] < during["chunks"] / 2


def _limited(r):
    assert 0 < r["bytes"] <= 1000 and r["error"] is None, r


def _whole(after, during):  # the whole blob, no error: checked for every kind
    return True


TOXICS = [
    ("latency", lambda: Latency(link="client-store", latency=300, jitter=10), _latency, _latency_gone),
    ("bandwidth", lambda: Bandwidth(link="client-store", rate=100), _bandwidth, _bandwidth_gone),
    ("slow_close", lambda: SlowClose(link="client-store", delay=500), _slow_close, _slow_close_gone),
    # upstream: the request never reaches the store (downstream, the store's close still ends it)
    ("timeout", lambda: Timeout(link="client-store", timeout=0, stream="upstream"), _hang, _whole),
    ("reset_peer", lambda: ResetPeer(link="client-store", timeout=0), _reset, _whole),
    ("slicer", lambda: Slicer(link="client-store", average_size=100, size_variation=20, delay=500),
     _sliced, _sliced_gone),
    ("limit_data", lambda: LimitData(link="client-store", bytes=1000), _limited, _whole),
]


@pytest.mark.parametrize("kind, make, effect, gone", TOXICS, ids=[t[0] for t in TOXICS])
def test_toxic(env, tl, kind, make, effect, gone):
    base = fetch(env)
    assert base["bytes"] > BLOB and base["error"] is None, base
    fault = make()
    with fault.active(env, tl):
        assert [t["name"] for t in env.links.toxics("client-store")] == [fault.toxic.key]
        t_effect = tl.now()
        during = fetch(env)
        effect(during)
    note(kind, tl, fault, t_effect, f"({during['seconds']} s, {during['bytes']} B, {during['chunks']} reads"
                                    f"{', ' + during['error'] if during['error'] else ''})")
    assert env.links.toxics("client-store") == []
    for _ in range(3):  # a busy moment of the shared machine can slow one fetch: up to 3 tries
        after = fetch(env)
        assert after["bytes"] > BLOB and after["error"] is None, after
        if gone(after, during):
            break
    else:
        pytest.fail(f"{kind}: still in effect after the heal: {after} (during: {during})")
    assert events(tl, fault) == ["inject", "heal"]


def test_toxic_upstream_with_toxicity_zero_still_deleted_on_heal(env, tl):
    fault = create("latency", link="client-store", latency=300, stream="upstream", toxicity=0.0)
    with fault.active(env, tl):
        (toxic,) = env.links.toxics("client-store")
        assert (toxic["stream"], toxic["toxicity"]) == ("upstream", 0.0)
    assert env.links.toxics("client-store") == []


def test_link_down(env, tl):
    fault = LinkDown(link="client-store")
    with fault.active(env, tl):
        t_effect = tl.now()
        assert connect(env, "client-1", "store:9000") == {"store:9000": "ConnectionRefusedError"}
        assert env.links.proxy("client-store")["enabled"] is False
    note("link_down", tl, fault, t_effect)
    assert env.links.proxy("client-store")["enabled"] is True
    assert fetch(env)["bytes"] > BLOB
    assert events(tl, fault) == ["inject", "heal"]


def test_link_fault_refuses_an_unknown_link(env, tl):
    with pytest.raises(FaultError, match=r"no link 'app-db'.*fix: use one of client-store"):
        Latency(link="app-db", latency=100).inject(env, tl)
    with pytest.raises(FaultError, match="not on a target"):
        Latency("client", link="client-store", latency=100)
    assert list(tl.of("fault")) == []


# -- zone.py ---------------------------------------------------------------------------------------

def test_zone_kill_and_heal(env, tl):
    fault = ZoneKill(zone="zone-a")
    with fault.active(env, tl):
        t_effect = tl.now()  # the kill has returned: the nodes are down
        running = {n.name: env.is_running(n) for n in env.all_nodes()}
        assert running == {"web-1": False, "web-2": True, "client-1": False, "client-2": True,
                           "store": True}
    heal = next(r for r in tl.of("fault") if r["event"] == "heal")
    note("zone_kill", tl, fault, t_effect, f"(heal to healthy {heal['detail']['api_seconds']:.2f} s)")
    assert all(env.is_running(n) for n in env.all_nodes())
    assert connect(env, "client-2", "web-1:8080", "client-1:8080") == {"web-1:8080": "ok",
                                                                       "client-1:8080": "ok"}
    assert events(tl, fault) == ["inject", "heal"]
    assert sorted(tl.fault_windows()[0].targets) == ["netlab/client-1", "netlab/web-1"]


def test_zone_partition(env, tl):
    fault = ZonePartition(zone="zone-a")
    with fault.active(env, tl):
        t_effect = tl.now()
        a = connect(env, "client-1", "web-1:8080", "web-2:8080", "client-2:8080", "store:9000")
        assert a == {"web-1:8080": "ok", "web-2:8080": "TimeoutError", "client-2:8080": "TimeoutError",
                     "store:9000": "TimeoutError"}, a
        b = connect(env, "client-2", "web-1:8080", "web-2:8080", "store:9000")
        assert b == {"web-1:8080": "TimeoutError", "web-2:8080": "ok", "store:9000": "ok"}, b
    note("zone_partition", tl, fault, t_effect)
    assert set(connect(env, "client-1", "web-2:8080", "store:9000").values()) == {"ok"}
    no_rules_left(env, fault)
    assert events(tl, fault) == ["inject", "heal"]


def test_zone_faults_refuse_an_unknown_zone(env, tl):
    for kind in ("zone_kill", "zone_partition"):
        with pytest.raises(FaultError, match=r"no zone 'zone-c'.*use one of zone-a, zone-b"):
            create(kind, zone="zone-c").inject(env, tl)
    assert list(tl.of("fault")) == []
