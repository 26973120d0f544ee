"""The lab's engine-neutral parts without an engine: backend choice, the swarm plan, start-up order,
the health loop, and the variables that let one Compose file serve the lab and plain docker-compose."""

import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from drillkit.errors import ConfigError, LabError
from drillkit.lab.backend import backend_name
from drillkit.lab.backends.swarm import plan as P
from drillkit.lab.compose import lab_variables, link_port_variable
from drillkit.lab.health import LOOP_EXIT_TIMEOUT, health_grace, wait_loop_command
from drillkit.lab.startup import start_in_order
from drillkit.stack import load_stack

ROOT = Path(__file__).resolve().parents[2]
SWARMLAB = ROOT / "tests/lab/environments/swarmlab/compose.yaml"


# -- backend choice --------------------------------------------------------------------------------
def test_backend_defaults_to_docker_and_reads_the_environment(monkeypatch):
    monkeypatch.delenv("DRILLKIT_BACKEND", raising=False)
    assert backend_name() == "docker"
    monkeypatch.setenv("DRILLKIT_BACKEND", "Swarm")
    assert backend_name() == "swarm"
    assert backend_name("docker", "--drill-backend") == "docker"


def test_unknown_backend_is_one_line_naming_its_source(monkeypatch):
    monkeypatch.setenv("DRILLKIT_BACKEND", "k8s")
    with pytest.raises(ConfigError) as info:
        backend_name()
    assert str(info.value).startswith("environment variable DRILLKIT_BACKEND: unknown backend 'k8s'")
    assert "docker, swarm" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("source", ["cli", "env", "ini"])
def test_backend_option_from_each_source(pytester, monkeypatch, source):
    monkeypatch.delenv("DRILLKIT_BACKEND", raising=False)
    pytester.makepyfile("def test_x(drill_settings): print('BACKEND', drill_settings.backend)")
    args = ["-s"]
    if source == "cli":
        args.append("--drill-backend=swarm")
    elif source == "env":
        monkeypatch.setenv("DRILLKIT_BACKEND", "swarm")
    else:
        pytester.makeini("[pytest]\ndrill_backend = swarm\n")
    pytester.runpytest_subprocess(*args).stdout.fnmatch_lines(["*BACKEND swarm*"])


def test_bad_backend_option_names_its_source(pytester):
    pytester.makeini("[pytest]\ndrill_backend = kubernetes\n")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest_subprocess()
    result.stderr.fnmatch_lines(["*ini option drill_backend: unknown backend 'kubernetes'*"])
    assert result.ret != 0


# -- one Compose file for the lab and for plain docker-compose ---------------------------------------
def test_lab_variables_name_each_link_port_and_the_replica_aliases():
    links = [{"name": "app-db", "port": 5432}, {"name": "replication", "port": 5432, "listen": 5433}]
    assert lab_variables(links) == {"DRILLKIT_REPLICA_ALIASES": "yes", "DRILLKIT_LINK_APP_DB_PORT": "5432",
                                    "DRILLKIT_LINK_REPLICATION_PORT": "5433"}
    assert link_port_variable("identity-db") == "DRILLKIT_LINK_IDENTITY_DB_PORT"
    assert lab_variables("not a list") == {"DRILLKIT_REPLICA_ALIASES": "yes"}


def test_registry_dials_its_links_in_the_lab_and_direct_without_it():
    spec = load_stack(ROOT / "environments/registry/compose.yaml")
    assert spec.services["db-replica"].environment["PRIMARY_PORT"] == "5433"   # the link `replication`
    assert spec.services["identity"].environment["DB_PORT"] == "5434"          # the link `identity-db`
    assert spec.services["lb"].environment["REPLICA_ALIASES"] == "yes"
    raw = yaml.safe_load((ROOT / "environments/registry/compose.yaml").read_text())["services"]
    # what plain docker-compose reads: the defaults, a direct connection and service-name servers
    assert raw["db-replica"]["environment"]["PRIMARY_PORT"] == "${DRILLKIT_LINK_REPLICATION_PORT:-5432}"
    assert raw["identity"]["environment"]["DB_PORT"] == "${DRILLKIT_LINK_IDENTITY_DB_PORT:-5432}"
    for stack in ("registry", "booking", "identity"):
        services = yaml.safe_load((ROOT / f"environments/{stack}/compose.yaml").read_text())["services"]
        assert services["lb"]["environment"]["REPLICA_ALIASES"] == "${DRILLKIT_REPLICA_ALIASES:-no}"
        assert all(str(p).startswith("127.0.0.1:") for s in services.values() for p in s.get("ports", []))


@pytest.mark.parametrize("stack, cfg", [("registry", "haproxy.cfg"), ("registry", "identity.cfg"),
                                        ("booking", "haproxy.cfg"), ("identity", "haproxy.cfg")])
def test_lb_servers_fall_back_to_the_service_name_without_replica_aliases(stack, cfg):
    entry = (ROOT / f"environments/{stack}/lb/entrypoint.sh").read_text()
    expr = re.search(r"sed -E '([^']+)'", entry).group(1)
    text = (ROOT / f"environments/{stack}/lb/{cfg}").read_text()
    out = subprocess.run(["sed", "-E", expr], input=text, capture_output=True, text=True, check=True).stdout
    before = re.findall(r"^\s*server\s+(\S+)\s+(\S+?):\d+", text, re.M)
    after = re.findall(r"^\s*server\s+(\S+)\s+(\S+?):\d+", out, re.M)
    assert before and all(name == addr for name, addr in before)          # the lab: per-replica aliases
    assert [n for n, _ in after] == [n for n, _ in before]                 # same servers, same cookies
    assert all(addr == name.rsplit("-", 1)[0] for name, addr in after)    # compose: the service name


