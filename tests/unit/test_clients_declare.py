"""Users and clients declared as data: parsed and checked when the file is loaded.

(The shipped stacks' own kinds: tests/unit/test_shipped_stacks.py.)"""

import pytest
import yaml

from drillkit.clients.declare import parse_clients, parse_user_kind, parse_users
from drillkit.errors import ConfigError
from drillkit.stack import load_stack
from drillkit.yamlsrc import load_yaml


def load(text):
    return load_yaml(text)


def kind(text, name="k"):
    return parse_user_kind(name, load(text), file="env.yaml", where=f"x-drillkit.users.{name}")


@pytest.mark.parametrize("text, where, words", [
    ("steps: []", "steps", "non-empty"),
    ("{}", "x-drillkit.users.k", "exactly one of"),
    ("steps: [{path: /a}]\nsequence: [{path: /b}]", "x-drillkit.users.k", "exactly one of"),
    ("steps: [{path: a}]", "steps[0].path", "does not start with /"),
    ("steps: [{path: '/a/{slot}'}]", "steps[0].path", "not known"),
    ("steps: [{path: /a, method: FETCH}]", "steps[0].method", "unknown method"),
    ("steps: [{path: /a, expect: [700]}]", "steps[0].expect", "not an HTTP status"),
    ("steps: [{path: /a, weight: 0}]", "steps[0].weight", "weight"),
    ("steps: [{path: /a, every: 2}]", "steps", "nothing to do"),
    ("sequence: [{path: /a, weight: 2}]", "sequence[0].weight", "weight in a sequence"),
    ("steps: [{path: /a, write: {op: x}}]", "steps[0].write.id", "missing `id`"),
    ("steps: [{path: /a, write: {id: body.id, attrs: {id: body.x}}}]", "steps[0].write.attrs.id", "ledger attribute"),
    ("steps: [{path: /a, write: {id: 'var:nope'}}]", "steps[0].write.id", "never set"),
    ("steps: [{path: /a, colour: red}]", "steps[0].colour", "unknown key"),
    ("steps: [{path: /a}]\nlogin: {path: /login}", "login.token", "missing `token`"),
    ("steps: [{path: /a}]\nlogin: {path: /login, token: tok}", "login.token", "not an extraction"),
    ("steps: [{path: /a}]\nlogin: {path: /login, token: body.t, send: Bearer}", "login.send", "Header: value"),
    ("steps: [{path: /a}]\nsession: {rejected: [401]}", "session", "without a login"),
    ("steps: [{path: /a}]\nnode: {map: {'app(': x}}", "node.map", "regular expression"),
    ("steps: [{path: /a}]\nnode: {map: {'app(\\d+)': 'app-\\2'}}", "node.map", "group 2"),
    ("steps: [{path: /a}]\nthink: -1s", "think", "negative"),
    ("steps: [{path: /a}]\nuser: 'u-{n}'", "user", "only use {i}"),
    ("steps: [{path: /a}, {path: /a}]", "steps[1].name", "two steps"),
])
def test_mistakes_are_one_line_with_file_line_field_and_fix(text, where, words):
    with pytest.raises(ConfigError) as e:
        kind(text)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("env.yaml:") and "— fix:" in msg, msg
    assert e.value.field.endswith(where) or e.value.field == where, msg
    assert words in msg, msg
    assert e.value.line is not None, msg


def test_node_rule_maps_header_values_to_replicas():
    k = kind("steps: [{path: /a}]\nnode: {header: X-Node, map: {'web(\\d+)\\.lab': 'app-\\1'}}")
    assert k.node.header == "X-Node"
    assert k.node.node("web2.lab") == "app-2" and k.node.node("other") == "other" and k.node.node(None) is None


def test_sequence_saved_values_and_populations():
    k = kind("""
login: {path: /login, body: {u: '{user}'}, token: 'cookie:sid'}
population: readers
sequence:
  - {path: /list, save: {item: 'body.items[random].id'}}
  - {method: POST, path: '/items/{item}/loans', write: {id: body.loan, ledger: loans, attrs: {item: 'var:item'}}}
""")
    assert k.login.send is None                     # the cookie carries the session
    assert k.populations == ("new-logins", "readers") and k.session_populations == ("readers",)


CLIENTS = """
writers:
  kind: postgres
  services: [db, db-replica]
  database: loans
  user: loans
  password: loans
  statement: INSERT INTO loans (id, reader) VALUES (%(id)s, %(reader)s)
  params: {id: "{uuid}", reader: "{user}"}
  write: {id: var:id, ledger: loans}
counter:
  kind: redis
  service: cache
  let: {key: "loan:{uuid}"}
  command: [SET, "{key}", "{user}"]
  write: {id: var:key}
"""


def test_clients_parse():
    specs = parse_clients(load(CLIENTS), file="env.yaml", services={"db": 1, "db-replica": 1, "cache": 1})
    w, c = specs["writers"], specs["counter"]
    assert w.options["services"] == ["db", "db-replica"] and w.options["port"] == 5432 and w.options["op"] == "INSERT"
    assert w.populations == ("writers",) and w.writes and w.write.id.text == "var:id"
    assert c.options["service"] == "cache" and c.options["op"] == "SET" and c.client_name(0) == "counter-001"


@pytest.mark.parametrize("patch, words", [
    ({"kind": "mysql"}, "unknown client kind"),
    ({"service": "elsewhere.example.org"}, "not a service of this environment"),
    ({"statement": "INSERT INTO t VALUES (%(nope)s)"}, "has no parameter"),
    ({"statement": "SELECT 100%"}, "lone %"),
    ({"host": "10.0.0.1"}, "unknown key 'host'"),
    ({"database": None}, "must be text"),
])
def test_client_mistakes(patch, words):
    raw = load(CLIENTS)
    raw["writers"].update(patch)
    raw["writers"].pop("services", None) if "service" in patch else None
    with pytest.raises(ConfigError, match=words) as e:
        parse_clients(raw, file="env.yaml", services={"db": 1, "db-replica": 1, "cache": 1})
    assert str(e.value).startswith("env.yaml:") and "\n" not in str(e.value)


def test_compose_file_carries_users_and_clients(tmp_path):
    (tmp_path / "compose.yaml").write_text("""
x-drillkit:
  entrypoint: {service: web, port: 80}
  users:
    readers: {steps: [{path: /}]}
  clients:
    writers: {kind: redis, service: cache, command: [INCR, n], write: {id: body}}
services:
  web: {image: x, ports: ["80"]}
  cache: {image: y}
""")
    spec = load_stack(tmp_path / "compose.yaml")
    assert set(spec.users) == {"readers"} and set(spec.clients) == {"writers"}


def test_users_without_an_entrypoint_are_refused(tmp_path):
    (tmp_path / "compose.yaml").write_text("""
x-drillkit:
  users:
    readers: {steps: [{path: /}]}
services:
  web: {image: x}
""")
    with pytest.raises(ConfigError, match="no entry point") as e:
        load_stack(tmp_path / "compose.yaml")
    assert ":3: x-drillkit.users" in str(e.value)
