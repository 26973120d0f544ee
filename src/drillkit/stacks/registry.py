"""The registry stack (environments/registry): ground truth read straight from its databases, the
promotion runbook (runbook/promote-replica.md) as code, and the v1 -> v2 node upgrade.

    psql(env, sql)                      rows of one query in db (or db-replica), as text lines
    stored_move_ids(env)                ids of every registered move (the ledger's ground truth)
    replication_status(env)             what the primary says about its standby (state, sync, lag)
    promote_replica(env)                the runbook: fence, promote, wait writable, repoint, apps back
    promote_replica_step(env, tl)       the runbook as a fault's heal (Kill(Target("db"), heal=...))
    primaries(env)                      which database nodes run as a primary (never more than one)
    ensure_app_image(env, "2")          build drillkit/registry-app:v2 (APP_VERSION=2), cached by content
    upgrade_node(env, replica, "2")     replace app-<n> by a v2 container (same name, aliases, zone)
    lb_servers(env)                     HAProxy `show stat` of the lb, one dict per app server
"""

from __future__ import annotations

import time

from drillkit.errors import LabError
from drillkit.lab.environment import Environment, Node

__all__ = ["call", "login", "wait_lb_up", "store_count", "expire_draft", "latency_by_node_group", "stored_move_ids", "psql", "replication_status", "promote_replica", "promote_replica_step",
           "primaries", "DATABASES", "ensure_app_image",
           "app_image", "upgrade_node", "lb_servers", "lb_set_state", "PROMOTED_MARKER"]

PROMOTED_MARKER = "/var/lib/postgresql/data/drillkit-promoted"
APP_SERVICE = "app"
DATABASES = ("db", "db-replica")
SEQUENCE_GAP = 1_000_000   # promote_replica: ids the lost primary may have handed out are never reused


# --- the API, from the host --------------------------------------------------------------------
def call(base_url: str, method: str, path: str, body: dict | None = None, *, token: str | None = None,
         node: str | None = None, raw: bytes | None = None, headers: dict | None = None,
         timeout: float = 10.0) -> tuple[int, object, dict]:
    """One request to the registry (base_url = env.url()). `node` pins it to an app node through the
    lb's stickiness cookie (``SRV=app-<n>``); `raw` sends bytes as the body as they are.
    Returns (status, JSON body or text, headers with lower-case names)."""
    import http.client
    import json
    from urllib.parse import urlsplit
    u = urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    hdrs = dict(headers or {})
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None and not any(k.lower() == "content-type" for k in hdrs):
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    if node:
        hdrs["Cookie"] = f"SRV={node}"
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        out_headers = {k.lower(): v for k, v in resp.getheaders()}
        status = resp.status
    finally:
        conn.close()
    try:
        parsed: object = json.loads(payload)
    except ValueError:
        parsed = payload.decode("utf-8", "replace")
    return status, parsed, out_headers


def login(base_url: str, user: str = "clerk-001", *, node: str | None = None, password: str = "drill",
          retry_s: float = 20.0) -> str:
    """Log in (through identity) and return the token. A 503 (identity or the stack busy - the lab
    machine is shared) is retried for up to `retry_s`; any other answer but 200 raises LabError."""
    end = time.monotonic() + retry_s
    while True:
        status, body, _ = call(base_url, "POST", "/login", {"user": user, "password": password}, node=node)
        if status == 200 and isinstance(body, dict) and "token" in body:
            return body["token"]
        if status not in (502, 503, 504) or time.monotonic() > end:
            raise LabError(f"login of {user} answered {status}: {str(body)[:200]}")
        time.sleep(0.5)


def wait_lb_up(env: Environment, servers: list[str] | None = None, deadline: float = 30.0) -> float:
    """Wait until the lb has `servers` (default app-1..n) UP; returns the seconds waited."""
    names = servers or [n.name for n in env.nodes.get(APP_SERVICE, [])]
    t0 = time.monotonic()
    while True:
        stat = lb_servers(env)
        # "UP 1/2" (one check failed, not out yet) and "no check" (lb_failover=off) take requests
        if all(stat.get(n, {}).get("status", "").startswith(("UP", "no check")) for n in names):
            return time.monotonic() - t0
        if time.monotonic() - t0 > deadline:
            raise LabError(f"lb: not all of {names} UP after {deadline:.0f} s: "
                           f"{ {n: stat.get(n, {}).get('status') for n in names} }")
        time.sleep(0.2)


