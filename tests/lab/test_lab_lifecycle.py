"""The lab against a real engine: labels, loopback ports, aliases, zones, and teardown without a trace."""

import subprocess
import sys
import time

import pytest
from lab_support import HERE, TINY, run_objects

from drillkit import labels as L
from drillkit.errors import HealthCheckFailed
from drillkit.lab.environment import Environment
from drillkit.lab.gc import collect
from drillkit.stack import load_stack


def test_every_object_carries_the_run_labels(tiny, docker):
    containers, networks, _ = run_objects(docker, tiny.run_id)
    assert len(containers) == 4  # web-1, web-2, client-1, toxiproxy
    for c in containers:
        lb = c["Labels"]
        for key in (L.RUN, L.ENVIRONMENT, L.SERVICE, L.REPLICA, L.ZONE, L.OWNER):
            assert lb.get(key), (c["Names"], key)
    zones = {c["Labels"][L.SERVICE] + c["Labels"][L.REPLICA]: c["Labels"][L.ZONE] for c in containers}
    assert zones["web1"] == "zone-a" and zones["web2"] == "zone-b"
    assert networks and all(n["Labels"][L.RUN] == tiny.run_id for n in networks)


def test_ports_are_published_on_loopback_only(tiny, docker):
    for n in tiny.nodes["web"]:
        ports = docker.api.inspect_container(n.container_name)["NetworkSettings"]["Ports"]["8000/tcp"]
        assert {p["HostIp"] for p in ports} == {"127.0.0.1"}
    import urllib.request
    assert urllib.request.urlopen(tiny.url("/"), timeout=5).read().strip() == b"hello"


def test_replica_aliases_and_link_through_toxiproxy(tiny):
    client = tiny.node("client")
    # every replica answers to <service>-<n>; the service name goes through the link's proxy
    assert "hello" in tiny.exec(client, ["python3", "-c", "import urllib.request;print(urllib.request.urlopen('http://web-2:8000/', timeout=2).read())"])
    hosts = tiny.exec(client, ["getent", "hosts", "web"])
    proxy_ip = tiny.docker.api.inspect_container(f"{tiny.run_id}-tiny-toxiproxy-1")["NetworkSettings"]["Networks"]
    assert hosts.split()[0] in {n["IPAddress"] for n in proxy_ip.values()}
    assert "hello" in tiny.exec(client, ["python3", "-c", "import urllib.request;print(urllib.request.urlopen('http://web:8000/', timeout=2).read())"])


def test_down_leaves_nothing(docker):
    env = Environment(load_stack(TINY))
    t = time.monotonic()
    env.up()
    up_s = time.monotonic() - t
    assert any(run_objects(docker, env.run_id))
    t = time.monotonic()
    env.down()
    assert time.monotonic() - t < 2 * up_s, "removing took longer than twice the start-up"
    assert run_objects(docker, env.run_id) == ([], [], [])


def test_never_healthy_fails_with_its_log_lines_and_cleans_up(docker, tiny):
    env = Environment(load_stack(HERE / "environments" / "never-healthy" / "compose.yaml"), build=False)
    t = time.monotonic()
    with pytest.raises(HealthCheckFailed) as info:
        env.up()
    assert time.monotonic() - t <= Environment.health_grace(env.spec.services["sick"]) + 15
    msg = str(info.value)
    assert "service sick" in msg and "cannot open database file" in msg
    assert run_objects(docker, env.run_id) == ([], [], [])


def test_gc_reaps_dead_runs_and_never_unlabelled_objects(docker, tiny):
    dead_owner = f"{L.owner_token().rsplit(':', 2)[0]}:999999:1"  # a pid that does not exist
    run = L.new_run_id()
    labels = {L.RUN: run, L.ENVIRONMENT: "gc-test", L.OWNER: dead_owner}
    net = docker.api.create_network(f"{run}-gc", labels=labels)["Id"]
    labelled = docker.api.create_container("drillkit/test-tiny-web:dev", name=f"{run}-gc-labelled",
                                           command=["sleep", "60"], labels=labels)["Id"]
    unlabelled = docker.api.create_container("drillkit/test-tiny-web:dev", name=f"{run}-gc-unlabelled",
                                             command=["sleep", "60"])["Id"]
    try:
        report = collect(docker)
        assert run in report.runs
        assert tiny.run_id not in report.runs  # our own live run is kept
        assert run_objects(docker, run) == ([], [], [])
        assert docker.api.inspect_container(unlabelled)["Id"] == unlabelled
    finally:
        docker.api.remove_container(unlabelled, force=True)
        for obj in (labelled,):
            try:
                docker.api.remove_container(obj, force=True)
            except Exception:
                pass
        try:
            docker.api.remove_network(net)
        except Exception:
            pass


SLOW_DRILL = f'''
import time, pytest
@pytest.mark.drill({str(TINY)!r})
def test_hangs(drill_env):
    print("UP", drill_env.run_id, flush=True)
    time.sleep(120)
'''

FIXTURE_FAILS = f'''
import pytest
@pytest.fixture
def broken(drill_env):
    print("UP", drill_env.run_id, flush=True)
    raise RuntimeError("fixture blew up")
@pytest.mark.drill({str(TINY)!r})
def test_uses_broken(broken):
    pass
@pytest.mark.drill({str(TINY)!r})
def test_fails(drill_env):
    print("UP", drill_env.run_id, flush=True)
    assert False, "stack defect"
'''


def _run_until_up(pytester, source: str):
    import signal
    path = pytester.makepyfile(source)
    # the run gets Ctrl-C as a user's terminal gives it, however this suite was started: a shell
    # starts background jobs with SIGINT ignored, and an ignored signal stays ignored across exec
    proc = subprocess.Popen([sys.executable, "-m", "pytest", str(path), "-s", "-p", "no:cacheprovider"],
                            cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    run = None
    deadline = time.monotonic() + 180
    for line in proc.stdout:
        if "UP " in line:
            run = line.split("UP ", 1)[1].split()[0]
            break
        if time.monotonic() > deadline:
            break
    assert run, "the drill never came up"
    return proc, run


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_interrupted_run_leaves_nothing(pytester, docker, sig, tiny):
    import signal
    proc, run = _run_until_up(pytester, SLOW_DRILL)
    assert run_objects(docker, run)[0]
    proc.send_signal(getattr(signal, sig))
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert run_objects(docker, run) == ([], [], []), out[-2000:]


def test_fixture_exception_and_failed_drill_leave_nothing(pytester, docker, tiny):
    pytester.makepyfile(FIXTURE_FAILS)
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, errors=1)
    runs = {line.split("UP ", 1)[1].split()[0] for line in result.outlines if "UP " in line}
    assert runs
    for run in runs:
        assert run_objects(docker, run) == ([], [], [])
