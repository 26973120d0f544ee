"""A scenario's users:/clients: — kinds from the environment (data) or defined in place."""

import pytest

from drillkit.errors import ConfigError
from drillkit.scenario.validate import validate_text

ENV = """
x-drillkit:
  entrypoint: {service: web, port: 80}
  users:
    readers:
      login: {path: /login, body: {user: "{user}"}, token: body.token}
      steps: [{path: /books}, {method: POST, path: /loans, write: {id: body.id, ledger: loans}}]
    visitors:
      steps: [{path: /}]
  clients:
    writers: {kind: postgres, service: db, database: d, user: u, password: p,
              statement: "INSERT INTO t DEFAULT VALUES RETURNING id", write: {id: body.id}, count: 3}
services:
  web: {image: x, ports: ["80"]}
  db: {image: y}
"""


def scenario(tmp_path, body):
    (tmp_path / "environments" / "lib").mkdir(parents=True, exist_ok=True)
    (tmp_path / "environments" / "lib" / "compose.yaml").write_text(ENV)
    f = tmp_path / "scenarios" / "s.yaml"
    f.parent.mkdir(exist_ok=True)
    text = "scenario: s\nenvironment: lib\nfaults: [{kind: kill, target: web}]\n" + body
    f.write_text(text)
    return validate_text(text, f)


def test_kinds_from_the_environment_make_populations_and_sessions(tmp_path):
    sc = scenario(tmp_path, """
users: {readers: 5, visitors: {count: 2, think: 1s}}
clients: {writers: {count: 4}}
expect:
  sessions_lost: 0
  availability: {existing-sessions: 0.9, new-logins: 0.5, visitors: 0.9, writers: 0.9}
""")
    t = {x.name: x for x in sc.traffic}
    assert (t["readers"].count, t["visitors"].count, t["writers"].count) == (5, 2, 4)
    assert t["visitors"].kind.think == 1.0 and t["writers"].section == "clients"
    assert sc.session_populations == ("existing-sessions",)


def test_a_definition_in_the_scenario(tmp_path):
    sc = scenario(tmp_path, """
users:
  browsers: {count: 3, population: browsing, steps: [{path: "/books/{random:1..9}"}]}
clients:
  counter: {kind: redis, service: db, command: [INCR, n], count: 2}
expect: {availability: {browsing: 0.9, counter: 0.5}}
""")
    assert [(x.name, x.count, x.populations) for x in sc.traffic] == \
        [("browsers", 3, ("browsing",)), ("counter", 2, ("counter",))]


@pytest.mark.parametrize("body, words", [
    ("users: {visitors: 2}\nexpect: {sessions_lost: 0}", "no users hold sessions"),
    ("users: {visitors: 2}\nexpect: {writes_lost: 0}", "no ground truth"),
    ("users: {clerks: 2}", "unknown user kind 'clerks'"),
    ("users: {readers: {count: 2, colour: red}}", "unknown key 'colour'"),
    ("users: {readers: {think: 1s}}", "missing `count`"),
    ("users: {readers: {count: 2, steps: [{path: /}]}}", "declared by the environment too"),
    ("users: {own: {steps: [{path: /}]}}", "missing `count`"),
    ("clients: {nobody: 3}", "unknown client 'nobody'"),
    ("clients: {c: {kind: redis, service: elsewhere, command: [PING], count: 1}}", "not a service of this environment"),
    ("users: {visitors: 2}\nexpect: {availability: {new-logins: 0.9}}", "unknown population 'new-logins'"),
])
def test_mistakes(tmp_path, body, words):
    with pytest.raises(ConfigError, match=words) as e:
        scenario(tmp_path, body)
    assert "s.yaml:" in str(e.value) and "\n" not in str(e.value)