def psql(env: Environment, sql: str, *, service: str = "db", replica: int = 1,
         user: str = "registry", check: bool = True) -> list[str]:
    """Run one query in a database container (no port is published for it); rows as text lines."""
    out = env.exec(env.node(service, replica),
                   ["psql", "-h", "127.0.0.1", "-U", user, "-d", "registry", "-At", "-v",
                    "ON_ERROR_STOP=1", "-c", sql], check=check)
    return [line for line in out.splitlines() if line.strip()]


def stored_move_ids(env: Environment, *, service: str = "db") -> list[str]:
    """Ids of every registered move the database holds: the ground truth for the users' ledger."""
    return psql(env, "SELECT id FROM moves ORDER BY id", service=service)


def replication_status(env: Environment) -> dict:
    """The primary's view of its standby: {"state", "sync_state", "replay_lag_bytes"} or {} if none."""
    rows = psql(env, "SELECT state, sync_state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)"
                     " FROM pg_stat_replication WHERE application_name = 'db_replica'",
                user="postgres")
    if not rows:
        return {}
    state, sync_state, lag = rows[0].split("|")
    return {"state": state, "sync_state": sync_state, "replay_lag_bytes": int(float(lag or 0))}


# --- the runbook ---------------------------------------------------------------------------------
def _app_health_script(nodes: list[str], deadline: float) -> str:
    return f"""
import time, urllib.request
nodes, end, t0 = {nodes!r}, time.monotonic() + {deadline}, time.monotonic()
left = set(nodes)
while left and time.monotonic() < end:
    for n in sorted(left):
        try:
            with urllib.request.urlopen(f"http://{{n}}:8080/health", timeout=1) as r:
                if r.status == 200:
                    left.discard(n)
        except Exception:
            pass
    if left:
        time.sleep(0.1)
print("left=" + ",".join(sorted(left)) + " s=%.3f" % (time.monotonic() - t0))
"""


def _repoint(env: Environment, link: str, upstream: str, *, timeout: float) -> str:
    """Repoint a link; returns how. Toxiproxy 2.12 can wedge while it stops a proxy whose upstream was
    just killed (the update never returns; the proxy is left disabled with the old upstream and its
    listener closed). Then a new proxy `<link>-promoted` takes the same listen address: the apps'
    traffic flows again, but faults aimed at `<link>` no longer touch it. An update that was only
    slow (it lands while the new proxy waits for the address) counts as done."""
    from drillkit.errors import LinkError
    from drillkit.lab.links import LinkServer
    server = LinkServer(env.links.host, env.links.port, timeout=timeout)
    try:
        server.set_upstream(link, upstream)
        return "set_upstream"
    except LinkError as exc:
        first = str(exc)

    def updated() -> dict | None:
        try:
            state = env.links.proxy(link)
        except LinkError:
            return None
        return state if state.get("upstream") == upstream and state.get("enabled") else {}

    state = env.links.proxy(link)
    if state.get("upstream") == upstream and state.get("enabled"):
        return "set_upstream (slow answer)"
    listen = "0.0.0.0:" + str(state.get("listen", "")).rsplit(":", 1)[-1]
    end = time.monotonic() + 15
    while True:
        try:
            env.links.create(f"{link}-promoted", listen, upstream)
            return f"new proxy {link}-promoted (set_upstream failed: {first[:120]})"
        except LinkError:
            if updated():
                return "set_upstream (slow answer)"
            if time.monotonic() > end:
                raise
            time.sleep(0.5)


