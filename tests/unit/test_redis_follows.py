"""A Redis client that follows the master, without containers: pinned to a service, following a role
of ``x-drillkit.roles`` (asked through its ClientContext: the stack's RoleLocator), or following Redis
Sentinel. A fake redis-py stands in for the servers; the client's own logic — where it connects, when
it asks again, what each op's outcome is — runs as in a drill."""

from __future__ import annotations

import random

import pytest
import redis as redis_py

import drillkit.clients.redis as redis_client
from drillkit.clients.contract import FAIL, OK, UNKNOWN, ClientContext
from drillkit.clients.declare import parse_client, parse_clients
from drillkit.errors import ConfigError
from drillkit.timeline import Timeline
from drillkit.yamlsrc import load_yaml

SERVICES = {"redis": object(), "sentinel": object(), "app": object()}
ROLES = {"primary": object(), "replica": object()}


def client_spec(text: str, roles=ROLES):
    return parse_client("writers", load_yaml(text), file="env.yaml", where="x-drillkit.clients.writers",
                        services=SERVICES, roles=roles)


# -- declared as data --------------------------------------------------------------------------------
def test_a_redis_client_connects_pinned_by_role_or_by_sentinel():
    assert client_spec("{kind: redis, service: redis, command: [INCR, n]}").options["service"] == "redis"
    role = client_spec("{kind: redis, role: primary, command: [INCR, n]}")
    assert role.options["role"] == "primary" and role.options["port"] == 6379 and "service" not in role.options
    sent = client_spec("{kind: redis, sentinel: {service: sentinel}, command: [INCR, n]}")
    assert sent.options["sentinel"] == {"service": "sentinel", "port": 26379, "master": "mymaster"}
    full = client_spec("{kind: redis, sentinel: {service: sentinel, port: 5000, master: cache, password: pw}, "
                       "command: [INCR, n]}")
    assert full.options["sentinel"] == {"service": "sentinel", "port": 5000, "master": "cache", "password": "pw"}


@pytest.mark.parametrize("text, field, words", [
    ("{kind: redis, service: redis, role: primary, command: [PING]}", "writers.role", "both service and role"),
    ("{kind: redis, role: primary, sentinel: {service: sentinel}, command: [PING]}", "writers.sentinel",
     "both role and sentinel"),
    ("{kind: redis, role: leader, command: [PING]}", "writers.role", "no role 'leader' is declared"),
    ("{kind: redis, command: [PING]}", "writers.service", "missing `service`, `role` or `sentinel`"),
    ("{kind: redis, sentinel: {port: 26379}, command: [PING]}", "writers.sentinel.service", "missing `service`"),
    ("{kind: redis, sentinel: {service: nowhere}, command: [PING]}", "writers.sentinel.service",
     "'nowhere' is not a service"),
    ("{kind: redis, sentinel: {service: sentinel, quorum: 2}, command: [PING]}", "writers.sentinel.quorum",
     "unknown key"),
    ("{kind: redis, sentinel: {service: sentinel}, port: 6380, command: [PING]}", "writers.port",
     "port comes from Sentinel"),
])
def test_bad_connections_are_one_line(text, field, words):
    with pytest.raises(ConfigError) as info:
        client_spec(text)
    msg = str(info.value)
    assert msg.startswith("env.yaml:1:") and field in msg and words in msg and "fix:" in msg and "\n" not in msg, msg


def test_roles_come_from_the_compose_file_and_a_scenario(tmp_path):
    from drillkit.stack import load_stack
    p = tmp_path / "compose.yaml"
    p.write_text("x-drillkit:\n  roles:\n    primary: {service: redis, check: 'true'}\n  clients:\n"
                 "    w: {kind: redis, role: primary, command: [INCR, n]}\n    bad: {kind: redis, role: main, "
                 "command: [PING]}\nservices:\n  redis:\n    image: x\n    deploy: {replicas: 2}\n")
    with pytest.raises(ConfigError, match=r"compose.yaml:6: x-drillkit.clients.bad.role: no role 'main'"):
        load_stack(p)
    assert parse_clients(load_yaml("w: {kind: redis, role: primary, command: [PING]}"), roles=None)["w"]


# -- following the master ------------------------------------------------------------------------------
class Servers:
    """The fake world: which address answers, which is a master; every connection made is kept."""

    def __init__(self):
        self.alive = {"10.0.0.1", "10.0.0.2", "10.0.0.9"}
        self.masters = {"10.0.0.1"}
        self.sentinel_says = ("10.0.0.1", 6379)
        self.made: list[dict] = []
        self.sent: list[tuple] = []


@pytest.fixture()
def world(monkeypatch):
    w = Servers()

    class FakeRedis:
        def __init__(self, host, port, **kw):
            self.host, self.port = host, port
            w.made.append({"host": host, "port": port, **kw})

        def execute_command(self, *args):
            if self.host not in w.alive:
                raise redis_py.ConnectionError(f"Error 111 connecting to {self.host}:{self.port}. Connection refused.")
            if self.host not in w.masters:
                raise redis_py.ReadOnlyError("You can't write against a read only replica.")
            w.sent.append((self.host, *args))
            return len(w.sent)

        def sentinel_get_master_addr_by_name(self, name):
            if self.host not in w.alive:
                raise redis_py.ConnectionError("Error 111 connecting")
            return w.sentinel_says if name == "mymaster" else None

        def close(self):
            pass

    monkeypatch.setattr(redis_py, "Redis", FakeRedis)
    monkeypatch.setattr(redis_client, "ASK_EVERY", 0.0)
    monkeypatch.setattr("drillkit.clients.address.resolve",
                        lambda env, service, port, replica=1: (
                            f"10.0.0.{9 if service == 'sentinel' else replica}", port))
    monkeypatch.setattr("drillkit.clients.address.check_host", lambda env, host: None)
    monkeypatch.setattr("drillkit.clients.address.node_at",
                        lambda env, host: {"10.0.0.1": "redis-1", "10.0.0.2": "redis-2"}.get(host))
    return w


