"""The Compose subset: valid files load, bad input is one line naming file:line, service and key."""

import textwrap
from pathlib import Path

import pytest

from drillkit.errors import ConfigError
from drillkit.lab.compose import load_environment

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "compose.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_registry_environment_loads_with_switches_and_links():
    spec = load_environment(ROOT / "environments/registry/compose.yaml")
    assert spec.stack == "registry"
    assert spec.services["app"].replicas == 4
    assert [spec.services["app"].zone_of(r) for r in (1, 2, 3, 4)] == ["zone-a", "zone-a", "zone-b", "zone-b"]
    assert {"app-db", "app-sessions"} <= {l.name for l in spec.links}
    assert spec.entrypoint == ("lb", 8080)
    assert spec.chosen["sessions"] == "shared" and spec.chosen["lb_health"] == "fast"
    assert spec.start_order()[-1] == ["lb"]


def test_switch_is_interpolated(tmp_path):
    spec = load_environment(ROOT / "environments/registry/compose.yaml", {"sessions": "node-local"})
    assert spec.services["app"].environment["SESSIONS"] == "node-local"


@pytest.mark.parametrize("body, where, words", [
    ("""
     services:
       web:
         image: x
         privileged: true
     """, ":5: services.web.privileged", "unsupported key 'privileged'"),
    ("""
     services:
       web:
         build: ./nope
     """, ":4: services.web.build", "build context './nope' does not exist"),
    ("""
     services:
       aa:
         image: x
         depends_on: [bb]
       bb:
         image: x
         depends_on: [aa]
     """, "services.aa.depends_on", "depends_on cycle: aa -> bb -> aa"),
    ("""
     services:
       web:
         image: x
         ports: ["8080:80"]
     """, ":5: services.web.ports", "not bound to 127.0.0.1"),
    ("""
     services:
       web:
         image: x
         ports: ["0.0.0.0:8080:80"]
     """, ":5: services.web.ports", "not bound to 127.0.0.1"),
    ("""
     services:
       web:
         image: x
         volumes: ["/etc:/host-etc"]
     """, ":5: services.web.volumes", "bind mount"),
    ("""
     services:
       web:
         image: x
     x-drillkit:
       links: [{name: l1, from: [web], to: db, port: 1}]
     """, "x-drillkit.links[0]", "unknown service 'db'"),
    ("""
     services:
       web:
         image: x
       front:
         image: x
         depends_on: {web: {condition: service_healthy}}
     """, "services.front.depends_on.web", "has no healthcheck"),
    ("services: [\n  oops", ":", "not valid YAML"),
    ("""
     services:
       web:
         image: x
     secrets: {}
     """, ":5: secrets", "unsupported top-level key 'secrets'"),
])
def test_bad_input_is_one_line_with_file_line_field_and_fix(tmp_path, body, where, words):
    p = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_environment(p)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(str(p))
    assert where in msg
    assert words in msg
    assert "fix:" in msg


def test_unknown_switch_value_names_choices():
    with pytest.raises(ConfigError, match=r"switch sessions='everywhere' is not a choice .* shared, node-local"):
        load_environment(ROOT / "environments/registry/compose.yaml", {"sessions": "everywhere"})


def test_unknown_environment_lists_known():
    with pytest.raises(ConfigError, match="no environment 'nowhere'.*registry"):
        load_environment("nowhere")


def test_bare_port_binds_loopback_any_port(tmp_path):
    p = write(tmp_path, """
        services:
          web:
            image: x
            ports: ["80", "127.0.0.1:18080:81"]
            deploy: {replicas: 1}
        """)
    ports = load_environment(p).services["web"].ports
    assert [(x.container_port, x.host_port) for x in ports] == [(80, None), (81, 18080)]