def promote_replica(env: Environment, *, fence: bool = True, deadline: float = 60.0,
                    repoint_timeout: float = 2.0) -> dict:
    """Execute environments/registry/runbook/promote-replica.md and time each step (seconds).

    1. fence: the old primary `db` must not take writes any more - killed if it still runs.
    2. promote: ``SELECT pg_promote(true, 30)`` on db-replica (ends recovery, new timeline).
    3. writable: wait until db-replica is out of recovery and a transaction gets an xid.
       sequences: every sequence jumps SEQUENCE_GAP ahead - a standby's sequences lag the primary's
       (PostgreSQL logs them 32 values ahead, and WAL the standby never received is gone), so the
       new primary would hand out again ids the old one had already acknowledged: a new move would
       take the id of a lost one, and the clerks' receipts (and the drill's ledger) would name the
       wrong move.
    4. repoint: the apps reach `db` through the Toxiproxy link `app-db`; its upstream becomes
       ``db-replica:5432`` (Toxiproxy closes the old connections; the apps reconnect on their own).
       If Toxiproxy wedges on the update (see _repoint), a new proxy `app-db-promoted` takes over.
    5. apps_healthy: every running app node's /health is 200 again (its pool reconnected) and the lb
       has it UP again (its checks took it out while the database was gone).

    Returns {"fence_s", "promote_s", "writable_s", "sequences_s", "repoint_s", "apps_healthy_s",
    "total_s", "new_primary", "timeline", "apps_not_healthy", "repoint_via"}.
    """
    if env.links is None:
        raise LabError("the registry environment has no Toxiproxy links", fix="bring it up with the lab")
    t_start = time.monotonic()
    timings: dict = {}
    t = time.monotonic()
    old = env.node("db")
    if fence and env.is_running(old):
        env.backend.kill(old, signal="SIGKILL")
    timings["fence_s"] = round(time.monotonic() - t, 3)

    t = time.monotonic()
    replica = env.node("db-replica")
    out = psql(env, "SELECT pg_promote(true, 30)", service="db-replica", user="postgres")
    if out[-1:] != ["t"]:
        raise LabError(f"pg_promote on db-replica answered {out}", fix="see db-replica's log")
    env.exec(replica, ["touch", PROMOTED_MARKER])
    timings["promote_s"] = round(time.monotonic() - t, 3)

    t = time.monotonic()
    end = t + deadline
    while True:
        rows = psql(env, "SELECT pg_is_in_recovery()::text || ' ' || txid_current()::text",
                    service="db-replica", check=False)
        if rows and rows[-1].startswith("false "):
            break
        if time.monotonic() > end:
            raise LabError(f"db-replica does not accept writes after {deadline:.0f} s ({rows})")
        time.sleep(0.05)
    timeline_row = psql(env, "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int",
                        service="db-replica", user="postgres", check=False)
    timings["writable_s"] = round(time.monotonic() - t, 3)

    t = time.monotonic()
    psql(env, "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, "
              f"COALESCE(last_value, start_value) + {SEQUENCE_GAP}) FROM pg_sequences",
         service="db-replica", user="postgres")
    timings["sequences_s"] = round(time.monotonic() - t, 3)

    t = time.monotonic()
    timings["repoint_via"] = _repoint(env, "app-db", "db-replica:5432", timeout=repoint_timeout)
    timings["repoint_s"] = round(time.monotonic() - t, 3)

    t = time.monotonic()
    apps = [n for n in env.nodes.get(APP_SERVICE, []) if env.is_running(n)]
    left: list[str] = []
    if apps:
        out = env.exec(apps[0], ["python3", "-c", _app_health_script([n.name for n in apps], deadline)])
        last = out.strip().splitlines()[-1]
        left = [x for x in last.split()[0].removeprefix("left=").split(",") if x]
        healthy = [n.name for n in apps if n.name not in left]
        if healthy and "lb" in env.nodes:     # users reach the apps only once the lb has them UP again
            wait_lb_up(env, healthy, deadline=deadline)
    timings["apps_healthy_s"] = round(time.monotonic() - t, 3)
    timings["total_s"] = round(time.monotonic() - t_start, 3)
    timings["new_primary"] = "db-replica"
    timings["timeline"] = int(timeline_row[-1]) if timeline_row and timeline_row[-1].isdigit() else None
    timings["apps_not_healthy"] = left
    return timings