def opened(text: str, holder: list | None = None):
    spec = client_spec(text)
    c = spec.make(0)
    roles = (lambda role: holder[0]) if holder is not None else None
    c.open(ClientContext(name=c.name, index=0, rng=random.Random(0), timeline=Timeline(), env=None, roles=roles))
    return c


def op(c):
    return c.invoke(next(c.ops(1)))


def test_one_op_is_one_attempt(world):
    opened("{kind: redis, service: redis, command: [INCR, n]}")
    retry = world.made[0]["retry"]
    assert retry._retries == 0, "redis-py would retry a broken or timed-out command by itself"


def test_following_a_role_moves_with_it_and_a_pinned_client_stays(world):
    holder = [("redis", 1)]
    follower = opened("{kind: redis, role: primary, command: [INCR, n], write: {id: body}}", holder)
    pinned = opened("{kind: redis, service: redis, command: [INCR, n], write: {id: body}}")
    assert (op(follower).status, op(follower).node, op(pinned).node) == (OK, "redis-1", "redis-1")
    world.alive.discard("10.0.0.1")                      # the master dies
    lost = op(follower)
    assert lost.status == FAIL and "connecting" in lost.error and lost.node == "redis-1"
    assert op(pinned).status == FAIL
    world.masters = {"10.0.0.2"}                         # the replica is promoted; the role moves
    holder[0] = ("redis", 2)
    back = op(follower)
    assert back.status == OK and back.node == "redis-2" and back.id is not None
    assert op(pinned).status == FAIL and op(pinned).node == "redis-1"


def test_a_follower_asks_again_after_a_read_only_reply(world):
    holder = [("redis", 1)]
    c = opened("{kind: redis, role: primary, command: [INCR, n]}", holder)
    world.masters = {"10.0.0.2"}                         # demoted without dying: it answers READONLY
    holder[0] = ("redis", 2)
    ro = op(c)
    assert ro.status == FAIL and ro.error.startswith("ReadOnlyError") and ro.node == "redis-1"
    assert op(c).node == "redis-2" and op(c).status == OK


def test_no_holder_now_fails_the_op_without_sending(world):
    from drillkit.stack.roles import RoleError
    holder = [("redis", 1)]
    c = opened("{kind: redis, role: primary, command: [INCR, n], write: {id: body}}", holder)
    world.alive.discard("10.0.0.1")
    op(c)

    def nobody(role):
        raise RoleError("no node of redis holds role 'primary' now (redis-1 not running; redis-2 exit 1)")
    c.ctx.roles = nobody
    out = op(c)
    assert out.status == FAIL and out.error.startswith("connect: RoleError: no node of redis holds role")
    assert not any(s[0] == "10.0.0.2" for s in world.sent)


def test_a_role_needs_the_stacks_resolver():
    spec = client_spec("{kind: redis, role: primary, command: [PING]}")
    c = spec.make(0)
    with pytest.raises(ConfigError, match="nothing here knows where role 'primary' is now"):
        c.open(ClientContext(name=c.name, index=0, rng=random.Random(0), timeline=Timeline(), env=None))


def test_following_sentinel(world):
    c = opened("{kind: redis, sentinel: {service: sentinel}, command: [INCR, n], write: {id: body}}")
    assert world.made[0]["host"] == "10.0.0.9" and world.made[0]["retry"]._retries == 0   # Sentinel asked first
    assert op(c).node == "redis-1"
    world.alive.discard("10.0.0.1")
    assert op(c).status == FAIL
    world.masters, world.sentinel_says = {"10.0.0.2"}, ("10.0.0.2", 6379)      # Sentinel failed over
    out = op(c)
    assert out.status == OK and out.node == "redis-2"
    world.alive.discard("10.0.0.9")                      # no sentinel answers: nothing is sent
    world.alive.discard("10.0.0.2")
    op(c)
    gone = op(c)
    assert gone.status == FAIL and "no sentinel named the master: sentinel-1: ConnectionError" in gone.error


def test_a_timed_out_write_is_unknown_and_the_follower_asks_again(world, monkeypatch):
    holder = [("redis", 1)]
    c = opened("{kind: redis, role: primary, let: {k: '{uuid}'}, command: [SET, '{k}', x], write: {id: var:k}}",
               holder)

    def slow(*args):
        raise redis_py.TimeoutError("Timeout reading from socket")
    monkeypatch.setattr(c.conn, "execute_command", slow)
    out = op(c)
    assert out.status == UNKNOWN and out.error == "timeout" and out.id == c.vars["k"]
    assert c.conn is None                                # asks where the master is before the next op


def test_role_locator_asks_once_for_many_clients(monkeypatch):
    from drillkit.stack import roles as R
    calls = []

    def resolve(env, role, service=None):
        calls.append(role)
        if role == "gone":
            raise R.RoleError("no node holds role 'gone' now")
        return type("N", (), {"service": "redis", "replica": 2})()
    monkeypatch.setattr(R, "resolve_role", resolve)
    loc = R.RoleLocator(env=None, fresh=60)
    assert [loc("primary") for _ in range(5)] == [("redis", 2)] * 5
    for _ in range(3):
        with pytest.raises(R.RoleError):
            loc("gone")
    assert calls == ["primary", "gone"]
    assert R.RoleLocator(env=None, fresh=0)("primary") == ("redis", 2) and len(calls) == 3