# -- the swarm plan -------------------------------------------------------------------------------
def test_swarm_plan_puts_each_zone_on_its_own_node_with_distinct_node_ports():
    spec = load_stack(ROOT / "environments/registry/compose.yaml")
    assert P.zones(spec) == ["default", "zone-a", "zone-b"]
    ports = P.plan_ports(spec)
    per_node = {}
    for p in ports:
        per_node.setdefault(p.zone, []).append(p.node_port)
    assert all(len(v) == len(set(v)) for v in per_node.values())
    assert {(p.service, p.target) for p in ports if p.zone == "default"} >= {("lb", 8080), ("toxiproxy", 8474),
                                                                            ("toxiproxy", 5433)}
    images = P.images_by_zone(spec, "drillkit/toxiproxy:x")
    assert images["zone-a"] == ["drillkit/registry-app:dev"]
    assert "drillkit/toxiproxy:x" in images["default"] and "drillkit/registry-db:dev" in images["default"]
    assert P.constraint("zone-a") == "node.labels.drillkit.zone==zone-a"


def test_swarmlab_plan():
    spec = load_stack(SWARMLAB)
    assert P.zones(spec) == ["default", "zone-a", "zone-b"]
    assert [(p.service, p.zone) for p in P.plan_ports(spec)] == [("toxiproxy", "default"), ("toxiproxy", "default"),
                                                                ("lb", "default")]


# -- start-up order ---------------------------------------------------------------------------------
def _spec(text: str, tmp_path: Path):
    p = tmp_path / "compose.yaml"
    p.write_text(text)
    return load_stack(p)


def test_services_start_when_their_conditions_hold_and_a_failure_aborts_the_rest(tmp_path):
    spec = _spec("""
services:
  db: {image: x, healthcheck: {test: ["CMD", "true"]}}
  cache: {image: x}
  app: {image: x, depends_on: {db: {condition: service_healthy}, cache: {condition: service_started}}}
  lb: {image: x, depends_on: [app]}
""", tmp_path)
    events, lock = [], threading.Lock()

    def note(what):
        with lock:
            events.append(what)

    def start(svc):
        note(f"start {svc.name}")
        return [svc.name]

    def ready(svc, node, deadline):
        time.sleep({"db": 0.2, "cache": 0.0, "app": 0.1, "lb": 0.0}[svc.name])
        note(f"ready {svc.name}")

    start_in_order(spec.services, start=start, ready=ready, deadline=time.monotonic() + 10,
                   abort=threading.Event())
    assert events.index("start app") > events.index("ready db")      # service_healthy
    assert events.index("start app") > events.index("start cache")   # service_started
    assert events.index("start lb") > events.index("start app") and events.index("start lb") < events.index("ready app")

    def failing(svc, node, deadline):
        if svc.name == "db":
            raise LabError("db never healthy")
    abort = threading.Event()
    with pytest.raises(LabError, match="db never healthy"):
        start_in_order(spec.services, start=start, ready=failing, deadline=time.monotonic() + 10, abort=abort)
    assert abort.is_set()


def test_gates_hold_a_service_back(tmp_path):
    spec = _spec("services:\n  aa: {image: x}\n  bb: {image: x}\n", tmp_path)
    gate, started = threading.Event(), []
    threading.Timer(0.2, gate.set).start()
    t0 = time.monotonic()
    start_in_order(spec.services, start=lambda s: started.append((s.name, time.monotonic() - t0)) or [],
                   ready=lambda *a: None, gates=lambda s: [gate] if s.name == "bb" else [],
                   deadline=time.monotonic() + 5, abort=threading.Event())
    times = dict(started)
    assert times["aa"] < 0.15 <= times["bb"]


# -- the health loop ----------------------------------------------------------------------------------
def test_health_loop_forms():
    assert wait_loop_command(["NONE"], check_timeout=2, limit=10) is None
    cmd = wait_loop_command(["CMD", "pg_isready", "-q"], check_timeout=2, limit=15)
    assert cmd[:3] == ["timeout", "15", "sh"] and cmd[-2:] == ["pg_isready", "-q"]
    shell = wait_loop_command(["CMD-SHELL", "redis-cli ping | grep -q PONG"], check_timeout=2, limit=15)
    assert shell[-1] == "redis-cli ping | grep -q PONG"
    assert health_grace({"retries": 1, "interval": 1, "timeout": 1}) == 15.0   # at least 15 s
    assert health_grace({"start_period": 15, "retries": 3, "interval": 3, "timeout": 2}) == 90.0


def test_health_loop_returns_when_the_test_passes_and_124_when_it_never_does(tmp_path):
    flag = tmp_path / "ready"
    cmd = wait_loop_command(["CMD", "test", "-e", str(flag)], check_timeout=1, limit=5)
    threading.Timer(0.4, flag.touch).start()
    t0 = time.monotonic()
    assert subprocess.run(cmd).returncode == 0
    assert 0.3 < time.monotonic() - t0 < 3
    never = wait_loop_command(["CMD-SHELL", f"test -e {tmp_path}/never"], check_timeout=1, limit=1)
    assert subprocess.run(never).returncode == LOOP_EXIT_TIMEOUT