def promote_replica_step(env: Environment, timeline) -> dict:
    """The promotion runbook as the heal of a lost primary: ``Kill(Target("db"),
    heal=promote_replica_step)`` never starts the old primary again beside the promoted standby (the
    lab leaves `db` down, also across `Environment.reset`). The runbook is timed on the timeline
    (``runbook`` records, start and end, with each step's seconds)."""
    timeline.add("runbook", runbook="promote-replica", step="promote-replica", event="start", detail={})
    try:
        steps = promote_replica(env)
    except Exception as exc:
        timeline.add("runbook", runbook="promote-replica", step="promote-replica", event="failed",
                     detail={"error": str(exc)[:300]})
        raise
    timeline.add("runbook", runbook="promote-replica", step="promote-replica", event="end", detail=steps)
    timeline.note("runbook promote-replica: " + ", ".join(f"{k} {v}" for k, v in steps.items()))
    return steps


promote_replica_step.step_name = "promote-replica"  # type: ignore[attr-defined]


def primaries(env: Environment, *, answer_within: float = 15.0) -> list[str]:
    """The database nodes that run and are not in recovery: each one would take writes. Two means
    split brain; a failover drill must end with exactly one. A running node that does not answer
    within `answer_within` s (still starting) is counted too: it may come up as a primary."""
    found = []
    for service in DATABASES:
        for node in env.nodes.get(service, []):
            end = time.monotonic() + answer_within
            while env.is_running(node):
                rows = psql(env, "SELECT NOT pg_is_in_recovery()", service=service, replica=node.replica,
                            user="postgres", check=False)
                if rows[-1:] in (["t"], ["f"]):
                    if rows[-1] == "t":
                        found.append(node.name)
                    break
                if time.monotonic() > end:
                    found.append(node.name)
                    break
                time.sleep(0.5)
    return found


# --- v2 ------------------------------------------------------------------------------------------
def app_image(version: str) -> str:
    """The image tag of an app version: v1 is the compose file's tag, v2 drillkit/registry-app:v2."""
    return "drillkit/registry-app:dev" if version == "1" else f"drillkit/registry-app:v{version}"


def ensure_app_image(env: Environment, version: str = "2") -> str:
    """Build the app image of `version` (build arg APP_VERSION) from the app's build context; cached
    by content like every lab image. Returns the tag. Call it before a drill, not inside one."""
    from drillkit.lab import images
    svc = env.spec.services[APP_SERVICE]
    tag = app_image(version)
    if version == "1":
        return tag
    spec = images.BuildSpec(tag=tag, context=svc.build_context, dockerfile=svc.dockerfile,
                            args={**(svc.build_args or {}), "APP_VERSION": version})
    c = env.docker
    images.ensure_base_images(c, [spec], progress=env.progress)
    images.build_images(c, [spec], progress=env.progress)
    return tag


def lb_servers(env: Environment) -> dict[str, dict[str, str]]:
    """HAProxy's `show stat` of the registry lb: app server name -> its columns (status, check_*...)."""
    out = env.exec(env.node("lb"), ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9999; "
                                    "echo 'show stat' >&3; timeout 1 cat <&3"], check=False)
    lines = [line for line in out.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("#"):
        raise LabError(f"lb runtime API answered {out[:200]!r}")
    cols = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(cols, r.split(","))) for r in lines[1:]]
    return {r["svname"]: r for r in rows if r.get("pxname") == "app" and r["svname"].startswith("app-")}


def lb_set_state(env: Environment, server: str, state: str) -> None:
    """`set server app/<server> state ready|drain|maint` on the registry lb."""
    env.exec(env.node("lb"), ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9999; "
                              f"echo 'set server app/{server} state {state}' >&3; timeout 1 cat <&3"],
             check=False)


def upgrade_node(env: Environment, replica: int, version: str = "2", *, drain_s: float = 1.0,
                 deadline: float = 60.0, environment: dict[str, str] | None = None) -> dict:
    """Replace app-<replica> by a container of `version` (rolling upgrade, one node).

    Drains the node in the lb, replaces it through the lab's `env.replace_replica` (stopped with its
    grace period, removed, a new one with the same name, aliases, labels, zone, address, hosts entries
    and environment but the image of `version`), waits for its health check (v2 applies its schema
    migration first), and puts it back in rotation. `environment` overrides variables of the new
    replica (a redeploy with another configuration, e.g. {"POOL": "sound"}). Returns timings
    {"drain_s", "replace_s", "healthy_s", "total_s"} and the image. The image must exist: call
    ensure_app_image(env, version) before. Faults and Target("app", replica=n) then hit the new node.
    """
    current = env.node(APP_SERVICE, replica)
    tag = app_image(version)
    c = env.docker
    try:
        c.api.inspect_image(tag)
    except Exception:
        raise LabError(f"no image {tag}", fix=f"call ensure_app_image(env, {version!r}) first") from None
    t0 = time.monotonic()
    timings: dict = {"image": tag}

    t = time.monotonic()
    lb_set_state(env, current.name, "drain")
    time.sleep(drain_s)
    timings["drain_s"] = round(time.monotonic() - t, 3)

    t = time.monotonic()
    node: Node = env.replace_replica(current, image=tag,
                                     environment={"APP_VERSION": version, **(environment or {})})
    timings["replace_s"] = round(time.monotonic() - t, 3)

    t = time.monotonic()
    env.wait_healthy(node, deadline=deadline)
    lb_set_state(env, node.name, "ready")
    wait_lb_up(env, [node.name], deadline=deadline)          # the lb's own checks passed: in rotation
    timings["healthy_s"] = round(time.monotonic() - t, 3)
    timings["total_s"] = round(time.monotonic() - t0, 3)
    return timings


# --- the session store ---------------------------------------------------------------------------
def store_count(env: Environment, pattern: str) -> int:
    """How many keys of the shared store match `pattern` (``session:*``, ``draft:*``)."""
    out = env.exec(env.node("sessions"), ["sh", "-c", f"redis-cli --scan --pattern '{pattern}' | wc -l"])
    return int(out.strip().splitlines()[-1])


_EXPIRE_DRAFT = """
import json, sys, redis
r = redis.Redis(host="sessions", port=6379, socket_timeout=5)
key = "draft:" + sys.argv[1]
d = json.loads(r.get(key))
d["expires_at"] = 0
r.set(key, json.dumps(d), keepttl=True)
print("ok")
"""


def expire_draft(env: Environment, draft_id: str) -> None:
    """Make a draft in the shared store expired now (as if DRAFT_TTL had passed): it then answers 410."""
    env.exec(env.node(APP_SERVICE, 1), ["python3", "-c", _EXPIRE_DRAFT, draft_id])


# --- load ----------------------------------------------------------------------------------------
def latency_by_node_group(base_url: str, tokens: dict[str, str], groups: dict[str, set[str]], *,
                          clients: int = 16, duration: float = 5.0, path: str = "/residents?q=Sch",
                          timeout: float = 10.0) -> dict:
    """`clients` concurrent clients for `duration` s, client i pinned to node sorted(tokens)[i % n]
    (its token from `tokens`), each sending GET `path` back to back. Latency per group of nodes:
    {group: {"n", "p50_ms", "p95_ms"}, "errors": n}. Bounded in clients (≤ 64) and time (≤ 60 s)."""
    import threading
    if not 0 < clients <= 64 or not 0 < duration <= 60:
        raise ValueError("clients 1..64, duration 0..60 s")
    nodes = sorted(tokens)
    lat: dict[str, list[float]] = {g: [] for g in groups}
    errors: list = []
    lock = threading.Lock()
    end = time.monotonic() + duration

    def run(i: int) -> None:
        node = nodes[i % len(nodes)]
        group = next(g for g, members in groups.items() if node in members)
        while time.monotonic() < end:
            t = time.monotonic()
            try:
                status = call(base_url, "GET", path, token=tokens[node], node=node, timeout=timeout)[0]
            except OSError as exc:
                status = type(exc).__name__
            with lock:
                if status == 200:
                    lat[group].append(time.monotonic() - t)
                else:
                    errors.append(status)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(duration + timeout + 5)
    out: dict = {}
    for g, values in lat.items():
        values.sort()
        if values:
            out[g] = {"n": len(values), "p50_ms": round(1000 * values[len(values) // 2]),
                      "p95_ms": round(1000 * values[min(len(values) - 1, int(len(values) * 0.95))])}
        else:
            out[g] = {"n": 0, "p50_ms": None, "p95_ms": None}
    out["errors"] = len(errors)
    return out
